"""Command line: ``python -m frameworks`` (or ``mnist-framework-bench``) ``info | test | bench | report | gate |
export | caffe``.

Options come from the one option table (``bench/options.py``) and are validated here, once, before any
process starts. Exit statuses are the same for every command (``errors.EXIT_*``): 0 done, 1 failed,
2 bad input, 3 nothing to measure here, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .bench import options as opts
from .errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_USAGE,
    BenchError,
    DataError,
    NothingToMeasure,
    UsageError,
)


def cmd_info(args: argparse.Namespace, rest: list[str]) -> int:
    """Print what is installed and usable: frameworks, versions, devices, MNIST; fail if MNIST is unusable."""
    from .environment import describe

    lines, mnist_usable = describe(args.mnist_dir, probe_cuda=args.cuda)
    print("\n".join(lines))
    return EXIT_OK if mnist_usable else EXIT_USAGE


def _validate_pytest_args(rest: Sequence[str]) -> None:
    """Check the suite's own options among pytest arguments once, here, rather than once per child process."""
    checker = argparse.ArgumentParser(prog="pytest", add_help=False, exit_on_error=False)
    for option in opts.OPTIONS:
        if opts.PYTEST in option.scopes:
            checker.add_argument(option.flag, dest=option.dest, **option.kwargs())
    try:
        checker.parse_known_args(list(rest))
    except argparse.ArgumentError as exc:
        raise UsageError(str(exc)) from None


def cmd_test(args: argparse.Namespace, rest: list[str]) -> int:
    """Run the tests: one pytest process for everything that can share one, one per other Keras backend."""
    from .processes import Interrupted, groups_sharing, handle_sigterm, run_pytest
    from .registry import FRAMEWORKS

    _validate_pytest_args(rest)
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


def cmd_bench(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Benchmark every framework in processes of its own, merge the results, write the report."""
    from .bench.run import plan, run_bench

    settings = opts.Settings.from_values(vars(args))
    if args.quick:
        settings, notes = settings.with_quick(opts.explicit_dests(argv))
        print("\n".join(notes))
    checked = plan(settings, repeats=args.repeats, output_dir=args.output_dir, pytest_args=rest)
    for name, why in checked.left_out.items():
        print(f"not run: {name}: {why}")
    code, _ = run_bench(checked, argv=["python -m frameworks", *argv])
    return code


def cmd_report(args: argparse.Namespace, rest: list[str]) -> int:
    """Write the Markdown report and charts for result files."""
    from .analysis.report import write_report

    for path in write_report(args.results, args.output_dir):
        print(f"wrote {path}")
    return EXIT_OK


def cmd_gate(args: argparse.Namespace, rest: list[str]) -> int:
    """Compare base and head benchmark runs; exit 1 on a regression, 2 without a usable baseline."""
    from .analysis.gate import gate

    code, text = gate(args.base, args.head, threshold=args.threshold, noise_factor=args.noise_factor)
    print(text)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write(text + "\n")
    return code


def cmd_export(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Export every framework's deployment artifacts, check each against its source, time its serving."""
    from .deployment import plan, run_export
    from .runtime import configure_process

    checked = plan(args.frameworks, args.networks, args.output_dir, args.weights, args.mnist_dir)
    for name, why in checked.left_out.items():
        print(f"not exported: {name}: {why}")
    threads = configure_process(args.threads)
    code, path = run_export(checked, threads=threads, requests=args.latency_requests or 1000,
                            latency_batches=args.latency_batches or [1], mnist_dir=args.mnist_dir,
                            argv=["python -m frameworks", *argv])
    print(f"\nsummary: {path}\nreport: {path.with_name('export-report.md')}")
    return code


def cmd_caffe(args: argparse.Namespace, rest: list[str]) -> int:
    """Train a user's own Caffe solver on the suite's MNIST LMDBs and print its outputs."""
    from . import data
    from .registry import availability

    state = availability("caffe", probe_device=False)
    if not state.ready:
        raise NothingToMeasure(state.reason)
    from .adapters.caffe.user_solver import run_user_solver

    result = run_user_solver(args.solver, args.iterations, net_path=args.net, mnist=data.load(args.mnist_dir),
                             timeout=args.timeout)
    print(f"{args.solver}: {result.iterations} iterations in {result.seconds:.1f} s")
    for name, value in result.train_outputs.items():
        print(f"  train {name} = {value:.6g}")
    for i, outputs in enumerate(result.test_outputs):
        for name, value in outputs.items():
            print(f"  test net #{i} {name} = {value:.6g}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m frameworks", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="what is installed and usable: frameworks, versions, devices, MNIST")
    opts.add_to_argparse(info, "info")
    info.add_argument("--cuda", action="store_true", help="also ask each framework whether it can use the GPU")

    test = sub.add_parser("test", help="run the tests, one process per Keras backend (other arguments go to "
                                       "pytest)")
    opts.add_to_argparse(test, "test")
    test.add_argument("--full", action="store_true",
                      help="also run the slow accuracy tests for Keras on JAX and on torch")

    bench = sub.add_parser("bench", help="benchmark every framework, each in its own process, and report "
                                         "(other arguments go to pytest, e.g. -k)")
    opts.add_to_argparse(bench, "bench")

    report = sub.add_parser("report", help="Markdown report and PNG charts from results JSON")
    report.add_argument("results", nargs="+", help="results.json written by bench (or a process's JSON)")
    report.add_argument("--output-dir", type=opts.user_path, help="where to write (default: beside the first file)")

    gate = sub.add_parser("gate", help="fail when head benchmarks are slower than base (pull-request gate)")
    gate.add_argument("--base", nargs="+", required=True, help="the base branch's result JSON, one per repeat")
    gate.add_argument("--head", nargs="+", required=True, help="the head's result JSON, one per repeat")
    gate.add_argument("--threshold", type=opts.fraction, default=0.10, help="allowed slowdown (default 0.10 = 10%%)")
    gate.add_argument("--noise-factor", type=opts.positive_float, default=2.0,
                      help="the threshold widens to this many times the spread between repeats (default 2)")
    gate.add_argument("--summary", help="also append the Markdown to this file (e.g. $GITHUB_STEP_SUMMARY)")

    export = sub.add_parser("export", help="write each framework's deployment artifacts (ONNX, torch.export, "
                                           "SavedModel, Caffe's deploy pair), prove each equal to its source in a "
                                           "fresh process, and time its cold start and per-request latency")
    opts.add_to_argparse(export, "export")

    caffe = sub.add_parser("caffe", help="train your own Caffe solver prototxt on the suite's verified MNIST LMDBs")
    caffe.add_argument("solver", help="the solver prototxt (its net's Data layers are pointed at the MNIST LMDBs)")
    caffe.add_argument("--iterations", type=opts.positive_int,
                       help="iterations to run (default: the solver's max_iter)")
    caffe.add_argument("--net", help="the net prototxt, if the solver's path to it does not resolve")
    caffe.add_argument("--timeout", type=opts.positive_float, default=3600.0,
                       help="seconds before the run is stopped (default 3600)")
    opts.add_to_argparse(caffe, "caffe")
    return parser


PASSES_REST = {"test", "bench"}  # commands whose unknown arguments go to pytest


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse printed the usage error
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    if rest and args.command not in PASSES_REST:
        print(f"{parser.prog} {args.command}: error: unrecognized arguments: {' '.join(rest)}", file=sys.stderr)
        return EXIT_USAGE
    commands = {"info": cmd_info, "test": cmd_test, "report": cmd_report, "gate": cmd_gate, "caffe": cmd_caffe}
    try:
        if args.command == "bench":
            return cmd_bench(args, rest, argv)
        if args.command == "export":
            return cmd_export(args, rest, argv)
        return commands[args.command](args, rest)
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
