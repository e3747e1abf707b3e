"""PyTorch data parallel: ``DistributedDataParallel`` over ``torch.distributed`` (gloo on the CPU, NCCL on
CUDA), one process per replica started by torchrun.

DDP averages gradients across replicas in buckets during the backward pass; BatchNorm normalises each replica
by its own chunk's statistics and DDP broadcasts rank 0's running statistics at every forward
(``broadcast_buffers=True``, the default), so the reference for a network with BatchNorm is one process that
computes each replica's chunk separately and averages the gradients, keeping the first chunk's statistics.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..specs import BatchNorm, NetworkSpec
from . import torchrun
from .data_parallel import PER_REPLICA, ChunkedReference, Delegating, ParallelTrainer, World
from .pytorch import PyTorchAdapter


def _torch() -> Any:
    import torch

    return torch


class DDPTrainer(torchrun.Launched, Delegating, ParallelTrainer):
    """A PyTorch model wrapped in ``DistributedDataParallel`` (a lone process: the plain model)."""

    batchnorm = PER_REPLICA
    has_no_sync = True

    def __init__(self, spec: NetworkSpec, world: World, *, seed: int, threads: int | None,
                 device: str = "cpu") -> None:
        torch = _torch()
        super().__init__(spec, world, seed=seed, threads=threads, device=device)
        if device == "cuda":  # one GPU per rank on its node
            torch.cuda.set_device(world.local_rank)
        self.adapter = PyTorchAdapter(spec, device=device, threads=threads, seed=seed, framework="pytorch")
        backend = "nccl" if device == "cuda" else "gloo"
        self.engine = f"torch.nn.parallel.DistributedDataParallel over {backend}, torch {torch.__version__}"
        ids = [world.local_rank] if device == "cuda" else None
        self.model: Any = torchrun.data_parallel(self.adapter.model, world, backend, ids)

    @classmethod
    def unavailable_reason(cls, world: World, device: str = "cpu") -> str | None:
        if why := torchrun.missing_reason():
            return why
        if device != "cuda":
            return None
        torch = _torch()
        here = torch.cuda.device_count() if torch.cuda.is_available() else 0
        per_node = world.size // world.nnodes
        if here < per_node:
            return (f"{per_node} ranks per node need {per_node} CUDA devices (one each, NCCL); torch "
                    f"{torch.__version__} sees {here} here")
        return None

    def _step(self, x: np.ndarray, y: np.ndarray, communicate: bool) -> float:
        a = self.adapter
        batch = a.stage(*a.check_batch(x, y))
        self.model.train()
        a.optimizer.zero_grad(set_to_none=True)
        quiet = self.model.no_sync() if (not communicate and self.world.size > 1) else contextlib.nullcontext()
        with quiet:
            loss = a.loss_fn(self.model(batch.x), batch.y)
            loss.backward()
        a.optimizer.step()
        if a.scheduler is not None:
            a.scheduler.step()
        return float(loss.detach())

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        return self._step(x, y, communicate=True)

    def no_sync_step(self, x: np.ndarray, y: np.ndarray) -> float:
        return self._step(x, y, communicate=False)

    def synchronize(self) -> None:
        self.adapter.synchronize()

    def close(self) -> None:
        torchrun.leave_process_group()

    @classmethod
    def reference(cls, spec: NetworkSpec, replicas: int, *, seed: int, threads: int | None) -> Any:
        adapter = PyTorchAdapter(spec, threads=threads, seed=seed, framework="pytorch")
        if not any(isinstance(layer, BatchNorm) for layer in spec.layers):
            return adapter
        return _ChunkedReference(adapter, replicas)


class _ChunkedReference(ChunkedReference):
    """``ChunkedReference`` in PyTorch: each chunk's mean loss divided by the replicas, backpropagated and
    accumulated, then one optimizer step."""

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        a = self.adapter
        x, y = a.check_batch(x, y)
        a.model.train()
        a.optimizer.zero_grad(set_to_none=True)
        buffers = [b for name, b in a.model.named_buffers() if "running" in name]
        kept: list[Any] = []
        total = 0.0
        for i, (xc, yc) in enumerate(self.chunks(x, y)):
            batch = a.stage(xc, yc)
            loss = a.loss_fn(a.model(batch.x), batch.y) / self.replicas
            loss.backward()
            total += float(loss.detach())
            if i == 0:
                kept = [b.detach().clone() for b in buffers]
        with _torch().no_grad():
            for buffer, value in zip(buffers, kept, strict=True):
                buffer.copy_(value)
        a.optimizer.step()
        if a.scheduler is not None:
            a.scheduler.step()
        return total
