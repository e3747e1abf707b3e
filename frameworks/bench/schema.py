"""The result format, in one place: what every benchmark and every benchmark process records, and the run
document that holds them. ``measure`` and ``bench`` write it; ``report``, ``gate``, the statistics, the
dashboard and the tests read it back through ``load_run``.

A run document is pytest-benchmark JSON (its ``benchmarks`` list, ``machine_info``, ``commit_info``) with
the suite's fields added: a schema name and version at the top, the settings, one record per process, and
in each benchmark's ``extra_info`` the fields of a ``BenchRecord``, every timed round included.

An export summary (``python -m frameworks export``) is a document of its own (``EXPORT_SCHEMA``): one
``ExportRecord`` per artifact, with its cold start and every request's time (and, with ``export --int8``, its
test accuracy and a quantized artifact's ``AccuracyDrop``), and the ``Agreement`` of one format's artifacts
across frameworks; ``load_exports`` reads it back. Fields added later have defaults, so older summaries stay
readable at the same ``EXPORT_SCHEMA_VERSION``.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import statistics
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BenchError

SCHEMA = "mnist-framework-bench"
SCHEMA_VERSION = 2

# What a benchmark measured (BenchRecord.kind). CALIBRATION, a fixed numpy workload, is no longer run: the gate
# experiment (scripts/gate_experiment.py) showed that dividing by it added variance; its recordings hold it.
STEP, EPOCH, FIDELITY, LATENCY, TIME_TO_ACCURACY, CALIBRATION, IDIOMATIC = (
    "step", "epoch", "fidelity", "latency", "time-to-accuracy", "calibration", "idiomatic")


BENCHMARKS, ACCURACY = "benchmarks", "accuracy"  # what a results document holds (its "document" key)


class ResultsError(BenchError, ValueError):
    """A results file that cannot be used: not the suite's, another schema version, or unreadable."""


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's type (ints count as floats; bools are not numbers)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (arg,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_conforms(v, arg) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return True


def _checked(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` for ``cls``'s fields, each checked against its type; raises ``ResultsError`` naming the field."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and not _conforms(value, hints[name]):
            raise ResultsError(f"{where}: field {name!r} holds {type(value).__name__} {str(value)[:40]!r}, "
                               f"not {hints[name]}")
    return values


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
    def median_s(self) -> float:
        return statistics.median(self.samples_s) if self.samples_s else math.nan

    @property
    def images_per_s(self) -> float:
        median = self.median_s
        return self.images / median if median > 0 else math.nan

    @property
    def column(self) -> str:
        """How reports label the framework: with the variant unless it is the framework's default, and the
        precision unless it is fp32 (``pytorch``, ``pytorch [compile]``, ``pytorch [bf16]``,
        ``pytorch [compile, bf16]``)."""
        from ..registry import FRAMEWORKS

        info = FRAMEWORKS.get(self.framework)
        default = info.default_variant if info else ""
        marks = [m for m in (self.variant if self.variant not in ("", default) else "",
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
        _checked(cls, values, f"{source}: benchmark {values['name']!r}")
        # values no measurement can produce: refused here, named, instead of crashing a chart or vanishing
        if any(not (v > 0 and math.isfinite(v)) for v in values["samples_s"]):
            raise ResultsError(f"{source}: benchmark {values['name']!r} has times in samples_s that no measurement "
                               "gives (zero, negative or not finite)")
        if values["images"] < 1:
            raise ResultsError(f"{source}: benchmark {values['name']!r} processes {values['images']} images per call "
                               "(at least 1)")
        return cls(**values)


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
        values = _checked(cls, {k: v for k, v in payload.items() if k in names}, f"{source}: process record")
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in values]
        if missing:
            raise ResultsError(f"{source}: a process record lacks {', '.join(missing)}")
        if isinstance(values.get("noise"), dict):
            noise_fields = {f.name for f in dataclasses.fields(ProcessNoise)}
            noise = _checked(ProcessNoise, {k: v for k, v in values["noise"].items() if k in noise_fields},
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

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.machine.get("versions", {}))

    def process(self, label: str | None) -> ProcessRecord | None:
        return next((p for p in self.processes if p.label == label), None)


def document(*, command: list[str], settings: dict[str, Any], processes: list[ProcessRecord],
             benchmarks: list[dict[str, Any]], machine_info: dict[str, Any], commit_info: dict[str, Any],
             not_converged: list[dict[str, Any]], datetime: str, suite_version: str,
             interrupted: bool = False) -> dict[str, Any]:
    """A merged run document (what ``bench`` writes as results.json)."""
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "document": BENCHMARKS,
            "suite_version": suite_version, "datetime": datetime, "command": command, "settings": settings,
            "interrupted": interrupted, "processes": [dataclasses.asdict(p) for p in processes],
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


def read_text(path: str | os.PathLike) -> str:
    """A results file's text, gzipped or not (committed results are gzipped: every round is kept)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode()


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A results document, checked to be the suite's and of this schema version."""
    try:
        doc = json.loads(read_text(path))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: not a results file (a JSON {type(doc).__name__}, not an object)")
    if doc.get("schema") != SCHEMA:
        what = "pytest-benchmark JSON from another project" if "benchmarks" in doc else "not a results file"
        raise ResultsError(f"{path}: {what}: it has no \"schema\": \"{SCHEMA}\" marker. Give JSON written by "
                           "python -m frameworks bench, or by pytest with this suite's plugin and --benchmark-json")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(f"{path}: results schema version {version!r}, but this suite (version "
                           f"{SCHEMA_VERSION}) reads only version {SCHEMA_VERSION}; re-run the benchmarks with "
                           "this version of the suite, or read the file with the version that wrote it")
    return doc


def document_kind(doc: dict[str, Any]) -> str:
    """What a results document holds: "benchmarks" (bench, or one process's pytest JSON) or "accuracy"."""
    return str(doc.get("document", BENCHMARKS))


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
               command=[str(c) for c in doc.get("command", [])], interrupted=bool(doc.get("interrupted")))


# --- accuracy over seeds ------------------------------------------------------------------------------------
@dataclass
class TrainingRecord:
    """One training run of the recipe from one seed: the test accuracy it reached, and how it got there."""

    framework: str
    network: str
    device: str
    seed: int
    epochs: int
    accuracy: float | None  # final test accuracy; None when the run failed
    accuracy_per_epoch: list[float] = field(default_factory=list)
    seconds: float | None = None  # training time (fit), evaluation excluded
    target: float | None = None  # the spec's time-to-accuracy target
    seconds_to_target: float | None = None  # training seconds until the first epoch at or above the target
    diverged: bool = False  # a non-finite loss
    error: str | None = None  # why the run failed (it is counted, never dropped)
    version: str = ""
    process: str | None = None
    world_size: int = 1  # data-parallel replicas that trained it (1: one process, the framework's own fit)
    precision: str = "fp32"  # frameworks.precision; older results were all fp32

    @property
    def label(self) -> str:
        """The column it is compared under: the framework, its precision unless fp32, and its world size when
        trained data parallel."""
        name = self.framework if self.precision == "fp32" else f"{self.framework} [{self.precision}]"
        return name if self.world_size == 1 else f"{name} x{self.world_size}"

    @property
    def reached_target(self) -> bool:
        return self.seconds_to_target is not None

    @classmethod
    def from_json(cls, payload: Any, source: str = "") -> TrainingRecord:
        if not isinstance(payload, dict):
            raise ResultsError(f"{source}: a training record that is not an object")
        names = {f.name for f in dataclasses.fields(cls)}
        values = _checked(cls, {k: v for k, v in payload.items() if k in names}, f"{source}: training record")
        try:
            return cls(**values)
        except TypeError as exc:
            raise ResultsError(f"{source}: a malformed training record ({exc})") from None


@dataclass
class AccuracyRun:
    """An accuracy results file, read."""

    path: str
    trainings: list[TrainingRecord]
    settings: dict[str, Any]
    machine: dict[str, Any]
    datetime: str
    command: list[str] = field(default_factory=list)
    interrupted: bool = False


def accuracy_document(*, command: list[str], settings: dict[str, Any], trainings: list[TrainingRecord],
                      machine: dict[str, Any], datetime: str, suite_version: str, interrupted: bool = False,
                      commit_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """An accuracy run document (what ``python -m frameworks accuracy`` writes as accuracy.json)."""
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "document": ACCURACY, "suite_version": suite_version,
            "datetime": datetime, "command": command, "settings": settings, "interrupted": interrupted,
            "trainings": [dataclasses.asdict(t) for t in trainings],
            "machine_info": {"mnist_framework_bench": machine}, "commit_info": commit_info or {}}


def load_accuracy(path: str | os.PathLike, doc: dict[str, Any] | None = None) -> AccuracyRun:
    """Read an accuracy results file."""
    doc = read_json(path) if doc is None else doc
    source = str(path)
    if document_kind(doc) != ACCURACY or not isinstance(doc.get("trainings"), list):
        raise ResultsError(f"{source}: not an accuracy results file (no trainings list)")
    machine_info = doc.get("machine_info") if isinstance(doc.get("machine_info"), dict) else {}
    return AccuracyRun(path=source, trainings=[TrainingRecord.from_json(t, source) for t in doc["trainings"]],
                       settings=doc.get("settings") if isinstance(doc.get("settings"), dict) else {},
                       machine=machine_info.get("mnist_framework_bench", {}) or {},
                       datetime=str(doc.get("datetime", "")), command=[str(c) for c in doc.get("command", [])],
                       interrupted=bool(doc.get("interrupted")))


def load_any(path: str | os.PathLike) -> Run | AccuracyRun:
    """Read any results file the suite writes."""
    doc = read_json(path)
    return load_accuracy(path, doc) if document_kind(doc) == ACCURACY else load_run(path, doc)


# --- latency ---------------------------------------------------------------------------------------------
def latency_percentiles(samples_s: list[float]) -> dict[str, float | int]:
    """Per-request latency figures of a list of request times (numpy percentiles, linear interpolation)."""
    import numpy as np

    if not samples_s:
        raise ValueError("no request times to summarise")
    values = np.asarray(samples_s, np.float64)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"requests": len(values), "p50_s": float(p50), "p90_s": float(p90), "p99_s": float(p99),
            "max_s": float(values.max()), "mean_s": float(values.mean())}


# --- deployment exports: python -m frameworks export writes one summary per run ------------------------------
EXPORT_SCHEMA = "mnist-framework-bench-export"
EXPORT_SCHEMA_VERSION = 1
EXPORT_SUMMARY = "export-summary.json"

# What became of an artifact (ExportRecord.status).
OK, UNEQUAL, FAILED, SKIPPED = "ok", "unequal", "failed", "skipped"
STATUSES = (OK, UNEQUAL, FAILED, SKIPPED)


@dataclass
class ColdStart:
    """A fresh process serving an artifact: seconds to import its runtime, to load the artifact, and to answer
    the first request (one image)."""

    import_s: float
    load_s: float
    first_prediction_s: float

    @property
    def total_s(self) -> float:
        return self.import_s + self.load_s + self.first_prediction_s


@dataclass
class Latency:
    """Every request's time at one batch size, served one request after another (a warm process)."""

    batch: int
    samples_s: list[float]

    @property
    def percentiles(self) -> dict[str, float | int]:
        return latency_percentiles(self.samples_s)


@dataclass
class AccuracyDrop:
    """A quantized artifact against the artifact it was quantized from, on the same MNIST test images: the source's
    accuracy, the drop (source minus quantized) with its paired confidence interval, the images only one of them
    classifies right, and the margin the interval's upper end must stay under for the quantized artifact to pass."""

    source_accuracy: float
    drop: float
    low: float
    high: float
    confidence: float
    margin: float
    only_source: int  # images the source classifies right and the quantized artifact wrong
    only_quantized: int  # and the other way round
    method: str = ""

    @property
    def within_margin(self) -> bool:
        return self.high < self.margin


@dataclass
class ExportRecord:
    """One artifact of one framework's network: how it was exported, whether its runtime computes what its
    source framework computes, and how it serves (cold start, latency, memory)."""

    framework: str  # the source framework that exported it
    network: str
    format: str  # "onnx", "torch.export", "tf_saved_model", "caffe"
    status: str  # OK, UNEQUAL, FAILED, SKIPPED
    reason: str = ""  # why it is not OK
    runtime: str = ""  # the registry framework whose runtime served it
    runtime_details: dict[str, Any] = field(default_factory=dict)  # version, execution provider, threads
    tool: str = ""  # what wrote it
    source_version: str = ""
    path: str = ""  # relative to the summary's directory
    files: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    input_layout: str = ""
    export_s: float | None = None
    images: int = 0  # real MNIST test images compared with the source framework's forward
    max_relative_error: float | None = None  # the worst image's ||artifact - source|| / ||source||
    max_abs_error: float | None = None
    cold_start: ColdStart | None = None
    latency: list[Latency] = field(default_factory=list)
    serving_peak_memory_mib: float | None = None  # peak resident set of the serving process while serving
    # Quantized serving (export --int8); absent from older summaries, which read as fp32 without these figures.
    precision: str = "fp32"  # "int8": quantized by its runtime's tooling from the artifact named in derived_from
    derived_from: str = ""  # the format it was quantized from (the same framework's and network's artifact)
    quantization: dict[str, Any] = field(default_factory=dict)  # the tool, the scheme, the calibration images
    test_images: int = 0  # MNIST test images it classified (the whole test set with export --int8)
    test_accuracy: float | None = None
    class_agreement: float | None = None  # quantized: share of the compared images classified as the source does
    accuracy_drop: AccuracyDrop | None = None  # quantized: against the artifact it was quantized from

    @classmethod
    def from_json(cls, payload: dict[str, Any], source: str = "") -> ExportRecord:
        values = {k: v for k, v in payload.items() if k in {f.name for f in dataclasses.fields(cls)}}
        try:
            if isinstance(values.get("cold_start"), dict):
                parts = {f.name for f in dataclasses.fields(ColdStart)}
                values["cold_start"] = ColdStart(**{k: v for k, v in values["cold_start"].items() if k in parts})
            if isinstance(values.get("accuracy_drop"), dict):
                parts = {f.name for f in dataclasses.fields(AccuracyDrop)}
                values["accuracy_drop"] = AccuracyDrop(**{k: v for k, v in values["accuracy_drop"].items()
                                                          if k in parts})
            values["latency"] = [Latency(batch=int(item["batch"]), samples_s=[float(t) for t in item["samples_s"]])
                                 for item in values.get("latency") or []]
            record = cls(**values)
        except (TypeError, KeyError, ValueError) as exc:
            raise ResultsError(f"{source}: a malformed export record ({exc})") from None
        if record.status not in STATUSES:
            raise ResultsError(f"{source}: export status {record.status!r} is not one of {', '.join(STATUSES)}")
        return record

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for item, latency in zip(out["latency"], self.latency, strict=True):
            item.update(latency.percentiles)
        if self.cold_start is not None:
            out["cold_start"]["total_s"] = self.cold_start.total_s
        if self.accuracy_drop is not None:
            out["accuracy_drop"]["within_margin"] = self.accuracy_drop.within_margin
        return out


@dataclass
class Agreement:
    """Two artifacts of one format and network, from different source frameworks, served by the same runtime
    on the same images: the worst image's relative difference between their outputs."""

    network: str
    format: str
    frameworks: list[str]
    max_relative_error: float
    tolerance: float

    @property
    def agree(self) -> bool:
        return self.max_relative_error <= self.tolerance


@dataclass
class ExportSummary:
    """An export run, read: every artifact's record, the cross-framework agreements, and the run's settings."""

    path: str
    records: list[ExportRecord]
    agreements: list[Agreement]
    settings: dict[str, Any]
    machine: dict[str, Any]
    left_out: dict[str, str]
    datetime: str
    command: list[str] = field(default_factory=list)


def export_document(*, command: list[str], settings: dict[str, Any], machine: dict[str, Any],
                    records: list[ExportRecord], agreements: list[Agreement], left_out: dict[str, str],
                    datetime: str, suite_version: str, commit_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary ``export`` writes beside the artifacts (with the source commit it was run from)."""
    return {"schema": EXPORT_SCHEMA, "schema_version": EXPORT_SCHEMA_VERSION, "suite_version": suite_version,
            "datetime": datetime, "command": command, "commit_info": commit_info or {}, "settings": settings,
            "machine": machine, "left_out": left_out, "records": [r.to_json() for r in records],
            "agreements": [{**dataclasses.asdict(a), "agree": a.agree} for a in agreements]}


def load_exports(path: str | os.PathLike) -> ExportSummary:
    """Read an export summary written by ``python -m frameworks export``."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != EXPORT_SCHEMA:
        raise ResultsError(f"{path}: not an export summary (no \"schema\": \"{EXPORT_SCHEMA}\" marker); give the "
                           f"{EXPORT_SUMMARY} written by python -m frameworks export")
    if doc.get("schema_version") != EXPORT_SCHEMA_VERSION:
        raise ResultsError(f"{path}: export summary version {doc.get('schema_version')!r}, but this suite reads "
                           f"version {EXPORT_SCHEMA_VERSION}; re-run python -m frameworks export")
    source = str(path)
    if not isinstance(doc.get("records"), list):
        raise ResultsError(f"{source}: no records list")
    records = [ExportRecord.from_json(r, source) for r in doc["records"] if isinstance(r, dict)]
    try:
        agreements = [Agreement(**{k: v for k, v in a.items() if k != "agree"}) for a in doc.get("agreements", [])]
    except TypeError as exc:
        raise ResultsError(f"{source}: a malformed agreement ({exc})") from None
    return ExportSummary(path=source, records=records, agreements=agreements,
                         settings=doc.get("settings") if isinstance(doc.get("settings"), dict) else {},
                         machine=doc.get("machine") if isinstance(doc.get("machine"), dict) else {},
                         left_out=doc.get("left_out") if isinstance(doc.get("left_out"), dict) else {},
                         datetime=str(doc.get("datetime", "")), command=[str(c) for c in doc.get("command", [])])
