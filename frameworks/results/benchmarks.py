"""Benchmark runs: what every benchmark and every benchmark process records, and the run document that holds
them. ``measure`` and ``bench`` write it; ``report``, ``gate``, the statistics, the dashboard and the tests read it
back through ``load_run``.

A run document is pytest-benchmark JSON (its ``benchmarks`` list, ``machine_info``, ``commit_info``) with
the suite's fields added: a schema name and version at the top, the settings, one record per process, and
in each benchmark's ``extra_info`` the fields of a ``BenchRecord``, every timed round included."""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
from dataclasses import dataclass, field
from typing import Any

from .validation import BENCHMARKS, SCHEMA, SCHEMA_VERSION, ResultsError, check_fields, document_kind, read_json


@dataclass
class BenchRecord:
    """One benchmark result: what was run, where, and every timed round (seconds per call)."""

    name: str  # pytest's test id: unique within a process
    kind: str  # STEP, EPOCH, FIDELITY, LATENCY, TIME_TO_ACCURACY, CALIBRATION, IDIOMATIC
    framework: str
    network: str
    device: str
    phase: str  # forward, backward, train_step, epoch-staged, epoch-framework, latency, ...
    samples_s: list[float]
    images: int  # images one timed call processes
    variant: str = ""
    #: whether ``variant`` was the framework's default when measured: stored, so a label needs no registry
    default_variant: bool = True
    precision: str = "fp32"  # frameworks.precision; results written before it existed were all fp32
    #: the numeric settings the figure depends on (``Adapter.numerics`` and the timing's warm-up)
    manifest: dict[str, Any] = field(default_factory=dict)
    batch: int | None = None
    version: str = ""
    threads: int | None = None
    parameters: int | None = None
    first_call_s: float | None = None
    peak_memory_mib: float | None = None
    peak_memory_kind: str | None = None
    process: str | None = None  # the label of the process (one of the run's ProcessRecords)
    repeat: int | None = None  # which repeat of the run (1-based) that process was
    details: dict[str, Any] = field(default_factory=dict)  # what only this kind has (fidelity, latency...)

    # --- derived --------------------------------------------------------------------------------------
    @property
    def key(self) -> BenchmarkKey:
        """Which benchmark this record is a figure of (``BenchmarkKey``)."""
        return BenchmarkKey.of(self)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s) if self.samples_s else math.nan

    @property
    def images_per_s(self) -> float:
        median = self.median_s
        return self.images / median if median > 0 else math.nan

    @property
    def column(self) -> str:
        """How reports label the framework: with the variant unless it was the framework's default, and the
        precision unless it is fp32 (``pytorch``, ``pytorch [compile]``, ``pytorch [bf16]``,
        ``pytorch [compile, bf16]``). From the record alone: the same label whatever the reader has installed."""
        marks = [m for m in ("" if self.default_variant else self.variant,
                             self.precision if self.precision != "fp32" else "") if m]
        return f"{self.framework} [{', '.join(marks)}]" if marks else self.framework

    # --- (de)serialisation ----------------------------------------------------------------------------
    def extra_info(self) -> dict[str, Any]:
        """The fields as pytest-benchmark's ``extra_info`` holds them."""
        out = dataclasses.asdict(self)
        out.pop("name")
        out["images_per_s"] = None if math.isnan(self.images_per_s) else self.images_per_s
        return out

    @classmethod
    def from_benchmark(cls, entry: dict[str, Any], source: str = "") -> BenchRecord:
        """A record from one entry of a ``benchmarks`` list."""
        info = entry.get("extra_info")
        if not isinstance(info, dict):
            raise ResultsError(f"{source}: a benchmark without extra_info")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in info.items() if k in names}
        values["name"] = entry.get("fullname") or entry.get("name", "")
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in values]
        if missing:
            raise ResultsError(f"{source}: benchmark {values['name']!r} lacks {', '.join(missing)}")
        check_fields(cls, values, f"{source}: benchmark {values['name']!r}")
        # values no measurement can produce: refused here, named, instead of crashing a chart or vanishing
        if any(not (v > 0 and math.isfinite(v)) for v in values["samples_s"]):
            raise ResultsError(f"{source}: benchmark {values['name']!r} has times in samples_s that no measurement "
                               "gives (zero, negative or not finite)")
        if values["images"] < 1:
            raise ResultsError(f"{source}: benchmark {values['name']!r} processes {values['images']} images per call "
                               "(at least 1)")
        return cls(**values)


@dataclass(frozen=True)
class BenchmarkKey:
    """What makes two records figures of the same benchmark: who ran it (framework, variant, precision) and what
    ran (kind, network, device, phase, batch, images per timed call, threads). Every reader that groups records
    (the report's comparisons, the gate, throughputs and with them the versions view and the dashboard, the
    deployment section) groups them by this key or by one of the projections below, each of which says what it
    leaves out and why; nothing else about a record (its test id, version, process, repeat, manifest, or its
    ``column`` label, which also depends on ``default_variant``) makes it another benchmark."""

    framework: str
    variant: str
    precision: str
    kind: str
    network: str
    device: str
    phase: str
    batch: int | None
    images: int
    threads: int | None

    @classmethod
    def of(cls, record: BenchRecord) -> BenchmarkKey:
        return cls(record.framework, record.variant, record.precision, record.kind, record.network, record.device,
                   record.phase, record.batch, record.images, record.threads)

    @property
    def workload(self) -> BenchmarkKey:
        """The same benchmark whoever ran it (framework, variant and precision blank): what the frameworks of one
        stored run are compared on (``analysis.throughputs.Benchmark``). The thread count stays: those readers have
        no numeric-manifest check, so it is the key that keeps two thread counts apart."""
        return dataclasses.replace(self, framework="", variant="", precision="")

    @property
    def row(self) -> tuple[str, str, str, int | None, int]:
        """``(network, device, phase, batch, images)``: the report's row (``comparisons.Cell.row``), on which the
        frameworks of one kind are compared. The thread count is left out on purpose: two frameworks at different
        thread counts meet on one row and their comparison is marked and refused by the numeric manifest check
        (``threads`` is in ``precision.MUST_MATCH``; ``comparisons.like_for_like``, ``--allow-mismatch``) instead of
        vanishing as two unrelated rows, and a framework that cannot say its count (None: Caffe without OpenBLAS)
        still meets the others. A framework's own cell keeps the whole key, threads included."""
        return (self.network, self.device, self.phase, self.batch, self.images)

    @property
    def gated(self) -> tuple[str, str, str, int | None]:
        """``(network, device, phase, batch)``: the gate's projection (``gate.Key`` is the record's column and
        these). The gate compares two versions of the code running one command (the base's ``BENCH_ARGS`` in
        ``.github/scripts/benchmark-gate.sh``, ``--threads 2``) and gates step benchmarks only, so kind is fixed,
        images per call is the batch, and the thread count is the workflow's on both sides. Leaving images and
        threads out means a head that records them differently (say, the count in effect where the base wrote
        None) is still compared with its base instead of failing the gate as "absent from the head"; it keeps the
        names users give ``--removed``/``--out-of-scope`` (``gate.key_name``) and the recorded gate samples
        (``tests/data/gate_samples.json.gz``) in their shape."""
        return (self.network, self.device, self.phase, self.batch)

    def describe(self, column: str, *, threads: bool = False) -> str:
        """The benchmark in words as ``column`` (the record's label of framework, variant and precision) ran it: the
        batch where there is one, an epoch's images, and with ``threads`` the thread count where known."""
        what = f"{column} {self.network} {self.phase} {self.device}"
        if self.batch:
            what += f" batch {self.batch}"
        if self.phase.startswith("epoch"):
            what += f" ({self.images:,} images)"
        return what + (f", {self.threads} threads" if threads and self.threads else "")


@dataclass
class ProcessNoise:
    """What the machine was doing while one benchmark process ran, to explain (and flag) disturbed figures."""

    seconds: float
    others_cpu: float | None = None  # CPU used by everything but this process, as a fraction of all cores
    steal: float | None = None  # CPU time the hypervisor gave to other guests, as a fraction of all cores
    idle: float | None = None
    load_before: float | None = None  # 1-minute load average just before the process started
    load_after: float | None = None
    cpu_mhz: float | None = None  # mean current frequency over the cores, where readable

    # A process is "disturbed" when others used more than this share of the machine, or the hypervisor stole it.
    OTHERS_LIMIT = 0.10
    STEAL_LIMIT = 0.05

    @property
    def disturbed(self) -> str | None:
        """Why this process's figures are suspect, or None."""
        reasons = []
        if self.others_cpu is not None and self.others_cpu > self.OTHERS_LIMIT:
            reasons.append(f"other processes used {self.others_cpu:.0%} of the CPU")
        if self.steal is not None and self.steal > self.STEAL_LIMIT:
            reasons.append(f"the hypervisor stole {self.steal:.0%} of the CPU")
        return "; ".join(reasons) or None


@dataclass
class ProcessRecord:
    """One benchmark process of a run: what it ran, how it ended, and what the machine did meanwhile."""

    label: str
    frameworks: list[str]
    environment: dict[str, str]
    exit_code: int | None
    status: str  # in words
    outcome: str  # "ok", "partial", "failed", "crashed", "nothing", "interrupted"
    benchmarks: int
    json: str
    repeat: int = 1
    order: int = 0  # its position within its repeat's round
    started: str = ""  # ISO time
    versions: dict[str, str] = field(default_factory=dict)
    noise: ProcessNoise | None = None

    @classmethod
    def from_json(cls, payload: Any, source: str = "") -> ProcessRecord:
        if not isinstance(payload, dict):
            raise ResultsError(f"{source}: a process record that is not an object")
        names = {f.name for f in dataclasses.fields(cls)}
        values = check_fields(cls, {k: v for k, v in payload.items() if k in names}, f"{source}: process record")
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in values]
        if missing:
            raise ResultsError(f"{source}: a process record lacks {', '.join(missing)}")
        if isinstance(values.get("noise"), dict):
            noise_fields = {f.name for f in dataclasses.fields(ProcessNoise)}
            noise = check_fields(ProcessNoise, {k: v for k, v in values["noise"].items() if k in noise_fields},
                             f"{source}: process noise")
            if "seconds" not in noise:
                raise ResultsError(f"{source}: process noise without seconds")
            values["noise"] = ProcessNoise(**noise)
        return cls(**values)


@dataclass
class Run:
    """A results file, read: its records and everything about the run."""

    path: str
    records: list[BenchRecord]
    processes: list[ProcessRecord]
    settings: dict[str, Any]
    machine: dict[str, Any]  # the suite's machine details (mnist_framework_bench in machine_info)
    commit: dict[str, Any]
    datetime: str
    not_converged: list[dict[str, Any]]
    command: list[str] = field(default_factory=list)
    interrupted: bool = False
    stopped: str = ""  # why the run ended before its plan (--budget's words); empty if it ran its plan

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.machine.get("versions", {}))

    def process(self, label: str | None) -> ProcessRecord | None:
        return next((p for p in self.processes if p.label == label), None)


def document(*, command: list[str], settings: dict[str, Any], processes: list[ProcessRecord],
             benchmarks: list[dict[str, Any]], machine_info: dict[str, Any], commit_info: dict[str, Any],
             not_converged: list[dict[str, Any]], datetime: str, suite_version: str,
             interrupted: bool = False, stopped: str = "") -> dict[str, Any]:
    """A merged run document (what ``bench`` writes as results.json); ``stopped``: why it ended before its plan."""
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "document": BENCHMARKS,
            "suite_version": suite_version, "datetime": datetime, "command": command, "settings": settings,
            "interrupted": interrupted, "stopped": stopped, "processes": [dataclasses.asdict(p) for p in processes],
            "benchmarks": benchmarks, "not_converged": not_converged, "machine_info": machine_info,
            "commit_info": commit_info}


SIGNIFICANT_DIGITS = 5  # a round's time, kept to 5 significant digits: far below the timer's noise


def compact_samples(samples: list[float]) -> list[float]:
    """Round times to ``SIGNIFICANT_DIGITS`` (every round is kept; the JSON stays small enough to commit)."""
    return [float(f"{t:.{SIGNIFICANT_DIGITS}g}") for t in samples]


def compact(doc: dict[str, Any]) -> dict[str, Any]:
    """A results document without pytest-benchmark's own copy of the rounds (``stats.data``: the records'
    ``samples_s`` hold them), its rounds rounded by ``compact_samples``."""
    for entry in doc.get("benchmarks", []):
        if isinstance(entry, dict):
            if isinstance(entry.get("stats"), dict):
                entry["stats"].pop("data", None)
            info = entry.get("extra_info")
            if isinstance(info, dict) and isinstance(info.get("samples_s"), list):
                info["samples_s"] = compact_samples(info["samples_s"])
    return doc


def stamp(output_json: dict[str, Any], settings: dict[str, Any]) -> None:
    """Mark one process's pytest-benchmark JSON as the suite's (the plugin's update-json hook), without the
    duplicate copy of the rounds."""
    output_json["schema"] = SCHEMA
    output_json["schema_version"] = SCHEMA_VERSION
    output_json["document"] = BENCHMARKS
    compact(output_json)
    output_json["settings"] = settings


def load_run(path: str | os.PathLike, doc: dict[str, Any] | None = None) -> Run:
    """Read a benchmark results file (a merged run or one process's JSON) into a ``Run``."""
    doc = read_json(path) if doc is None else doc
    source = str(path)
    if document_kind(doc) != BENCHMARKS:
        raise ResultsError(f"{source}: holds {document_kind(doc)} results, not benchmarks")
    if not isinstance(doc.get("benchmarks"), list):
        raise ResultsError(f"{source}: no benchmarks list")
    records = []
    for entry in doc["benchmarks"]:
        if not isinstance(entry, dict):
            raise ResultsError(f"{source}: a benchmark entry that is not an object")
        records.append(BenchRecord.from_benchmark(entry, source))
    if not isinstance(doc.get("processes", []), list):
        raise ResultsError(f"{source}: processes is not a list")
    processes = [ProcessRecord.from_json(p, source) for p in doc.get("processes", [])]
    machine_info = doc.get("machine_info") if isinstance(doc.get("machine_info"), dict) else {}
    if not isinstance(doc.get("not_converged", []), list):
        raise ResultsError(f"{source}: not_converged is not a list")
    return Run(path=source, records=records, processes=processes,
               settings=doc.get("settings") if isinstance(doc.get("settings"), dict) else {},
               machine=machine_info.get("mnist_framework_bench", {}) or {},
               commit=doc.get("commit_info") if isinstance(doc.get("commit_info"), dict) else {},
               datetime=str(doc.get("datetime", "")),
               not_converged=[n for n in doc.get("not_converged", []) if isinstance(n, dict)],
               command=[str(c) for c in doc.get("command", [])], interrupted=bool(doc.get("interrupted")),
               stopped=str(doc.get("stopped") or ""))
