"""Command line: ``python -m frameworks`` (or ``mnist-framework-bench``) ``info | test | bench | accuracy | report |
gate | versions | dashboard | export | scale``, and the commands frameworks bring (their registry entries name them).

Options come from the one option table (``options.py``) and are validated here, once, before any
process starts. Exit statuses are the same for every command: the one table ``errors.EXIT_STATUSES`` (0 done,
1 failed, 2 bad input, 3 nothing to measure here, 4 not fully tested, 130 interrupted), shown by ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from .errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_STATUSES,
    EXIT_USAGE,
    BenchError,
    DataError,
    NothingToMeasure,
    UsageError,
)
from .registry import FRAMEWORKS, plugin_problems


def build_parser() -> argparse.ArgumentParser:
    statuses = "\n".join(f"  {code:3d}  {meaning}" for code, meaning in EXIT_STATUSES.items())
    parser = argparse.ArgumentParser(prog="python -m frameworks", description=__doc__.split("\n\n")[0],
                                     epilog=f"exit statuses, the same for every command:\n{statuses}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for verb in VERBS:  # each command declares itself in its own module
        command_module(verb).add_parser(sub)
    for info in FRAMEWORKS.values():  # a framework's own commands (its registry entry names them)
        if info.command:
            importlib.import_module(info.command).add_parser(sub)
    return parser


# The suite's commands, one module each in frameworks/commands/ (``add_parser`` and ``run``), in --help order.
VERBS = ("info", "test", "bench", "accuracy", "report", "gate", "versions", "dashboard", "scale", "export")
PASSES_REST = {"test", "bench"}  # commands whose unknown arguments go to pytest


def command_module(verb: str) -> ModuleType:
    """The module of one of the suite's commands."""
    return importlib.import_module(f"{__package__}.commands.{verb}")


def absolute_environment_paths() -> None:
    """Paths users give through the environment, resolved where they were typed: child processes run in other
    directories."""
    import os

    for name in ("MNIST_DIR", "MFB_CACHE", "XDG_CACHE_HOME"):
        if os.environ.get(name):
            os.environ[name] = os.path.abspath(os.path.expanduser(os.environ[name]))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    absolute_environment_paths()
    if problems := plugin_problems():  # every command refuses (info included: it exits 1 with the message)
        command = next((a for a in argv if not a.startswith("-")), "")
        print(f"python -m frameworks{' ' + command if command else ''}: error: {problems}", file=sys.stderr)
        return EXIT_FAILED
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse printed the usage error
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    if rest and args.command not in PASSES_REST:
        print(f"{parser.prog} {args.command}: error: unrecognized arguments: {' '.join(rest)}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "threads", None):
        from .process_settings import oversubscribed

        if warning := oversubscribed(args.threads):
            print(warning, file=sys.stderr)
    try:
        if args.command in VERBS:
            return command_module(args.command).run(args, rest, argv)
        return args.run(args)  # a framework's own command
    except (UsageError, DataError) as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NothingToMeasure as exc:
        print(f"{parser.prog} {args.command}: nothing to measure here: {exc}", file=sys.stderr)
        return EXIT_NOTHING
    except BenchError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\n{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
