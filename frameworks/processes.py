"""Running suite work in child processes: one process per group of frameworks that can share one (a Keras
backend is fixed per process), with the environment each needs, and Ctrl-C forwarded so that a child can
save what it finished before it stops."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import process_groups

INTERRUPT_GRACE_S = 120.0  # how long an interrupted child may take to save its results
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


@dataclass(frozen=True)
class ProcessGroup:
    """Frameworks that run together in one process, and the environment that process starts with."""

    frameworks: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ",".join(self.frameworks)


def groups_sharing(frameworks: Sequence[str]) -> list[ProcessGroup]:
    """For tests: everything that can share a process does; each other Keras backend gets its own process."""
    return [ProcessGroup(names, env) for names, env in process_groups(list(frameworks))]


def one_each(frameworks: Sequence[str]) -> list[ProcessGroup]:
    """For benchmarks: one process per framework, so no figure depends on what ran before it."""
    groups = []
    for name in frameworks:
        ((names, env),) = process_groups([name])
        groups.append(ProcessGroup(names, env))
    return groups


class ChildTimeout(Exception):
    """A child process ran past its time limit and was ended."""

    def __init__(self, seconds: float, returncode: int) -> None:
        super().__init__(f"ran past its limit of {seconds:.0f} s and was ended (exit {returncode})")
        self.seconds, self.returncode = seconds, returncode


class Interrupted(Exception):
    """The user pressed Ctrl-C (or the suite got SIGTERM) while a child ran; the child was let finish saving."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"interrupted (child exit {returncode})")
        self.returncode = returncode


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
    set (Ctrl-C), only keep them: a launcher's own teardown traceback is not ours to print."""
    for line in iter(stream.readline, ""):
        if not quiet.is_set():
            out = getattr(sys, target)
            out.write(line)
            out.flush()
        tail.append(line)


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
              timeout: float | None = None, tail: collections.deque[str] | None = None) -> int:
    """Run ``cmd`` with its output going to ours, importing this process's own package (``child_environment``);
    return its exit status (negative: killed by that signal).

    On Ctrl-C the child gets SIGINT too (pytest then stops, writes what it finished and exits) and is given
    ``INTERRUPT_GRACE_S`` to do so before it is terminated; then ``Interrupted`` is raised. Past ``timeout``
    seconds it is ended and ``ChildTimeout`` is raised. With ``tail``, the child's output (stderr merged) is
    also kept there, for a caller that reads the child's own report of a failure (and what it writes after
    Ctrl-C is only kept, not shown); otherwise, inside ``relayed_output``, it is passed on through ours.
    """
    relay = tail is None and _relaying.is_set()
    capture: dict[str, Any] = {}
    if tail is not None:
        capture = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    elif relay:
        capture = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    child = subprocess.Popen(list(cmd), env=child_environment(env), cwd=cwd, **capture)
    quiet = threading.Event()
    kept = tail if tail is not None else collections.deque(maxlen=0)
    streams = [(s, target) for s, target in ((child.stdout, "stdout"), (child.stderr, "stderr")) if s is not None]
    pumps = [threading.Thread(target=_pump, args=(stream, kept, quiet, target), daemon=True)
             for stream, target in streams]
    for pump in pumps:
        pump.start()
    try:
        code = child.wait(timeout=timeout)
        for pump in pumps:
            pump.join(timeout=10)
        for stream, _ in streams:
            stream.close()
        return code
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
            code = child.wait(timeout=INTERRUPT_GRACE_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            code = _end(child)
        if relay:  # the relayed child's last words come before ours
            for pump in pumps:
                pump.join(timeout=10)
        raise Interrupted(code) from None


def pytest_command(group: ProcessGroup, args: Sequence[str]) -> list[str]:
    """The command that runs pytest for ``group``."""
    return [sys.executable, "-m", "pytest", "--frameworks", group.label, *args]


def run_pytest(group: ProcessGroup, args: Sequence[str], *, env: dict[str, str] | None = None,
               cwd: str | None = None) -> int:
    """Run pytest for ``group`` in a child process (its output goes to ours); return its exit status."""
    cmd = pytest_command(group, args)
    shown = " ".join(f"{k}={v}" for k, v in group.environment.items())
    print(f"\n=== {group.label}{f' ({shown})' if shown else ''}: pytest {' '.join(cmd[3:])}", flush=True)
    return run_child(cmd, env={**(env or {}), **group.environment}, cwd=cwd)


def handle_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so that a CI runner's cancellation also saves what finished."""

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


@dataclass
class Held:
    """Whether an interrupt arrived while ``interrupts_held`` held it."""

    interrupted: bool = False


@contextmanager
def interrupts_held() -> Iterator[Held]:
    """Hold Ctrl-C and SIGTERM while the block writes what finished (merged results, report, store), so that an
    interrupt between the last measurement and the last file cannot lose them; the caller then ends as
    interrupted (130) if one came. Outside the main thread, where signals cannot be handled, nothing is held."""
    import threading

    held = Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def hold(signum: int, frame: object) -> None:
        held.interrupted = True

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield held
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
