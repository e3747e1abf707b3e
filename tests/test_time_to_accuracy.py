"""Time to accuracy's two outcomes, on a fake model (seconds, not the minutes real training takes): a run that
reaches its target is published with its epochs, one that does not is recorded as not converged and fails.

Before this test the benchmark returned (passed) when the target was missed, and its final assert was true by
construction: ``test_a_run_that_misses_its_target_fails_and_is_recorded`` passed nothing then and fails it now.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from frameworks import data
from frameworks.bench import test_benchmarks as benchmarks
from frameworks.specs import AccuracyTarget


class FakeBenchmark:
    """pytest-benchmark's fixture as a test run uses it: ``pedantic`` calls once; what is published is kept."""

    enabled = False

    def __init__(self):
        self.extra_info: dict = {}
        self.group = ""
        self.stats = types.SimpleNamespace(stats=types.SimpleNamespace(data=[]))

    def pedantic(self, run, rounds, iterations):
        self.stats.stats.data = [1.5]
        return run()


class FakeModel:
    """Accuracy after each epoch from a fixed list: the training curve the test wants."""

    trains = True

    def __init__(self, curve):
        self.curve, self.epochs = list(curve), 0
        self.spec = types.SimpleNamespace(recipe=None)

    def fit(self, x, y, epochs):
        self.epochs += epochs

    def evaluate(self, x, y):
        return self.curve[self.epochs - 1]


@pytest.fixture
def run_with(monkeypatch):
    """Run the benchmark's test function for ``lenet`` with a target of 98% in 3 epochs, on ``curve``."""
    spec = types.SimpleNamespace(time_to_accuracy=AccuracyTarget(0.98, 3))
    monkeypatch.setattr(benchmarks, "get_network", lambda name: spec)
    empty = types.SimpleNamespace(train_images=np.zeros(1), train_labels=np.zeros(1), test_images=np.zeros(1),
                                  test_labels=np.zeros(1))
    monkeypatch.setattr(data, "load", lambda: empty)
    monkeypatch.setattr(data, "preprocess", lambda images, recipe: images)

    def run(curve):
        model, recorded, bench = FakeModel(curve), [], FakeBenchmark()
        try:
            benchmarks.test_time_to_accuracy(bench, lambda *a, **k: model, recorded.append, "fake", "lenet", "cpu")
        except pytest.fail.Exception as exc:
            return "failed", str(exc), recorded, bench
        return "passed", "", recorded, bench

    return run


def test_a_run_that_reaches_its_target_is_published_with_its_epochs(run_with):
    outcome, _, recorded, bench = run_with([0.95, 0.981, 0.99])
    assert outcome == "passed" and recorded == []
    assert bench.extra_info["details"]["epochs"] == 2
    assert bench.extra_info["details"]["accuracy_per_epoch"] == [0.95, 0.981]
    assert bench.extra_info["images"] == 120_000


def test_a_run_that_misses_its_target_fails_and_is_recorded(run_with):
    outcome, message, recorded, _ = run_with([0.95, 0.97, 0.979])
    assert outcome == "failed"
    assert message == ("not converged: fake/lenet: 98.0% not reached in 3 epochs; accuracy per epoch "
                       "['95.00%', '97.00%', '97.90%']")
    (entry,) = recorded
    assert entry["accuracy_per_epoch"] == [0.95, 0.97, 0.979] and entry["epoch_cap"] == 3 and entry["target"] == 0.98
