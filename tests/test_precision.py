"""bf16 mixed precision computes the float32 network at bfloat16's precision: forward outputs and gradients within
the bound derived in ``frameworks.precision`` of the float32 oracle, linear layers really in bfloat16, the loss
and the master weights really float32; and the checks catch each way of getting that wrong."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from frameworks import FRAMEWORKS, availability, create_adapter
from frameworks.equivalence import compute_anywhere, precision_problems, probe_request, relative_error
from frameworks.errors import FrameworkUnavailable
from frameworks.precision import (
    BF16,
    UNIT_ROUNDOFF,
    bf16_representable,
    forward_bound,
    gradient_bound,
    round_to_bf16,
)
from frameworks.specs import NETWORKS, Dense, get_network

from .numpy_reference import NumpyReferenceAdapter
from .test_equivalence import layer_type_cover

REDUCED = [name for name, info in FRAMEWORKS.items() if BF16 in info.precisions]
#: the proof runs on the fewest networks that hold every layer type (a precision changes how each type computes)
PROVEN = layer_type_cover(list(NETWORKS))


@pytest.fixture(scope="module")
def probes(mnist):
    """For each framework with bf16 that is installed: every network's probes at fp32 and at bf16 (one child
    process per framework that needs its own), and the numpy oracle's float32 forward."""
    out = {}
    for framework in REDUCED:
        if not availability(framework, probe_device=False).installed:
            continue
        requests = {net: probe_request(get_network(net), mnist, curve_steps=0) for net in PROVEN}
        batch = [r for req in requests.values() for r in (req, dataclasses.replace(req, precision=BF16))]
        results = compute_anywhere(framework, batch)
        for i, net in enumerate(requests):
            out[(framework, net)] = (results[2 * i], results[2 * i + 1], requests[net])
    if not out:
        pytest.skip(f"no framework with bf16 is installed (those with it: {', '.join(REDUCED)})")
    return out


def oracle_forward(request) -> np.ndarray:
    model = NumpyReferenceAdapter(request.spec, framework="numpy-reference")
    model.set_weights(request.weights)
    return model.forward(request.x)


@pytest.mark.parametrize("network", PROVEN)
def test_bf16_is_the_float32_network_at_bfloat16_precision(probes, network):
    checked = [k for k in probes if k[1] == network]
    for key in checked:
        fp32, bf16, request = probes[key]
        spec = request.spec
        assert bf16["precision"] == BF16
        assert precision_problems(bf16, fp32, spec) == [], key
        # against the independent numpy oracle too, not only the framework's own float32
        assert relative_error(bf16["forward"], oracle_forward(request)) <= forward_bound(spec, BF16), key
        # and a bf16 run is not an fp32 run: its error is that of bfloat16, well above float32's
        assert relative_error(bf16["forward"], fp32["forward"]) > 10 * forward_bound(spec, "fp32"), key


def test_bf16_frameworks_agree_with_each_other(probes):
    """Each pair of frameworks' bf16 outputs lies within twice the bound (each is within it of the oracle)."""
    for network in PROVEN:
        runs = {k[0]: v[1] for k, v in probes.items() if k[1] == network}
        bound = 2 * forward_bound(get_network(network), BF16)
        for a in runs:
            for b in runs:
                if a < b:
                    assert relative_error(runs[a]["forward"], runs[b]["forward"]) <= bound, (network, a, b)


@pytest.fixture(scope="module")
def one(probes):
    """One framework's fp32 and bf16 probes of a convolutional network, to break on purpose."""
    key = next(k for k in probes if k[1] == PROVEN[0])
    fp32, bf16, request = probes[key]
    return fp32, bf16, request.spec


def broken(result: dict, **changes) -> dict:
    return {**result, **changes}


def test_a_layer_left_in_float32_is_caught(one):
    fp32, bf16, spec = one
    dense = next(layer.name for layer in spec.layers if isinstance(layer, Dense))
    layers = {**bf16["layers"], dense: fp32["layers"][dense]}
    problems = precision_problems(broken(bf16, layers=layers), fp32, spec)
    assert any(f"layers {dense} did not compute in bf16" in p for p in problems), problems
    # the whole float32 run passed off as bf16 fails the same way, though its error is far inside the bound
    problems = precision_problems(broken(fp32, precision=BF16), fp32, spec)
    assert any("did not compute in bf16" in p for p in problems), problems


def test_a_loss_computed_in_bf16_is_caught(one):
    fp32, bf16, spec = one
    loss = float(round_to_bf16(np.float32(bf16["loss"])))
    assert loss != bf16["loss"]
    problems = precision_problems(broken(bf16, loss=loss), fp32, spec)
    assert any("computed in bf16" in p for p in problems), problems


def test_bf16_master_weights_are_caught(one):
    fp32, bf16, spec = one
    weights = {k: round_to_bf16(v) for k, v in bf16["sgd_weights"].items()}
    problems = precision_problems(broken(bf16, sgd_weights=weights), fp32, spec)
    assert any("master weights must stay float32" in p for p in problems), problems


def test_errors_beyond_the_bound_are_caught(one):
    fp32, bf16, spec = one
    forward = fp32["forward"] * (1 + 2.5 * forward_bound(spec, BF16))
    assert any(p.startswith("forward error") for p in precision_problems(broken(bf16, forward=forward), fp32, spec))
    grads = {k: v * (1 + 1.5 * gradient_bound(spec, BF16)) for k, v in fp32["gradients"].items()}
    assert any(p.startswith("gradient") for p in precision_problems(broken(bf16, gradients=grads), fp32, spec))


def test_bounds_follow_the_derivation():
    """``LAMBDA * u * sqrt(3 L + N)``: keras_cnn has 4 linear layers and no BatchNorm, mlp_bn 3 and 2."""
    u = UNIT_ROUNDOFF[BF16]
    assert forward_bound(get_network("keras_cnn"), BF16) == pytest.approx(4 * u * np.sqrt(12))
    assert forward_bound(get_network("mlp_bn"), BF16) == pytest.approx(4 * u * np.sqrt(11))
    # the largest gradient sum of keras_cnn: conv1's bias over 128 images x 26 x 26 positions
    assert gradient_bound(get_network("keras_cnn"), BF16) == pytest.approx(
        2 * 4 * u * np.sqrt(12) + 4 * u * np.sqrt(np.log2(128 * 26 * 26)))
    assert forward_bound(get_network("keras_cnn"), "fp32") < 1e-5


def test_bf16_bits():
    values = np.array([1.0, 1.5, -2.25, 0.0], np.float32)
    assert bf16_representable(values)
    assert not bf16_representable(np.array([1.0 + 2 ** -10], np.float32))
    # bfloat16 keeps 7 fraction bits: numbers near 1 are 2^-7 apart
    x = np.array([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 3 * 2 ** -9, 1.0 + 2 ** -9], np.float32)
    assert round_to_bf16(x).tolist() == [1.0, 1.0 + 2 ** -6, 1.0 + 2 ** -7, 1.0]  # two ties to even, then nearest
    assert bf16_representable(round_to_bf16(np.random.default_rng(0).normal(size=100).astype(np.float32)))


def test_a_framework_without_bf16_says_why():
    lacking = [n for n, info in FRAMEWORKS.items() if BF16 not in info.precisions]
    assert lacking, "every framework has bf16: nothing to check"
    for name in lacking:
        assert FRAMEWORKS[name].precision_gaps.get(BF16), f"{name} lacks bf16 without saying why"
        if availability(name).ready:
            with pytest.raises(FrameworkUnavailable, match=FRAMEWORKS[name].precision_gaps[BF16][:30]):
                create_adapter(name, "lenet", precision=BF16)
