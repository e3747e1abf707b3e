"""Export summaries (``python -m frameworks export``): a document of its own (``EXPORT_SCHEMA``): one
``ExportRecord`` per artifact, with its cold start and every request's time (and, with ``export --int8``, its
test accuracy and a quantized artifact's ``AccuracyDrop``), and the ``Agreement`` of one format's artifacts
across frameworks; ``load_exports`` reads it back. Fields added later have defaults, so older summaries stay
readable at the same ``EXPORT_SCHEMA_VERSION``."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .validation import ResultsError

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
        from ..stats import latency_percentiles  # numpy and scipy load only when a summary is summarised

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
