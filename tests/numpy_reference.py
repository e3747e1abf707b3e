"""A framework written for the tests: the forward pass of any spec in plain numpy, from canonical weights.

It proves that a framework can be added with one module and one registry entry (``INFO``), and doubles as an
independent oracle of every other framework's forward pass. It is an inference runtime: training phases
skip with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from frameworks.adapters.base import Adapter, Staged
from frameworks.registry import FrameworkInfo
from frameworks.specs import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, unknown_layer
from frameworks.weights import Weights, initial_weights

NAME = "numpy-reference"


class NumpyReferenceAdapter(Adapter):
    """Eval-mode forward passes in float64 numpy, cast to float32 at the end."""

    trains = False

    @property
    def version(self) -> str:
        return np.__version__

    def _apply_threads(self, threads: int | None) -> int | None:
        return threads  # numpy's BLAS reads its thread variables at start-up (the suite sets them)

    def build(self) -> None:
        self.weights = initial_weights(self.spec, self.seed)

    def trainable_parameter_count(self) -> int:
        return sum(self.weights[k].size for k in self.spec.parameter_shapes())

    def stage(self, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        return Staged(np.asarray(x, np.float64), y, len(x))

    def _layers(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        h = x
        w = self.weights
        for layer in self.spec.layers:
            if isinstance(layer, Conv2D):
                k = w[f"{layer.name}.weight"].astype(np.float64)  # (out, in, kh, kw)
                windows = np.lib.stride_tricks.sliding_window_view(h, k.shape[2:], axis=(2, 3))  # N,C,H',W',kh,kw
                h = np.einsum("nchwij,ocij->nohw", windows, k, optimize=True)
                h = h + w[f"{layer.name}.bias"][None, :, None, None]
            elif isinstance(layer, MaxPool2D):
                n, c, hh, ww = h.shape
                s = layer.size
                h = h.reshape(n, c, hh // s, s, ww // s, s).max(axis=(3, 5))
            elif isinstance(layer, Flatten):
                h = h.reshape(len(h), -1)
            elif isinstance(layer, Dense):
                h = h @ w[f"{layer.name}.weight"].astype(np.float64).T + w[f"{layer.name}.bias"]
            elif isinstance(layer, BatchNorm):
                mean, var = w[f"{layer.name}.running_mean"], w[f"{layer.name}.running_var"]
                h = (h - mean) / np.sqrt(var.astype(np.float64) + layer.eps) * w[f"{layer.name}.gamma"] \
                    + w[f"{layer.name}.beta"]
            elif isinstance(layer, ReLU):
                h = np.maximum(h, 0.0)
            elif isinstance(layer, Dropout):
                pass  # identity in evaluation
            else:
                raise unknown_layer(layer, NAME)
            if getattr(layer, "activation", None) == "relu":
                h = np.maximum(h, 0.0)
            out[layer.name] = h
        return out

    def run_forward(self, batch: Staged) -> Any:
        logits = self._layers(batch.x)[self.spec.layers[-1].name]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def get_weights(self) -> Weights:
        return {k: v.copy() for k, v in self.weights.items()}

    def _set_weights(self, weights: Weights) -> None:
        self.weights = {k: v.copy() for k, v in weights.items()}

    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x, _ = self.check_batch(x)
        return {k: v.astype(np.float32) for k, v in self._layers(np.asarray(x, np.float64)).items()}


INFO = FrameworkInfo(NAME, f"{__name__}:NumpyReferenceAdapter", ("numpy",), ("numpy",),
                     install_hint="part of the suite's tests", variants={"default": ("cpu",)})
