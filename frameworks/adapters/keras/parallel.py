"""Keras data parallel, on each backend's own engine:

- JAX: the Keras distribution API, ``keras.distribution.DataParallel``. In one process over several CPU devices
  (``jax_num_cpu_devices``), or in several processes joined by ``jax.distributed.initialize`` with gloo CPU
  collectives (started by torchrun; JAX's coordinator listens on the master port + 1). JAX computes the sharded
  step as the global one (SPMD), so BatchNorm's statistics are the global batch's.
- torch: ``torch.nn.parallel.DistributedDataParallel`` around the Keras model, as Keras' own guide to
  multi-device training with the torch backend does; BatchNorm statistics per replica (Keras keeps its moving
  statistics as non-trainable parameters, which DDP neither averages nor broadcasts).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import numpy as np

from ...specs import BatchNorm, NetworkSpec
from .. import torchrun
from ..data_parallel import GLOBAL, PER_REPLICA, ChunkedReference, Delegating, ParallelTrainer, World
from .adapter import KerasAdapter, import_keras


def _has_batchnorm(spec: NetworkSpec) -> bool:
    return any(isinstance(layer, BatchNorm) for layer in spec.layers)


class _KerasTrainer(Delegating, ParallelTrainer):
    """What every Keras trainer shares: the suite's Keras adapter built under the engine's distribution."""

    backend = ""

    def _build(self, spec: NetworkSpec, seed: int, threads: int | None) -> None:
        self.adapter = KerasAdapter(spec, backend=self.backend, threads=threads, seed=seed)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        return self.adapter.train_step(x, y)


# --- JAX -----------------------------------------------------------------------------------------------------
class _JaxTrainer(_KerasTrainer):
    backend = "jax"
    batchnorm = GLOBAL

    def _distribute(self, spec: NetworkSpec, seed: int, threads: int | None) -> None:
        """Set Keras' distribution, then build; XLA's CPU client uses every core (it has no thread setting),
        so ``threads`` is not applied and the figures record the cores instead."""
        keras = import_keras("jax")
        import jax

        devices = jax.devices()
        if len(devices) < self.world.size:
            raise RuntimeError(f"keras-jax: {self.world.size} devices wanted, JAX sees {len(devices)}")
        self.distribution = keras.distribution.DataParallel(devices=devices[:self.world.size])
        self.distribution.auto_shard_dataset = False  # each process feeds its own rows
        keras.distribution.set_distribution(self.distribution)
        self.engine = (f"keras.distribution.DataParallel over {len(devices)} JAX {devices[0].platform} device(s) "
                       f"in {jax.process_count()} process(es), keras {keras.__version__}, jax {jax.__version__}; "
                       "XLA uses every core in each process")
        self._build(spec, seed, None)

    @classmethod
    def reference(cls, spec: NetworkSpec, replicas: int, *, seed: int, threads: int | None) -> Any:
        return KerasAdapter(spec, backend="jax", seed=seed)  # SPMD: the global batch's step; XLA: every core


class JaxDevicesTrainer(_JaxTrainer):
    """One process driving ``world.size`` JAX CPU devices (``jax_num_cpu_devices``)."""

    def __init__(self, spec: NetworkSpec, world: World, *, seed: int, threads: int | None,
                 device: str = "cpu") -> None:
        super().__init__(spec, world, seed=seed, threads=threads, device=device)
        if "jax" not in sys.modules:
            import jax

            jax.config.update("jax_num_cpu_devices", world.size)
        self._distribute(spec, seed, threads)


class JaxProcessesTrainer(torchrun.Launched, _JaxTrainer):
    """One process per replica joined by ``jax.distributed.initialize`` (gloo CPU collectives), one CPU device
    each, started by torchrun; JAX's coordinator is the launcher's master address at the master port + 1."""

    def __init__(self, spec: NetworkSpec, world: World, *, seed: int, threads: int | None,
                 device: str = "cpu") -> None:
        super().__init__(spec, world, seed=seed, threads=threads, device=device)
        import jax

        if world.size > 1:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
            jax.config.update("jax_num_cpu_devices", 1)
            jax.distributed.initialize(coordinator_address=f"{world.master_addr}:{world.master_port + 1}",
                                       num_processes=world.size, process_id=world.rank,
                                       initialization_timeout=int(world.timeout_s))
        self._distribute(spec, seed, threads)

    def close(self) -> None:
        import jax

        if self.world.size > 1:
            jax.distributed.shutdown()


# --- torch ---------------------------------------------------------------------------------------------------
class TorchDDPTrainer(torchrun.Launched, _KerasTrainer):
    """The Keras model (a ``torch.nn.Module`` on this backend) wrapped in ``DistributedDataParallel``."""

    backend = "torch"
    batchnorm = PER_REPLICA
    has_no_sync = True

    def __init__(self, spec: NetworkSpec, world: World, *, seed: int, threads: int | None,
                 device: str = "cpu") -> None:
        super().__init__(spec, world, seed=seed, threads=threads, device=device)
        import_keras("torch")
        self._build(spec, seed, threads)
        self.engine = f"torch DistributedDataParallel over gloo around a Keras {self.adapter.keras.__version__} model"
        self.module: Any = torchrun.data_parallel(self.adapter.model, world, "gloo")

    def _step(self, x: np.ndarray, y: np.ndarray, communicate: bool) -> float:
        return _torch_step(self.adapter, [(x, y)], self.module,
                           quiet=not communicate and self.world.size > 1)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        return self._step(x, y, communicate=True)

    def no_sync_step(self, x: np.ndarray, y: np.ndarray) -> float:
        return self._step(x, y, communicate=False)

    def close(self) -> None:
        torchrun.leave_process_group()

    @classmethod
    def reference(cls, spec: NetworkSpec, replicas: int, *, seed: int, threads: int | None) -> Any:
        adapter = KerasAdapter(spec, backend="torch", threads=threads, seed=seed)
        return _ChunkedReference(adapter, replicas) if _has_batchnorm(spec) else adapter


def _torch_step(adapter: KerasAdapter, chunks: list[tuple[np.ndarray, np.ndarray]], module: Any,
                quiet: bool = False) -> float:
    """One optimizer step of a Keras-on-torch model: each chunk's mean loss / chunks, backpropagated through
    ``module`` (the DDP wrapper or the model), then Keras' optimizer applies the accumulated gradients."""
    variables = adapter.model.trainable_variables
    for v in variables:
        v.value.grad = None
    total = 0.0
    kept: list[Any] = []
    moving = [v for v in adapter.model.non_trainable_variables if "moving" in v.path]
    with module.no_sync() if quiet else contextlib.nullcontext():
        for i, (x, y) in enumerate(chunks):
            batch = adapter.stage(*adapter.check_batch(x, y))
            logits = module(batch.x, training=True)
            loss = adapter.loss_fn(batch.y, logits) / len(chunks)
            loss.backward()
            total += float(loss.detach())
            if i == 0 and len(chunks) > 1:
                kept = [v.value.detach().clone() for v in moving]
    for v, value in zip(moving, kept, strict=False):
        v.assign(value)
    adapter.model.optimizer.apply([v.value.grad for v in variables], variables)
    return total


class _ChunkedReference(ChunkedReference):
    """``ChunkedReference`` for Keras on torch."""

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        return _torch_step(self.adapter, self.chunks(x, y), self.adapter.model)


# --- TensorFlow ----------------------------------------------------------------------------------------------
class MirroredTrainer(_KerasTrainer):
    """``tf.distribute.MirroredStrategy`` over ``world.size`` logical CPU devices (GPUs where there are enough)."""

    backend = "tensorflow"
    batchnorm = PER_REPLICA

    def __init__(self, spec: NetworkSpec, world: World, *, seed: int, threads: int | None,
                 device: str = "cpu") -> None:
        super().__init__(spec, world, seed=seed, threads=threads, device=device)
        keras = import_keras("tensorflow")
        import tensorflow as tf

        if threads is not None:  # before the device list below starts TensorFlow's runtime
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        gpus = tf.config.list_physical_devices("GPU")
        if len(gpus) >= world.size:
            names = [f"/gpu:{i}" for i in range(world.size)]
        else:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * world.size)
            names = [f"/cpu:{i}" for i in range(world.size)]
        self.strategy = tf.distribute.MirroredStrategy(names)
        self.engine = (f"tf.distribute.MirroredStrategy over {', '.join(names)}, TensorFlow {tf.__version__}, "
                       f"keras {keras.__version__}")
        with self.strategy.scope():
            self._build(spec, seed, threads)
            # the optimizer's slots are made here, in the strategy's scope, not lazily inside the replicated step
            self.adapter.model.optimizer.build(self.adapter.model.trainable_variables)
        self._cached: tuple[int, Any] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The replicated model called directly (``predict_on_batch`` under the strategy would run the whole batch
        on every replica and concatenate the copies)."""
        a = self.adapter
        x, _ = a.check_batch(x)
        return np.asarray(a.infer_model(a.stage(x).x, training=False))

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """``fit``'s own training function on a distributed dataset of this global batch (``train_on_batch``
        would give every replica the whole batch)."""
        import tensorflow as tf

        key = id(x)
        if self._cached is None or self._cached[0] != key:
            x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
            data = tf.data.Dataset.from_tensors((x_nhwc, y)).repeat()
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            self._cached = (key, iter(self.strategy.experimental_distribute_dataset(data.with_options(options))))
        model = self.adapter.model
        model.make_train_function()
        logs = model.train_function(self._cached[1])
        return float(np.asarray(logs["loss"]))

    @classmethod
    def reference(cls, spec: NetworkSpec, replicas: int, *, seed: int, threads: int | None) -> Any:
        adapter = KerasAdapter(spec, backend="tensorflow", threads=threads, seed=seed)
        return _TensorFlowChunkedReference(adapter, replicas) if _has_batchnorm(spec) else adapter


class _TensorFlowChunkedReference(ChunkedReference):
    """``ChunkedReference`` for Keras on TensorFlow (a gradient tape per chunk)."""

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        import tensorflow as tf

        a = self.adapter
        variables = a.model.trainable_variables
        moving = [v for v in a.model.non_trainable_variables if "moving" in v.path]
        total, grads, kept = 0.0, None, []
        for i, (xc, yc) in enumerate(self.chunks(x, y)):
            batch = a.stage(*a.check_batch(xc, yc))
            with tf.GradientTape() as tape:
                loss = a.loss_fn(batch.y, a.model(batch.x, training=True)) / self.replicas
            g = tape.gradient(loss, [v.value for v in variables])
            grads = g if grads is None else [u + w for u, w in zip(grads, g, strict=True)]
            total += float(loss)
            if i == 0:
                kept = [np.array(v.value) for v in moving]
        for v, value in zip(moving, kept, strict=True):
            v.assign(value)
        a.model.optimizer.apply(grads, variables)
        return total
