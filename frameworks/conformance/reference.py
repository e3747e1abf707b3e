"""The conformance kit's oracle: every spec layer's eval-mode output, in float64 numpy, from canonical weights.

Written from the layer definitions alone (``frameworks/specs.py``, the canonical layout of
``frameworks/weights.py``), with nothing taken from an adapter.
"""

from __future__ import annotations

import numpy as np

from ..specs import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, NetworkSpec, ReLU, unknown_layer
from ..weights import Weights


def _conv(h: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A valid, stride-1 cross-correlation: (N, C, H, W) by (O, C, k, k) -> (N, O, H-k+1, W-k+1)."""
    n, c, height, width = h.shape
    k = kernel.shape[-1]
    out = np.zeros((n, kernel.shape[0], height - k + 1, width - k + 1))
    for i in range(k):
        for j in range(k):  # one kernel tap at a time: a sum of shifted images
            out += np.einsum("nchw,oc->nohw", h[:, :, i:i + height - k + 1, j:j + width - k + 1], kernel[:, :, i, j])
    return out + bias[None, :, None, None]


def layer_outputs(spec: NetworkSpec, weights: Weights, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output (after its activation), in float64 and the canonical layout, for images ``x``."""
    w = {key: np.asarray(value, np.float64) for key, value in weights.items()}
    h = np.asarray(x, np.float64)
    out: dict[str, np.ndarray] = {}
    for layer in spec.layers:
        if isinstance(layer, Conv2D):
            h = _conv(h, w[f"{layer.name}.weight"], w[f"{layer.name}.bias"])
        elif isinstance(layer, MaxPool2D):
            n, c, height, width = h.shape
            s = layer.size
            h = h[:, :, :height // s * s, :width // s * s].reshape(n, c, height // s, s, width // s, s).max(axis=(3, 5))
        elif isinstance(layer, Flatten):
            h = h.reshape(len(h), -1)  # channel-major (C, H, W)
        elif isinstance(layer, Dense):
            h = h @ w[f"{layer.name}.weight"].T + w[f"{layer.name}.bias"]
        elif isinstance(layer, BatchNorm):
            scale = w[f"{layer.name}.gamma"] / np.sqrt(w[f"{layer.name}.running_var"] + layer.eps)
            h = (h - w[f"{layer.name}.running_mean"]) * scale + w[f"{layer.name}.beta"]
        elif isinstance(layer, ReLU):
            h = np.maximum(h, 0.0)
        elif isinstance(layer, Dropout):
            pass  # the identity in evaluation
        else:
            raise unknown_layer(layer, "the conformance reference")
        if getattr(layer, "activation", None) == "relu":
            h = np.maximum(h, 0.0)
        out[layer.name] = h
    return out


def probabilities(spec: NetworkSpec, weights: Weights, x: np.ndarray) -> np.ndarray:
    """Class probabilities: the softmax of the last layer's output."""
    logits = layer_outputs(spec, weights, x)[spec.layers[-1].name]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def conformance_weights(spec: NetworkSpec, seed: int) -> Weights:
    """The suite's shared initial weights with BatchNorm statistics and affine terms that are not the identity, so
    that a BatchNorm computed wrongly (or in training mode) shows."""
    from ..weights import initial_weights

    rng = np.random.default_rng(seed + 1)
    weights = initial_weights(spec, seed)
    for key, value in weights.items():
        if key.endswith((".running_mean", ".beta")):
            weights[key] = rng.normal(0.0, 0.3, value.shape).astype(np.float32)
        elif key.endswith((".running_var", ".gamma")):
            weights[key] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
    return weights

