"""Smaller edges users hit: threads above the usable cores are flagged in the output and the report, and a
variant a framework does not have is named as the pair, not pytest's "empty parameter set"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from frameworks.analysis.report import write_report
from frameworks.bench.selection import select
from frameworks.cli import main
from frameworks.commands import bench as bench_run
from frameworks.errors import EXIT_NOTHING, EXIT_USAGE, UsageError
from frameworks.options import Settings
from frameworks.process_settings import default_threads, oversubscribed

from .helpers import run_doc, step_entries

ROOT = Path(__file__).resolve().parent.parent


def test_threads_above_the_usable_cores_are_a_warning():
    assert oversubscribed(2, 2) is None and oversubscribed(None) is None
    assert oversubscribed(6, 2).startswith("warning: 6 threads on 2 usable cores")


def test_the_command_line_warns(tmp_path, capsys, monkeypatch, mnist):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "installed_here", lambda chosen: ([], {f: "not installed (test)" for f in chosen}))
    many = default_threads() + 3
    assert main(["bench", "--threads", str(many)]) == EXIT_NOTHING
    assert f"warning: {many} threads on {default_threads()} usable core" in capsys.readouterr().err
    assert main(["bench", "--threads", str(default_threads())]) == EXIT_NOTHING
    assert "warning" not in capsys.readouterr().err


def test_the_report_flags_an_oversubscribed_run(tmp_path):
    doc = run_doc(step_entries({"pytorch [eager]": 1.0}), repeats=1)
    doc["machine_info"]["mnist_framework_bench"]["threads"] = 8  # on 2 usable cores
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    report = write_report([path])[0].read_text()
    assert "**Oversubscribed**: 8 threads on 2 usable cores" in report
    doc["machine_info"]["mnist_framework_bench"]["threads"] = 2
    path.write_text(json.dumps(doc))
    assert "Oversubscribed" not in write_report([path])[0].read_text()


def test_the_pytest_header_warns(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n")
    many = default_threads() + 3
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--threads={many}",
                           str(tmp_path)], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and f"warning: {many} threads on" in done.stdout, done.stdout[-2000:]


def test_a_variant_a_named_framework_lacks_is_named_as_the_pair(tmp_path, capsys, monkeypatch, mnist):
    with pytest.raises(UsageError, match="--variants compile: onnxruntime has no variant compile on cpu; its "
                                         "variants: default"):
        select(["onnxruntime"], None, ["cpu"], ["compile"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "installed_here", lambda chosen: (list(chosen), {}))
    assert main(["bench", "--frameworks", "onnxruntime", "--variants", "compile"]) == EXIT_USAGE
    assert "onnxruntime has no variant compile" in capsys.readouterr().err
    assert not (tmp_path / "bench-results").exists()


def test_default_frameworks_without_the_variant_are_left_out_with_the_reason(tmp_path, mnist, monkeypatch):
    sel = select(None, None, ["cpu"], ["compile"])
    assert "pytorch" in sel.frameworks and "onnxruntime" not in sel.frameworks
    assert "onnxruntime has no variant compile" in sel.left_out["onnxruntime"]
    monkeypatch.setattr(bench_run, "installed_here", lambda chosen: (list(chosen), {}))
    plan = bench_run.plan_bench(Settings(variants=["compile"], devices=["cpu"]), output_dir=tmp_path)
    assert [g.label for g in plan.groups] == ["pytorch"] and "onnxruntime" in plan.left_out


def test_pytest_names_the_pair(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--frameworks=onnxruntime",
                           "--variants=compile", str(ROOT / "frameworks" / "bench" / "test_benchmarks.py")],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 4 and "onnxruntime has no variant compile" in done.stderr
    assert "empty parameter set" not in done.stdout
