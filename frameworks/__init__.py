"""mnist-framework-bench: the same MNIST networks in PyTorch, Keras (3 backends) and Caffe, proven to be the
same computation, trained to a real accuracy, and benchmarked.

The public API: the registry (``FRAMEWORKS``, ``availability``, ``create_adapter``, ``register``), the
networks (``NETWORKS``, ``get_network``) and the errors. Importing it imports no framework; adapters import
theirs lazily.
"""

from __future__ import annotations

from .errors import BenchError, FrameworkUnavailable, UnknownNameError
from .registry import (
    DEVICES,
    FRAMEWORKS,
    Availability,
    FrameworkInfo,
    Status,
    adapter_class,
    availability,
    create_adapter,
    framework_info,
    frameworks_ready,
    register,
    unregister,
)
from .specs import NETWORKS, NetworkSpec, get_network

__version__ = "0.2.0"

__all__ = [
    "DEVICES", "FRAMEWORKS", "NETWORKS", "Availability", "BenchError", "FrameworkInfo", "FrameworkUnavailable",
    "NetworkSpec", "Status", "UnknownNameError", "adapter_class", "availability", "create_adapter",
    "framework_info", "frameworks_ready", "get_network", "register", "unregister",
]
