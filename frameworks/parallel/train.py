"""Training to accuracy data parallel: one launch per (framework, network, seed), the recipe's global batch split
over the replicas, the record rank 0 writes read back as a ``TrainingRecord`` with its world size, so the accuracy
report compares it with the same framework trained in one process (TOST for equivalence)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..results import TrainingRecord
from ..specs import get_network
from .job import TRAIN, Job
from .launch import LaunchFailed, check_plan, launch, usable_cores
from .modes import choose_mode


def train(framework: str, network: str, seed: int, world_size: int, *, mnist_dir: str | None = None,
          epochs: int | None = None, timeout_s: float = 3600.0) -> TrainingRecord:
    """Train ``network`` data parallel from ``seed``; a failed launch is a failed record with the reason."""
    spec = get_network(network)
    mode = choose_mode(framework, None)
    threads = max(1, usable_cores() // world_size) if mode == "processes" else usable_cores()
    check_plan(framework, mode, world_size, spec.recipe.batch_size, threads)
    with tempfile.TemporaryDirectory(prefix="mfb-dp-train-") as tmp:
        job = Job(framework=framework, network=network, mode=mode, world_size=world_size, task=TRAIN, output=tmp,
                  global_batch=spec.recipe.batch_size, seed=seed, threads=threads, mnist_dir=mnist_dir,
                  epochs=epochs, dropout=True)
        try:
            (path,) = launch(job, timeout_s=timeout_s, expect_ranks=[0])
        except LaunchFailed as exc:
            return TrainingRecord(framework=framework, network=network, device="cpu", seed=seed,
                                  epochs=epochs or spec.recipe.epochs, accuracy=None, error=str(exc),
                                  world_size=world_size)
        return TrainingRecord.from_json(json.loads(Path(path).read_text()), str(path))


def train_all(frameworks: Sequence[str], networks: Sequence[str], seeds: int, world_sizes: Sequence[int], *,
              mnist_dir: str | None = None, epochs: int | None = None) -> list[TrainingRecord]:
    """Every (world size > 1, framework, network, seed), printing each result as it finishes."""
    records = []
    for n in (w for w in world_sizes if w > 1):
        for framework in frameworks:
            for network in networks:
                for seed in range(seeds):
                    record = train(framework, network, seed, n, mnist_dir=mnist_dir, epochs=epochs)
                    records.append(record)
                    accuracy = "failed" if record.accuracy is None else f"{record.accuracy:.2%}"
                    print(f"{record.label:18s} {network:10s} seed {seed}: {accuracy}"
                          + (f" ({record.error})" if record.error else ""), flush=True)
    return records
