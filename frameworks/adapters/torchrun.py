"""PyTorch's launcher, ``torch.distributed.run`` (``torchrun``), for every framework that starts one process
per replica: it starts the workers, gives each ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and the meeting point,
ends all of them when one fails, and runs unchanged under a scheduler that starts it on many machines."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

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
