"""The pull-request gate: its decisions on hand-made results (code paths), and its error rates on real samples
recorded on this project's machine (tests/data/gate_samples.json.gz, from scripts/gate_experiment.py)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from frameworks.analysis.gate import (
    adjacent_pair_trials,
    decide,
    detection,
    false_failure_and_detection,
    gate,
    key_name,
    markdown,
)
from frameworks.cli import main
from frameworks.errors import EXIT_FAILED, EXIT_OK, EXIT_UNTESTED, EXIT_USAGE

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
    # fw-a's head run 0 does not count: two pairs left for each of fw-a's three benchmarks, three for fw-b's (the
    # old check, "| 3/2 |" or "| 2/2 |", also passed a gate that dropped fw-b's run too, or every run after it)
    rows = [line for line in text.splitlines() if line.startswith("| fw-")]
    assert sorted(row.split(" | ")[5] for row in rows if row.startswith("| fw-a")) == ["2/2", "2/2", "2/2"]
    assert sorted(row.split(" | ")[5] for row in rows if row.startswith("| fw-b")) == ["3/3", "3/3", "3/3"]


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


# --- decide and markdown on hand-made log medians: every field a literal ------------------------------------------
def key(phase):
    return ("fw", "lenet", "cpu", phase, 128)


def decided(base, head, **kwargs):
    (d,) = decide({key("a"): base}, {key("a"): head}, **kwargs)
    return {k: v for k, v in dataclasses.asdict(d).items() if k != "key"}


def expect(**values):
    """Floats to 1e-6 relative (NaN equal to NaN), the rest exactly."""
    return {k: pytest.approx(v, rel=1e-6, nan_ok=True) if isinstance(v, float) else v for k, v in values.items()}


def decision(base_median_s, head_median_s, ratio, p, p_adjusted, base_runs, head_runs, method, regressed, improved,
             sd_log=math.nan):
    return expect(base_median_s=base_median_s, head_median_s=head_median_s, ratio=ratio, p=p, p_adjusted=p_adjusted,
                  base_runs=base_runs, head_runs=head_runs, method=method, regressed=regressed, improved=improved,
                  sd_log=sd_log)


NAN = math.nan


def test_a_paired_regression_by_hand():
    """Differences 0.3, 0.25, 0.35: mean 0.3, sd 0.05, t = 0.3 / (0.05 / sqrt 3) = 10.392 on 2 degrees of freedom,
    whose one-sided p has the closed form 1/2 - t / (2 sqrt(t^2 + 2)) = 0.0045663. Medians exp(0.1), exp(0.4);
    ratio exp(0.3) = 1.3499 > 1.1 and p < 0.05: a regression."""
    assert decided([0.0, 0.1, 0.2], [0.3, 0.35, 0.55]) == decision(
        1.10517092, 1.49182470, 1.34985881, 0.00456631, 0.00456631, 3, 3, "paired t", True, False, 0.05)
    # the same runs the other way round: faster, not regressed
    assert decided([0.3, 0.35, 0.55], [0.0, 0.1, 0.2]) == decision(
        1.49182470, 1.10517092, 0.74081822, 0.99543369, 0.99543369, 3, 3, "paired t", False, True, 0.05)


def test_the_effect_size_and_alpha_each_decide():
    base, head = [0.0, 0.1, 0.2], [0.3, 0.35, 0.55]  # ratio 1.3499, p 0.0045663
    assert decided(base, head, min_effect=0.34)["regressed"]
    assert not decided(base, head, min_effect=0.35)["regressed"]  # 1.3499 is not more than 35% slower
    assert not decided(base, head, alpha=0.0045)["regressed"]
    assert decided(base, head, alpha=0.0046)["regressed"]
    faster = decided(head, base, min_effect=0.34)  # 1 / 0.7408 = 1.3499
    assert faster["improved"] and not decided(head, base, min_effect=0.35)["improved"]


def test_unpaired_and_untestable_sides():
    # different run counts: Welch's t on (0, 0.1) against (0.3, 0.4, 0.5)
    assert decided([0.0, 0.1], [0.3, 0.4, 0.5]) == decision(
        1.05127110, 1.49182470, 1.41906755, 0.01063671, 0.01063671, 2, 3, "Welch t", True, False)
    assert decided([0.0, 0.1, 0.2], [0.3, 0.35, 0.55], paired=False)["method"] == "Welch t"
    # one complete pair only: Welch's on what each side has
    assert decided([0.0, None, 0.2], [0.3, 0.35, None]) == decision(
        1.10517092, 1.38403065, 1.25232272, 0.12548991, 0.12548991, 2, 2, "Welch t", False, False)
    # identical differences (exact in binary): no spread, nothing to test
    assert decided([0.0, 0.25, 0.5], [0.5, 0.75, 1.0]) == decision(
        1.28402542, 2.11700002, 1.64872127, NAN, NAN, 3, 3, "paired (no spread)", False, False)
    assert decided([None], [0.1]) == decision(NAN, 1.10517092, NAN, NAN, NAN, 0, 1, "no runs", False, False)
    assert decided([0.0], [0.1, 0.2]) == decision(1.0, 1.16183424, 1.16183424, NAN, NAN, 1, 2, "too few runs to test",
                                                  False, False)
    assert decided([0.0, 0.0], [0.1, 0.1, 0.1]) == decision(1.0, 1.10517092, 1.10517092, NAN, NAN, 2, 3,
                                                            "too few runs to test", False, False)


def test_the_correction_runs_over_the_benchmarks_both_sides_have():
    """p 0.0045663 and 0.1127017 over two benchmarks (the base-only one is not in the family): BH gives
    0.0045663 x 2/1 = 0.0091326 and 0.1127017 x 2/2."""
    base = {key("a"): [0.0, 0.1, 0.2], key("b"): [0.0, 0.1, 0.2], key("c"): [0.0]}
    head = {key("a"): [0.3, 0.35, 0.55], key("b"): [0.05, 0.1, 0.3], key("d"): [0.0]}
    decisions = decide(base, head)
    assert [d.key for d in decisions] == [key("a"), key("b")]
    assert [d.p_adjusted for d in decisions] == pytest.approx([0.00913261, 0.11270167], rel=1e-6)
    assert [d.regressed for d in decisions] == [True, False]
    assert decisions[0].name == "fw lenet a batch 128 cpu"


def test_the_summary_table_row_by_row():
    base = {key("a"): [0.0, 0.1, 0.2], key("b"): [0.0, 0.1, 0.2], key("c"): [0.3, 0.35, 0.55]}
    head = {key("a"): [0.3, 0.35, 0.55], key("b"): [0.05, 0.1, 0.3], key("c"): [0.0, 0.1, 0.2]}
    status, text = markdown(decide(base, head), [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=3,
                            head_runs=3)
    assert status == EXIT_FAILED and text.startswith("## Benchmark gate: FAILED\n")
    assert "more than 10% slower" in text and "over the 3 gated benchmarks, gives p < 0.05." in text
    rows = [line for line in text.splitlines() if line.startswith("| fw ")]
    # each spread of the differences is 0.05 over 3 pairs: a 20% slowdown fails it 74% of the time at alpha / 3
    assert rows == [  # slowest first
        "| fw lenet a batch 128 cpu | 1105.171 ms | 1491.825 ms | 1.350 | 0.0046 (0.014) | 3/3 | paired t | 74% | "
        "27% | **regression** |",
        "| fw lenet b batch 128 cpu | 1105.171 ms | 1161.834 ms | 1.051 | 0.11 (0.17) | 3/3 | paired t | 74% | "
        "27% |  |",
        "| fw lenet c batch 128 cpu | 1491.825 ms | 1105.171 ms | 0.741 | 1 (1) | 3/3 | paired t | 74% | 27% | "
        "faster |"]
    status, text = markdown(decide(base, head)[1:], ["m1"], ["r1"], ["p1"], ["d1"], min_effect=0.2, alpha=0.01,
                            base_runs=2, head_runs=4)
    assert status == EXIT_FAILED and "2 base and 4 head runs" in text
    assert "more than 20% slower" in text and "p < 0.01" in text
    assert "- m1" in text and "Declared removed (not gated): r1" in text and "Unusable runs (left out): p1" in text
    assert "Left out, run on a busy machine: d1" in text
    assert markdown(decide(base, head)[1:], [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=3,
                    head_runs=3)[0] == EXIT_OK


def test_more_decision_boundaries():
    # a one-sided test each way: with alpha 0.005 the paired p of 0.0046 is faster, its two-sided 0.0091 would not be
    assert decided([0.3, 0.35, 0.55], [0.0, 0.1, 0.2], alpha=0.005)["improved"]
    # 18% faster on average but the pairs disagree (p 0.74): not "faster"
    assert decided([0.3, 0.35, 0.55], [-0.2, 0.65, 0.15])["improved"] is False
    assert decided([0.5, 0.6, 0.4, 0.5], [0.3, 0.1, 0.0]) == decision(  # Welch's, faster
        1.64872127, 1.14263081, 0.69304062, 0.98231611, 0.98231611, 4, 3, "Welch t", False, True)
    assert decided([0.0, 0.1], [0.2, 0.4]) == decision(  # two pairs are enough for the paired test
        1.05127110, 1.34985881, 1.28402542, 0.06283296, 0.06283296, 2, 2, "paired t", False, False,
        0.07071068)  # the differences 0.2 and 0.3: standard deviation 0.1 / sqrt 2
    assert decided([0.0, 0.1], [0.2])["method"] == "too few runs to test"
    assert decided([0.0, 0.0], [0.1, 0.2, 0.3]) == decision(  # one side without spread is still tested
        1.0, 1.22140276, 1.22140276, 0.03708995, 0.03708995, 2, 3, "Welch t", True, False)
    assert key_name(("fw", "lenet", "cpu", "forward", None)) == "fw lenet forward cpu"


def test_adjacent_pair_trials_take_one_run_of_each_pair_per_side():
    assert adjacent_pair_trials(6, 2, 3, seed=0) == [([2, 4], [3, 5]), ([4, 1], [5, 0]), ([3, 5], [2, 4])]
    assert adjacent_pair_trials(7, 3, 1, seed=0)[0][0] != adjacent_pair_trials(7, 3, 1, seed=1)[0][0]
    with pytest.raises(ValueError, match="^4 repeats need 8 recorded runs, there are 7$"):
        adjacent_pair_trials(7, 4, 1)


@pytest.fixture
def small_pool():
    """Twelve recorded runs of two frameworks' train step, 2% noise: hand-made, small enough for a test."""
    rng = np.random.default_rng(1)
    return [{(f, "lenet", "cpu", "train_step", 128): float(rng.normal(0, 0.02)) for f in ("fw-a", "fw-b")}
            for _ in range(12)]


def test_the_rates_on_a_small_pool(small_pool):
    rates = false_failure_and_detection(small_pool, 3, 20)
    assert rates == {"false_failure": 0.0, "detection": 1.0, "detection fw-a": 1.0, "detection fw-b": 1.0}
    # a 5% slowdown is under the 10% effect the gate asks for: never caught
    assert false_failure_and_detection(small_pool, 3, 20, slowdown=0.05, seed=1)["detection"] == 0.0
    assert false_failure_and_detection(small_pool, 3, 20, min_effect=0.3)["detection"] == 0.0
    assert false_failure_and_detection(small_pool, 3, 20, alpha=0.001) == {
        "false_failure": 0.0, "detection": 0.2, "detection fw-a": 0.2, "detection fw-b": 0.2}


@pytest.mark.parametrize("outcome", ["crashed", "failed", "partial"])
def test_a_framework_whose_head_process_did_not_finish_fails_the_gate(tmp_path, outcome):
    base, head = sides(tmp_path, MEDIANS, MEDIANS, failed={"fw-b"})
    for path in head:
        doc = json.loads(Path(path).read_text())
        doc["processes"][0]["outcome"] = outcome
        Path(path).write_text(json.dumps(doc))
    code, text = gate(base, head)
    assert code == 1 and "- fw-b lenet forward batch 128 cpu: failed in the head" in text


def test_the_gate_passes_its_settings_on(tmp_path):
    base, head = sides(tmp_path, MEDIANS, {**MEDIANS, "train_step": 0.039})  # 30% slower
    assert gate(base, head)[0] == 1
    assert gate(base, head, min_effect=0.5)[0] == 0
    assert gate(base, head, alpha=1e-9)[0] == 0
    code, text = gate(base, head, removed=["fw-b lenet backward batch 128 cpu"])
    assert "3 base and 3 head runs" in text and "Declared removed (not gated): fw-b lenet backward batch 128 cpu" \
        in text
    assert gate(base, head + [str(tmp_path / "absent.json")])[1].endswith(
        f"Unusable runs (left out): head: {tmp_path / 'absent.json'}: cannot be read (No such file or directory)")
    # a network's name is not a framework's: declaring "lenet" removed removes nothing
    dropped, dropped_head = sides(tmp_path, MEDIANS, MEDIANS, drop={("fw-b", "forward")})
    assert gate(dropped, dropped_head, removed=["lenet"])[0] == 1


def test_no_usable_runs_on_a_side_in_full(tmp_path):
    _, head = sides(tmp_path, MEDIANS, MEDIANS)
    code, text = gate([str(tmp_path / "absent.json")], head)
    assert code == 2 and text == (
        "## Benchmark gate: NO USABLE BASE RUNS\n\nThere are no gated benchmarks in the base's results, so nothing "
        "can be compared (a missing or broken baseline is never a pass).\n\n"
        f"- base: {tmp_path / 'absent.json'}: cannot be read (No such file or directory)")
    code, text = gate(head, [str(tmp_path / "absent.json")])
    assert code == 2 and text.startswith("## Benchmark gate: NO USABLE HEAD RUNS\n\nThere are no gated benchmarks "
                                         "in the head's results")


def test_the_summary_in_full():
    """Every line, for a failed gate with each trailing section twice (joins and blank lines included); the
    "Not tested" section is left to the tests of its own rules."""
    base = {key("a"): [0.0, 0.1, 0.2], key("b"): [0.3, 0.35, 0.55]}
    head = {key("a"): [0.3, 0.35, 0.55], key("b"): [0.0, 0.1, 0.2]}
    status, text = markdown(decide(base, head), ["m1", "m2"], ["r1", "r2"], ["p1", "p2"], ["d1", "d2"],
                            min_effect=0.1, alpha=0.05, base_runs=3, head_runs=3)
    assert status == EXIT_FAILED and text == "\n".join([
        "## Benchmark gate: FAILED", "",
        "3 base and 3 head runs, each run counted by its process's median round. A benchmark fails when the head is "
        "more than 10% slower AND a one-sided t-test on the log medians (paired where the runs pair up), "
        "Benjamini-Hochberg-corrected over the 2 gated benchmarks, gives p < 0.05.", "",
        "**Benchmarks the base has and the head lacks or failed** (declare a removal with --removed):", "",
        "- m1", "- m2", "",
        "| benchmark | base median | head median | head / base | p (adjusted) | runs (base/head) | test | "
        "a 20% slowdown caught | caught 90% from | |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| fw lenet a batch 128 cpu | 1105.171 ms | 1491.825 ms | 1.350 | 0.0046 (0.0091) | 3/3 | paired t | 86% | "
        "22% | **regression** |",
        "| fw lenet b batch 128 cpu | 1491.825 ms | 1105.171 ms | 0.741 | 1 (1) | 3/3 | paired t | 86% | 22% | "
        "faster |", "",
        "Caught / from: at the spread of the paired differences this run saw, the probability that a 20% slower head "
        "fails the benchmark, and the slowdown failed 90% of the time (normal theory, at the threshold of a lone "
        "regression, alpha / 2: lower bounds when several benchmarks slow together). Where the second figure is "
        "above 20%, a 20% slowdown of that benchmark would often pass.", "",
        "Left out, run on a busy machine: d1; d2", "", "Declared removed (not gated): r1, r2", "",
        "Unusable runs (left out): p1; p2"])
    status, text = markdown(decide(base, head)[1:], [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=3,
                            head_runs=3)
    assert status == EXIT_OK and text.startswith("## Benchmark gate: passed\n\n")


def test_variants_are_removed_and_failed_by_their_framework(tmp_path):
    rng = np.random.default_rng(0)

    def run(name, with_b=True, crashed=False):
        entries = [bench_entry("fw-a", "lenet", "forward", 0.01, samples=list(0.01 * np.exp(rng.normal(0, .03, 20))),
                               process="fw-a")]
        if with_b:
            entries.append(bench_entry("fw-b", "lenet", "forward", 0.01, variant="jit", process="fw-b",
                                       samples=list(0.01 * np.exp(rng.normal(0, .03, 20)))))
        entries.append(bench_entry("fw-a", "lenet", "forward", 0.01, kind="fidelity", process="fw-a"))
        processes = [{"label": "fw-b", "frameworks": ["fw-b"], "environment": {}, "exit_code": -11,
                      "status": "crashed", "outcome": "crashed", "benchmarks": 0, "json": "x.json"}] if crashed else []
        path = tmp_path / name
        path.write_text(json.dumps(results_doc(entries[::-1], processes=processes)))  # the fidelity record first
        return str(path)

    base = [run(f"b{i}.json") for i in range(3)]
    head = [run(f"h{i}.json", with_b=False, crashed=True) for i in range(3)]
    code, text = gate(base, head)
    assert code == 1 and "- fw-b [jit] lenet forward batch 128 cpu: failed in the head" in text
    assert "gives p < 0.05." in text and "over the 1 gated benchmarks" in text  # the fidelity check is not gated
    assert gate(base, head, removed=["fw-b"])[0] == 0
    # a removal that sorts first does not end the search for what is missing
    code, text = gate(base, head, removed=["fw-a"])
    assert code == 1 and "- fw-b [jit] lenet forward batch 128 cpu: failed in the head" in text


def test_the_rates_count_false_failures_and_slow_each_framework_apart():
    """fw-a is steady (1% noise), fw-b noisy (15%, one run missing): a 15% slowdown is caught in every trial for
    fw-a and rarely for fw-b, and with no effect size and alpha 0.5 the A/A trials fail half the time."""
    rng = np.random.default_rng(1)
    pool = [{("fw-a", "lenet", "cpu", "train_step", 128): float(rng.normal(0, 0.01)),
             ("fw-b", "lenet", "cpu", "train_step", 128): float(rng.normal(0, 0.15))} for _ in range(12)]
    pool[0][("fw-b", "lenet", "cpu", "train_step", 128)] = None
    assert false_failure_and_detection(pool, 3, 20, slowdown=0.15, min_effect=0.05) == {
        "false_failure": 0.0, "detection": 0.575, "detection fw-a": 1.0, "detection fw-b": 0.15}
    assert false_failure_and_detection(pool, 3, 20, slowdown=0.15, min_effect=0.05, seed=2)["detection fw-b"] == 0.1
    assert false_failure_and_detection(pool, 3, 20, min_effect=0.0, alpha=0.5)["false_failure"] == 0.55


def test_a_run_counts_by_the_median_of_its_records_not_the_last(tmp_path):
    # one process holding three records of one benchmark (10, 11, 30 ms): the run's figure is 11 ms, not the last
    from frameworks.analysis.gate import summarize
    from frameworks.results import load_run

    path = tmp_path / "run.json"
    path.write_text(json.dumps(results_doc([bench_entry("fw-a", "lenet", "forward", m, process="p", spread=0.0)
                                            for m in (0.010, 0.011, 0.030)])))
    side, dropped, disturbed = summarize([load_run(path)])
    assert side == {("fw-a", "lenet", "cpu", "forward", 128): [pytest.approx(math.log(0.011))]}


def test_the_gate_key_is_the_benchmark_key_without_images_and_threads(tmp_path):
    # a head that records the thread count where the base wrote None is compared with its base, not "absent"
    from frameworks.analysis.gate import gate_key
    from frameworks.results import BenchRecord

    def side(name, threads, factors):
        paths = []
        for i, factor in enumerate(factors):
            entry = bench_entry("fw-a", "lenet", "forward", 0.010 * factor, process="p")
            entry["extra_info"]["threads"] = threads
            path = tmp_path / f"{name}{i}.json"
            path.write_text(json.dumps(results_doc([entry])))
            paths.append(str(path))
        return paths

    code, text = gate(side("base", None, (1.0, 1.01, 1.02)), side("head", 2, (1.01, 0.99, 1.02)))
    assert code == EXIT_OK and "absent" not in text
    record = BenchRecord.from_benchmark(bench_entry("fw-a", "lenet", "forward", 0.01, variant="compile"))
    assert gate_key(record) == ("fw-a [compile]", *record.key.gated) == ("fw-a [compile]", "lenet", "cpu", "forward",
                                                                         128)


def test_the_summary_says_what_each_benchmark_could_catch_at_the_noise_it_saw(tmp_path):
    """Per benchmark, the chance a 20% slowdown fails it and the slowdown failed 90% of the time, from the spread of
    its paired differences (standard deviations worked by hand: 0.009309 and 0.35742): a quiet benchmark catches a
    20% slowdown and reaches down to just above the 10% minimum effect; a noisy one catches it rarely and only far
    larger ones."""
    quiet = decide({key("a"): [0.0, 0.01, 0.0, 0.01, 0.0, 0.01]}, {key("a"): [0.005, 0.0, 0.01, 0.0, 0.005, 0.0]})[0]
    noisy = decide({key("a"): [0.0, 0.3, -0.2, 0.25, 0.0, -0.3]}, {key("a"): [0.2, -0.1, 0.1, 0.0, -0.2, 0.2]})[0]
    assert quiet.sd_log == pytest.approx(0.009309, abs=1e-5) and noisy.sd_log == pytest.approx(0.35742, abs=1e-4)
    q_power, q_smallest = detection(quiet, 24, min_effect=0.10, alpha=0.05)
    n_power, n_smallest = detection(noisy, 24, min_effect=0.10, alpha=0.05)
    assert q_power == 1.0 and 0.10 < q_smallest < 0.12
    assert n_power < 0.05 and n_smallest > 0.6
    code, text = markdown([quiet], [], [], [], [], min_effect=0.10, alpha=0.05, base_runs=6, head_runs=6)
    assert "| a 20% slowdown caught | caught 90% from |" in text
    assert "| 100% | 11% |" in text or "| 100% | 12% |" in text, text


def test_why_a_benchmark_was_not_tested_in_words():
    from frameworks.analysis.gate import Decision, why_untested

    def d(base_runs, head_runs, method="untested"):
        return Decision(key("a"), 1.0, 1.0, 1.0, math.nan, math.nan, base_runs, head_runs, method, False, False)

    assert why_untested(d(3, 3, "paired (no spread)"), (0, 0)) == (
        "every pair of runs differs by exactly the same amount (3 pairs): no spread to test")
    assert why_untested(d(0, 5), (4, 0)) == "every base run of it (4) was left out as disturbed by other load"
    assert why_untested(d(5, 0), (0, 2)) == "every head run of it (2) was left out as disturbed by other load"
    assert why_untested(d(0, 5), (0, 3)) == "0 usable base runs, 2 are needed"
    assert why_untested(d(1, 1), (0, 2)) == ("1 usable base run, 2 are needed; 1 usable head run (2 left out as "
                                             "disturbed), 2 are needed")
    assert why_untested(d(2, 2), (1, 1)) == "untested"


def test_the_not_tested_sections_in_full():
    status, text = markdown([], [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=3, head_runs=3,
                            untested=["u1: why"], out_of_scope=["o1: why", "o2: why"])
    assert status == EXIT_UNTESTED
    assert text.startswith("## Benchmark gate: NOT TESTED: 1 benchmark could not be tested (not a pass)\n\n")
    assert "gives p < 0.05.\n\n" + "\n".join([
        "**Not tested**, so not passed (rerun on a quieter machine, or declare them with --out-of-scope):", "",
        "- u1: why", "",
        "Not tested, declared out of scope (--out-of-scope):", "",
        "- o1: why", "- o2: why", "",
        "| benchmark | base median |"]) in text
    status, text = markdown([], [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=3, head_runs=3,
                            untested=["u1", "u2"])
    assert status == EXIT_UNTESTED and text.startswith("## Benchmark gate: NOT TESTED: 2 benchmarks could not be "
                                                       "tested (not a pass)\n\n")


def test_welchs_test_towards_faster_is_welchs_too():
    # unpaired (4 base runs, 3 head): Welch's one-sided p that the head is faster is 0.0177 (Student's, with equal
    # variances, would be 0.0044), so faster at alpha 0.02 and not at 0.01
    base, head = [0.5, 0.6, 0.4, 0.5], [0.3, 0.1, 0.0]
    assert decided(base, head, alpha=0.01)["improved"] is False
    assert decided(base, head, alpha=0.02)["improved"] is True


def test_the_effect_size_and_alpha_are_strict_bounds_hit_exactly():
    from scipy import stats as scipy_stats

    base, head = [0.0, 0.1, 0.2], [0.3, 0.35, 0.55]
    (slow,) = decide({key("a"): base}, {key("a"): head})
    (fast,) = decide({key("a"): head}, {key("a"): base})
    at = slow.ratio - 1  # 0.34985880757600...: 1 + at is the slower ratio and 1 / (1 + at) the faster one, exactly
    assert 1 + at == slow.ratio and 1 / (1 + at) == fast.ratio
    assert decided(base, head, min_effect=at)["regressed"] is False  # not MORE than min_effect slower
    assert decided(head, base, min_effect=at)["improved"] is False
    assert decided(base, head, min_effect=at - 1e-12)["regressed"] is True
    assert decided(head, base, min_effect=at - 1e-12)["improved"] is True
    # alpha equal to the adjusted p (one benchmark: the p itself) is not above it
    assert decided(base, head, alpha=slow.p_adjusted)["regressed"] is False
    assert decided(base, head, alpha=math.nextafter(slow.p_adjusted, 1))["regressed"] is True
    p_fast = float(scipy_stats.ttest_1samp(np.subtract(base, head), 0.0, alternative="less").pvalue)
    assert decided(head, base, alpha=p_fast)["improved"] is False
    assert decided(head, base, alpha=math.nextafter(p_fast, 1))["improved"] is True


def test_benchmarks_are_decided_in_the_order_of_their_names_as_text():
    keys = [("fw", "lenet", "cpu", "a", batch) for batch in (None, 64, 128)]
    decisions = decide({k: [0.0, 0.1] for k in keys}, {k: [0.0, 0.1] for k in keys})
    assert [d.key[4] for d in decisions] == [128, 64, None]  # "128" < "64" < "None"


def test_the_table_puts_the_slowest_head_first_whatever_the_decision_order():
    base = {key("a"): [0.0, 0.1, 0.2], key("b"): [0.0, 0.1, 0.2]}
    head = {key("a"): [0.05, 0.1, 0.3], key("b"): [0.3, 0.35, 0.55]}  # a: 1.051, b: 1.350
    _, text = markdown(decide(base, head), [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=3, head_runs=3)
    assert [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| fw ")] == [
        "| fw lenet b batch 128 cpu", "| fw lenet a batch 128 cpu"]


def test_a_row_without_a_ratio_goes_last_and_a_slowdown_never_caught_says_never():
    """a has no base run (no ratio: after every ratio, not sorted among them); b is noisy (sd 0.35742 over 6
    pairs); c has two pairs 8 apart (sd 5.657): no slowdown up to 11x fails it 90% of the time, "never". Two
    benchmarks tested: each at alpha / 2."""
    base = {key("a"): [None, None], key("b"): [0.0, 0.3, -0.2, 0.25, 0.0, -0.3], key("c"): [0.0, 0.0]}
    head = {key("a"): [0.1, 0.2], key("b"): [0.2, -0.1, 0.1, 0.0, -0.2, 0.2], key("c"): [5.0, -3.0]}
    decisions = decide(base, head)
    assert [d.key[3] for d in decisions] == ["a", "b", "c"]
    _, text = markdown(decisions, [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=6, head_runs=6)
    assert [line for line in text.splitlines() if line.startswith("| fw ")] == [
        "| fw lenet c batch 128 cpu | 1000.000 ms | 2718.282 ms | 2.718 | 0.42 (0.44) | 2/2 | paired t | 3% | never "
        "|  |",
        "| fw lenet b batch 128 cpu | 1008.368 ms | 1033.895 ms | 1.025 | 0.44 (0.44) | 6/6 | paired t | 17% | 81% "
        "|  |",
        "| fw lenet a batch 128 cpu | nan ms | 1161.834 ms | nan | - | 0/2 | no runs | - | - |  |"]
    assert "at the threshold of a lone regression, alpha / 2:" in text


def test_detection_with_one_or_no_benchmark_tested_is_at_alpha_itself():
    """The threshold is alpha / tested, and alpha itself when one benchmark (or none) was tested; two halve it."""
    noisy = decide({key("a"): [0.0, 0.3, -0.2, 0.25, 0.0, -0.3]}, {key("a"): [0.2, -0.1, 0.1, 0.0, -0.2, 0.2]})[0]
    assert detection(noisy, 1, min_effect=0.1, alpha=0.05) == (0.2849, 0.64744873046875)
    assert detection(noisy, 0, min_effect=0.1, alpha=0.05) == (0.2849, 0.64744873046875)
    assert detection(noisy, 2, min_effect=0.1, alpha=0.05) == (0.172, 0.814825439453125)
    assert detection(noisy, 1, min_effect=0.1, alpha=0.025) == detection(noisy, 2, min_effect=0.1, alpha=0.05)

def test_an_untested_row_in_the_table():
    (d,) = decide({key("a"): [0.0]}, {key("a"): [0.1, 0.2]})
    _, text = markdown([d], [], [], [], [], min_effect=0.1, alpha=0.05, base_runs=1, head_runs=2, untested=["u"])
    assert [line for line in text.splitlines() if line.startswith("| fw ")] == [
        "| fw lenet a batch 128 cpu | 1000.000 ms | 1161.834 ms | 1.162 | - | 1/2 | too few runs to test | - | - |  |"]


def test_a_benchmark_whose_base_runs_were_all_disturbed_is_not_a_pass(tmp_path):
    base, head = sides(tmp_path, MEDIANS, MEDIANS)
    for path in base:
        disturb(path, "fw-a")
    code, text = gate(base, head)
    assert code == EXIT_UNTESTED and "NOT TESTED: 3 benchmarks" in text
    assert "- fw-a lenet forward batch 128 cpu: every base run of it (3) was left out as disturbed by other load" \
        in text


def test_only_step_records_with_rounds_are_gated(tmp_path):
    from frameworks.analysis.gate import summarize
    from frameworks.results import load_run

    path = tmp_path / "run.json"
    path.write_text(json.dumps(results_doc([
        bench_entry("fw-a", "lenet", "forward", 0.01, process="p", spread=0.0),
        bench_entry("fw-a", "lenet", "backward", 0.02, process="p", samples=[]),  # a step without rounds
        bench_entry("fw-a", "lenet", "epoch-staged", 1.0, process="p", kind="epoch")])))  # an epoch with rounds
    side, dropped, disturbed = summarize([load_run(path)])
    assert side == {("fw-a", "lenet", "cpu", "forward", 128): [pytest.approx(math.log(0.01))]}
    assert (dropped, disturbed) == ([], {})


def test_a_run_of_several_processes_counts_by_the_median_of_its_processes(tmp_path):
    """p1 holds three records of the benchmark (medians 10, 20, 30 ms: its figure 20 ms), p2 one (100 ms): the run's
    figure is the median of 20 and 100, 60 ms, not the median of the four records (25 ms)."""
    from frameworks.analysis.gate import summarize
    from frameworks.results import load_run

    path = tmp_path / "run.json"
    path.write_text(json.dumps(results_doc([
        bench_entry("fw-a", "lenet", "forward", median, process=process)
        for process, median in (("p1", 0.01), ("p1", 0.02), ("p2", 0.10), ("p1", 0.03))])))
    side, dropped, disturbed = summarize([load_run(path)])
    assert side == {("fw-a", "lenet", "cpu", "forward", 128): [pytest.approx(math.log(0.06))]}
    assert (dropped, disturbed) == ([], {})


def test_an_unreadable_run_unpairs_the_test(tmp_path):
    base, head = sides(tmp_path, MEDIANS, MEDIANS)
    rows = [line for line in gate(base, head)[1].splitlines() if line.startswith("| fw-")]
    assert len(rows) == 6 and all(" | 3/3 | paired t | " in row for row in rows)
    text = gate(base, head + [str(tmp_path / "absent.json")])[1]
    rows = [line for line in text.splitlines() if line.startswith("| fw-")]
    assert len(rows) == 6 and all(" | 3/3 | Welch t | " in row for row in rows)


def test_what_the_head_lacks_is_listed_in_the_order_of_the_names_as_text(tmp_path):
    def run(name, batches):
        path = tmp_path / name
        path.write_text(json.dumps(results_doc([bench_entry("fw-a", "lenet", "forward", 0.01, batch=b, process="p")
                                                for b in batches])))
        return str(path)

    base = [run(f"b{i}.json", (64, 128, 256)) for i in range(2)]
    head = [run(f"h{i}.json", (256,)) for i in range(2)]
    code, text = gate(base, head)
    assert code == EXIT_FAILED
    missing = [line for line in text.splitlines() if line.endswith(": absent from the head")]
    assert missing == ["- fw-a lenet forward batch 128 cpu: absent from the head",
                       "- fw-a lenet forward batch 64 cpu: absent from the head"]

# --- on recordings the gate never saw (scripts/gate_recording.py, scripts/gate_validation.py) ------------------------
RECORDINGS = Path(__file__).resolve().parent.parent / "results" / "gate-experiment" / "recordings"


def validation_script():
    """scripts/gate_validation.py, imported from its file (scripts/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gate_validation", RECORDINGS.parents[2] / "scripts" /
                                                  "gate_validation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_published_validation_rates_are_what_the_recordings_give():
    """results/gate-experiment/validation.md's rates at the workflow's number of rounds, recomputed from the committed
    recordings (every trial enumerated, so the figures are exact, not resampled)."""
    published = json.loads((RECORDINGS.parent / "validation.json").read_text())
    script = validation_script()
    repeats = workflow_repeats()
    assert published["results"], "no validation recording: record one with scripts/gate_recording.py"
    for name, by_repeats in published["results"].items():
        _, cycles = script.load_recording(RECORDINGS / name)
        got = script.rates(cycles, repeats)
        for rate in script.RATES:
            if by_repeats[str(repeats)].get(rate) is None:  # a recording without the thread-count change
                assert got[rate] is None and rate.startswith("threads"), (name, rate)
            else:
                assert got[rate] == pytest.approx(by_repeats[str(repeats)][rate]), (name, rate)


def test_the_recorded_slowdown_is_the_change_it_says():
    """The slowed copy's PyTorch steps and Keras-on-TensorFlow lenet steps took about 20% longer than the unchanged
    run beside them (a real code change: its spin costs CPU in proportion to the step), and the benchmarks it did
    not touch did not move on the whole."""
    script = validation_script()
    for directory in sorted(p for p in RECORDINGS.iterdir() if p.is_dir()):
        _, cycles = script.load_recording(directory)
        slowed, untouched = [], []
        for cycle in cycles:
            base, head = cycle["real"]
            for key, value in head.items():
                if value is not None and base.get(key) is not None:
                    (slowed if script.slowed(key) else untouched).append(value - base[key])
        assert 1.10 < math.exp(np.median(slowed)) < 1.35, (directory.name, math.exp(np.median(slowed)))
        assert 0.93 < math.exp(np.median(untouched)) < 1.07, (directory.name, math.exp(np.median(untouched)))


def test_the_recorded_thread_count_change_slowed_pytorch_alone():
    """Where a recording holds the thread-count change (every PyTorch step on one intra-op thread instead of two),
    PyTorch's benchmarks took clearly longer than the unchanged run beside them, and the other frameworks' did not
    move on the whole: the change is what the validation says it is."""
    script = validation_script()
    seen = 0
    for directory in sorted(p for p in RECORDINGS.iterdir() if p.is_dir()):
        meta, cycles = script.load_recording(directory)
        if not meta.get("threads"):
            continue
        seen += 1
        pytorch, others = [], []
        for cycle in cycles:
            base, head = cycle["threads"]
            for key, value in head.items():
                if value is not None and base.get(key) is not None:
                    (pytorch if key[0] == "pytorch" else others).append(value - base[key])
        assert pytorch and 1.3 < math.exp(np.median(pytorch)) < 2.2, (directory.name, math.exp(np.median(pytorch)))
        assert 0.93 < math.exp(np.median(others)) < 1.07, (directory.name, math.exp(np.median(others)))
    assert seen, "no recording with the thread-count change: record one with scripts/gate_recording.py"
