"""The statistics behind every comparison the suite prints: an estimate with a confidence interval per
benchmark, a ratio with a confidence interval and a rank test per pair, a multiplicity correction over the
family of comparisons in one report, and a verdict in words. Everything comes from ``scipy.stats``.

The unit of evidence is the process. Rounds within one process share its state (this VM switches between
speed states for seconds at a time, and a process can sit in the slow one throughout), so each process is
summarised by its median round, and the bootstrap resamples processes. Each process's median already carries
its rounds' noise; resampling the rounds as well would count it twice. Throughputs are compared on the log
scale, so a ratio and its interval are symmetric in which framework comes first.

Speed verdicts: "A is faster than B by x% (95% CI lo-hi%)" needs the interval to exclude 1 *and* the
Mann-Whitney U test (exact, on the per-process throughputs) to reject equality after the Benjamini-Hochberg
correction over the report's family; "equivalent within +-m%" needs the whole interval inside the margin;
anything else is "inconclusive", with the repeats the observed spread suggests would settle it. With n
processes a side, the smallest two-sided p an exact rank test can give is 2 / C(2n, n) (0.10 at n = 3,
0.029 at n = 4, 0.0079 at n = 5), so speed verdicts need at least 4 repeats, and 5 leave room for the
correction.

Accuracy verdicts compare seeds: Welch's t-test for a difference and two one-sided Welch tests (TOST) for
equivalence within a margin in accuracy points.

Each framework at its best: choosing the fastest of several noisy candidates and estimating it from the same
figures inflates it (the winner's curse). ``best_on_half`` chooses on one half of the processes and leaves the
other half, which the choice never saw, to the estimate; the comparison is then the usual one on those figures.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
SPEED_MARGIN = 0.05  # "equivalent" means within +-5% in throughput
ACCURACY_MARGIN = 0.003  # "equivalent" means within +-0.3 accuracy points
BOOTSTRAP_RESAMPLES = 9999
SEED = 20261128  # fixed, so a report computed twice from one file says the same


@dataclass(frozen=True)
class Estimate:
    """A central estimate over units (processes or seeds) with its confidence interval."""

    value: float
    low: float
    high: float
    n: int
    method: str

    @property
    def has_interval(self) -> bool:
        return self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high)


def per_process(figures: Iterable[tuple[str, float]]) -> dict[str, float]:
    """One figure per process, from ``(process, figure)`` pairs of one benchmark: the median of that process's
    figures (each already a record's median round), in first-seen order. The one pooling every reader uses (the
    report's cells, the gate, throughputs and so the versions view and the dashboard). A process normally holds one
    record of a benchmark; where it holds several, the median is the answer, never whichever came last."""
    grouped: dict[str, list[float]] = {}
    for process, figure in figures:
        grouped.setdefault(process, []).append(figure)
    return {process: float(np.median(values)) for process, values in grouped.items()}


def _bootstrap(data: tuple[np.ndarray, ...], statistic, confidence: float) -> tuple[float, float, str]:
    """A BCa interval (percentile where BCa is undefined, e.g. identical values)."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's degenerate-distribution warning: handled by the fallback
            result = stats.bootstrap(data, statistic, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=confidence,
                                     method=method, rng=np.random.default_rng(SEED), vectorized=True)
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high), method
    value = float(statistic(*data))
    return value, value, "degenerate"


def _mean_log(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(np.log(x), axis=axis)


def _usable(per_process: Sequence[float]) -> np.ndarray:
    """The figures a throughput can use: positive and finite."""
    return np.asarray([v for v in per_process if v > 0 and math.isfinite(v)], dtype=float)


def geometric_mean(per_process: Sequence[float]) -> float:
    """The centre of ``throughput`` without its interval (nan without a usable figure)."""
    values = _usable(per_process)
    return float(np.exp(_mean_log(values))) if len(values) else math.nan


def throughput(per_process: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Images/s (or any positive per-process figure, such as a ratio) over processes: their geometric mean, with
    a bootstrap interval over processes."""
    values = _usable(per_process)
    if len(values) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "no data")
    centre = geometric_mean(values)
    if len(values) < 2 or np.ptp(values) == 0:
        return Estimate(centre, math.nan, math.nan, len(values), "one process" if len(values) < 2 else "identical")
    low, high, method = _bootstrap((values,), _mean_log, confidence)
    return Estimate(centre, math.exp(low), math.exp(high), len(values), f"bootstrap ({method}) over processes")


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` on one benchmark: the throughput ratio a/b, its interval, the rank test, the verdict."""

    what: str  # the benchmark compared (network, phase, device, batch)
    a: str
    b: str
    ratio: float  # geometric-mean throughput of a over b
    low: float
    high: float
    p: float  # exact Mann-Whitney U, two-sided, on per-process throughputs
    n_a: int
    n_b: int
    p_adjusted: float = math.nan  # Benjamini-Hochberg over the report's family
    verdict: str = "inconclusive"  # "faster", "slower", "equivalent", "inconclusive", "refused"
    words: str = ""
    repeats_needed: int | None = None
    #: how the two sides' numeric manifests differ ("field: a-value vs b-value"), empty when they agree
    mismatch: str = ""
    #: whether the mismatch refuses the comparison (the user did not allow it)
    refused: bool = False

    @property
    def percent(self) -> str:
        return f"{100 * (self.ratio - 1):+.1f}%"

    def with_note(self, note: str) -> Comparison:
        return replace(self, words=self.words + note)


def compare_throughput(what: str, a: str, b: str, a_values: Sequence[float], b_values: Sequence[float],
                       confidence: float = CONFIDENCE) -> Comparison:
    """Compare two frameworks' per-process throughputs (before the family correction)."""
    x = np.asarray([v for v in a_values if v > 0 and math.isfinite(v)], dtype=float)  # as throughput() does
    y = np.asarray([v for v in b_values if v > 0 and math.isfinite(v)], dtype=float)
    if len(x) == 0 or len(y) == 0:
        return Comparison(what, a, b, math.nan, math.nan, math.nan, math.nan, len(x), len(y))
    ratio = float(np.exp(_mean_log(x) - _mean_log(y)))
    if len(x) < 2 or len(y) < 2:
        return Comparison(what, a, b, ratio, math.nan, math.nan, math.nan, len(x), len(y))

    def log_ratio(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        return _mean_log(u, axis) - _mean_log(v, axis)

    low, high, _ = _bootstrap((x, y), log_ratio, confidence)
    p = float(stats.mannwhitneyu(x, y, alternative="two-sided", method="exact").pvalue)
    return Comparison(what, a, b, ratio, math.exp(low), math.exp(high), p, len(x), len(y))


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p an exact Mann-Whitney test can give with these sample sizes."""
    return 2.0 / math.comb(n_a + n_b, n_a) if n_a and n_b else 1.0


def _repeats_needed(log_ratio: float, half_width: float, n: int, margin: float) -> int | None:
    """Repeats per side the observed spread suggests would settle the comparison (the interval narrows as
    1/sqrt(n)): enough to exclude 1 if the effect is real, or to fit inside the margin if it is not."""
    if not (half_width > 0 and math.isfinite(half_width)):
        return None
    targets = [abs(log_ratio)] if log_ratio else []
    room = math.log1p(margin) - abs(log_ratio)
    if room > 0:
        targets.append(room)
    needed = [math.ceil(n * (half_width / t) ** 2) for t in targets if t > 0]
    best = min(needed, default=None)
    return None if best is None else max(best, n + 1, 4)


def judge(c: Comparison, alpha: float = 1 - CONFIDENCE, margin: float = SPEED_MARGIN,
          held_out: bool = False) -> Comparison:
    """The verdict and its words for one (family-corrected) comparison; ``held_out``: its figures are the half of
    each side's processes a split-sample choice left (``best_on_half``), so repeats are counted double."""
    level = f"{1 - alpha:.0%} CI"
    if c.refused:
        return replace(c, verdict="refused", words=f"not compared, unlike for like: {c.mismatch} (--allow-mismatch "
                                                   "FIELD compares them anyway, and the verdict says so)")
    if c.mismatch:
        return replace(judge(replace(c, mismatch=""), alpha, margin, held_out), mismatch=c.mismatch).with_note(
            f" [allowed mismatch: {c.mismatch}]")
    if not math.isfinite(c.ratio):
        return replace(c, verdict="inconclusive", words="no figures on one side")
    if c.n_a < 2 or c.n_b < 2:
        if held_out:
            return replace(c, verdict="inconclusive",
                           words=f"inconclusive: one process on a side (ratio {c.ratio:.2f}) once half of them chose "
                                 "the best variant: run with --repeats 8")
        return replace(c, verdict="inconclusive",
                       words=f"inconclusive: one process per framework (ratio {c.ratio:.2f}); process-to-process "
                             "variation cannot be told from the frameworks: run with --repeats 5")
    interval = f"{level} {100 * (c.low - 1):+.0f}% to {100 * (c.high - 1):+.0f}%"
    significant = c.p_adjusted < alpha
    if significant and c.low > 1:
        return replace(c, verdict="faster",
                       words=f"{c.a} is faster than {c.b} by {100 * (c.ratio - 1):.0f}% "
                             f"({level} {100 * (c.low - 1):.0f}-{100 * (c.high - 1):.0f}%)")
    if significant and c.high < 1:
        inv, lo, hi = 1 / c.ratio, 1 / c.high, 1 / c.low
        return replace(c, verdict="slower",
                       words=f"{c.b} is faster than {c.a} by {100 * (inv - 1):.0f}% "
                             f"({level} {100 * (lo - 1):.0f}-{100 * (hi - 1):.0f}%)")
    if c.low >= 1 / (1 + margin) and c.high <= 1 + margin:
        return replace(c, verdict="equivalent",
                       words=f"{c.a} and {c.b} are equivalent within +-{margin:.0%} ({interval})")
    half = (math.log(c.high) - math.log(c.low)) / 2
    needed = _repeats_needed(math.log(c.ratio), half, min(c.n_a, c.n_b), margin)
    why = ""
    if c.low > 1 or c.high < 1:
        floor = smallest_p(c.n_a, c.n_b)
        why = (f"; the interval excludes 1 but the rank test does not reject after correction (p {c.p:.3f}, "
               f"adjusted {c.p_adjusted:.3f}; the smallest p {c.n_a} v {c.n_b} processes allow is {floor:.4f})")
    more = f"; about {needed} repeats per framework would settle it" if needed else ""
    if needed and held_out:  # n repeats hold out ceil(n / 2) processes
        more = f"; about {2 * needed - 1} repeats per framework ({needed} held out a side) would settle it"
    return replace(c, verdict="inconclusive", repeats_needed=needed,
                   words=f"inconclusive: {c.a}/{c.b} = {c.ratio:.2f} ({interval}){why}{more}")


def correct(comparisons: Sequence[Comparison], alpha: float = 1 - CONFIDENCE,
            margin: float = SPEED_MARGIN, held_out: Sequence[bool] | None = None) -> list[Comparison]:
    """Benjamini-Hochberg over the family (the comparisons with a test), then each verdict (``judge``; ``held_out``
    says, per comparison, whether its figures are a held-out half)."""
    tested = [i for i, c in enumerate(comparisons) if math.isfinite(c.p)]
    adjusted = list(comparisons)
    if tested:
        ps = stats.false_discovery_control([comparisons[i].p for i in tested], method="bh")
        for i, p in zip(tested, ps, strict=True):
            adjusted[i] = replace(comparisons[i], p_adjusted=float(p))
    halves = list(held_out) if held_out is not None else [False] * len(adjusted)
    return [judge(c, alpha, margin, half) for c, half in zip(adjusted, halves, strict=True)]


# --- each framework at its best ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Best:
    """A split-sample choice: the candidate chosen, and the figures an estimate of it may use."""

    chosen: str
    figures: list[float]  # the chosen candidate's figures on the units the choice did not look at
    chosen_on: int  # units the choice looked at: 0 when nothing was chosen from the data (then every unit counts)
    candidates: int  # how many it was chosen from


def best_on_half(candidates: Mapping[str, Mapping[str, float]], selection: Collection[str], default: str) -> Best:
    """Split-sample selection of the fastest of ``candidates`` (name -> {unit: figure}, higher is better).

    The choice looks only at the units in ``selection``: the candidate with the highest geometric mean there
    (the first of equals, in ``candidates``' order). Its figures on the other units are what an estimate may use:
    they carry none of the choice, so an interval from them keeps its coverage however many candidates there
    were, where figures that also made the choice would be biased upwards (the best of several noisy means
    overstates its own mean). Where nothing is chosen from the data (``default`` is the only candidate, or no
    candidate has a figure on the selection units) the estimate uses every unit of ``default``."""
    scores = {name: geometric_mean([v for unit, v in figures.items() if unit in selection])
              for name, figures in candidates.items()}
    scored = {name: score for name, score in scores.items() if math.isfinite(score)}
    if len(candidates) < 2 or not scored:
        return Best(default, list(candidates[default].values()), 0, len(candidates))
    chosen = max(scored, key=lambda name: scored[name])  # max keeps the first of equal scores
    looked = {unit for name in candidates for unit in candidates[name] if unit in selection}
    return Best(chosen, [v for unit, v in candidates[chosen].items() if unit not in selection], len(looked),
                len(candidates))


# --- accuracy over seeds ----------------------------------------------------------------------------------
def mean_with_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[Estimate, float]:
    """(mean with Student's t interval, sample standard deviation) of per-seed values."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "no data"), math.nan
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, 1, "one seed"), math.nan
    sd = float(x.std(ddof=1))
    if sd == 0:
        return Estimate(mean, mean, mean, n, "identical"), 0.0
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sd / math.sqrt(n))
    return Estimate(mean, float(low), float(high), n, "Student t over seeds"), sd


@dataclass(frozen=True)
class AccuracyComparison:
    """Two frameworks' accuracies over seeds on one network: difference (a - b), its interval, the tests."""

    network: str
    a: str
    b: str
    difference: float
    low: float
    high: float
    p: float  # Welch's t-test, two-sided
    p_equivalence: float  # TOST: the larger of the two one-sided p-values
    n_a: int
    n_b: int
    margin: float
    p_adjusted: float = math.nan
    verdict: str = "inconclusive"
    words: str = ""


def compare_accuracy(network: str, a: str, b: str, a_values: Sequence[float], b_values: Sequence[float],
                     margin: float = ACCURACY_MARGIN, confidence: float = CONFIDENCE) -> AccuracyComparison:
    """Welch's t-test for a difference and TOST for equivalence within ``margin`` (accuracy as a fraction)."""
    x, y = np.asarray(a_values, dtype=float), np.asarray(b_values, dtype=float)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    if len(x) < 2 or len(y) < 2 or (x.std() == 0 and y.std() == 0):
        return AccuracyComparison(network, a, b, diff, math.nan, math.nan, math.nan, math.nan, len(x), len(y), margin)
    welch = stats.ttest_ind(x, y, equal_var=False)
    ci = welch.confidence_interval(confidence)
    lower = stats.ttest_ind(x + margin, y, equal_var=False, alternative="greater").pvalue  # H0: diff <= -margin
    upper = stats.ttest_ind(x - margin, y, equal_var=False, alternative="less").pvalue  # H0: diff >= +margin
    return AccuracyComparison(network, a, b, diff, float(ci.low), float(ci.high), float(welch.pvalue),
                              float(max(lower, upper)), len(x), len(y), margin)


def correct_accuracy(comparisons: Sequence[AccuracyComparison],
                     alpha: float = 1 - CONFIDENCE) -> list[AccuracyComparison]:
    """Benjamini-Hochberg over the difference tests and over the equivalence tests, then the verdicts."""
    out = list(comparisons)
    tested = [i for i, c in enumerate(out) if math.isfinite(c.p)]
    if tested:
        p_diff = stats.false_discovery_control([out[i].p for i in tested], method="bh")
        p_eq = stats.false_discovery_control([out[i].p_equivalence for i in tested], method="bh")
        for i, pd, pe in zip(tested, p_diff, p_eq, strict=True):
            out[i] = replace(out[i], p_adjusted=float(pd), p_equivalence=float(pe))
    judged = []
    for c in out:
        points = f"{100 * c.difference:+.2f} points"
        interval = f"{1 - alpha:.0%} CI {100 * c.low:+.2f} to {100 * c.high:+.2f}"
        if not math.isfinite(c.p):
            judged.append(replace(c, words=f"inconclusive: fewer than two seeds on a side ({points})"))
        elif c.p_equivalence < alpha:
            judged.append(replace(c, verdict="equivalent", words=f"{c.a} and {c.b} are equivalent within "
                                  f"+-{100 * c.margin:.1f} points ({points}, {interval})"))
        elif c.p_adjusted < alpha:
            better, worse = (c.a, c.b) if c.difference > 0 else (c.b, c.a)
            judged.append(replace(c, verdict="more accurate" if c.difference > 0 else "less accurate",
                                  words=f"{better} is more accurate than {worse} by {abs(100 * c.difference):.2f} "
                                        f"points ({interval})"))
        else:
            judged.append(replace(c, words=f"inconclusive: {points} ({interval}); neither a difference nor "
                                           f"equivalence within +-{100 * c.margin:.1f} points is shown"))
    return judged


@dataclass(frozen=True)
class PairedDifference:
    """The difference of two accuracies measured on the same items (``a - b``), with its confidence interval.

    ``only_a`` and ``only_b`` are the discordant items (right in one, wrong in the other); ``both`` and
    ``neither`` the concordant ones."""

    difference: float
    low: float
    high: float
    n: int
    only_a: int
    only_b: int
    confidence: float
    method: str = "Newcombe (1998) method 10: Wilson score intervals (scipy.stats) with the correlation correction"


def paired_accuracy_difference(a_correct: Sequence[bool] | np.ndarray, b_correct: Sequence[bool] | np.ndarray,
                               confidence: float = CONFIDENCE) -> PairedDifference:
    """Accuracy of ``a`` minus accuracy of ``b`` on the same items, with Newcombe's hybrid score interval for the
    difference of paired proportions (Newcombe 1998, Statistics in Medicine 17:2635-2650, method 10; the
    "square-and-add" interval of Fagerland, Lydersen and Laake, *Statistical Analysis of Contingency Tables*, 2017,
    chapter 8, who recommend it for paired 2x2 tables).

    The two marginal accuracies get Wilson score intervals from ``scipy.stats.binomtest``; they are combined with
    the estimated correlation between the two (its continuity-corrected form, as Newcombe defines it), so the
    interval accounts for the items being the same. Neither scipy nor the released statsmodels (0.15) has an
    interval for paired proportions; this is the composition the references give, checked against their worked
    example in ``tests/test_stats.py``. With no discordant item the interval stays open (about +-0.04 points on
    10,000 items at 95%), unlike the Wald interval, which collapses to a point.
    """
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"need two equally long, non-empty 1-D outcomes, got shapes {a.shape} and {b.shape}")
    n = len(a)
    both, only_a, only_b = int(np.sum(a & b)), int(np.sum(a & ~b)), int(np.sum(~a & b))
    neither = n - both - only_a - only_b
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    ci1 = stats.binomtest(both + only_a, n).proportion_ci(confidence_level=confidence, method="wilson")
    ci2 = stats.binomtest(both + only_b, n).proportion_ci(confidence_level=confidence, method="wilson")
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    if margins == 0:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(margins)
    elif cross >= 0:
        phi = 0.0
    else:
        phi = cross / math.sqrt(margins)
    d1, e1 = p1 - ci1.low, ci1.high - p1  # how far each marginal's interval reaches below / above it
    d2, e2 = p2 - ci2.low, ci2.high - p2
    difference = p1 - p2
    low = difference - math.sqrt(max(d1 ** 2 - 2 * phi * d1 * e2 + e2 ** 2, 0.0))
    high = difference + math.sqrt(max(e1 ** 2 - 2 * phi * e1 * d2 + d2 ** 2, 0.0))
    return PairedDifference(difference, max(low, -1.0), min(high, 1.0), n, only_a, only_b, confidence)


def latency_percentiles(samples_s: Sequence[float]) -> dict[str, float | int]:
    """Per-request latency figures of a list of request times (numpy percentiles, linear interpolation)."""
    if not samples_s:
        raise ValueError("no request times to summarise")
    values = np.asarray(samples_s, np.float64)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"requests": len(values), "p50_s": float(p50), "p90_s": float(p90), "p99_s": float(p99),
            "max_s": float(values.max()), "mean_s": float(values.mean())}


# --- what the pull-request gate can detect -------------------------------------------------------------------
POWER_DRAWS = 20_000  # normal-theory draws per power figure: its Monte Carlo error is under 0.004


def paired_slowdown_power(sd_log: float, pairs: int, slowdown: float, *, min_effect: float, alpha: float,
                          draws: int = POWER_DRAWS, seed: int = SEED) -> float:
    """The probability that the gate's rule fails a benchmark truly slowed by ``slowdown`` (0.2: 20%) with
    ``pairs`` paired runs whose log-time differences are normal with standard deviation ``sd_log``: a one-sided
    paired t-test at level ``alpha`` AND an estimated slowdown beyond ``min_effect``. Normal theory: the mean
    difference and the sample variance are drawn from their exact distributions (the mean normal, the variance
    a scaled chi-square, independent), so the figure is the rule's exact probability up to Monte Carlo error;
    without ``min_effect`` it is the noncentral-t power. NaN with fewer than 2 pairs or no spread."""
    if pairs < 2 or not (sd_log > 0 and math.isfinite(sd_log)):
        return math.nan
    rng = np.random.default_rng(seed)
    mean = rng.normal(math.log1p(slowdown), sd_log / math.sqrt(pairs), draws)
    sd = sd_log * np.sqrt(rng.chisquare(pairs - 1, draws) / (pairs - 1))
    critical = stats.t.ppf(1 - alpha, pairs - 1)
    return float(np.mean((mean / (sd / math.sqrt(pairs)) > critical) & (mean > math.log1p(min_effect))))


def detectable_slowdown(sd_log: float, pairs: int, *, power: float = 0.9, min_effect: float, alpha: float,
                        largest: float = 10.0) -> float:
    """The smallest slowdown (0.2: 20%) the gate's rule catches with probability ``power`` at this noise:
    ``paired_slowdown_power`` inverted by bisection (it grows with the slowdown; the same draws throughout).
    Infinite when even ``largest`` (10: an 11x slower head) is caught less often."""
    if not math.isfinite(paired_slowdown_power(sd_log, pairs, 0.0, min_effect=min_effect, alpha=alpha)):
        return math.nan
    if paired_slowdown_power(sd_log, pairs, largest, min_effect=min_effect, alpha=alpha) < power:
        return math.inf
    low, high = min_effect, largest  # below min_effect nothing is ever failed
    while high - low > 0.001:
        middle = (low + high) / 2
        if paired_slowdown_power(sd_log, pairs, middle, min_effect=min_effect, alpha=alpha) >= power:
            high = middle
        else:
            low = middle
    return high
