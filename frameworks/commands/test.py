"""python -m frameworks test: the tests, one pytest process for everything that can share one and one per other
Keras backend; other arguments go to pytest."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import options as opts
from ..errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
)
from ..registry import FRAMEWORKS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    test = sub.add_parser("test", help="run the tests, one process per group of frameworks that can share "
                                       "one (other arguments go to pytest)")
    opts.add_to_argparse(test, "test")
    test.add_argument("--full", action="store_true",
                      help="also run the slow accuracy tests in the processes of the frameworks that need their own")


def validate_pytest_args(rest: Sequence[str]) -> None:
    """Check the suite's own options among pytest arguments once, here, rather than once per child process."""
    checker = argparse.ArgumentParser(prog="pytest", add_help=False, exit_on_error=False)
    for option in opts.OPTIONS:
        if opts.PYTEST in option.scopes:
            checker.add_argument(option.flag, dest=option.dest, **option.kwargs())
    try:
        checker.parse_known_args(list(rest))
    except argparse.ArgumentError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Run the tests: one pytest process for everything that can share one, one per other Keras backend."""
    from ..processes import Interrupted, groups_sharing, handle_sigterm, run_pytest

    validate_pytest_args(rest)
    handle_sigterm()
    frameworks = args.frameworks or list(FRAMEWORKS)
    groups = groups_sharing(frameworks)
    results = []
    for i, group in enumerate(groups):
        extra = list(rest)
        if i == 0:  # the main process compares every framework asked for (others through child processes)
            extra = ["--equivalence-frameworks", ",".join(frameworks), *extra]
        else:  # another backend's process: that framework's own tests (without the slow ones unless --full)
            slow = [] if args.full or "-m" in extra else ["-m", "not slow"]
            extra = ["--framework-tests-only", *slow, *extra]
        try:
            results.append((group.label, run_pytest(group, extra)))
        except Interrupted:
            print("\ninterrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
    print("\n=== summary")
    for label, code in results:
        words = {0: "passed", 5: "no tests collected"}.get(code, f"FAILED (exit {code})")
        print(f"  {label:40s} {words}")
    return EXIT_OK if all(code == 0 for _, code in results) else EXIT_FAILED
