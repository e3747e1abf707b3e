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


# Exit statuses of the command line, the same for every command.
EXIT_OK = 0  # everything asked for ran and produced its figures
EXIT_FAILED = 1  # something failed, crashed, regressed, or could not run although asked for by name
EXIT_USAGE = 2  # a bad option or input: nothing was run
EXIT_NOTHING = 3  # nothing to measure here: everything asked for was skipped (the summary says why)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: what finished was kept
