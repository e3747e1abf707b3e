"""python -m frameworks scale: data-parallel training on each framework's own engine, proven equal to one
process, then measured."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import options as opts
from ..errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    NothingToMeasure,
    UsageError,
)
from ..fileio import check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    scale = sub.add_parser("scale", help="data-parallel training on each framework's own engine: prove a step equal "
                                         "to one process, then measure throughput, scaling efficiency, stragglers "
                                         "and communication over interleaved fresh launches")
    opts.add_to_argparse(scale, "scale")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Prove each framework's data-parallel step equal to one process, then measure scaling; write
    scaling.json, the equivalence figures and the Scaling section."""

    from ..analysis.scaling import markdown, read
    from ..errors import NamedUnavailable
    from ..fileio import write_json, write_text
    from ..parallel.check import check
    from ..parallel.launch import LaunchFailed, Topology
    from ..parallel.modes import choose_mode, data_parallel_frameworks
    from ..parallel.scaling import measure
    from ..processes import Interrupted, handle_sigterm

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
