"""Keras' weight layout and its conversion to and from the canonical one (``frameworks/weights.py``).

Keras keeps convolution kernels as (kh, kw, in, out), dense weights as (in, out) and flattens in (H, W, C) order,
so the first dense layer after a flatten has its input rows permuted, not just transposed. Imports no Keras.
"""

from __future__ import annotations

import numpy as np

from ...specs import Conv2D, NetworkSpec
from ...weights import flattened_inputs


def to_keras(spec: NetworkSpec, key: str, value: np.ndarray) -> np.ndarray:
    """One canonical array in Keras' layout (channels-last model)."""
    layer_name, kind = key.rsplit(".", 1)
    layer = spec.layer(layer_name)
    if kind != "weight":
        return value
    if isinstance(layer, Conv2D):
        return np.ascontiguousarray(value.transpose(2, 3, 1, 0))
    chw = flattened_inputs(spec).get(layer_name)
    if chw is not None:
        c, h, w = chw
        return np.ascontiguousarray(value.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1))
    return np.ascontiguousarray(value.T)


def from_keras(spec: NetworkSpec, key: str, value: np.ndarray) -> np.ndarray:
    """One Keras array in the canonical layout (inverse of ``to_keras``)."""
    layer_name, kind = key.rsplit(".", 1)
    layer = spec.layer(layer_name)
    if kind != "weight":
        return value
    if isinstance(layer, Conv2D):
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    chw = flattened_inputs(spec).get(layer_name)
    if chw is not None:
        c, h, w = chw
        return np.ascontiguousarray(value.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(-1, c * h * w))
    return np.ascontiguousarray(value.T)
