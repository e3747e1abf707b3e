"""The pull-request gate's logic, on hand-made pytest-benchmark documents (code paths, not measurements)."""

from __future__ import annotations

import json

import pytest

from frameworks.analysis.gate import BaselineError, compare, gate, normalised_times
from frameworks.cli import main

from .helpers import bench_entry, results_doc


def entry(name, median, process, kind="step"):
    e = bench_entry("x", "lenet", "train_step", median, kind=kind, process=process, rounds=1)
    e["name"] = e["fullname"] = name
    return e


def run_json(tmp_path, name, times, calibration=1.0, process=""):
    benchmarks = [entry("test_calibration", calibration, process, kind="calibration")]
    benchmarks += [entry(f"frameworks/bench/test_benchmarks.py::{k}", v, process) for k, v in times.items()]
    path = tmp_path / name
    path.write_text(json.dumps(results_doc(benchmarks)))
    return str(path)


def repeats(tmp_path, side, values, calibrations=(1.0, 1.0, 1.0)):
    return [run_json(tmp_path, f"{side}{i}.json", {"test_step[a]": v, "test_step[b]": 2.0}, c)
            for i, (v, c) in enumerate(zip(values, calibrations, strict=True))]


def test_a_30_percent_regression_fails(tmp_path):
    code, text = gate(repeats(tmp_path, "base", [1.00, 1.01, 0.99]), repeats(tmp_path, "head", [1.30, 1.31, 1.29]))
    assert code == 1 and "FAILED" in text and "| regression |" in text and "+30.0%" in text


def test_3_percent_noise_passes(tmp_path):
    code, text = gate(repeats(tmp_path, "base", [1.00, 1.02, 0.99]), repeats(tmp_path, "head", [1.03, 1.01, 1.04]))
    assert code == 0 and "passed" in text


def test_a_slower_runner_is_cancelled_by_the_calibration(tmp_path):
    base = repeats(tmp_path, "base", [1.0, 1.0, 1.0], calibrations=(1.0, 1.0, 1.0))
    head = repeats(tmp_path, "head", [1.3, 1.3, 1.3], calibrations=(1.3, 1.3, 1.3))  # everything 30% slower
    assert gate(base, head)[0] == 0


def test_noisy_benchmarks_need_a_larger_change(tmp_path):
    base = repeats(tmp_path, "base", [1.0, 1.3, 0.9])  # 40% spread between repeats
    head = repeats(tmp_path, "head", [1.2, 1.25, 1.15])
    verdicts, _ = compare([normalised_times(p) for p in base], [normalised_times(p) for p in head])
    a = next(v for v in verdicts if v.name.endswith("[a]"))
    assert a.allowed == pytest.approx(0.8) and not a.regressed


def test_a_missing_baseline_is_reported_not_passed(tmp_path):
    code, text = gate([str(tmp_path / "absent.json")], repeats(tmp_path, "head", [1.0, 1.0, 1.0]))
    assert code == 2 and "NO BASELINE" in text and "absent.json" in text


def test_a_broken_baseline_is_reported_not_passed(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"benchmarks": [{"group": "g"')
    no_calibration = tmp_path / "nocal.json"
    no_calibration.write_text(json.dumps(results_doc([entry("x", 1.0, "")])))
    code, text = gate([str(broken), str(no_calibration)], repeats(tmp_path, "head", [1.0, 1.0, 1.0]))
    assert code == 2 and "not JSON" in text and "no calibration" in text


def test_empty_baseline_is_an_error():
    with pytest.raises(BaselineError):
        compare([{}], [{"x": 1.0}])


def test_benchmarks_on_one_side_only_are_listed(tmp_path):
    base = [run_json(tmp_path, "b.json", {"test_step[a]": 1.0, "test_step[old]": 1.0})]
    head = [run_json(tmp_path, "h.json", {"test_step[a]": 1.0, "test_step[new]": 1.0})]
    code, text = gate(base, head)
    assert code == 0 and "test_step[old]" in text and "test_step[new]" in text


def test_each_process_uses_its_own_calibration(tmp_path):
    path = tmp_path / "merged.json"
    path.write_text(json.dumps(results_doc([entry("c", 2.0, "p1", "calibration"), entry("c", 4.0, "p2", "calibration"),
                                            entry("x", 1.0, "p1"), entry("y", 1.0, "p2")])))
    assert normalised_times(path) == {"x": 0.5, "y": 0.25}


def test_gate_command_writes_the_summary(tmp_path):
    summary = tmp_path / "summary.md"
    code = main(["gate", "--base", *repeats(tmp_path, "base", [1, 1, 1]), "--head",
                 *repeats(tmp_path, "head", [1.5, 1.5, 1.5]), "--summary", str(summary)])
    assert code == 1 and "regression" in summary.read_text()
