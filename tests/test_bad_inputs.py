"""Bad inputs get a clear error, never a silent wrong answer, and change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from frameworks.errors import InputError
from frameworks.weights import initial_weights

from .helpers import assert_weights_equal, random_batch

BAD_INPUTS = {
    "no channel axis": (np.zeros((4, 28, 28), np.float32), "shaped"),
    "three channels": (np.zeros((4, 3, 28, 28), np.float32), "shaped"),
    "wrong image size": (np.zeros((4, 1, 32, 32), np.float32), "shaped"),
    "channels last": (np.zeros((4, 28, 28, 1), np.float32), "shaped"),
    "float64": (np.zeros((4, 1, 28, 28), np.float64), "float32"),
    "uint8 pixels": (np.zeros((4, 1, 28, 28), np.uint8), "float32"),
    "empty batch": (np.zeros((0, 1, 28, 28), np.float32), "empty"),
    "NaN": (np.full((4, 1, 28, 28), np.nan, np.float32), "NaN"),
    "infinity": (np.full((4, 1, 28, 28), np.inf, np.float32), "infinite"),
    "a list": ([[0.0] * 784] * 4, "numpy array"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_forward_rejects_bad_inputs(model, case):
    x, message = BAD_INPUTS[case]
    with pytest.raises(InputError, match=message):
        model.forward(x)


BAD_LABELS = {
    "too few": (np.zeros(3, np.int64), "labels must be shaped"),
    "2-D one-hot": (np.eye(10, dtype=np.int64)[:4], "labels must be shaped"),
    "floats": (np.zeros(4, np.float32), "integer"),
    "class 10": (np.array([0, 1, 2, 10]), r"\[0, 10\)"),
    "negative": (np.array([0, -1, 2, 3]), r"\[0, 10\)"),
}


@pytest.mark.trains
@pytest.mark.parametrize("case", list(BAD_LABELS))
def test_training_rejects_bad_labels_and_changes_nothing(framework, network, device, make_model, case):
    model = make_model(framework, network, device)
    before = model.get_weights()
    y, message = BAD_LABELS[case]
    x = random_batch(4)
    with pytest.raises(InputError, match=message):
        model.train_step(x, y)
    with pytest.raises(InputError, match=message):
        model.backward(x, y)
    with pytest.raises(InputError, match=message):
        model.fit(x, y, epochs=1)
    assert_weights_equal(model.get_weights(), before)


@pytest.mark.trains
def test_training_rejects_bad_inputs_and_changes_nothing(framework, network, device, make_model):
    model = make_model(framework, network, device)
    before = model.get_weights()
    for x, message in BAD_INPUTS.values():
        y_case = np.zeros(len(x), np.int64)
        with pytest.raises(InputError, match=message):
            model.train_step(x, y_case)
    with pytest.raises(InputError, match="epochs"):
        model.fit(random_batch(4), np.zeros(4, np.int64), epochs=0)
    assert_weights_equal(model.get_weights(), before)


def test_evaluate_rejects_mismatched_labels(model):
    with pytest.raises(InputError, match="labels must be shaped"):
        model.evaluate(random_batch(5), np.zeros(4, np.int64))


def test_bad_weights_are_rejected_and_change_nothing(framework, network, device, make_model):
    model = make_model(framework, network, device)
    before = model.get_weights()
    good = initial_weights(model.spec, seed=1)
    first = next(iter(good))
    cases = {
        "missing": ({k: v for k, v in good.items() if k != first}, "missing"),
        "unexpected": ({**good, "extra.weight": np.zeros(3, np.float32)}, "unexpected"),
        "wrong shape": ({**good, first: good[first].T.copy()}, "shape"),
        "NaN": ({**good, first: np.full_like(good[first], np.nan)}, "NaN"),
        "integers": ({**good, first: good[first].astype(np.int32)}, "dtype"),
        "not a dict": (list(good.values()), "dict"),
    }
    for weights, message in cases.values():
        with pytest.raises(InputError, match=message):
            model.set_weights(weights)
    assert_weights_equal(model.get_weights(), before)
