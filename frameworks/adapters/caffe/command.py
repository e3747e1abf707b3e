"""``python -m frameworks caffe SOLVER.prototxt [--iterations N]``: train a user's own Caffe solver (and its
nets) on the suite's verified MNIST LMDBs and print what the solver's nets output. Imports no Caffe until run."""

from __future__ import annotations

import argparse
from typing import Any

from ... import options as opts
from ...errors import EXIT_OK, NamedUnavailable


def add_parser(sub: Any) -> None:
    """Register the ``caffe`` command."""
    parser = sub.add_parser("caffe", help="train your own Caffe solver prototxt on the suite's verified MNIST LMDBs")
    parser.add_argument("solver", help="the solver prototxt (its nets' Data layers are pointed at the MNIST LMDBs)")
    parser.add_argument("--iterations", type=opts.positive_int,
                        help="iterations to run (default: the solver's max_iter)")
    parser.add_argument("--net", help="the net prototxt, if the solver's path to it does not resolve")
    parser.add_argument("--timeout", type=opts.positive_float, default=3600.0,
                        help="seconds before the run is stopped (default 3600)")
    opts.add_to_argparse(parser, "command")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the solver in a child process (a Caffe FATAL cannot abort this one) and print its outputs."""
    from ... import data
    from ...child import handle_sigterm
    from ...registry import availability
    from .user_solver import run_user_solver

    handle_sigterm()  # a cancellation is an interrupt too: the solver's child process is ended with it
    state = availability("caffe", probe_device=False)
    if not state.ready:
        raise NamedUnavailable(state.reason)  # this command names caffe: a failure, not a skip
    result = run_user_solver(args.solver, args.iterations, net_path=args.net, mnist=data.load(args.mnist_dir),
                             timeout=args.timeout)
    print("read the suite's verified MNIST LMDBs instead of the nets' own data:")
    for line in result.replaced:
        print(f"  {line}")
    print(f"{args.solver}: {result.iterations} iterations in {result.seconds:.1f} s")
    for name, value in result.train_outputs.items():
        print(f"  train {name} = {value:.6g}")
    for i, outputs in enumerate(result.test_outputs):
        for name, value in outputs.items():
            print(f"  test net #{i} {name} = {value:.6g}")
    return EXIT_OK
