"""The report and the bench orchestration's bookkeeping (merging, outcomes, file naming), on small
hand-made results documents: these test the code paths, they are not measurements."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from frameworks.analysis import report
from frameworks.commands import bench as bench
from frameworks.options import Settings
from frameworks.results import ProcessRecord, ResultsError

from .helpers import bench_entry, results_doc


def write(tmp_path, name, benchmarks, **more):
    path = tmp_path / name
    path.write_text(json.dumps(results_doc(benchmarks, **more)))
    return path


def test_report_tables_and_charts(tmp_path):
    path = write(tmp_path, "r.json", [
        bench_entry("pytorch", "lenet", "train_step", 0.010, variant="eager"),
        bench_entry("pytorch", "lenet", "train_step", 0.005, variant="compile"),
        bench_entry("keras-tensorflow", "lenet", "train_step", 0.020, variant="default"),
        bench_entry("pytorch", "lenet", "forward", 0.002, variant="eager", kind="fidelity",
                    own_median_s=0.0021, suite_over_own=0.952, own_tool="torch Timer", own_drift=0.031),
    ], not_converged=[{"framework": "caffe", "network": "keras_cnn", "device": "cpu", "target": 0.99,
                       "epoch_cap": 12, "accuracy_per_epoch": [0.98, 0.985]}])
    written = report.write_report([path])
    md = written[0].read_text()
    assert "| lenet | train_step | 128 | 1 | 12,800 (n=1) | **25,600 (n=1)** | 6,400 (n=1) |" in md
    assert "pytorch [compile]" in md and "| 0.952 (1) | +3.1% |" in md
    assert "inconclusive: one process per framework" in md  # one process each: no verdict
    assert "not converged within 12 epochs" in md and "98.50%" in md
    assert written[1].suffix == ".png" and written[1].stat().st_size > 1000
    again = report.write_report([path])
    assert again[0] != written[0] and written[0].read_text() == md  # a second report never overwrites the first


def test_report_refuses_files_that_are_not_results(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match="not JSON"):
        report.analyse([bad])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    with pytest.raises(ResultsError, match="another project"):
        report.analyse([other])
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**results_doc([]), "schema_version": 1}))
    with pytest.raises(ResultsError, match="schema version 1"):
        report.analyse([old])


def test_report_command_exit_status(tmp_path, capsys):
    from frameworks.cli import main

    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize("code, count, outcome, status", [
    (0, 3, "ok", "ok"),
    (0, 0, "nothing", "no results (every benchmark skipped)"),
    (1, 2, "partial", "some benchmarks failed (2 results kept)"),
    (-signal.SIGSEGV, 0, "crashed", "crashed (SIGSEGV; 0 results kept)"),
    (4, 0, "failed", "failed (pytest exit 4; 0 results kept)"),
])
def test_process_outcomes_in_words(code, count, outcome, status):
    assert bench.describe_exit(code, count) == (outcome, status)


def process(label, code, outcome, count):
    return ProcessRecord(label=label, frameworks=[label], environment={}, exit_code=code, status=outcome,
                         outcome=outcome, benchmarks=count, json=f"{label}.json")


def test_merge_keeps_the_survivors_and_reports_the_crash(tmp_path):
    ok = {"record": process("pytorch", 0, "ok", 1), "benchmarks": [bench_entry("pytorch", "lenet", "forward", 0.01)],
          "tests": [], "results": {"machine_info": {"mnist_framework_bench": {"versions": {"torch": "x"}}}}}
    crashed = {"record": process("caffe", -11, "crashed", 0), "benchmarks": [], "tests": [], "results": {}}
    merged = bench.merge([ok, crashed], Settings(), ["bench"])
    assert len(merged["benchmarks"]) == 1
    assert [p["outcome"] for p in merged["processes"]] == ["ok", "crashed"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(merged))
    assert report.analyse([path]).runs[0].processes[1].outcome == "crashed"


def test_run_directories_are_never_reused(tmp_path):
    first, second = bench.new_run_dir(tmp_path), bench.new_run_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()


def test_a_relative_output_directory_becomes_absolute(tmp_path, monkeypatch):
    """Benchmark processes run in the run directory, so a relative path must be resolved at once."""
    monkeypatch.chdir(tmp_path)
    run_dir = bench.new_run_dir(Path("results-here"))
    assert run_dir.is_absolute() and run_dir.parent == tmp_path / "results-here"


def test_the_claim_is_checked_at_the_defaults_and_at_each_frameworks_best(tmp_path):
    from .helpers import run_doc, step_entries

    doc = run_doc(step_entries({"pytorch [eager]": 1.0, "pytorch [compile]": 0.5, "keras-tensorflow [default]": 0.8,
                                "keras-tensorflow [jit]": 0.9}, networks={"lenet": 0.03}, phases={"forward": 0.3}),
                  repeats=8)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    md = report.markdown(report.analyse([path]), claim="pytorch")
    claim = md[md.index("### Claim check"):md.index("### Speed")]
    assert "**Defaults against defaults**" in claim and "**Each framework at its best**" in claim
    # at the defaults keras-tensorflow is faster; at their best, pytorch [compile] is (chosen on 4 repeats of 8)
    assert ("- Speed (1 comparisons of pytorch with another framework on one benchmark): faster in 0, slower in 1"
            in claim)
    assert ("- Speed (1 comparisons; the variant of pytorch chosen, per benchmark: compile on 1): faster in 1, "
            "slower in 0") in claim
    assert ("**Verdict: the claim does not hold as a general statement: 1 speed comparisons go against pytorch.**"
            in claim)
    assert ("| lenet forward batch 128 on cpu | pytorch [compile] / keras-tensorflow [default] | " in claim
            and "| 4 held out / 4 held out |" in claim)
    best = md[md.index("### Each framework at its best"):md.index("## Processes")]
    assert report.BEST_METHOD in best and "odd-numbered repeats" in best and "winner's curse" in best
    assert "| pytorch: eager, compile; keras-tensorflow: default, jit |" in best
    assert "| pytorch | 1 | 0 | 0 | 0 |" in best  # the scoreboard counts frameworks, whichever variant won
    # without variants, at its best is at its default, and the report says so rather than repeating itself
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 0.8},
                                                     networks={"lenet": 0.03}, phases={"forward": 0.3}))))
    md = report.markdown(report.analyse([plain]), claim="pytorch")
    assert "no framework has another variant in these results" in md and "### Each framework at its best" not in md


def test_the_idiomatic_table_shows_each_sides_page_faults_per_epoch(tmp_path):
    """The suite's epoch and the tutorial script each with the median over processes of their page faults per epoch,
    so that a ratio carrying the C allocator's state shows it; "?" where a side did not count them."""
    entries = []
    for repeat, (suite_faults, script_faults) in enumerate([(1_400_000, 1_100_000), (1_900_000, 280_000),
                                                             (1_500_000, 1_200_000)], start=1):
        entries += [bench_entry("keras-torch", "keras_cnn", "epoch-framework", 7.8, kind="epoch", batch=8192,
                                variant="default", process=f"keras-torch#{repeat}", repeat=repeat,
                                page_faults_per_round=suite_faults),
                    bench_entry("keras-torch", "keras_cnn", "idiomatic-0", 7.2, kind="idiomatic", batch=8192,
                                variant="default", process=f"keras-torch#{repeat}", repeat=repeat,
                                page_faults_per_round=script_faults, script="Keras' mnist_cnn example")]
    entries += [bench_entry("pytorch", "keras_cnn", "epoch-framework", 5.0, kind="epoch", batch=8192,
                            variant="eager", process="pytorch#1", repeat=1),
                bench_entry("pytorch", "keras_cnn", "idiomatic-0", 5.0, kind="idiomatic", batch=8192,
                            variant="eager", process="pytorch#1", repeat=1, script="PyTorch's example")]
    md = report.markdown(report.analyse([write(tmp_path, "r.json", entries)]))
    row = next(line for line in md.splitlines() if line.startswith("| keras-torch") and "mnist_cnn example" in line)
    assert "| 1,500,000 / 1,100,000 |" in row, row  # medians over the three processes: suite / script
    row = next(line for line in md.splitlines() if line.startswith("| pytorch") and "PyTorch's example" in line)
    assert "| ? / ? |" in row, row
