"""Fail unless each named framework sees a GPU: run before the GPU tests, which would otherwise all skip and pass.

    python .github/scripts/gpu-devices.py torch jax

Prints each framework's version, its CUDA build and the devices it sees; exits 1 naming every framework that
sees none (with what it reported), 2 on a name it does not know or a framework that is not installed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def torch_gpus() -> tuple[str, list[str]]:
    import torch

    about = f"torch {torch.__version__} (built for CUDA {torch.version.cuda})"
    if not torch.cuda.is_available():
        return about, []
    return about, [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def jax_gpus() -> tuple[str, list[str]]:
    import jax

    about = f"jax {jax.__version__} (default backend {jax.default_backend()})"
    try:
        devices = jax.devices("gpu")
    except RuntimeError as exc:  # no GPU backend: "Unknown backend gpu" or a plugin that failed to load
        return f"{about}: {exc}", []
    return about, [str(d) for d in devices]


PROBES: dict[str, Callable[[], tuple[str, list[str]]]] = {"torch": torch_gpus, "jax": jax_gpus}


def main(argv: list[str]) -> int:
    if not argv or any(name not in PROBES for name in argv):
        print(f"usage: gpu-devices.py NAME... (names: {', '.join(PROBES)})", file=sys.stderr)
        return 2
    blind = []
    for name in argv:
        try:
            about, gpus = PROBES[name]()
        except ImportError as exc:
            print(f"gpu-devices: {name} is not installed ({exc})", file=sys.stderr)
            return 2
        print(f"gpu-devices: {about}: {len(gpus)} GPU(s) {gpus}")
        if not gpus:
            blind.append(f"{name}: {about}")
    if blind:
        print("gpu-devices: error: no GPU visible to " + "; ".join(blind) + ". The GPU tests would all skip; check "
              "the driver and that the CUDA builds were installed (.github/scripts/gpu-install.sh).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
