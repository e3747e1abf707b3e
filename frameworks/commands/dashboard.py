"""python -m frameworks dashboard: the static dashboard site of a results store, optionally checked in a
headless browser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import options as opts
from ..errors import (
    EXIT_FAILED,
    EXIT_OK,
)
from ..fileio import check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    stored = "results store directories (python -m frameworks bench --store DIR) or results.json files"
    dashboard = sub.add_parser("dashboard", help="a static site (index.html, opens from the file system) with the "
                                                 "comparisons, history and versions of a results store")
    dashboard.add_argument("results", nargs="+", help=stored)
    dashboard.add_argument("--output", type=opts.user_path, required=True,
                           help="the site's directory (created; its index.html is replaced)")
    dashboard.add_argument("--title", default="MNIST framework benchmark", help="the page's title")
    dashboard.add_argument("--screenshot", type=opts.user_path, metavar="PNG",
                           help="open the page in headless Chromium, check it (no console errors, every chart "
                                "drawn) and save a full-page screenshot here")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Write the static dashboard site from a results store; with --screenshot, check it in a headless browser."""
    from ..analysis.dashboard import build

    if args.screenshot:
        check_output(args.screenshot, "--screenshot", directory=False)
    index, store = build(args.results, args.output, title=args.title)
    for path, why in store.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(f"wrote {index} ({len(store.runs)} runs; open it in a browser, no server needed)")
    if args.screenshot:
        from ..analysis.browser import check

        result = check(index, screenshot=args.screenshot)
        print(f"checked in {result.browser}: " + ", ".join(f"{k} {v} marks" for k, v in result.marks.items()))
        print(f"screenshot: {args.screenshot}")
        if result.problems:
            print("the page has problems:\n  " + "\n  ".join(result.problems), file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK
