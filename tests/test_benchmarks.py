"""The benchmarks: forward, backward and train step at a batch size, full epochs through two input
pipelines, the fidelity check against each framework's own timing tool, and time to accuracy.

``pytest --benchmark-only`` times them; with ``--benchmark-disable`` (the test run) each runs once as a
test, on a shortened epoch.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from frameworks import data
from frameworks.errors import FrameworkUnavailable
from frameworks.timing import PHASES, measure, own_tool_timing, step_function, timed_call

FULL_EPOCH = 60_000
TEST_EPOCH = 2_048
# Time-to-accuracy targets and epoch caps (MLPerf/DAWNBench style): a run that misses is "not converged".
TTA_TARGETS = {"keras_cnn": (0.990, 12), "lenet": (0.990, 15), "mlp_bn": (0.980, 15)}


@pytest.fixture(scope="module")
def built(make_model):
    """Models built once per (framework, network, device, variant) for the step benchmarks."""
    cache: dict = {}

    def get(framework, network, device, variant=None):
        key = (framework, network, device, variant)
        if key not in cache:
            cache[key] = make_model(framework, network, device, variant=variant)
        return cache[key]

    return get


def real_batch(mnist, spec, size):
    """The first ``size`` training images and labels, scaled by the recipe (repeated if size > 60000)."""
    idx = np.arange(size) % len(mnist.train_images)
    return data.preprocess(mnist.train_images[idx], spec.recipe), mnist.train_labels[idx].astype(np.int64)


def options(request):
    """Round settings from pytest-benchmark's own options."""
    get = request.config.getoption
    return {"min_rounds": int(get("benchmark_min_rounds")), "target_seconds": float(get("benchmark_max_time"))}


@pytest.mark.parametrize("phase", PHASES)
def test_step(benchmark, request, built, mnist, framework, variant, device, network, phase, batch_size):
    model = built(framework, network, device, variant)
    x, y = real_batch(mnist, model.spec, batch_size)
    staged = model.stage(*model.check_batch(x, y))
    step = step_function(model, phase, staged)
    measure(benchmark, model, step, images=batch_size, group=f"{phase} {network} {device} batch {batch_size}",
            phase=phase, batch=batch_size, **options(request))


@pytest.mark.parametrize("pipeline", ["staged", "framework"])
def test_epoch(benchmark, request, make_model, mnist, framework, network, device, pipeline):
    model = make_model(framework, network, device)
    images = request.config.getoption("epoch_images") or (FULL_EPOCH if benchmark.enabled else TEST_EPOCH)
    images = min(images, FULL_EPOCH)
    bs = model.batch_size
    # Warm-up: one full batch and the epoch's final partial batch, so every shape is compiled before timing.
    warm_images = bs + (images % bs)
    if pipeline == "staged":
        x, y = data.preprocess(mnist.train_images, model.spec.recipe), mnist.train_labels
        warm, run = model.staged_epoch(x, y, warm_images), model.staged_epoch(x, y, images)
        description = "batches preprocessed and staged beforehand, a loop of the framework's train step"
    else:
        try:
            _, warm = model.pipeline_epoch(mnist, warm_images)
            description, run = model.pipeline_epoch(mnist, images)
        except FrameworkUnavailable as exc:
            pytest.skip(str(exc))
    first = timed_call(warm)
    measure(benchmark, model, run, images=images, group=f"epoch {network} {device} ({pipeline} pipeline)",
            phase=f"epoch-{pipeline}", batch=bs, pipeline=description, warmup_calls=0,
            rounds=request.config.getoption("epoch_rounds"), first_call_s=first, full_epoch=images == FULL_EPOCH)


FIDELITY_PHASES = ("forward", "backward", "train_step")


@pytest.mark.parametrize("phase", FIDELITY_PHASES)
def test_fidelity(benchmark, request, built, mnist, framework, network, device, phase, batch_size):
    """The suite's timing of a step beside the framework's own tool's, on the same model in the same run.

    The own tool runs both before and after the suite's measurement and the two medians are averaged, so a
    machine that speeds up or slows down during the test moves both sides alike; their gap is recorded
    as ``own_drift`` to show how far the machine moved.
    """
    if framework == "caffe" and phase == "train_step":
        pytest.skip("caffe time measures forward and backward passes only, not solver updates")
    model = built(framework, network, device)
    x, y = real_batch(mnist, model.spec, batch_size)
    staged = model.stage(*model.check_batch(x, y))
    step = step_function(model, phase, staged)
    first = timed_call(step)  # compilation and first allocations, before either side times anything
    per_call = min(timed_call(step) for _ in range(2))
    # Each side of the sandwich gets at least 10 calls (and half a second): medians of fewer swing with noise.
    own_seconds = max(0.5, 10 * per_call) if benchmark.enabled else 0.02
    try:
        before = own_tool_timing(model, phase, staged, min_seconds=own_seconds)
    except FrameworkUnavailable as exc:
        pytest.skip(str(exc))
    # At least 20 rounds: with pytest-benchmark's default 5, one slow burst on a shared machine moves the median.
    rounds = options(request)
    rounds["min_rounds"] = max(rounds["min_rounds"], 20)
    measure(benchmark, model, step, images=batch_size, group=f"fidelity {phase} {network} {device}",
            phase=phase, batch=batch_size, first_call_s=first, **rounds)
    after = own_tool_timing(model, phase, staged, min_seconds=own_seconds)
    for own in (before, after):
        assert own.median_s > 0 and own.runs >= 1
    own_median = (before.median_s + after.median_s) / 2
    benchmark.extra_info.update(own_tool=before.tool, own_median_s=own_median, own_runs=before.runs + after.runs,
                                own_before_s=before.median_s, own_after_s=after.median_s,
                                own_drift=after.median_s / before.median_s - 1)
    if benchmark.enabled:
        benchmark.extra_info["suite_over_own"] = benchmark.stats.stats.median / own_median


def test_calibration(benchmark):
    """A fixed numpy workload timed in every benchmark process: the gate divides by it to cancel a shared
    machine's speed drift between runs."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256)).astype(np.float32)

    def work() -> float:
        b = a
        for _ in range(8):
            b = np.tanh(b @ a)
        return float(b[0, 0])

    benchmark.group = "calibration"
    benchmark.extra_info.update(phase="calibration", workload="8 x tanh(256x256 float32 matmul), numpy")
    benchmark.pedantic(work, rounds=30 if benchmark.enabled else 1, warmup_rounds=3 if benchmark.enabled else 0)


class NotConverged(Exception):
    """Training hit the epoch cap before reaching the target accuracy."""


@pytest.mark.time_to_accuracy
def test_time_to_accuracy(benchmark, make_model, record_not_converged, framework, network, device):
    """Wall time from before the first touch of the data to the first epoch whose test accuracy reaches the
    target (training, evaluation after each epoch, data loading and model building all included)."""
    target, cap = TTA_TARGETS[network]
    history: list[float] = []

    def run() -> int:
        history.clear()
        data.clear_cache()
        mnist = data.load()
        model = make_model(framework, network, device)
        x_train = data.preprocess(mnist.train_images, model.spec.recipe)
        x_test = data.preprocess(mnist.test_images, model.spec.recipe)
        for epoch in range(1, cap + 1):
            model.fit(x_train, mnist.train_labels, epochs=1)
            history.append(model.evaluate(x_test, mnist.test_labels))
            if history[-1] >= target:
                return epoch
        raise NotConverged(f"{framework}/{network}: {target:.1%} not reached in {cap} epochs")

    benchmark.group = f"time to {target:.1%} {network} {device}"
    benchmark.extra_info.update(framework=framework, network=network, device=device, phase="time-to-accuracy",
                                target=target, epoch_cap=cap)
    start = time.perf_counter()
    try:
        epochs = benchmark.pedantic(run, rounds=1, iterations=1)
    except NotConverged as exc:
        record_not_converged(
            {"framework": framework, "network": network, "device": device, "target": target, "epoch_cap": cap,
             "accuracy_per_epoch": list(history), "seconds": time.perf_counter() - start, "reason": str(exc)})
        return
    benchmark.extra_info.update(epochs=epochs, accuracy_per_epoch=list(history), converged=True)
    assert history[-1] >= target
