"""The suite's exceptions: each says what went wrong and what to do about it."""

from __future__ import annotations

from collections.abc import Iterable


class BenchError(Exception):
    """Base class of the suite's own errors."""


class UnknownNameError(BenchError, ValueError):
    """A framework, network or device name that the suite does not know."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid)}")


class FrameworkUnavailable(BenchError):
    """A framework (or a device for it) that cannot run in this process or on this machine."""


class PluginError(BenchError):
    """An installed framework plugin (an entry point) that cannot be loaded, names no ``FrameworkInfo``, or takes a
    framework name already taken: nothing runs until it is fixed or uninstalled."""


class DataError(BenchError):
    """MNIST files that are missing, corrupt or unreadable."""


class InputError(BenchError, ValueError):
    """A batch that a model cannot take: wrong shape, dtype, values or labels."""


class OutputError(BenchError, OSError):
    """A result, report or cache file that could not be written (full disk, no permission...)."""


class UsageError(BenchError, ValueError):
    """An option or argument the user gave that cannot be used, with what to give instead."""


class NothingToMeasure(BenchError):
    """Nothing that was asked for can run on this machine (not installed, no such device...)."""


class NamedUnavailable(BenchError):
    """A framework or device the user named that cannot run here: a failure (exit 1), not a skip (exit 3)."""


# Exit statuses of the command line, the same for every command. ``EXIT_STATUSES`` is the one table of them (the
# documentation's table is generated from it; tests/test_exit_statuses.py drives every command into each).
EXIT_OK = 0  # everything asked for ran and produced its figures
EXIT_FAILED = 1  # something failed, crashed, regressed, or could not run although asked for by name
EXIT_USAGE = 2  # a bad option, input or output path: nothing was run
EXIT_NOTHING = 3  # nothing to measure here: everything asked for was skipped (the summary says why)
EXIT_UNTESTED = 4  # ran without failing, but some of it could not be tested (each named, with why)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: what finished was kept

EXIT_STATUSES: dict[int, str] = {
    EXIT_OK: "done: everything asked for ran and produced its figures (the gate: no regression, all tested)",
    EXIT_FAILED: "failed: something failed, crashed or regressed (even if every process did), a result could not be "
                 "written, a framework or device named by an option could not run, or an installed framework plugin is "
                 "broken or takes a name already taken (every command refuses to run, naming it)",
    EXIT_USAGE: "bad input: an option, input file, MNIST copy or output path that cannot be used (named); nothing "
                "was run and nothing written",
    EXIT_NOTHING: "nothing to measure here: everything asked for (by default, not by name) was skipped; the "
                  "summary says why",
    EXIT_UNTESTED: "not fully tested: nothing failed, but some benchmarks could not be tested (each named, with "
                   "why); the gate passes them only when declared with --out-of-scope",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM): what finished was kept, merged and reported",
}
