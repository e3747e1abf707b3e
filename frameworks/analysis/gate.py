"""``python -m frameworks gate``: does a pull request make a headline benchmark slower than its base?

Both sides are benchmarked on one runner, several times each, alternating (base, head, head, base...), so the
i-th base run and the i-th head run ran next to each other. Per gated benchmark (the step benchmarks: forward,
backward, train step; single-shot epochs and fidelity checks are shown, not gated) each run counts once, by
its process's median round (the process is the unit: rounds inside one process share its machine state).
The gate asks two questions of the log-medians: is the head slower than the base by more than ``min_effect``
(10% by default), and does a one-sided t-test say the head is slower, after a Benjamini-Hochberg correction
over all the gated benchmarks? The test is paired (the runs that ran next to each other, which cancels the
machine's drift) when both sides have the same runs, else Welch's. Only a benchmark passing both fails the
gate. Processes that ran while the machine was busy (``ProcessNoise.disturbed``) are left out, and said so. A
benchmark the base has and the head lacks or failed also fails the gate (a broken framework must not pass),
unless the pull request declares it removed. A benchmark that could not be tested (every run of a side left out
as disturbed, too few runs on a side) is not a pass either: each is named with why, and the gate exits
``EXIT_UNTESTED`` unless the user declares it out of scope (a busy CI runner is exactly when this happens).

The rule and the workflow's number of repeats were chosen on real samples of this suite's gate workload
recorded on the project's machine (``scripts/gate_experiment.py``, rates under ``results/gate-experiment/``):
at 6 repeats a side it fails an unchanged pull request under 1% of the time and catches an injected 20%
slowdown of one framework over 90% of the time. Dividing by a calibration workload did not reduce the
variance there, so the gate does not use one. ``tests/test_gate.py`` checks both rates on those samples.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_UNTESTED, EXIT_USAGE
from ..results import STEP, BenchRecord, ResultsError, Run, load_run
from ..stats import detectable_slowdown, paired_slowdown_power, per_process

GATED_KINDS = (STEP,)
MIN_EFFECT = 0.10
ALPHA = 0.05

#: column, network, device, phase, batch: the record's column and ``BenchmarkKey.gated``, the projection of the one
#: key that leaves out kind (steps only), images (the batch, for a step) and threads (the workflow's, on both sides)
Key = tuple[str, str, str, str, int | None]
Side = dict[Key, list[float | None]]  # per benchmark, each run's log median time (None: absent or disturbed)


def key_name(key: Key) -> str:
    column, network, device, phase, batch = key
    return f"{column} {network} {phase}" + (f" batch {batch}" if batch else "") + f" {device}"


@dataclass(frozen=True)
class Decision:
    """One gated benchmark: the head's slowdown (head / base median time), the test, and the outcome."""

    key: Key
    base_median_s: float  # geometric mean over the side's runs of each run's median
    head_median_s: float
    ratio: float  # > 1: the head is slower
    p: float  # one-sided (head slower); nan when there are too few runs to test
    p_adjusted: float
    base_runs: int
    head_runs: int
    method: str
    regressed: bool
    improved: bool
    #: the spread (standard deviation) of the paired log-time differences: the noise this benchmark showed
    sd_log: float = math.nan

    @property
    def name(self) -> str:
        return key_name(self.key)


def named(key: Key, names: Collection[str]) -> bool:
    """Whether one of ``names`` names the benchmark: its full name, its column, its framework, or a shell-style
    pattern (``keras-*``, ``*train_step*``) matching one of these."""
    candidates = (key_name(key), key[0], key[0].split(" [")[0])
    return any(c in names or any(fnmatch.fnmatchcase(c, n) for n in names) for c in candidates)


def gate_key(record: BenchRecord) -> Key:
    """The benchmark as the gate names it: the record's column and ``BenchmarkKey.gated`` (which says why images
    and threads are left out)."""
    return (record.column, *record.key.gated)


def summarize(runs: Sequence[Run], kinds: Sequence[str] = GATED_KINDS) -> tuple[Side, list[str], dict[Key, int]]:
    """Each run's log median per gated benchmark, in run order, the processes left out as disturbed, and per
    benchmark how many of its runs were left out. A run's figure is its process's median round (``stats.per_process``:
    the median over the process's records of the benchmark, should it hold several); a run of several processes
    counts once, by the median of its processes' figures."""
    out: Side = defaultdict(lambda: [None] * len(runs))
    dropped = []
    disturbed: dict[Key, int] = defaultdict(int)
    for i, run in enumerate(runs):
        figures: dict[Key, list[tuple[str, float]]] = defaultdict(list)
        for r in run.records:
            if r.kind not in kinds or not r.samples_s:
                continue
            process = run.process(r.process)
            key = gate_key(r)
            if process is not None and process.noise is not None and process.noise.disturbed:
                note = f"{run.path} {process.label}: {process.noise.disturbed}"
                if note not in dropped:
                    dropped.append(note)
                out[key]  # the benchmark exists, this run of it does not count
                disturbed[key] += 1
                continue
            figures[key].append((r.process or "", r.median_s))
        for key, pairs in figures.items():
            out[key][i] = float(np.log(np.median(list(per_process(pairs).values()))))
    return dict(out), dropped, dict(disturbed)


def _test(b: list[float | None], h: list[float | None], paired: bool) -> tuple[float, float, float, int, int, str]:
    """(log ratio, p slower, p faster, base runs, head runs, method) for one benchmark."""
    if paired and len(b) == len(h):
        pairs = [(x, y) for x, y in zip(b, h, strict=True) if x is not None and y is not None]
        if len(pairs) >= 2:
            diff = np.array([y - x for x, y in pairs])
            if np.ptp(diff) == 0:  # identical differences: no spread to test against
                return float(diff[0]), math.nan, math.nan, len(pairs), len(pairs), "paired (no spread)"
            slower = scipy_stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue
            faster = scipy_stats.ttest_1samp(diff, 0.0, alternative="less").pvalue
            return float(diff.mean()), float(slower), float(faster), len(pairs), len(pairs), "paired t"
    bb = np.array([x for x in b if x is not None])
    hh = np.array([y for y in h if y is not None])
    if len(bb) == 0 or len(hh) == 0:
        return math.nan, math.nan, math.nan, len(bb), len(hh), "no runs"
    effect = float(hh.mean() - bb.mean())
    if len(bb) < 2 or len(hh) < 2 or (np.ptp(bb) == 0 and np.ptp(hh) == 0):
        return effect, math.nan, math.nan, len(bb), len(hh), "too few runs to test"
    slower = scipy_stats.ttest_ind(hh, bb, equal_var=False, alternative="greater").pvalue
    faster = scipy_stats.ttest_ind(hh, bb, equal_var=False, alternative="less").pvalue
    return effect, float(slower), float(faster), len(bb), len(hh), "Welch t"


def decide(base: Mapping[Key, Sequence[float | None]], head: Mapping[Key, Sequence[float | None]], *,
           min_effect: float = MIN_EFFECT, alpha: float = ALPHA, paired: bool = True) -> list[Decision]:
    """The decision for every benchmark both sides have (log medians per run, in run order)."""
    keys = sorted(set(base) & set(head), key=str)
    rows = []
    for key in keys:
        effect, p_slow, p_fast, nb, nh, method = _test(list(base[key]), list(head[key]), paired)
        bvals = [x for x in base[key] if x is not None]
        hvals = [y for y in head[key] if y is not None]
        bm = float(np.exp(np.mean(bvals))) if bvals else math.nan
        hm = float(np.exp(np.mean(hvals))) if hvals else math.nan
        rows.append((key, bm, hm, effect, p_slow, p_fast, nb, nh, method))
    tested = [i for i, r in enumerate(rows) if math.isfinite(r[4])]
    q_slow = [math.nan] * len(rows)
    q_fast = [math.nan] * len(rows)
    if tested:
        for target, column in ((q_slow, 4), (q_fast, 5)):
            adjusted = scipy_stats.false_discovery_control([rows[i][column] for i in tested], method="bh")
            for i, q in zip(tested, adjusted, strict=True):
                target[i] = float(q)
    decisions = []
    for (key, bm, hm, effect, p_slow, _, nb, nh, method), qs, qf in zip(rows, q_slow, q_fast, strict=True):
        ratio = math.exp(effect) if math.isfinite(effect) else math.nan
        decisions.append(Decision(key, bm, hm, ratio, p_slow, qs, nb, nh, method,
                                  regressed=ratio > 1 + min_effect and qs < alpha,
                                  improved=ratio < 1 / (1 + min_effect) and qf < alpha,
                                  sd_log=_paired_spread(base[key], head[key]) if method == "paired t" else math.nan))
    return decisions


def _paired_spread(b: Sequence[float | None], h: Sequence[float | None]) -> float:
    diff = [y - x for x, y in zip(b, h, strict=True) if x is not None and y is not None]
    return float(np.std(diff, ddof=1)) if len(diff) >= 2 else math.nan


def detection(d: Decision, tested: int, *, min_effect: float, alpha: float) -> tuple[float, float]:
    """What the gate could catch on this benchmark at the noise it saw: the probability that a 20% slowdown
    fails it, and the slowdown it fails 90% of the time (``stats.paired_slowdown_power``), at the
    Benjamini-Hochberg threshold of a lone regression among ``tested`` benchmarks (alpha / tested), so a lower
    bound where several benchmarks slow down together. NaN where the test was not paired."""
    level = alpha / max(tested, 1)
    return (paired_slowdown_power(d.sd_log, d.base_runs, 0.20, min_effect=min_effect, alpha=level),
            detectable_slowdown(d.sd_log, d.base_runs, min_effect=min_effect, alpha=level))


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


def why_untested(d: Decision, disturbed: tuple[int, int]) -> str:
    """Why a benchmark could not be tested, in words: the runs each side had and how many were left out."""
    if d.method == "paired (no spread)":
        return f"every pair of runs differs by exactly the same amount ({d.base_runs} pairs): no spread to test"
    parts = []
    for side, runs, left_out in (("base", d.base_runs, disturbed[0]), ("head", d.head_runs, disturbed[1])):
        if runs == 0 and left_out:
            parts.append(f"every {side} run of it ({left_out}) was left out as disturbed by other load")
        elif runs < 2:
            parts.append(f"{runs} usable {side} run{'s' if runs != 1 else ''}"
                         + (f" ({left_out} left out as disturbed)" if left_out else "") + ", 2 are needed")
    return "; ".join(parts) or d.method


def markdown(decisions: Sequence[Decision], missing: Sequence[str], removed: Sequence[str], problems: Sequence[str],
             dropped: Sequence[str], *, min_effect: float, alpha: float, base_runs: int, head_runs: int,
             untested: Sequence[str] = (), out_of_scope: Sequence[str] = ()) -> tuple[int, str]:
    """(exit status, the Markdown for the job summary). ``untested`` and ``out_of_scope``: the benchmarks that
    could not be tested, with why (those the user declared out of scope apart)."""
    regressed = [d for d in decisions if d.regressed]
    code = EXIT_FAILED if regressed or missing else EXIT_UNTESTED if untested else EXIT_OK
    verdict = {EXIT_OK: "passed", EXIT_FAILED: "FAILED",
               EXIT_UNTESTED: f"NOT TESTED: {len(untested)} benchmark{'s' if len(untested) != 1 else ''} could "
                              "not be tested (not a pass)"}[code]
    lines = [f"## Benchmark gate: {verdict}", "",
             f"{base_runs} base and {head_runs} head runs, each run counted by its process's median round. A "
             f"benchmark fails when the head is more than {min_effect:.0%} slower AND a one-sided t-test on the "
             f"log medians (paired where the runs pair up), Benjamini-Hochberg-corrected over the "
             f"{len(decisions)} gated benchmarks, gives p < {alpha}.", ""]
    if missing:
        lines += ["**Benchmarks the base has and the head lacks or failed** (declare a removal with --removed):", ""]
        lines += [f"- {m}" for m in missing] + [""]
    if untested:
        lines += ["**Not tested**, so not passed (rerun on a quieter machine, or declare them with --out-of-scope):",
                  ""]
        lines += [f"- {u}" for u in untested] + [""]
    if out_of_scope:
        lines += ["Not tested, declared out of scope (--out-of-scope):", ""]
        lines += [f"- {u}" for u in out_of_scope] + [""]
    lines += ["| benchmark | base median | head median | head / base | p (adjusted) | runs (base/head) | test | "
              "a 20% slowdown caught | caught 90% from | |", "|---|---|---|---|---|---|---|---|---|---|"]
    tested = sum(math.isfinite(d.p) for d in decisions)
    for d in sorted(decisions, key=lambda d: -d.ratio if math.isfinite(d.ratio) else 0):
        mark = "**regression**" if d.regressed else ("faster" if d.improved else "")
        p = f"{d.p:.2g} ({d.p_adjusted:.2g})" if math.isfinite(d.p) else "-"
        power, smallest = detection(d, tested, min_effect=min_effect, alpha=alpha)
        caught = f"{power:.0%}" if math.isfinite(power) else "-"
        reach = "never" if smallest == math.inf else f"{smallest:.0%}" if math.isfinite(smallest) else "-"
        lines.append(f"| {d.name} | {1e3 * d.base_median_s:.3f} ms | {1e3 * d.head_median_s:.3f} ms | "
                     f"{d.ratio:.3f} | {p} | {d.base_runs}/{d.head_runs} | {d.method} | {caught} | {reach} | {mark} |")
    lines += ["", "Caught / from: at the spread of the paired differences this run saw, the probability that a 20% "
              "slower head fails the benchmark, and the slowdown failed 90% of the time (normal theory, at the "
              f"threshold of a lone regression, alpha / {tested}: lower bounds when several benchmarks slow "
              "together). Where the second figure is above 20%, a 20% slowdown of that benchmark would often pass."]
    if dropped:
        lines += ["", "Left out, run on a busy machine: " + "; ".join(dropped)]
    if removed:
        lines += ["", "Declared removed (not gated): " + ", ".join(removed)]
    if problems:
        lines += ["", "Unusable runs (left out): " + "; ".join(problems)]
    return code, "\n".join(lines)


def gate(base_paths: Sequence[str], head_paths: Sequence[str], *, min_effect: float = MIN_EFFECT,
         alpha: float = ALPHA, removed: Sequence[str] = (), out_of_scope: Sequence[str] = ()) -> tuple[int, str]:
    """(exit status, Markdown): 0 pass, 1 a regression or a missing benchmark, 2 no usable runs on a side, 4
    (``EXIT_UNTESTED``) a benchmark that could not be tested and is not declared in ``out_of_scope`` (names or
    shell-style patterns of benchmarks or frameworks)."""
    base_runs, problems = load_side(base_paths, "base")
    head_runs, head_problems = load_side(head_paths, "head")
    problems += head_problems
    (base, base_dropped, base_disturbed), (head, head_dropped, head_disturbed) = summarize(base_runs), \
        summarize(head_runs)
    if not base or not head:
        side = "base" if not base else "head"
        text = "\n".join([f"## Benchmark gate: NO USABLE {side.upper()} RUNS", "",
                          f"There are no gated benchmarks in the {side}'s results, so nothing can be compared "
                          "(a missing or broken baseline is never a pass).", "", *[f"- {p}" for p in problems]])
        return EXIT_USAGE, text
    removed_set = set(removed)
    broken = failed_in(head_runs)
    missing = []
    for key in sorted(base, key=str):
        if named(key, removed_set):
            continue
        if key not in head:
            why = "failed in the head" if key[0].split(" [")[0] in broken else "absent from the head"
            missing.append(f"{key_name(key)}: {why}")
    decisions = decide(base, head, min_effect=min_effect, alpha=alpha, paired=not problems)
    untested, declared = [], []
    for d in decisions:
        if not math.isfinite(d.p):
            why = f"{d.name}: {why_untested(d, (base_disturbed.get(d.key, 0), head_disturbed.get(d.key, 0)))}"
            (declared if named(d.key, out_of_scope) else untested).append(why)
    return markdown(decisions, missing, sorted(removed_set), problems, base_dropped + head_dropped,
                    min_effect=min_effect, alpha=alpha, base_runs=len(base_runs), head_runs=len(head_runs),
                    untested=untested, out_of_scope=declared)


def adjacent_pair_trials(runs: int, repeats: int, trials: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """Base and head run indices for trials that mimic the workflow: runs recorded in order are paired
    (0, 1), (2, 3)...; a trial takes ``repeats`` pairs and, in each, one run for each side at random."""
    pairs = [(i, i + 1) for i in range(0, runs - 1, 2)]
    if repeats > len(pairs):
        raise ValueError(f"{repeats} repeats need {2 * repeats} recorded runs, there are {runs}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(trials):
        chosen = rng.choice(len(pairs), size=repeats, replace=False)
        flips = rng.integers(0, 2, size=repeats)
        out.append(([pairs[c][f] for c, f in zip(chosen, flips, strict=True)],
                    [pairs[c][1 - f] for c, f in zip(chosen, flips, strict=True)]))
    return out


def false_failure_and_detection(pool: Sequence[Mapping[Key, float]], repeats: int, trials: int, *,
                                slowdown: float = 0.20, min_effect: float = MIN_EFFECT, alpha: float = ALPHA,
                                seed: int = 0) -> dict[str, float]:
    """The gate's rates on recorded runs (each a map from benchmark to its log median, in recording order):
    ``trials`` A/A comparisons of ``repeats`` runs a side (``adjacent_pair_trials``: the same code on both
    sides), each also with ``slowdown`` injected into every benchmark of one framework on the head side.

    Returns the false-failure rate (A/A trials that fail) and the detection rate (injected trials that fail),
    overall and per framework.
    """
    frameworks = sorted({k[0] for run in pool for k in run})
    keys = sorted({k for run in pool for k in run}, key=str)
    failures = 0
    caught: dict[str, int] = defaultdict(int)
    shift = math.log1p(slowdown)
    chosen = adjacent_pair_trials(len(pool), repeats, trials, seed)
    for base_idx, head_idx in chosen:
        base = {k: [pool[i].get(k) for i in base_idx] for k in keys}
        head = {k: [pool[i].get(k) for i in head_idx] for k in keys}
        failures += any(d.regressed for d in decide(base, head, min_effect=min_effect, alpha=alpha))
        for framework in frameworks:
            slowed = {k: [None if v is None else v + shift for v in vs] if k[0] == framework else vs
                      for k, vs in head.items()}
            caught[framework] += any(d.regressed for d in decide(base, slowed, min_effect=min_effect, alpha=alpha))
    rates = {"false_failure": failures / trials, "detection": sum(caught.values()) / (trials * len(frameworks))}
    rates.update({f"detection {f}": caught[f] / trials for f in frameworks})
    return rates
