"""python -m frameworks report: the Markdown report and charts of results files (a scaling.json adds its
Scaling section)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import options as opts
from ..errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    report = sub.add_parser("report", help="Markdown report and PNG charts from results JSON")
    report.add_argument("results", nargs="+", help="results files written by bench or accuracy (or a process's JSON)")
    opts.add_to_argparse(report, "report")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Write the Markdown report and charts for result files (a scaling.json adds its Scaling section)."""
    from pathlib import Path

    from ..analysis.report import write_report
    from ..analysis.scaling import is_scaling, markdown, read
    from ..fileio import check_output, write_text

    scaling = [p for p in args.results if is_scaling(p)]
    others = [p for p in args.results if p not in scaling]
    sections = [markdown(read(p), args.confidence).splitlines() for p in scaling]
    if not others:  # a scaling run alone: its section is the report
        out = check_output(args.output_dir or Path(scaling[0]).parent, "--output-dir")  # as write_report checks it
        print(f"wrote {write_text(out / 'scaling-report.md', chr(10).join(line for s in sections for line in s))}")
        return EXIT_OK
    for path in write_report(others, args.output_dir, mixed=args.mixed, claim=args.claim, margin=args.margin,
                             accuracy_margin=args.accuracy_margin / 100, confidence=args.confidence,
                             allow_mismatch=args.allow_mismatch or (), extra_sections=sections):
        print(f"wrote {path}")
    return EXIT_OK
