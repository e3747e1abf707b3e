"""How the suite times things: device-synchronised steps, warm-up and first-call time kept apart, garbage
collection off while timing, peak memory, and each framework's own timing tool for the fidelity check."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .adapter import Adapter, Staged

PHASES = ("forward", "backward", "train_step")


def step_function(adapter: Adapter, phase: str, batch: Staged) -> Callable[[], Any]:
    """A call of one phase on a staged batch that returns only when the device has finished."""
    run = {"forward": adapter.run_forward, "backward": adapter.run_backward,
           "train_step": adapter.run_train_step}[phase]
    sync = adapter.synchronize

    def step() -> Any:
        result = run(batch)
        sync()
        return result

    return step


def timed_call(fn: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect garbage once, then keep the collector off while timing."""
    was_enabled = gc.isenabled()
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


# --- peak memory -------------------------------------------------------------------------------------
def reset_peak_memory(adapter: Adapter) -> None:
    """Start a new peak: the process's resident set on the CPU, the allocator's peak on a GPU."""
    if adapter.device == "cuda":
        torch = _loaded("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak resident set size (Linux)
    except OSError:
        pass


def peak_memory(adapter: Adapter) -> dict[str, float]:
    """The peak since ``reset_peak_memory``, in MiB, under a key that says what was measured."""
    if adapter.device == "cuda":
        torch = _loaded("torch")
        if torch is not None and torch.cuda.is_available() and adapter.framework in ("pytorch", "keras-torch"):
            return {"peak_gpu_allocated_mib": torch.cuda.max_memory_allocated() / 2**20}
        jax = _loaded("jax")
        if jax is not None and adapter.framework == "keras-jax":
            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                return {"peak_gpu_in_use_mib": stats["peak_bytes_in_use"] / 2**20}
        return {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return {"peak_rss_mib": int(line.split()[1]) / 1024}
    except OSError:
        pass
    return {}


def _loaded(module: str) -> Any:
    import sys

    return sys.modules.get(module)


# --- each framework's own timing tool ------------------------------------------------------------
@dataclass(frozen=True)
class OwnTiming:
    """A median step time measured by a framework's own tool, and what that tool was."""

    median_s: float
    tool: str
    runs: int


def own_tool_timing(adapter: Adapter, phase: str, batch: Staged, min_seconds: float = 1.0) -> OwnTiming:
    """Time ``phase`` with the framework's own tool: ``torch.utils.benchmark.Timer`` for PyTorch, a bare
    ``perf_counter`` loop around Keras' own step for Keras, Caffe's ``caffe time`` for Caffe."""
    if adapter.framework == "pytorch":
        from torch.utils import benchmark as torch_benchmark

        step = step_function(adapter, phase, batch)
        timer = torch_benchmark.Timer(stmt="step()", globals={"step": step},
                                      num_threads=adapter.threads or 1, label=phase)
        measurement = timer.blocked_autorange(min_run_time=min_seconds)
        return OwnTiming(measurement.median, "torch.utils.benchmark.Timer.blocked_autorange", len(measurement.times))
    if adapter.framework.startswith("keras-"):
        step = step_function(adapter, phase, batch)
        times = []
        with gc_paused():  # as timeit (and so torch's Timer) does
            deadline = time.perf_counter() + min_seconds
            while time.perf_counter() < deadline or len(times) < 5:
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
        return OwnTiming(statistics.median(times), "bare perf_counter loop around Keras' step, gc off", len(times))
    if adapter.framework == "caffe":
        # caffe time's default is 50 iterations; the fidelity check times before and after the suite, 25 each.
        iterations = max(5, min(25, round(50 * min_seconds)))
        return adapter.caffe_time(phase, batch, iterations=iterations)  # type: ignore[attr-defined]
    raise ValueError(f"no own timing tool known for {adapter.framework}")


# --- pytest-benchmark glue ---------------------------------------------------------------------------
def measure(benchmark: Any, adapter: Adapter, run: Callable[[], Any], *, images: int, group: str,
            warmup_calls: int = 3, min_rounds: int = 5, target_seconds: float = 1.0,
            rounds: int | None = None, first_call_s: float | None = None, **info: Any) -> None:
    """Time ``run`` (one synchronised call processing ``images`` images) with pytest-benchmark.

    The first call (compilation, tracing, allocation) is timed on its own and reported as
    ``first_call_s`` unless the caller measured it; ``warmup_calls`` more calls follow untimed; then
    ``rounds`` timed rounds of one call each (by default enough to fill ``target_seconds``), with
    garbage collection off and the peak memory of the timed rounds recorded. ``extra_info`` gets
    images/s from the median, and ``info``.
    """
    benchmark.group = group
    benchmark.extra_info.update(adapter.describe())
    benchmark.extra_info.update(info)
    benchmark.extra_info["images"] = images
    if first_call_s is None:
        first_call_s = timed_call(run)
    benchmark.extra_info["first_call_s"] = first_call_s
    if not benchmark.enabled:  # --benchmark-disable: run once as a test, record nothing
        benchmark.pedantic(run, rounds=1, iterations=1)
        return
    warm = [timed_call(run) for _ in range(warmup_calls)]
    per_call = statistics.median(warm) if warm else first_call_s
    n = rounds if rounds is not None else rounds_for(per_call, target_seconds, min_rounds)
    reset_peak_memory(adapter)
    with gc_paused():
        benchmark.pedantic(run, rounds=n, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(peak_memory(adapter))
    median = benchmark.stats.stats.median
    benchmark.extra_info["images_per_s"] = images / median if median > 0 else None
