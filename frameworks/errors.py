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
