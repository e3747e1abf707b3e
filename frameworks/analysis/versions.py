"""``python -m frameworks versions STORE...``: did a framework's upgrade make a benchmark faster or slower?

Runs of one framework at different versions (``tox -m bench-versions``: one environment per version, each
storing its run) are grouped per benchmark and machine by the version each record carries, and each version is
compared with the one before it: the throughput ratio newer / older with its 95% bootstrap CI over processes,
an exact Mann-Whitney U test, Benjamini-Hochberg within each upgrade (one framework or variant from one version
to the next on one machine and device), and the verdict in words
(``stats``). By default each version's latest run is used (its ``--repeats`` processes); ``all_runs`` pools
every run of a version, for repeats spread over several runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..stats import CONFIDENCE, Comparison, compare_throughput, correct, smallest_p
from .store import Store, StoredRun
from .throughputs import Benchmark, Unit, group, natural_key, units


@dataclass(frozen=True)
class VersionComparison:
    """A framework's newer version against its older one on one benchmark (``comparison.a`` is the newer)."""

    benchmark: Benchmark
    column: str
    framework: str
    older: str
    newer: str
    older_runs: tuple[str, ...]
    newer_runs: tuple[str, ...]
    comparison: Comparison

    @property
    def ratio(self) -> float:
        """Newer throughput over older: above 1 the upgrade made it faster."""
        return self.comparison.ratio


def _latest_run_only(version_units: list[Unit]) -> list[Unit]:
    latest = max((u.when, u.run) for u in version_units)[1]
    return [u for u in version_units if u.run == latest]


def compare_versions(runs: Sequence[StoredRun], *, frameworks: Sequence[str] | None = None,
                     networks: Sequence[str] | None = None, all_runs: bool = False) -> list[VersionComparison]:
    """Every consecutive pair of versions of every framework on every benchmark they share, judged together."""
    chosen = [u for u in units(runs) if u.version and (frameworks is None or u.framework in frameworks)
              and (networks is None or u.benchmark.network in networks)]
    pending: list[tuple[Benchmark, str, str, str, str, list[Unit], list[Unit]]] = []
    for (bench, _), series in group(chosen, lambda u: (u.benchmark, u.key)).items():
        column, framework = series[0].column, series[0].framework
        by_version = group(series, lambda u: u.version)
        if len(by_version) < 2:
            continue
        if not all_runs:
            by_version = {v: _latest_run_only(us) for v, us in by_version.items()}
        ordered = sorted(by_version, key=natural_key)
        for older, newer in zip(ordered, ordered[1:], strict=False):
            pending.append((bench, column, framework, older, newer, by_version[older], by_version[newer]))
    pending.sort(key=lambda p: (p[0].machine, p[0].device, p[1], p[0].order, natural_key(p[3])))
    raw = [compare_throughput(f"{bench.label} ({bench.where})", f"{column} {newer}", f"{column} {older}",
                              [u.images_per_s for u in new], [u.images_per_s for u in old])
           for bench, column, _, older, newer, old, new in pending]
    # One family per upgrade (a framework, or one of its variants, from one version to the next on one machine and
    # device): the question a user asks is "did this upgrade change anything?", so other upgrades do not dilute it.
    families: dict[tuple[str, str, str, str, str], list[int]] = {}
    for i, (bench, column, _, older, newer, _, _) in enumerate(pending):
        families.setdefault((column, older, newer, bench.machine, bench.device), []).append(i)
    judged: list[Comparison] = list(raw)
    for members in families.values():
        for i, c in zip(members, correct([raw[i] for i in members]), strict=True):
            judged[i] = c
    return [VersionComparison(bench, column, framework, older, newer, tuple(dict.fromkeys(u.run for u in old)),
                              tuple(dict.fromkeys(u.run for u in new)), c)
            for (bench, column, framework, older, newer, old, new), c in zip(pending, judged, strict=True)]


def _number(value: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def table(comparisons: Sequence[VersionComparison]) -> list[str]:
    """Markdown rows, one per comparison."""
    lines = ["| framework | benchmark | older -> newer | processes | newer / older | 95% CI | p (adjusted) | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for v in comparisons:
        c = v.comparison
        ci = f"{_number(c.low)}-{_number(c.high)}" if math.isfinite(c.low) else "-"
        p = f"{c.p:.2g} ({c.p_adjusted:.2g})" if math.isfinite(c.p) else "-"
        lines.append(f"| {v.column} | {v.benchmark.label} | {v.older} -> {v.newer} | {c.n_b} v {c.n_a} | "
                     f"{_number(c.ratio)} | {ci} | {p} | {c.words} |")
    return lines


def _family_sizes(comparisons: Sequence[VersionComparison]) -> str:
    sizes: dict[tuple[str, str, str, str], int] = {}
    for v in comparisons:
        key = (v.column, v.older, v.newer, v.benchmark.where)
        sizes[key] = sizes.get(key, 0) + 1
    return "; ".join(f"{column} {older} -> {newer}, {n} comparisons"
                     for (column, older, newer, _), n in sizes.items()) or "none"


def markdown(comparisons: Sequence[VersionComparison], store: Store, *, all_runs: bool = False) -> str:
    """The comparison as a Markdown document: method, one table per machine and device, the runs used."""
    out = ["# Framework versions compared", "",
           f"Sources: {', '.join(store.sources)} ({len(store.runs)} runs read"
           + (f", {len(store.skipped)} files skipped" if store.skipped else "") + ").", "",
           f"Each row compares a framework's newer version with the one before it on one benchmark and machine: "
           f"the ratio of their throughputs (newer / older; above 1 the newer is faster), geometric means over "
           f"processes (one process per repeat, each summarised by its median round), with a {CONFIDENCE:.0%} "
           f"bootstrap interval over processes, an exact Mann-Whitney U test, and Benjamini-Hochberg within each "
           f"upgrade (one framework or variant from one version to the next on one machine and device: "
           f"{_family_sizes(comparisons)}). "
           + ("Every run of a version is pooled." if all_runs else "Each version's latest run on the machine is used.")
           + f" With n processes a side the smallest p is 2 / C(2n, n) ({smallest_p(3, 3):.2f} at 3, "
           f"{smallest_p(5, 5):.4f} at 5), so a verdict needs --repeats 5 or more. The versions ran one after the "
           "other, not interleaved: a drift of the machine between their runs is part of the difference (each "
           "run's report flags disturbed processes).", ""]
    if not comparisons:
        out += ["No framework has runs at two versions of the same benchmark on the same machine here. Run "
                "`tox -m bench-versions` (or two of its environments) with the same --store, then compare.", ""]
    for where, rows in group_by_where(comparisons).items():
        out += [f"## {where}", ""] + table(rows) + [""]
    used: dict[tuple[str, str, str], dict[str, None]] = {}
    for v in comparisons:
        used.setdefault((v.benchmark.where, v.column, v.older), {}).update(dict.fromkeys(v.older_runs))
        used.setdefault((v.benchmark.where, v.column, v.newer), {}).update(dict.fromkeys(v.newer_runs))
    if used:
        out += ["Runs compared:", ""]
        out += [f"- {column} {version} ({where}): {', '.join(runs)}" for (where, column, version), runs in used.items()]
        out.append("")
    if store.skipped:
        out += ["Files skipped:", ""] + [f"- {path}: {why}" for path, why in store.skipped] + [""]
    return "\n".join(out)


def group_by_where(comparisons: Sequence[VersionComparison]) -> dict[str, list[VersionComparison]]:
    out: dict[str, list[VersionComparison]] = {}
    for v in comparisons:
        out.setdefault(v.benchmark.where, []).append(v)
    return out
