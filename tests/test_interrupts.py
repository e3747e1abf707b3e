"""An interrupt (Ctrl-C or SIGTERM) at any moment after the last measurement, while the merged results, the
report and the store copy are written, loses nothing: every file is written, the run says so and exits 130.
The interrupt is sent at each point of that phase in turn (the child processes are instant fakes)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from frameworks.analysis import report, store
from frameworks.cli import main
from frameworks.commands import accuracy as bench_accuracy
from frameworks.commands import bench as bench_run
from frameworks.errors import EXIT_INTERRUPTED

from .test_exit_statuses import fake_child, fake_trainer


def interrupting(real, signum, when=lambda *args: True):
    """``real``, sending ``signum`` to this process first (on the calls ``when`` accepts)."""

    def wrapper(*args, **kwargs):
        if when(*args):
            os.kill(os.getpid(), signum)
            # Run the handler here, in Python code: the interpreter runs it between bytecodes, but left to run
            # later it may first reach C code that checks for signals on its own terms (a CI run once finished
            # this way with the interrupt never seen).
            for _ in range(10_000):
                pass
        return real(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("module, name", [(bench_run, "merge"), (bench_run, "write_json"), (bench_run, "summary"),
                                          (report, "write_report"), (store, "store_run")])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_bench_interrupted_while_writing_writes_everything(tmp_path, capsys, monkeypatch, mnist, module, name,
                                                           signum):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "run_pytest", fake_child("ok"))
    monkeypatch.setattr(module, name, interrupting(getattr(module, name), signum))
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = main(["bench", "--frameworks", "pytorch", "--networks", "mlp_bn", "--store", "store"])
    finally:
        for s, handler in before.items():  # bench treats SIGTERM as Ctrl-C; give pytest its handlers back
            signal.signal(s, handler)
    out = capsys.readouterr()
    assert code == EXIT_INTERRUPTED and "Traceback" not in out.out + out.err
    assert "interrupted while the results were written" in out.out
    (merged,) = tmp_path.glob("bench-results/bench-*/results.json")
    assert len(json.loads(merged.read_text())["benchmarks"]) == 1
    assert list(merged.parent.glob("results-report.md")), "the report is written"
    assert len(list((tmp_path / "store").iterdir())) == 1, "the run is stored"


@pytest.mark.parametrize("name", ["write_json", "accuracy_document"])
def test_accuracy_interrupted_while_writing_writes_everything(tmp_path, capsys, monkeypatch, mnist, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_accuracy, "run_child", fake_trainer("ok"))
    last = (lambda path, *rest: str(path).endswith("accuracy.json")) if name == "write_json" else (lambda *a: True)
    monkeypatch.setattr(bench_accuracy, name, interrupting(getattr(bench_accuracy, name), signal.SIGINT, last))
    code = main(["accuracy", "--frameworks", "pytorch", "--networks", "mlp_bn", "--seeds", "2", "--epochs", "1"])
    out = capsys.readouterr()
    assert code == EXIT_INTERRUPTED and "Traceback" not in out.out + out.err
    (written,) = tmp_path.glob("accuracy-results/accuracy-*/accuracy.json")
    assert len(json.loads(written.read_text())["trainings"]) == 2
    assert list(written.parent.glob("accuracy-report.md"))


def test_accuracy_interrupted_between_processes_keeps_and_reports_what_finished(tmp_path, capsys, monkeypatch, mnist):
    """Ctrl-C while the parent prepares a process (not while a child runs): the run still ends with its files."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_accuracy, "run_child", fake_trainer("ok"))
    first_job = (lambda path, *rest: str(path).endswith(".job.json"))
    monkeypatch.setattr(bench_accuracy, "write_json", interrupting(bench_accuracy.write_json, signal.SIGINT,
                                                                   first_job))
    code = main(["accuracy", "--frameworks", "pytorch", "--networks", "mlp_bn", "--seeds", "2", "--epochs", "1"])
    out = capsys.readouterr()
    assert code == EXIT_INTERRUPTED and "Traceback" not in out.out + out.err
    (written,) = tmp_path.glob("accuracy-results/accuracy-*/accuracy.json")
    assert json.loads(written.read_text())["interrupted"] is True
