"""The pull-request gate's logic, on hand-made pytest-benchmark documents (code paths, not measurements)."""

from __future__ import annotations

import json

import pytest

from frameworks.__main__ import main
from frameworks.gate import BaselineError, compare, gate, normalised_times


def run_json(tmp_path, name, times, calibration=1.0, process=""):
    benchmarks = [{"group": "calibration", "name": "test_calibration", "stats": {"median": calibration},
                   "extra_info": {"process": process}}]
    benchmarks += [{"group": "g", "name": k, "fullname": f"tests/test_benchmarks.py::{k}", "stats": {"median": v},
                    "extra_info": {"process": process}} for k, v in times.items()]
    path = tmp_path / name
    path.write_text(json.dumps({"benchmarks": benchmarks}))
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
    no_calibration.write_text(json.dumps({"benchmarks": [{"group": "g", "name": "x", "stats": {"median": 1}}]}))
    code, text = gate([str(broken), str(no_calibration)], repeats(tmp_path, "head", [1.0, 1.0, 1.0]))
    assert code == 2 and "not readable" in text and "no calibration" in text


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
    path.write_text(json.dumps({"benchmarks": [
        {"group": "calibration", "name": "c", "stats": {"median": 2.0}, "extra_info": {"process": "p1"}},
        {"group": "calibration", "name": "c", "stats": {"median": 4.0}, "extra_info": {"process": "p2"}},
        {"group": "g", "name": "x", "stats": {"median": 1.0}, "extra_info": {"process": "p1"}},
        {"group": "g", "name": "y", "stats": {"median": 1.0}, "extra_info": {"process": "p2"}}]}))
    assert normalised_times(path) == {"x": 0.5, "y": 0.25}


def test_gate_command_writes_the_summary(tmp_path):
    summary = tmp_path / "summary.md"
    code = main(["gate", "--base", *repeats(tmp_path, "base", [1, 1, 1]), "--head",
                 *repeats(tmp_path, "head", [1.5, 1.5, 1.5]), "--summary", str(summary)])
    assert code == 1 and "regression" in summary.read_text()
