"""Every pair of frameworks computes the same network: forward outputs, gradients, an SGD step, BatchNorm
statistics, and training-loss curves from identical starts.

Frameworks that cannot run in this process (the other Keras backends) compute the same probes in a child
process from the same weights and data (``frameworks.equivalence``). Errors are relative errors in the
Frobenius norm, ||a - b|| / ||b||, per tensor (for gradients, ||b|| is at least 1% of the largest
gradient tensor's norm: see ``equivalence.worst``).

Every variant of a framework that runs on the CPU (compiled, channels-last, other session options...) is proven to
compute its default variant's network with the same tolerances, on cheaper probes (``equivalence.variant_probes``)
and on the fewest networks that hold every layer type. CUDA-only variants are not probed here: the one that changes
numerics (TF32) says so in its name.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from frameworks import FRAMEWORKS, availability, create_adapter
from frameworks.equivalence import (
    CURVE_STEPS,
    CURVE_TOL,
    CURVE_WINDOW,
    FORWARD_TOL,
    GRADIENT_FLOOR,
    GRADIENT_TOL,
    SEED,
    SGD_STEP_TOL,
    STAT_PASSES,
    Request,
    compute_anywhere,
    first_divergence,
    probe_request,
    probes_for,
    relative_error,
    variant_errors,
    variant_request,
    worst,
)
from frameworks.specs import NETWORKS, BatchNorm, Dropout, get_network
from frameworks.weights import initial_weights


def installed_frameworks(config) -> list[str]:
    """Frameworks to compare: --equivalence-frameworks, else the selected ones, else every installed one
    (the Keras backends this process cannot load included)."""
    chosen = config.getoption("equivalence_frameworks") or config.getoption("frameworks") or list(FRAMEWORKS)
    return [f for f in chosen if availability(f, probe_device=False).installed]


def variant_cases(config) -> list[tuple[str, str]]:
    """(framework, variant) for every installed framework's CPU variants other than its default (those named by
    --variants, where given)."""
    chosen = config.getoption("variants")
    return [(f, v) for f in installed_frameworks(config) for v in FRAMEWORKS[f].variants_for("cpu")
            if v != FRAMEWORKS[f].default_variant and (chosen is None or v in chosen)]


def layer_type_cover(names: list[str]) -> list[str]:
    """The fewest of ``names`` (greedily; of equals, the smallest network) whose networks, without dropout as the
    probes train them, hold every layer type any of them holds: a variant changes how each type is computed, so
    each type once suffices."""
    types = {n: {type(layer) for layer in get_network(n).layers} - {Dropout} for n in names}
    cover: list[str] = []
    missing = set().union(*types.values()) if types else set()
    while missing:
        best = max(names, key=lambda n: (len(types[n] & missing), -get_network(n).trainable_parameters()))
        cover.append(best)
        missing -= types[best]
    return cover


def pytest_generate_tests(metafunc):
    if "framework_variant" in metafunc.fixturenames:
        cases = variant_cases(metafunc.config)
        networks = layer_type_cover(metafunc.config.getoption("networks") or list(NETWORKS))
        if cases:
            metafunc.parametrize("framework_variant", cases, ids=[f"{f}-{v}" for f, v in cases], scope="session")
        else:
            metafunc.parametrize("framework_variant", [pytest.param(None, marks=pytest.mark.skip(
                reason="no installed framework has a CPU variant besides its default among those selected"))],
                ids=["no-variant"], scope="session")
        metafunc.parametrize("variant_network", networks, scope="session")
    if "pair" in metafunc.fixturenames:
        present = installed_frameworks(metafunc.config)
        pairs = list(itertools.combinations(present, 2))
        if pairs:
            metafunc.parametrize("pair", pairs, ids=[f"{a}-vs-{b}" for a, b in pairs], scope="session")
        else:  # one skip that says why, rather than pytest's "got empty parameter set"
            names = ", ".join(present) or "none"
            reason = f"needs two installed frameworks to compare; selected and installed: {names}"
            metafunc.parametrize("pair", [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                                 ids=["no-pair"], scope="session")


@pytest.fixture(scope="session")
def probe_requests(mnist) -> dict[str, Request]:
    """Real MNIST for every network of the zoo (see ``equivalence.probe_request``)."""
    return {name: probe_request(spec, mnist) for name, spec in NETWORKS.items()}


def per_framework(compute: Callable[[str], dict[str, dict]], what: str) -> Callable[[str, str], dict]:
    """``get(framework, network)``: ``compute(framework)`` (network -> results) run once per framework and kept; a
    framework whose computation failed fails each test that asks for it, with the error, without computing again."""
    cache: dict[str, dict] = {}

    def get(framework: str, network: str) -> dict:
        if framework not in cache:
            try:
                cache[framework] = compute(framework)
            except RuntimeError as exc:
                cache[framework] = {"error": str(exc)}
        if "error" in cache[framework]:
            pytest.fail(f"{framework} could not compute {what}: {cache[framework]['error']}")
        return cache[framework][network]

    return get


@pytest.fixture(scope="session")
def probes(probe_requests, threads):
    """Each framework's probe results per network, computed once (in a child process where needed)."""

    def compute(framework: str) -> dict[str, dict]:
        networks = list(probe_requests)
        results = compute_anywhere(framework, [probe_requests[n] for n in networks], threads)
        return dict(zip(networks, results, strict=True))

    return per_framework(compute, "the probes")


@pytest.fixture(scope="session")
def trained_probes(probes):
    """``probes`` for the tests of training: an inference runtime's results skip them with the reason."""

    def get(framework: str, network: str) -> dict:
        result = probes(framework, network)
        if "curve" not in result:
            pytest.skip(f"{framework} is an inference runtime: it has no training probes")
        return result

    return get


def test_forward_outputs_match(pair, network, probes):
    a, b = probes(pair[0], network), probes(pair[1], network)
    err = relative_error(a["forward"], b["forward"])
    assert err <= FORWARD_TOL, f"{pair} {network}: forward error {err:.2e}; " + first_divergence(
        a["layers"], b["layers"], FORWARD_TOL)


def test_gradients_match(pair, network, trained_probes):
    a, b = trained_probes(pair[0], network), trained_probes(pair[1], network)
    assert relative_error(a["loss"], b["loss"]) <= FORWARD_TOL, (a["loss"], b["loss"])
    key, err = worst(a["gradients"], b["gradients"], floor_fraction=GRADIENT_FLOOR)
    assert err <= GRADIENT_TOL, f"{pair} {network}: gradient of {key} differs by {err:.2e}"


def test_one_sgd_step_gives_the_same_weights(pair, network, trained_probes):
    a, b = trained_probes(pair[0], network), trained_probes(pair[1], network)
    key, err = worst(a["sgd_weights"], b["sgd_weights"])
    assert err <= SGD_STEP_TOL, f"{pair} {network}: after one SGD step {key} differs by {err:.2e}"


BATCHNORM_NETWORKS = [n for n, spec in NETWORKS.items() if any(isinstance(lay, BatchNorm) for lay in spec.layers)]


@pytest.mark.parametrize("bn_network", BATCHNORM_NETWORKS)
def test_batchnorm_running_statistics_and_eval_outputs_match(pair, bn_network, trained_probes):
    a, b = trained_probes(pair[0], bn_network), trained_probes(pair[1], bn_network)
    running = [k for k in a["stats_weights"] if "running" in k]
    initial = initial_weights(get_network(bn_network), SEED)
    for k in running:
        assert not np.allclose(a["stats_weights"][k], initial[k]), f"{pair[0]}: {k} never moved"
        err = relative_error(a["stats_weights"][k], b["stats_weights"][k])
        assert err <= FORWARD_TOL, f"{pair} {bn_network}: {k} after {STAT_PASSES} passes differs by {err:.2e}"
    err = relative_error(a["stats_forward"], b["stats_forward"])
    assert err <= FORWARD_TOL, f"{pair} {bn_network}: eval outputs with the new statistics differ by {err:.2e}"


def test_loss_curves_track_from_identical_starts(pair, network, trained_probes, record_property, record_summary):
    a, b = trained_probes(pair[0], network), trained_probes(pair[1], network)
    ca, cb = a["curve"], b["curve"]
    assert ca.shape == cb.shape == (CURVE_STEPS,)
    assert np.isfinite(ca).all() and np.isfinite(cb).all()
    means_a = ca.reshape(-1, CURVE_WINDOW).mean(axis=1)
    means_b = cb.reshape(-1, CURVE_WINDOW).mean(axis=1)
    worst_gap = np.max(np.abs(means_a - means_b) / means_b)
    record_property("window_means", [np.round(means_a, 4).tolist(), np.round(means_b, 4).tolist()])
    record_property("worst_gap", round(float(worst_gap), 4))
    record_summary("loss curves from identical starts (mean loss per 100 steps)",
                   f"{pair[0]:>16s} vs {pair[1]:16s} {network:9s} {np.round(means_a, 3)} vs {np.round(means_b, 3)}"
                   f"  worst gap {worst_gap:.1%}")
    assert worst_gap <= CURVE_TOL, (
        f"{pair} {network}: mean losses per {CURVE_WINDOW} steps {np.round(means_a, 4)} vs {np.round(means_b, 4)}")
    assert means_a[-1] < means_a[0] and means_b[-1] < means_b[0]


# --- in-process property test: any input, same weights, same outputs -----------------------------
_MODELS: dict = {}


def shared_model(framework: str, network: str):
    key = (framework, network)
    if key not in _MODELS:
        _MODELS[key] = create_adapter(framework, network, seed=SEED, shared_init=True)
    return _MODELS[key]


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=arrays(np.float32, (4, 1, 28, 28), elements=st.floats(-5, 5, width=32)))
def test_any_input_gives_the_same_outputs_in_this_process(network, x, pytestconfig):
    here = [f for f in installed_frameworks(pytestconfig) if availability(f, probe_device=False).ready]
    if len(here) < 2:
        pytest.skip("fewer than two frameworks can run in this process")
    outputs = {f: shared_model(f, network).forward(x) for f in here}
    reference = outputs[here[0]]
    for framework, out in outputs.items():
        assert relative_error(out, reference) <= FORWARD_TOL, f"{framework} vs {here[0]}"


# --- each variant against its framework's default ------------------------------------------------------
@pytest.fixture(scope="session")
def variant_probes(mnist, threads, pytestconfig):
    """Each framework's variant probes (its default and every CPU variant under test) per network of the layer
    type cover, computed once per framework (in a child process where needed)."""

    def compute(framework: str) -> dict[str, dict]:
        networks = layer_type_cover(pytestconfig.getoption("networks") or list(NETWORKS))
        variants = [FRAMEWORKS[framework].default_variant] + [
            v for f, v in variant_cases(pytestconfig) if f == framework]
        results = compute_anywhere(framework, [variant_request(get_network(n), mnist) for n in networks], threads,
                                   variants=variants)
        return dict(zip(networks, results, strict=True))

    return per_framework(compute, "the variant probes")


def test_each_variant_computes_its_defaults_network(framework_variant, variant_network, variant_probes,
                                                    record_property):
    """Forward on a small batch and, for the phases the variant is timed in, one batch's loss and gradients, one
    train step, ``fit`` over that batch, each from the same weights: within the tolerances between frameworks."""
    framework, variant = framework_variant
    default = FRAMEWORKS[framework].default_variant
    probes = variant_probes(framework, variant_network)
    for name in (default, variant):
        if "unavailable" in probes[name]:
            pytest.skip(f"{framework} [{name}] cannot run here: {probes[name]['unavailable']}")
    assert probes[variant]["variant"] == variant and probes[default]["variant"] == default
    errors = variant_errors(probes[variant], probes[default])
    if "loss" in probes[default]:  # every probe of the phases the variant is timed in was compared: none missing
        expected = {"backward": {"loss", "gradients"}, "train_step": {"step_weights"}, "fit": {"fit_weights"}}
        assert set(errors) == {"forward"}.union(*(expected[p] for p in probes_for(framework, variant)))
    record_property("relative_errors", {k: float(f"{err:.3g}") for k, (err, _) in errors.items()})
    worse = {k: f"{err:.2e} > {tol:.0e}" for k, (err, tol) in errors.items() if not err <= tol}
    assert not worse, f"{framework} [{variant}] is not {default}'s network on {variant_network}: {worse}"
