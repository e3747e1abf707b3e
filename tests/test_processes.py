"""The one child-process runner (``frameworks.child``): an interrupt (Ctrl-C, or SIGTERM where a command treats it
as one) while a job's child runs reaches the child, which is gone when the parent goes on; the command ends with
130 and no traceback; a child that crashes, is killed or fails is reported once, with the end of its output.
The children are fakes that sleep (importable from here: a child imports its job by module path)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from frameworks import child, equivalence, processes
from frameworks.registry import Status

ROOT = Path(__file__).resolve().parent.parent


# --- what the children run ---------------------------------------------------------------------------------------
def _sleep(pid_file: str) -> None:
    """Say who we are, then sleep; an interrupt that reaches us is recorded beside the pid file."""
    Path(pid_file).write_text(str(os.getpid()))
    try:
        time.sleep(120)
    except KeyboardInterrupt:
        Path(pid_file + ".interrupted").write_text("SIGINT reached the child")
        raise


def sleeping_probes(framework, requests, threads, variants):
    """Stands in for ``equivalence.compute_all``: the pid file is the first request."""
    _sleep(requests[0])


def sleeping_export(job, action=None):
    """Stands in for ``export.in_child``: the pid file is in the export directory."""
    _sleep(str(job.directory / "child.pid"))


def own_process(framework, probe_device=False):
    """Stands in for ``availability``: every framework needs a process of its own."""
    return SimpleNamespace(ready=False, status=Status.OWN_PROCESS, installed=True, reason="its own process")


def raising(message):
    print("some progress the child printed")
    raise ValueError(message)


def killed_by(signum):
    print("about to die", flush=True)
    os.kill(os.getpid(), signum)
    time.sleep(30)


def returning(value):
    return value


# --- helpers -----------------------------------------------------------------------------------------------------
def wait_for(path: Path, timeout: float = 60) -> int:
    """The pid a child wrote to ``path`` (waiting for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"no child wrote {path}")


def gone(pid: int) -> bool:
    """Whether no process (not even an unreaped one) has this pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def interrupt_when_written(path: Path, signum: int = signal.SIGINT, pid: int | None = None) -> threading.Thread:
    """Send ``signum`` to ``pid`` (this process) once a child has written ``path``."""

    def send() -> None:
        wait_for(path)
        time.sleep(0.3)
        os.kill(pid or os.getpid(), signum)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt here, whatever the runner that started the tests did with SIGINT."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def python_with_sigint() -> dict:
    """Popen arguments: as from a terminal, SIGINT is not ignored in the process started (a runner may have)."""
    return {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}


# --- interrupts --------------------------------------------------------------------------------------------------
def test_ctrl_c_during_the_equivalence_child_reaches_it_and_leaves_no_child(tmp_path, monkeypatch, capfd,
                                                                           ctrl_c_raises):
    monkeypatch.setattr(processes, "availability", own_process)
    monkeypatch.setattr(equivalence, "compute_all", sleeping_probes)
    pid_file = tmp_path / "child.pid"
    sender = interrupt_when_written(pid_file)
    started = time.monotonic()
    with pytest.raises(child.Interrupted):
        equivalence.compute_anywhere("pytorch", [str(pid_file)])
    sender.join()
    pid = wait_for(pid_file)
    assert gone(pid), "the interrupted child outlived the parent's return"
    assert (tmp_path / "child.pid.interrupted").exists(), "the interrupt was not passed on to the child"
    assert time.monotonic() - started < 60
    out = capfd.readouterr()
    assert "Traceback" not in out.out + out.err, "the child's own traceback is not ours to print"


def run_export_command(tmp_path: Path, mnist) -> subprocess.Popen:
    """``python -m frameworks export`` (for pytorch, in a child process that only sleeps), as its own process."""
    script = ("import sys\n"
              "from frameworks import processes\n"
              "from frameworks.commands import export\n"
              "from tests import test_processes as fakes\n"
              "processes.availability = fakes.own_process\n"
              "export.in_child = fakes.sleeping_export\n"
              "from frameworks.cli import main\n"
              "sys.exit(main(['export', '--frameworks', 'pytorch', '--networks', 'mlp_bn', '--output-dir', 'out']))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MNIST_DIR": str(mnist.directory), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **python_with_sigint())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_the_export_child_ends_it_and_the_command_exits_130(tmp_path, mnist, signum):
    proc = run_export_command(tmp_path, mnist)
    try:
        deadline = time.monotonic() + 120
        while not (found := list(tmp_path.glob("out/export-*/child.pid"))) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.05)
        (pid_file,) = found
        pid = wait_for(pid_file)
        proc.send_signal(signum)  # to the command only, as from `kill` or a CI runner's cancellation
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert gone(pid), "the export child outlived the command"
    assert "Traceback" not in out, out
    assert f"export: interrupted: the artifacts written so far are in {pid_file.parent}" in out, out


# --- failures ----------------------------------------------------------------------------------------------------
def test_a_job_that_raises_is_reported_once_with_the_end_of_its_output(capfd):
    with pytest.raises(child.ChildFailed) as failed:
        child.run_job(raising, "boom", what="the fake job")
    message = str(failed.value)
    assert message.startswith("the fake job: the child process failed (exited with status 1): ")
    assert message.count("ValueError: boom") == 1 and "some progress the child printed" in message
    out = capfd.readouterr()
    assert "boom" not in out.out + out.err, "the child's output is kept, not shown: the failure says it once"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV])
def test_a_job_killed_by_a_signal_is_a_crash_naming_the_signal(signum, capfd):
    with pytest.raises(child.ChildFailed) as failed:
        child.run_job(killed_by, signum, what="the fake job")
    assert failed.value.returncode == -signum
    assert f"(was killed by {signal.Signals(signum).name}): about to die" in str(failed.value)
    assert "about to die" not in capfd.readouterr().out


def test_a_job_past_its_time_limit_is_ended(tmp_path):
    started = time.monotonic()
    with pytest.raises(child.ChildFailed, match="ran past 2 s and was stopped") as failed:
        child.run_job(_sleep, str(tmp_path / "child.pid"), timeout=2, what="the fake job")
    assert failed.value.timed_out and time.monotonic() - started < 30
    assert gone(wait_for(tmp_path / "child.pid"))


def test_a_job_returns_its_result_through_the_child(monkeypatch):
    assert child.run_job(returning, {"a": [1, 2]}, env={"MFB_TEST": "1"}) == {"a": [1, 2]}
    monkeypatch.setattr(processes, "availability", lambda *a, **k: SimpleNamespace(ready=True))
    assert processes.run_anywhere("pytorch", returning, os.getpid()) == os.getpid(), "here when it can run here"
    monkeypatch.setattr(processes, "availability", own_process)
    assert processes.run_anywhere("pytorch", os.getpid) != os.getpid(), "else in a child"
