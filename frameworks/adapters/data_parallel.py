"""What a framework's adapter package provides to train data parallel, and who a process is in such a job.

A framework takes part by naming, in its registry entry's ``data_parallel``, a ``ParallelTrainer`` subclass per
mode it has (``processes``: one replica per process, started by the launcher the trainer names; ``devices``:
one process driving several devices). The suite does the rest: planning, launching, the proof of equivalence
and the measurements (``frameworks.parallel``).

The names and meanings are torchrun's (``--nnodes``, ``--node-rank``, ``--master-addr``, ``--master-port``;
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in each worker's environment), so a job started by a cluster scheduler
that runs the launcher on many machines is the same job as one started here.
"""

from __future__ import annotations

import abc
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..specs import NetworkSpec
from ..weights import Weights

PROCESSES, DEVICES = "processes", "devices"
MODES = (PROCESSES, DEVICES)


@dataclass(frozen=True)
class World:
    """One process's place in a data-parallel job.

    ``mode`` is ``processes`` (one replica per process, ``size`` processes) or ``devices`` (one process driving
    ``size`` devices, ``rank`` 0). ``timeout_s`` bounds every collective, so a dead peer ends the job.
    """

    mode: str
    size: int
    rank: int = 0
    local_rank: int = 0
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    timeout_s: float = 120.0

    @property
    def processes(self) -> int:
        """How many processes the job has."""
        return self.size if self.mode == PROCESSES else 1

    def shard(self, global_batch: int) -> slice:
        """This process's rows of a global batch: its rank's chunk in process mode, all of it in device mode."""
        if self.mode == DEVICES:
            return slice(0, global_batch)
        per = global_batch // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    @classmethod
    def from_environment(cls, mode: str, timeout_s: float, environ: dict[str, str] | None = None) -> World:
        """The world the launcher describes in this process's environment (a lone process: world size 1)."""
        env = os.environ if environ is None else environ
        size = int(env.get("WORLD_SIZE", "1"))
        nnodes = int(env.get("GROUP_WORLD_SIZE", env.get("NNODES", "1")) or 1)
        return cls(mode=mode, size=size, rank=int(env.get("RANK", "0")), local_rank=int(env.get("LOCAL_RANK", "0")),
                   nnodes=nnodes, node_rank=int(env.get("GROUP_RANK", "0")),
                   master_addr=env.get("MASTER_ADDR", "127.0.0.1"), master_port=int(env.get("MASTER_PORT", "29500")),
                   timeout_s=timeout_s)


#: What a framework's data parallelism does with BatchNorm's batch statistics: each replica normalises by its
#: own chunk's statistics, or the framework computes them over the whole global batch.
PER_REPLICA, GLOBAL = "per-replica", "global"


class ParallelTrainer(abc.ABC):
    """One process's part of a data-parallel training job for one network, on the framework's own engine.

    Built from the same seed on every rank; ``train_step`` takes this process's rows of the global batch
    (``World.shard``) and returns this process's loss. The reference (``reference``) is what one process must
    compute for the same global batch; the equivalence check compares the two.
    """

    #: the engine, in words, for reports (``DistributedDataParallel over gloo``...)
    engine: str = ""
    #: BatchNorm statistics under this engine: ``PER_REPLICA`` or ``GLOBAL``
    batchnorm: str = PER_REPLICA
    #: True if ``no_sync`` can run a step without gradient communication (the control that times it)
    has_no_sync: bool = False

    def __init__(self, spec: NetworkSpec, world: World, *, seed: int, threads: int | None,
                 device: str = "cpu") -> None:
        self.spec = spec
        self.world = world
        self.seed = seed
        self.threads = threads
        self.device = device

    @classmethod
    def unavailable_reason(cls, world: World, device: str = "cpu") -> str | None:
        """Why this engine cannot run ``world`` on ``device`` here (too few devices, a missing package), or None."""
        return None if device == "cpu" else f"{cls.__name__} has no {device} path in the suite"

    @classmethod
    def launcher(cls, world: World, nproc_per_node: int, worker: Sequence[str]) -> list[str]:
        """The command that starts ``nproc_per_node`` processes of ``worker`` on this node (process mode)."""
        raise NotImplementedError(f"{cls.__name__} has no process launcher")

    @abc.abstractmethod
    def set_weights(self, weights: Weights) -> None:
        """Load canonical weights (the same on every rank)."""

    @abc.abstractmethod
    def get_weights(self) -> Weights:
        """This replica's weights in the canonical layout."""

    @abc.abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode class probabilities of this replica's model."""

    @abc.abstractmethod
    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One data-parallel optimizer step on this process's rows; returns this process's loss."""

    def no_sync_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """The same step without gradient communication (a timing control only: replicas drift apart)."""
        raise NotImplementedError(f"{type(self).__name__} has no step without communication")

    def synchronize(self) -> None:  # noqa: B027 - a hook: CPU engines finish their work before returning
        """Wait until queued device work has finished."""

    def close(self) -> None:  # noqa: B027 - a hook: engines without a process group have nothing to end
        """Leave the job (destroy the process group)."""

    @classmethod
    @abc.abstractmethod
    def reference(cls, spec: NetworkSpec, replicas: int, *, seed: int, threads: int | None) -> Any:
        """What one process computes for the same global batch: an object with ``set_weights``,
        ``train_step(x, y)`` on the whole global batch, ``get_weights`` and ``forward``. Without BatchNorm, or
        with ``GLOBAL`` statistics, that is the plain adapter on the global batch; with ``PER_REPLICA``
        statistics, each replica's chunk separately with the gradients averaged."""


class Delegating:
    """Weights and outputs through the suite's own adapter for the framework, held as ``self.adapter``."""

    adapter: Any

    def set_weights(self, weights: Weights) -> None:
        self.adapter.set_weights(weights)

    def get_weights(self) -> Weights:
        return self.adapter.get_weights()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.adapter.forward(x)


class ChunkedReference(Delegating):
    """The reference for per-replica BatchNorm: one process computing each replica's chunk of the global batch
    separately (its own batch statistics), the gradients averaged, the first chunk's running statistics kept
    (rank 0's); subclasses implement ``train_step`` in their framework."""

    def __init__(self, adapter: Any, replicas: int) -> None:
        self.adapter = adapter
        self.replicas = replicas

    def chunks(self, x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The replicas' shares of a global batch, in rank order."""
        per = len(x) // self.replicas
        return [(x[i * per:(i + 1) * per], y[i * per:(i + 1) * per]) for i in range(self.replicas)]


def python_module_command(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter (for launchers that are Python modules)."""
    return [sys.executable, "-m", module, *args]
