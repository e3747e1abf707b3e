"""A data-parallel job as a file every rank reads, and the files each rank writes back.

The parent writes one ``Job`` as JSON; each rank (or the lone process of device mode, or the single-process
reference) runs ``frameworks.parallel.worker`` on it and writes its own result file atomically, named by its
rank, so a rank that dies leaves its file absent rather than half written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import write_json

CHECK, TIME, REFERENCE, TRAIN = "check", "time", "reference", "train"


@dataclass(frozen=True)
class Fault:
    """A fault injected on purpose (tests of the check and of fault handling): ``corrupt`` gives ``rank`` wrong
    labels from ``step`` on (its gradient is wrong), ``crash`` kills ``rank`` at ``step``."""

    kind: str
    rank: int
    step: int = 1


@dataclass(frozen=True)
class Job:
    """What every process of one launch does."""

    framework: str
    network: str
    mode: str
    world_size: int
    task: str
    output: str  # directory the ranks write into
    global_batch: int
    seed: int = 0
    device: str = "cpu"  # "cuda": one GPU per rank (the launcher's LOCAL_RANK), NCCL where the engine uses it
    threads: int | None = None
    mnist_dir: str | None = None
    steps: int = 3  # check/reference: optimizer steps; checkpoints after step 1 and the last
    epochs: int | None = None  # train: epochs over the training set (default: the recipe's)
    warmup: int = 5  # time: untimed steps first
    rounds: int = 30  # time: timed steps
    no_sync: bool = False  # time: also time steps without gradient communication
    dropout: bool = False
    weights: str | None = None  # canonical initial weights (.npz) loaded by every rank
    timeout_s: float = 120.0
    fault: Fault | None = None
    labels: dict[str, Any] = field(default_factory=dict)  # what the parent wants echoed into the results

    @property
    def checkpoints(self) -> tuple[int, ...]:
        return tuple(sorted({1, self.steps}))

    def write(self, path: str | Path) -> Path:
        return write_json(path, dataclasses.asdict(self))

    @classmethod
    def read(cls, path: str | Path) -> Job:
        payload = json.loads(Path(path).read_text())
        fault = payload.pop("fault", None)
        return cls(**payload, fault=Fault(**fault) if fault else None)


def rank_file(output: str | Path, task: str, rank: int, suffix: str) -> Path:
    """Where one rank writes its result."""
    return Path(output) / f"{task}-rank{rank}{suffix}"
