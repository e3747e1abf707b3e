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


def oversubscribed(threads: int | None, cores: int | None = None) -> str | None:
    """A warning when ``threads`` exceeds the ``cores`` this process may use (default: ours): the threads then
    wait for cores, which slows every step, often many times over, and makes its figures noisy."""
    cores = default_threads() if cores is None else cores
    if threads is None or threads <= cores:
        return None
    return (f"warning: {threads} threads on {cores} usable core{'s' if cores != 1 else ''}: the threads wait for "
            "cores, so steps run slower (often many times over) and noisier than with --threads "
            f"{cores}; the figures are flagged as oversubscribed")


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
