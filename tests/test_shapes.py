"""Shape invariants and properties every framework's every network must hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from frameworks import data
from frameworks.weights import initial_weights

from .helpers import assert_weights_equal, random_batch

MODEL_SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_parameter_count_matches_spec(model):
    assert model.trainable_parameter_count() == model.spec.trainable_parameters()
    if model.spec.expected_parameters is not None:
        assert model.trainable_parameter_count() == model.spec.expected_parameters


@MODEL_SETTINGS
@given(n=st.integers(min_value=1, max_value=256))
def test_forward_gives_probabilities_for_every_batch_size(model, n):
    probs = model.forward(random_batch(n, seed=n))
    assert probs.shape == (n, 10)
    assert np.isfinite(probs).all()
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@MODEL_SETTINGS
@given(x=arrays(np.float32, (3, 1, 28, 28), elements=st.floats(-100, 100, width=32)))
def test_forward_is_finite_for_any_valid_input(model, x):
    probs = model.forward(x)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_eval_output_of_a_sample_does_not_depend_on_its_batch(model):
    x = random_batch(16, seed=1)
    together = model.forward(x)
    alone = np.concatenate([model.forward(x[i:i + 1]) for i in range(len(x))])
    shuffled = model.forward(x[::-1])[::-1]
    np.testing.assert_allclose(alone, together, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(shuffled, together, rtol=1e-4, atol=1e-6)


def test_forward_is_repeatable(model):
    x = random_batch(8, seed=2)
    np.testing.assert_array_equal(model.forward(x), model.forward(x))


@pytest.mark.trains
def test_gradients_are_shaped_like_parameters(framework, network, device, make_model):
    model = make_model(framework, network, device)
    x, y = random_batch(32, seed=3, labels=True)
    loss, grads = model.backward(x, y)
    assert np.isfinite(loss) and loss > 0
    shapes = model.spec.parameter_shapes()
    assert list(grads) == list(shapes)
    for key, shape in shapes.items():
        assert grads[key].shape == shape, key
        assert np.isfinite(grads[key]).all(), key
    assert any(np.abs(g).max() > 0 for g in grads.values())


@pytest.mark.trains
def test_backward_does_not_update_parameters(framework, network, device, make_model):
    model = make_model(framework, network, device)
    before = {k: v for k, v in model.get_weights().items() if "running" not in k}
    model.backward(*random_batch(16, seed=4, labels=True))
    after = {k: v for k, v in model.get_weights().items() if "running" not in k}
    assert_weights_equal(before, after)


@pytest.mark.trains
def test_each_train_step_returns_its_own_batchs_loss(framework, device, make_model):
    """Not a running mean over earlier steps (Keras 3.8's train_on_batch returns one unless reset): each step's
    loss equals the training-mode loss of its batch just before the update (lenet: no dropout, no BatchNorm)."""
    model = make_model(framework, "lenet", device)
    for seed in (5, 6, 7):
        x, y = random_batch(32, seed=seed, labels=True)
        before, _ = model.backward(x, y)
        assert model.train_step(x, y) == pytest.approx(before, rel=1e-4), seed


def test_weights_round_trip_in_the_canonical_layout(framework, network, device, make_model):
    model = make_model(framework, network, device)
    exported = model.get_weights()
    assert {k: v.shape for k, v in exported.items()} == model.spec.state_shapes()
    assert all(v.dtype == np.float32 for v in exported.values())
    target = initial_weights(model.spec, seed=11)
    model.set_weights(target)
    assert_weights_equal(model.get_weights(), target)


@pytest.mark.trains
def test_same_seed_same_model_and_training(framework, network, device, make_model):
    x, y = random_batch(32, seed=5, labels=True)
    runs = []
    for _ in range(2):
        model = make_model(framework, network, device, seed=3)
        initial = model.get_weights()
        losses = [model.train_step(x, y) for _ in range(2)]
        runs.append((initial, losses, model.get_weights(), model.forward(x)))
    assert_weights_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert_weights_equal(runs[0][2], runs[1][2])
    np.testing.assert_array_equal(runs[0][3], runs[1][3])
    other = make_model(framework, network, device, seed=4).get_weights()
    assert any(not np.array_equal(other[k], runs[0][0][k]) for k in other if k.endswith(".weight"))


@pytest.mark.trains
def test_training_steps_reduce_the_loss_on_a_batch(framework, network, device, make_model):
    model = make_model(framework, network, device)
    rng = np.random.default_rng(6)  # noise images in the recipe's input range (lenet's SGD diverges at 3x it)
    x = data.preprocess(rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), model.spec.recipe)
    y = rng.integers(0, 10, 64)
    first = model.train_step(x, y)
    for _ in range(15):
        last = model.train_step(x, y)
    assert np.isfinite(last)
    assert last < first, f"loss went from {first} to {last} in 16 steps on one batch"
