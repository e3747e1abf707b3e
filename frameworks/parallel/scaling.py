"""The scaling measurements: fresh launches of every configuration, interleaved over repeats, each rank timing
its own steps.

On a machine with C cores, the configurations at a fixed global batch B (strong scaling) are one process with
one thread, one process with C threads, and N ranks x (C / N) threads; at a fixed per-rank batch B (weak
scaling), N ranks x (C / N) threads on N x B against one process with one thread on B. With C = 2 these compare
ways to use fixed hardware (2 ranks x 1 thread against 1 process x 2 threads), not scaling to more of it.
"""

from __future__ import annotations

import json
import platform
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters.data_parallel import DEVICES
from ..environment import cpu_model
from ..fileio import write_json
from ..specs import get_network
from .job import TIME, Job
from .launch import LOCAL, Topology, check_plan, launch, usable_cores


@dataclass(frozen=True)
class Config:
    """One way to run the step: world size, threads per process, the global batch, and what it is for."""

    label: str  # "1x1", "1x2", "2x1", "2x1 weak"
    world_size: int
    threads: int
    global_batch: int
    kind: str  # "baseline", "threads", "strong", "weak"


def configs(network: str, world_sizes: Sequence[int], mode: str, cores: int) -> list[Config]:
    """The configurations measured for one network and mode on ``cores`` cores."""
    batch = get_network(network).recipe.batch_size
    out = [Config("1x1", 1, 1, batch, "baseline")]
    if cores > 1:
        out.append(Config(f"1x{cores}", 1, cores, batch, "threads"))
    for n in world_sizes:
        if n < 2:
            continue
        if mode == DEVICES:  # one process driving n devices, using every core
            label, threads = f"1x{cores} {n} devices", cores
        else:
            threads = max(1, cores // n)
            label = f"{n}x{threads}"
        out.append(Config(label, n, threads, batch, "strong"))
        out.append(Config(f"{label} weak", n, threads, batch * n, "weak"))
    return out


def measure(frameworks: Sequence[str], networks: Sequence[str], *, mode_of: Callable[[str], str],
            world_sizes: Sequence[int], repeats: int, output: Path, mnist_dir: str | None = None,
            rounds: int = 30, warmup: int = 5, topology: Topology = LOCAL, timeout_s: float = 600.0,
            progress: Callable[[str], None] = print) -> Path:
    """Run every configuration of every framework and network ``repeats`` times, interleaved (repeat-major), and
    write ``scaling.json`` into ``output``: one record per rank per launch. Returns its path."""
    cores = usable_cores()
    plan = [(fw, net, mode_of(fw), cfg) for fw in frameworks for net in networks
            for cfg in configs(net, world_sizes, mode_of(fw), cores)]
    for fw, _net, mode, cfg in plan:  # every check before the first launch
        check_plan(fw, mode, cfg.world_size, cfg.global_batch, cfg.threads, topology)
    records: list[dict[str, Any]] = []
    path = output / "scaling.json"
    started = time.time()
    total = repeats * len(plan)
    for repeat in range(repeats):
        for i, (fw, net, mode, cfg) in enumerate(plan):
            done = repeat * len(plan) + i
            progress(f"[{done + 1}/{total}] {fw} {net} {cfg.label} ({cfg.kind}, batch {cfg.global_batch}), "
                     f"repeat {repeat + 1}/{repeats}, {time.time() - started:.0f} s elapsed")
            with tempfile.TemporaryDirectory(prefix="mfb-scaling-") as tmp:
                job = Job(framework=fw, network=net, mode=mode, world_size=cfg.world_size, task=TIME, output=tmp,
                          global_batch=cfg.global_batch, threads=cfg.threads, mnist_dir=mnist_dir, rounds=rounds,
                          warmup=warmup, no_sync=cfg.kind in ("strong", "weak"), dropout=True,
                          labels={"framework": fw, "network": net, "config": cfg.label, "kind": cfg.kind,
                                  "global_batch": cfg.global_batch, "repeat": repeat, "order": done})
                for file in launch(job, topology, timeout_s=timeout_s):
                    records.append(json.loads(Path(file).read_text()))
            write_json(path, _document(records, repeats, world_sizes, cores, started))  # kept as it grows
    return path


def _document(records: list[dict[str, Any]], repeats: int, world_sizes: Sequence[int], cores: int,
              started: float) -> dict[str, Any]:
    return {"kind": "scaling", "version": 1, "repeats": repeats, "world_sizes": list(world_sizes),
            "machine": {"host": socket.gethostname(), "cpu": cpu_model(), "cores": cores,
                        "python": platform.python_version()},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 1), "records": records}
