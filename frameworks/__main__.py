"""Command line: ``python -m frameworks info | test | bench | report``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import FRAMEWORKS
from .errors import UnknownNameError
from .selection import parse_list


def cmd_info(args: argparse.Namespace) -> int:
    """Print what is installed and usable: frameworks, versions, devices, MNIST."""
    from .environment import describe

    print("\n".join(describe(args.mnist_dir, probe_cuda=args.cuda)))
    return 0


def cmd_test(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """Run the tests: one pytest process for everything that can share one, one per other Keras backend."""
    from .processes import run_pytest, test_groups

    frameworks = parse_list(args.frameworks, "framework", FRAMEWORKS) or list(FRAMEWORKS)
    results = []
    for group in test_groups(frameworks):
        extra = list(pytest_args)
        if group.keras_backend == "tensorflow":  # the main process compares every framework asked for
            extra = ["--equivalence-frameworks", ",".join(frameworks), *extra]
        else:  # another backend's process: that framework's own tests (without the slow ones unless --full)
            slow = [] if args.full or "-m" in extra else ["-m", "not slow"]
            extra = ["--framework-tests-only", *slow, *extra]
        results.append((group.label, run_pytest(group, extra)))
    print("\n=== summary")
    for label, code in results:
        print(f"  {label:40s} {'passed' if code == 0 else f'FAILED (exit {code})'}")
    return 0 if all(code == 0 for _, code in results) else 1


def cmd_bench(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """Benchmark every framework in its own process, merge the JSON, write the report."""
    from pathlib import Path

    from .bench import run_bench
    from .selection import parse_list as parse

    frameworks = parse(args.frameworks, "framework", FRAMEWORKS)
    extra = list(pytest_args)
    for option in ("networks", "devices", "batch_sizes", "variants", "threads", "mnist_dir"):
        value = getattr(args, option)
        if value is not None:
            extra += [f"--{option.replace('_', '-')}", str(value)]
    if args.time_to_accuracy:
        extra.append("--time-to-accuracy")
    if args.quick:
        extra += ["--epoch-images", "8192", "--benchmark-max-time", "0.3"]
    code, _ = run_bench(frameworks, Path(args.output_dir), extra, argv=sys.argv)
    return code


def cmd_report(args: argparse.Namespace) -> int:
    """Write the Markdown report and charts for result files."""
    from .report import write_report

    try:
        paths = write_report(args.results, args.output_dir)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    """Compare base and head benchmark runs; exit 1 on a regression, 2 without a usable baseline."""
    from .gate import gate

    code, text = gate(args.base, args.head, threshold=args.threshold, noise_factor=args.noise_factor)
    print(text)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write(text + "\n")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m frameworks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="what is installed and usable: frameworks, versions, devices, MNIST")
    info.add_argument("--mnist-dir", help="directory holding the MNIST files (default: MNIST_DIR, then the cache)")
    info.add_argument("--cuda", action="store_true", help="also ask each framework whether it can use the GPU")
    test = sub.add_parser("test", help="run the tests (other pytest arguments are passed on)")
    test.add_argument("--frameworks", help="comma list (default: all; each Keras backend in its own process)")
    test.add_argument("--full", action="store_true",
                      help="also run the slow accuracy tests for Keras on JAX and on torch")
    bench = sub.add_parser("bench", help="benchmark every framework, each in its own process, and report "
                                          "(other pytest arguments are passed on)")
    bench.add_argument("--frameworks", help="comma list (default: every installed framework and Keras backend)")
    bench.add_argument("--networks", help="comma list (default: keras_cnn,mlp_bn,lenet)")
    bench.add_argument("--devices", help="comma list: cpu, cuda (default: cpu, plus cuda with a GPU)")
    bench.add_argument("--batch-sizes", help="comma list of step batch sizes to sweep (default: 128)")
    bench.add_argument("--variants", help="comma list of variants (default: all: eager, compile, jit...)")
    bench.add_argument("--threads", type=int, help="intra-op threads for every framework (default: all cores)")
    bench.add_argument("--mnist-dir", help="directory holding the MNIST files (default: MNIST_DIR, the cache)")
    bench.add_argument("--time-to-accuracy", action="store_true",
                       help="also measure time to the target accuracy (minutes per framework and network)")
    bench.add_argument("--quick", action="store_true",
                       help="shorter: epochs of 8,192 images and 0.3 s of timed rounds per step")
    bench.add_argument("--output-dir", default="bench-results", help="where runs are written (default: bench-results)")
    report = sub.add_parser("report", help="Markdown table and PNG charts from benchmark JSON")
    report.add_argument("results", nargs="+", help="JSON written by bench, or by pytest --benchmark-json")
    report.add_argument("--output-dir", help="where to write (default: beside the first file)")
    gate = sub.add_parser("gate", help="fail when head benchmarks are slower than base (pull-request gate)")
    gate.add_argument("--base", nargs="+", required=True, help="the base branch's result JSON, one per repeat")
    gate.add_argument("--head", nargs="+", required=True, help="the head's result JSON, one per repeat")
    gate.add_argument("--threshold", type=float, default=0.10, help="allowed slowdown (default 0.10 = 10%%)")
    gate.add_argument("--noise-factor", type=float, default=2.0,
                      help="the threshold widens to this many times the spread between repeats (default 2)")
    gate.add_argument("--summary", help="also append the Markdown to this file (e.g. $GITHUB_STEP_SUMMARY)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "info":
            if rest:
                parser.error(f"unrecognized arguments: {' '.join(rest)}")
            return cmd_info(args)
        if args.command == "test":
            return cmd_test(args, rest)
        if args.command == "bench":
            return cmd_bench(args, rest)
        if args.command == "gate":
            if rest:
                parser.error(f"unrecognized arguments: {' '.join(rest)}")
            return cmd_gate(args)
        if args.command == "report":
            if rest:
                parser.error(f"unrecognized arguments: {' '.join(rest)}")
            return cmd_report(args)
    except UnknownNameError as exc:
        parser.error(str(exc))
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
