"""Pooling and pairing (analysis/comparisons.py) on hand-made runs: which figures land in which cell, which
pairs are compared, and the literal figures that come out. ``run_doc`` spreads five processes by factors 0.98,
0.99, 1.00, 1.01, 1.02 of each median, so a process's images/s is 128 / (median x factor)."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats

from frameworks.analysis import comparisons
from frameworks.results import ResultsError

from .helpers import bench_entry, results_doc, run_doc, step_entries

ONE = {"networks": {"lenet": 0.03}, "phases": {"forward": 0.3}}  # one benchmark: lenet forward, 9 ms x factor


def write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def analysis(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "pytorch [compile]": 0.5, "keras-tensorflow [default]": 1.3},
                               **ONE))
    return comparisons.analyse([write(tmp_path, "a.json", doc)])


def test_each_benchmark_is_pooled_over_its_processes(analysis):
    cells = {c.column: c for c in analysis.cells}
    assert list(cells) == ["pytorch", "pytorch [compile]", "keras-tensorflow"]
    eager = cells["pytorch"]
    assert (eager.framework, eager.variant, eager.kind, eager.row) == ("pytorch", "eager", "step",
                                                                       ("lenet", "cpu", "forward", 128, 128))
    assert eager.headline and not cells["pytorch [compile]"].headline and cells["keras-tensorflow"].headline
    # 128 / (0.009 x 0.98) = 14512.47 ... 128 / (0.009 x 1.02) = 13943.36
    assert eager.per_process == pytest.approx({"1:pytorch/1": 14512.4717, "1:pytorch/2": 14365.8810,
                                               "1:pytorch/3": 14222.2222, "1:pytorch/4": 14081.4081,
                                               "1:pytorch/5": 13943.3551})
    assert eager.sources == {1} and eager.disturbed == 0 and len(eager.records) == 5
    assert eager.repeats == {"1:pytorch/1": 1, "1:pytorch/2": 2, "1:pytorch/3": 3, "1:pytorch/4": 4, "1:pytorch/5": 5}
    assert (eager.estimate.value, eager.estimate.n) == (pytest.approx(14223.6448), 5)


def test_every_framework_pair_and_every_variant_against_its_default(analysis):
    (pair,) = analysis.speed
    assert (pair.what, pair.a, pair.b, pair.n_a, pair.n_b) == ("lenet forward batch 128 on cpu", "pytorch",
                                                               "keras-tensorflow", 5, 5)
    assert pair.ratio == pytest.approx(1.3) and pair.p == pytest.approx(2 / 252) and pair.verdict == "faster"
    assert pair.words == "pytorch is faster than keras-tensorflow by 30% (95% CI 28-32%)"
    (variant,) = analysis.variants
    assert (variant.a, variant.b, variant.verdict) == ("pytorch [compile]", "pytorch", "faster")
    assert variant.ratio == pytest.approx(2.0) and variant.p_adjusted == pytest.approx(2 / 252 * 2 / 2)
    assert (analysis.margin, analysis.confidence, analysis.mixed) == (0.05, 0.95, False)


def test_margin_and_confidence_reach_the_verdicts(tmp_path):
    close = write(tmp_path, "a.json", run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.03},
                                                           **ONE)))
    (default,) = comparisons.analyse([close]).speed  # the processes overlap: no significance, inside +-5%
    assert default.verdict == "equivalent" and default.ratio == pytest.approx(1.03)
    assert comparisons.analyse([close], margin=0.01).speed[0].verdict == "inconclusive"
    clear = write(tmp_path, "b.json", run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.3},
                                                           **ONE)))
    assert comparisons.analyse([clear]).speed[0].verdict == "faster"
    strict = comparisons.analyse([clear], confidence=0.999)  # p 0.0079 is not below 0.001
    assert strict.speed[0].verdict == "inconclusive" and strict.confidence == 0.999
    assert strict.cells[0].estimate.low < comparisons.analyse([clear]).cells[0].estimate.low  # a wider interval


def test_only_timed_benchmarks_with_rounds_become_cells(tmp_path):
    doc = results_doc([bench_entry("pytorch", "lenet", "forward", 0.01, variant="eager"),
                       bench_entry("pytorch", "lenet", "latency", 0.001, variant="eager", kind="latency"),
                       bench_entry("pytorch", "lenet", "backward", 0.01, variant="eager", samples=[]),
                       bench_entry("pytorch", "lenet", "forward", 0.01, variant="eager", kind="fidelity",
                                   own_median_s=0.01, own_tool="t")])
    a = comparisons.analyse([write(tmp_path, "r.json", doc)])
    assert sorted((c.kind, c.phase) for c in a.cells) == [("fidelity", "forward"), ("step", "forward")]
    assert a.speed == [] and a.variants == []


def test_runs_that_are_not_like_for_like_are_refused_or_kept_apart(tmp_path):
    base = run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE), versions={"pytorch": "2.13.0"})
    other = run_doc(step_entries({"pytorch [eager]": 0.9}, **ONE), versions={"pytorch": "2.14.1"}, cpu="Other CPU")
    other["settings"] = {"threads": 4}
    a, b = write(tmp_path, "a.json", base), write(tmp_path, "b.json", other)
    assert comparisons.differences(comparisons.analyse([a, b], mixed=True).runs) == [
        f"{b} was run with other settings than {a}",
        f"{b} ran on another machine (('Other CPU', 2, 2)) than {a} (('Test CPU (hand-made data)', 2, 2))",
        f"{b} has other versions of pytorch than {a}"]
    with pytest.raises(ResultsError, match="not like for like, so their figures cannot be pooled: .* was run with "
                                           "other settings .* pass --mixed to show each file's figures apart"):
        comparisons.analyse([a, b])
    mixed = comparisons.analyse([a, b], mixed=True)
    assert [(c.column, c.sources) for c in mixed.cells] == [("pytorch (1)", {1}), ("pytorch (2)", {2})]
    with pytest.raises(ResultsError, match="no results files given"):
        comparisons.analyse([])


def test_one_file_with_mixed_is_not_labelled_apart_and_its_cells_keep_the_thread_count(tmp_path):
    """--mixed keeps files apart only where there are several: one file's columns carry no "(1)". A cell keeps its
    records' thread count, in its key as in theirs."""
    from frameworks.results import BenchmarkKey

    doc = run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE))
    for entry in doc["benchmarks"]:
        entry["extra_info"]["threads"] = 2
    (cell,) = comparisons.analyse([write(tmp_path, "a.json", doc)], mixed=True).cells
    assert (cell.column, cell.sources, cell.threads) == ("pytorch", {1}, 2)
    assert cell.key == BenchmarkKey("pytorch", "eager", "fp32", "step", "lenet", "cpu", "forward", 128, 128, 2)
    assert {r.key for r in cell.records} == {cell.key}


def test_like_runs_pool_and_say_what_only_some_have(tmp_path):
    a = write(tmp_path, "a.json", run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE)))
    b = write(tmp_path, "b.json", run_doc(step_entries({"pytorch [eager]": 1.0, "keras-jax [default]": 1.0}, **ONE),
                                          when="2026-11-02T10:00:00+00:00"))
    pooled = comparisons.analyse([a, b])
    cells = {c.column: c for c in pooled.cells}
    assert cells["pytorch"].sources == {1, 2} and len(cells["pytorch"].per_process) == 10
    assert pooled.only_in_some == [f"keras-jax lenet forward cpu batch 128: only in {b}"]
    assert comparisons.analyse([a]).only_in_some == []


def test_a_disturbed_process_is_counted_in_its_cell(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE))
    doc["processes"][0]["noise"] = {"seconds": 10, "others_cpu": 0.5, "steal": 0.0}
    (cell,) = comparisons.analyse([write(tmp_path, "a.json", doc)]).cells
    assert cell.disturbed == 1


def test_order_and_words_of_rows_and_columns():
    assert comparisons.columns_order(["zzz", "keras-jax", "pytorch [compile]", "pytorch", "caffe", "pytorch"]) == [
        "pytorch", "pytorch [compile]", "keras-jax", "caffe", "zzz"]
    assert comparisons.describe_row(("lenet", "cpu", "epoch-staged", 128, 2048)) == \
        "lenet epoch-staged (2,048 images) on cpu"
    assert comparisons.describe_row(("lenet", "cuda", "forward", None, 128)) == "lenet forward on cuda"
    assert comparisons.describe_row(("lenet", "cpu", "forward", 256, 256)) == "lenet forward batch 256 on cpu"
    rows = [("lenet", "cuda", "forward", 128, 128), ("zz", "cpu", "latency", 1, 1), ("lenet", "cpu", "backward", 128,
            128), ("lenet", "cpu", "forward", 128, 128), ("lenet", "cpu", "forward", 64, 64),
            ("keras_cnn", "cpu", "forward", 128, 128)]
    assert sorted(rows, key=comparisons.row_order) == [
        ("keras_cnn", "cpu", "forward", 128, 128), ("lenet", "cpu", "forward", 64, 64),
        ("lenet", "cpu", "forward", 128, 128), ("lenet", "cpu", "backward", 128, 128), ("zz", "cpu", "latency", 1, 1),
        ("lenet", "cuda", "forward", 128, 128)]


def accuracy_doc(trainings):
    """An accuracy results file: (framework, network, seed, accuracy or None for a failed run) per training."""
    return results_doc([], document="accuracy", trainings=[
        {"framework": f, "network": n, "device": "cpu", "seed": s, "epochs": 1, "accuracy": acc}
        for f, n, s, acc in trainings])


def test_accuracy_is_compared_per_network_over_seeds(tmp_path):
    """Per (network, device), every pair of frameworks in registry order over their seeds; a failed run (no
    accuracy) is not a seed's figure."""
    path = write(tmp_path, "acc.json", accuracy_doc(
        [("keras-jax", "lenet", s, a) for s, a in enumerate([0.98, 0.981, 0.979, 0.98])]
        + [("pytorch", "lenet", s, a) for s, a in enumerate([0.99, 0.991, 0.989, 0.99, None])]
        + [("caffe", "lenet", 0, 0.97), ("caffe", "lenet", 1, 0.975), ("pytorch", "mlp_bn", 0, 0.97)]))
    a = comparisons.analyse([path], accuracy_margin=0.02, confidence=0.9)
    assert [(c.network, c.a, c.b, c.n_a, c.n_b, c.margin) for c in a.accuracy_comparisons] == [
        ("lenet on cpu", "pytorch", "keras-jax", 4, 4, 0.02), ("lenet on cpu", "pytorch", "caffe", 4, 2, 0.02),
        ("lenet on cpu", "keras-jax", "caffe", 4, 2, 0.02)]
    first = a.accuracy_comparisons[0]
    assert first.difference == pytest.approx(0.01) and first.verdict == "equivalent"
    assert first.words == ("pytorch and keras-jax are equivalent within +-2.0 points (+1.00 points, 90% CI +0.89 to "
                           "+1.11)")
    assert [c.p_adjusted for c in a.accuracy_comparisons] == pytest.approx([7.1200036e-06, 0.12502548, 0.19699126],
                                                                            rel=1e-6)


@pytest.mark.parametrize("setting", ["batch_sizes", "threads", "epoch_images", "epoch_rounds", "round_seconds",
                                     "min_rounds"])
def test_each_setting_that_changes_a_figure_makes_runs_unlike(tmp_path, setting):
    a = write(tmp_path, "a.json", results_doc([bench_entry("pytorch", "lenet", "forward", 0.01)]))
    b = write(tmp_path, "b.json", results_doc([bench_entry("pytorch", "lenet", "forward", 0.01)],
                                              settings={setting: 7}))
    assert comparisons.differences(comparisons.analyse([a, b], mixed=True).runs) == [
        f"{b} was run with other settings than {a}"]


def test_a_version_on_one_side_only_is_a_difference(tmp_path):
    a = write(tmp_path, "a.json", run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE), versions={"pytorch": "2"}))
    b = write(tmp_path, "b.json", run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE),
                                          versions={"pytorch": "2", "numpy": "2.1", "keras": "3"}))
    with pytest.raises(ResultsError) as refused:
        comparisons.analyse([a, b])
    assert str(refused.value) == (
        f"these benchmark runs are not like for like, so their figures cannot be pooled: {b} has other versions of "
        f"keras, numpy than {a}. Report them one at a time, or pass --mixed to show each file's figures apart")


def test_pairs_come_in_row_order_with_their_own_descriptions(tmp_path):
    doc = run_doc(step_entries({"keras-tensorflow [default]": 1.3, "pytorch [eager]": 1.0, "pytorch [compile]": 0.5},
                               networks={"lenet": 0.03, "mlp_bn": 0.005}, phases={"train_step": 1.0, "forward": 0.3}))
    a = comparisons.analyse([write(tmp_path, "a.json", doc)], confidence=0.9)
    assert [c.what for c in a.speed] == ["mlp_bn forward batch 128 on cpu", "mlp_bn train_step batch 128 on cpu",
                                         "lenet forward batch 128 on cpu", "lenet train_step batch 128 on cpu"]
    assert {(c.a, c.b) for c in a.speed} == {("pytorch", "keras-tensorflow")}
    assert [(c.what, c.a, c.b) for c in a.variants][:1] == [("mlp_bn forward batch 128 on cpu", "pytorch [compile]",
                                                             "pytorch")]
    # the run's confidence reaches the intervals of the pairs and of the variants
    default = comparisons.analyse([write(tmp_path, "a.json", doc)])
    assert a.speed[0].low > default.speed[0].low and a.variants[0].low > default.variants[0].low


def test_processes_without_a_label_and_several_disturbed_ones(tmp_path):
    (cell,) = comparisons.analyse([write(tmp_path, "a.json", results_doc(
        [bench_entry("pytorch", "lenet", "forward", 0.01, variant="eager")]))]).cells
    assert list(cell.per_process) == ["1:"]
    doc = run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE))
    for p in doc["processes"][:2]:
        p["noise"] = {"seconds": 10, "others_cpu": 0.5, "steal": 0.0}
    (cell,) = comparisons.analyse([write(tmp_path, "b.json", doc)]).cells
    assert cell.disturbed == 2


def test_only_in_some_names_every_file_that_has_it(tmp_path):
    one = step_entries({"pytorch [eager]": 1.0}, **ONE)
    both = step_entries({"pytorch [eager]": 1.0, "keras-jax [default]": 1.0}, **ONE)
    paths = [write(tmp_path, f"{n}.json", run_doc(e)) for n, e in (("a", both), ("b", one), ("c", both))]
    assert comparisons.analyse(paths).only_in_some == [
        f"keras-jax lenet forward cpu batch 128: only in {paths[0]}, {paths[2]}"]
    def batchless(phase: str) -> dict:  # a benchmark without a batch size (one image a call)
        entry = bench_entry("pytorch", "lenet", phase, 0.01)
        entry["extra_info"].update(batch=None, images=1)
        return entry

    no_batch = [write(tmp_path, f"{n}.json", results_doc(e)) for n, e in (
        ("d", [batchless("forward")]), ("e", [batchless("forward"), batchless("backward")]))]
    assert comparisons.analyse(no_batch).only_in_some == [f"pytorch lenet backward cpu: only in {no_batch[1]}"]


def test_more_orders():
    # mixed columns ("name (file)") are not framework names: they sort by name
    assert comparisons.columns_order(["pytorch (2)", "caffe (1)"]) == ["caffe (1)", "pytorch (2)"]
    rows = [("lenet", "cpu", "forward", 128, 128), ("mlp_bn", "cpu", "forward", 128, 128),
            ("lenet", "cpu", "custom", 128, 128), ("lenet", "cpu", "forward", None, 99),
            ("lenet", "cpu", "forward", 64, 9999)]
    assert sorted(rows, key=comparisons.row_order) == [  # the registry's network order: mlp_bn before lenet
        ("mlp_bn", "cpu", "forward", 128, 128), ("lenet", "cpu", "forward", None, 99),
        ("lenet", "cpu", "forward", 64, 9999), ("lenet", "cpu", "forward", 128, 128),
        ("lenet", "cpu", "custom", 128, 128)]
    with pytest.raises(ResultsError, match="^no results files given$"):
        comparisons.analyse([])


def test_the_same_settings_are_no_difference_and_every_difference_is_named(tmp_path):
    settings = {"batch_sizes": [128], "threads": 2, "epoch_images": 2048}
    a = write(tmp_path, "a.json", results_doc([bench_entry("pytorch", "lenet", "forward", 0.01)], settings=settings))
    b = write(tmp_path, "b.json", results_doc([bench_entry("pytorch", "lenet", "forward", 0.01)], settings=settings))
    assert comparisons.differences(comparisons.analyse([a, b]).runs) == []
    c = write(tmp_path, "c.json", run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE), versions={"pytorch": "2"}))
    d = write(tmp_path, "d.json", run_doc(step_entries({"pytorch [eager]": 1.0}, **ONE), versions={"pytorch": "3"},
                                          cpu="Other CPU"))
    with pytest.raises(ResultsError) as refused:
        comparisons.analyse([c, d])
    assert (f"{d} ran on another machine (('Other CPU', 2, 2)) than {c} (('Test CPU (hand-made data)', 2, 2)); {d} "
            f"has other versions of pytorch than {c}. Report them") in str(refused.value)


def test_only_in_some_in_name_order_and_rows_without_a_batch_first(tmp_path):
    a = write(tmp_path, "a.json", results_doc([bench_entry("pytorch", "lenet", "forward", 0.01)]))
    b = write(tmp_path, "b.json", results_doc([bench_entry("pytorch", "lenet", "forward", 0.01, batch=b)
                                               for b in (128, 64, 256)]))
    assert comparisons.analyse([a, b]).only_in_some == [  # sorted as text: 256 before 64
        f"pytorch lenet forward cpu batch 256: only in {b}", f"pytorch lenet forward cpu batch 64: only in {b}"]
    rows = [("lenet", "cpu", "forward", 1, 50), ("lenet", "cpu", "forward", None, 99)]
    assert sorted(rows, key=comparisons.row_order) == [("lenet", "cpu", "forward", None, 99),
                                                       ("lenet", "cpu", "forward", 1, 50)]


# --- each framework at its best -----------------------------------------------------------------------------
def repeats_doc(medians: dict[str, list[float]]) -> dict:
    """A run of ``len(list)`` repeats where each "framework [variant]" has the given median seconds per repeat (lenet
    forward); each framework's variants share its processes, as a benchmark run measures them. Hand-made."""
    benchmarks, processes = [], []
    repeats = len(next(iter(medians.values())))
    for r in range(1, repeats + 1):
        for framework in dict.fromkeys(c.split(" [")[0] for c in medians):
            label = f"{framework}/{r}"
            mine = [c for c in medians if c.split(" [")[0] == framework]
            for column in mine:
                variant = column.partition(" [")[2].rstrip("]")
                benchmarks.append(bench_entry(framework, "lenet", "forward", medians[column][r - 1], variant=variant,
                                              process=label, repeat=r, spread=0.0))
            processes.append({"label": label, "frameworks": [framework], "environment": {}, "exit_code": 0,
                              "status": "ok", "outcome": "ok", "benchmarks": len(mine), "json": f"{label}.json",
                              "repeat": r})
    return results_doc(benchmarks, processes=processes)


def test_each_framework_at_its_best_is_chosen_on_even_repeats_and_compared_on_odd_ones(tmp_path):
    # compile looks twice as fast on the even repeats (where the choice looks) and is as fast as eager on the odd
    # ones: it is chosen, and its estimate is what the odd repeats say, not what made it win
    doc = repeats_doc({"pytorch [eager]": [0.010, 0.010, 0.010, 0.010, 0.010, 0.010],
                       "pytorch [compile]": [0.010, 0.005, 0.010, 0.005, 0.010, 0.005],
                       "keras-tensorflow [default]": [0.030, 0.030, 0.030, 0.030, 0.030, 0.030],
                       "keras-tensorflow [jit]": [0.025, 0.024, 0.027, 0.024, 0.026, 0.024],
                       "caffe [default]": [0.020, 0.021, 0.020, 0.021, 0.020, 0.021]})
    a = comparisons.analyse([write(tmp_path, "a.json", doc)])
    pairs = {(p.a, p.b): p for p in a.best}
    assert list(pairs) == [("pytorch", "keras-tensorflow"), ("pytorch", "caffe"), ("keras-tensorflow", "caffe")]
    pair = pairs[("pytorch", "caffe")]
    c = pair.comparison
    assert (c.what, c.a, c.b) == ("lenet forward batch 128 on cpu", "pytorch [compile]", "caffe [default]")
    assert (pair.a_variant, pair.a_from, pair.b_variant, pair.b_from) == ("compile", ("eager", "compile"),
                                                                          "default", ("default",))
    assert (pair.a_best.chosen_on, c.n_a) == (3, 3)  # chosen on repeats 2, 4, 6; estimated on 1, 3, 5
    assert (pair.b_best.chosen_on, c.n_b) == (0, 6)  # caffe has nothing to choose from: all six count
    caffe = math.exp((3 * math.log(128 / 0.020) + 3 * math.log(128 / 0.021)) / 6)
    assert c.ratio == pytest.approx((128 / 0.010) / caffe)  # 2.05, where the even repeats alone would say 4.1
    assert c.verdict == "faster" and c.words.startswith("pytorch [compile] is faster than caffe [default] by 105%")
    # three held out a side can never be significant (smallest p 0.1): the words count repeats, not processes
    tf = pairs[("pytorch", "keras-tensorflow")].comparison
    assert (tf.a, tf.b, tf.n_a, tf.n_b, tf.verdict) == ("pytorch [compile]", "keras-tensorflow [jit]", 3, 3,
                                                        "inconclusive")
    assert "repeats per framework (4 held out a side) would settle it" in tf.words
    # the at-best pairs are a family of their own, and the defaults' comparisons are untouched by the choice
    assert [p.comparison.p_adjusted for p in a.best] == pytest.approx(
        list(stats.false_discovery_control([p.comparison.p for p in a.best], method="bh")))
    assert [(d.a, d.b, d.n_a) for d in a.speed] == [("pytorch", "keras-tensorflow", 6), ("pytorch", "caffe", 6),
                                                    ("keras-tensorflow", "caffe", 6)]


def test_without_repeat_numbers_processes_alternate_by_position_and_one_run_chooses_nothing(tmp_path):
    doc = results_doc([bench_entry("pytorch", "lenet", "forward", 0.010, variant="eager"),
                       bench_entry("pytorch", "lenet", "forward", 0.005, variant="compile"),
                       bench_entry("caffe", "lenet", "forward", 0.020, variant="default")])
    (pair,) = comparisons.analyse([write(tmp_path, "a.json", doc)]).best
    # one process, the first: odd, so nothing to choose on; pytorch stays at its default with every process
    assert (pair.comparison.a, pair.a_best.chosen_on, pair.comparison.n_a) == ("pytorch [eager]", 0, 1)
    cells = [comparisons.Cell("x", "f", "v", "fp32", "step", "lenet", "cpu", "forward", 128, 128,
                              repeats={"1:b": None, "1:a": None, "1:c": 2})]
    assert comparisons.selection_units(cells) == {"1:b", "1:c"}  # by position where a repeat number is missing


def test_at_best_ties_go_to_the_default_then_the_registrys_variant_order(tmp_path):
    # pytorch: three variants equally fast (eager-cl, compile-maxautotune from the registry, "aaa" from none), the
    # default slower; keras-tensorflow: jit exactly as fast as its default
    doc = repeats_doc({"pytorch [compile-maxautotune]": [0.005] * 4, "pytorch [aaa]": [0.005] * 4,
                       "pytorch [eager-cl]": [0.005] * 4, "pytorch [eager]": [0.010] * 4,
                       "keras-tensorflow [jit]": [0.020] * 4, "keras-tensorflow [default]": [0.020] * 4})
    (pair,) = comparisons.analyse([write(tmp_path, "a.json", doc)]).best
    assert (pair.a_variant, pair.a_from) == ("eager-cl", ("eager", "eager-cl", "compile-maxautotune", "aaa"))
    assert (pair.b_variant, pair.b_from) == ("default", ("default", "jit"))
    assert (pair.comparison.a, pair.comparison.b) == ("pytorch [eager-cl]", "keras-tensorflow [default]")
    # a framework the registry does not know: its default first, then its variants by name
    doc = repeats_doc({"fw-x [zz]": [0.005] * 4, "fw-x [default]": [0.010] * 4, "fw-x [bb]": [0.005] * 4,
                       "caffe [default]": [0.020] * 4})
    (pair,) = comparisons.analyse([write(tmp_path, "b.json", doc)]).best
    assert (pair.a, pair.b, pair.b_variant, pair.b_from) == ("caffe", "fw-x", "bb", ("default", "bb", "zz"))


def test_at_best_pairs_come_in_row_order(tmp_path):
    doc = run_doc(step_entries({"keras-tensorflow [default]": 1.3, "pytorch [eager]": 1.0},
                               networks={"lenet": 0.03, "mlp_bn": 0.005}, phases={"train_step": 1.0, "forward": 0.3}))
    a = comparisons.analyse([write(tmp_path, "a.json", doc)])
    assert [(p.comparison.what, p.a, p.b) for p in a.best] == [
        ("mlp_bn forward batch 128 on cpu", "pytorch", "keras-tensorflow"),
        ("mlp_bn train_step batch 128 on cpu", "pytorch", "keras-tensorflow"),
        ("lenet forward batch 128 on cpu", "pytorch", "keras-tensorflow"),
        ("lenet train_step batch 128 on cpu", "pytorch", "keras-tensorflow")]


def test_margin_and_confidence_reach_the_at_best_verdicts(tmp_path):
    close = write(tmp_path, "a.json", run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.03},
                                                           **ONE)))
    (default,) = comparisons.analyse([close]).best
    assert (default.comparison.verdict, default.comparison.words) == (
        "equivalent", "pytorch [eager] and keras-tensorflow [default] are equivalent within +-5% (95% CI +1% to +5%)")
    (narrow,) = comparisons.analyse([close], margin=0.01).best
    assert narrow.comparison.verdict == "inconclusive"
    assert narrow.comparison.words.startswith("inconclusive: pytorch [eager]/keras-tensorflow [default] = 1.03 (95% "
                                              "CI +1% to +5%); the interval excludes 1")
    clear = write(tmp_path, "b.json", run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.3},
                                                           **ONE)))
    lows = {}
    for confidence in (0.9, 0.95, 0.999):
        (pair,) = comparisons.analyse([clear], confidence=confidence).best
        lows[confidence] = (pair.comparison.verdict, pair.comparison.low)
    assert lows == {0.9: ("faster", pytest.approx(1.2818862, rel=1e-6)),
                    0.95: ("faster", pytest.approx(1.2768454, rel=1e-6)),
                    0.999: ("inconclusive", pytest.approx(1.2640496, rel=1e-6))}  # p 0.0079 is not below 0.001


def test_at_best_with_one_side_chosen_on_half_asks_for_held_out_repeats(tmp_path):
    # pytorch's compile is chosen on repeats 2, 4, 6 and estimated on 1, 3, 5; caffe has nothing to choose and
    # keeps all six: the comparison is still held out, so the repeats it asks for are counted double
    doc = repeats_doc({"pytorch [eager]": [0.010] * 6, "pytorch [compile]": [0.010, 0.005, 0.010, 0.005, 0.010, 0.005],
                       "caffe [default]": [0.008, 0.012, 0.011, 0.009, 0.013, 0.007]})
    (pair,) = comparisons.analyse([write(tmp_path, "a.json", doc)]).best
    c = pair.comparison
    assert (pair.a_best.chosen_on, pair.b_best.chosen_on, c.n_a, c.n_b) == (3, 0, 3, 6)
    assert (c.verdict, c.words) == ("inconclusive", "inconclusive: pytorch [compile]/caffe [default] = 0.98 (95% CI "
                                                    "-19% to +16%); about 313 repeats per framework (157 held out a "
                                                    "side) would settle it")

# --- one key, one pooling -----------------------------------------------------------------------------------------
def test_a_process_holding_several_records_of_a_benchmark_counts_by_their_median(tmp_path):
    # each pytorch process holds three records of lenet forward (9, 10, 30 ms: last-record-wins would take 30 ms);
    # keras-tensorflow's hold one of 15 ms. By the median pytorch is 1.5x faster; by the last record, 2x slower.
    benchmarks, processes = [], []
    for r, factor in enumerate((0.98, 0.99, 1.00, 1.01, 1.02), 1):
        for framework, medians in (("pytorch", (0.009, 0.010, 0.030)), ("keras-tensorflow", (0.015,))):
            label = f"{framework}/{r}"
            benchmarks += [bench_entry(framework, "lenet", "forward", m * factor, variant="default", process=label,
                                       repeat=r, spread=0.0) for m in medians]
            processes.append({"label": label, "frameworks": [framework], "environment": {}, "exit_code": 0,
                              "status": "ok", "outcome": "ok", "benchmarks": len(medians), "json": "x.json",
                              "repeat": r})
    a = comparisons.analyse([write(tmp_path, "a.json", results_doc(benchmarks, processes=processes))])
    cells = {c.column: c for c in a.cells}
    assert len(cells["pytorch"].records) == 15
    assert cells["pytorch"].per_process["1:pytorch/3"] == pytest.approx(128 / 0.010)
    (pair,) = a.speed
    assert (pair.a, pair.b, pair.verdict) == ("pytorch", "keras-tensorflow", "faster")
    assert pair.ratio == pytest.approx(1.5)


def test_only_in_some_tells_epochs_of_different_sizes_apart(tmp_path):
    # the same epoch benchmark over 2,048 images in one file and 60,000 in the other: two benchmarks, each in one
    def epoch(images: int) -> dict:
        entry = bench_entry("pytorch", "lenet", "epoch-staged", 1.0, kind="epoch", batch=64)
        entry["extra_info"]["images"] = images
        return entry

    a, b = (write(tmp_path, f"{n}.json", results_doc([epoch(i)])) for n, i in (("a", 2048), ("b", 60000)))
    assert comparisons.analyse([a, b]).only_in_some == [
        f"pytorch lenet epoch-staged cpu batch 64 (2,048 images): only in {a}",
        f"pytorch lenet epoch-staged cpu batch 64 (60,000 images): only in {b}"]
