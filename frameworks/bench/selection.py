"""Which frameworks, networks and devices a run covers: the user's choices resolved against the defaults and
against what can run in this process."""

from __future__ import annotations

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


def select(frameworks: list[str] | None = None, networks: list[str] | None = None,
           devices: list[str] | None = None) -> Selection:
    """Resolve the user's (already parsed) lists against the defaults.

    Defaults: every framework except those needing another process (one Keras backend per process; frameworks
    that are not installed stay selected, so that their tests report a skip with the reason), every network,
    ``cpu`` plus ``cuda`` when a GPU is present. Naming frameworks that cannot share one process is an error.
    """
    left_out: dict[str, str] = {}
    if frameworks is not None:
        values = {framework_info(f).process for f in frameworks} - {None}
        if len({v[1] for v in values if v}) > 1:  # type: ignore[index]
            raise UsageError(
                f"{', '.join(frameworks)} cannot share one process (each Keras backend needs its own); run them "
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
    return Selection(chosen, nets, devs, left_out)
