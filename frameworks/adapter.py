"""The interface every framework implements, and the input checks they all share.

Two levels:
- the numpy API (``forward``, ``backward``, ``train_step``, ``fit``, ``evaluate``, ``get_weights``,
  ``set_weights``) validates its inputs and returns numpy values; tests use it;
- the staged API (``stage`` once, then ``run_forward``/``run_backward``/``run_train_step`` and
  ``synchronize``) does no conversion or checking, so benchmarks time only the framework's own work.

Inputs are float32 arrays shaped (N, 1, 28, 28), already scaled by the recipe (``data.preprocess``),
labels are integer class indices; adapters convert to their framework's layout in ``stage``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import framework_info
from .errors import FrameworkUnavailable, InputError, UnknownNameError
from .specs import NetworkSpec
from .weights import Weights, check_weights


@dataclass
class Staged:
    """A batch converted to a framework's own tensors (on its device), ready for timed calls."""

    x: Any
    y: Any
    size: int


class Adapter(abc.ABC):
    """One network built in one framework on one device, behind the suite's uniform interface."""

    def __init__(self, spec: NetworkSpec, *, device: str = "cpu", threads: int | None = None, seed: int = 0,
                 framework: str, variant: str | None = None) -> None:
        self.spec = spec
        self.device = device
        self.seed = seed
        self.framework = framework
        variants = framework_info(framework).variants
        self.variant = next(iter(variants)) if variant is None else variant
        if self.variant not in variants:
            raise UnknownNameError(f"{framework} variant", self.variant, variants)
        if device not in variants[self.variant]:
            raise FrameworkUnavailable(
                f"{framework} variant {self.variant!r} runs on {', '.join(variants[self.variant])} only")
        self.threads = self._apply_threads(threads)
        self.build()
        count = self.trainable_parameter_count()
        if count != spec.trainable_parameters():
            raise AssertionError(
                f"{framework}/{spec.name}: built {count} trainable parameters, spec says "
                f"{spec.trainable_parameters()}"
            )

    # --- what each framework implements -------------------------------------------------------
    @classmethod
    def cuda_unavailable_reason(cls, framework: str) -> str | None:
        """Why this framework cannot use CUDA here, or None."""
        return "this framework has no CUDA support in the suite"

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """The framework's version string (with the Keras backend's, for Keras)."""

    @abc.abstractmethod
    def _apply_threads(self, threads: int | None) -> int | None:
        """Set the framework's intra-op thread count if given; return the count in effect."""

    @abc.abstractmethod
    def build(self) -> None:
        """Build the model and its optimizer from ``self.spec``, initialised from ``self.seed``."""

    @abc.abstractmethod
    def trainable_parameter_count(self) -> int:
        """Trainable parameters as the framework itself counts them."""

    @abc.abstractmethod
    def stage(self, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        """Convert a (validated) batch to the framework's tensors on the device."""

    @abc.abstractmethod
    def run_forward(self, batch: Staged) -> Any:
        """Inference: class probabilities (native tensor), eval mode, no gradient."""

    @abc.abstractmethod
    def run_backward(self, batch: Staged) -> Any:
        """Training-mode forward, loss and gradients, no parameter update; returns the native loss."""

    @abc.abstractmethod
    def run_train_step(self, batch: Staged) -> Any:
        """One optimizer step on the batch through the framework's training API; returns the native loss."""

    @abc.abstractmethod
    def synchronize(self) -> None:
        """Wait until the device has finished all queued work."""

    @abc.abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """A native tensor (or scalar) as a numpy array."""

    @abc.abstractmethod
    def gradients(self) -> Weights:
        """The gradients of the last ``run_backward``, in the canonical layout."""

    @abc.abstractmethod
    def get_weights(self) -> Weights:
        """Every weight (parameters and BatchNorm statistics) in the canonical layout."""

    @abc.abstractmethod
    def _set_weights(self, weights: Weights) -> None:
        """Load already-checked canonical weights."""

    @abc.abstractmethod
    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Eval-mode output of every spec layer (after its activation) for a checked batch, canonical layout
        ((N, C, H, W) maps, channel-major flattening)."""

    @abc.abstractmethod
    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None) -> list[float]:
        """Train with the framework's own training loop and the recipe; return each epoch's mean loss."""

    def pipeline_epoch(self, mnist: Any, images: int) -> tuple[str, Callable[[], Any]]:
        """(description, run) where ``run()`` trains one epoch over the first ``images`` training images
        through the framework's own input pipeline, from the uint8 data to the update."""
        raise FrameworkUnavailable(f"{self.framework} has no input pipeline of its own in the suite")

    # --- shared behaviour -------------------------------------------------------------------------
    def staged_epoch(self, x: np.ndarray, y: np.ndarray, images: int) -> Callable[[], Any]:
        """``run()`` trains one epoch over the first ``images`` samples, batched and staged beforehand (in
        memory, or on the device), so that only the framework's training steps are timed."""
        x, y = self.check_batch(x[:images], y[:images])
        batches = [self.stage(x[i:i + self.batch_size], y[i:i + self.batch_size])
                   for i in range(0, len(x), self.batch_size)]

        def run() -> Any:
            for batch in batches:
                loss = self.run_train_step(batch)
            self.synchronize()
            return loss

        return run

    @property
    def batch_size(self) -> int:
        """The recipe's batch size."""
        return self.spec.recipe.batch_size

    def describe(self) -> dict[str, Any]:
        """Metadata for reports: framework, version, network, device, threads, parameter count."""
        return {
            "framework": self.framework,
            "version": self.version,
            "network": self.spec.name,
            "device": self.device,
            "variant": self.variant,
            "threads": self.threads,
            "parameters": self.trainable_parameter_count(),
        }

    def check_batch(self, x: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Validate a batch, raising ``InputError`` with what is wrong (never a silent wrong answer)."""
        if not isinstance(x, np.ndarray):
            raise InputError(f"inputs must be a numpy array, got {type(x).__name__}")
        expected = self.spec.input_shape
        if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected:
            raise InputError(f"inputs must be shaped (N, {', '.join(map(str, expected))}), got {x.shape}")
        if x.shape[0] == 0:
            raise InputError("empty batch: at least one sample is needed")
        if x.dtype != np.float32:
            raise InputError(f"inputs must be float32 (scaled by data.preprocess), got {x.dtype}")
        if not np.isfinite(x).all():
            raise InputError(f"inputs contain {int((~np.isfinite(x)).sum())} NaN or infinite values")
        if y is None:
            return np.ascontiguousarray(x), None
        if not isinstance(y, np.ndarray):
            raise InputError(f"labels must be a numpy array, got {type(y).__name__}")
        if y.shape != (x.shape[0],):
            raise InputError(f"labels must be shaped ({x.shape[0]},) to match the inputs, got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise InputError(f"labels must be integer class indices, got {y.dtype}")
        if y.min() < 0 or y.max() >= self.spec.num_classes:
            raise InputError(f"labels must lie in [0, {self.spec.num_classes}), got {y.min()}..{y.max()}")
        return np.ascontiguousarray(x), y.astype(np.int64)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) in eval mode."""
        x, _ = self.check_batch(x)
        return self.to_numpy(self.run_forward(self.stage(x)))

    def backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Weights]:
        """Training-mode loss and canonical gradients of one batch, without updating parameters."""
        x, y = self.check_batch(x, y)
        loss = float(self.to_numpy(self.run_backward(self.stage(x, y))))
        return loss, self.gradients()

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One optimizer step; returns the batch's loss."""
        x, y = self.check_batch(x, y)
        return float(self.to_numpy(self.run_train_step(self.stage(x, y))))

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
        """Accuracy on (x, y), in eval mode."""
        x, y = self.check_batch(x, y)
        correct = 0
        for start in range(0, len(x), batch_size):
            probs = self.to_numpy(self.run_forward(self.stage(x[start:start + batch_size])))
            correct += int((probs.argmax(axis=1) == y[start:start + batch_size]).sum())
        return correct / len(x)

    def set_weights(self, weights: Weights) -> None:
        """Load canonical weights (every key of the spec, exact shapes, finite float32 values)."""
        self._set_weights(check_weights(self.spec, weights))

    def check_fit_inputs(self, x: np.ndarray, y: np.ndarray, epochs: int | None) -> tuple[np.ndarray, np.ndarray, int]:
        """Validate ``fit``'s arguments; return (x, y, epochs)."""
        x, y = self.check_batch(x, y)
        assert y is not None
        epochs = self.spec.recipe.epochs if epochs is None else epochs
        if not isinstance(epochs, int) or epochs < 1:
            raise InputError(f"epochs must be a positive integer, got {epochs!r}")
        return x, y, epochs

    def steps_per_epoch(self, n: int) -> int:
        """Optimizer steps in one epoch over ``n`` samples (the last batch may be partial)."""
        return math.ceil(n / self.batch_size)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.framework}/{self.spec.name} on {self.device}>"
