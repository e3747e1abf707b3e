"""Timing primitives shared by the benchmarks and the adapters' own timing tools: one timed call, garbage
collection kept out of timed regions, and timed code run at the shallow call depth of a training script."""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


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


def on_fresh_thread(call: Callable[[], T]) -> T:
    """``call()`` run on a new thread (its result returned, its exception raised here), so that its Python frames
    start at the bottom of a fresh frame stack, as a training script's do, and not some 50 frames down pytest's.

    Why: CPython keeps its frames in 16 KiB chunks, and before gh-142183's fix (3.13 and later, 2026) a loop whose
    calls cross a chunk boundary maps and unmaps a chunk on every crossing. Where the boundary falls depends on the
    depth the benchmark is called from: measured on Python 3.11 here, a Keras-on-torch forward pass took 2.9 ms at
    its own depth and 13 ms 80 frames deeper (55,528 mmap/munmap calls in 200 steps), and 5 frames deeper inside
    pytest made it 7-10% slower: a cost of the harness, not of the framework."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # a skip or a failure is the caller's, raised where it would have been
            error.append(exc)

    thread = threading.Thread(target=target, name="timed", daemon=True)  # daemon: Ctrl-C never waits on it
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def rounds_for(seconds_per_call: float, target_seconds: float, min_rounds: int, max_rounds: int = 1000) -> int:
    """How many rounds fill ``target_seconds``, within [min_rounds, max_rounds]."""
    if seconds_per_call <= 0:
        return max_rounds
    return max(min_rounds, min(max_rounds, math.ceil(target_seconds / seconds_per_call)))
