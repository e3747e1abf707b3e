"""mnist-framework-bench: the same MNIST networks in PyTorch, Keras (3 backends) and Caffe.

This module is the registry: framework, network and device names, whether each can run here, and
how to build an adapter. It imports no framework; adapters import theirs lazily.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import FrameworkUnavailable, UnknownNameError
from .specs import NETWORKS, NetworkSpec, get_network

if TYPE_CHECKING:
    from .adapter import Adapter

__version__ = "0.1.0"

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class FrameworkInfo:
    """What the registry knows about a framework without importing it."""

    name: str
    adapter: str  # "module:Class" inside this package
    requires: tuple[str, ...]  # importable top-level modules
    keras_backend: str | None = None
    cuda: bool = True
    install_hint: str = ""
    #: named ways to run the same network (eager, compiled...) -> the devices each applies to; first is default
    variants: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"default": DEVICES})

    def variants_for(self, device: str) -> list[str]:
        """The variants that apply on ``device``."""
        return [v for v, devices in self.variants.items() if device in devices]


FRAMEWORKS: dict[str, FrameworkInfo] = {
    info.name: info
    for info in (
        FrameworkInfo("pytorch", "pytorch_adapter:PyTorchAdapter", ("torch",),
                      install_hint="pip install -e '.[pytorch]'",
                      variants={"eager": DEVICES, "compile": DEVICES, "compile-cudagraphs": ("cuda",),
                                "eager-cl-tf32": ("cuda",), "compile-maxautotune-cl-bf16": ("cuda",)}),
        FrameworkInfo("keras-tensorflow", "keras_adapter:KerasAdapter", ("keras", "tensorflow"), "tensorflow",
                      install_hint="pip install -e '.[keras-tensorflow]'",
                      variants={"default": DEVICES, "jit": DEVICES}),
        FrameworkInfo("keras-jax", "keras_adapter:KerasAdapter", ("keras", "jax"), "jax",
                      install_hint="pip install -e '.[keras-jax]'"),  # always XLA-compiled: one variant
        FrameworkInfo("keras-torch", "keras_adapter:KerasAdapter", ("keras", "torch"), "torch",
                      install_hint="pip install -e '.[keras-torch]'",
                      variants={"default": DEVICES, "jit": DEVICES}),
        FrameworkInfo("caffe", "caffe_adapter:CaffeAdapter", ("caffe",), cuda=False,
                      install_hint="scripts/install_caffe.sh (Linux x86_64, Python 3.11)",
                      variants={"default": ("cpu",)}),
    )
}


def framework_info(name: str) -> FrameworkInfo:
    """The registry entry for ``name``; an unknown name raises ``UnknownNameError``."""
    try:
        return FRAMEWORKS[name]
    except KeyError:
        raise UnknownNameError("framework", name, FRAMEWORKS) from None


def check_device(name: str) -> str:
    """Return ``name`` if it is a known device name, else raise ``UnknownNameError``."""
    if name not in DEVICES:
        raise UnknownNameError("device", name, DEVICES)
    return name


def process_keras_backend() -> str:
    """The Keras backend of this process: the imported one, else what ``KERAS_BACKEND`` will give."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def missing_reason(name: str) -> str | None:
    """Why framework ``name`` cannot run on this machine at all (not installed...), or None."""
    info = framework_info(name)
    missing = [m for m in info.requires if importlib.util.find_spec(m) is None]
    if missing:
        return f"{name}: {', '.join(missing)} not installed ({info.install_hint})"
    if name == "caffe" and sys.version_info[:2] != (3, 11):
        return "caffe: the Caffe build is tied to Python 3.11 (Debian's Boost.Python)"
    return None


def installed(name: str) -> bool:
    """Whether framework ``name`` can run here, in this process or in one of its own."""
    return missing_reason(name) is None


def needs_own_process(name: str) -> bool:
    """Whether ``name`` is installed but needs another process (its Keras backend is not this process's)."""
    return installed(name) and unavailable_reason(name) is not None


def unavailable_reason(name: str) -> str | None:
    """Why framework ``name`` cannot run in this process, or None if it can. Imports nothing heavy."""
    info = framework_info(name)
    if reason := missing_reason(name):
        return reason
    if info.keras_backend is not None and process_keras_backend() != info.keras_backend:
        return (
            f"{name}: the Keras backend is fixed per process and this one uses "
            f"{process_keras_backend()!r}; run it in its own process (--frameworks {name})"
        )
    return None


def available_frameworks() -> list[str]:
    """Frameworks that can run in this process, in registry order."""
    return [name for name in FRAMEWORKS if unavailable_reason(name) is None]


def cuda_unavailable_reason(framework: str) -> str | None:
    """Why ``framework`` cannot use a CUDA GPU here, or None if it can (imports the framework if needed)."""
    info = framework_info(framework)
    if not info.cuda:
        return f"{framework} runs on the CPU only in this suite (its GPU build needs an old CUDA and cuDNN)"
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")):
        return "no NVIDIA GPU on this machine"
    reason = unavailable_reason(framework)
    if reason:
        return reason
    return adapter_class(framework).cuda_unavailable_reason(framework)


def adapter_class(framework: str) -> type[Adapter]:
    """Import and return the adapter class of ``framework``."""
    info = framework_info(framework)
    reason = unavailable_reason(framework)
    if reason:
        raise FrameworkUnavailable(reason)
    module_name, class_name = info.adapter.split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)


def create_adapter(framework: str, network: str | NetworkSpec, device: str = "cpu", *, threads: int | None = None,
                   seed: int = 0, variant: str | None = None, shared_init: bool = False) -> Adapter:
    """Build ``network`` (a name or a spec) in ``framework`` on ``device``: the suite's one entry point to a model.

    ``shared_init`` starts from ``weights.initial_weights(spec, seed)``, the same numbers in every framework,
    instead of the framework's own initialisers.
    """
    spec = get_network(network)
    check_device(device)
    cls = adapter_class(framework)
    if device == "cuda":
        reason = cuda_unavailable_reason(framework)
        if reason:
            raise FrameworkUnavailable(reason)
    adapter = cls(spec, device=device, threads=threads, seed=seed, framework=framework, variant=variant)
    if shared_init:
        from .weights import initial_weights

        adapter.set_weights(initial_weights(spec, seed))
    return adapter


__all__ = [
    "DEVICES", "FRAMEWORKS", "NETWORKS", "FrameworkInfo", "FrameworkUnavailable", "UnknownNameError",
    "adapter_class", "available_frameworks", "check_device", "create_adapter", "cuda_unavailable_reason",
    "framework_info", "get_network", "installed", "missing_reason", "needs_own_process", "process_keras_backend",
    "unavailable_reason",
]
