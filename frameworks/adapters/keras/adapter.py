"""Keras 3 on TensorFlow, JAX or torch: the spec as a ``keras.Sequential``, trained with ``fit`` and
``train_on_batch``.

The backend is fixed per process (``KERAS_BACKEND`` before the first ``import keras``); the adapter
refuses a backend that is not this process's. What differs between backends (threads, synchronisation,
gradients without an update, the input pipeline) lives in ``backends.py``.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...clock import gc_paused
from ...errors import FrameworkUnavailable
from ...fileio import atomic_path
from ...specs import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    NetworkSpec,
    ReLU,
    init_bounds,
    unknown_layer,
)
from ...weights import Weights
from ..base import (
    NHWC,
    Adapter,
    Artifact,
    ExportAttempt,
    ExportUnsupported,
    IdiomaticScript,
    LoadedArtifact,
    OwnTiming,
    PeakMemory,
    Staged,
    attempt_export,
    to_layout,
)
from ..import_guards import prepare_for_tensorflow
from .backends import BACKENDS, Backend, KerasExport
from .layout import from_keras, to_keras


def import_keras(backend: str) -> Any:
    """Import Keras with ``backend``, or raise ``FrameworkUnavailable`` if this process has another."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        prepare_for_tensorflow()  # Keras imports TensorFlow whenever it is installed
    import keras

    if keras.backend.backend() != backend:
        raise FrameworkUnavailable(
            f"keras-{backend}: this process's Keras backend is {keras.backend.backend()!r} (fixed per process); "
            f"run it in its own process"
        )
    return keras


@dataclass(frozen=True)
class KerasVariant:
    """How a Keras variant compiles its model: two arguments of ``Model.compile``
    (https://keras.io/api/models/model_training_apis/#compile-method)."""

    #: "auto": XLA on JAX, and on TensorFlow when a GPU is present (Keras turns it off on CPU-only machines);
    #: eager on torch. True: XLA on TensorFlow and JAX, ``torch.compile`` on torch. False: no compilation (on JAX,
    #: op by op: Keras' debugging setting, timed as the off side of the switch)
    jit_compile: bool | str = "auto"
    #: batches per compiled call in ``fit``/``evaluate``/``predict`` ("can greatly improve performance on TPUs or
    #: small models with a large Python overhead", the page above). ``train_on_batch`` and ``predict_on_batch``
    #: run one batch whatever it is, so it changes only ``fit``: the registry times such a variant in the
    #: framework-pipeline epoch alone (``variant_phases``). Keras' torch trainer refuses any value but 1.
    steps_per_execution: int = 1


# Variant name (the registry lists the devices, and the phases of one that changes only some) -> settings.
VARIANTS: dict[str, KerasVariant] = {
    "default": KerasVariant(),
    "jit": KerasVariant(jit_compile=True),
    "nojit": KerasVariant(jit_compile=False),
    "spe32": KerasVariant(steps_per_execution=32),  # 32: a round number, not tuned; at most one epoch per call
}


class KerasAdapter(Adapter):
    """A network in Keras 3 on this process's backend, compiled as its variant says (``VARIANTS``)."""

    def __init__(self, spec: NetworkSpec, *, backend: str = "tensorflow", **kwargs: Any) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown Keras backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.backend: Backend = BACKENDS[backend]
        self.keras = import_keras(backend)
        kwargs.setdefault("framework", f"keras-{backend}")
        super().__init__(spec, **kwargs)

    @classmethod
    def cuda_unavailable_reason(cls, **options: Any) -> str | None:
        backend = BACKENDS[str(options.get("backend", "tensorflow"))]
        import_keras(backend.name)
        return backend.cuda_unavailable_reason()

    @property
    def version(self) -> str:
        return f"{self.keras.__version__} ({self.backend.version()})"

    def _apply_threads(self, threads: int | None) -> int | None:
        return self.backend.apply_threads(threads)

    def _scope(self) -> Any:
        return self.backend.scope(self.keras, self.device)

    def build(self) -> None:
        keras = self.keras
        self.settings = VARIANTS[self.variant]
        self._jit = self.settings.jit_compile
        keras.utils.set_random_seed(self.seed)
        with self._scope():
            self.model = keras.Sequential([keras.Input(shape=_nhwc(self.spec.input_shape), name="image")]
                                          + self._layers(), name=self.spec.name)
            # the softmax stays float32 under mixed precision, as Keras' mixed-precision guide has the last layer
            self.infer_model = keras.Sequential([self.model, keras.layers.Softmax(name="softmax", dtype="float32")])
            self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            self.model.compile(optimizer=self._optimizer(), loss=self.loss_fn, jit_compile=self._jit,
                               steps_per_execution=self.settings.steps_per_execution)
            self.infer_model.compile(jit_compile=self._jit)
        self._variables = self._canonical_variables()
        trainable = {id(v): i for i, v in enumerate(self.model.trainable_variables)}
        self._grad_index = {k: trainable[id(v)] for k, v in self._variables.items() if id(v) in trainable}
        self._grads: list[Any] | None = None
        self._last: Any = None
        self._backward = self.backend.make_backward(self.model, self.loss_fn, self._jit)

    @property
    def _dtype_policy(self) -> str:
        """Each layer's dtype policy: at bf16 Keras' ``mixed_bfloat16`` (keras.io/api/mixed_precision/policy:
        float32 variables, bfloat16 computations), set per layer rather than globally, so that one process can
        hold models at both precisions; the loss is computed in float32 by Keras' loss classes either way."""
        return "mixed_bfloat16" if self.precision == "bf16" else "float32"

    def _layers(self) -> list[Any]:
        keras = self.keras
        policy = self._dtype_policy

        class _PolicyLayers:  # every layer constructor below gets the precision's dtype policy
            def __getattr__(self, name: str) -> Any:
                cls = getattr(keras.layers, name)
                return lambda *args, **kwargs: cls(*args, dtype=policy, **kwargs)

        L = _PolicyLayers()
        out = []
        for i, (layer, in_shape) in enumerate(zip(self.spec.layers, self.spec.input_shapes(), strict=True)):
            seed = self.seed * 1000 + i
            if isinstance(layer, Conv2D):
                k, b = self._initializers(layer.filters, in_shape[0] * layer.kernel ** 2,
                                          (layer.filters, in_shape[0], layer.kernel, layer.kernel), seed)
                out.append(L.Conv2D(layer.filters, layer.kernel, activation=layer.activation, name=layer.name,
                                    kernel_initializer=k, bias_initializer=b))
            elif isinstance(layer, Dense):
                k, b = self._initializers(layer.units, in_shape[0], (layer.units, in_shape[0]), seed)
                out.append(L.Dense(layer.units, activation=layer.activation, name=layer.name,
                                   kernel_initializer=k, bias_initializer=b))
            elif isinstance(layer, BatchNorm):
                out.append(_torch_style_batch_norm(keras)(momentum=1.0 - layer.momentum, epsilon=layer.eps,
                                                          name=layer.name, dtype=policy))
            elif isinstance(layer, MaxPool2D):
                out.append(L.MaxPooling2D(layer.size, name=layer.name))
            elif isinstance(layer, Dropout):
                out.append(L.Dropout(layer.rate, seed=seed, name=layer.name))
            elif isinstance(layer, Flatten):
                out.append(L.Flatten(name=layer.name))
            elif isinstance(layer, ReLU):
                out.append(L.ReLU(name=layer.name))
            else:
                raise unknown_layer(layer, self.framework)
        return out

    def _initializers(self, units: int, fan_in: int, canonical_shape: tuple[int, ...], seed: int) -> tuple[Any, Any]:
        """Keras initialisers realising the recipe's scheme (see ``specs.Recipe``)."""
        init = self.keras.initializers
        scheme = self.spec.recipe.init
        if scheme == "glorot_uniform":
            return init.GlorotUniform(seed=seed), init.Zeros()
        if scheme == "xavier_fan_in":
            return init.VarianceScaling(1.0, "fan_in", "uniform", seed=seed), init.Zeros()
        _, bias_bound = init_bounds(scheme, canonical_shape)  # torch_default: U(+-1/sqrt(fan_in))
        return (init.VarianceScaling(1.0 / 3.0, "fan_in", "uniform", seed=seed),
                init.RandomUniform(-bias_bound, bias_bound, seed=seed + 500))

    def _optimizer(self) -> Any:
        keras = self.keras
        opt = self.spec.recipe.optimizer
        lr: Any = opt.lr
        if opt.lr_policy == "inv":
            lr = _inv_schedule(keras)(opt.lr, opt.gamma, opt.power)
        if opt.kind == "adadelta":
            cls, kwargs = keras.optimizers.Adadelta, {"rho": opt.rho, "epsilon": opt.eps}
        elif opt.kind == "sgd":
            cls, kwargs = keras.optimizers.SGD, {"momentum": opt.momentum}
        else:
            cls, kwargs = keras.optimizers.Adam, {"beta_1": opt.beta1, "beta_2": opt.beta2, "epsilon": opt.eps}
        if opt.weight_decay:
            cls = _coupled_l2(keras, cls, opt.weight_decay)
        return cls(learning_rate=lr, **kwargs)

    def _canonical_variables(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for layer in self.spec.layers:
            k = self.model.get_layer(layer.name)
            if isinstance(layer, (Conv2D, Dense)):
                out[f"{layer.name}.weight"], out[f"{layer.name}.bias"] = k.kernel, k.bias
            elif isinstance(layer, BatchNorm):
                out[f"{layer.name}.gamma"], out[f"{layer.name}.beta"] = k.gamma, k.beta
                out[f"{layer.name}.running_mean"], out[f"{layer.name}.running_var"] = k.moving_mean, k.moving_variance
        return out

    def trainable_parameter_count(self) -> int:
        return int(sum(math.prod(v.shape) for v in self.model.trainable_variables))

    def stage(self, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        ops = self.keras.ops
        with self._scope():
            tx = ops.convert_to_tensor(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
            ty = ops.convert_to_tensor(y) if y is not None else None
        return Staged(tx, ty, len(x))

    def _float32_matmul(self) -> str:
        return self.backend.float32_matmul(self.device)

    def _compilation(self) -> str:
        spe = self.settings.steps_per_execution
        return (f"jit_compile={self._jit if isinstance(self._jit, bool) else 'auto'} ({self.backend.compiler})"
                + (f", steps_per_execution={spe}" if spe != 1 else ""))

    def run_forward(self, batch: Staged) -> Any:
        with self._scope():
            return self.infer_model.predict_on_batch(batch.x)  # returns numpy: the result is fetched

    def run_backward(self, batch: Staged) -> Any:
        with self._scope():
            loss, self._grads = self._backward(batch.x, batch.y)
        self._last = loss
        return loss

    def run_train_step(self, batch: Staged) -> Any:
        with self._scope():
            return self.model.train_on_batch(batch.x, batch.y)  # a fetched scalar

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One optimizer step; returns this batch's loss. Keras 3.8's torch trainer does not reset its metrics in
        ``train_on_batch`` (later versions do), so its loss is the mean since the first call: they are reset
        here first (outside the timed ``run_train_step``)."""
        with self._scope():
            self.model.reset_metrics()
        return super().train_step(x, y)

    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        keras = self.keras
        x, _ = self.check_batch(x)
        names = [layer.name for layer in self.spec.layers]
        probe = keras.Model(self.model.inputs, [self.model.get_layer(n).output for n in names])
        with self._scope():
            values = probe.predict_on_batch(self.stage(x).x)
        out = {}
        for layer, in_shape, value in zip(self.spec.layers, self.spec.input_shapes(), values, strict=True):
            value = self.to_numpy(value).astype(np.float32)
            if value.ndim == 4:  # NHWC -> NCHW
                value = value.transpose(0, 3, 1, 2)
            elif isinstance(layer, Flatten) and len(in_shape) == 3:  # (H, W, C) order -> (C, H, W) order
                c, h, w = in_shape
                value = value.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(len(value), -1)
            out[layer.name] = np.ascontiguousarray(value)
        return out

    def synchronize(self) -> None:
        if self._last is not None:
            self.backend.synchronize(self._last, self.device)

    def to_numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray | float | np.floating):
            return np.asarray(value)
        return self.backend.to_numpy(value, self.keras)

    def own_timing(self, phase: str, batch: Staged, min_seconds: float = 1.0, min_runs: int = 5) -> OwnTiming:
        """Keras has no benchmarking tool: a bare ``perf_counter`` loop around its own step, gc off as
        ``timeit`` does (no collection first, as in ``timeit``), is how its users time one."""
        step = self.step(phase, batch)
        times = []
        with gc_paused(collect=False):
            deadline = time.perf_counter() + min_seconds
            while time.perf_counter() < deadline or len(times) < min_runs:
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
        return OwnTiming(statistics.median(times), "bare perf_counter loop around Keras' step, gc off", len(times))

    def runtime_details(self) -> dict[str, Any]:
        return {"version": self.version, **self.backend.runtime_details(self.device)}

    def _reset_device_peak_memory(self) -> None:
        self.backend.reset_peak_memory()

    def _device_peak_memory(self) -> PeakMemory | None:
        return self.backend.peak_memory()

    def gradients(self) -> Weights:
        if self._grads is None:
            raise RuntimeError("no gradients yet: call backward first")
        return {k: from_keras(self.spec, k, self.to_numpy(self._grads[i])) for k, i in self._grad_index.items()}

    def get_weights(self) -> Weights:
        return {k: from_keras(self.spec, k, np.array(self.to_numpy(v.value))) for k, v in self._variables.items()}

    def _set_weights(self, weights: Weights) -> None:
        with self._scope():
            for k, v in self._variables.items():
                v.assign(to_keras(self.spec, k, weights[k]))

    # --- deployment ---------------------------------------------------------------------------------------
    def export(self, directory: Path) -> list[ExportAttempt]:
        """``Model.export`` of the inference model (softmax included, batch dimension free) in every format the
        backend offers (``Backend.exports``); Keras models take channels-last images."""
        return [attempt_export(e.format, lambda e=e: self._export(e, Path(directory))) for e in self.backend.exports]

    def _export(self, export: KerasExport, directory: Path) -> Artifact:
        if why := export.missing():
            raise ImportError(why)
        keras = self.keras
        path = directory / export.filename
        suffix = Path(export.filename).suffix
        with self._scope():
            # One flat functional model (nested models trip some exporters), called once (ONNX needs a called model).
            model = keras.Model(self.model.inputs[0], keras.layers.Softmax(name="softmax")(self.model.outputs[0]),
                                name=f"{self.spec.name}_deploy")
            model(self.stage(np.zeros((1, *self.spec.input_shape), np.float32)).x)
            with atomic_path(path, suffix=suffix) as tmp:
                try:
                    model.export(str(tmp), format=export.keras_format, verbose=False, **export.options())
                except ValueError as exc:  # an older Keras without this format: a skip with its own words
                    if "Unrecognized format" not in str(exc):
                        raise
                    raise ExportUnsupported(f"keras {keras.__version__}: {exc}") from None
        return Artifact(export.format, path, export.runtime, NHWC,
                        tool=f"keras {self.keras.__version__} Model.export(format={export.keras_format!r}) on "
                             f"{self.backend.version()}")

    @classmethod
    def import_runtime(cls, artifact: Artifact) -> None:
        import tensorflow  # noqa: F401 - a SavedModel needs TensorFlow only, not Keras

    @classmethod
    def load_artifact(cls, artifact: Artifact, *, device: str = "cpu", threads: int | None = None) -> LoadedArtifact:
        """A TensorFlow SavedModel (from Keras on any backend) through ``tf.saved_model.load``, called through
        the ``serve`` endpoint Keras writes; TensorFlow alone, as TensorFlow Serving would load it."""
        if artifact.format != "tf_saved_model":
            raise FrameworkUnavailable(f"keras-tensorflow loads TensorFlow SavedModels, not {artifact.format}")
        import tensorflow as tf

        if threads is not None:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        place = "/GPU:0" if device == "cuda" else "/CPU:0"
        with tf.device(place):
            loaded = tf.saved_model.load(str(artifact.path))
        layout = artifact.input_layout

        def predict(x: np.ndarray) -> np.ndarray:
            with tf.device(place):
                return np.asarray(loaded.serve(tf.constant(to_layout(x, layout))).numpy())

        return LoadedArtifact(predict, {"runtime": f"tensorflow {tf.__version__} (tf.saved_model.load, serve)",
                                        "threads": tf.config.threading.get_intra_op_parallelism_threads()})

    def pipeline_epoch(self, mnist: Any, images: int) -> tuple[str, Any]:
        description, inputs, kwargs = self.backend.pipeline(self, mnist, images)

        def run() -> Any:
            with self._scope():
                return self.model.fit(*inputs, epochs=1, verbose=0, **kwargs).history["loss"][-1]

        return description, run

    def idiomatic_scripts(self, mnist: Any, images: int, epochs: int) -> list[IdiomaticScript]:
        """Keras' mnist_cnn example (the seed article's script), for the network it trains (``keras_cnn``)."""
        if self.spec.name != "keras_cnn" or self.device != "cpu":
            return []
        argv = [sys.executable, "-m", "frameworks.adapters.idiomatic.keras_mnist_cnn", "--data", str(mnist.directory),
                "--images", str(images), "--epochs", str(epochs), "--batch-size", str(self.batch_size)]
        return [IdiomaticScript("Keras' mnist_cnn example (fit over numpy arrays, one-hot labels, accuracy metric)",
                                argv, {"KERAS_BACKEND": self.backend.name})]

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None) -> list[float]:
        x, y, epochs = self.check_fit_inputs(x, y, epochs)
        with self._scope():
            history = self.model.fit(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), y,
                                     batch_size=self.batch_size, epochs=epochs, shuffle=True, verbose=0)
        losses = [float(v) for v in history.history["loss"]]
        if not all(math.isfinite(v) for v in losses):
            raise FloatingPointError(f"{self.framework}/{self.spec.name}: training diverged, losses {losses}")
        return losses


def _nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    c, h, w = shape
    return (h, w, c)


def _inv_schedule(keras: Any) -> Any:
    """Caffe's 'inv' learning-rate policy as a Keras schedule: lr * (1 + gamma * step) ** -power."""

    class InvSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, base: float, gamma: float, power: float) -> None:
            self.base, self.gamma, self.power = base, gamma, power

        def __call__(self, step: Any) -> Any:
            ops = keras.ops
            step = ops.cast(step, "float32")
            return self.base * ops.power(1.0 + self.gamma * step, -self.power)

        def get_config(self) -> dict[str, float]:
            return {"base": self.base, "gamma": self.gamma, "power": self.power}

    return InvSchedule


def _coupled_l2(keras: Any, optimizer_cls: Any, weight_decay: float) -> Any:
    """``optimizer_cls`` with L2 weight decay added to each gradient (Caffe's and torch.optim's coupled
    decay; Keras' own ``weight_decay`` argument is decoupled, AdamW-style)."""

    class CoupledL2(optimizer_cls):
        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
            ops = keras.ops
            gradient = ops.add(gradient, ops.multiply(ops.cast(weight_decay, variable.dtype), variable))
            return super().update_step(gradient, variable, learning_rate)

    CoupledL2.__name__ = f"{optimizer_cls.__name__}WithL2"
    return CoupledL2


_BN_CLASS: dict[int, Any] = {}


def _torch_style_batch_norm(keras: Any) -> Any:
    """BatchNormalization whose running variance uses the unbiased batch variance, as PyTorch and Caffe do
    (Keras' own layer uses the biased one); normalisation itself is unchanged."""
    if id(keras) in _BN_CLASS:
        return _BN_CLASS[id(keras)]
    ops = keras.ops

    class TorchStyleBatchNormalization(keras.layers.BatchNormalization):
        def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
            if not (training and self.trainable):
                return super().call(inputs, training=training, mask=mask)
            inputs = ops.cast(inputs, "float32")
            mean, variance = self._moments(inputs, mask)
            n = ops.cast(ops.shape(inputs)[0], "float32")
            unbiased = variance * n / ops.maximum(n - 1.0, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + unbiased * (1.0 - self.momentum))
            outputs = ops.batch_normalization(inputs, mean, variance, axis=self.axis, offset=self.beta,
                                              scale=self.gamma, epsilon=self.epsilon)
            return ops.cast(outputs, self.compute_dtype)

    _BN_CLASS[id(keras)] = TorchStyleBatchNormalization
    return TorchStyleBatchNormalization
