"""``python -m frameworks gate``: does a pull request make a headline benchmark slower than its base?

Both sides are benchmarked on one runner, several times each, alternating (ABBA). Per gated benchmark (the
step benchmarks: forward, backward, train step; single-shot epochs and fidelity checks are shown, not gated),
the gate pools every timed round of every repeat of a side and asks two questions of the pooled samples:
is the head's median slower than the base's by at least ``min_effect`` (10% by default), and does a one-sided
Mann-Whitney U test say the head is slower, after a Benjamini-Hochberg correction over all the gated
benchmarks? Only a benchmark passing both fails the gate. A benchmark the base has and the head lacks or
failed also fails the gate (a broken framework must not pass), unless the pull request declares it removed.

The rule and its defaults were chosen from real samples of this suite's gate workload recorded on the
project's machine (``scripts/gate_experiment.py``, results under ``results/gate-experiment/``): with the
workflow's repeats it fails an unchanged pull request at most 1% of the time and catches an injected 20%
slowdown of one framework at least 90% of the time; ``tests/test_gate.py`` checks both on those samples.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from ..bench.schema import STEP, ResultsError, Run, load_run

GATED_KINDS = (STEP,)
MIN_EFFECT = 0.10
ALPHA = 0.05

Key = tuple[str, str, str, str, int | None]  # column, network, device, phase, batch


def key_name(key: Key) -> str:
    column, network, device, phase, batch = key
    return f"{column} {network} {phase}" + (f" batch {batch}" if batch else "") + f" {device}"


@dataclass(frozen=True)
class Decision:
    """One gated benchmark: the head's slowdown (head / base median time), the test, and the outcome."""

    key: Key
    base_median_s: float
    head_median_s: float
    ratio: float  # > 1: the head is slower
    p: float  # one-sided Mann-Whitney U (head slower), pooled rounds
    p_adjusted: float
    base_rounds: int
    head_rounds: int
    regressed: bool
    improved: bool

    @property
    def name(self) -> str:
        return key_name(self.key)


def samples_by_key(runs: Sequence[Run], kinds: Sequence[str] = GATED_KINDS) -> dict[Key, list[np.ndarray]]:
    """Every gated benchmark's timed rounds, one array per process, over the runs of one side."""
    out: dict[Key, list[np.ndarray]] = defaultdict(list)
    for run in runs:
        for r in run.records:
            if r.kind in kinds and r.samples_s:
                out[(r.column, r.network, r.device, r.phase, r.batch)].append(np.asarray(r.samples_s, float))
    return dict(out)


def decide(base: Mapping[Key, Sequence[np.ndarray]], head: Mapping[Key, Sequence[np.ndarray]], *,
           min_effect: float = MIN_EFFECT, alpha: float = ALPHA) -> list[Decision]:
    """The decision for every benchmark both sides have."""
    keys = sorted(set(base) & set(head), key=str)
    rows = []
    for key in keys:
        b, h = np.concatenate(base[key]), np.concatenate(head[key])
        ratio = float(np.median(h) / np.median(b))
        p = float(scipy_stats.mannwhitneyu(h, b, alternative="greater").pvalue)
        rows.append((key, float(np.median(b)), float(np.median(h)), ratio, p, len(b), len(h)))
    if not rows:
        return []
    adjusted = scipy_stats.false_discovery_control([r[4] for r in rows], method="bh")
    faster_p = [float(scipy_stats.mannwhitneyu(np.concatenate(head[r[0]]), np.concatenate(base[r[0]]),
                                               alternative="less").pvalue) for r in rows]
    faster_adjusted = scipy_stats.false_discovery_control(faster_p, method="bh")
    decisions = []
    for (key, bm, hm, ratio, p, nb, nh), q, qf in zip(rows, adjusted, faster_adjusted, strict=True):
        decisions.append(Decision(key, bm, hm, ratio, p, float(q), nb, nh,
                                  regressed=ratio > 1 + min_effect and q < alpha,
                                  improved=ratio < 1 / (1 + min_effect) and qf < alpha))
    return decisions


def load_side(paths: Sequence[str | os.PathLike], side: str) -> tuple[list[Run], list[str]]:
    """The runs of one side that can be read, and why the others cannot."""
    runs, problems = [], []
    for path in paths:
        try:
            runs.append(load_run(path))
        except ResultsError as exc:
            problems.append(f"{side}: {exc}")
    return runs, problems


def failed_in(runs: Sequence[Run]) -> set[str]:
    """Frameworks whose process crashed or failed in any of these runs."""
    return {f for run in runs for p in run.processes if p.outcome in ("crashed", "failed", "partial")
            for f in p.frameworks}


def markdown(decisions: Sequence[Decision], missing: Sequence[str], removed: Sequence[str], problems: Sequence[str],
             *, min_effect: float, alpha: float, base_runs: int, head_runs: int) -> tuple[bool, str]:
    """(passed, the Markdown for the job summary)."""
    regressed = [d for d in decisions if d.regressed]
    passed = not regressed and not missing
    lines = [f"## Benchmark gate: {'passed' if passed else 'FAILED'}", "",
             f"{base_runs} base and {head_runs} head runs; every timed round of a side pooled. A benchmark fails "
             f"when the head's median is more than {min_effect:.0%} slower AND a one-sided Mann-Whitney U test, "
             f"Benjamini-Hochberg-corrected over the {len(decisions)} gated benchmarks, gives p < {alpha}.", ""]
    if missing:
        lines += ["**Benchmarks the base has and the head lacks or failed** (declare a removal with --removed):", ""]
        lines += [f"- {m}" for m in missing] + [""]
    lines += ["| benchmark | base median | head median | head / base | p (adjusted) | rounds (base/head) | |",
              "|---|---|---|---|---|---|---|"]
    for d in sorted(decisions, key=lambda d: -d.ratio):
        mark = "**regression**" if d.regressed else ("faster" if d.improved else "")
        lines.append(f"| {d.name} | {1e3 * d.base_median_s:.3f} ms | {1e3 * d.head_median_s:.3f} ms | "
                     f"{d.ratio:.3f} | {d.p:.2g} ({d.p_adjusted:.2g}) | {d.base_rounds}/{d.head_rounds} | {mark} |")
    if removed:
        lines += ["", "Declared removed (not gated): " + ", ".join(removed)]
    if problems:
        lines += ["", "Unusable runs (left out): " + "; ".join(problems)]
    return passed, "\n".join(lines)


def gate(base_paths: Sequence[str], head_paths: Sequence[str], *, min_effect: float = MIN_EFFECT,
         alpha: float = ALPHA, removed: Sequence[str] = ()) -> tuple[int, str]:
    """(exit status, Markdown): 0 pass, 1 a regression or a missing benchmark, 2 no usable runs on a side."""
    base_runs, problems = load_side(base_paths, "base")
    head_runs, head_problems = load_side(head_paths, "head")
    problems += head_problems
    base, head = samples_by_key(base_runs), samples_by_key(head_runs)
    if not base or not head:
        side = "base" if not base else "head"
        text = "\n".join([f"## Benchmark gate: NO USABLE {side.upper()} RUNS", "",
                          f"There are no gated benchmarks in the {side}'s results, so nothing can be compared "
                          "(a missing or broken baseline is never a pass).", "", *[f"- {p}" for p in problems]])
        return 2, text
    removed_set = set(removed)
    broken = failed_in(head_runs)
    missing = []
    for key in sorted(base, key=str):
        name = key_name(key)
        if key[0] in removed_set or name in removed_set or key[0].split(" [")[0] in removed_set:
            continue
        if key not in head:
            why = "failed in the head" if key[0].split(" [")[0] in broken else "absent from the head"
            missing.append(f"{name}: {why}")
    decisions = decide(base, head, min_effect=min_effect, alpha=alpha)
    passed, text = markdown(decisions, missing, sorted(removed_set), problems, min_effect=min_effect, alpha=alpha,
                            base_runs=len(base_runs), head_runs=len(head_runs))
    return (0 if passed else 1), text


def false_failure_and_detection(pool: Sequence[Mapping[Key, np.ndarray]], repeats: int, trials: int, *,
                                slowdown: float = 0.20, min_effect: float = MIN_EFFECT, alpha: float = ALPHA,
                                seed: int = 0) -> dict[str, float]:
    """The gate's rates on recorded runs: ``trials`` random A/A splits of ``repeats`` runs a side (the same
    code on both sides), each also with ``slowdown`` injected into one framework's head samples.

    Returns the false-failure rate (A/A splits that fail) and the detection rate (injected splits that fail),
    overall and per framework.
    """
    rng = np.random.default_rng(seed)
    frameworks = sorted({k[0] for run in pool for k in run})
    failures = 0
    caught: dict[str, int] = defaultdict(int)
    for _ in range(trials):
        chosen = rng.choice(len(pool), size=2 * repeats, replace=False)
        base_idx, head_idx = chosen[:repeats], chosen[repeats:]
        base = _side(pool, base_idx)
        head = _side(pool, head_idx)
        failures += any(d.regressed for d in decide(base, head, min_effect=min_effect, alpha=alpha))
        for framework in frameworks:
            slowed = {k: [v * (1 + slowdown) for v in vs] if k[0] == framework else vs for k, vs in head.items()}
            caught[framework] += any(d.regressed for d in decide(base, slowed, min_effect=min_effect, alpha=alpha))
    rates = {"false_failure": failures / trials,
             "detection": sum(caught.values()) / (trials * len(frameworks))}
    rates.update({f"detection {f}": caught[f] / trials for f in frameworks})
    return rates


def _side(pool: Sequence[Mapping[Key, np.ndarray]], indices: Sequence[int]) -> dict[Key, list[np.ndarray]]:
    out: dict[Key, list[np.ndarray]] = defaultdict(list)
    for i in indices:
        for key, samples in pool[i].items():
            out[key].append(samples)
    return dict(out)


def finite_ratio(d: Decision) -> bool:
    return math.isfinite(d.ratio)
