"""The canonical weight layout every adapter exports and imports, and the conversions to it.

Canonical means PyTorch's and Caffe's layouts: convolution kernels (out, in, kh, kw), dense weights
(out, in), biases (out,), BatchNorm ``gamma``, ``beta``, ``running_mean``, ``running_var`` (features,),
and flattening in channel-major (C, H, W) order. Names are ``<layer>.<kind>`` from the spec
(``conv1.weight``, ``bn1.running_var``). A framework with another layout converts in its adapter package
(``flattened_inputs`` says which dense layers take a flattened map, whose rows a channels-last framework permutes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputError
from .fileio import atomic_path
from .specs import BatchNorm, Conv2D, Dense, Flatten, NetworkSpec, init_bounds

Weights = dict[str, np.ndarray]


def check_weights(spec: NetworkSpec, weights: Weights) -> Weights:
    """Return ``weights`` as contiguous float32 arrays, or raise ``InputError`` saying what is wrong."""
    expected = spec.state_shapes()
    if not isinstance(weights, dict):
        raise InputError(f"weights must be a dict of arrays, got {type(weights).__name__}")
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing or extra:
        raise InputError(f"{spec.name} weights: missing {missing}, unexpected {extra}")
    out: Weights = {}
    for key, shape in expected.items():
        value = np.asarray(weights[key])
        if value.shape != shape:
            raise InputError(f"{spec.name} weight {key}: shape {value.shape}, expected {shape}")
        if not np.issubdtype(value.dtype, np.floating):
            raise InputError(f"{spec.name} weight {key}: dtype {value.dtype}, expected floating point")
        if not np.isfinite(value).all():
            raise InputError(f"{spec.name} weight {key}: contains NaN or infinite values")
        if key.endswith(".running_var") and (value < 0).any():
            raise InputError(f"{spec.name} weight {key}: a variance cannot be negative")
        out[key] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def flattened_inputs(spec: NetworkSpec) -> dict[str, tuple[int, int, int]]:
    """Dense layers whose input is a flattened (C, H, W) map, with that map's shape."""
    result: dict[str, tuple[int, int, int]] = {}
    pending: tuple[int, int, int] | None = None
    for layer, in_shape in zip(spec.layers, spec.input_shapes(), strict=True):
        if isinstance(layer, Flatten):
            pending = in_shape if len(in_shape) == 3 else None  # type: ignore[assignment]
        elif isinstance(layer, Dense):
            if pending is not None:
                result[layer.name] = pending
            pending = None
        elif isinstance(layer, (Conv2D, BatchNorm)):
            pending = None
    return result


def initial_weights(spec: NetworkSpec, seed: int) -> Weights:
    """One seed-fixed set of canonical weights drawn with the recipe's init scheme (numpy's RNG).

    Loading the same set into every framework gives identical starting points.
    """
    rng = np.random.default_rng(seed)
    shapes = spec.state_shapes()
    out: Weights = {}
    for key, shape in shapes.items():
        layer_name, kind = key.rsplit(".", 1)
        if kind == "weight":
            bound, bias_bound = init_bounds(spec.recipe.init, shape)
            out[key] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
            bias_shape = shapes[f"{layer_name}.bias"]
            out[f"{layer_name}.bias"] = (rng.uniform(-bias_bound, bias_bound, size=bias_shape).astype(np.float32)
                                         if bias_bound else np.zeros(bias_shape, np.float32))
        elif kind in ("gamma", "running_var"):
            out[key] = np.ones(shape, np.float32)
        elif kind in ("beta", "running_mean"):
            out[key] = np.zeros(shape, np.float32)
    return {k: out[k] for k in shapes}


def save_weights(path: str | os.PathLike, weights: Weights) -> Path:
    """Write canonical weights to an ``.npz`` file atomically; return its path."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **weights)
    return path


def load_weights(path: str | os.PathLike) -> Weights:
    """Read canonical weights written by ``save_weights``."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
