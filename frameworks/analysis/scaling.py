"""The Scaling section: throughput per configuration with its interval, strong- and weak-scaling efficiency with
intervals, ranks against threads on the same cores with a verdict, stragglers, and the share of a step spent in
gradient communication (against the engine's own no-communication control).

The unit of evidence is the launch (a fresh set of processes), as the process is for the other benchmarks: a
launch's throughput is its global batch over its slowest rank's median step (every rank waits for the slowest
at each all-reduce). Efficiencies are throughput ratios divided by the world size, so their intervals are the
ratio's bootstrap interval (``stats.compare_throughput``) divided likewise.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import stats


@dataclass(frozen=True)
class Launch:
    """One launch's figures."""

    framework: str
    network: str
    config: str
    kind: str
    world_size: int
    global_batch: int
    throughput: float  # images/s: global batch / slowest rank's median step
    straggler: float  # slowest rank's median step / fastest's
    communication: float | None  # share of the step that the no-communication control removes


def launches(records: Sequence[dict[str, Any]]) -> list[Launch]:
    """Group rank records into launches."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["framework"], r["network"], r["config"], r["repeat"])].append(r)
    out = []
    for (fw, net, config, _), ranks in sorted(groups.items()):
        medians = [r["median_s"] for r in ranks]
        shares = [1 - r["no_sync_median_s"] / r["median_s"] for r in ranks if "no_sync_median_s" in r]
        out.append(Launch(fw, net, config, ranks[0]["kind"], ranks[0]["world_size"], ranks[0]["global_batch"],
                          ranks[0]["global_batch"] / max(medians), max(medians) / min(medians),
                          statistics.mean(shares) if shares else None))
    return out


@dataclass(frozen=True)
class Efficiency:
    """A scaling efficiency with its interval, from the throughput ratio it divides."""

    what: str
    world_size: int
    value: float
    low: float
    high: float
    ratio: stats.Comparison


def analyse(records: Sequence[dict[str, Any]], confidence: float = stats.CONFIDENCE) -> dict[tuple[str, str], Any]:
    """Per (framework, network): estimates per configuration, efficiencies, the ranks-vs-threads verdict,
    straggler and communication figures."""
    by_cell: dict[tuple[str, str], list[Launch]] = defaultdict(list)
    for launch in launches(records):
        by_cell[(launch.framework, launch.network)].append(launch)
    out = {}
    comparisons = []
    for cell, items in by_cell.items():
        per_config: dict[str, list[Launch]] = defaultdict(list)
        for launch in items:
            per_config[launch.config].append(launch)
        estimates = {c: stats.throughput([x.throughput for x in v], confidence) for c, v in per_config.items()}
        base = [x.throughput for x in per_config.get("1x1", [])]
        efficiencies = []
        for config, group in per_config.items():
            kind, n = group[0].kind, group[0].world_size
            if kind not in ("strong", "weak"):
                continue
            c = stats.compare_throughput(f"{cell[1]} {config}", config, "1x1", [x.throughput for x in group], base,
                                         confidence)
            efficiencies.append(Efficiency(kind, n, c.ratio / n, c.low / n, c.high / n, c))
        versus = []
        threads = [c for c, g in per_config.items() if g[0].kind == "threads"]
        for config, group in per_config.items():
            if group[0].kind == "strong" and threads:
                versus.append(stats.compare_throughput(f"{cell[0]} {cell[1]}", config, threads[0],
                                                       [x.throughput for x in group],
                                                       [x.throughput for x in per_config[threads[0]]], confidence))
        comparisons += versus
        parallel = [x for x in items if x.world_size > 1]
        shares = [x.communication for x in parallel if x.communication is not None]
        out[cell] = {"estimates": estimates, "efficiencies": efficiencies, "versus": versus,
                     "straggler": max((x.straggler for x in parallel), default=math.nan),
                     "straggler_median": statistics.median([x.straggler for x in parallel]) if parallel else math.nan,
                     "communication": stats.mean_with_interval(shares, confidence)[0] if len(shares) > 1 else None}
    judged = iter(stats.correct(comparisons, 1 - confidence))
    for cell in out:
        out[cell]["versus"] = [next(judged) for _ in out[cell]["versus"]]
    return out


def threads_not_asked(records: Sequence[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    """(framework, configuration, threads asked, threads in effect) wherever the two differ."""
    seen = {(r["framework"], r["config"], r.get("threads_asked"), r.get("threads")) for r in records
            if r.get("threads_asked") is not None and r.get("threads") not in (None, r.get("threads_asked"))}
    return sorted(seen)


def _interval(value: float, low: float, high: float, digits: int = 2) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def markdown(document: dict[str, Any], confidence: float = stats.CONFIDENCE) -> str:
    """The Scaling section of a report, from a ``scaling.json`` document."""
    results = analyse(document["records"], confidence)
    machine = document.get("machine", {})
    cores = machine.get("cores", "?")
    lines = ["## Scaling", "",
             f"Data-parallel training on {machine.get('cpu', 'this machine')} ({cores} usable cores), "
             f"{document.get('repeats')} interleaved fresh launches per configuration; `AxB` is A processes x B "
             f"threads each. Throughput: global batch / the slowest rank's median step, geometric mean over launches "
             f"with its {confidence:.0%} bootstrap interval. Strong-scaling efficiency: throughput(N ranks, same "
             "global batch) / (N x throughput(1 process x 1 thread)); weak: the same with N times the global batch "
             "(a fixed batch per rank). "
             f"With {cores} cores these compare ways to use fixed hardware (ranks against threads), not scaling to "
             "more of it: an efficiency of 1/N means the extra ranks added nothing, 1 that each rank did as much as "
             "one process alone.",
             "", "| framework | network | configuration | images/s | n |", "|---|---|---|---|---|"]
    for (fw, net), r in sorted(results.items()):
        for config, e in sorted(r["estimates"].items()):
            lines.append(f"| {fw} | {net} | {config} | {_interval(e.value, e.low, e.high, 0)} | {e.n} |")
    lines += ["", f"| framework | network | efficiency | N | value [{confidence:.0%} CI] |", "|---|---|---|---|---|"]
    for (fw, net), r in sorted(results.items()):
        for eff in r["efficiencies"]:
            lines.append(f"| {fw} | {net} | {eff.what} | {eff.world_size} | "
                         f"{_interval(eff.value, eff.low, eff.high)} |")
    lines += ["", "Ranks against threads on the same cores (Benjamini-Hochberg over the table, the suite's verdict "
              "rule):", "", "| framework | network | comparison | ratio [CI] | verdict |", "|---|---|---|---|---|"]
    for (fw, net), r in sorted(results.items()):
        for c in r["versus"]:
            lines.append(f"| {fw} | {net} | {c.a} / {c.b} | {_interval(c.ratio, c.low, c.high)} | {c.words} |")
    lines += ["", "| framework | network | straggler ratio (median, worst launch) | gradient communication share "
              "of a step [CI] |", "|---|---|---|---|"]
    for (fw, net), r in sorted(results.items()):
        comm = r["communication"]
        share = (f"{100 * comm.value:.0f}% [{100 * comm.low:.0f}-{100 * comm.high:.0f}%]" if comm is not None
                 else "no control (the engine has no step without communication)")
        lines.append(f"| {fw} | {net} | {r['straggler_median']:.3f}, {r['straggler']:.3f} | {share} |")
    lines += ["", "The straggler ratio is the slowest rank's median step over the fastest's in one launch. The "
              "communication share is 1 - (median step inside the engine's `no_sync`) / (median step), per rank, "
              "averaged over launches."]
    unasked = threads_not_asked(document["records"])
    if unasked:
        lines += ["", "Threads in effect other than asked for (the framework has no setting for them): read these "
                  "configurations by the threads in effect.", ""]
        lines += [f"- {fw} {config}: {threads} thread(s) per process, {asked} asked for"
                  for fw, config, asked, threads in unasked]
    return "\n".join(lines) + "\n"


def is_scaling(path: str | Path) -> bool:
    """Whether ``path`` is a scaling document (anything else is left to the other readers)."""
    try:
        read(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return True


def read(path: str | Path) -> dict[str, Any]:
    """A ``scaling.json`` written by ``python -m frameworks scale``."""
    document = json.loads(Path(path).read_text())
    if document.get("kind") != "scaling" or not isinstance(document.get("records"), list):
        raise ValueError(f"{path}: not a scaling document written by python -m frameworks scale")
    return document
