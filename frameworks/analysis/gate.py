"""``python -m frameworks gate``: does a pull request make a benchmark slower than its base?

Both sides are measured in the same job on the same runner, several times, alternating (base, head, base,
head...). Each run's times are divided by the calibration benchmark measured in the same process (a fixed
numpy workload), which cancels most of a shared runner's speed drift. Per benchmark, the head's median
normalised time over the repeats is compared with the base's; a benchmark regresses when it is slower by
more than the threshold, widened to ``noise_factor`` times the spread seen between repeats of the same side
(so noisy benchmarks need a larger change to fail). A missing or broken baseline is an error, never a pass.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ..bench.schema import CALIBRATION, ResultsError, load_run


class BaselineError(Exception):
    """The base side's results are missing or unusable: the comparison cannot be made."""


@dataclass(frozen=True)
class Verdict:
    """One benchmark's comparison."""

    name: str
    base: float  # median normalised time
    head: float
    change: float  # head / base - 1 (positive: slower)
    allowed: float  # the threshold applied to this benchmark
    noise: float

    @property
    def regressed(self) -> bool:
        return self.change > self.allowed


def normalised_times(path: str | os.PathLike) -> dict[str, float]:
    """{benchmark name: median time / calibration median} from one run's JSON.

    A merged file holds one calibration per process; each benchmark is divided by its own process's.
    Raises ``ValueError`` when the file is unusable or holds no calibration.
    """
    try:
        run = load_run(path)
    except ResultsError as exc:
        raise ValueError(str(exc)) from None
    calibration = {r.process: r.median_s for r in run.records if r.kind == CALIBRATION}
    if not calibration:
        raise ValueError(f"{path}: no calibration benchmark, so runs cannot be normalised")
    out = {}
    for r in run.records:
        if r.kind == CALIBRATION:
            continue
        scale = calibration.get(r.process) or next(iter(calibration.values()))
        out[r.name] = r.median_s / scale
    return out


def spread(values: Sequence[float]) -> float:
    """Relative spread of repeated measurements: (max - min) / median; 0 for fewer than two."""
    if len(values) < 2:
        return 0.0
    mid = statistics.median(values)
    return (max(values) - min(values)) / mid if mid > 0 else 0.0


def compare(base_runs: Sequence[dict[str, float]], head_runs: Sequence[dict[str, float]], *,
            threshold: float = 0.10, noise_factor: float = 2.0) -> tuple[list[Verdict], list[str]]:
    """Compare repeated runs. Returns (verdicts for benchmarks on both sides, names missing on one side).

    Raises ``BaselineError`` when there is no usable base run.
    """
    if not base_runs or not any(base_runs):
        raise BaselineError("no baseline results: the base branch's benchmarks are missing or empty")
    if not head_runs or not any(head_runs):
        raise BaselineError("no results for the pull request's head")
    base: dict[str, list[float]] = defaultdict(list)
    head: dict[str, list[float]] = defaultdict(list)
    for run in base_runs:
        for name, value in run.items():
            base[name].append(value)
    for run in head_runs:
        for name, value in run.items():
            head[name].append(value)
    verdicts = []
    for name in sorted(set(base) & set(head)):
        noise = max(spread(base[name]), spread(head[name]))
        b, h = statistics.median(base[name]), statistics.median(head[name])
        verdicts.append(Verdict(name, b, h, h / b - 1.0, max(threshold, noise_factor * noise), noise))
    missing = sorted(set(base) ^ set(head))
    return verdicts, missing


def markdown(verdicts: Sequence[Verdict], missing: Sequence[str], threshold: float) -> str:
    """The comparison as a Markdown table for the job summary."""
    regressed = [v for v in verdicts if v.regressed]
    lines = [f"## Benchmark gate: {'FAILED' if regressed else 'passed'}", "",
             f"Normalised by the calibration benchmark; threshold {threshold:.0%}, widened by repeat noise.", "",
             "| benchmark | base | head | change | allowed | noise | |", "|---|---|---|---|---|---|---|"]
    for v in sorted(verdicts, key=lambda v: -v.change):
        mark = "regression" if v.regressed else ("faster" if v.change < -v.allowed else "")
        lines.append(f"| {v.name} | {v.base:.4g} | {v.head:.4g} | {v.change:+.1%} | {v.allowed:.1%} | "
                     f"{v.noise:.1%} | {mark} |")
    if missing:
        lines += ["", "On one side only (not compared): " + ", ".join(missing)]
    return "\n".join(lines)


def gate(base_paths: Sequence[str], head_paths: Sequence[str], *, threshold: float = 0.10,
         noise_factor: float = 2.0) -> tuple[int, str]:
    """(exit status, Markdown): 0 pass, 1 regression, 2 no usable baseline or head results."""
    base_runs, problems = [], []
    for path in base_paths:
        try:
            base_runs.append(normalised_times(path))
        except ValueError as exc:
            problems.append(f"baseline {exc}")
    head_runs = []
    for path in head_paths:
        try:
            head_runs.append(normalised_times(path))
        except ValueError as exc:
            problems.append(f"head {exc}")
    try:
        verdicts, missing = compare(base_runs, head_runs, threshold=threshold, noise_factor=noise_factor)
    except BaselineError as exc:
        text = "\n".join(["## Benchmark gate: NO BASELINE", "", f"{exc}.", "", *[f"- {p}" for p in problems]])
        return 2, text
    if not verdicts:
        return 2, "## Benchmark gate: NOTHING COMPARED\n\nThe base and head runs share no benchmark."
    text = markdown(verdicts, missing, threshold)
    if problems:
        text += "\n\nUnusable runs (left out): " + "; ".join(problems)
    return (1 if any(v.regressed for v in verdicts) else 0), text
