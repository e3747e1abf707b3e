"""Process-wide settings that must be made before any framework loads: threads and log noise."""

from __future__ import annotations

import os

from .registry import quiet_defaults, thread_variables

# Read once, when a math library starts; each framework's own variables come from its registry entry.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_threads() -> int:
    """The thread count used when none is given: every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def configure_process(threads: int | None = None) -> int:
    """Set intra-op thread counts for every framework (through the variables they read at start-up) and
    quiet the frameworks' start-up logs; return the thread count in effect."""
    n = default_threads() if threads is None else threads
    if n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    for name in (*THREAD_VARIABLES, *thread_variables()):
        os.environ[name] = str(n)
    for name, value in quiet_defaults().items():
        os.environ.setdefault(name, value)
    return n
