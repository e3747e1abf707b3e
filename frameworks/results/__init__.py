"""The results contract: every document the suite writes and reads, one module per document (benchmark runs,
accuracy runs, export summaries), and the one validation every reader goes through. It imports nothing of the
suite above it, so every command, the analysis and the plugin may read it."""

from __future__ import annotations

import os

from .accuracy import (  # noqa: F401
    AccuracyRun,
    TrainingRecord,
    accuracy_document,
    load_accuracy,
)
from .benchmarks import (  # noqa: F401
    SIGNIFICANT_DIGITS,
    BenchmarkKey,
    BenchRecord,
    ProcessNoise,
    ProcessRecord,
    Run,
    compact,
    compact_samples,
    document,
    load_run,
    stamp,
)
from .exports import (  # noqa: F401
    EXPORT_SCHEMA,
    EXPORT_SCHEMA_VERSION,
    EXPORT_SUMMARY,
    FAILED,
    OK,
    SKIPPED,
    STATUSES,
    UNEQUAL,
    AccuracyDrop,
    Agreement,
    ColdStart,
    ExportRecord,
    ExportSummary,
    Latency,
    export_document,
    load_exports,
)
from .validation import (  # noqa: F401
    ACCURACY,
    BENCHMARKS,
    CALIBRATION,
    EPOCH,
    FIDELITY,
    IDIOMATIC,
    LATENCY,
    SCHEMA,
    SCHEMA_VERSION,
    STEP,
    TIME_TO_ACCURACY,
    ResultsError,
    check_fields,
    conforms,
    document_kind,
    read_json,
    read_text,
)


def load_any(path: str | os.PathLike) -> Run | AccuracyRun:
    """Read any results file the suite writes."""
    doc = read_json(path)
    return load_accuracy(path, doc) if document_kind(doc) == ACCURACY else load_run(path, doc)
