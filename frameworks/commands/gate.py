"""python -m frameworks gate: the pull-request gate, base runs against head runs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import options as opts
from ..fileio import append_line, check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    gate = sub.add_parser("gate", help="fail when head benchmarks are slower than base (pull-request gate)")
    gate.add_argument("--base", nargs="+", required=True, help="the base branch's results.json files, one per repeat")
    gate.add_argument("--head", nargs="+", required=True, help="the head's results.json files, one per repeat")
    opts.add_to_argparse(gate, "gate")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Compare base and head benchmark runs; exit 1 on a regression, 2 without a usable baseline, 4 when a
    benchmark could not be tested and is not declared with --out-of-scope."""
    from ..analysis.gate import gate

    if args.summary:
        check_output(args.summary, "--summary", directory=False)
    code, text = gate(args.base, args.head, min_effect=args.min_effect, alpha=args.alpha, removed=args.removed,
                      out_of_scope=args.out_of_scope)
    print(text)
    if args.summary:
        append_line(args.summary, text)
    return code
