"""A user's own Caffe solver and net prototxts, validated and trained on the suite's MNIST LMDBs in a child
process (an invalid definition is a glog FATAL that would abort the whole process).

``python -m frameworks caffe SOLVER.prototxt [--iterations N]`` runs this module's ``run_user_solver``.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ... import data
from ...child import ChildFailed, exit_reason, run_job
from ...errors import UsageError
from . import mnist_lmdb
from . import prototxt as caffe_prototxt
from .adapter import _caffe
from .prototxt import CaffeError, Kind, Parsed


@dataclass(frozen=True)
class SolverResult:
    """What a user's solver reported: train-net outputs after the last iteration, and each test net's
    outputs averaged over its ``test_iter`` batches (as Caffe's ``Solver::Test`` prints them)."""

    iterations: int
    seconds: float
    train_outputs: dict[str, float]
    test_outputs: list[dict[str, float]]
    replaced: list[str] = field(default_factory=list)  # each Data layer's source before it read the suite's LMDBs


def validate_prototxt(path: str | os.PathLike, kind: Kind | None = None, *, timeout: float = 300) -> Parsed:
    """Parse a net or solver prototxt, then instantiate it in a child process (a net in both phases).

    Raises ``PrototxtError`` with the line and column of a syntax error, or ``CaffeError`` with Caffe's
    own FATAL message when Caffe rejects the definition; the calling process is never aborted.
    """
    parsed = caffe_prototxt.parse(path, kind)
    _run_child({"action": "instantiate", "kind": parsed.kind, "path": str(Path(path).resolve())}, timeout,
               what=str(path))
    return parsed


def run_user_solver(solver_path: str | os.PathLike, iterations: int | None = None, *,
                    net_path: str | os.PathLike | None = None, mnist: data.MNIST | None = None,
                    seed: int | None = 0, timeout: float = 3600) -> SolverResult:
    """Run a user's solver (and its train/test net) on the suite's MNIST LMDBs in a child process.

    Only the data paths change, in temporary copies: every ``Data`` layer's ``source`` points at the LMDB of
    its phase, the solver's net files at the rewritten copies, ``snapshot_prefix`` into the temporary
    directory, and ``solver_mode`` is CPU (this build has no GPU). ``random_seed`` is set to ``seed`` only
    when the solver sets none (``seed=None`` keeps Caffe's random seeding). The net file is found as
    written (from the current directory), next to the solver, or at ``net_path``. Runs ``iterations``
    steps (default: the solver's ``max_iter``), then each test net over its ``test_iter`` batches.
    """
    solver_path = Path(solver_path)
    dbs = mnist_lmdb.ensure(mnist)
    with tempfile.TemporaryDirectory(prefix="mfb-caffe-user-") as tmp:
        replaced: list[str] = []
        path = prepare_solver(solver_path, dbs, Path(tmp), net_path=net_path, seed=seed, replaced=replaced)
        sp = caffe_prototxt.parse(path, "solver").message
        steps = sp.max_iter if iterations is None else iterations
        result = _run_child({"action": "solve", "path": str(path), "iterations": steps,
                             "test_iter": list(sp.test_iter)}, timeout, what=str(solver_path))
    return SolverResult(**result, replaced=replaced)


def prepare_solver(solver_path: Path, dbs: mnist_lmdb.MnistLmdb, directory: Path, *,
                   net_path: str | os.PathLike | None = None, seed: int | None = 0,
                   train_only: bool = False, replaced: list[str] | None = None) -> Path:
    """A copy of a solver (and its nets) in ``directory`` reading the MNIST LMDBs; returns the solver's path.

    Only what must change changes: every ``Data`` layer's ``source``, the nets' paths, ``snapshot_prefix``,
    ``solver_mode`` (CPU), and ``random_seed`` when the solver sets none. ``train_only`` also moves the
    periodic tests and snapshots out of reach and silences the display (for timing training alone).
    ``replaced`` collects what each ``Data`` layer read before.
    """
    sp = caffe_prototxt.parse(solver_path, "solver").message
    pb2 = caffe_prototxt.caffe_pb2()
    pointed = 0
    for key in ("net", "train_net"):
        if sp.HasField(key):
            path, count = _rewritten_net(getattr(sp, key), solver_path, net_path, dbs, directory, replaced)
            setattr(sp, key, str(path))
            pointed += count
    for i, name in enumerate(sp.test_net):
        path, count = _rewritten_net(name, solver_path, net_path, dbs, directory, replaced)
        sp.test_net[i] = str(path)
        pointed += count
    for inline in (sp.net_param, sp.train_net_param, *sp.test_net_param):
        pointed += caffe_prototxt.point_data_at(inline, dbs.train, dbs.test, replaced)
    if not pointed:
        raise CaffeError(f"{solver_path}: its nets have no Data layer to read the MNIST LMDBs")
    sp.snapshot_prefix = str(directory / "snapshot")
    sp.solver_mode = pb2.SolverParameter.CPU
    if seed is not None and not sp.HasField("random_seed"):
        sp.random_seed = seed
    if train_only:
        sp.test_interval = caffe_prototxt.MAX_ITER
        sp.test_initialization = False
        sp.snapshot = 0
        sp.display = 0
    return caffe_prototxt.write(sp, directory / solver_path.name)


def _rewritten_net(name: str, solver_path: Path, net_path: str | os.PathLike | None, dbs: mnist_lmdb.MnistLmdb,
                   directory: Path, replaced: list[str] | None = None) -> tuple[Path, int]:
    """A copy, in ``directory``, of the solver's net file ``name`` with its ``Data`` layers reading the MNIST
    LMDBs, and how many ``Data`` layers it has."""
    source = _find_net(name, solver_path, net_path)
    net = caffe_prototxt.parse(source, "net").message
    count = caffe_prototxt.point_data_at(net, dbs.train, dbs.test, replaced)
    return caffe_prototxt.write(net, directory / f"{len(list(directory.iterdir()))}_{source.name}"), count


def _find_net(name: str, solver_path: Path, net_path: str | os.PathLike | None) -> Path:
    """Where a solver's net file is: ``net_path`` if given, else as written, else next to the solver."""
    candidates = [Path(net_path)] if net_path is not None else [
        Path(name), solver_path.parent / name, solver_path.parent / Path(name).name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UsageError(f"{solver_path}: its net {name!r} was not found (tried {', '.join(map(str, candidates))}); "
                     "give its path with --net")


def _run_child(request: dict[str, Any], timeout: float, *, what: str) -> Any:
    """Run ``request`` in a fresh Python process (``child.run_job``) and return its result, or raise
    ``CaffeError`` with Caffe's FATAL message (or the child's Python error)."""
    try:
        return run_job(_child, request, env={"GLOG_minloglevel": os.environ.get("GLOG_minloglevel", "2")},
                       timeout=timeout, what=what)
    except ChildFailed as exc:
        if exc.timed_out:
            raise CaffeError(f"{what}: Caffe did not finish within {timeout:.0f} s") from None
        raise CaffeError(f"{what}: Caffe failed (the child process {exit_reason(exc.returncode)}): "
                         f"{_failure(exc.output)}") from None


def _failure(stderr: str) -> str:
    """Caffe's FATAL/ERROR lines from glog output (without their prefix), else the end of stderr."""
    lines = [m.group(1) for m in re.finditer(r"^[FE]\d+ [^\]]*\] (.*)$", stderr, re.MULTILINE)]
    if lines:
        return "; ".join(lines)
    tail = [line for line in stderr.strip().splitlines() if line.strip()][-3:]
    return " | ".join(tail) or "no error output"


def _child(request: dict[str, Any]) -> Any:
    """The child's side of ``_run_child``."""
    caffe = _caffe()
    if request["action"] == "instantiate":
        if request["kind"] == "solver":
            caffe.get_solver(request["path"])
        else:
            for phase in (caffe.TRAIN, caffe.TEST):
                caffe.Net(request["path"], phase)
        result: Any = {}
    else:
        solver = caffe.get_solver(request["path"])
        start = time.perf_counter()
        solver.step(request["iterations"])
        seconds = time.perf_counter() - start
        tests = []
        for net, test_iter in zip(solver.test_nets, request["test_iter"], strict=True):
            net.share_with(solver.net)  # as Solver::Test does before each test
            totals: dict[str, float] = {}
            for _ in range(test_iter):
                for name, value in net.forward().items():
                    totals[name] = totals.get(name, 0.0) + float(np.mean(value))
            tests.append({name: total / test_iter for name, total in totals.items()})
        result = {"iterations": int(solver.iter), "seconds": seconds,
                  "train_outputs": {name: float(np.mean(solver.net.blobs[name].data)) for name in solver.net.outputs},
                  "test_outputs": tests}
    return result
