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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .registry import process_groups

INTERRUPT_GRACE_S = 120.0  # how long an interrupted child may take to save its results


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


def _pump(stream: Any, tail: collections.deque[str]) -> None:
    """Copy a child's output to ours line by line, keeping the last lines."""
    for line in iter(stream.readline, ""):
        sys.stdout.write(line)
        sys.stdout.flush()
        tail.append(line)


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
              timeout: float | None = None, tail: collections.deque[str] | None = None) -> int:
    """Run ``cmd`` with its output going to ours; return its exit status (negative: killed by that signal).

    On Ctrl-C the child gets SIGINT too (pytest then stops, writes what it finished and exits) and is given
    ``INTERRUPT_GRACE_S`` to do so before it is terminated; then ``Interrupted`` is raised. Past ``timeout``
    seconds it is ended and ``ChildTimeout`` is raised. With ``tail``, the child's output (stderr merged) is
    also kept there, for a caller that reads the child's own report of a failure.
    """
    capture = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True} if tail is not None else {}
    child = subprocess.Popen(list(cmd), env={**os.environ, **(env or {})}, cwd=cwd, **capture)
    pump = None
    if tail is not None:
        pump = threading.Thread(target=_pump, args=(child.stdout, tail), daemon=True)
        pump.start()
    try:
        code = child.wait(timeout=timeout)
        if pump is not None:
            pump.join(timeout=10)
            child.stdout.close()
        return code
    except subprocess.TimeoutExpired:
        raise ChildTimeout(timeout or 0, _end(child)) from None
    except KeyboardInterrupt:
        try:
            child.send_signal(signal.SIGINT)  # a terminal already sent it; a signal from elsewhere did not
        except ProcessLookupError:
            pass
        try:
            code = child.wait(timeout=INTERRUPT_GRACE_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            code = _end(child)
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
