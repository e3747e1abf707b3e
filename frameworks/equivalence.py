"""Proving that two frameworks compute the same network: the probes every framework runs from the same
canonical weights and inputs, run in this process or in a child (a Keras backend is fixed per process),
and the comparisons.

Probes (each from ``initial_weights(spec, seed)``):
- ``forward``: eval-mode probabilities on real MNIST test images and on stress inputs;
- ``layers``: every spec layer's eval-mode output, to name the first layer where two frameworks diverge;
- ``loss`` / ``gradients``: one training-mode batch without dropout, no update;
- ``sgd_weights``: all weights (BatchNorm statistics included) after one plain SGD step without dropout;
- ``stats_weights`` / ``stats_forward``: after several training-mode passes without updates (BatchNorm's
  running statistics move, parameters stay), and the eval outputs then;
- ``curve``: per-step training losses of the real recipe (dropout on) over the same batches in the same order.

A framework's variants (compiled, another memory layout, other session options...) are proven to compute its
default variant's network by cheaper probes (``variant_probes``): one small batch forward, and, for the phases the
variant is timed in (``FrameworkInfo.timed_in``), one batch's loss and gradients (backward), the weights after one
train step (train step, staged epoch) and after ``fit`` over that batch (framework-pipeline epoch), each from the
same weights, compared with the default variant's within the same tolerances (``variant_errors``).

A framework that cannot run in this process computes them in a child process (``processes.run_anywhere``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import FrameworkUnavailable
from .processes import run_anywhere
from .registry import create_adapter, framework_info
from .specs import Conv2D, Dense, NetworkSpec, Optimizer

PLAIN_SGD = Optimizer("sgd", lr=0.05)
SEED = 7
FORWARD_TOL = 1e-5  # float32 forward outputs, relative (Frobenius)
TEST_IMAGES = 256  # the real MNIST test images (the first ones) the forward probe compares on
GRADIENT_TOL = 1e-4
GRADIENT_FLOOR = 1e-2  # a gradient tensor is measured against at least 1% of the largest gradient's norm
SGD_STEP_TOL = 1e-5
STAT_PASSES = 6  # training-mode passes without updates, moving BatchNorm's running statistics
JITTER = 1e-3  # added to training images for gradients: makes max pooling's argmax unique (see probe_request)
CURVE_STEPS = 300  # recipe training steps from identical starts (dropout on)
CURVE_WINDOW = 100
CURVE_TOL = 0.10  # windowed mean losses agree within 10% (different dropout masks, same batches)
VARIANT_IMAGES = 32  # the variant probes' training batch (and forward images): one small batch
#: benchmark phase -> the variant probe that proves a variant timed in it computes the default's network
PHASE_PROBES = {"backward": "backward", "train_step": "train_step", "epoch-staged": "train_step",
                "epoch-framework": "fit"}


@dataclass
class Request:
    """What every framework computes for one network: weights and data fixed by the caller."""

    spec: NetworkSpec  # carried whole, so a network defined only in a test works in a child process too
    weights: dict[str, np.ndarray]
    x: np.ndarray  # inputs for forward probes (real images and stress inputs)
    x_train: np.ndarray  # training batch for gradients and the SGD step
    y_train: np.ndarray
    stat_batches: list[tuple[np.ndarray, np.ndarray]]  # training-mode passes moving BatchNorm statistics
    curve_batches: list[tuple[np.ndarray, np.ndarray]]  # recipe training steps for the loss curve
    seed: int = 0
    precision: str = "fp32"  # the precision every probe runs at (frameworks.precision)


def stress_inputs(rng: np.random.Generator) -> np.ndarray:
    """Inputs beyond natural images: blanks, saturated, noise, large magnitudes."""
    parts = [np.zeros((8, 1, 28, 28)), np.full((8, 1, 28, 28), 3.0), rng.uniform(-1, 3, (16, 1, 28, 28)),
             rng.normal(0, 10, (8, 1, 28, 28))]
    return np.concatenate(parts).astype(np.float32)


def probe_request(spec: NetworkSpec, mnist: Any, *, seed: int = SEED, curve_steps: int = CURVE_STEPS,
                  stat_passes: int = STAT_PASSES) -> Request:
    """The probes for ``spec`` on real MNIST, from ``initial_weights(spec, seed)``.

    Training images for gradients get uniform noise of 1e-3 (a 0.1% change): MNIST's flat backgrounds make
    max-pooling windows hold exactly equal values, any of which is a valid argmax, and frameworks break such
    ties differently (both are correct subgradients, 5e-4 apart).
    """
    from . import data
    from .weights import initial_weights

    rng = np.random.default_rng(seed)
    recipe, bs = spec.recipe, spec.recipe.batch_size
    test_x = data.preprocess(mnist.test_images[:TEST_IMAGES], recipe)
    train_x = data.preprocess(mnist.train_images[: bs * (curve_steps + stat_passes + 1)], recipe)
    train_y = mnist.train_labels[: len(train_x)].astype(np.int64)
    jittered = (train_x + rng.uniform(0, JITTER, train_x.shape)).astype(np.float32)
    batches = [slice(i * bs, (i + 1) * bs) for i in range(len(train_x) // bs)]
    curve = batches[1 + stat_passes:1 + stat_passes + curve_steps]
    return Request(spec=spec, weights=initial_weights(spec, seed), x=np.concatenate([test_x, stress_inputs(rng)]),
                   x_train=jittered[batches[0]], y_train=train_y[batches[0]],
                   stat_batches=[(jittered[b], train_y[b]) for b in batches[1:1 + stat_passes]],
                   curve_batches=[(train_x[b], train_y[b]) for b in curve], seed=seed)


def compute(framework: str, request: Request, threads: int | None = None) -> dict[str, Any]:
    """Run every probe of ``request`` in ``framework`` in this process (only the forward probes for an
    inference runtime)."""
    spec = request.spec
    deterministic = spec.without_dropout().with_optimizer(PLAIN_SGD)
    out: dict[str, Any] = {}

    def build(which: NetworkSpec) -> Any:
        model = create_adapter(framework, which, threads=threads, seed=request.seed, precision=request.precision)
        model.set_weights(request.weights)
        return model

    model = build(spec)
    out["forward"] = model.forward(request.x)
    out["layers"] = model.layer_outputs(request.x[:64])
    out["framework"] = framework
    out["precision"] = model.precision
    out["version"] = model.version
    out["parameters"] = model.trainable_parameter_count()
    if not model.trains:
        return out
    model = build(deterministic)
    out["loss"], out["gradients"] = model.backward(request.x_train, request.y_train)
    model = build(deterministic)
    model.train_step(request.x_train, request.y_train)
    out["sgd_weights"] = model.get_weights()
    model = build(deterministic)
    for x, y in request.stat_batches:
        model.backward(x, y)
    out["stats_weights"] = model.get_weights()
    out["stats_forward"] = model.forward(request.x)
    model = build(spec)
    out["curve"] = np.array([model.train_step(x, y) for x, y in request.curve_batches])
    return out


def variant_request(spec: NetworkSpec, mnist: Any, *, seed: int = SEED) -> Request:
    """The variant probes' data for ``spec``: 32 real test images and 5 stress inputs to classify, and one training
    batch of 32 jittered images (``probe_request``'s, cut short); no statistics passes, no loss curve."""
    full = probe_request(spec, mnist, seed=seed, curve_steps=0, stat_passes=0)
    return replace(full, x=full.x[::8], x_train=full.x_train[:VARIANT_IMAGES], y_train=full.y_train[:VARIANT_IMAGES])


def probes_for(framework: str, variant: str) -> list[str]:
    """The training probes covering the phases ``variant`` is timed in (the forward probe always runs): a phase
    a variant is not timed in runs the default's code, so nothing there needs proving (nor compiling)."""
    info = framework_info(framework)
    return sorted({probe for phase, probe in PHASE_PROBES.items() if info.timed_in(variant, phase)})


def variant_probes(framework: str, variant: str, request: Request, threads: int | None = None,
                   probes: Sequence[str] = ("backward", "fit", "train_step")) -> dict[str, Any]:
    """``variant`` of ``framework`` on ``request``'s network without dropout and with plain SGD, each probe from
    the request's weights: ``forward`` (eval-mode probabilities); for a framework that trains, of ``probes``:
    ``backward`` (``loss`` and ``gradients`` of the training batch), ``train_step`` (``step_weights`` after one
    train step on it) and ``fit`` (``fit_weights`` after ``fit`` over it: one batch through the framework's own
    loop, which a variant such as Keras' steps_per_execution changes). A variant that cannot be built here
    returns ``{"unavailable": why}``."""
    deterministic = request.spec.without_dropout().with_optimizer(PLAIN_SGD)
    try:
        model = create_adapter(framework, deterministic, threads=threads, seed=request.seed, variant=variant)
    except FrameworkUnavailable as exc:
        return {"unavailable": str(exc)}
    model.set_weights(request.weights)
    out: dict[str, Any] = {"variant": model.variant, "forward": model.forward(request.x)}
    if not model.trains:
        return out
    if "backward" in probes:
        out["loss"], out["gradients"] = model.backward(request.x_train, request.y_train)
    if "train_step" in probes:
        model.set_weights(request.weights)  # a training-mode pass moves BatchNorm's running statistics
        model.train_step(request.x_train, request.y_train)
        out["step_weights"] = model.get_weights()
    if "fit" in probes:
        model.set_weights(request.weights)
        model.fit(request.x_train, request.y_train, epochs=1)
        out["fit_weights"] = model.get_weights()
    return out


def variant_errors(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Each probe of a variant (``a``) against its default variant (``b``, which ran every probe ``a`` ran):
    probe -> (relative error, tolerance), with the tolerances of the equivalence tests between frameworks."""
    errors = {"forward": (relative_error(a["forward"], b["forward"]), FORWARD_TOL)}
    if "loss" in a:
        errors["loss"] = (relative_error(a["loss"], b["loss"]), FORWARD_TOL)
        errors["gradients"] = (worst(a["gradients"], b["gradients"], floor_fraction=GRADIENT_FLOOR)[1], GRADIENT_TOL)
    for probe in ("step_weights", "fit_weights"):
        if probe in a:
            errors[probe] = (worst(a[probe], b[probe])[1], SGD_STEP_TOL)
    return errors


def _compute(framework: str, request: Request, threads: int | None, variants: Sequence[str] | None) -> Any:
    if variants is None:
        return compute(framework, request, threads)
    return {v: variant_probes(framework, v, request, threads, probes_for(framework, v)) for v in variants}


def _compute_each(framework: str, requests: list[Request], threads: int | None,
                  variants: Sequence[str] | None) -> list[Any]:
    return [_compute(framework, r, threads, variants) for r in requests]


def compute_all(framework: str, requests: list[Request], threads: int | None,
                variants: Sequence[str] | None) -> list[Any]:
    """``_compute`` of each request, with the process's threads set first (what a child process runs)."""
    from .process_settings import configure_process

    configure_process(threads)
    return _compute_each(framework, requests, threads, variants)


def compute_anywhere(framework: str, requests: list[Request], threads: int | None = None,
                     timeout: float = 1800, *, variants: Sequence[str] | None = None) -> list[Any]:
    """``compute`` each request here if ``framework`` can run in this process, else in a child process
    with the framework's Keras backend; with ``variants``, each request's ``variant_probes`` of every one of
    them instead (a dict per request). Raises ``RuntimeError`` (``child.ChildFailed``: how the child ended and the
    end of its output) if the child fails, ``FrameworkUnavailable`` if the framework can run in neither."""
    chosen = None if variants is None else list(variants)
    return run_anywhere(framework, _compute_each, framework, requests, threads, chosen, in_child=compute_all,
                        timeout=timeout, what=f"{framework} equivalence probes")


# --- comparisons -------------------------------------------------------------------------------------
def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> float:
    """||a - b|| / max(||b||, floor) (Frobenius norms, in float64); the difference itself when both are 0."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.shape != b64.shape:
        raise ValueError(f"shapes differ: {a64.shape} vs {b64.shape}")
    denominator = max(float(np.linalg.norm(b64)), floor)
    difference = float(np.linalg.norm(a64 - b64))
    return difference / denominator if denominator > 0 else difference


def worst(a: dict[str, np.ndarray], b: dict[str, np.ndarray], floor_fraction: float = 0.0) -> tuple[str, float]:
    """The key with the largest relative error between two dicts of arrays, and that error.

    With ``floor_fraction``, a tensor is measured against at least that fraction of the largest tensor norm
    in ``b``: a gradient that is mathematically zero (a bias followed by BatchNorm) is float noise in every
    framework, and its own norm is no scale for it.
    """
    if list(a) != list(b):
        raise ValueError(f"different keys: {list(a)} vs {list(b)}")
    floor = floor_fraction * max(float(np.linalg.norm(np.asarray(v, np.float64))) for v in b.values())
    errors = {k: relative_error(a[k], b[k], floor) for k in a}
    key = max(errors, key=errors.get)  # type: ignore[arg-type]
    return key, errors[key]


def first_divergence(a: dict[str, np.ndarray], b: dict[str, np.ndarray], tolerance: float) -> str:
    """Which spec layer's output first differs beyond ``tolerance``, with every layer's error."""
    report = []
    first = None
    for name in a:
        err = relative_error(a[name], b[name])
        report.append(f"{name} {err:.2e}")
        if first is None and err > tolerance:
            first = name
    where = f"first divergence at layer {first!r}" if first else "no single layer exceeds the tolerance"
    return f"{where} (relative error per layer: {', '.join(report)})"


def mismatches(a: dict[str, Any], b: dict[str, Any], curve_window: int = CURVE_WINDOW) -> list[str]:
    """Every way two frameworks' probe results differ beyond the tolerances (empty when they compute the same
    network). Training probes are compared only when both frameworks train."""
    problems = []
    err = relative_error(a["forward"], b["forward"])
    if err > FORWARD_TOL:
        problems.append(f"forward error {err:.2e}; " + first_divergence(a["layers"], b["layers"], FORWARD_TOL))
    if "curve" not in a or "curve" not in b:
        return problems
    if (err := relative_error(a["loss"], b["loss"])) > FORWARD_TOL:
        problems.append(f"loss differs by {err:.2e}")
    key, err = worst(a["gradients"], b["gradients"], floor_fraction=GRADIENT_FLOOR)
    if err > GRADIENT_TOL:
        problems.append(f"gradient of {key} differs by {err:.2e}")
    key, err = worst(a["sgd_weights"], b["sgd_weights"])
    if err > SGD_STEP_TOL:
        problems.append(f"after one SGD step {key} differs by {err:.2e}")
    for key in (k for k in a["stats_weights"] if "running" in k):
        if (err := relative_error(a["stats_weights"][key], b["stats_weights"][key])) > FORWARD_TOL:
            problems.append(f"{key} after the training-mode passes differs by {err:.2e}")
    if (err := relative_error(a["stats_forward"], b["stats_forward"])) > FORWARD_TOL:
        problems.append(f"eval outputs with the new statistics differ by {err:.2e}")
    steps = len(a["curve"]) // curve_window * curve_window
    means_a = a["curve"][:steps].reshape(-1, curve_window).mean(axis=1)
    means_b = b["curve"][:steps].reshape(-1, curve_window).mean(axis=1)
    if len(means_b) and (gap := float(np.max(np.abs(means_a - means_b) / means_b))) > CURVE_TOL:
        problems.append(f"mean losses per {curve_window} steps {np.round(means_a, 4)} vs {np.round(means_b, 4)} "
                        f"(gap {gap:.1%})")
    return problems


def precision_problems(reduced: dict[str, Any], oracle: dict[str, Any], spec: NetworkSpec) -> list[str]:
    """Every way a reduced-precision run's probes (``compute`` at ``reduced["precision"]``) fail to be the
    float32 network at that precision, against the float32 ``oracle``'s probes of the same request (empty when
    they are). See ``frameworks.precision`` for the bounds and why the bit patterns are checked."""
    from .precision import bf16_representable, forward_bound, gradient_bound

    precision = reduced["precision"]
    problems = []
    if (err := relative_error(reduced["forward"], oracle["forward"])) > (bound := forward_bound(spec, precision)):
        problems.append(f"forward error {err:.2e} exceeds the {precision} bound {bound:.2e}")
    linear = [layer.name for layer in spec.layers if isinstance(layer, (Conv2D, Dense))]
    if left := [name for name in linear if not bf16_representable(reduced["layers"][name])]:
        problems.append(f"layers {', '.join(left)} did not compute in {precision}: their outputs are not "
                        f"{precision} numbers")
    if "loss" not in reduced or "loss" not in oracle:
        return problems
    if (err := relative_error(reduced["loss"], oracle["loss"])) > bound:
        problems.append(f"loss differs by {err:.2e}, beyond the {precision} bound {bound:.2e}")
    if bf16_representable(np.float32(reduced["loss"])):
        problems.append(f"the loss {reduced['loss']!r} is a {precision} number: it was computed in {precision}, "
                        "where the mixed-precision recipe keeps it float32")
    key, err = worst(reduced["gradients"], oracle["gradients"], floor_fraction=GRADIENT_FLOOR)
    if err > (gbound := gradient_bound(spec, precision)):
        problems.append(f"gradient of {key} differs by {err:.2e}, beyond the {precision} bound {gbound:.2e}")
    weights = reduced["sgd_weights"]
    if low := [k for k, v in weights.items() if "running" not in k and v.size > 1 and bf16_representable(v)]:
        problems.append(f"after one SGD step {', '.join(low)} hold only {precision} numbers: the master weights "
                        "must stay float32")
    return problems
