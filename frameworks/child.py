"""The one way the suite runs work in a child process (the only module that starts one, besides the version
probes of ``environment.py``).

- ``run_child(cmd, ...)``: a command (pytest for a group of frameworks, a launcher, a tutorial-style script) with
  this process's own package first on its import path (``child_environment``), a time limit, and Ctrl-C and
  SIGTERM passed on: the child gets SIGINT and a grace period to save what it finished, then it is terminated
  and killed, and ``Interrupted`` (a ``KeyboardInterrupt``) is raised, so no child outlives an interrupt.
- ``run_job(function, *args, env=...)``: ``function(*args)`` in ``python -m frameworks.child JOB RESULT``; the
  function (importable by its module path) and its arguments, and then its result, travel as pickles in a
  temporary directory (written atomically). A failure raises ``ChildFailed`` naming how the child ended with the
  end of what it wrote, once.

``processes.run_anywhere`` runs a job here when a framework can run in this process, else through ``run_job``.
"""

from __future__ import annotations

import collections
import importlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .fileio import write_bytes

INTERRUPT_GRACE_S = 120.0  # how long an interrupted child may take to save its results
JOB_GRACE_S = 10.0  # a job returns all or nothing: an interrupted one has nothing to save
JOB_TIMEOUT_S = 1800.0
TAIL_LINES = 15  # the end of a failed child's output that its failure quotes
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the directory holding the ``frameworks`` this process runs
ENV_PACKAGE_ROOT = "MFB_PACKAGE_ROOT"  # tells a child which package its parent runs, for it to check


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment: ours and ``extra``, with this package's root first on ``PYTHONPATH``, so
    that the child imports the code its parent runs, not another checkout or an installed copy sharing the
    environment (which pytest reports as an "import file mismatch", or which silently runs other code)."""
    env = {**os.environ, **(extra or {})}
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != PACKAGE_ROOT]
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT), *rest])
    env[ENV_PACKAGE_ROOT] = str(PACKAGE_ROOT)
    return env


def check_parent_package() -> None:
    """In a child: raise ``UsageError`` when this process imported another ``frameworks`` than its parent runs.
    The variable is consumed, so that what this child starts (another installed copy, in a test) is not held
    to it."""
    from .errors import UsageError

    parent = os.environ.pop(ENV_PACKAGE_ROOT, None)
    if parent and Path(parent).resolve() != PACKAGE_ROOT:
        raise UsageError(f"this process imported the suite from {PACKAGE_ROOT}, but its parent runs the one in "
                         f"{parent}: run the command with that checkout's environment (or put {parent} first on "
                         "PYTHONPATH)")


def module_command(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


class ChildTimeout(Exception):
    """A child process ran past its time limit and was ended."""

    def __init__(self, seconds: float, returncode: int) -> None:
        super().__init__(f"ran past its limit of {seconds:.0f} s and was ended (exit {returncode})")
        self.seconds, self.returncode = seconds, returncode


class Interrupted(KeyboardInterrupt):
    """The user pressed Ctrl-C (or the suite got SIGTERM) while a child ran; the child was passed the interrupt,
    let finish saving, and is gone. A ``KeyboardInterrupt``: whoever does not handle it ends as interrupted."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"interrupted (child exit {returncode})")
        self.returncode = returncode


class ChildFailed(RuntimeError):
    """A job's child process crashed, exited non-zero or left no result: how it ended and the end of its output."""

    def __init__(self, what: str, returncode: int | None, output: str, *, timed_out: float | None = None) -> None:
        self.what, self.returncode, self.output, self.timed_out = what, returncode, output, timed_out is not None
        ended = f"ran past {timed_out:.0f} s and was stopped" if timed_out is not None else exit_reason(returncode)
        tail = " | ".join(line for line in output.strip().splitlines()[-TAIL_LINES:] if line.strip())
        super().__init__(f"{what}: the child process failed ({ended}){f': {tail}' if tail else ''}")


def exit_reason(returncode: int | None) -> str:
    """How a child ended, in words: the signal that killed it, or its exit status."""
    if returncode is not None and returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _end(child: subprocess.Popen) -> int:
    """Terminate ``child`` (a launcher passes SIGTERM on to its workers), then kill it if it lingers."""
    child.terminate()
    try:
        return child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


_relaying = threading.Event()  # set while ``relayed_output`` holds


@contextmanager
def relayed_output() -> Iterator[None]:
    """While the block runs, each child's output and errors are read through pipes and written to our
    ``sys.stdout`` and ``sys.stderr`` line by line, instead of going to the terminal directly: a live progress
    display then prints them above itself, and progress lines fall between the child's lines, never inside them."""
    held = _relaying.is_set()
    _relaying.set()
    try:
        yield
    finally:
        if not held:
            _relaying.clear()


def _pump(stream: Any, tail: collections.deque[str], quiet: threading.Event, target: str = "stdout") -> None:
    """Copy a child's output to ours (``sys.<target>``) line by line, keeping the last lines; once ``quiet`` is
    set (Ctrl-C, or a child whose output is only kept), only keep them: a launcher's own teardown traceback is not
    ours to print."""
    for line in iter(stream.readline, ""):
        if not quiet.is_set():
            out = getattr(sys, target)
            out.write(line)
            out.flush()
        tail.append(line)


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
              timeout: float | None = None, tail: collections.deque[str] | None = None, show: bool = True,
              grace: float = INTERRUPT_GRACE_S) -> int:
    """Run ``cmd`` with its output going to ours, importing this process's own package (``child_environment``);
    return its exit status (negative: killed by that signal).

    On Ctrl-C (or SIGTERM, where ``handle_sigterm`` made it one) the child gets SIGINT too (pytest then stops,
    writes what it finished and exits) and is given ``grace`` seconds to do so before it is terminated; then
    ``Interrupted`` is raised. Past ``timeout`` seconds it is ended and ``ChildTimeout`` is raised. With ``tail``,
    the child's output (stderr merged) is also kept there, for a caller that reads the child's own report of a
    failure (and what it writes after Ctrl-C is only kept, not shown; with ``show`` False, nothing is shown);
    otherwise, inside ``relayed_output``, it is passed on through ours.
    """
    relay = tail is None and _relaying.is_set()
    capture: dict[str, Any] = {}
    if tail is not None:
        capture = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, "errors": "replace"}
    elif relay:
        capture = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "errors": "replace"}
    child = subprocess.Popen(list(cmd), env=child_environment(env), cwd=cwd, **capture)
    quiet = threading.Event()
    if tail is not None and not show:
        quiet.set()
    kept = tail if tail is not None else collections.deque(maxlen=0)
    streams = [(s, target) for s, target in ((child.stdout, "stdout"), (child.stderr, "stderr")) if s is not None]
    pumps = [threading.Thread(target=_pump, args=(stream, kept, quiet, target), daemon=True)
             for stream, target in streams]
    for pump in pumps:
        pump.start()
    try:
        return child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ChildTimeout(timeout or 0, _end(child)) from None
    except KeyboardInterrupt:
        if tail is not None:
            quiet.set()
        try:
            child.send_signal(signal.SIGINT)  # a terminal already sent it; a signal from elsewhere did not
        except ProcessLookupError:
            pass
        try:
            code = child.wait(timeout=grace)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            code = _end(child)
        raise Interrupted(code) from None
    finally:  # the child is gone: its last words (relayed ones before ours) and its pipes
        for pump, (stream, _) in zip(pumps, streams, strict=True):
            pump.join(timeout=10)
            if not pump.is_alive():  # (a grandchild may still hold the pipe open: its pump reads on)
                stream.close()


def run_job(function: Callable[..., Any], *args: Any, env: dict[str, str] | None = None,
            timeout: float = JOB_TIMEOUT_S, what: str | None = None) -> Any:
    """``function(*args)`` in a child process started with ``env`` besides ours; its result.

    ``function`` must be importable by its module and name. The child's output is kept, not shown: a failure
    (an exception, a crash, a signal, no result) raises ``ChildFailed`` with the end of it, past ``timeout`` the
    child is ended and ``ChildFailed`` says so, and Ctrl-C or SIGTERM ends the child and raises ``Interrupted``.
    """
    what = what or f"{function.__module__}.{function.__qualname__}"
    with tempfile.TemporaryDirectory(prefix="mfb-child-") as tmp:
        job_path, result_path = Path(tmp) / "job.pkl", Path(tmp) / "result.pkl"
        write_bytes(job_path, pickle.dumps({"module": function.__module__, "name": function.__qualname__,
                                            "args": args}))
        output: collections.deque[str] = collections.deque(maxlen=200)
        try:
            code = run_child(module_command(__name__, str(job_path), str(result_path)), env=env, timeout=timeout,
                             tail=output, show=False, grace=JOB_GRACE_S)
        except ChildTimeout as exc:
            raise ChildFailed(what, exc.returncode, "".join(output), timed_out=timeout) from None
        if code != 0 or not result_path.exists():  # (exit 0 without a result: the function called sys.exit)
            raise ChildFailed(what, code, "".join(output))
        return pickle.loads(result_path.read_bytes())


def main(argv: Sequence[str]) -> int:
    """A job's child: ``python -m frameworks.child JOB RESULT``."""
    check_parent_package()
    job = pickle.loads(Path(argv[0]).read_bytes())
    function: Any = importlib.import_module(job["module"])
    for part in job["name"].split("."):
        function = getattr(function, part)
    write_bytes(argv[1], pickle.dumps(function(*job["args"])))
    return 0


def handle_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so that a CI runner's cancellation also saves what finished (and reaches the
    children through ``run_child``)."""

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
