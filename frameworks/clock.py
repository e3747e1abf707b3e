"""Timing primitives shared by the benchmarks and the adapters' own timing tools: one timed call, garbage
collection kept out of timed regions, and timed loops run on a fresh frame stack, as a training script's are."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


def minor_page_faults() -> int | None:
    """Minor page faults of this process so far (pages the kernel mapped in on first touch: memory the C allocator
    took fresh from the system), or None where the platform does not count them. Why: a step's time can follow how
    often the allocator hands memory back and faults it in again, which depends on the process's history
    (``results/harness-fidelity-cpu-2core-xeon-20261206/allocator/``)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a Unix
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed_call(fn: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextmanager
def gc_paused(collect: bool = True) -> Iterator[None]:
    """Keep the garbage collector off while timing (as ``timeit`` does), after one collection unless ``collect``
    is False (``timeit`` itself does not collect)."""
    was_enabled = gc.isenabled()
    if collect:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# 8-byte slots in one frame of ``_fresh_stack``: 17 KiB, more than the 16 KiB frame-stack chunks of CPython 3.11 and
# 3.12, so the frame never fits in the chunk in use and opens one of its own (32 KiB), leaving about 15 KiB above it.
FRESH_STACK_SLOTS = 2200


def _fresh_stack_trampoline(slots: int) -> Callable[[Callable[[], Any]], Any]:
    """A function ``f(call) -> call()`` whose frame holds ``slots`` locals (never assigned: they only take room)."""
    names = ", ".join(f"_{i}" for i in range(slots))
    source = f"def fresh_stack(call):\n    if False:\n        {names} = (None,) * {slots}\n    return call()\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<frameworks.clock>", "exec"), namespace)  # noqa: S102 - code generated here, no input
    return namespace["fresh_stack"]


_fresh_stack = _fresh_stack_trampoline(FRESH_STACK_SLOTS)


def on_fresh_stack(call: Callable[[], T]) -> T:
    """``call()`` with its frames at the bottom of a fresh frame-stack chunk, as a training script's are, and not
    wherever some 50 frames of pytest leave them.

    Why: CPython keeps its frames in 16 KiB chunks, and before gh-142183's fix (3.13 and later, 2026) a loop whose
    calls cross a chunk boundary maps and unmaps a chunk at every crossing. Where the boundary falls depends on the
    depth the benchmark is called from: measured here on Python 3.11 (``scripts/call_depth.py``), a Keras-on-torch
    forward pass took 2.7 ms when called from 0 to 40 frames further down and 3.0 to 12.2 ms from 50 to 80 (up to
    374 page faults a call, against 9), a cost of the harness, not of the framework. Called through a frame too
    large for the chunk in use, the loop starts a chunk of its own, with about 15 KiB above that frame (a script's
    first chunk has 16): 2.7 ms from every depth.
    (A fresh thread would do it too, but there PyTorch's small steps were slower: mlp_bn's forward pass 1.62 ms on a
    second thread against 0.84 ms on the main one, and 1.6 ms on both with ``OMP_WAIT_POLICY=PASSIVE``, which points
    at OpenMP's spin-waiting, cut back when two thread teams share 2 cores.)"""
    return _fresh_stack(call)


def rounds_for(seconds_per_call: float, target_seconds: float, min_rounds: int, max_rounds: int = 1000) -> int:
    """How many rounds fill ``target_seconds``, within [min_rounds, max_rounds]."""
    if seconds_per_call <= 0:
        return max_rounds
    return max(min_rounds, min(max_rounds, math.ceil(target_seconds / seconds_per_call)))
