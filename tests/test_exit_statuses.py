"""Every command follows the one table of exit statuses (``errors.EXIT_STATUSES``): each command is driven into
each status it can reach cheaply (tiny inputs, or the child processes replaced by fakes), and says why without a
traceback. A crash is a failure (1), never "everything was skipped" (3); a framework or device named that
cannot run is a failure (1); a bad output path is bad input (2) from every command."""

from __future__ import annotations

import errno
import json
import os
import types
from pathlib import Path

import pytest

from frameworks import register, unregister
from frameworks.cli import build_parser, main
from frameworks.commands import accuracy as bench_accuracy
from frameworks.commands import bench as bench_run
from frameworks.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_STATUSES,
    EXIT_UNTESTED,
    EXIT_USAGE,
)
from frameworks.processes import Interrupted
from frameworks.registry import FrameworkInfo

from .helpers import bench_entry, example_store, results_doc
from .test_gate import MEDIANS, disturb, sides

# command -> the statuses the tests below drive it into (``expect`` refuses any other)
DRIVEN: dict[str, set[int]] = {
    "bench": {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERRUPTED},
    "accuracy": {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERRUPTED},
    "export": {EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERRUPTED},
    "report": {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED},
    "gate": {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNTESTED, EXIT_INTERRUPTED},
    "versions": {EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED},
    "dashboard": {EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED},
    "caffe": {EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED},
    "info": {EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED},
    "scale": {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERRUPTED},
}
ABSENT = "test-absent"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def absent_framework():
    register(FrameworkInfo(ABSENT, "nowhere:Adapter", ("a_module_that_is_not_installed",),
                           install_hint="pip install test-absent"))
    yield ABSENT
    unregister(ABSENT)


def expect(capsys, argv: list[str], status: int, *said: str) -> str:
    """Run the command; it exits ``status``, prints each of ``said`` and never a traceback."""
    code = main(argv)
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == status, f"{argv} exited {code}, not {status} ({EXIT_STATUSES.get(code)})\n{text[-3000:]}"
    assert "Traceback" not in text
    for words in said:
        assert words in text, text[-3000:]
    assert code in DRIVEN[argv[0]], f"{argv[0]} reached {code}: add it to DRIVEN"
    return text


def results_file(directory: Path) -> Path:
    path = directory / "results.json"
    path.write_text(json.dumps(results_doc([bench_entry("pytorch", "mlp_bn", "forward", 0.001)])))
    return path


# --- bench: children replaced by fakes that finish, crash or are interrupted -------------------------------------
def fake_child(behaviour: str):
    """A stand-in for one benchmark process: writes a result ("ok"), dies by SIGKILL ("crash"), exits with
    pytest's usage error ("usage"), or is interrupted ("interrupt")."""

    def run_pytest(group, args, cwd=None, env=None):
        if behaviour == "crash":
            return -9
        if behaviour == "usage":
            return 4
        if behaviour == "interrupt":
            raise Interrupted(-2)
        path = Path(next(a for a in args if a.startswith("--benchmark-json=")).split("=", 1)[1])
        entry = bench_entry(group.frameworks[0], "mlp_bn", "forward", 0.001)
        path.write_text(json.dumps({"benchmarks": [entry], "machine_info": {}}))
        return 0

    return run_pytest


@pytest.mark.parametrize("behaviour, status, said", [
    ("ok", EXIT_OK, "results:"),
    ("crash", EXIT_FAILED, "nothing was measured: 1 of 1 processes crashed or failed"),
    ("usage", EXIT_USAGE, "pytest refused the arguments"),
    ("interrupt", EXIT_INTERRUPTED, "interrupted"),
])
def test_bench_status_follows_what_its_processes_did(in_tmp, capsys, monkeypatch, mnist, behaviour, status, said):
    monkeypatch.setattr(bench_run, "run_pytest", fake_child(behaviour))
    text = expect(capsys, ["bench", "--frameworks", "pytorch", "--networks", "mlp_bn"], status, said)
    assert "every benchmark was skipped" not in text, "a crash is not a skip"


def test_bench_refuses_what_it_cannot_run(in_tmp, capsys, monkeypatch, mnist, absent_framework):
    expect(capsys, ["bench", "--batch-size", "0"], EXIT_USAGE, "--batch-size: must be at least 1")
    expect(capsys, ["bench", "--frameworks", ABSENT], EXIT_FAILED, "a_module_that_is_not_installed not installed")
    monkeypatch.setattr(bench_run, "installed_here", lambda chosen: ([], {f: "not installed (test)" for f in chosen}))
    expect(capsys, ["bench"], EXIT_NOTHING, "nothing to measure here")
    assert not (in_tmp / "bench-results").exists(), "a refused run creates nothing"


def test_devices_cuda_without_a_gpu_is_a_failure(in_tmp, capsys, mnist):
    from frameworks.registry import gpu_present

    if gpu_present():
        pytest.skip("this machine has a GPU")
    expect(capsys, ["bench", "--devices", "cuda", "--frameworks", "pytorch"], EXIT_FAILED,
           "no framework can use a GPU here")


# --- accuracy: the training child replaced by a fake -------------------------------------------------------------
def fake_trainer(behaviour: str):
    def run_child(cmd, env=None, cwd=None):
        job = json.loads(Path(cmd[-1]).read_text())
        if behaviour == "interrupt":
            raise Interrupted(-2)
        if behaviour == "crash":
            return -9
        for network in job["networks"]:
            for seed in job["seeds"]:
                record = {"framework": job["framework"], "network": network, "device": job["device"], "seed": seed,
                          "epochs": 1, "accuracy": 0.9, "accuracy_per_epoch": [0.9], "seconds": 1.0}
                with open(job["journal"], "a") as f:
                    f.write(json.dumps(record) + "\n")
        return 0

    return run_child


@pytest.mark.parametrize("behaviour, status", [("ok", EXIT_OK), ("crash", EXIT_FAILED),
                                               ("interrupt", EXIT_INTERRUPTED)])
def test_accuracy_status_follows_its_trainings(in_tmp, capsys, monkeypatch, mnist, behaviour, status):
    monkeypatch.setattr(bench_accuracy, "run_child", fake_trainer(behaviour))
    expect(capsys, ["accuracy", "--frameworks", "pytorch", "--networks", "mlp_bn", "--seeds", "2", "--epochs", "1"],
           status)


def test_accuracy_on_a_device_named_that_is_not_here_is_a_failure(in_tmp, capsys, monkeypatch, mnist):
    from frameworks.registry import gpu_present

    if gpu_present():
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr(bench_accuracy, "run_child", fake_trainer("ok"))
    expect(capsys, ["accuracy", "--frameworks", "pytorch", "--networks", "mlp_bn", "--seeds", "1", "--devices",
                    "cuda"], EXIT_FAILED, "not run: pytorch on cuda")


def test_accuracy_refuses_what_it_cannot_run(in_tmp, capsys, monkeypatch, mnist, absent_framework):
    expect(capsys, ["accuracy", "--seeds", "0"], EXIT_USAGE, "--seeds: must be at least 1")
    expect(capsys, ["accuracy", "--frameworks", ABSENT], EXIT_FAILED, "a_module_that_is_not_installed")
    monkeypatch.setattr(bench_accuracy, "installed_here", lambda chosen: ([], {f: "not installed" for f in chosen}))
    expect(capsys, ["accuracy"], EXIT_NOTHING, "nothing to measure here")


def test_export_refuses_what_it_cannot_run(in_tmp, capsys, monkeypatch, mnist, absent_framework):
    from frameworks.commands import export as deployment

    expect(capsys, ["export", "--latency-requests", "0"], EXIT_USAGE, "--latency-requests: must be at least 1")
    expect(capsys, ["export", "--frameworks", ABSENT], EXIT_FAILED, "a_module_that_is_not_installed")
    monkeypatch.setattr(deployment, "installed_here", lambda chosen: ([], {f: "not installed" for f in chosen}))
    expect(capsys, ["export"], EXIT_NOTHING, "nothing to measure here")


# --- the commands that read results -------------------------------------------------------------------------------
def test_report_statuses(tmp_path, capsys, monkeypatch):
    path = results_file(tmp_path)
    expect(capsys, ["report", str(path)], EXIT_OK, "wrote")
    expect(capsys, ["report", str(tmp_path / "absent.json")], EXIT_USAGE, "absent.json")
    expect(capsys, ["report", str(path), "--margin", "2"], EXIT_USAGE, "--margin")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the disk fills while the report is written: a failure, named
    expect(capsys, ["report", str(path)], EXIT_FAILED, "No space left on device")


def test_gate_statuses(tmp_path, capsys):
    base, head = sides(tmp_path, MEDIANS, MEDIANS)
    expect(capsys, ["gate", "--base", *base, "--head", *head], EXIT_OK, "passed")
    (tmp_path / "slow").mkdir()
    slow_base, slow_head = sides(tmp_path / "slow", MEDIANS, {k: 2 * v for k, v in MEDIANS.items()})
    expect(capsys, ["gate", "--base", *slow_base, "--head", *slow_head], EXIT_FAILED, "**regression**")
    expect(capsys, ["gate", "--base", str(tmp_path / "absent.json"), "--head", *head], EXIT_USAGE,
           "NO USABLE BASE RUNS")
    for path in head:
        disturb(path, "fw-a")
    expect(capsys, ["gate", "--base", *base, "--head", *head], EXIT_UNTESTED, "NOT TESTED")


def test_versions_and_dashboard_statuses(tmp_path, capsys):
    store = tmp_path / "store"
    example_store(store)
    expect(capsys, ["versions", str(store)], EXIT_OK)
    expect(capsys, ["versions", str(tmp_path / "empty-nothing")], EXIT_USAGE, "empty-nothing: no such file")
    expect(capsys, ["dashboard", str(store), "--output", str(tmp_path / "site")], EXIT_OK, "wrote")
    expect(capsys, ["dashboard", str(tmp_path / "empty-nothing"), "--output", str(tmp_path / "site2")], EXIT_USAGE,
           "empty-nothing")
    assert not (tmp_path / "site2").exists(), "nothing written for unusable input"


def test_info_statuses(tmp_path, capsys, mnist):
    expect(capsys, ["info"], EXIT_OK, "MNIST")
    empty = tmp_path / "empty"
    empty.mkdir()
    expect(capsys, ["info", "--mnist-dir", str(empty)], EXIT_USAGE)


def test_caffe_statuses(tmp_path, capsys, monkeypatch):
    import frameworks.registry as registry

    expect(capsys, ["caffe", "solver.prototxt", "--iterations", "0"], EXIT_USAGE, "--iterations")
    monkeypatch.setattr(registry, "availability",
                        lambda *a, **k: types.SimpleNamespace(ready=False, reason="caffe not installed (test)"))
    expect(capsys, ["caffe", str(tmp_path / "solver.prototxt")], EXIT_FAILED, "caffe not installed (test)")


@pytest.mark.parametrize("command, interrupted", [
    ("export", "frameworks.commands.export.run_export"), ("report", "frameworks.analysis.report.write_report"),
    ("gate", "frameworks.analysis.gate.gate"), ("versions", "frameworks.analysis.store.load_store"),
    ("dashboard", "frameworks.analysis.dashboard.build"), ("caffe", "frameworks.registry.availability"),
    ("info", "frameworks.environment.describe"),
])
def test_ctrl_c_in_any_command_is_130_without_a_traceback(in_tmp, capsys, monkeypatch, mnist, command, interrupted):
    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(interrupted, ctrl_c)
    path = results_file(in_tmp)
    argv = {"export": ["export", "--frameworks", "pytorch", "--networks", "mlp_bn"], "report": ["report", str(path)],
            "gate": ["gate", "--base", str(path), "--head", str(path)], "versions": ["versions", str(path)],
            "dashboard": ["dashboard", str(path), "--output", "site"], "caffe": ["caffe", "solver.prototxt"],
            "info": ["info"]}[command]
    expect(capsys, argv, EXIT_INTERRUPTED, f"{command}: interrupted")


# --- scale: the equivalence proof and the launches replaced by fakes -------------------------------------------
def fake_scale(monkeypatch, *, equal: bool = True, measure: str = "ok") -> None:
    from frameworks.parallel import check as parallel_check
    from frameworks.parallel import scaling
    from frameworks.parallel.launch import LaunchFailed

    def check(framework, network, **kwargs):
        result = parallel_check.CheckResult(framework, network, kwargs["mode"], kwargs["world_size"], "per-replica")
        result.worst["rank 0 step 1"] = ("fc1.weight", 1e-8 if equal else 0.5)
        return result

    def run(frameworks, networks, *, output, **kwargs):
        record = {"framework": frameworks[0], "network": networks[0], "config": "1x1", "kind": "baseline",
                  "world_size": 1, "global_batch": 64, "repeat": 0, "rank": 0, "median_s": 0.05, "times_s": [0.05]}
        path = Path(scaling.write_json(output / "scaling.json", {"kind": "scaling", "version": 1, "repeats": 1,
                                                                 "machine": {}, "records": [record]}))
        if measure == "crash":
            raise LaunchFailed("pytorch time launch of 2 replica(s) (processes) failed: rank 1 failed first")
        if measure == "interrupt":  # after the first launch: what finished is kept and reported
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(parallel_check, "check", check)
    monkeypatch.setattr(scaling, "measure", run)


@pytest.mark.parametrize("equal, measure, status, said", [
    (True, "ok", EXIT_OK, "report: "), (False, "ok", EXIT_FAILED, "NOT the same computation"),
    (True, "crash", EXIT_FAILED, "rank 1 failed first"),
    (True, "interrupt", EXIT_INTERRUPTED, "scale: interrupted: kept the 1 rank records that finished"),
])
def test_scale_statuses(in_tmp, capsys, monkeypatch, mnist, equal, measure, status, said):
    fake_scale(monkeypatch, equal=equal, measure=measure)
    expect(capsys, ["scale", "--frameworks", "pytorch", "--networks", "lenet"], status, said)
    if measure != "ok" or not equal:
        return
    assert (in_tmp / "scaling-results" / "scaling-report.md").read_text().startswith("## Scaling")


def test_scale_interrupted_during_the_proof_says_so_without_a_traceback(in_tmp, capsys, monkeypatch, mnist):
    def interrupted(*a, **k):
        raise Interrupted(-2)  # what run_child raises when Ctrl-C reaches a launch

    monkeypatch.setattr("frameworks.parallel.check.check", interrupted)
    expect(capsys, ["scale", "--frameworks", "pytorch"], EXIT_INTERRUPTED, "interrupted while proving the steps")


def test_scale_interrupted_keeps_what_finished(in_tmp, capsys, monkeypatch, mnist):
    fake_scale(monkeypatch, measure="interrupt")
    expect(capsys, ["scale", "--frameworks", "pytorch"], EXIT_INTERRUPTED, "Run the command again")
    assert (in_tmp / "scaling-results" / "scaling-report.md").read_text().startswith("## Scaling")
    assert json.loads((in_tmp / "scaling-results" / "scaling.json").read_text())["records"]


def test_scale_refuses_what_cannot_train_data_parallel(in_tmp, capsys, monkeypatch, mnist):
    expect(capsys, ["scale", "--frameworks", "onnxruntime"], EXIT_FAILED, "onnxruntime: ONNX Runtime is an inference")
    expect(capsys, ["scale", "--dp-mode", "sideways"], EXIT_USAGE, "unknown dp-mode 'sideways'")
    expect(capsys, ["scale", "--master-port", "70000"], EXIT_USAGE, "must be at most 65,535")
    monkeypatch.setattr("frameworks.parallel.modes.installed_here", lambda names: ([], {n: "absent" for n in names}))
    expect(capsys, ["scale"], EXIT_NOTHING, "no installed framework can train data parallel here")


# --- the same bad output path, the same status and message from every command ------------------------------------
def output_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Per command, the arguments to run it with the output option given last, and that option."""
    path = results_file(tmp_path)
    store = tmp_path / "store"
    example_store(store)
    base, head = sides(tmp_path, MEDIANS, MEDIANS)
    scaling = tmp_path / "scaling.json"
    scaling.write_text(json.dumps({"kind": "scaling", "version": 1, "repeats": 1, "machine": {"cores": 2},
                                   "records": []}))
    return {
        "bench": (["bench", "--frameworks", "pytorch", "--output-dir"], "--output-dir"),
        "bench --store": (["bench", "--frameworks", "pytorch", "--store"], "--store"),
        "accuracy": (["accuracy", "--frameworks", "pytorch", "--output-dir"], "--output-dir"),
        "export": (["export", "--frameworks", "pytorch", "--output-dir"], "--output-dir"),
        "report": (["report", str(path), "--output-dir"], "--output-dir"),
        "report scaling": (["report", str(scaling), "--output-dir"], "--output-dir"),  # its section alone
        "gate": (["gate", "--base", *base, "--head", *head, "--summary"], "--summary"),
        "versions": (["versions", str(store), "--output"], "--output"),
        "dashboard": (["dashboard", str(store), "--output"], "--output"),
        "dashboard --screenshot": (["dashboard", str(store), "--output", str(tmp_path / "site"), "--screenshot"],
                                   "--screenshot"),
        "scale": (["scale", "--frameworks", "pytorch", "--output-dir"], "--output-dir"),
    }


COMMANDS_WITH_OUTPUTS = ["bench", "bench --store", "accuracy", "export", "report", "report scaling", "gate",
                         "versions", "dashboard", "dashboard --screenshot", "scale"]


@pytest.mark.parametrize("command", COMMANDS_WITH_OUTPUTS)
def test_a_file_in_the_way_of_an_output_is_refused_the_same_by_every_command(in_tmp, capsys, mnist, command):
    argv, option = output_cases(in_tmp)[command]
    blocker = in_tmp / "a-file"
    blocker.write_text("in the way")
    target = blocker / "out" / "x.md"
    expect(capsys, [*argv, str(target)], EXIT_USAGE, f"{option} {target}: {blocker} is a file, not a directory")
    assert blocker.read_text() == "in the way"


@pytest.mark.parametrize("command", COMMANDS_WITH_OUTPUTS)
def test_missing_parents_of_an_output_are_created(in_tmp, capsys, monkeypatch, mnist, command):
    """Like mkdir -p; checked before anything runs (the run itself is stopped at once here)."""
    argv, option = output_cases(in_tmp)[command]
    target = in_tmp / "new" / "deeper" / ("out" if option in ("--output-dir", "--store") or
                                         (option == "--output" and argv[0] == "dashboard") else "out.md")
    from frameworks.analysis import browser
    from frameworks.commands import export as deployment

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_run, "new_run_dir", stop)  # stop bench and accuracy right after their checks
    monkeypatch.setattr(deployment, "run_export", stop)
    monkeypatch.setattr(browser, "check", stop)
    monkeypatch.setattr("frameworks.parallel.check.check", stop)
    code = main([*argv, str(target)])
    capsys.readouterr()
    assert code in (EXIT_OK, EXIT_INTERRUPTED)
    assert (target if target.suffix == "" else target.parent).is_dir()


def test_a_read_only_output_is_named_by_every_command(in_tmp, capsys, mnist, monkeypatch):
    """No permission: simulated (root ignores file modes) by the write check failing with EACCES."""
    import tempfile

    cases = output_cases(in_tmp)
    locked = in_tmp / "locked"
    locked.mkdir()
    real = tempfile.mkstemp

    def denied(*a, dir=None, **k):
        if dir is not None and Path(dir).is_relative_to(locked):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    for command in COMMANDS_WITH_OUTPUTS:
        argv, option = cases[command]
        target = locked / command.replace(" --", "-")
        expect(capsys, [*argv, str(target)], EXIT_USAGE, f"{option} {target} cannot be written (Permission denied)")


def test_every_status_of_the_table_is_driven_and_every_command_too():
    commands = set(build_parser()._subparsers._group_actions[0].choices) - {"test"}  # type: ignore[union-attr]
    assert commands == set(DRIVEN), "each command needs its statuses driven above"
    assert set().union(*DRIVEN.values()) == set(EXIT_STATUSES), "each status of the table needs a command reaching it"
    assert all(EXIT_USAGE in statuses for statuses in DRIVEN.values()), "every command refuses bad input with 2"
    assert all(meaning for meaning in EXIT_STATUSES.values())


def test_help_shows_the_table(capsys):
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert all(f"{code:3d}  {meaning.split(':')[0]}" in out for code, meaning in EXIT_STATUSES.items())


def test_bench_stops_at_the_first_process_pytest_refuses(in_tmp, capsys, mnist):
    """An argument pytest refuses fails every process the same way: the run stops after the first (the real
    pytest child, which exits 4 at once) and says so with the usage status, not N failed processes and 1."""
    text = expect(capsys, ["bench", "--frameworks", "pytorch,onnxruntime", "--networks", "lenet", "--repeats", "2",
                           "--quick", "--no-such-pytest-flag"], EXIT_USAGE, "pytest refused the arguments")
    assert "--no-such-pytest-flag" in text
    assert text.count("benchmarking") == 1, text
    (results,) = in_tmp.glob("bench-results/bench-*/results.json")
    assert len(json.loads(results.read_text())["processes"]) == 1
