"""Which frameworks can train data parallel here, and in which mode."""

from __future__ import annotations

from collections.abc import Sequence

from ..adapters.data_parallel import PROCESSES
from ..errors import UsageError
from ..registry import FRAMEWORKS, framework_info, installed_here


def data_parallel_frameworks(selected: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """(frameworks that are installed and have data parallelism, {left out: why})."""
    names = list(selected or FRAMEWORKS)
    installed, left_out = installed_here(names)
    ready = []
    for name in installed:
        info = framework_info(name)
        if info.data_parallel:
            ready.append(name)
        else:
            left_out[name] = info.no_data_parallel
    return ready, left_out


def choose_mode(framework: str, asked: str | None) -> str:
    """The mode asked for, or processes where the framework has it, else its only mode."""
    info = framework_info(framework)
    modes = list(info.data_parallel)
    if asked is None:
        return PROCESSES if PROCESSES in modes else modes[0]
    if asked not in modes:
        why = info.missing_modes.get(asked, f"it has: {', '.join(modes)}")
        raise UsageError(f"{framework} has no data parallelism in {asked} mode ({why})")
    return asked
