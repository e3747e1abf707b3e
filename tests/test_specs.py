"""The model zoo's specs: shapes, parameter counts, recipes."""

from __future__ import annotations

import math

import pytest

from frameworks.errors import UnknownNameError
from frameworks.specs import (
    LENET,
    NETWORKS,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    NetworkSpec,
    fan_in_out,
    get_network,
    init_bounds,
)


def test_the_zoo_has_the_three_seed_networks():
    assert list(NETWORKS) == ["keras_cnn", "mlp_bn", "lenet"]


@pytest.mark.parametrize("name, params", [("keras_cnn", 1_199_882), ("lenet", 431_080), ("mlp_bn", 572_658)])
def test_parameter_counts(name, params):
    assert get_network(name).trainable_parameters() == params


def test_keras_cnn_shapes():
    shapes = get_network("keras_cnn").output_shapes()
    assert shapes[:3] == [(32, 26, 26), (64, 24, 24), (64, 12, 12)]
    assert (9216,) in shapes and shapes[-1] == (10,)


def test_lenet_shapes():
    assert LENET.output_shapes()[:5] == [(20, 24, 24), (20, 12, 12), (50, 8, 8), (50, 4, 4), (800,)]


def test_mlp_bn_state_includes_running_statistics():
    state = get_network("mlp_bn").state_shapes()
    assert state["bn1.running_mean"] == (548,) and state["bn2.running_var"] == (252,)
    assert "bn1.running_mean" not in get_network("mlp_bn").parameter_shapes()


def test_unknown_network_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match="keras_cnn, lenet, mlp_bn"):
        get_network("resnet50")


def test_a_pool_that_frameworks_would_round_differently_is_refused():
    with pytest.raises(ValueError, match="must divide"):
        NetworkSpec("odd", "", (Conv2D("c", 4, 4), MaxPool2D("p", 2), Flatten("f"), Dense("d", 10)),
                    LENET.recipe)


def test_a_network_must_end_in_ten_classes():
    with pytest.raises(ValueError, match="last layer"):
        NetworkSpec("bad", "", (Flatten("f"), Dense("d", 7)), LENET.recipe)


def test_duplicate_layer_names_are_refused():
    with pytest.raises(ValueError, match="unique"):
        NetworkSpec("bad", "", (Flatten("f"), Dense("f", 10)), LENET.recipe)


def test_wrong_expected_parameter_count_is_refused():
    with pytest.raises(ValueError, match="expected 5"):
        NetworkSpec("bad", "", (Flatten("f"), Dense("d", 10)), LENET.recipe, expected_parameters=5)


def test_caffe_inv_policy():
    opt = LENET.recipe.optimizer
    assert opt.lr_at(0) == 0.01
    # Caffe's lenet_solver.prototxt: base_lr 0.01, gamma 1e-4, power 0.75; by hand 0.01 * 2 ** -0.75 at 10000.
    # Literals, not the formula again: counting updates from 1 gives 0.0059458 there, and is caught.
    assert opt.lr_at(10000) == pytest.approx(0.0059460356, rel=1e-8)
    assert opt.lr_at(1) == pytest.approx(0.0099992501, rel=1e-8)


def test_init_bounds():
    assert fan_in_out((20, 1, 5, 5)) == (25, 500)
    assert init_bounds("glorot_uniform", (128, 9216)) == (math.sqrt(6 / (9216 + 128)), 0.0)
    assert init_bounds("xavier_fan_in", (20, 1, 5, 5)) == (math.sqrt(3 / 25), 0.0)
    assert init_bounds("torch_default", (548, 784)) == (1 / 28, 1 / 28)
