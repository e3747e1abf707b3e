"""Running suite work in child processes: one process per group of frameworks that can share one (a Keras
backend is fixed per process), with the environment each needs, and Ctrl-C forwarded so that a child can
save what it finished before it stops; a job run here when its framework can run in this process, else in a
child with the framework's environment (``run_anywhere``). The children themselves are started by
``frameworks.child``, the one module that starts them."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .child import (  # noqa: F401  (the runner's names, as the suite's modules and tests know them here)
    ENV_PACKAGE_ROOT,
    INTERRUPT_GRACE_S,
    JOB_TIMEOUT_S,
    PACKAGE_ROOT,
    ChildFailed,
    ChildTimeout,
    Interrupted,
    check_parent_package,
    child_environment,
    handle_sigterm,
    relayed_output,
    run_child,
    run_job,
)
from .errors import FrameworkUnavailable
from .registry import Status, availability, framework_info, process_groups


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


def run_anywhere(framework: str, function: Callable[..., Any], *args: Any,
                 in_child: Callable[..., Any] | None = None, timeout: float = JOB_TIMEOUT_S,
                 what: str | None = None) -> Any:
    """``function(*args)`` here if ``framework`` can run in this process, else in a child process with the
    framework's environment (its own Keras backend: ``child.run_job``), where ``in_child`` runs instead when given
    (it sets the process up first: threads); ``FrameworkUnavailable`` when it can run in neither."""
    state = availability(framework, probe_device=False)
    if state.ready:
        return function(*args)
    if state.status is not Status.OWN_PROCESS:
        raise FrameworkUnavailable(state.reason)
    return run_job(in_child or function, *args, env=framework_info(framework).child_environment(), timeout=timeout,
                   what=what or f"{framework}: {function.__name__}")


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
