"""Results, read and compared: every benchmark pooled over the processes that ran it (only across files that
are like for like), each framework's estimate with its interval, every pair compared and judged (at the default
variants, and with each framework at its best variant: ``AtBest``), and the accuracy comparisons. ``report``
renders what this computes; nothing here formats Markdown."""

from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import stats
from ..precision import FP32, MUST_MATCH, PRECISIONS
from ..registry import FRAMEWORKS
from ..results import (
    EPOCH,
    FIDELITY,
    IDIOMATIC,
    STEP,
    AccuracyRun,
    BenchmarkKey,
    BenchRecord,
    ExportSummary,
    ResultsError,
    Run,
    load_any,
    load_exports,
)
from ..specs import NETWORKS

PHASE_ORDER = ("forward", "backward", "train_step", "epoch-staged", "epoch-framework", "latency")
HEADLINE_KINDS = (STEP, EPOCH)


# --- reading and pooling --------------------------------------------------------------------------------------
@dataclass
class Cell:
    """One benchmark (``BenchmarkKey``: one framework, variant and precision) across every process that ran it, in
one input file where the report keeps the files apart (``mixed``)."""

    column: str
    framework: str
    variant: str
    precision: str
    kind: str
    network: str
    device: str
    phase: str
    batch: int | None
    images: int
    records: list[BenchRecord] = field(default_factory=list)
    #: process -> images/s: the median over that process's records (``stats.per_process``), each its median round
    per_process: dict[str, float] = field(default_factory=dict)
    repeats: dict[str, int | None] = field(default_factory=dict)  # process -> which repeat of its run it was
    sources: set[int] = field(default_factory=set)  # which input files (1-based)
    disturbed: int = 0  # processes that ran on a disturbed machine
    estimate: stats.Estimate | None = None

    default_variant: bool = True  # the framework's default variant (at whatever precision)
    threads: int | None = None

    @property
    def key(self) -> BenchmarkKey:
        return BenchmarkKey(self.framework, self.variant, self.precision, self.kind, self.network, self.device,
                            self.phase, self.batch, self.images, self.threads)

    @property
    def row(self) -> tuple[str, str, str, int | None, int]:
        """What the frameworks are compared on (``BenchmarkKey.row``: threads left to the manifest check)."""
        return self.key.row

    @property
    def manifest(self) -> dict[str, Any]:
        """The numeric manifest its records share (a field they disagree on reads ``mixed``)."""
        out: dict[str, Any] = {}
        for r in self.records:
            for k, v in r.manifest.items():
                out[k] = v if out.get(k, v) == v else "mixed"
        return out

    @property
    def headline(self) -> bool:
        """A framework's default variant at fp32 (what the verdict compares across frameworks)."""
        return self.default_variant and self.precision == FP32

    @property
    def group(self) -> str:
        """The framework this cell belongs to as the report names it: its default's column (with the input file,
        in a mixed report), whichever variant this is."""
        return self.column.replace(f" [{self.variant}]", "", 1) if self.variant else self.column

    @property
    def label(self) -> str:
        """The column with the variant always named (a default's column leaves it out)."""
        if not self.variant or f" [{self.variant}]" in self.column:
            return self.column
        return self.column.replace(self.framework, f"{self.framework} [{self.variant}]", 1)


@dataclass(frozen=True)
class AtBest:
    """Two frameworks compared on one benchmark, each at its best variant there: chosen on the even-numbered
    repeats of its processes, estimated on the odd-numbered ones (``stats.best_on_half``)."""

    comparison: stats.Comparison  # a and b are the chosen variants' labels
    a: str  # the frameworks (``Cell.group``)
    b: str
    a_best: stats.Best
    b_best: stats.Best
    a_from: tuple[str, ...]  # the variants each was chosen from (those timed on this benchmark)
    b_from: tuple[str, ...]
    a_variant: str  # the variant chosen
    b_variant: str


@dataclass
class Analysis:
    """Everything a report shows, computed once from the inputs."""

    runs: list[Run]
    accuracy: list[AccuracyRun]
    exports: list[ExportSummary]
    sources: list[str]
    cells: list[Cell]
    speed: list[stats.Comparison]
    variants: list[stats.Comparison]
    #: each reduced-precision benchmark against the same framework and variant at fp32 (reduced / fp32)
    precision: list[stats.Comparison]
    #: precision -> every pair of frameworks (default variants) at that reduced precision
    reduced_speed: dict[str, list[stats.Comparison]]
    #: every pair of frameworks at fp32, each at its best variant (a family of its own)
    best: list[AtBest]
    accuracy_comparisons: list[stats.AccuracyComparison]
    only_in_some: list[str]
    mixed: bool
    margin: float
    confidence: float

    @property
    def records(self) -> list[BenchRecord]:
        return [r for run in self.runs for r in run.records]


def columns_order(columns: Iterable[str]) -> list[str]:
    order = {name: i for i, name in enumerate(FRAMEWORKS)}
    return sorted(set(columns), key=lambda c: (order.get(c.split(" [")[0], 99), c))


def differences(runs: Sequence[Run]) -> list[str]:
    """How benchmark runs differ in what makes their figures comparable (settings, machine, versions)."""
    out = []
    first = runs[0]

    def machine(run: Run) -> tuple[Any, ...]:
        m = run.machine.get("machine", {})
        return (m.get("cpu_model"), m.get("cpu_cores"), run.machine.get("threads"))

    for run in runs[1:]:
        if run.settings.get("batch_sizes") != first.settings.get("batch_sizes") or any(
                run.settings.get(k) != first.settings.get(k)
                for k in ("threads", "epoch_images", "epoch_rounds", "round_seconds", "min_rounds")):
            out.append(f"{run.path} was run with other settings than {first.path}")
        if machine(run) != machine(first):
            out.append(f"{run.path} ran on another machine ({machine(run)}) than {first.path} ({machine(first)})")
        changed = {k for k in set(run.versions) | set(first.versions) if run.versions.get(k) != first.versions.get(k)}
        if changed:
            out.append(f"{run.path} has other versions of {', '.join(sorted(changed))} than {first.path}")
    return out


def analyse(paths: Sequence[str | os.PathLike], *, mixed: bool = False, margin: float = stats.SPEED_MARGIN,
            confidence: float = stats.CONFIDENCE, accuracy_margin: float = stats.ACCURACY_MARGIN,
            allow_mismatch: Sequence[str] = ()) -> Analysis:
    """Read result files and compute every estimate, comparison and verdict (a comparison across differing
    numeric manifests is refused unless each differing field is in ``allow_mismatch``)."""
    if not paths:
        raise ResultsError("no results files given")
    loaded = [load_input(p) for p in paths]
    runs = [r for r in loaded if isinstance(r, Run)]
    accuracy = [r for r in loaded if isinstance(r, AccuracyRun)]
    exports = [r for r in loaded if isinstance(r, ExportSummary)]
    sources = [str(p) for p in paths]
    if len(runs) > 1 and not mixed and (diff := differences(runs)):
        raise ResultsError("these benchmark runs are not like for like, so their figures cannot be pooled: "
                           + "; ".join(diff) + ". Report them one at a time, or pass --mixed to show each file's "
                           "figures apart")
    index = {run.path: sources.index(run.path) + 1 for run in runs}
    apart = mixed and len(runs) > 1
    cells: dict[tuple[int, BenchmarkKey], Cell] = {}
    figures: dict[tuple[int, BenchmarkKey], list[tuple[str, float]]] = defaultdict(list)
    for run in runs:
        for r in run.records:
            if r.kind not in (STEP, EPOCH, FIDELITY, IDIOMATIC) or not r.samples_s:
                continue
            key = (index[run.path] if apart else 0, r.key)
            cell = cells.get(key)
            if cell is None:
                column = f"{r.column} ({index[run.path]})" if apart else r.column
                cell = cells[key] = Cell(column, r.framework, r.variant, r.precision, r.kind, r.network, r.device,
                                         r.phase, r.batch, r.images, default_variant=r.default_variant,
                                         threads=r.threads)
            process = f"{index[run.path]}:{r.process or ''}"
            cell.records.append(r)
            figures[key].append((process, r.images_per_s))
            cell.repeats[process] = r.repeat
            cell.sources.add(index[run.path])
            noise = run.process(r.process)
            if noise is not None and noise.noise is not None and noise.noise.disturbed:
                cell.disturbed += 1
    for key, cell in cells.items():
        cell.per_process = stats.per_process(figures[key])
        cell.estimate = stats.throughput(list(cell.per_process.values()), confidence)
    all_cells = list(cells.values())
    allowed = frozenset(allow_mismatch)
    found = _comparisons(all_cells, confidence, allowed)
    families = [found.speed, found.variants, found.precision, *found.reduced_speed.values()]
    corrected = iter(stats.correct([c for family in families for c in family], 1 - confidence, margin))
    speed, variant_pairs, precision = ([next(corrected) for _ in family] for family in families[:3])
    reduced = {p: [next(corrected) for _ in family] for p, family in found.reduced_speed.items()}
    best = _at_best(all_cells, confidence, margin, allowed)
    only = _only_in_some(runs) if len(runs) > 1 else []
    acc = _accuracy_comparisons(accuracy, accuracy_margin, confidence)
    return Analysis(runs, accuracy, exports, sources, all_cells, speed, variant_pairs, precision, reduced, best, acc,
                    only, mixed, margin, confidence)


def load_input(path: str | os.PathLike) -> Run | AccuracyRun | ExportSummary:
    """Any file a report can read: a benchmark run, an accuracy run, or an export summary."""
    try:
        return load_any(path)
    except ResultsError:
        try:
            return load_exports(path)
        except ResultsError:
            pass
        raise


@dataclass
class Found:
    """The comparisons of one analysis, by family, before the correction for multiple testing."""

    speed: list[stats.Comparison] = field(default_factory=list)
    variants: list[stats.Comparison] = field(default_factory=list)
    precision: list[stats.Comparison] = field(default_factory=list)
    reduced_speed: dict[str, list[stats.Comparison]] = field(default_factory=dict)


def _comparisons(cells: list[Cell], confidence: float, allowed: frozenset[str] = frozenset()) -> Found:
    """On each headline benchmark: every pair of frameworks (default variants) at fp32, and at each reduced
    precision apart; each other variant against its framework's default at the same precision; each
    reduced-precision benchmark against the same framework and variant at fp32. Never fp32 against another
    precision across frameworks: that is the unlike-for-like comparison this suite exists to refuse."""
    by_row: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        if c.kind in HEADLINE_KINDS:
            by_row[(c.kind, *c.row)].append(c)
    found = Found()

    def compare(what: str, a: Cell, b: Cell) -> stats.Comparison:
        return like_for_like(stats.compare_throughput(what, a.column, b.column, list(a.per_process.values()),
                                                      list(b.per_process.values()), confidence), a, b, allowed)

    for row, group in sorted(by_row.items(), key=lambda kv: row_order(kv[0][1:])):
        what = describe_row(row[1:])
        for precision in sorted({c.precision for c in group}, key=precision_order):
            defaults = {c.column: c for c in group if c.default_variant and c.precision == precision}
            pairs = [compare(what, defaults[a], defaults[b]) for a, b in itertools.combinations(
                columns_order(defaults), 2)]
            if precision == FP32:
                found.speed += pairs
            elif pairs:
                found.reduced_speed.setdefault(precision, []).extend(pairs)
        for c in group:
            if not c.default_variant:
                base = next((h for h in group if h.default_variant and h.framework == c.framework
                             and h.precision == c.precision), None)
                if base is not None:
                    found.variants.append(compare(what, c, base))
            if c.precision != FP32:
                full = next((h for h in group if h.framework == c.framework and h.variant == c.variant
                             and h.precision == FP32), None)
                if full is not None:
                    found.precision.append(compare(what, c, full))
    return found


def like_for_like(c: stats.Comparison, a: Cell, b: Cell, allowed: frozenset[str]) -> stats.Comparison:
    """``c`` (of ``a``'s figures against ``b``'s) marked with the manifest fields they differ on, and refused
    (no test) unless each such field is ``allowed``."""
    differ = manifest_differences(a.manifest, b.manifest)
    if not differ:
        return c
    refused = bool(set(differ) - allowed)
    text = "; ".join(f"{k} {va} vs {vb}" for k, (va, vb) in differ.items())
    return replace(c, mismatch=text, refused=refused, p=math.nan if refused else c.p)


def manifest_differences(a: dict[str, Any], b: dict[str, Any],
                         fields: Sequence[str] = MUST_MATCH) -> dict[str, tuple[Any, Any]]:
    """The fields two figures must share (``precision.MUST_MATCH``) on which their manifests differ; a field
    one side lacks or leaves unknown (None: results written before manifests existed, a framework without
    that switch) is not a difference."""
    return {k: (a[k], b[k]) for k in fields if a.get(k) is not None and b.get(k) is not None and a[k] != b[k]}


def precision_order(precision: str) -> int:
    """Precisions in the order ``frameworks.precision`` declares them."""
    order = list(PRECISIONS)
    return order.index(precision) if precision in order else len(order)


def selection_units(cells: Sequence[Cell]) -> set[str]:
    """The processes a framework's choice of its best variant may look at: those of even-numbered repeats (by
    their position, for records without a repeat number). The odd-numbered ones are left to the estimate: with
    an odd number of repeats the held-out half has the extra process, since it carries the verdict."""
    repeats: dict[str, int | None] = {}
    for c in cells:
        repeats.update(c.repeats)
    return {unit for rank, unit in enumerate(sorted(repeats), 1)
            if (repeats[unit] if repeats[unit] is not None else rank) % 2 == 0}


def _at_best(cells: list[Cell], confidence: float, margin: float,
             allowed: frozenset[str] = frozenset()) -> list[AtBest]:
    """Every pair of frameworks on each headline benchmark at fp32, each at its best variant there (split-sample
    choice, ``stats.best_on_half``), corrected as a family of their own. Reduced precisions stay out: they are
    compared at the default variants, apart (``Analysis.reduced_speed``)."""
    by_row: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        if c.kind in HEADLINE_KINDS and c.precision == FP32:
            by_row[(c.kind, *c.row)].append(c)
    pairs: list[AtBest] = []
    for row, group in sorted(by_row.items(), key=lambda kv: row_order(kv[0][1:])):
        what = describe_row(row[1:])
        by_framework: dict[str, list[Cell]] = defaultdict(list)
        for c in group:
            by_framework[c.group].append(c)
        chosen: dict[str, tuple[Cell, stats.Best, tuple[str, ...]]] = {}
        for name, mine in by_framework.items():
            info = FRAMEWORKS.get(mine[0].framework)
            order = list(info.variants) if info else []  # the registry's order: the default first

            def rank(c: Cell, order: list[str] = order) -> tuple[bool, int, str]:
                return (not c.default_variant, order.index(c.variant) if c.variant in order else len(order),
                        c.variant)

            mine.sort(key=rank)
            by_column = {c.column: c for c in mine}
            best = stats.best_on_half({c.column: c.per_process for c in mine}, selection_units(mine), mine[0].column)
            chosen[name] = (by_column[best.chosen], best, tuple(c.variant or c.column for c in mine))
        for a, b in itertools.combinations(columns_order(chosen), 2):
            (ca, ba, fa), (cb, bb, fb) = chosen[a], chosen[b]
            comparison = like_for_like(stats.compare_throughput(what, ca.label, cb.label, ba.figures, bb.figures,
                                                                confidence), ca, cb, allowed)
            pairs.append(AtBest(comparison, a, b, ba, bb, fa, fb, ca.variant or ca.column, cb.variant or cb.column))
    judged = stats.correct([p.comparison for p in pairs], 1 - confidence, margin,
                           held_out=[bool(p.a_best.chosen_on or p.b_best.chosen_on) for p in pairs])
    return [replace(p, comparison=c) for p, c in zip(pairs, judged, strict=True)]


def row_order(row: tuple) -> tuple:
    network, device, phase, batch, images = row
    nets = {n: i for i, n in enumerate(NETWORKS)}
    phases = {p: i for i, p in enumerate(PHASE_ORDER)}
    return (device, nets.get(network, 99), network, phases.get(phase, 99), batch or 0, images)


def describe_row(row: tuple) -> str:
    network, device, phase, batch, images = row
    what = f"{network} {phase}"
    if phase.startswith("epoch"):
        what += f" ({images:,} images)"
    elif batch:
        what += f" batch {batch}"
    return what + f" on {device}"


def _only_in_some(runs: Sequence[Run]) -> list[str]:
    """The benchmarks (``BenchmarkKey``) some of the runs lack, each named with the files that have it; the thread
    count is named where the runs' records disagree on it."""
    keys = [{r.key: r.column for r in run.records} for run in runs]
    union: dict[BenchmarkKey, str] = {}
    for ks in keys:
        union.update(ks)
    threads = len({k.threads for k in union}) > 1
    named = sorted(((k.describe(column, threads=threads), k) for k, column in union.items()), key=lambda nk: nk[0])
    out = []
    for name, key in named:
        where = [run.path for run, ks in zip(runs, keys, strict=True) if key in ks]
        if len(where) != len(runs):
            out.append(f"{name}: only in {', '.join(where)}")
    return out


def _accuracy_comparisons(runs: Sequence[AccuracyRun], margin: float,
                          confidence: float) -> list[stats.AccuracyComparison]:
    by_net: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for t in run.trainings:
            if t.accuracy is not None:
                by_net[(t.network, t.device)][t.label].append(t.accuracy)
    comparisons = []
    for (network, device), groups in sorted(by_net.items()):
        for a, b in itertools.combinations(columns_order(groups), 2):
            comparisons.append(stats.compare_accuracy(f"{network} on {device}", a, b, groups[a], groups[b], margin,
                                                      confidence))
    return stats.correct_accuracy(comparisons, 1 - confidence)


# --- rendering ------------------------------------------------------------------------------------------------
