"""Which frameworks, networks and devices a run covers: parsing the user's lists, and the defaults.

Shared by the pytest plugin (``conftest.py``) and the command line, so both accept the same names and
reject the same mistakes.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from . import DEVICES, FRAMEWORKS, NETWORKS, needs_own_process, unavailable_reason
from .errors import UnknownNameError


def parse_list(value: str | None, kind: str, valid: dict[str, object] | tuple[str, ...]) -> list[str] | None:
    """A comma list of names (None when not given); an unknown name raises ``UnknownNameError``."""
    if value is None or not value.strip():
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    for name in names:
        if name not in valid:
            raise UnknownNameError(kind, name, valid)
    return list(dict.fromkeys(names))


def gpu_present() -> bool:
    """Whether an NVIDIA GPU driver is visible (cheap: imports no framework)."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")


@dataclass
class Selection:
    """The frameworks, networks and devices of a run, and what was left out and why."""

    frameworks: list[str]
    networks: list[str]
    devices: list[str]
    left_out: dict[str, str] = field(default_factory=dict)


def select(frameworks: str | None = None, networks: str | None = None, devices: str | None = None) -> Selection:
    """Resolve the user's lists against the defaults.

    Defaults: every framework except the Keras backends this process cannot load (the Keras backend is
    fixed per process; uninstalled frameworks stay selected so that their tests report a skip with the
    reason), every network, ``cpu`` plus ``cuda`` when a GPU is present. Asking for two Keras backends
    at once is an error, since one process holds one.
    """
    chosen = parse_list(frameworks, "framework", FRAMEWORKS)
    left_out: dict[str, str] = {}
    keras_asked = [f for f in chosen or [] if FRAMEWORKS[f].keras_backend]
    if len(keras_asked) > 1:
        raise ValueError(
            f"one process holds one Keras backend, but {', '.join(keras_asked)} were asked for; run each in its "
            "own process (python -m frameworks test does)"
        )
    if chosen is None:
        chosen = []
        for name in FRAMEWORKS:
            if needs_own_process(name):
                left_out[name] = unavailable_reason(name)  # type: ignore[assignment]
            else:
                chosen.append(name)
    nets = parse_list(networks, "network", NETWORKS) or list(NETWORKS)
    devs = parse_list(devices, "device", DEVICES)
    if devs is None:
        devs = ["cpu"] + (["cuda"] if gpu_present() else [])
        if not gpu_present():
            left_out["cuda"] = "no NVIDIA GPU on this machine (select it with --devices cuda to see each skip)"
    return Selection(chosen, nets, devs, left_out)


def apply_keras_backend(frameworks: str | None) -> None:
    """If the user named one Keras framework, make its backend this process's (before Keras loads)."""
    chosen = parse_list(frameworks, "framework", FRAMEWORKS) or []
    backends = {FRAMEWORKS[f].keras_backend for f in chosen} - {None}
    if len(backends) == 1 and "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backends.pop()  # type: ignore[arg-type]
