"""The canonical weight layout and its Keras conversion (the NCHW/NHWC flatten order)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frameworks.adapters.keras.layout import from_keras, to_keras
from frameworks.errors import InputError
from frameworks.specs import NETWORKS, get_network
from frameworks.weights import (
    check_weights,
    flattened_inputs,
    initial_weights,
    load_weights,
    save_weights,
)


def test_flattened_inputs():
    assert flattened_inputs(get_network("keras_cnn")) == {"fc1": (64, 12, 12)}
    assert flattened_inputs(get_network("lenet")) == {"ip1": (50, 4, 4)}
    assert flattened_inputs(get_network("mlp_bn")) == {"fc1": (1, 28, 28)}  # one channel: an identity permutation


def test_first_dense_after_flatten_is_permuted_not_transposed():
    spec = get_network("lenet")
    rng = np.random.default_rng(0)
    w = rng.normal(size=(500, 800))
    fmap = rng.normal(size=(50, 4, 4))
    canonical_out = w @ fmap.reshape(-1)  # channel-major flatten
    keras_out = fmap.transpose(1, 2, 0).reshape(-1) @ to_keras(spec, "ip1.weight", w)  # channels-last flatten
    np.testing.assert_allclose(keras_out, canonical_out, rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(list(NETWORKS)), seed=st.integers(0, 2**31))
def test_keras_conversion_round_trips(name, seed):
    spec = get_network(name)
    weights = initial_weights(spec, seed)
    for key, value in weights.items():
        np.testing.assert_array_equal(from_keras(spec, key, to_keras(spec, key, value)), value)


def test_conv_kernel_goes_channels_last():
    spec = get_network("keras_cnn")
    w = np.arange(32 * 1 * 3 * 3, dtype=np.float32).reshape(32, 1, 3, 3)
    k = to_keras(spec, "conv1.weight", w)
    assert k.shape == (3, 3, 1, 32) and k[1, 2, 0, 5] == w[5, 0, 1, 2]


def test_initial_weights_are_seed_fixed_and_follow_the_scheme():
    spec = get_network("lenet")
    a, b, c = initial_weights(spec, 1), initial_weights(spec, 1), initial_weights(spec, 2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    assert np.abs(a["conv1.weight"]).max() <= np.sqrt(3 / 25)
    assert not a["conv1.bias"].any()
    bn = initial_weights(get_network("mlp_bn"), 0)
    assert (bn["bn1.running_var"] == 1).all() and not bn["bn1.running_mean"].any()


def test_check_weights_converts_float64():
    spec = get_network("lenet")
    weights = {k: v.astype(np.float64) for k, v in initial_weights(spec, 0).items()}
    assert all(v.dtype == np.float32 for v in check_weights(spec, weights).values())


def test_negative_variance_is_refused():
    spec = get_network("mlp_bn")
    weights = initial_weights(spec, 0)
    weights["bn1.running_var"][0] = -1
    with pytest.raises(InputError, match="variance"):
        check_weights(spec, weights)


def test_save_and_load(tmp_path):
    weights = initial_weights(get_network("mlp_bn"), 0)
    path = save_weights(tmp_path / "w.npz", weights)
    loaded = load_weights(path)
    assert list(loaded) == list(weights) and all(np.array_equal(loaded[k], weights[k]) for k in weights)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]
