"""What makes a file the suite's results, in one place: the schema marker and version, the kinds of document,
the one error every reader raises, and the one field check every record type goes through."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BenchError

SCHEMA = "mnist-framework-bench"
SCHEMA_VERSION = 3
# Variant names that were a framework's default in schema version 2 files, which did not record it (the
# migration to 3 reads them; every built-in framework's default was one of these).
V2_DEFAULT_VARIANTS = ("", "default", "eager")

# What a benchmark measured (BenchRecord.kind). CALIBRATION, a fixed numpy workload, is no longer run: the gate
# experiment (scripts/gate_experiment.py) showed that dividing by it added variance; its recordings hold it.
STEP, EPOCH, FIDELITY, LATENCY, TIME_TO_ACCURACY, CALIBRATION, IDIOMATIC = (
    "step", "epoch", "fidelity", "latency", "time-to-accuracy", "calibration", "idiomatic")


BENCHMARKS, ACCURACY = "benchmarks", "accuracy"  # what a results document holds (its "document" key)


class ResultsError(BenchError, ValueError):
    """A results file that cannot be used: not the suite's, another schema version, or unreadable."""


def conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's type (ints count as floats; bools are not numbers)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in typing.get_args(hint))
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
        return isinstance(value, list) and all(conforms(v, arg) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return True


def check_fields(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` for ``cls``'s fields, each checked against its type; raises ``ResultsError`` naming the field."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and not conforms(value, hints[name]):
            raise ResultsError(f"{where}: field {name!r} holds {type(value).__name__} {str(value)[:40]!r}, "
                               f"not {hints[name]}")
    return values



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
    if version == SCHEMA_VERSION:
        return doc
    # a JSON list or object is unhashable: it is no version either (not a TypeError from the lookup)
    if not isinstance(version, str | int | float | None) or version not in MIGRATIONS:
        raise ResultsError(f"{path}: results schema version {version!r}, but this suite (version "
                           f"{SCHEMA_VERSION}) reads versions {min(MIGRATIONS)} to {SCHEMA_VERSION}; read the file "
                           "with the version of the suite that wrote it, or re-run the benchmarks with this one")
    return migrate(doc)


def _v2_to_v3(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 3 records whether each benchmark's variant was its framework's default (labels had asked the
    installed registry)."""
    benchmarks = doc.get("benchmarks")
    for entry in benchmarks if isinstance(benchmarks, list) else []:  # not a list: refused by the reader
        info = entry.get("extra_info") if isinstance(entry, dict) else None
        if isinstance(info, dict) and "default_variant" not in info:
            info["default_variant"] = info.get("variant", "") in V2_DEFAULT_VARIANTS
    return doc


# How a document of each earlier version becomes one of the next (as asv and pyperf read old files): a change
# to the format adds a step here, and every committed result keeps reading.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {2: _v2_to_v3}


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """A document of an earlier schema version, brought step by step to ``SCHEMA_VERSION``."""
    while doc.get("schema_version") != SCHEMA_VERSION:
        version = doc["schema_version"]
        doc = MIGRATIONS[version](doc)
        doc["schema_version"] = version + 1
    return doc


def document_kind(doc: dict[str, Any]) -> str:
    """What a results document holds: "benchmarks" (bench, or one process's pytest JSON) or "accuracy"."""
    return str(doc.get("document", BENCHMARKS))

