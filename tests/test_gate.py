"""The pull-request gate: its decisions on hand-made results (code paths), and its error rates on real samples
recorded on this project's machine (tests/data/gate_samples.json.gz, from scripts/gate_experiment.py)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from frameworks.analysis.gate import decide, false_failure_and_detection, gate
from frameworks.cli import main
from frameworks.errors import EXIT_OK, EXIT_UNTESTED, EXIT_USAGE

from .helpers import bench_entry, results_doc

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).resolve().parent / "data" / "gate_samples.json.gz"
FRAMEWORKS = ("fw-a", "fw-b")


def workflow_repeats() -> int:
    """How many runs per side the benchmark-gate workflow makes (the rates below must hold at that number)."""
    for path in [ROOT / ".github" / "workflows" / "benchmark-gate.yml", *sorted((ROOT / ".github").rglob("*.sh"))]:
        if path.exists() and (match := re.search(r"REPEATS:?=?\s*\"?(\d+)", path.read_text())):
            return int(match.group(1))
    raise AssertionError("the benchmark-gate workflow does not say how many repeats it runs")


def run_file(tmp_path, name, medians, *, rng, spread=0.03, rounds=40, drop=(), failed=()):
    """A results file with one process per framework and lognormal rounds around each median (hand-made)."""
    benchmarks, processes = [], []
    for framework in FRAMEWORKS:
        if framework in failed:
            processes.append({"label": framework, "frameworks": [framework], "environment": {}, "exit_code": -11,
                              "status": "crashed", "outcome": "crashed", "benchmarks": 0, "json": "x.json"})
            continue
        for phase, median in medians.items():
            if (framework, phase) in drop:
                continue
            samples = list(median * np.exp(rng.normal(0, spread, rounds)))
            benchmarks.append(bench_entry(framework, "lenet", phase, median, samples=samples, process=framework))
    path = tmp_path / name
    path.write_text(json.dumps(results_doc(benchmarks, processes=processes)))
    return str(path)


def sides(tmp_path, base, head, repeats=3, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    b = [run_file(tmp_path, f"base{i}.json", base, rng=rng) for i in range(repeats)]
    h = [run_file(tmp_path, f"head{i}.json", head, rng=rng, **kwargs) for i in range(repeats)]
    return b, h


MEDIANS = {"forward": 0.010, "backward": 0.020, "train_step": 0.030}


def test_a_30_percent_regression_fails(tmp_path):
    code, text = gate(*sides(tmp_path, MEDIANS, {**MEDIANS, "train_step": 0.039}))
    assert code == 1 and "FAILED" in text
    regressions = [row for row in text.splitlines() if "**regression**" in row]
    assert len(regressions) >= 1 and all("train_step" in row for row in regressions), regressions


def test_3_percent_noise_passes(tmp_path):
    code, text = gate(*sides(tmp_path, MEDIANS, {k: v * 1.03 for k, v in MEDIANS.items()}))
    assert code == 0 and "passed" in text


def test_a_big_but_insignificant_difference_passes():
    """Three runs a side cannot show a 12% difference apart from run-to-run noise of that size."""
    key = ("x", "n", "cpu", "train_step", 128)
    base = {key: list(np.log([1.0, 1.25, 0.9]))}
    head = {key: list(np.log([1.5, 1.1, 1.2]))}
    (d,) = decide(base, head)
    assert d.ratio > 1.1 and not d.regressed and d.method == "paired t"


def test_a_drift_shared_by_neighbouring_runs_cancels_in_the_paired_test():
    """The machine slows down over the job; each head run is 15% slower than the base run next to it."""
    key = ("x", "n", "cpu", "train_step", 128)
    drift = np.log([1.0, 1.3, 0.8, 1.6, 1.1, 0.9])
    base = {key: list(drift)}
    head = {key: list(drift + np.log(1.15) + np.array([0.01, -0.01, 0.02, 0.0, -0.02, 0.01]))}
    (paired,) = decide(base, head)
    (unpaired,) = decide(base, head, paired=False)
    assert paired.regressed and not unpaired.regressed


def test_a_faster_head_is_marked_faster(tmp_path):
    code, text = gate(*sides(tmp_path, MEDIANS, {k: v * 0.7 for k, v in MEDIANS.items()}))
    assert code == 0 and "| faster |" in text


def test_a_benchmark_missing_from_the_head_fails_unless_declared_removed(tmp_path):
    base, head = sides(tmp_path, MEDIANS, MEDIANS, drop={("fw-b", "forward")})
    code, text = gate(base, head)
    assert code == 1 and "fw-b lenet forward batch 128 cpu: absent from the head" in text
    assert gate(base, head, removed=["fw-b lenet forward batch 128 cpu"])[0] == 0


def test_a_framework_that_crashes_in_the_head_fails_the_gate(tmp_path):
    base, head = sides(tmp_path, MEDIANS, MEDIANS, failed={"fw-b"})
    code, text = gate(base, head)
    assert code == 1 and "failed in the head" in text
    assert gate(base, head, removed=["fw-b"])[0] == 0  # an intentional removal of the framework


def test_a_missing_or_broken_baseline_is_reported_not_passed(tmp_path):
    _, head = sides(tmp_path, MEDIANS, MEDIANS)
    broken = tmp_path / "broken.json"
    broken.write_text('{"benchmarks": [{"group": "g"')
    code, text = gate([str(tmp_path / "absent.json"), str(broken)], head)
    assert code == 2 and "NO USABLE BASE RUNS" in text and "absent.json" in text and "not JSON" in text


def test_gate_command_writes_the_summary(tmp_path):
    summary = tmp_path / "summary.md"
    base, head = sides(tmp_path, MEDIANS, {k: v * 1.5 for k, v in MEDIANS.items()})
    code = main(["gate", "--base", *base, "--head", *head, "--summary", str(summary), "--min-effect", "0.1"])
    assert code == 1 and "regression" in summary.read_text()
    assert main(["gate", "--base", *base, "--head", *head, "--min-effect", "2"]) == 2  # a usage error


def test_a_disturbed_process_is_left_out_and_said_so(tmp_path):
    base, head = sides(tmp_path, MEDIANS, {**MEDIANS, "train_step": 0.039})
    doc = json.loads(Path(head[0]).read_text())
    doc["processes"] = [{"label": "fw-a", "frameworks": ["fw-a"], "environment": {}, "exit_code": 0, "status": "ok",
                         "outcome": "ok", "benchmarks": 3, "json": "x.json",
                         "noise": {"seconds": 10.0, "others_cpu": 0.4}}]
    Path(head[0]).write_text(json.dumps(doc))
    code, text = gate(base, head)
    assert "Left out, run on a busy machine" in text and "other processes used 40% of the CPU" in text
    assert "| 3/2 |" in text or "| 2/2 |" in text  # fw-a's head run 0 does not count


def disturb(path: str, framework: str) -> None:
    """Mark ``framework``'s process in a results file as run on a busy machine (the gate then leaves it out)."""
    doc = json.loads(Path(path).read_text())
    doc["processes"] = [p for p in doc["processes"] if p["label"] != framework] + [
        {"label": framework, "frameworks": [framework], "environment": {}, "exit_code": 0, "status": "ok",
         "outcome": "ok", "benchmarks": 3, "json": "x.json", "noise": {"seconds": 10.0, "others_cpu": 0.6}}]
    Path(path).write_text(json.dumps(doc))


def test_a_benchmark_whose_head_runs_were_all_disturbed_is_not_a_pass(tmp_path):
    """Head 3x slower, every head run of fw-a on a busy machine: untested, so exit 4, never "passed"."""
    base, head = sides(tmp_path, MEDIANS, {k: 3 * v for k, v in MEDIANS.items()})
    for path in head:
        disturb(path, "fw-a")
    code, text = gate(base, head)
    assert code == 1, "fw-b's tested 3x slowdown still fails"
    for path in head:  # now fw-b as fast as its base, fw-a untested
        doc = json.loads(Path(path).read_text())
        for entry in doc["benchmarks"]:
            if entry["extra_info"]["framework"] == "fw-b":
                entry["extra_info"]["samples_s"] = [s / 3 for s in entry["extra_info"]["samples_s"]]
        Path(path).write_text(json.dumps(doc))
    code, text = gate(base, head)
    assert code == EXIT_UNTESTED and "NOT TESTED: 3 benchmarks" in text and "gate: passed" not in text
    assert "- fw-a lenet train_step batch 128 cpu: every head run of it (3) was left out as disturbed" in text
    assert "fw-b lenet" not in text.split("| benchmark |")[0], "only the untested are named as untested"
    code, text = gate(base, head, out_of_scope=["fw-a"])
    assert code == EXIT_OK and "passed" in text and "declared out of scope" in text
    assert gate(base, head, out_of_scope=["fw-a lenet forward batch 128 cpu"])[0] == EXIT_UNTESTED, \
        "declaring one benchmark leaves the other two untested"
    assert gate(base, head, out_of_scope=["*"])[0] == EXIT_OK


def test_too_few_runs_on_a_side_is_not_a_pass(tmp_path):
    base, head = sides(tmp_path, MEDIANS, {k: 3 * v for k, v in MEDIANS.items()}, repeats=1)
    code, text = gate(base, head)
    assert code == EXIT_UNTESTED
    assert "- fw-a lenet forward batch 128 cpu: 1 usable base run, 2 are needed; 1 usable head run, 2 are needed" \
        in text


def test_the_gate_command_exits_4_for_the_untested_and_says_so_in_the_summary(tmp_path, capsys):
    base, head = sides(tmp_path, MEDIANS, MEDIANS)
    for path in head:
        disturb(path, "fw-b")
    summary = tmp_path / "summary.md"
    assert main(["gate", "--base", *base, "--head", *head, "--summary", str(summary)]) == EXIT_UNTESTED
    assert "NOT TESTED" in summary.read_text() and "fw-b lenet forward" in summary.read_text()
    assert main(["gate", "--base", *base, "--head", *head, "--out-of-scope", "fw-*"]) == EXIT_OK
    assert main(["gate", "--base", *base, "--head", *head, "--out-of-scope", "fw-a"]) == EXIT_UNTESTED
    capsys.readouterr()
    assert main(["gate", "--base", *base, "--head", *head, "--out-of-scope", ","]) == EXIT_USAGE
    assert "--out-of-scope" in capsys.readouterr().err


# --- on real samples ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool():
    """Each recorded run's log median per benchmark (None where its process ran on a busy machine)."""
    if not SAMPLES.exists():
        pytest.fail(f"{SAMPLES} is missing: record it with scripts/gate_experiment.py")
    payload = json.loads(gzip.decompress(SAMPLES.read_bytes()))
    return [{tuple(e["key"]): None if e["key"][0] in run["disturbed"] else float(np.log(np.median(e["samples_s"])))
             for e in run["benchmarks"]} for run in payload["runs"]]


def test_unchanged_code_fails_at_most_1_percent_of_pull_requests(pool):
    repeats = workflow_repeats()
    rates = false_failure_and_detection(pool, repeats, trials=400, seed=1)
    assert rates["false_failure"] <= 0.01, rates


def test_a_20_percent_slowdown_of_one_framework_is_caught_at_least_90_percent_of_the_time(pool):
    repeats = workflow_repeats()
    rates = false_failure_and_detection(pool, repeats, trials=200, seed=2)
    assert rates["detection"] >= 0.90, rates
    assert all(v >= 0.80 for k, v in rates.items() if k.startswith("detection ")), rates
