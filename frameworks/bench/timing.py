"""How the suite times a benchmark: the first call (compilation, tracing, allocation) timed apart, untimed
warm-up calls, then timed rounds with garbage collection off and the device synchronised after each, peak
memory over the timed rounds, and every round kept in the result. Latency benchmarks time requests: each
round is one request on its own batch of images, from numpy in to numpy out. The warm-up calls and the rounds
run on a fresh frame stack (``clock.on_fresh_stack``), as a training script's do, not deep in pytest's."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from ..adapters.base import Adapter
from ..clock import gc_paused, minor_page_faults, on_fresh_stack, rounds_for, timed_call
from ..registry import FRAMEWORKS
from ..results import BenchRecord
from ..stats import latency_percentiles


def record_for(adapter: Adapter, *, kind: str, phase: str, images: int, batch: int | None,
               first_call_s: float | None = None, **details: Any) -> BenchRecord:
    """A record describing ``adapter``'s benchmark, before any round is timed."""
    return BenchRecord(name="", kind=kind, framework=adapter.framework, network=adapter.spec.name,
                       device=adapter.device, phase=phase, samples_s=[], images=images, variant=adapter.variant,
                       default_variant=adapter.variant == FRAMEWORKS[adapter.framework].default_variant,
                       precision=adapter.precision, manifest=adapter.numerics(), batch=batch,
                       version=adapter.version, threads=adapter.threads,
                       parameters=adapter.trainable_parameter_count(), first_call_s=first_call_s, details=details)


def publish(benchmark: Any, record: BenchRecord) -> None:
    """Put ``record`` into pytest-benchmark's ``extra_info`` (what the JSON keeps)."""
    benchmark.extra_info.clear()
    benchmark.extra_info.update(record.extra_info())


def timed_rounds(benchmark: Any, adapter: Adapter, record: BenchRecord, target: Callable[..., Any],
                 setup: Callable[[], Any] | None, *, warm_up: Callable[[], float], warmup_calls: int,
                 count: Callable[[float], int]) -> None:
    """The timed part of ``measure`` and ``measure_requests``, on a fresh frame stack (``on_fresh_stack``):
    ``warmup_calls`` calls of ``warm_up`` (each returns its seconds), then ``count(seconds per call)`` rounds of
    ``target`` through pytest-benchmark, ``setup`` untimed before each, garbage collection off; every round's time
    and the rounds' peak memory go to ``record``, and without ``setup`` (whose own faults would count) the minor page
    faults per round (``page_faults_per_round``), which show when a time follows the C allocator's state."""
    faults: list[int | None] = []  # before and after the timed rounds

    def timed() -> None:
        warm = [warm_up() for _ in range(warmup_calls)]
        per_call = statistics.median(warm) if warm else record.first_call_s
        n = count(per_call)
        adapter.reset_peak_memory()
        with gc_paused():
            faults.append(minor_page_faults())
            benchmark.pedantic(target, setup=setup, rounds=n, iterations=1, warmup_rounds=0)
            faults.append(minor_page_faults())

    on_fresh_stack(timed)
    peak = adapter.peak_memory()
    if peak is not None:
        record.peak_memory_mib, record.peak_memory_kind = peak.mib, peak.kind
    record.samples_s = [float(t) for t in benchmark.stats.stats.data]
    before, after = faults
    if setup is None and before is not None and after is not None and record.samples_s:
        record.details["page_faults_per_round"] = (after - before) / len(record.samples_s)


def measure(benchmark: Any, adapter: Adapter, run: Callable[[], Any], record: BenchRecord, *, group: str,
            warmup_calls: int = 3, min_rounds: int = 5, target_seconds: float = 1.0,
            rounds: int | None = None, between: Callable[[], None] | None = None) -> BenchRecord:
    """Time ``run`` (one synchronised call processing ``record.images`` images) with pytest-benchmark.

    The first call is timed on its own into ``record.first_call_s`` unless the caller measured it;
    ``warmup_calls`` more calls follow untimed; then ``rounds`` timed rounds of one call each (by default
    enough to fill ``target_seconds``), with garbage collection off. The record gets every round's time and
    the peak memory of the timed rounds. ``between`` runs, untimed, before each timed round (pytest-benchmark's
    ``setup``): the fidelity check interleaves the framework's own tool with the suite's rounds through it. With
    benchmarks disabled (a test run) ``run`` is called once, after ``between``. Everything after the first call runs
    on a fresh frame stack (``on_fresh_stack``), a test run's call too, so that tests exercise the path timed.
    """
    benchmark.group = group
    record.manifest["warmup_calls"] = warmup_calls
    if record.first_call_s is None:
        record.first_call_s = timed_call(run)
    publish(benchmark, record)
    if not benchmark.enabled:  # --benchmark-disable: run once as a test, record nothing
        on_fresh_stack(lambda: benchmark.pedantic(run, setup=between, rounds=1, iterations=1))
        return record

    timed_rounds(benchmark, adapter, record, run, between, warm_up=lambda: timed_call(run), warmup_calls=warmup_calls,
                 count=lambda per_call: rounds if rounds is not None else rounds_for(per_call, target_seconds,
                                                                                    min_rounds))
    publish(benchmark, record)
    return record


def measure_requests(benchmark: Any, adapter: Adapter, serve: Callable[[Any], Any], requests: list[Any],
                     record: BenchRecord, *, group: str, min_requests: int, target_seconds: float,
                     warmup_calls: int = 10, max_requests: int = 100_000) -> BenchRecord:
    """Time ``serve(batch)`` once per request, cycling through ``requests`` (a different batch each time).

    The first request is timed apart into ``record.first_call_s``; ``warmup_calls`` more follow untimed; then
    at least ``min_requests`` timed requests, more if they fit in ``target_seconds`` (up to ``max_requests``),
    with garbage collection off. Every request's time goes to ``record.samples_s``, the p50/p90/p99/max to
    ``record.details``, the peak memory of the timed requests to the record. With benchmarks disabled (a
    test run) one request is served.
    """
    benchmark.group = group
    feed = iter(range(1 << 62))

    def next_request() -> tuple[tuple[Any], dict[str, Any]]:
        return (requests[next(feed) % len(requests)],), {}

    def one() -> float:
        (batch,), _ = next_request()
        return timed_call(lambda: serve(batch))

    record.first_call_s = one()
    publish(benchmark, record)
    if not benchmark.enabled:
        on_fresh_stack(lambda: benchmark.pedantic(serve, setup=next_request, rounds=1, iterations=1))
        return record
    record.manifest["warmup_calls"] = warmup_calls

    timed_rounds(benchmark, adapter, record, serve, next_request, warm_up=one, warmup_calls=warmup_calls,
                 count=lambda per_call: max(min_requests, rounds_for(per_call, target_seconds, min_requests,
                                                                     max_requests)))
    record.details.update(latency_percentiles(record.samples_s))
    publish(benchmark, record)
    return record
