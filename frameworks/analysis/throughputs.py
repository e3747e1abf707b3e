"""Per-process throughputs from stored runs: the units every comparison over runs and versions is computed from.

A process is one unit (``stats`` explains why): its median round as images/s (``stats.per_process``, the median over
its records of the benchmark). ``bench --repeats N`` gives N processes per framework in one run. Figures are
comparable only within a ``Benchmark``: the same machine and ``BenchmarkKey.workload`` (device, kind, network,
phase, batch, images per call and thread count).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..results import EPOCH, STEP, BenchmarkKey, BenchRecord
from ..stats import Estimate, per_process, throughput
from .store import StoredRun

THROUGHPUT_KINDS = (STEP, EPOCH)
PHASE_ORDER = ("forward", "backward", "train_step", "epoch-staged", "epoch-framework")


@dataclass(frozen=True)
class Benchmark:
    """What makes two figures of a store comparable: the machine, and the benchmark whoever ran it
    (``BenchmarkKey.workload``)."""

    machine: str
    key: BenchmarkKey

    @classmethod
    def of(cls, machine: str, record: BenchRecord) -> Benchmark:
        return cls(machine, record.key.workload)

    @property
    def device(self) -> str:
        return self.key.device

    @property
    def network(self) -> str:
        return self.key.network

    @property
    def phase(self) -> str:
        return self.key.phase

    @property
    def kind(self) -> str:
        return self.key.kind

    @property
    def batch(self) -> int | None:
        return self.key.batch

    @property
    def images(self) -> int:
        return self.key.images

    @property
    def threads(self) -> int | None:
        return self.key.threads

    @property
    def size(self) -> str:
        """How much one timed call processes: the batch, or an epoch's images."""
        return f"{self.images:,} images" if self.kind == EPOCH else f"batch {self.batch}"

    @property
    def label(self) -> str:
        """The benchmark in words, without the machine and device (``where`` says those)."""
        threads = f", {self.threads} threads" if self.threads else ""
        return f"{self.network} {self.phase}, {self.size}{threads}"

    @property
    def where(self) -> str:
        return f"{self.device} on {self.machine}"

    @property
    def order(self) -> tuple:
        """A reading order: machine, device, network, phase as the report orders them, size."""
        phase = PHASE_ORDER.index(self.phase) if self.phase in PHASE_ORDER else len(PHASE_ORDER)
        return (self.machine, self.device, self.network, phase, self.phase, self.batch or 0, self.images)


@dataclass(frozen=True)
class Unit:
    """One process's throughput on one benchmark."""

    benchmark: Benchmark
    column: str  # the framework as reports label it (with a non-default variant)
    framework: str
    version: str
    run: str  # the stored run's name
    when: dt.datetime
    commit: str
    process: str
    images_per_s: float
    key: BenchmarkKey  # the record's: ``benchmark`` with who ran it (framework, variant, precision)


def units(runs: Iterable[StoredRun]) -> list[Unit]:
    """Every process's throughput on every step and epoch benchmark of ``runs`` (``stats.per_process`` over the
    records of each ``BenchmarkKey`` and version)."""
    out = []
    for stored in runs:
        grouped: dict[tuple[BenchmarkKey, str], list[BenchRecord]] = defaultdict(list)
        for r in stored.run.records:
            if r.kind not in THROUGHPUT_KINDS or not math.isfinite(r.images_per_s) or r.images_per_s <= 0:
                continue
            grouped[(r.key, r.version)].append(r)
        for (_, version), records in grouped.items():
            first = records[0]
            bench = Benchmark.of(stored.machine, first)
            figures = per_process((r.process or stored.name, r.images_per_s) for r in records)
            for process, images_per_s in figures.items():
                out.append(Unit(bench, first.column, first.framework, version, stored.name, stored.when, stored.commit,
                                process, images_per_s, first.key))
    return out


K = TypeVar("K", bound=Hashable)


def group(items: Iterable[Unit], key: Callable[[Unit], K]) -> dict[K, list[Unit]]:
    """``items`` grouped by ``key``, in first-seen order."""
    out: dict[K, list[Unit]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return dict(out)


def estimate(group_units: Sequence[Unit]) -> Estimate:
    """Throughput over the processes of ``group_units`` (geometric mean, bootstrap CI over processes)."""
    return throughput([u.images_per_s for u in group_units])


def natural_key(text: str) -> tuple:
    """Sort key that orders version strings by their numbers: 2.9 < 2.10 < 2.10.1."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)
