"""Accuracy runs (``python -m frameworks accuracy``): one record per training from one seed, and the document
that holds them."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from .validation import ACCURACY, SCHEMA, SCHEMA_VERSION, ResultsError, check_fields, document_kind, read_json


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
        values = check_fields(cls, {k: v for k, v in payload.items() if k in names}, f"{source}: training record")
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

