"""Timing primitives shared by the benchmarks and the adapters' own timing tools: one timed call, and garbage
collection kept out of timed regions."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


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


def rounds_for(seconds_per_call: float, target_seconds: float, min_rounds: int, max_rounds: int = 1000) -> int:
    """How many rounds fill ``target_seconds``, within [min_rounds, max_rounds]."""
    if seconds_per_call <= 0:
        return max_rounds
    return max(min_rounds, min(max_rounds, math.ceil(target_seconds / seconds_per_call)))
