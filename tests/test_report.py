"""The report and the bench orchestration's bookkeeping (merging, outcomes, file naming), on small
hand-made pytest-benchmark documents: these test the code paths, they are not measurements."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from frameworks import bench, report


def bench_entry(framework, network, phase, median, *, variant="", device="cpu", batch=128, group=None, **extra):
    return {"group": group or f"{phase} {network} {device} batch {batch}", "name": f"test_step[{framework}]",
            "stats": {"median": median, "iqr": median / 10, "rounds": 10},
            "extra_info": {"framework": framework, "network": network, "phase": phase, "device": device,
                           "batch": batch, "images": batch, "variant": variant, "first_call_s": 0.5, **extra}}


def write(tmp_path, name, benchmarks, **more):
    path = tmp_path / name
    path.write_text(json.dumps({"benchmarks": benchmarks, "machine_info": {}, "commit_info": {}, **more}))
    return path


def test_report_tables_and_charts(tmp_path):
    path = write(tmp_path, "r.json", [
        bench_entry("pytorch", "lenet", "train_step", 0.010, variant="eager"),
        bench_entry("pytorch", "lenet", "train_step", 0.005, variant="compile"),
        bench_entry("keras-tensorflow", "lenet", "train_step", 0.020, variant="default"),
        bench_entry("pytorch", "lenet", "forward", 0.002, variant="eager", group="fidelity forward lenet cpu",
                    own_median_s=0.0021, suite_over_own=0.952, own_tool="torch Timer", own_drift=0.031),
    ], not_converged=[{"framework": "caffe", "network": "keras_cnn", "device": "cpu", "target": 0.99,
                       "epoch_cap": 12, "accuracy_per_epoch": [0.98, 0.985]}])
    written = report.write_report([path])
    md = written[0].read_text()
    assert "| lenet | train_step | 128 | 12,800 (IQR 10%) | **25,600 (IQR 10%)** | 6,400 (IQR 10%) |" in md
    assert "pytorch [compile]" in md and "| 0.952 | +3.1% |" in md
    assert "not converged within 12 epochs" in md and "98.50%" in md
    assert written[1].suffix == ".png" and written[1].stat().st_size > 1000
    again = report.write_report([path])
    assert again[0] != written[0] and written[0].read_text() == md  # a second report never overwrites the first


def test_report_refuses_files_that_are_not_benchmark_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not readable as JSON"):
        report.load([bad])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="no 'benchmarks' list"):
        report.load([other])


def test_report_command_exit_status(tmp_path, capsys):
    from frameworks.__main__ import main

    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "not readable" in capsys.readouterr().err


@pytest.mark.parametrize("code, count, status", [
    (0, 3, "ok"),
    (0, 0, "no results (every benchmark skipped)"),
    (1, 2, "some benchmarks failed (2 results kept)"),
    (-signal.SIGSEGV, 0, "crashed (SIGSEGV)"),
    (4, 0, "failed (pytest exit 4)"),
])
def test_process_outcomes_in_words(code, count, status):
    assert bench.describe_exit(code, count) == status


def test_merge_keeps_the_survivors_and_reports_the_crash(tmp_path):
    ok = {"record": {"frameworks": ["pytorch"], "json": "pytorch.json", "exit_code": 0, "status": "ok"},
          "results": {"benchmarks": [bench_entry("pytorch", "lenet", "forward", 0.01)],
                      "machine_info": {"mnist_framework_bench": {"versions": {"torch": "x"}}}}}
    crashed = {"record": {"frameworks": ["caffe"], "json": "caffe.json", "exit_code": -11, "status": "crashed"},
               "results": {}}
    merged = bench.merge([ok, crashed], ["bench"])
    assert len(merged["benchmarks"]) == 1 and merged["benchmarks"][0]["extra_info"]["process"] == "pytorch.json"
    assert [r["status"] for r in merged["runs"]] == ["ok", "crashed"]
    path = bench.write_json_atomic(tmp_path / "results.json", merged)
    assert report.load([path]).runs[1]["status"] == "crashed"


def test_run_directories_are_never_reused(tmp_path):
    first, second = bench.new_run_dir(tmp_path), bench.new_run_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()


def test_a_relative_output_directory_becomes_absolute(tmp_path, monkeypatch):
    """Benchmark processes run from the repository root, so a relative path must be resolved at once."""
    monkeypatch.chdir(tmp_path)
    run_dir = bench.new_run_dir(Path("results-here"))
    assert run_dir.is_absolute() and run_dir.parent == tmp_path / "results-here"
