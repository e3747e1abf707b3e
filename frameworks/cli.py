"""Command line: ``python -m frameworks`` (or ``mnist-framework-bench``) ``info | test | bench | accuracy | report |
gate | versions | dashboard | export | scale``, and the commands frameworks bring (their registry entries name them).

Options come from the one option table (``bench/options.py``) and are validated here, once, before any
process starts. Exit statuses are the same for every command: the one table ``errors.EXIT_STATUSES`` (0 done,
1 failed, 2 bad input, 3 nothing to measure here, 4 not fully tested, 130 interrupted), shown by ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .bench import options as opts
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
from .fileio import append_line, check_output
from .registry import FRAMEWORKS


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
    checked = plan(settings, repeats=args.repeats, output_dir=args.output_dir, pytest_args=rest, store=args.store)
    for name, why in checked.left_out.items():
        print(f"not run: {name}: {why}")
    code, _ = run_bench(checked, argv=["python -m frameworks", *argv])
    return code


def cmd_accuracy(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Train every framework and network from several seeds; write the accuracies and their report."""
    from .bench.accuracy import run_accuracy

    code, _ = run_accuracy(frameworks=args.frameworks, networks=args.networks, seeds=args.seeds,
                           devices=args.devices, epochs=args.epochs, threads=args.threads, mnist_dir=args.mnist_dir,
                           output_dir=args.output_dir, argv=argv, world_sizes=args.world_sizes or [1],
                           precisions=args.precisions or ["fp32"])
    return code


def cmd_report(args: argparse.Namespace, rest: list[str]) -> int:
    """Write the Markdown report and charts for result files (a scaling.json adds its Scaling section)."""
    from pathlib import Path

    from .analysis.report import write_report
    from .analysis.scaling import is_scaling, markdown, read
    from .fileio import write_text

    scaling = [p for p in args.results if is_scaling(p)]
    others = [p for p in args.results if p not in scaling]
    sections = [markdown(read(p), args.confidence).splitlines() for p in scaling]
    if not others:  # a scaling run alone: its section is the report
        out = Path(args.output_dir) if args.output_dir else Path(scaling[0]).parent
        if not out.is_dir() and not out.parent.is_dir():
            raise UsageError(f"--output-dir {out}: its parent {out.parent} does not exist")
        out.mkdir(exist_ok=True)
        print(f"wrote {write_text(out / 'scaling-report.md', chr(10).join(line for s in sections for line in s))}")
        return EXIT_OK
    for path in write_report(others, args.output_dir, mixed=args.mixed, claim=args.claim, margin=args.margin,
                             accuracy_margin=args.accuracy_margin / 100, confidence=args.confidence,
                             allow_mismatch=args.allow_mismatch or (), extra_sections=sections):
        print(f"wrote {path}")
    return EXIT_OK


def cmd_gate(args: argparse.Namespace, rest: list[str]) -> int:
    """Compare base and head benchmark runs; exit 1 on a regression, 2 without a usable baseline, 4 when a
    benchmark could not be tested and is not declared with --out-of-scope."""
    from .analysis.gate import gate

    if args.summary:
        check_output(args.summary, "--summary", directory=False)
    code, text = gate(args.base, args.head, min_effect=args.min_effect, alpha=args.alpha, removed=args.removed,
                      out_of_scope=args.out_of_scope)
    print(text)
    if args.summary:
        append_line(args.summary, text)
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
                            argv=["python -m frameworks", *argv], int8=args.int8)
    print(f"\nsummary: {path}\nreport: {path.with_name('export-report.md')}")
    return code


def cmd_scale(args: argparse.Namespace, rest: list[str]) -> int:
    """Prove each framework's data-parallel step equal to one process, then measure scaling; write
    scaling.json, the equivalence figures and the Scaling section."""

    from .analysis.scaling import markdown, read
    from .errors import NamedUnavailable
    from .fileio import write_json, write_text
    from .parallel.check import check
    from .parallel.launch import LaunchFailed, Topology
    from .parallel.modes import choose_mode, data_parallel_frameworks
    from .parallel.scaling import measure
    from .processes import Interrupted, handle_sigterm

    handle_sigterm()
    output = check_output(args.output_dir or "scaling-results", "--output-dir")
    frameworks, left_out = data_parallel_frameworks(args.frameworks)
    for name, why in left_out.items():
        print(f"not run: {name}: {why}")
    if args.frameworks and left_out:  # named, and cannot train data parallel here: a failure, not a skip
        raise NamedUnavailable("; ".join(f"{name}: {why}" for name, why in left_out.items()))
    if not frameworks:
        raise NothingToMeasure("no installed framework can train data parallel here")
    networks = args.networks or ["lenet"]
    sizes = args.world_sizes or [1, 2]
    topology = Topology(args.nnodes, args.node_rank, args.master_addr, args.master_port)
    modes = {}
    for fw in list(frameworks):
        try:
            modes[fw] = choose_mode(fw, args.dp_mode)
        except UsageError as exc:
            print(f"not run: {exc}")
            frameworks.remove(fw)
    if not frameworks:
        raise NothingToMeasure(f"no selected framework has data parallelism in {args.dp_mode} mode")
    proofs = []
    for fw in frameworks:
        for net in networks:
            for n in (s for s in sizes if s > 1):
                try:
                    result = check(fw, net, mode=modes[fw], world_size=n, mnist_dir=args.mnist_dir,
                                   topology=topology)
                except LaunchFailed as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return EXIT_FAILED
                except Interrupted:
                    print("\nscale: interrupted while proving the steps equal: nothing was measured yet",
                          file=sys.stderr)
                    return EXIT_INTERRUPTED
                print(result.describe())
                proofs.append({"framework": fw, "network": net, "mode": modes[fw], "world_size": n,
                               "equal": result.equal, "worst": result.worst, "batchnorm": result.engine_batchnorm})
    write_json(output / "equivalence.json", proofs)
    if not all(p["equal"] for p in proofs):
        print("a data-parallel step is not the same computation as one process: not measuring it", file=sys.stderr)
        return EXIT_FAILED
    path, code = output / "scaling.json", EXIT_OK
    try:
        measure(frameworks, networks, mode_of=modes.__getitem__, world_sizes=sizes, repeats=args.repeats,
                output=output, mnist_dir=args.mnist_dir, rounds=args.steps, topology=topology)
    except LaunchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_FAILED
    except (KeyboardInterrupt, Interrupted):
        code = EXIT_INTERRUPTED
    if not path.exists():
        print(f"scale: {'interrupted' if code == EXIT_INTERRUPTED else 'failed'} before any launch finished: "
              "nothing to keep", file=sys.stderr)
        return code
    document = read(path)
    report = write_text(output / "scaling-report.md", markdown(document))
    if code == EXIT_INTERRUPTED:
        print(f"\nscale: interrupted: kept the {len(document['records'])} rank records that finished in {path}; "
              f"their report: {report}. Run the command again for a complete set", file=sys.stderr)
    else:
        print(f"results: {path}\nreport: {report}")
    return code


def _read_store(paths: Sequence[str]):
    from .analysis.store import load_store

    store = load_store(paths)
    for path, why in store.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    if not store.runs:
        raise UsageError(f"no usable runs in {', '.join(paths)}: give a results store (bench --store DIR) or "
                         "results.json files written by bench")
    return store


def cmd_versions(args: argparse.Namespace, rest: list[str]) -> int:
    """Compare each framework's versions on every benchmark: newer / older throughput, its CI, the verdict."""
    from .analysis.versions import compare_versions, markdown
    from .fileio import write_new

    store = _read_store(args.results)
    if args.output:
        check_output(args.output, "--output", directory=False)
    comparisons = compare_versions(store.runs, frameworks=args.frameworks, networks=args.networks,
                                   all_runs=args.all_runs)
    text = markdown(comparisons, store, all_runs=args.all_runs)
    print(text)
    if args.output:
        print(f"wrote {write_new(args.output, text.encode())}", file=sys.stderr)
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace, rest: list[str]) -> int:
    """Write the static dashboard site from a results store; with --screenshot, check it in a headless browser."""
    from .analysis.dashboard import build

    if args.screenshot:
        check_output(args.screenshot, "--screenshot", directory=False)
    index, store = build(args.results, args.output, title=args.title)
    for path, why in store.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(f"wrote {index} ({len(store.runs)} runs; open it in a browser, no server needed)")
    if args.screenshot:
        from .analysis.browser import check

        result = check(index, screenshot=args.screenshot)
        print(f"checked in {result.browser}: " + ", ".join(f"{k} {v} marks" for k, v in result.marks.items()))
        print(f"screenshot: {args.screenshot}")
        if result.problems:
            print("the page has problems:\n  " + "\n  ".join(result.problems), file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    statuses = "\n".join(f"  {code:3d}  {meaning}" for code, meaning in EXIT_STATUSES.items())
    parser = argparse.ArgumentParser(prog="python -m frameworks", description=__doc__.split("\n\n")[0],
                                     epilog=f"exit statuses, the same for every command:\n{statuses}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="what is installed and usable: frameworks, versions, devices, MNIST")
    opts.add_to_argparse(info, "info")
    info.add_argument("--cuda", action="store_true", help="also ask each framework whether it can use the GPU")

    test = sub.add_parser("test", help="run the tests, one process per Keras backend (other arguments go to "
                                       "pytest)")
    opts.add_to_argparse(test, "test")
    test.add_argument("--full", action="store_true",
                      help="also run the slow accuracy tests in the processes of the frameworks that need their own")

    bench = sub.add_parser("bench", help="benchmark every framework, each in its own process, and report "
                                         "(other arguments go to pytest, e.g. -k)")
    opts.add_to_argparse(bench, "bench")

    accuracy = sub.add_parser("accuracy", help="train each framework and network from several seeds and compare the "
                                               "accuracies (mean, CI, equivalence tests)")
    opts.add_to_argparse(accuracy, "accuracy")

    report = sub.add_parser("report", help="Markdown report and PNG charts from results JSON")
    report.add_argument("results", nargs="+", help="results files written by bench or accuracy (or a process's JSON)")
    opts.add_to_argparse(report, "report")

    gate = sub.add_parser("gate", help="fail when head benchmarks are slower than base (pull-request gate)")
    gate.add_argument("--base", nargs="+", required=True, help="the base branch's results.json files, one per repeat")
    gate.add_argument("--head", nargs="+", required=True, help="the head's results.json files, one per repeat")
    opts.add_to_argparse(gate, "gate")

    stored = "results store directories (python -m frameworks bench --store DIR) or results.json files"
    versions = sub.add_parser("versions", help="compare each framework's versions per benchmark from a results store "
                                               "(newer / older throughput, 95%% CI, verdict), as Markdown")
    versions.add_argument("results", nargs="+", help=stored)
    opts.add_to_argparse(versions, "versions")
    versions.add_argument("--all-runs", action="store_true",
                          help="pool every run of a version (default: each version's latest run on the machine)")
    versions.add_argument("--output", type=opts.user_path,
                          help="also write the Markdown to this file (a new name if it exists)")

    dashboard = sub.add_parser("dashboard", help="a static site (index.html, opens from the file system) with the "
                                                 "comparisons, history and versions of a results store")
    dashboard.add_argument("results", nargs="+", help=stored)
    dashboard.add_argument("--output", type=opts.user_path, required=True,
                           help="the site's directory (created; its index.html is replaced)")
    dashboard.add_argument("--title", default="MNIST framework benchmark", help="the page's title")
    dashboard.add_argument("--screenshot", type=opts.user_path, metavar="PNG",
                           help="open the page in headless Chromium, check it (no console errors, every chart "
                                "drawn) and save a full-page screenshot here")

    scale = sub.add_parser("scale", help="data-parallel training on each framework's own engine: prove a step equal "
                                         "to one process, then measure throughput, scaling efficiency, stragglers "
                                         "and communication over interleaved fresh launches")
    opts.add_to_argparse(scale, "scale")

    export = sub.add_parser("export", help="write each framework's deployment artifacts (its own formats and "
                                           "ONNX), prove each equal to its source in a fresh process, and time its "
                                           "cold start and per-request latency")
    opts.add_to_argparse(export, "export")

    for info in FRAMEWORKS.values():  # a framework's own commands (its registry entry names them)
        if info.command:
            importlib.import_module(info.command).add_parser(sub)
    return parser


PASSES_REST = {"test", "bench"}  # commands whose unknown arguments go to pytest


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
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse printed the usage error
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    if rest and args.command not in PASSES_REST:
        print(f"{parser.prog} {args.command}: error: unrecognized arguments: {' '.join(rest)}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "threads", None):
        from .runtime import oversubscribed

        if warning := oversubscribed(args.threads):
            print(warning, file=sys.stderr)
    commands = {"info": cmd_info, "test": cmd_test, "report": cmd_report, "gate": cmd_gate,
                "versions": cmd_versions, "dashboard": cmd_dashboard, "scale": cmd_scale}
    try:
        if args.command == "bench":
            return cmd_bench(args, rest, argv)
        if args.command == "accuracy":
            return cmd_accuracy(args, rest, argv)
        if args.command == "export":
            return cmd_export(args, rest, argv)
        if args.command in commands:
            return commands[args.command](args, rest)
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
