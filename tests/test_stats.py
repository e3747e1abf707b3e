"""The statistics behind every verdict (analysis/stats.py), on hand-made per-process figures: these test the
decision rules, they are not measurements."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frameworks.analysis import stats


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
