"""The adapter contract, checked (``pytest --pyargs frameworks.conformance --frameworks NAME``; see the package's
docstring). Each test is parametrized by the suite's pytest plugin over the selected frameworks, networks and
devices, and skips with the reason where the framework cannot run here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ..equivalence import FORWARD_TOL, relative_error
from ..errors import FrameworkUnavailable, InputError
from ..registry import FRAMEWORKS
from ..specs import NETWORKS
from . import reference

SEED = 11
BATCHES = (1, 7)  # one image (a squeezed dimension shows) and an odd batch


def images(n: int, seed: int = 0) -> np.ndarray:
    """Canonical float32 images in the range scaled MNIST occupies (no data download needed)."""
    return np.random.default_rng(seed).uniform(-0.5, 3.0, (n, 1, 28, 28)).astype(np.float32)


def built(make_model: Any, framework: str, network: str, device: str, variant: str | None = None) -> Any:
    """The framework's adapter with the kit's weights loaded (skips with the reason where it cannot run)."""
    adapter = make_model(framework, network, device, seed=SEED, variant=variant, shared_init=False)
    adapter.set_weights(reference.conformance_weights(adapter.spec, SEED))
    return adapter


def against_reference(adapter: Any, x: np.ndarray) -> None:
    """The adapter's probabilities within the equivalence tests' tolerance of the oracle's; a mismatch names the
    first layer whose output is off."""
    spec = adapter.spec
    weights = reference.conformance_weights(spec, SEED)
    expected = reference.probabilities(spec, weights, x)
    got = adapter.forward(x)
    error = relative_error(got, expected)
    if error <= FORWARD_TOL:
        return
    where = "no single layer (the softmax?)"
    try:
        outputs = adapter.layer_outputs(x)
    except FrameworkUnavailable:
        outputs = {}
    for name, value in reference.layer_outputs(spec, weights, x).items():
        if name in outputs and relative_error(np.asarray(outputs[name]), value) > FORWARD_TOL:
            where = f"layer {name!r} first"
            break
    pytest.fail(f"{adapter.framework}/{spec.name} variant {adapter.variant}: forward differs from the reference by "
                f"{error:.2e} (relative, tolerance {FORWARD_TOL:.0e}); it diverges at {where}", pytrace=False)


def test_it_builds_the_network_with_the_spec_parameters(make_model, framework, network, device):
    adapter = make_model(framework, network, device, seed=SEED, shared_init=False)
    assert adapter.trainable_parameter_count() == adapter.spec.trainable_parameters()
    assert isinstance(adapter.version, str) and adapter.version, "version must be a non-empty string"
    assert adapter.framework == framework and adapter.variant == FRAMEWORKS[framework].default_variant


@pytest.mark.parametrize("batch", BATCHES)
def test_forward_gives_class_probabilities(make_model, framework, network, device, batch):
    adapter = built(make_model, framework, network, device)
    out = adapter.forward(images(batch))
    assert isinstance(out, np.ndarray) and out.shape == (batch, adapter.spec.num_classes), \
        f"forward must return (N, {adapter.spec.num_classes}) numpy probabilities, got {type(out).__name__} " \
        f"{getattr(out, 'shape', '')}"
    assert out.dtype == np.float32, f"forward must return float32, got {out.dtype}"
    assert np.isfinite(out).all() and (out >= 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5, err_msg="probabilities must sum to 1 (softmax)")


def test_forward_matches_the_reference(make_model, framework, network, device):
    against_reference(built(make_model, framework, network, device), images(16, seed=1))


def test_every_layer_output_matches_the_reference(make_model, framework, network, device):
    adapter = built(make_model, framework, network, device)
    x = images(4, seed=2)
    outputs = adapter.layer_outputs(x)
    spec = adapter.spec
    assert list(outputs) == [layer.name for layer in spec.layers], "layer_outputs must name every spec layer, in order"
    expected = reference.layer_outputs(spec, reference.conformance_weights(spec, SEED), x)
    for (name, value), shape in zip(expected.items(), spec.output_shapes(), strict=True):
        got = np.asarray(outputs[name])
        assert got.shape == (len(x), *shape), f"{name}: shape {got.shape}, canonical {(len(x), *shape)} (N, C, H, W)"
        error = relative_error(got, value)
        assert error <= FORWARD_TOL, f"{name}: differs from the reference by {error:.2e} (the layers before it agree)"


def test_weights_round_trip_in_the_canonical_layout(make_model, framework, network, device):
    adapter = built(make_model, framework, network, device)
    weights = reference.conformance_weights(adapter.spec, SEED)
    got = adapter.get_weights()
    assert list(got) == list(adapter.spec.state_shapes()), "get_weights must give every canonical key, in spec order"
    for key, value in weights.items():
        assert got[key].shape == value.shape, f"{key}: shape {got[key].shape}, canonical {value.shape}"
        np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("bad", ["channels-last", "float64", "nan"])
def test_bad_inputs_are_refused(make_model, framework, network, device, bad):
    adapter = make_model(framework, network, device, seed=SEED, shared_init=False)
    x = images(2)
    if bad == "nan":
        x[1, 0, 14, 14] = np.nan
    x = {"channels-last": x.transpose(0, 2, 3, 1), "float64": x.astype(np.float64), "nan": x}[bad]
    with pytest.raises(InputError):
        adapter.forward(x)


@pytest.mark.phases("forward")
def test_every_variant_computes_the_network(make_model, framework, variant, device, network):
    against_reference(built(make_model, framework, network, device, variant=variant), images(8, seed=3))


def test_training_gives_a_loss_canonical_gradients_and_an_update(make_model, framework, network, device):
    adapter = built(make_model, framework, network, device)
    if not adapter.trains:
        pytest.skip(f"{framework} is an inference runtime (its adapter's trains is False): no training to check")
    rng = np.random.default_rng(4)
    x, y = images(8, seed=4), rng.integers(0, 10, 8).astype(np.int64)
    loss, gradients = adapter.backward(x, y)
    assert np.isfinite(loss) and loss > 0, f"backward's loss must be a positive finite number, got {loss}"
    shapes = adapter.spec.parameter_shapes()
    assert set(gradients) == set(shapes), "gradients must have every trainable parameter's canonical key"
    for key, shape in shapes.items():
        assert np.asarray(gradients[key]).shape == shape and np.isfinite(gradients[key]).all(), key
    before = adapter.get_weights()
    assert np.isfinite(adapter.train_step(x, y))
    after = adapter.get_weights()
    assert any(not np.array_equal(before[k], after[k]) for k in shapes), "train_step changed no parameter"


def test_the_kit_knows_the_networks():
    """The kit's oracle covers every layer type of the zoo (a new layer type must reach it too)."""
    for spec in NETWORKS.values():
        out = reference.probabilities(spec, reference.conformance_weights(spec, SEED), images(2))
        assert out.shape == (2, 10)
