"""What differs between Keras 3's backends, one small object each: threads, devices, synchronisation,
tensor conversion, gradients without an update, the input pipeline and device memory.

The adapter (``adapter.py``) holds everything the backends share and asks its backend for the rest.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import FrameworkUnavailable
from ..base import PeakMemory


@dataclass(frozen=True)
class KerasExport:
    """One deployment format of ``Model.export`` on a backend: Keras' name for it, the suite's, the file or
    directory it is written to, the registry framework whose runtime loads it, and extra export arguments."""

    keras_format: str
    format: str
    filename: str
    runtime: str
    requires: tuple[str, ...] = ()  # modules the exporter needs (a missing one is a skip, with its name)
    options: Callable[[], dict[str, Any]] = field(default=dict)

    def missing(self) -> str | None:
        """Why the exporter cannot run here (a module it needs is not installed), or None."""
        from ..import_guards import installed

        absent = [m for m in self.requires if not installed(m)]
        if not absent:
            return None
        return f"{', '.join(absent)} not installed (Keras' {self.keras_format} export needs it here)"


SAVED_MODEL = KerasExport("tf_saved_model", "tf_saved_model", "saved_model", "keras-tensorflow", ("tensorflow",))


def _torch_batch_dimension() -> dict[str, Any]:
    import torch

    return {"dynamic_shapes": {0: torch.export.Dim("batch", min=1)}}  # else Keras fixes the batch at 1


class Backend(abc.ABC):
    """One Keras backend."""

    name: str  # KERAS_BACKEND's value
    compiler: str = ""  # what compiles a Keras step on this backend, in words
    #: what ``Model.export`` can write on this backend (a format needing a missing package is a skip)
    exports: tuple[KerasExport, ...] = ()

    def module(self) -> Any:
        """The backend's own top-level module."""
        return importlib.import_module(self.name)

    def version(self) -> str:
        return f"{self.name} {self.module().__version__}"

    @abc.abstractmethod
    def cuda_unavailable_reason(self) -> str | None:
        """Why this backend cannot use a CUDA GPU here, or None."""

    @abc.abstractmethod
    def apply_threads(self, threads: int | None) -> int | None:
        """Set the intra-op thread count if given; return the count in effect."""

    def scope(self, keras: Any, device: str) -> Any:
        """The ``keras.device`` scope every call runs in."""
        return keras.device("gpu:0" if device == "cuda" else "cpu:0")

    @abc.abstractmethod
    def synchronize(self, last: Any, device: str) -> None:
        """Wait until ``last`` (the latest native result) and the device's queue are done."""

    @abc.abstractmethod
    def to_numpy(self, value: Any, keras: Any) -> np.ndarray:
        """A native tensor as a numpy array."""

    @abc.abstractmethod
    def make_backward(self, model: Any, loss_fn: Any, jit: bool | str) -> Any:
        """``f(x, y) -> (loss, gradients of model.trainable_variables)``, no update, with the backend's autodiff;
        ``jit`` is the variant's ``jit_compile`` (True, False or "auto")."""

    def pipeline(self, adapter: Any, mnist: Any, images: int) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        """(description, fit's positional inputs, fit's keyword arguments) for one epoch through Keras' own
        input handling: by default ``fit`` over in-memory arrays."""
        from ... import data

        x = data.preprocess(mnist.train_images[:images], adapter.spec.recipe).transpose(0, 2, 3, 1)
        return ("fit over in-memory numpy arrays (Keras' own array adapter)",
                (np.ascontiguousarray(x), mnist.train_labels[:images]),
                {"batch_size": adapter.batch_size, "shuffle": True})

    def runtime_details(self, device: str) -> dict[str, Any]:
        """What the backend says about its devices."""
        return {}

    def float32_matmul(self, device: str) -> str:
        """How the backend computes float32 products on ``device``: ``ieee`` or the reduced format."""
        return "ieee"

    def reset_peak_memory(self) -> None:  # noqa: B027 - a hook: only some backends can reset a peak
        """Start a new device-allocator peak."""

    def peak_memory(self) -> PeakMemory | None:
        """The device allocator's peak, or None where the backend cannot tell."""
        return None


class TensorFlowBackend(Backend):
    name = "tensorflow"
    compiler = "tf.function; XLA when jit_compile is True"

    def float32_matmul(self, device: str) -> str:
        import tensorflow as tf

        if device == "cuda" and tf.config.experimental.tensor_float_32_execution_enabled():
            return "tf32"
        return "ieee"
    exports = (SAVED_MODEL, KerasExport("onnx", "onnx", "model.onnx", "onnxruntime", ("onnx", "tf2onnx")))

    def cuda_unavailable_reason(self) -> str | None:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return f"tensorflow {tf.__version__} has no GPU device here (a CPU-only build, or no CUDA)"
        return None

    def apply_threads(self, threads: int | None) -> int | None:
        import tensorflow as tf

        if threads is not None and tf.config.threading.get_intra_op_parallelism_threads() != threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
            except RuntimeError as exc:  # the TF runtime is already initialised
                raise FrameworkUnavailable(
                    f"keras-tensorflow: cannot set {threads} threads after TensorFlow started ({exc}); "
                    "set TF_NUM_INTRAOP_THREADS before the process starts") from exc
        return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1

    def synchronize(self, last: Any, device: str) -> None:
        last.numpy()  # fetching the result waits for the graph that produced it

    def to_numpy(self, value: Any, keras: Any) -> np.ndarray:
        return np.asarray(value.numpy())  # TF's __array__ predates numpy 2's copy keyword

    def make_backward(self, model: Any, loss_fn: Any, jit: bool | str) -> Any:
        import tensorflow as tf

        @tf.function(jit_compile=jit is True, reduce_retracing=True)
        def backward(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            return loss, tape.gradient(loss, model.trainable_variables)

        return backward

    def pipeline(self, adapter: Any, mnist: Any, images: int) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        import tensorflow as tf

        recipe = adapter.spec.recipe

        def scale(pixels: Any, label: Any) -> Any:
            x = tf.cast(pixels, tf.float32)[..., None] * recipe.scale
            return (x - recipe.mean) / recipe.std, label

        source = (mnist.train_images[:images], mnist.train_labels[:images])
        dataset = (tf.data.Dataset.from_tensor_slices(source).shuffle(images, seed=adapter.seed)
                   .map(scale, num_parallel_calls=tf.data.AUTOTUNE)
                   .batch(adapter.batch_size).prefetch(tf.data.AUTOTUNE))
        return ("tf.data from the uint8 arrays (shuffle, map, batch, prefetch) into fit", (dataset,),
                {"shuffle": False})  # the dataset shuffles itself


class JaxBackend(Backend):
    name = "jax"
    compiler = "jax.jit (XLA)"

    def float32_matmul(self, device: str) -> str:
        import jax

        precision = jax.config.jax_default_matmul_precision
        if device == "cuda" and precision in (None, "default", "bfloat16", "tensorfloat32"):
            return f"tf32 or lower (jax_default_matmul_precision={precision})"
        return "ieee" if precision in (None, "default", "highest", "float32") else f"{precision}"
    exports = (SAVED_MODEL, KerasExport("onnx", "onnx", "model.onnx", "onnxruntime", ("onnx", "jax2onnx")))

    def cuda_unavailable_reason(self) -> str | None:
        import jax

        if not any(d.platform == "gpu" for d in jax.devices()):
            return f"jax {jax.__version__} has no GPU device here (install jax[cuda])"
        return None

    def scope(self, keras: Any, device: str) -> Any:
        """Under a Keras distribution, placement is the distribution's: pinning ``cpu:0`` would name another
        process's device in a multi-process job (a global device id)."""
        if keras.distribution.distribution() is not None:
            return contextlib.nullcontext()
        return super().scope(keras, device)

    def apply_threads(self, threads: int | None) -> int | None:
        cores = os.cpu_count() or 1
        # XLA's CPU client uses every core and has no runtime setting.
        if threads is not None and threads != cores:
            raise FrameworkUnavailable(f"keras-jax: XLA on the CPU uses all {cores} cores; cannot use {threads}")
        return cores

    def synchronize(self, last: Any, device: str) -> None:
        import jax

        jax.block_until_ready(last)

    def to_numpy(self, value: Any, keras: Any) -> np.ndarray:
        return np.asarray(keras.ops.convert_to_numpy(value))

    def make_backward(self, model: Any, loss_fn: Any, jit: bool | str) -> Any:
        import jax

        def compute(trainable: Any, non_trainable: Any, x: Any, y: Any) -> Any:
            logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, logits), non_trainable

        grad_fn = jax.value_and_grad(compute, has_aux=True)
        if jit is not False:  # "auto" is XLA on JAX, as Keras compiles its own steps
            grad_fn = jax.jit(grad_fn)

        def backward(x: Any, y: Any) -> Any:
            (loss, non_trainable), grads = grad_fn([v.value for v in model.trainable_variables],
                                                   [v.value for v in model.non_trainable_variables], x, y)
            for var, value in zip(model.non_trainable_variables, non_trainable, strict=True):
                var.assign(value)  # BatchNorm statistics and dropout seeds move on, as in training
            return loss, grads

        return backward

    def runtime_details(self, device: str) -> dict[str, Any]:
        import jax

        return {"devices": sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()})}

    def peak_memory(self) -> PeakMemory | None:
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return PeakMemory(stats["peak_bytes_in_use"] / 2**20, "jax device peak_bytes_in_use")
        return None


class TorchBackend(Backend):
    name = "torch"
    compiler = "eager; torch.compile when jit_compile is True"

    def float32_matmul(self, device: str) -> str:
        import torch

        if device == "cuda":
            return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
        mode = torch.get_float32_matmul_precision()
        return "ieee" if mode == "highest" else f"float32_matmul_precision={mode}"
    exports = (  # Keras' SavedModel export on torch goes through torch_xla's StableHLO
        KerasExport("tf_saved_model", "tf_saved_model", "saved_model", "keras-tensorflow", ("tensorflow", "torch_xla")),
        KerasExport("onnx", "onnx", "model.onnx", "onnxruntime", ("onnx",)),
        KerasExport("torch", "torch.export", "model.pt2", "pytorch", options=_torch_batch_dimension))

    def cuda_unavailable_reason(self) -> str | None:
        import torch

        if not torch.cuda.is_available():
            return f"torch {torch.__version__} sees no usable CUDA device"
        return None

    def apply_threads(self, threads: int | None) -> int | None:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        return torch.get_num_threads()

    def scope(self, keras: Any, device: str) -> Any:
        return keras.device(device)  # "cpu:0" would copy torch Parameters into plain tensors

    def synchronize(self, last: Any, device: str) -> None:
        if device == "cuda":
            import torch

            torch.cuda.synchronize()

    def to_numpy(self, value: Any, keras: Any) -> np.ndarray:
        value = value.detach().cpu()
        return (value.float() if value.dtype == value.new_empty(0).bfloat16().dtype else value).numpy()

    def make_backward(self, model: Any, loss_fn: Any, jit: bool | str) -> Any:
        def backward(x: Any, y: Any) -> Any:
            for v in model.trainable_variables:
                v.value.grad = None
            loss = loss_fn(y, model(x, training=True))
            loss.backward()
            return loss.detach(), [v.value.grad for v in model.trainable_variables]

        return backward

    def runtime_details(self, device: str) -> dict[str, Any]:
        import torch

        if device != "cuda":
            return {}
        return {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                "gpu": torch.cuda.get_device_name(0)}

    def reset_peak_memory(self) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats()

    def peak_memory(self) -> PeakMemory | None:
        import torch

        return PeakMemory(torch.cuda.max_memory_allocated() / 2**20, "torch.cuda.max_memory_allocated")


BACKENDS: dict[str, Backend] = {b.name: b for b in (TensorFlowBackend(), JaxBackend(), TorchBackend())}
