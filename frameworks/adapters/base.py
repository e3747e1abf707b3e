"""The interface every framework implements, and the input checks they all share.

Two levels:

- the numpy API (``forward``, ``backward``, ``train_step``, ``fit``, ``evaluate``, ``get_weights``,
  ``set_weights``) validates its inputs and returns numpy values; tests use it;
- the staged API (``stage`` once, then ``run_forward``/``run_backward``/``run_train_step`` and
  ``synchronize``) does no conversion or checking, so benchmarks time only the framework's own work.

Inputs are float32 arrays shaped (N, 1, 28, 28), already scaled by the recipe (``data.preprocess``),
labels are integer class indices; adapters convert to their framework's layout in ``stage``.

Deployment: ``export`` writes the model's deployment artifacts (each an ``Artifact`` naming the runtime that
loads it), and the runtime's adapter class loads one back (``import_runtime``, then ``load_artifact``) in a
process that has not built any model, so that its cold start and its outputs can be measured. A runtime with
quantization tooling of its own derives int8 artifacts from the ones it serves (``quantize``).
"""

from __future__ import annotations

import abc
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrameworkUnavailable, InputError
from ..precision import DEFAULT as DEFAULT_PRECISION
from ..precision import check as check_precision
from ..specs import NetworkSpec
from ..weights import Weights, check_weights

PHASES = ("forward", "backward", "train_step")
TRAINING_PHASES = ("backward", "train_step")


@dataclass
class Staged:
    """A batch converted to a framework's own tensors (on its device), ready for timed calls."""

    x: Any
    y: Any
    size: int


@dataclass(frozen=True)
class OwnTiming:
    """A median step time measured by a framework's own timing tool, and what that tool was."""

    median_s: float
    tool: str
    runs: int


@dataclass(frozen=True)
class PeakMemory:
    """The peak memory of a measured stretch, in MiB, and what was measured."""

    mib: float
    kind: str


#: Input layouts of deployment artifacts: the suite's canonical (N, C, H, W), or channels-last (N, H, W, C).
NCHW, NHWC = "NCHW", "NHWC"


@dataclass(frozen=True)
class Artifact:
    """A deployment artifact written by an adapter's ``export``: what it is, where, and what loads it.

    ``runtime`` is the registry name of the framework whose adapter class loads it back
    (``load_artifact``); ``input_layout`` is the image layout the artifact takes.
    """

    format: str  # "onnx", "torch.export", "tf_saved_model", "caffe"...
    path: Path  # the file or directory that holds it
    runtime: str
    input_layout: str = NCHW
    companions: tuple[Path, ...] = ()  # other files that belong to it (Caffe's deploy prototxt)
    tool: str = ""  # what wrote it, in words
    # a quantized artifact (Adapter.quantize): how, e.g. {"scheme": ..., "calibration_images": 512}
    quantization: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def files(self) -> list[Path]:
        """Every file of the artifact (a directory's files included)."""
        out = []
        for path in (self.path, *self.companions):
            if path.is_dir():
                out += sorted(p for p in path.rglob("*") if p.is_file())
            elif path.exists():
                out.append(path)
        return out

    @property
    def size_bytes(self) -> int:
        """Its size on disk: the sum of its files' sizes."""
        return sum(os.path.getsize(p) for p in self.files)


@dataclass(frozen=True)
class ExportAttempt:
    """One format an adapter tried to export: the artifact, or why there is none.

    ``skipped`` means the exporter is not installed here (a missing converter package) or cannot export this
    network at the installed version (``ExportUnsupported``); otherwise a missing artifact is a failure of the
    exporter itself.
    """

    format: str
    artifact: Artifact | None = None
    reason: str = ""
    skipped: bool = False
    seconds: float | None = None  # how long the exporter ran


@dataclass
class LoadedArtifact:
    """An artifact loaded in its runtime: ``predict`` takes canonical (N, 1, 28, 28) float32 images and returns
    class probabilities as numpy; ``details`` says what ran it (version, execution provider, threads)."""

    predict: Callable[[np.ndarray], np.ndarray]
    details: dict[str, Any] = field(default_factory=dict)


def reset_process_peak() -> None:
    """Start a new peak resident set of this process (Linux: resets VmHWM to the current resident set)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def process_peak() -> PeakMemory | None:
    """This process's peak resident set since the last reset (or its start), or None where it cannot be read."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return PeakMemory(int(line.split()[1]) / 1024, "process peak resident set (VmHWM)")
    except OSError:
        pass
    return None


class ExportUnsupported(Exception):
    """An exporter that cannot export this network at the installed version, a known limitation (a skip with the
    reason), not a failure."""


def attempt_export(fmt: str, write: Callable[[], Artifact]) -> ExportAttempt:
    """Run one exporter: its artifact, or the reason it did not produce one (a missing package is a skip)."""
    start = time.perf_counter()
    try:
        artifact = write()
    except ImportError as exc:
        return ExportAttempt(fmt, reason=f"{type(exc).__name__}: {exc}", skipped=True)
    except ExportUnsupported as exc:
        return ExportAttempt(fmt, reason=str(exc), skipped=True)
    except Exception as exc:  # the exporter's own failure is a result to report, not a crash of the command
        text = " ".join(str(exc).split())
        return ExportAttempt(fmt, reason=f"{type(exc).__name__}: {text[:600]}", seconds=time.perf_counter() - start)
    return ExportAttempt(fmt, artifact, seconds=time.perf_counter() - start)


def to_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Canonical (N, C, H, W) images in an artifact's input layout."""
    if layout == NCHW:
        return np.ascontiguousarray(x, dtype=np.float32)
    if layout == NHWC:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=np.float32)
    raise ValueError(f"unknown input layout {layout!r}; known: {NCHW}, {NHWC}")


@dataclass(frozen=True)
class IdiomaticScript:
    """A training script written as the framework's own tutorial writes it, ready to run in a fresh process."""

    label: str  # what it is, for the report
    argv: list[str]  # the command (python -m ..., with its data paths, images, epochs)
    environment: dict[str, str]  # what the process needs besides the suite's thread settings


class Adapter(abc.ABC):
    """One network built in one framework on one device, behind the suite's uniform interface.

    The registry resolves the framework's variant and device before construction; an adapter built
    directly gets its class's default variant.
    """

    #: the variant built when none is named
    DEFAULT_VARIANT = "default"
    #: False for inference runtimes: the training methods raise ``inference_only()``
    trains = True

    def __init__(self, spec: NetworkSpec, *, device: str = "cpu", threads: int | None = None, seed: int = 0,
                 framework: str, variant: str | None = None, precision: str = DEFAULT_PRECISION) -> None:
        self.spec = spec
        self.device = device
        self.seed = seed
        self.framework = framework
        self.variant = self.DEFAULT_VARIANT if variant is None else variant
        self.precision = check_precision(precision)  # the registry entry says which ones the adapter implements
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
    def cuda_unavailable_reason(cls, **options: Any) -> str | None:
        """Why this framework cannot use CUDA here, or None (``options``: the registry's ``adapter_args``)."""
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

    def run_backward(self, batch: Staged) -> Any:
        """Training-mode forward, loss and gradients, no parameter update; returns the native loss."""
        raise self.inference_only()

    def run_train_step(self, batch: Staged) -> Any:
        """One optimizer step on the batch through the framework's training API; returns the native loss."""
        raise self.inference_only()

    @abc.abstractmethod
    def synchronize(self) -> None:
        """Wait until the device has finished all queued work."""

    @abc.abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """A native tensor (or scalar) as a numpy array."""

    def gradients(self) -> Weights:
        """The gradients of the last ``run_backward``, in the canonical layout."""
        raise self.inference_only()

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

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None) -> list[float]:
        """Train with the framework's own training loop and the recipe; return each epoch's mean loss."""
        raise self.inference_only()

    def pipeline_epoch(self, mnist: Any, images: int) -> tuple[str, Callable[[], Any]]:
        """(description, run) where ``run()`` trains one epoch over the first ``images`` training images
        through the framework's own input pipeline, from the uint8 data to the update."""
        raise FrameworkUnavailable(f"{self.framework} has no input pipeline of its own in the suite")

    def idiomatic_scripts(self, mnist: Any, images: int, epochs: int) -> list[IdiomaticScript]:
        """Tutorial-style training scripts for this network (none by default), prepared to train ``epochs``
        epochs of ``images`` images from the verified data."""
        return []

    def own_timing(self, phase: str, batch: Staged, min_seconds: float = 1.0, min_runs: int = 5) -> OwnTiming:
        """Time ``phase`` on ``batch`` with the framework's own timing tool (for the fidelity check): for at least
        ``min_seconds`` and ``min_runs`` timed runs where the tool takes such settings."""
        raise FrameworkUnavailable(f"{self.framework} has no timing tool of its own in the suite")

    def runtime_details(self) -> dict[str, Any]:
        """What only the loaded framework can tell about the run: its device, CUDA and cuDNN, its BLAS."""
        return {"version": self.version}

    def export(self, directory: Path) -> list[ExportAttempt]:
        """Write the model's deployment artifacts (eval mode, class probabilities out, the current weights)
        into ``directory``, one attempt per format."""
        raise FrameworkUnavailable(f"{self.framework} has no deployment export in the suite")

    @classmethod  # noqa: B027 - a hook: a loader may import everything itself
    def import_runtime(cls, artifact: Artifact) -> None:
        """Import what loading ``artifact`` needs (timed apart, as a cold start's first part)."""

    @classmethod
    def load_artifact(cls, artifact: Artifact, *, device: str = "cpu", threads: int | None = None) -> LoadedArtifact:
        """Load an artifact this framework's runtime serves (its ``runtime`` names this framework)."""
        raise FrameworkUnavailable(f"{cls.__name__} cannot load {artifact.format} artifacts")

    @classmethod
    def quantize(cls, artifact: Artifact, calibration: np.ndarray, directory: Path) -> list[ExportAttempt]:
        """int8 artifacts derived from ``artifact`` (one this framework's runtime serves) by the runtime's own
        quantization tooling, calibrated on ``calibration`` (canonical images: MNIST *training* images, never the
        test images that prove and score the result), written into ``directory``; each served by this runtime
        (``load_artifact``). An attempt per int8 format offered for the artifact's format; none by default."""
        return []

    def _reset_device_peak_memory(self) -> None:  # noqa: B027 - a hook: most frameworks have nothing to reset
        """Start a new peak of the device allocator (GPU adapters)."""

    def _device_peak_memory(self) -> PeakMemory | None:
        """The device allocator's peak since the reset, or None if the framework cannot tell."""
        return None

    # --- shared behaviour -------------------------------------------------------------------------
    def inference_only(self) -> FrameworkUnavailable:
        """The error a training call gets from an inference-only framework."""
        return FrameworkUnavailable(f"{self.framework} is an inference runtime: it does not train")

    def step(self, phase: str, batch: Staged) -> Callable[[], Any]:
        """A call of one phase on a staged batch that returns only when the device has finished."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
        if phase in TRAINING_PHASES and not self.trains:
            raise self.inference_only()
        run = {"forward": self.run_forward, "backward": self.run_backward, "train_step": self.run_train_step}[phase]
        sync = self.synchronize

        def call() -> Any:
            result = run(batch)
            sync()
            return result

        return call

    def reset_peak_memory(self) -> None:
        """Start a new peak: the process's resident set on the CPU, the allocator's peak on a device."""
        if self.device != "cpu":
            self._reset_device_peak_memory()
            return
        reset_process_peak()

    def peak_memory(self) -> PeakMemory | None:
        """The peak since ``reset_peak_memory``, or None where it cannot be read."""
        if self.device != "cpu":
            return self._device_peak_memory()
        return process_peak()

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

    def numerics(self) -> dict[str, Any]:
        """The numeric settings a figure depends on, as one manifest (``frameworks.precision.MANIFEST``):
        the precision, how float32 products are computed, what compiles the model, whether the framework was
        asked for deterministic kernels, and the threads."""
        return {"precision": self.precision, "float32_matmul": self._float32_matmul(),
                "compilation": self._compilation(), "deterministic": self._deterministic(), "threads": self.threads}

    def _float32_matmul(self) -> str:
        """``ieee`` when float32 products are computed in float32; else the reduced format (``tf32``...)."""
        return "ieee"

    def _compilation(self) -> str:
        """What compiles the model before it runs (``none`` for an interpreter)."""
        return "none"

    def _deterministic(self) -> bool | None:
        """Whether deterministic kernels were requested (None: the framework has no such switch)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Metadata for reports: framework, version, network, device, threads, parameter count."""
        return {
            "framework": self.framework,
            "version": self.version,
            "network": self.spec.name,
            "device": self.device,
            "variant": self.variant,
            "precision": self.precision,
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
