"""python -m frameworks versions: each framework's versions compared per benchmark from a results store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import options as opts
from ..errors import (
    EXIT_OK,
    UsageError,
)
from ..fileio import check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    stored = "results store directories (python -m frameworks bench --store DIR) or results.json files"
    versions = sub.add_parser("versions", help="compare each framework's versions per benchmark from a results store "
                                               "(newer / older throughput, 95%% CI, verdict), as Markdown")
    versions.add_argument("results", nargs="+", help=stored)
    opts.add_to_argparse(versions, "versions")
    versions.add_argument("--all-runs", action="store_true",
                          help="pool every run of a version (default: each version's latest run on the machine)")
    versions.add_argument("--output", type=opts.user_path,
                          help="also write the Markdown to this file (a new name if it exists)")


def read_store(paths: Sequence[str]):
    from ..analysis.store import load_store

    store = load_store(paths)
    for path, why in store.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    if not store.runs:
        raise UsageError(f"no usable runs in {', '.join(paths)}: give a results store (bench --store DIR) or "
                         "results.json files written by bench")
    return store


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Compare each framework's versions on every benchmark: newer / older throughput, its CI, the verdict."""
    from ..analysis.versions import compare_versions, markdown
    from ..fileio import write_new

    store = read_store(args.results)
    if args.output:
        check_output(args.output, "--output", directory=False)
    comparisons = compare_versions(store.runs, frameworks=args.frameworks, networks=args.networks,
                                   all_runs=args.all_runs)
    text = markdown(comparisons, store, all_runs=args.all_runs)
    print(text)
    if args.output:
        print(f"wrote {write_new(args.output, text.encode())}", file=sys.stderr)
    return EXIT_OK
