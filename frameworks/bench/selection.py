"""Which frameworks, networks and devices a run covers: the user's choices resolved against the defaults and
against what can run in this process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import UsageError
from ..registry import FRAMEWORKS, Status, availability, framework_info, gpu_present
from ..specs import NETWORKS


@dataclass
class Selection:
    """The frameworks, networks and devices of a run, and what was left out and why."""

    frameworks: list[str]
    networks: list[str]
    devices: list[str]
    left_out: dict[str, str] = field(default_factory=dict)


def unsupported_variants(frameworks: Sequence[str], variants: Sequence[str] | None,
                         devices: Sequence[str]) -> dict[str, str]:
    """Each framework that has none of ``variants`` on any of ``devices``, with the pair named and the variants it
    has (rather than pytest's "empty parameter set")."""
    if variants is None:
        return {}
    out = {}
    for name in frameworks:
        info = framework_info(name)
        if not any(info.chosen(v, variants) for d in devices for v in info.variants_for(d)):
            own = ", ".join(f"{v} ({'/'.join(ds)})" for v, ds in info.variants.items())
            out[name] = (f"{name} has no variant {' or '.join(variants)} on {'/'.join(devices)}; its variants: "
                         f"{own}")
    return out


def select(frameworks: list[str] | None = None, networks: list[str] | None = None,
           devices: list[str] | None = None, variants: list[str] | None = None) -> Selection:
    """Resolve the user's (already parsed) lists against the defaults.

    Defaults: every framework except those needing another process (one Keras backend per process; frameworks
    that are not installed stay selected, so that their tests report a skip with the reason), every network,
    ``cpu`` plus ``cuda`` when a GPU is present. Naming frameworks that cannot share one process is an error, and
    so is naming a framework with none of the ``variants`` named (default frameworks without them are left out).
    """
    left_out: dict[str, str] = {}
    if frameworks is not None:
        values = {framework_info(f).process for f in frameworks} - {None}
        if len({v[1] for v in values if v}) > 1:  # type: ignore[index]
            raise UsageError(
                f"{', '.join(frameworks)} cannot share one process (they need "
                f"{', '.join(sorted(f'{s.variable}={v}' for s, v in values))}, each fixed per process); run them "
                "with python -m frameworks test or bench, which start one process each")
        chosen = list(frameworks)
    else:
        chosen = []
        for name in FRAMEWORKS:
            state = availability(name, probe_device=False)
            if state.status is Status.OWN_PROCESS:
                left_out[name] = state.reason
            else:
                chosen.append(name)
    nets = list(networks) if networks is not None else list(NETWORKS)
    devs = list(devices) if devices is not None else None
    if devs is None:
        devs = ["cpu"] + (["cuda"] if gpu_present() else [])
        if not gpu_present():
            left_out["cuda"] = "no NVIDIA GPU on this machine (select it with --devices cuda to see each skip)"
    lacking = unsupported_variants(chosen, variants, devs)
    if lacking and (frameworks is not None or len(lacking) == len(chosen)):
        raise UsageError(f"--variants {','.join(variants or [])}: " + "; ".join(lacking.values()))
    left_out.update(lacking)
    return Selection([f for f in chosen if f not in lacking], nets, devs, left_out)
