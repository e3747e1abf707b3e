"""PyTorch's launcher, ``torch.distributed.run`` (``torchrun``), for every framework that starts one process
per replica: it starts the workers, gives each ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and the meeting point,
ends all of them when one fails, and runs unchanged under a scheduler that starts it on many machines. Also the
``torch.distributed`` process group that the DDP trainers (PyTorch's and Keras on torch's) join and leave."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from .data_parallel import World, python_module_command


def missing_reason() -> str | None:
    """Why torchrun cannot start processes here, or None."""
    if importlib.util.find_spec("torch") is None:
        return "starting one process per replica needs torchrun (pip install torch)"
    return None


def command(world: World, nproc_per_node: int, worker: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run`` with torchrun's own options, then ``-m`` the worker module and its
    arguments (``worker[0]`` is the module)."""
    return python_module_command(
        "torch.distributed.run", "--nnodes", str(world.nnodes), "--node-rank", str(world.node_rank),
        "--nproc-per-node", str(nproc_per_node), "--master-addr", world.master_addr,
        "--master-port", str(world.master_port), "--max-restarts", "0", "--monitor-interval", "0.5",
        "-m", *worker)


class Launched:
    """For a ``ParallelTrainer`` whose processes torchrun starts (listed before ``ParallelTrainer`` in the bases)."""

    @classmethod
    def unavailable_reason(cls, world: World, device: str = "cpu") -> str | None:
        return missing_reason() or super().unavailable_reason(world, device)  # type: ignore[misc]

    @classmethod
    def launcher(cls, world: World, nproc_per_node: int, worker: Sequence[str]) -> list[str]:
        return command(world, nproc_per_node, worker)


def data_parallel(module: Any, world: World, backend: str, device_ids: list[int] | None = None) -> Any:
    """``module`` wrapped in ``DistributedDataParallel`` after joining the job's process group (collectives time
    out after ``world.timeout_s``); a lone process keeps the plain module."""
    if world.size == 1:
        return module
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=world.timeout_s))
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def leave_process_group() -> None:
    """Destroy the process group, if this process joined one."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
