"""Precision in the analysis (analysis/comparisons.py, report.py) on hand-made runs: bf16 is compared with the same
framework's fp32 and with other frameworks' bf16, never across precisions between frameworks; figures whose numeric
manifests differ are refused unless the user allows the field, and the verdict says so."""

from __future__ import annotations

import copy
import json
import math

import pytest

from frameworks.analysis import comparisons
from frameworks.analysis.report import markdown
from frameworks.results import BenchRecord

from .helpers import run_doc, step_entries

ONE = {"networks": {"lenet": 0.03}, "phases": {"forward": 0.3}}


def with_precision(doc: dict, precision: str, factors: dict[str, float]) -> list[dict]:
    """Copies of ``doc``'s benchmarks at ``precision``, each framework's times multiplied by its factor."""
    out = []
    for entry in doc["benchmarks"]:
        entry = copy.deepcopy(entry)
        info = entry["extra_info"]
        info["precision"] = precision
        info["samples_s"] = [t * factors[info["framework"]] for t in info["samples_s"]]
        entry["name"] = entry["fullname"] = entry["name"] + f"-{precision}"
        out.append(entry)
    return out


def manifest(doc: dict, **by_framework: dict) -> dict:
    for entry in doc["benchmarks"]:
        info = entry["extra_info"]
        info["manifest"] = {"float32_matmul": "ieee", "threads": 2, "warmup_calls": 3,
                            **by_framework.get(info["framework"].replace("-", "_"), {})}
    return doc


def analyse(tmp_path, doc, **kwargs):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    return comparisons.analyse([path], **kwargs)


@pytest.fixture
def both(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.3}, **ONE))
    doc["benchmarks"] += with_precision(doc, "bf16", {"pytorch": 0.5, "keras-tensorflow": 0.8})
    return analyse(tmp_path, manifest(doc))


def test_bf16_is_compared_with_its_own_fp32_and_with_other_frameworks_bf16_only(both):
    columns = {c.column for c in both.cells}
    assert columns == {"pytorch", "keras-tensorflow", "pytorch [bf16]", "keras-tensorflow [bf16]"}
    assert [(c.a, c.b) for c in both.speed] == [("pytorch", "keras-tensorflow")]
    assert both.variants == []
    precision = {(c.a, c.b): c for c in both.precision}
    assert set(precision) == {("pytorch [bf16]", "pytorch"), ("keras-tensorflow [bf16]", "keras-tensorflow")}
    assert precision[("pytorch [bf16]", "pytorch")].ratio == pytest.approx(2.0)
    assert precision[("pytorch [bf16]", "pytorch")].verdict == "faster"
    assert precision[("keras-tensorflow [bf16]", "keras-tensorflow")].ratio == pytest.approx(1.25)
    (pair,) = both.reduced_speed["bf16"]
    assert (pair.a, pair.b) == ("pytorch [bf16]", "keras-tensorflow [bf16]")
    assert pair.ratio == pytest.approx(1.3 * 0.8 / 0.5)  # keras 1.04 s-units, pytorch 0.5
    everything = both.speed + both.variants + both.precision + both.reduced_speed["bf16"]
    crossing = [c for c in everything if ("[bf16]" in c.a) != ("[bf16]" in c.b) and c.a.split(" [")[0] !=
                c.b.split(" [")[0]]
    assert crossing == [], "a bf16 figure was compared with another framework's fp32 figure"
    # one correction over every family: 4 tests, each p = 2/252
    assert all(c.p_adjusted == pytest.approx(2 / 252) for c in everything)


def test_the_report_has_a_precision_section_and_the_claim_at_bf16(both):
    text = markdown(both, claim="pytorch")
    assert "### Precision" in text
    assert "| lenet forward batch 128 on cpu | pytorch [bf16] / pytorch | 2.000 [" in text
    assert "Frameworks at bf16, from fastest to slowest" in text
    assert "| lenet forward batch 128 on cpu | pytorch [bf16]" in text.split("Frameworks at bf16")[1]
    assert "At bf16 (each framework's default variant at bf16, against each other only): pytorch [bf16] is " \
           "faster in 1, slower in 0" in text
    assert "Numeric manifest of these figures: float32_matmul ieee; threads 2; warmup_calls 3." in text


def test_differing_manifests_are_refused_naming_the_field(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.3}, **ONE))
    doc = manifest(doc, keras_tensorflow={"float32_matmul": "tf32"})
    (refused,) = analyse(tmp_path, doc).speed
    assert refused.verdict == "refused" and refused.refused
    assert "float32_matmul ieee vs tf32" in refused.words and "--allow-mismatch" in refused.words
    (allowed,) = analyse(tmp_path, doc, allow_mismatch=["float32_matmul"]).speed
    assert allowed.verdict == "faster"
    assert allowed.words.endswith("[allowed mismatch: float32_matmul ieee vs tf32]")
    # allowing another field does not allow this one
    (still,) = analyse(tmp_path, doc, allow_mismatch=["threads"]).speed
    assert still.verdict == "refused"


def test_unknown_manifest_values_and_older_results_are_not_differences(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.3}, **ONE))
    doc = manifest(doc, pytorch={"deterministic": False}, keras_tensorflow={"deterministic": None})
    (pair,) = analyse(tmp_path, doc).speed
    assert pair.verdict == "faster"
    older = run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.3}, **ONE))
    (pair,) = analyse(tmp_path, older).speed
    assert pair.verdict == "faster" and pair.mismatch == ""


def test_record_columns_name_variant_and_precision():
    def column(variant, precision):
        return BenchRecord("n", "step", "pytorch", "lenet", "cpu", "forward", [1.0], 1, variant=variant,
                           default_variant=variant == "eager", precision=precision).column

    assert column("eager", "fp32") == "pytorch"
    assert column("compile", "fp32") == "pytorch [compile]"
    assert column("eager", "bf16") == "pytorch [bf16]"
    assert column("compile", "bf16") == "pytorch [compile, bf16]"
    assert BenchRecord.from_benchmark({"name": "x", "extra_info": {
        "kind": "step", "framework": "pytorch", "network": "lenet", "device": "cpu", "phase": "forward",
        "samples_s": [1.0], "images": 1}}).precision == "fp32"  # results from before precisions were fp32


def test_each_framework_at_its_best_is_at_fp32_and_refused_across_unlike_manifests(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "pytorch [compile]": 0.5, "keras-tensorflow [default]": 1.3},
                               **ONE))
    doc["benchmarks"] += with_precision(doc, "bf16", {"pytorch": 0.5, "keras-tensorflow": 0.8})
    a = analyse(tmp_path, manifest(doc))
    (pair,) = a.best  # bf16 figures never enter the choice or the comparison
    assert (pair.comparison.a, pair.comparison.b, pair.a_from) == ("pytorch [compile]", "keras-tensorflow [default]",
                                                                   ("eager", "compile"))
    assert pair.comparison.verdict != "refused"
    unlike = analyse(tmp_path, manifest(doc, keras_tensorflow={"threads": 1}))
    (refused,) = unlike.best
    assert refused.comparison.verdict == "refused" and "threads 2 vs 1" in refused.comparison.words


def test_bf16_is_compared_with_the_fp32_of_its_own_variant(tmp_path):
    # pytorch at eager and compile, each at fp32 and bf16 (bf16 twice as fast): compile's bf16 against compile's
    # fp32 (2.0), not against eager's (4.0)
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "pytorch [compile]": 0.5, "keras-tensorflow [default]": 1.3},
                               **ONE))
    doc["benchmarks"] += [e for e in with_precision(doc, "bf16", {"pytorch": 0.5, "keras-tensorflow": 0.8})
                          if e["extra_info"]["framework"] == "pytorch"]
    a = analyse(tmp_path, manifest(doc))
    assert [(c.a, c.b, round(c.ratio, 4)) for c in a.precision] == [
        ("pytorch [bf16]", "pytorch", 2.0), ("pytorch [compile, bf16]", "pytorch [compile]", 2.0)]
    assert [(c.a, c.b) for c in a.variants] == [("pytorch [compile]", "pytorch"),
                                                ("pytorch [compile, bf16]", "pytorch [bf16]")]
    assert a.reduced_speed == {}  # one framework at bf16: no pair


def test_a_figure_without_a_peer_is_compared_with_nothing(tmp_path):
    # pytorch compile at fp32 with no eager at fp32, pytorch eager at bf16 with no eager at fp32
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "pytorch [compile]": 0.5, "keras-tensorflow [default]": 1.3},
                               **ONE))
    bf16 = [e for e in with_precision(doc, "bf16", {"pytorch": 0.5, "keras-tensorflow": 0.8})
            if e["extra_info"]["variant"] == "eager"]
    doc["benchmarks"] = [e for e in doc["benchmarks"] if e["extra_info"]["variant"] != "eager"] + bf16
    a = analyse(tmp_path, manifest(doc))
    assert [c.column for c in a.cells] == ["pytorch [compile]", "keras-tensorflow", "pytorch [bf16]"]
    assert (a.speed, a.variants, a.precision, a.reduced_speed) == ([], [], [], {})


def test_precisions_in_the_declared_order_and_unknown_ones_last():
    assert [comparisons.precision_order(p) for p in ("fp32", "bf16", "int8")] == [0, 1, 2]


def test_every_differing_field_is_named_and_a_refused_comparison_has_no_p(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.3}, **ONE))
    doc = manifest(doc, keras_tensorflow={"float32_matmul": "tf32", "threads": 1})
    (refused,) = analyse(tmp_path, doc).speed
    assert (refused.verdict, refused.mismatch, refused.refused) == ("refused", "float32_matmul ieee vs tf32; threads "
                                                                               "2 vs 1", True)
    assert math.isnan(refused.p) and math.isnan(refused.p_adjusted)
    assert refused.words == ("not compared, unlike for like: float32_matmul ieee vs tf32; threads 2 vs 1 "
                             "(--allow-mismatch FIELD compares them anyway, and the verdict says so)")
    a = analyse(tmp_path, doc, allow_mismatch=["float32_matmul", "threads"])
    (allowed,) = a.speed
    assert allowed.p == pytest.approx(2 / 252) and not allowed.refused
    assert allowed.words == ("pytorch is faster than keras-tensorflow by 30% (95% CI 28-32%) [allowed mismatch: "
                             "float32_matmul ieee vs tf32; threads 2 vs 1]")
    (best,) = a.best  # --allow-mismatch reaches the at-best comparisons too
    assert (best.comparison.verdict, best.comparison.words) == (
        "faster", "pytorch [eager] is faster than keras-tensorflow [default] by 30% (95% CI 28-32%) [allowed "
                  "mismatch: float32_matmul ieee vs tf32; threads 2 vs 1]")
