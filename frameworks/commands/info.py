"""python -m frameworks info: what is installed and usable here (frameworks, versions, devices, MNIST)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import options as opts
from ..errors import (
    EXIT_OK,
    EXIT_USAGE,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    info = sub.add_parser("info", help="what is installed and usable: frameworks, versions, devices, MNIST")
    opts.add_to_argparse(info, "info")
    info.add_argument("--cuda", action="store_true", help="also ask each framework whether it can use the GPU")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Print what is installed and usable: frameworks, versions, devices, MNIST; fail if MNIST is unusable."""
    from ..environment import describe

    lines, mnist_usable = describe(args.mnist_dir, probe_cuda=args.cuda)
    print("\n".join(lines))
    return EXIT_OK if mnist_usable else EXIT_USAGE
