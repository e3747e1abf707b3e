"""Splitting a run into processes: the Keras backend is fixed per process, and benchmark figures must not
depend on which frameworks ran before in the same process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from . import FRAMEWORKS

MAIN_KERAS_BACKEND = "tensorflow"


@dataclass(frozen=True)
class ProcessGroup:
    """Frameworks that run together in one process, and the Keras backend that process loads."""

    frameworks: tuple[str, ...]
    keras_backend: str

    @property
    def label(self) -> str:
        return ",".join(self.frameworks)


def test_groups(frameworks: Sequence[str]) -> list[ProcessGroup]:
    """For tests: everything that can share a process does (the main group, Keras on TensorFlow), and each
    other Keras backend gets its own process."""
    main = tuple(f for f in frameworks if FRAMEWORKS[f].keras_backend in (None, MAIN_KERAS_BACKEND))
    groups = [ProcessGroup(main, MAIN_KERAS_BACKEND)] if main else []
    for f in frameworks:
        backend = FRAMEWORKS[f].keras_backend
        if backend not in (None, MAIN_KERAS_BACKEND):
            groups.append(ProcessGroup((f,), backend))
    return groups


def isolated_groups(frameworks: Sequence[str]) -> list[ProcessGroup]:
    """For benchmarks: one process per framework."""
    return [ProcessGroup((f,), FRAMEWORKS[f].keras_backend or MAIN_KERAS_BACKEND) for f in frameworks]


def run_pytest(group: ProcessGroup, args: Sequence[str], *, env: dict[str, str] | None = None,
               cwd: str | None = None) -> int:
    """Run pytest for ``group`` in a child process (its output goes to ours); return its exit status.

    A child killed by a signal (a crash) returns the negative signal number, which callers report as failed.
    """
    child_env = {**os.environ, **(env or {}), "KERAS_BACKEND": group.keras_backend}
    cmd = [sys.executable, "-m", "pytest", "--frameworks", group.label, *args]
    print(f"\n=== {group.label} (KERAS_BACKEND={group.keras_backend}): {' '.join(cmd[1:])}", flush=True)
    return subprocess.run(cmd, env=child_env, cwd=cwd).returncode
