"""The statistics behind every verdict (stats.py), on hand-made per-process figures: these test the
decision rules, they are not measurements."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frameworks import stats


def test_an_estimate_is_the_geometric_mean_with_an_interval_that_contains_it():
    e = stats.throughput([100, 110, 105, 98, 102])
    assert e.value == pytest.approx(102.9157033)  # (100*110*105*98*102) ** (1/5), not the mean 103
    assert e.low == pytest.approx(99.764, abs=1e-3) and e.high == pytest.approx(107.348, abs=1e-3)  # fixed seed
    assert e.n == 5 and e.method == "bootstrap (BCa) over processes"


def test_one_process_has_no_interval():
    e = stats.throughput([100])
    assert e.value == pytest.approx(100) and not e.has_interval and e.method == "one process"


def test_a_clear_difference_is_a_faster_verdict_with_the_percentage_and_interval():
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", [100, 110, 105, 98, 102], [80, 82, 85, 79, 81])])
    assert c.verdict == "faster" and c.low > 1
    assert c.words.startswith("A is faster than B by 26% (95% CI")


def test_the_slower_side_is_named_as_the_faster_one():
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", [80, 82, 85, 79, 81], [100, 110, 105, 98, 102])])
    assert c.verdict == "slower" and c.words.startswith("B is faster than A by")


def test_a_tight_tie_is_equivalent_within_the_margin():
    a = [100.0, 100.5, 99.8, 100.2, 100.1]
    b = [100.3, 99.9, 100.0, 100.4, 99.7]
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", a, b)])
    assert c.verdict == "equivalent" and "equivalent within +-5%" in c.words


def test_a_wide_overlap_is_inconclusive_and_says_how_many_repeats_would_settle_it():
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", [100, 120, 90, 110, 95], [105, 98, 115, 92, 100])])
    assert c.verdict == "inconclusive" and c.repeats_needed and c.repeats_needed > 5
    assert f"about {c.repeats_needed} repeats" in c.words


def test_three_repeats_can_never_reach_significance_and_the_words_say_why():
    """With 3 processes a side the exact rank test's smallest p is 0.1: an interval that excludes 1 is not enough."""
    assert stats.smallest_p(3, 3) == pytest.approx(0.1)
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", [100, 101, 102], [80, 81, 82])])
    assert c.low > 1 and c.verdict == "inconclusive" and "smallest p" in c.words


def test_one_process_each_is_inconclusive_and_asks_for_repeats():
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", [100], [50])])
    assert c.verdict == "inconclusive" and "--repeats 5" in c.words


def test_benjamini_hochberg_adjusts_over_the_family():
    """Benjamini-Hochberg by hand: sorted p 0.005, 0.01, 0.03, 0.04 times m/rank (4/1, 4/2, 4/3, 4/4) give 0.02,
    0.02, 0.04, 0.04, already monotone. The old check (``p_adjusted >= p``) passed Bonferroni (0.04, 0.16, 0.12,
    0.02) and Holm (0.03, 0.06, 0.06, 0.02) as well; these literals fail both."""
    family = [stats.Comparison(f"c{i}", "A", "B", 1.3, 1.2, 1.4, p, 5, 5) for i, p in enumerate([0.01, 0.04, 0.03,
                                                                                                    0.005])]
    corrected = stats.correct(family)
    assert [c.p_adjusted for c in corrected] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert [c.verdict for c in corrected] == ["faster", "faster", "faster", "faster"]
    # a comparison without a test (NaN p) is left out of the family: m stays 4
    untested = stats.Comparison("none", "A", "B", 1.3, math.nan, math.nan, math.nan, 1, 1)
    assert [c.p_adjusted for c in stats.correct([untested, *family])][1:] == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_the_correction_can_turn_a_significant_p_into_an_inconclusive_verdict():
    """p 0.03 alone is significant at 0.05; beside 0.04 and 0.06, BH gives all three 0.06 (0.03 * 3/1 = 0.09 and
    0.04 * 3/2 = 0.06 are lowered by monotonicity to 0.06 * 3/3), which is not below alpha."""
    family = [stats.Comparison(f"c{i}", "A", "B", 1.3, 1.2, 1.4, p, 5, 5) for i, p in enumerate([0.03, 0.04, 0.06])]
    assert stats.correct(family[:1])[0].verdict == "faster"
    corrected = stats.correct(family)
    assert [c.p_adjusted for c in corrected] == pytest.approx([0.06, 0.06, 0.06])
    assert {c.verdict for c in corrected} == {"inconclusive"}
    assert "the interval excludes 1 but the rank test does not reject after correction (p 0.030, adjusted 0.060; " \
           "the smallest p 5 v 5 processes allow is 0.0079)" in corrected[0].words


def test_accuracy_equivalence_difference_and_inconclusive():
    equal = stats.compare_accuracy("n", "A", "B", [0.985, 0.986, 0.984, 0.985, 0.986],
                                   [0.985, 0.984, 0.986, 0.985, 0.985])
    better = stats.compare_accuracy("n", "A", "B", [0.99, 0.991, 0.989, 0.99, 0.991],
                                    [0.98, 0.981, 0.979, 0.98, 0.981])
    unclear = stats.compare_accuracy("n", "A", "B", [0.98, 0.99, 0.975], [0.985, 0.97, 0.99])
    out = stats.correct_accuracy([equal, better, unclear])
    assert out[0].verdict == "equivalent" and "equivalent within +-0.3 points" in out[0].words
    assert out[1].verdict == "more accurate" and out[1].words.startswith("A is more accurate than B by 1.00 points")
    assert out[2].verdict == "inconclusive"


def test_mean_with_interval_over_seeds():
    e, sd = stats.mean_with_interval([0.98, 0.99, 0.985])
    assert e.value == pytest.approx(0.985) and sd == pytest.approx(0.005) and e.low < 0.985 < e.high


@settings(max_examples=60, deadline=None)
@given(a=st.lists(st.floats(1, 1e6), min_size=1, max_size=6), b=st.lists(st.floats(1, 1e6), min_size=1, max_size=6))
def test_any_figures_give_a_verdict_in_words(a, b):
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", a, b)])
    assert c.verdict in ("faster", "slower", "equivalent", "inconclusive") and c.words
    if c.verdict in ("faster", "slower"):
        assert not (c.low <= 1 <= c.high)


# --- every field, as literals: each figure's value, worked by hand where the arithmetic is short -----------------
def fields(obj) -> dict:
    return dataclasses.asdict(obj)


def expect(**values):
    """``values`` to compare with ``fields(...)``: floats to 1e-6 relative (NaN equal to NaN), the rest exactly."""
    return {k: pytest.approx(v, rel=1e-6, nan_ok=True) if isinstance(v, float) else v for k, v in values.items()}


NAN = math.nan


@pytest.mark.parametrize("values, expected", [
    # only positive finite figures count: sqrt(100 * 110) = 104.88; two processes bound the interval
    ([100, 0, -5, NAN, math.inf, 110], (104.880885, 100.0, 110.0, 2, "bootstrap (BCa) over processes")),
    ([5, 5, 5], (5.0, NAN, NAN, 3, "identical")),
    ([7], (7.0, NAN, NAN, 1, "one process")),
    ([], (NAN, NAN, NAN, 0, "no data")),
    ([0, -1], (NAN, NAN, NAN, 0, "no data")),
    ([100, 100, 100, 200], (118.920712, 100.0, 168.179283, 4, "bootstrap (BCa) over processes")),  # 200 ** (1/4) x
])
def test_throughput_estimates_field_by_field(values, expected):
    value, low, high, n, method = expected
    assert fields(stats.throughput(values)) == expect(value=value, low=low, high=high, n=n, method=method)


def test_an_interval_has_a_confidence_level_and_needs_two_finite_ends():
    assert stats.throughput([100, 110, 105, 98, 102], confidence=0.5).high < 107.348  # narrower than the 95% one
    assert stats.Estimate(1.0, 0.9, 1.1, 2, "m").has_interval
    assert not stats.Estimate(1.0, 0.9, 1.1, 1, "m").has_interval
    assert not stats.Estimate(1.0, NAN, 1.1, 2, "m").has_interval
    assert not stats.Estimate(1.0, 0.9, math.inf, 2, "m").has_interval


def comparison(ratio, low, high, p, n_a, n_b, **more):
    return expect(what="x", a="A", b="B", ratio=ratio, low=low, high=high, p=p, n_a=n_a, n_b=n_b,
                  p_adjusted=more.pop("p_adjusted", NAN), verdict=more.pop("verdict", "inconclusive"),
                  words=more.pop("words", ""), repeats_needed=more.pop("repeats_needed", None),
                  mismatch=more.pop("mismatch", ""), refused=more.pop("refused", False))


@pytest.mark.parametrize("a, b, expected", [
    # ratio = geometric means 102.9157 / 81.3736; p = 2 / C(10, 5): the five a's all above the five b's
    ([100, 110, 105, 98, 102], [80, 82, 85, 79, 81], (1.26472083, 1.21597811, 1.32203678, 0.00793651, 5, 5)),
    # zeros and negatives dropped on each side: sqrt(100 * 110) / sqrt(80 * 90) = 1.2360
    ([100, 0, 110], [80, -1, 90], (1.23603308, 1.11111111, 1.375, 1 / 3, 2, 2)),
    ([100], [80, 90], (1.17851130, NAN, NAN, NAN, 1, 2)),  # 100 / sqrt(7200), no interval from one process
    ([0], [80], (NAN, NAN, NAN, NAN, 0, 1)),
])
def test_compare_throughput_field_by_field(a, b, expected):
    assert fields(stats.compare_throughput("x", "A", "B", a, b)) == comparison(*expected)


def test_each_verdict_in_full_words():
    faster = stats.compare_throughput("x", "A", "B", [100, 110, 105, 98, 102], [80, 82, 85, 79, 81])
    slower = stats.compare_throughput("x", "A", "B", [80, 82, 85, 79, 81], [100, 110, 105, 98, 102])
    tie = stats.compare_throughput("x", "A", "B", [100.0, 100.5, 99.8, 100.2, 100.1], [100.3, 99.9, 100.0, 100.4,
                                                                                         99.7])
    wide = stats.compare_throughput("x", "A", "B", [100, 120, 90, 110, 95], [105, 98, 115, 92, 100])
    out = stats.correct([faster, slower, tie, wide])
    assert [c.verdict for c in out] == ["faster", "slower", "equivalent", "inconclusive"]
    assert out[0].words == "A is faster than B by 26% (95% CI 22-32%)"
    assert out[1].words == "B is faster than A by 26% (95% CI 22-32%)"
    assert out[2].words == "A and B are equivalent within +-5% (95% CI -0% to +0%)"
    assert out[3].words == ("inconclusive: A/B = 1.01 (95% CI -10% to +13%); about 37 repeats per framework would "
                            "settle it")
    assert [c.p_adjusted for c in out] == pytest.approx([0.015873, 0.015873, 1.0, 1.0], rel=1e-4)  # BH x 4/2, 4/4
    assert [c.repeats_needed for c in out] == [None, None, None, 37]
    assert (out[1].ratio, out[1].low, out[1].high) == pytest.approx((0.79068833, 0.75616133, 0.82164636), rel=1e-6)


def test_alpha_and_margin_reach_the_verdict_and_its_words():
    tie = stats.compare_throughput("x", "A", "B", [100.0, 100.5, 99.8, 100.2, 100.1], [100.3, 99.9, 100.0, 100.4,
                                                                                         99.7])
    (c,) = stats.correct([tie], alpha=0.01, margin=0.001)  # the 0.4% interval no longer fits inside +-0.1%
    assert c.verdict == "inconclusive" and c.repeats_needed == 134
    assert c.words == "inconclusive: A/B = 1.00 (99% CI -0% to +0%); about 134 repeats per framework would settle it"
    (c,) = stats.correct([tie], margin=0.004)  # 0.9976..1.0038 fits inside 1/1.004..1.004
    assert c.verdict == "equivalent" and c.words.startswith("A and B are equivalent within +-0%")
    (c,) = stats.correct([tie], margin=0.003)  # ...but not inside 1/1.003 (0.99701)..1.003
    assert c.verdict == "inconclusive"
    clear = stats.compare_throughput("x", "A", "B", [100, 110, 105, 98, 102], [80, 82, 85, 79, 81])
    (c,) = stats.correct([clear], alpha=0.005)  # p 0.0079 is not below 0.005
    assert c.verdict == "inconclusive" and c.words == (
        "inconclusive: A/B = 1.26 (100% CI +22% to +32%); the interval excludes 1 but the rank test does not reject "
        "after correction (p 0.008, adjusted 0.008; the smallest p 5 v 5 processes allow is 0.0079); about 6 repeats "
        "per framework would settle it")


def test_verdicts_without_enough_figures():
    (none,) = stats.correct([stats.compare_throughput("x", "A", "B", [0], [80])])
    assert fields(none) == comparison(NAN, NAN, NAN, NAN, 0, 1, words="no figures on one side")
    (one,) = stats.correct([stats.compare_throughput("x", "A", "B", [100], [50])])
    assert one.words == ("inconclusive: one process per framework (ratio 2.00); process-to-process variation cannot "
                         "be told from the frameworks: run with --repeats 5")
    (uneven,) = stats.correct([stats.compare_throughput("x", "A", "B", [100, 101], [50])])
    assert uneven.verdict == "inconclusive" and "one process per framework (ratio 2.01)" in uneven.words
    (three,) = stats.correct([stats.compare_throughput("x", "A", "B", [100, 101, 102], [80, 81, 82])])
    assert three.words == ("inconclusive: A/B = 1.25 (95% CI +23% to +27%); the interval excludes 1 but the rank test "
                           "does not reject after correction (p 0.100, adjusted 0.100; the smallest p 3 v 3 processes "
                           "allow is 0.1000); about 4 repeats per framework would settle it")
    below = stats.Comparison("x", "A", "B", 0.8, 0.7, 0.9, 0.2, 5, 5, p_adjusted=0.2)  # excludes 1 from below
    assert "the interval excludes 1 but the rank test does not reject" in stats.judge(below).words


@pytest.mark.parametrize("log_ratio, half_width, n, margin, expected", [
    (math.log(1.02), 0.06, 5, 0.05, 22),  # ceil(5 * (0.06 / log 1.02) ** 2) = ceil(45.9)... or to fit the margin:
    (-math.log(1.02), 0.06, 5, 0.05, 22),  # ceil(5 * (0.06 / (log 1.05 - log 1.02)) ** 2) = 22, the smaller
    (0.0, 0.06, 5, 0.05, 8),  # no effect: only the margin, ceil(5 * (0.06 / log 1.05) ** 2) = ceil(7.56)
    (math.log(1.06), 0.06, 5, 0.05, 6),  # beyond the margin: only the effect, ceil(5 * (0.06 / log 1.06) ** 2)
    (math.log(1.02), 1e-4, 10, 0.05, 11),  # never fewer than one more than now
    (math.log(1.02), 1e-4, 2, 0.05, 4),  # never fewer than 4 (the exact test's floor)
    (0.1, 0.0, 5, 0.05, None), (0.1, NAN, 5, 0.05, None), (0.1, math.inf, 5, 0.05, None),
    (0.0, 0.06, 5, 0.0, None),  # no effect and no margin: nothing to aim for
])
def test_repeats_needed(log_ratio, half_width, n, margin, expected):
    assert stats._repeats_needed(log_ratio, half_width, n, margin) == expected


@pytest.mark.parametrize("n_a, n_b, expected", [(3, 3, 0.1), (4, 4, 2 / 70), (5, 5, 2 / 252), (2, 3, 0.2),
                                                (0, 3, 1.0), (3, 0, 1.0)])
def test_smallest_p(n_a, n_b, expected):
    assert stats.smallest_p(n_a, n_b) == pytest.approx(expected)


@pytest.mark.parametrize("values, confidence, expected, sd", [
    # mean 0.985, sd 0.005; t(0.975, 2) = 4.302653, so +-4.302653 * 0.005 / sqrt(3) = +-0.0124207
    ([0.98, 0.99, 0.985], 0.95, (0.985, 0.9725793, 0.9974207, 3, "Student t over seeds"), 0.005),
    ([0.98, 0.99, 0.985], 0.99, (0.985, 0.9563494, 1.0136506, 3, "Student t over seeds"), 0.005),  # t = 9.924843
    ([0.9], 0.95, (0.9, NAN, NAN, 1, "one seed"), NAN),
    ([0.9, 0.9], 0.95, (0.9, 0.9, 0.9, 2, "identical"), 0.0),
    ([], 0.95, (NAN, NAN, NAN, 0, "no data"), NAN),
])
def test_mean_with_interval_field_by_field(values, confidence, expected, sd):
    e, got_sd = stats.mean_with_interval(values, confidence)
    value, low, high, n, method = expected
    assert fields(e) == expect(value=value, low=low, high=high, n=n, method=method)
    assert got_sd == pytest.approx(sd, nan_ok=True)


def accuracy(difference, low, high, p, p_equivalence, n_a, n_b, **more):
    return expect(network="n", a="A", b="B", difference=difference, low=low, high=high, p=p,
                  p_equivalence=p_equivalence, n_a=n_a, n_b=n_b, margin=more.pop("margin", 0.003),
                  p_adjusted=more.pop("p_adjusted", NAN), verdict=more.pop("verdict", "inconclusive"),
                  words=more.pop("words", ""))


def test_compare_accuracy_field_by_field():
    """Welch by hand for the first: each side's variance 7e-7, so the standard error is sqrt(2 * 7e-7 / 5) =
    5.2915e-4, t = 18.9 on 8 degrees of freedom, and the interval 0.01 +- 2.306 * 5.2915e-4."""
    better = stats.compare_accuracy("n", "A", "B", [0.99, 0.991, 0.989, 0.99, 0.991], [0.98, 0.981, 0.979, 0.98, 0.981])
    assert fields(better) == accuracy(0.01, 0.00877978, 0.01122022, 6.3563633e-08, 0.99999949, 5, 5)
    assert fields(stats.compare_accuracy("n", "A", "B", [0.98], [0.97, 0.99])) == accuracy(0.0, NAN, NAN, NAN, NAN,
                                                                                            1, 2)
    assert fields(stats.compare_accuracy("n", "A", "B", [0.97, 0.99], [0.98])) == accuracy(0.0, NAN, NAN, NAN, NAN,
                                                                                            2, 1)
    assert fields(stats.compare_accuracy("n", "A", "B", [0.98, 0.98], [0.97, 0.97])) == accuracy(0.01, NAN, NAN, NAN,
                                                                                                  NAN, 2, 2)
    assert fields(stats.compare_accuracy("n", "A", "B", [], [0.97, 0.97])) == accuracy(NAN, NAN, NAN, NAN, NAN, 0, 2)
    wider = stats.compare_accuracy("n", "A", "B", [0.99, 0.991, 0.989, 0.99, 0.991], [0.98, 0.981, 0.979, 0.98,
                                                                                       0.981], margin=0.02)
    assert wider.margin == 0.02 and wider.p_equivalence == pytest.approx(3.1781816e-08, rel=1e-6)


def test_accuracy_verdicts_in_full_words():
    equal = stats.compare_accuracy("n", "A", "B", [0.985, 0.986, 0.984, 0.985, 0.986],
                                   [0.985, 0.984, 0.986, 0.985, 0.985])
    better = stats.compare_accuracy("n", "A", "B", [0.99, 0.991, 0.989, 0.99, 0.991], [0.98, 0.981, 0.979, 0.98, 0.981])
    worse = stats.compare_accuracy("n", "A", "B", [0.98, 0.981, 0.979, 0.98, 0.981], [0.99, 0.991, 0.989, 0.99, 0.991])
    unclear = stats.compare_accuracy("n", "A", "B", [0.98, 0.99, 0.975], [0.985, 0.97, 0.99])
    few = stats.compare_accuracy("n", "A", "B", [0.98], [0.97, 0.99])
    out = stats.correct_accuracy([equal, better, worse, unclear, few])
    assert [c.verdict for c in out] == ["equivalent", "more accurate", "less accurate", "inconclusive",
                                        "inconclusive"]
    assert [c.words for c in out] == [
        "A and B are equivalent within +-0.3 points (+0.02 points, 95% CI -0.09 to +0.13)",
        "A is more accurate than B by 1.00 points (95% CI +0.88 to +1.12)",
        "B is more accurate than A by 1.00 points (95% CI -1.12 to -0.88)",
        "inconclusive: -0.00 points (95% CI -2.15 to +2.15); neither a difference nor equivalence within +-0.3 "
        "points is shown",
        "inconclusive: fewer than two seeds on a side (+0.00 points)"]
    # BH by hand over p = 0.694090, 6.3564e-8, 6.3564e-8, 1.0: 6.3564e-8 x 4/2, 0.694090 x 4/3; and over the
    # equivalence p = 2.4669e-4, 0.9999995, 0.9999995, 0.354826: 2.4669e-4 x 4/1, 0.354826 x 4/2
    assert [c.p_adjusted for c in out[:4]] == pytest.approx([0.925454, 1.2712727e-07, 1.2712727e-07, 1.0], rel=1e-5)
    assert [c.p_equivalence for c in out[:4]] == pytest.approx([9.8677196e-04, 0.9999995, 0.9999995, 0.709652],
                                                               rel=1e-5)
    assert math.isnan(out[4].p_adjusted) and math.isnan(out[4].p_equivalence)
    (strict,) = stats.correct_accuracy([better], alpha=1e-9)
    assert strict.verdict == "inconclusive" and "(100% CI +0.88 to +1.12)" in strict.words


# --- boundaries: each comparison in the rules is strict or not for a reason ----------------------------------------
ALPHA = 1 - stats.CONFIDENCE  # the default alpha, exactly as the code computes it


def judged(ratio, low, high, p, n=5):
    (c,) = stats.correct([stats.Comparison("x", "A", "B", ratio, low, high, p, n, n)])
    return c.verdict, c.words


def test_the_verdict_boundaries():
    # an interval that touches 1 is not "faster" or "slower", however small p is, and does not "exclude 1"
    assert judged(1.1, 1.0, 1.2, 0.01) == ("inconclusive", "inconclusive: A/B = 1.10 (95% CI +0% to +20%); about "
                                                           "6 repeats per framework would settle it")
    assert judged(0.9, 0.8, 1.0, 0.01) == ("inconclusive", "inconclusive: A/B = 0.90 (95% CI -20% to +0%); about "
                                                           "6 repeats per framework would settle it")
    assert judged(1.0, 0.9, 1.1, 0.01)[0] == "inconclusive"  # significant, but the interval straddles 1
    assert judged(1.2, 1.1, 1.3, ALPHA)[0] == "inconclusive"  # p must be below alpha, not equal to it
    # an interval exactly on the margin's edges is inside it
    assert judged(1.0, 1 / 1.05, 1.05, 0.5) == ("equivalent", "A and B are equivalent within +-5% (95% CI -5% to +5%)")
    # no width, no repeats to suggest
    assert judged(1.2, 1.2, 1.2, 0.5) == ("inconclusive", "inconclusive: A/B = 1.20 (95% CI +20% to +20%); the "
                                          "interval excludes 1 but the rank test does not reject after correction (p "
                                          "0.500, adjusted 0.500; the smallest p 5 v 5 processes allow is 0.0079)")
    assert judged(2.0, 1.5, 2.5, 0.01, n=2)[0] == "faster"  # two processes a side are enough to judge


def test_judging_again_never_keeps_an_old_verdict():
    nothing = stats.Comparison("x", "A", "B", NAN, NAN, NAN, NAN, 0, 1, verdict="faster")
    assert stats.judge(nothing).verdict == "inconclusive"
    one = stats.Comparison("x", "A", "B", 2.0, NAN, NAN, NAN, 1, 1, verdict="faster")
    assert stats.judge(one).verdict == "inconclusive"


def test_large_effects_in_words():
    """Percentages near 100 show a wrong factor (101 for 100) that smaller ones round away."""
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", [200, 202, 204], [100, 101, 102])])
    assert c.words.startswith("inconclusive: A/B = 2.00 (95% CI +97% to +103%); the interval excludes 1")
    slow, fast = [100, 101, 102, 103, 104], [200, 202, 204, 206, 208]
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", fast, slow)])
    assert c.words == "A is faster than B by 100% (95% CI 97-104%)"
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", slow, fast)])
    assert c.words == "B is faster than A by 100% (95% CI 97-104%)"
    triple = [300, 301, 302, 303, 304]  # 192% would read 194% with the factor 101
    assert stats.correct([stats.compare_throughput("x", "A", "B", triple, slow)])[0].words == \
        "A is faster than B by 196% (95% CI 192-200%)"
    assert stats.correct([stats.compare_throughput("x", "A", "B", slow, triple)])[0].words == \
        "B is faster than A by 196% (95% CI 192-200%)"
    (c,) = stats.correct([stats.compare_throughput("x", "A", "B", [100, 0, 110], [80, -1, 90])])
    assert c.words.startswith("inconclusive: A/B = 1.24 (95% CI +11% to +38%); the interval excludes 1 but the "
                              "rank test does not reject after correction (p 0.333, adjusted 0.333; the smallest p 2 "
                              "v 2 processes allow is 0.3333)")


def test_inputs_that_cannot_be_throughputs_are_dropped():
    # zero, negative, NaN and infinite figures are not processes' throughputs; 0.5 is a (slow) one
    c = stats.compare_throughput("x", "A", "B", [0.5, 100, 110, math.inf], [0.5, 0, NAN, 80, 90])
    assert fields(c) == comparison(1.15173721, 0.03248909, 38.02952461, 0.7, 3, 3)
    assert fields(stats.throughput([0.5, 2])) == expect(value=1.0, low=0.5, high=2.0, n=2,
                                                        method="bootstrap (BCa) over processes")
    assert stats.throughput([5, 5]).method == "identical"
    assert fields(stats.throughput([100, 110, 105, 98, 102], confidence=0.5)) == expect(
        value=102.915703, low=101.908178, high=104.345636, n=5, method="bootstrap (BCa) over processes")


def test_the_rank_test_is_exact_even_with_ties():
    """Ties make scipy's default switch to the normal approximation (p 0.0545); the exact p is 0.0571."""
    c = stats.compare_throughput("x", "A", "B", [100, 100, 101, 102], [100, 99, 98, 97])
    assert c.p == pytest.approx(0.05714286, rel=1e-6)


@pytest.mark.parametrize("a, b, expected", [
    # two seeds are enough for a test; Welch's, not Student's, on unequal sizes and spreads
    ([0.98, 0.99], [0.97, 0.975, 0.973], (0.01233333, -0.03478048, 0.05944715, 0.22392867, 0.85237664, 2, 3)),
    ([0.98, 0.99, 0.985], [0.97, 0.975], (0.0125, 6.1331009e-05, 0.02493867, 0.04941626, 0.95394124, 3, 2)),
    # one side without spread is still tested (only both without is not)
    ([0.5, 0.5, 0.5], [0.25, 0.5, 0.75], (0.0, -0.62103443, 0.62103443, 1.0, 0.49265232, 3, 3)),
])
@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy, on the side without spread
def test_accuracy_tests_on_small_and_uneven_sides(a, b, expected):
    assert fields(stats.compare_accuracy("n", "A", "B", a, b)) == accuracy(*expected)


def test_the_equivalence_test_is_welchs_on_both_sides():
    """A lower than B by 0.58 points with a margin of 1 point: the lower one-sided test decides (0.2807)."""
    c = stats.compare_accuracy("n", "A", "B", [0.970, 0.975, 0.972, 0.973], [0.97, 0.99, 0.975], margin=0.01)
    assert fields(c) == accuracy(-0.00583333, -0.03069532, 0.01902865, 0.4348079, 0.28074066, 4, 3, margin=0.01)
    (wide,) = stats.correct_accuracy([stats.compare_accuracy("n", "A", "B", [0.980, 0.981, 0.979, 0.980],
                                                             [0.95, 0.99, 0.975], margin=0.1)])
    assert wide.words == "A and B are equivalent within +-10.0 points (+0.83 points, 95% CI -4.18 to +5.84)"


def test_accuracy_boundaries():
    def verdict(p, p_equivalence, difference=0.01):
        c = stats.AccuracyComparison("n", "A", "B", difference, 0.001, 0.02, p, p_equivalence, 5, 5, 0.003)
        return stats.correct_accuracy([c])[0].verdict

    assert verdict(ALPHA, 0.9) == "inconclusive" and verdict(0.01, 0.9) == "more accurate"
    assert verdict(0.9, ALPHA) == "inconclusive" and verdict(0.9, 0.01) == "equivalent"
    assert verdict(0.01, 0.9, difference=-0.01) == "less accurate"
    (few,) = stats.correct_accuracy([stats.compare_accuracy("n", "A", "B", [0.98], [0.97, 0.97])])
    assert few.words == "inconclusive: fewer than two seeds on a side (+1.00 points)"
    (unclear,) = stats.correct_accuracy([stats.compare_accuracy("n", "A", "B", [0.5, 0.9, 0.7], [0.6, 0.8, 0.4],
                                                                margin=0.1)])
    assert unclear.words == ("inconclusive: +10.00 points (95% CI -35.34 to +55.34); neither a difference nor "
                             "equivalence within +-10.0 points is shown")


# --- each framework at its best: split-sample selection ---------------------------------------------------------
def test_the_best_is_chosen_on_the_selection_units_and_estimated_on_the_others():
    candidates = {"default": {"p1": 100, "p2": 100, "p3": 100, "p4": 100},
                  "fast": {"p1": 90, "p2": 130, "p3": 95, "p4": 125}}  # fast only where the choice looks
    best = stats.best_on_half(candidates, {"p2", "p4"}, "default")
    assert (best.chosen, sorted(best.figures), best.chosen_on, best.candidates) == ("fast", [90, 95], 2, 2)
    tie = stats.best_on_half({"default": {"p1": 1, "p2": 5}, "other": {"p1": 1, "p2": 5}}, {"p2"}, "default")
    assert tie.chosen == "default"  # the first of equals


def test_the_choice_counts_the_units_it_looked_at_not_the_others():
    # five units, the choice looks at two of them: chosen_on is 2 (the three held out are the figures)
    candidates = {"default": {"p1": 100, "p2": 100, "p3": 100, "p4": 100, "p5": 100},
                  "fast": {"p1": 90, "p2": 130, "p3": 95, "p4": 125, "p5": 99}}
    best = stats.best_on_half(candidates, {"p2", "p4"}, "default")
    assert (best.chosen, best.figures, best.chosen_on, best.candidates) == ("fast", [90, 95, 99], 2, 2)


def test_with_nothing_to_choose_every_process_counts():
    alone = stats.best_on_half({"default": {"p1": 100, "p2": 110}}, {"p2"}, "default")
    assert (alone.chosen, alone.figures, alone.chosen_on, alone.candidates) == ("default", [100, 110], 0, 1)
    # no candidate has a figure where the choice may look: the default, unchosen, with every figure
    blind = stats.best_on_half({"default": {"p1": 100, "p3": 90}, "other": {"p1": 200}}, {"p2"}, "default")
    assert (blind.chosen, blind.figures, blind.chosen_on) == ("default", [100, 90], 0)


def test_the_best_of_identical_variants_keeps_its_coverage_where_choosing_on_the_same_figures_does_not(
        monkeypatch):
    """Simulated runs (hand-made, not measurements): framework A has twenty variants identical in distribution, B
    one, 60 processes each; the true throughput ratio of A's best to B is 1. The interval from the held-out half
    covers 1 in about 95% of runs, within a binomial tolerance, and its estimate is unbiased; choosing and
    estimating on the same processes (the winner's curse) overstates A and undercovers, so the test fails for that
    implementation."""
    monkeypatch.setattr(stats, "BOOTSTRAP_RESAMPLES", 999)  # the same BCa interval, resampled less: fast
    rng = np.random.default_rng(20261206)
    runs, variants, repeats, spread = 300, 20, 60, 0.1
    units = [f"p{r}" for r in range(1, repeats + 1)]
    even = {u for r, u in enumerate(units, 1) if r % 2 == 0}
    covered = {"split": 0, "naive": 0}
    log_ratios: dict[str, list[float]] = {"split": [], "naive": []}
    for _ in range(runs):
        a = np.exp(rng.normal(0, spread, (variants, repeats)))
        b = list(np.exp(rng.normal(0, spread, repeats)))
        candidates = {f"v{i}": dict(zip(units, a[i], strict=True)) for i in range(variants)}
        best = stats.best_on_half(candidates, even, "v0")
        naive = max(range(variants), key=lambda i: float(np.mean(np.log(a[i]))))
        for method, figures in (("split", best.figures), ("naive", list(a[naive]))):
            c = stats.compare_throughput("x", "A", "B", figures, b)
            covered[method] += c.low <= 1 <= c.high
            log_ratios[method].append(math.log(c.ratio))
    # four binomial standard deviations (5 points at 300 runs): the bootstrap's own small-sample shortfall (a point
    # or two with 30 held-out processes) stays inside; an interval chosen on its own figures (near 80%) does not
    tolerance = 4 * math.sqrt(0.95 * 0.05 / runs)
    coverage = {method: n / runs for method, n in covered.items()}
    assert abs(coverage["split"] - 0.95) <= tolerance, coverage
    assert coverage["naive"] < 0.95 - tolerance, coverage  # the winner's curse: this test can fail
    bias = {method: float(np.mean(v)) for method, v in log_ratios.items()}
    standard_error = spread * math.sqrt(1 / (repeats / 2) + 1 / repeats) / math.sqrt(runs)
    assert abs(bias["split"]) < 3 * standard_error and bias["naive"] > 6 * standard_error, bias


def test_a_refused_comparison_says_why_and_an_allowed_mismatch_is_named():
    base = stats.compare_throughput("x", "A", "B", [100, 110, 105, 98, 102], [80, 82, 85, 79, 81])
    refused = stats.judge(dataclasses.replace(base, mismatch="threads 1 vs 2", refused=True))
    assert refused.verdict == "refused"
    assert refused.words.startswith("not compared, unlike for like: threads 1 vs 2")
    allowed = stats.judge(dataclasses.replace(base, p_adjusted=base.p, mismatch="threads 1 vs 2"))
    assert allowed.verdict == "faster" and allowed.words.endswith("[allowed mismatch: threads 1 vs 2]")
    assert allowed.mismatch == "threads 1 vs 2"


def test_one_process_a_side_in_words_held_out_or_not():
    # held_out defaults to False: one process per framework asks for five repeats
    assert stats.judge(stats.Comparison("x", "A", "B", 2.0, NAN, NAN, NAN, 1, 1)).words == (
        "inconclusive: one process per framework (ratio 2.00); process-to-process variation cannot be told from the "
        "frameworks: run with --repeats 5")
    for n_a, n_b in ((1, 3), (3, 1)):  # a held-out half of one process on either side asks for eight
        c = stats.judge(stats.Comparison("x", "A", "B", 0.5, NAN, NAN, NAN, n_a, n_b, verdict="faster"), held_out=True)
        assert (c.verdict, c.words) == ("inconclusive", "inconclusive: one process on a side (ratio 0.50) once half "
                                                        "of them chose the best variant: run with --repeats 8")


def test_held_out_figures_ask_for_repeats_counted_double():
    wide = stats.Comparison("x", "A", "B", 1.1, 0.9, 1.3, 0.3, 3, 3, p_adjusted=0.3)
    held = stats.judge(wide, held_out=True)
    assert (held.verdict, held.repeats_needed, held.words) == (
        "inconclusive", 12, "inconclusive: A/B = 1.10 (95% CI -10% to +30%); about 23 repeats per framework (12 held "
                            "out a side) would settle it")
    assert stats.judge(wide).words == ("inconclusive: A/B = 1.10 (95% CI -10% to +30%); about 12 repeats per "
                                       "framework would settle it")
    # an interval of no width suggests no repeats, held out or not
    flat = stats.judge(stats.Comparison("x", "A", "B", 1.2, 1.2, 1.2, 0.5, 3, 3, p_adjusted=0.5), held_out=True)
    assert (flat.repeats_needed, flat.words) == (None, (
        "inconclusive: A/B = 1.20 (95% CI +20% to +20%); the interval excludes 1 but the rank test does not reject "
        "after correction (p 0.500, adjusted 0.500; the smallest p 3 v 3 processes allow is 0.1000)"))


def test_an_allowed_mismatch_is_judged_with_the_same_alpha_and_margin():
    mismatch = "threads 2 vs 1"
    close = stats.Comparison("x", "A", "B", 1.03, 0.99, 1.07, 0.5, 5, 5, p_adjusted=0.5, mismatch=mismatch)
    wide_margin = stats.judge(close, margin=0.08)
    assert (wide_margin.verdict, wide_margin.words, wide_margin.mismatch, wide_margin.refused) == (
        "equivalent", "A and B are equivalent within +-8% (95% CI -1% to +7%) [allowed mismatch: threads 2 vs 1]",
        mismatch, False)
    assert stats.judge(close).words == ("inconclusive: A/B = 1.03 (95% CI -1% to +7%); about 9 repeats per framework "
                                        "would settle it [allowed mismatch: threads 2 vs 1]")
    clear = stats.Comparison("x", "A", "B", 1.3, 1.2, 1.4, 0.02, 5, 5, p_adjusted=0.02, mismatch=mismatch)
    assert stats.judge(clear).words == "A is faster than B by 30% (95% CI 20-40%) [allowed mismatch: threads 2 vs 1]"
    strict = stats.judge(clear, alpha=0.01)
    assert (strict.verdict, strict.words) == ("inconclusive", (
        "inconclusive: A/B = 1.30 (99% CI +20% to +40%); the interval excludes 1 but the rank test does not reject "
        "after correction (p 0.020, adjusted 0.020; the smallest p 5 v 5 processes allow is 0.0079); about 6 repeats "
        "per framework would settle it [allowed mismatch: threads 2 vs 1]"))


def test_an_allowed_mismatch_keeps_the_held_out_advice():
    """An at-best comparison across an allowed manifest mismatch is still judged as held out (found by mutation
    testing: the mismatch branch judged it again without ``held_out``)."""
    one = stats.Comparison("x", "A", "B", 2.0, NAN, NAN, NAN, 1, 3, mismatch="threads 2 vs 1")
    assert stats.judge(one, held_out=True).words == (
        "inconclusive: one process on a side (ratio 2.00) once half of them chose the best variant: run with "
        "--repeats 8 [allowed mismatch: threads 2 vs 1]")
    wide = stats.Comparison("x", "A", "B", 1.1, 0.9, 1.3, 0.3, 3, 3, p_adjusted=0.3, mismatch="threads 2 vs 1")
    assert stats.judge(wide, held_out=True).words == (
        "inconclusive: A/B = 1.10 (95% CI -10% to +30%); about 23 repeats per framework (12 held out a side) would "
        "settle it [allowed mismatch: threads 2 vs 1]")


# --- two accuracies on the same images (export --int8: an int8 artifact against its float source) --------------
def outcomes(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Per-item right/wrong of two classifiers on the same items, from the four cells of the paired table."""
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


def test_the_paired_interval_reproduces_the_published_worked_example():
    """Newcombe's square-and-add interval for paired proportions on the table of Cavo et al. (2012) as worked in
    Fagerland, Lydersen and Laake, Statistical Analysis of Contingency Tables (2017), chapter 8, and in their R
    package contingencytables (Newcombe_square_and_add_CI_paired_2x2): -0.0621 (95% CI -0.1186 to -0.0046)."""
    d = stats.paired_accuracy_difference(*outcomes(59, 6, 16, 80))
    assert (round(d.difference, 4), round(d.low, 4), round(d.high, 4)) == (-0.0621, -0.1186, -0.0046)
    assert (d.n, d.only_a, d.only_b, d.confidence) == (161, 6, 16, 0.95)
    swapped = stats.paired_accuracy_difference(*reversed(outcomes(59, 6, 16, 80)))
    assert swapped.difference == pytest.approx(-d.difference)
    assert (swapped.low, swapped.high) == (pytest.approx(-d.high), pytest.approx(-d.low))


def test_the_paired_interval_stays_open_without_discordant_items_and_narrows_with_more_items():
    same = stats.paired_accuracy_difference(*outcomes(9800, 0, 0, 200))
    assert same.difference == 0 and -0.001 < same.low < 0 < same.high < 0.001  # not the Wald interval's point
    few = stats.paired_accuracy_difference(*outcomes(98, 0, 0, 2))
    assert few.high > same.high
    # a known drop: 40 items only a gets right, 10 only b, of 10,000: 0.3 points, the interval around it
    drop = stats.paired_accuracy_difference(*outcomes(9700, 40, 10, 250))
    assert drop.difference == pytest.approx(0.003) and 0.001 < drop.low < 0.003 < drop.high < 0.005
    with pytest.raises(ValueError, match="equally long"):
        stats.paired_accuracy_difference([True, False], [True])


# --- the gate's power at the noise it saw --------------------------------------------------------------------------
def test_gate_power_without_a_minimum_effect_is_the_noncentral_t_power():
    """With no minimum effect the rule is the one-sided paired t-test, whose exact power scipy's noncentral t
    gives: the simulated figure agrees within its Monte Carlo error."""
    import math

    from scipy import stats as scipy_stats

    from frameworks.stats import paired_slowdown_power

    for sd, pairs, slowdown in ((0.05, 6, 0.05), (0.10, 6, 0.10), (0.08, 4, 0.06), (0.2, 10, 0.1)):
        df, ncp = pairs - 1, math.log1p(slowdown) / (sd / math.sqrt(pairs))
        exact = 1 - scipy_stats.nct.cdf(scipy_stats.t.ppf(0.95, df), df, ncp)
        got = paired_slowdown_power(sd, pairs, slowdown, min_effect=0.0, alpha=0.05)
        assert abs(got - exact) < 0.012, (sd, pairs, slowdown, got, exact)


def test_gate_power_needs_the_minimum_effect_and_falls_with_noise():
    from frameworks.stats import detectable_slowdown, paired_slowdown_power

    quiet = paired_slowdown_power(0.01, 6, 0.2, min_effect=0.1, alpha=0.05)
    middling = paired_slowdown_power(0.15, 6, 0.2, min_effect=0.1, alpha=0.05)
    noisy = paired_slowdown_power(0.25, 6, 0.2, min_effect=0.1, alpha=0.05)
    assert quiet > 0.999 > middling > noisy and noisy < 0.6
    # a 9% slowdown is never failed, however quiet: the rule also needs more than 10%
    assert paired_slowdown_power(0.001, 6, 0.09, min_effect=0.1, alpha=0.05) == 0.0
    assert paired_slowdown_power(0.05, 1, 0.2, min_effect=0.1, alpha=0.05) != paired_slowdown_power(
        0.05, 1, 0.2, min_effect=0.1, alpha=0.05)  # NaN: one pair cannot be tested
    quiet_mde = detectable_slowdown(0.01, 6, min_effect=0.1, alpha=0.05)
    noisy_mde = detectable_slowdown(0.15, 6, min_effect=0.1, alpha=0.05)
    assert 0.10 < quiet_mde < 0.12 and noisy_mde > 0.2
    assert abs(paired_slowdown_power(0.15, 6, noisy_mde, min_effect=0.1, alpha=0.05) - 0.9) < 0.01
    assert detectable_slowdown(5.0, 2, min_effect=0.1, alpha=0.05) == float("inf")


def test_gate_power_is_nan_without_spread_and_its_bisection_ends_at_a_thousandth():
    """No spread (0, or not finite) gives no power figure and no detectable slowdown, as one pair does. The
    bisection runs from the minimum effect to ``largest`` (10 by default) and stops once the bracket is at most
    0.001: from 0 to 1.024 that is ten halvings, exactly 0.001 wide. At a negligible spread every slowdown above
    0 is caught (power exactly 1), so the bracket closes on its low end; a minimum effect above 10 is never
    caught at the default ``largest``."""
    from frameworks.stats import detectable_slowdown, paired_slowdown_power

    for sd in (0.0, math.inf, math.nan):
        assert math.isnan(paired_slowdown_power(sd, 6, 0.2, min_effect=0.1, alpha=0.05)), sd
        assert math.isnan(detectable_slowdown(sd, 6, min_effect=0.1, alpha=0.05)), sd
    assert paired_slowdown_power(1e-9, 10, 0.0005, min_effect=0.0, alpha=0.05) == 1.0
    assert detectable_slowdown(1e-9, 10, min_effect=0.0, alpha=0.05, largest=1.024) == 0.001
    # the power asked for is reached exactly: still a finite answer (``>=``), at the largest slowdown too
    assert detectable_slowdown(1e-9, 10, power=1.0, min_effect=0.0, alpha=0.05, largest=1.024) == 0.001
    assert detectable_slowdown(1e-9, 10, power=1.0, min_effect=0.0, alpha=0.05, largest=0.001) == 0.001
    assert detectable_slowdown(1e-9, 10, min_effect=10.5, alpha=0.05) == math.inf
    assert 10.5 < detectable_slowdown(1e-9, 10, min_effect=10.5, alpha=0.05, largest=11.0) <= 10.501


def test_per_process_is_the_median_of_each_process_in_first_seen_order():
    from frameworks.stats import per_process

    figures = [("b", 3.0), ("a", 1.0), ("b", 1.0), ("b", 2.0), ("a", 5.0)]
    assert per_process(figures) == {"b": 2.0, "a": 3.0} and list(per_process(figures)) == ["b", "a"]
    assert per_process([]) == {}


@pytest.mark.parametrize("cells, expected", [
    # one marginal at 0 or 1: no correlation term; worked by hand: the Wilson limits of 10/10 and 0/10 at 95% are
    # 10/13.8415 = 0.7225 and 3.8415/13.8415 = 0.2775, so low = 1 - sqrt(2 * 0.2775^2) = 0.6075 and high = 1
    ((0, 10, 0, 0), (1.0, 0.6075, 1.0)),
    ((0, 5, 5, 0), (0.0, -0.5268, 0.5268)),  # only discordant items: cross < 0, phi = -1
    ((0, 1, 1, 0), (0.0, -0.8109, 0.8109)),  # the same on two items, where the margins' product is 1
    ((1, 1, 1, 1), (0.0, -0.4949, 0.4949)),  # cross = 0: phi = 0
    ((1, 1, 1, 5), (0.0, -0.3847, 0.3847)),  # cross = n/2 exactly: still phi = 0
    # 0 < cross = 4 < n/2 = 5: phi = 0 (a bound of n/3 would give (4 - 5) / 16 and the interval -0.8089 to -0.1483)
    ((2, 0, 6, 2), (-0.6, -0.8027, -0.1618)),
    ((3, 2, 1, 4), (0.1, -0.2479, 0.4134)),  # n/2 < cross <= 2n: the continuity-corrected phi
])
def test_the_paired_interval_in_each_branch_of_the_correlation(cells, expected):
    d = stats.paired_accuracy_difference(*outcomes(*cells))
    assert (round(d.difference, 4), round(d.low, 4), round(d.high, 4)) == expected


def test_the_paired_interval_takes_0_1_outcomes_and_its_confidence_and_refuses_nothing_to_compare():
    as_ints = stats.paired_accuracy_difference([1, 0, 1], [1, 1, 0])
    assert as_ints == stats.paired_accuracy_difference([True, False, True], [True, True, False])
    assert (round(as_ints.low, 4), as_ints.only_a, as_ints.only_b) == (-0.6398, 1, 1)
    half = stats.paired_accuracy_difference(*outcomes(3, 2, 1, 4), confidence=0.5)
    assert (round(half.low, 4), round(half.high, 4), half.confidence) == (-0.0331, 0.2277, 0.5)
    with pytest.raises(ValueError, match=r"^need two equally long, non-empty 1-D outcomes, got shapes \(0,\) and "
                                         r"\(0,\)$"):
        stats.paired_accuracy_difference([], [])


def test_latency_percentiles_of_ten_requests():
    figures = stats.latency_percentiles([0.001 * i for i in range(1, 11)])
    assert figures["requests"] == 10 and figures == pytest.approx(
        {"requests": 10, "p50_s": 0.0055, "p90_s": 0.0091, "p99_s": 0.00991, "max_s": 0.01, "mean_s": 0.0055})
    with pytest.raises(ValueError, match="^no request times to summarise$"):
        stats.latency_percentiles([])
