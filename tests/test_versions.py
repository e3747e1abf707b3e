"""Comparing a framework's versions across stored runs, on hand-made runs (code paths, not measurements)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("scipy", reason="the statistics need scipy: pip install scipy")

from frameworks.analysis.store import load_store
from frameworks.analysis.throughputs import natural_key
from frameworks.analysis.versions import compare_versions
from frameworks.cli import main

from .helpers import example_store, run_doc, step_entries

ONE = {"networks": {"lenet": 0.01}, "phases": {"train_step": 1.0}}  # one benchmark per framework


def store_of(tmp_path, *docs):
    for i, doc in enumerate(docs):
        (tmp_path / f"run{i}.json").write_text(json.dumps(doc))
    return load_store([tmp_path]).runs


def pytorch(version, factor, day, **more):
    """A pytorch run on 2026-11-<day> whose step takes ``factor`` times the base time."""
    return run_doc(step_entries({"pytorch [eager]": factor}, **ONE), versions={"pytorch": version},
                   when=f"2026-11-{day:02d}T00:00:00", **more)


def test_a_faster_upgrade_is_found_with_its_interval(tmp_path):
    runs = store_of(tmp_path, pytorch("2.13.0", 1.0, 1), pytorch("2.14.1", 0.8, 2))
    (v,) = compare_versions(runs)
    c = v.comparison
    assert (v.older, v.newer, v.column) == ("2.13.0", "2.14.1", "pytorch")
    assert c.ratio == pytest.approx(1.25) and 1 < c.low < 1.25 < c.high and (c.n_a, c.n_b) == (5, 5)
    assert c.verdict == "faster" and c.words.startswith("pytorch 2.14.1 is faster than pytorch 2.13.0 by 25%")


def test_an_unchanged_framework_is_equivalent_and_a_slower_one_is_slower(tmp_path):
    runs = store_of(tmp_path, pytorch("2.13.0", 1.0, 1), pytorch("2.14.1", 1.0, 2),
                    pytorch("2.15.0", 1.3, 3))
    first, second = compare_versions(runs)
    assert first.comparison.verdict == "equivalent" and "equivalent within +-5%" in first.comparison.words
    assert second.comparison.verdict == "slower" and second.ratio == pytest.approx(1 / 1.3)
    assert second.comparison.words.startswith("pytorch 2.14.1 is faster than pytorch 2.15.0 by 30%")


def test_versions_are_ordered_by_their_numbers_and_compared_in_steps(tmp_path):
    assert natural_key("2.9.0") < natural_key("2.10.0") < natural_key("2.10.1")
    assert natural_key("3.11.3 (tensorflow 2.20.0)") < natural_key("3.15.1 (tensorflow 2.21.0)")
    runs = store_of(tmp_path, pytorch("2.10.0", 1.0, 3), pytorch("2.9.0", 1.0, 1),
                    pytorch("2.10.1", 1.0, 2))
    assert [(v.older, v.newer) for v in compare_versions(runs)] == [("2.9.0", "2.10.0"), ("2.10.0", "2.10.1")]


def test_each_versions_latest_run_is_used_unless_all_runs_are_pooled(tmp_path):
    runs = store_of(tmp_path, pytorch("2.13.0", 2.0, 1), pytorch("2.13.0", 1.0, 2),
                    pytorch("2.14.1", 1.0, 3))
    (latest,) = compare_versions(runs)
    assert latest.older_runs == ("run1.json",) and latest.comparison.n_b == 5
    assert latest.comparison.verdict == "equivalent"
    (pooled,) = compare_versions(runs, all_runs=True)
    assert pooled.older_runs == ("run0.json", "run1.json") and pooled.comparison.n_b == 10


def test_only_like_is_compared_with_like(tmp_path):
    runs = store_of(tmp_path, pytorch("2.13.0", 1.0, 1),
                    pytorch("2.14.1", 1.0, 2, cpu="Another CPU"),  # another machine
                    run_doc(step_entries({"keras-tensorflow [default]": 1.0}, **ONE), when="2026-11-03T00:00:00",
                            versions={"keras-tensorflow": "3.15.1 (tensorflow 2.21.0)"}))
    assert compare_versions(runs) == []


def test_one_process_a_side_is_inconclusive_and_says_why(tmp_path):
    runs = store_of(tmp_path, pytorch("2.13.0", 1.0, 1, repeats=1),
                    pytorch("2.14.1", 0.5, 2, repeats=1))
    (v,) = compare_versions(runs)
    assert v.ratio == pytest.approx(2.0) and v.comparison.verdict == "inconclusive"
    assert "--repeats 5" in v.comparison.words


def test_the_versions_command_prints_markdown_and_never_overwrites(tmp_path, capsys):
    example_store(tmp_path / "store")
    out = tmp_path / "versions.md"
    assert main(["versions", str(tmp_path / "store"), "--frameworks", "pytorch", "--output", str(out)]) == 0
    assert main(["versions", str(tmp_path / "store"), "--frameworks", "pytorch", "--output", str(out)]) == 0
    printed = capsys.readouterr()
    assert out.exists() and (tmp_path / "versions-1.md").exists()
    text = out.read_text()
    assert "| pytorch | lenet train_step, batch 128, 2 threads | 2.13.0+cpu -> 2.14.1+cu130 | 5 v 5 |" in text
    assert "keras-tensorflow" not in text.split("Runs compared")[0]  # --frameworks pytorch
    assert "skipped" in printed.err and "broken.json" in printed.err


def test_the_versions_command_without_runs_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["versions", str(tmp_path / "empty")]) == 2
    assert "no usable runs" in capsys.readouterr().err
    assert main(["versions", str(tmp_path / "absent")]) == 2


def test_each_upgrade_is_its_own_family_for_the_multiplicity_correction(tmp_path):
    """A 3x slowdown of one variant stays a verdict beside nine unchanged benchmarks of another: corrected over
    every row at once (ten comparisons) its exact p of 0.0079 would adjust to 0.079 and say nothing."""
    from frameworks.stats import correct

    many = {"networks": {"lenet": 0.01, "mlp_bn": 0.002, "keras_cnn": 0.03},
            "phases": {"forward": 0.3, "backward": 0.8, "train_step": 1.0}}

    def run(version, compile_factor, day):
        entries = step_entries({"pytorch [eager]": 1.0}, **many) + step_entries({"pytorch [compile]": compile_factor},
                                                                                  **ONE)
        return run_doc(entries, versions={"pytorch": version}, when=f"2026-11-{day:02d}T00:00:00")

    comparisons = compare_versions(store_of(tmp_path, run("2.13.0", 1.0, 1), run("2.14.1", 3.0, 2)))
    (compiled,) = [v for v in comparisons if v.column == "pytorch [compile]"]
    assert len(comparisons) == 10 and compiled.comparison.verdict == "slower"
    # 5 processes a side, fully separated: the exact rank test's smallest p, 2 / C(10, 5) = 2/252
    assert compiled.comparison.p == pytest.approx(0.0079365, rel=1e-4)
    assert compiled.comparison.p_adjusted == pytest.approx(0.0079365, rel=1e-4)  # a family of one
    jointly = correct([v.comparison for v in comparisons])[comparisons.index(compiled)]
    assert jointly.verdict == "inconclusive" and jointly.p_adjusted == pytest.approx(0.079365, rel=1e-4)  # x 10/1
