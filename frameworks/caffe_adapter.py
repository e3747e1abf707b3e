"""Caffe 1.0 (CPU): the spec built from generated prototxts and trained by Caffe's own solvers; and a user's
own solver and net prototxts, run in a child process.

Three nets share one set of weights: the solver's training net (``Input`` layers fed from memory), the
deploy net (``Softmax`` output, TEST phase: dropout off, BatchNorm on its running statistics) sharing the
training net's blobs, and, on demand, Caffe's own pipeline (``Data`` layers over LMDBs, its own solver).

Timing semantics follow ``caffe time``: ``run_forward`` is the deploy net's ``forward()``,
``run_backward`` the training net's forward and backward (parameter diffs cleared first, no update), and
``run_train_step`` one ``solver.step(1)``. ``stage`` keeps the arrays; a staged batch is copied into a
net's ``Input`` blobs (reshaped when its size changes) on the first run that uses it and reused while it
is the last batch fed to that net, so repeated timed runs of one staged batch exclude the copy, as
``caffe time`` does (its data layer is not fed from outside either).

BatchNorm: Caffe keeps ``[mean_sum, var_sum, factor]`` and uses ``sum / factor``; with
``moving_average_fraction = 1 - momentum`` and the factor held at ``1 / momentum`` (a fixed point of
Caffe's ``factor = fraction * factor + 1``) its update is exactly PyTorch's running average with the
unbiased variance, so weights are written as ``sum = statistic / momentum``, ``factor = 1 / momentum``.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import caffe_lmdb, caffe_prototxt, data
from .adapter import Adapter, Staged
from .caffe_prototxt import DATA, LABEL, LOSS, PROB, CaffeError, Kind, Parsed
from .errors import FrameworkUnavailable
from .specs import BatchNorm, Conv2D, Dense
from .timing import OwnTiming
from .weights import Weights

TEST_BATCH = 100  # the LMDB pipeline's test batch (divides the 10,000 test images)
_READERS = itertools.count()  # a Data layer name per pipeline net (see caffe_prototxt.lmdb_net)


def _caffe() -> Any:
    """pycaffe in CPU mode (glog quieted unless the user chose a level)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    import caffe

    caffe.set_mode_cpu()
    return caffe


def openblas() -> Any | None:
    """The OpenBLAS library Caffe computes with (already loaded by pycaffe), or None if it is not loaded."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD)
        lib.openblas_get_config.restype = ctypes.c_char_p
        return lib
    except (OSError, AttributeError):
        return None


class CaffeAdapter(Adapter):
    """A network in Caffe, on the CPU, with OpenBLAS threads."""

    @classmethod
    def cuda_unavailable_reason(cls, framework: str) -> str | None:
        return "caffe: the suite builds Caffe CPU-only (its GPU build needs an old CUDA and cuDNN)"

    @property
    def version(self) -> str:
        caffe = _caffe()
        lib = openblas()
        blas = " ".join(lib.openblas_get_config().decode().split()[:2]) if lib is not None else "BLAS unknown"
        source = Path(caffe.__file__).parent / ".mfb_source"
        built = f", {source.read_text().split(' (')[0]} source" if source.exists() else ""
        return f"{caffe.__version__} (CPU only, {blas}{built})"

    def _apply_threads(self, threads: int | None) -> int | None:
        _caffe()
        lib = openblas()
        if lib is None:  # not OpenBLAS: only the variable read at start-up can have set it
            env = os.environ.get("OPENBLAS_NUM_THREADS")
            if threads is not None and env != str(threads):
                raise FrameworkUnavailable(f"caffe: cannot set {threads} BLAS threads at run time (no OpenBLAS "
                                           "loaded); set OPENBLAS_NUM_THREADS before the process starts")
            return int(env) if env else None
        if threads is not None:
            lib.openblas_set_num_threads(threads)
        return int(lib.openblas_get_num_threads())

    # --- building -------------------------------------------------------------------------------------
    def build(self) -> None:
        caffe = _caffe()
        spec = self.spec
        self._dir = tempfile.TemporaryDirectory(prefix=f"mfb-caffe-{spec.name}-")
        root = Path(self._dir.name)
        self._net_param = caffe_prototxt.memory_net(spec, self.batch_size)
        self.files = {
            "train": caffe_prototxt.write(self._net_param, root / "train.prototxt"),
            "deploy": caffe_prototxt.write(caffe_prototxt.deploy_net(spec, self.batch_size),
                                           root / "deploy.prototxt"),
        }
        self.files["solver"] = caffe_prototxt.write(
            caffe_prototxt.solver(spec, self.seed, train_net=self.files["train"]), root / "solver.prototxt")
        caffe.set_random_seed(self.seed)
        self.solver = caffe.get_solver(str(self.files["solver"]))  # seeds Caffe's RNG, then fills the weights
        self.train_net = self.solver.net
        self.deploy = caffe.Net(str(self.files["deploy"]), caffe.TEST)
        self.deploy.share_with(self.train_net)
        self._params: dict[str, tuple[str, int]] = {}  # canonical parameter -> (Caffe layer, blob index)
        self._momentum: dict[str, float] = {}  # BatchNorm layer -> momentum
        for layer in spec.layers:
            if isinstance(layer, (Conv2D, Dense)):
                self._params[f"{layer.name}.weight"] = (layer.name, 0)
                self._params[f"{layer.name}.bias"] = (layer.name, 1)
            elif isinstance(layer, BatchNorm):
                self._params[f"{layer.name}.gamma"] = (f"{layer.name}_scale", 0)
                self._params[f"{layer.name}.beta"] = (f"{layer.name}_scale", 1)
                self._momentum[layer.name] = layer.momentum
                features = spec.state_shapes()[f"{layer.name}.running_mean"]
                self._set_statistics(layer.name, np.zeros(features, np.float32), np.ones(features, np.float32))
        for layer, shape in zip(spec.layers, spec.output_shapes(), strict=True):
            built = tuple(self.deploy.blobs[layer.name].data.shape[1:])
            if built != shape:
                raise AssertionError(f"caffe/{spec.name}: blob {layer.name} is {built}, the spec says {shape}")
        self._fed: dict[str, Staged | None] = {"train": None, "deploy": None}
        self._has_gradients = False
        self._shuffle = np.random.default_rng(self.seed)  # one stream: each epoch a new order
        self._lmdb: tuple[Any, int] | None = None
        self._lmdb_losses: list[float] = []

    def trainable_parameter_count(self) -> int:
        lr_mults = {lp.name: [p.lr_mult for p in lp.param] for lp in self._net_param.layer}
        return sum(blob.count for name, blobs in self.train_net.params.items() for i, blob in enumerate(blobs)
                   if (lr_mults[name][i] if i < len(lr_mults[name]) else 1.0) != 0)

    # --- the staged API ---------------------------------------------------------------------------------
    def stage(self, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        labels = None if y is None else np.ascontiguousarray(y, dtype=np.float32)  # Caffe's labels are floats
        return Staged(np.ascontiguousarray(x, dtype=np.float32), labels, len(x))

    def _feed(self, which: str, net: Any, batch: Staged) -> None:
        """Copy ``batch`` into ``net``'s input blobs unless it is already there."""
        if self._fed[which] is batch:
            return
        blobs = net.blobs
        if blobs[DATA].data.shape[0] != batch.size:
            blobs[DATA].reshape(batch.size, *self.spec.input_shape)
            if LABEL in blobs:
                blobs[LABEL].reshape(batch.size)
            net.reshape()
        blobs[DATA].data[...] = batch.x
        if LABEL in blobs:
            if batch.y is None:
                raise ValueError("training needs labels: stage(x, y)")
            blobs[LABEL].data[...] = batch.y
        self._fed[which] = batch

    def run_forward(self, batch: Staged) -> Any:
        self._feed("deploy", self.deploy, batch)
        return self.deploy.forward()[PROB]

    def run_backward(self, batch: Staged) -> Any:
        net = self.train_net
        self._feed("train", net, batch)
        net.clear_param_diffs()
        net.forward()
        net.backward()
        self._has_gradients = True
        return net.blobs[LOSS].data

    def run_train_step(self, batch: Staged) -> Any:
        self._feed("train", self.train_net, batch)
        self.solver.step(1)
        self._has_gradients = False  # the diffs now hold the solver's update values
        return self.train_net.blobs[LOSS].data

    def synchronize(self) -> None:
        """Nothing to wait for: Caffe's CPU calls return when done."""

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value)  # a copy: blob views change with the next run

    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x, _ = self.check_batch(x)
        self.run_forward(self.stage(x))
        # Each spec layer's top blob carries its name; fused ReLUs and BatchNorm's Scale work in place.
        return {layer.name: self.deploy.blobs[layer.name].data.copy() for layer in self.spec.layers}

    def caffe_time(self, phase: str, batch: Staged, iterations: int = 50) -> OwnTiming:
        """``caffe time``'s loop, through pycaffe (the tool is not built): one warm-up forward, then per
        iteration every layer's Forward (the deploy net, ``phase="forward"``) or Forward then Backward (the
        training net, ``phase="backward"``; parameter diffs accumulate, as in the tool). Returns the median
        iteration (the tool prints the mean)."""
        if phase not in ("forward", "backward"):
            raise FrameworkUnavailable("caffe time measures forward and backward passes only, not solver updates")
        which, net = ("deploy", self.deploy) if phase == "forward" else ("train", self.train_net)
        self._feed(which, net, batch)
        last = len(net.layers) - 1
        net._forward(0, last)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            net._forward(0, last)
            if phase == "backward":
                net._backward(last, 0)
            times.append(time.perf_counter() - start)
        if phase == "backward":
            self._has_gradients = False  # accumulated over the iterations
        return OwnTiming(statistics.median(times), "caffe time's layer loop via pycaffe (Net ForwardFromTo/"
                         "BackwardFromTo), median iteration", iterations)

    # --- weights ---------------------------------------------------------------------------------------
    def gradients(self) -> Weights:
        if not self._has_gradients:
            raise RuntimeError("no gradients yet: call backward first")
        params = self.train_net.params
        return {key: params[layer][i].diff.copy() for key, (layer, i) in self._params.items()
                if key in self.spec.parameter_shapes()}

    def get_weights(self) -> Weights:
        params = self.train_net.params
        out: Weights = {}
        for key in self.spec.state_shapes():
            layer, kind = key.rsplit(".", 1)
            if kind in ("running_mean", "running_var"):
                blobs = params[layer]
                factor = float(blobs[2].data[0])
                total = blobs[0 if kind == "running_mean" else 1].data
                out[key] = ((total.astype(np.float64) / factor).astype(np.float32) if factor
                            else np.zeros_like(total))  # Caffe itself reads a zero factor as zero statistics
            else:
                name, i = self._params[key]
                out[key] = params[name][i].data.copy()
        return out

    def _set_weights(self, weights: Weights) -> None:
        params = self.train_net.params
        for key, (layer, i) in self._params.items():
            params[layer][i].data[...] = weights[key]
        for layer in self._momentum:
            self._set_statistics(layer, weights[f"{layer}.running_mean"], weights[f"{layer}.running_var"])

    def _set_statistics(self, layer: str, mean: np.ndarray, var: np.ndarray) -> None:
        """Write BatchNorm running statistics as Caffe's sums with the factor at its fixed point."""
        factor = 1.0 / self._momentum[layer]
        blobs = self.train_net.params[layer]
        blobs[0].data[...] = mean.astype(np.float64) * factor
        blobs[1].data[...] = var.astype(np.float64) * factor
        blobs[2].data[...] = factor

    # --- training ----------------------------------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None) -> list[float]:
        """Shuffled mini-batches (the last one partial) copied into the training net, one ``solver.step(1)``
        each; returns each epoch's mean loss."""
        x, y, epochs = self.check_fit_inputs(x, y, epochs)
        losses = []
        for _ in range(epochs):
            order = self._shuffle.permutation(len(x))
            total = 0.0
            for start in range(0, len(x), self.batch_size):
                idx = order[start:start + self.batch_size]
                total += float(self.run_train_step(self.stage(x[idx], y[idx]))) * len(idx)
            losses.append(total / len(x))
        self._check_finite(losses)
        return losses

    def _check_finite(self, losses: list[float]) -> None:
        if not all(math.isfinite(v) for v in losses):
            raise FloatingPointError(f"caffe/{self.spec.name}: training diverged, losses {losses}")

    def _lmdb_solver(self, mnist: data.MNIST | None) -> tuple[Any, int]:
        """Caffe's own pipeline (built once): a solver over the ``Data``-layer net, sharing this model's
        weights; returns it and the number of test batches covering the test set."""
        if self._lmdb is None:
            mnist = data.load() if mnist is None else mnist
            dbs = caffe_lmdb.ensure(mnist)
            test_iter = len(mnist.test_labels) // TEST_BATCH
            root = Path(self._dir.name)
            net_param = caffe_prototxt.lmdb_net(self.spec, dbs.train, dbs.test, test_batch=TEST_BATCH,
                                                reader=f"mnist_{next(_READERS)}")
            net = caffe_prototxt.write(net_param, root / "train_test_lmdb.prototxt")
            self.files["lmdb"] = net
            solver_param = caffe_prototxt.solver(self.spec, self.seed, net=net, test_iter=test_iter)
            self.files["lmdb_solver"] = caffe_prototxt.write(solver_param, root / "solver_lmdb.prototxt")
            solver = _caffe().get_solver(str(self.files["lmdb_solver"]))
            solver.net.share_with(self.train_net)
            solver.test_nets[0].share_with(self.train_net)
            solver.add_callback(lambda: None, lambda: self._lmdb_losses.append(float(solver.net.blobs[LOSS].data)))
            self._lmdb = solver, test_iter
        return self._lmdb

    def fit_lmdb(self, epochs: int | None = None, mnist: data.MNIST | None = None) -> list[float]:
        """Train through Caffe's own input pipeline: the solver's ``Data`` layer reads the training LMDB in
        order (Caffe does not shuffle), ``ceil(N / batch)`` full batches an epoch in one ``solver.step``; the
        weights are this model's, the optimizer state the pipeline solver's own (not ``fit``'s). Returns
        each epoch's mean loss."""
        epochs = self.spec.recipe.epochs if epochs is None else epochs
        mnist = data.load() if mnist is None else mnist
        steps = self.steps_per_epoch(len(mnist.train_labels))
        losses = [self._lmdb_steps(steps, mnist) for _ in range(epochs)]
        self._check_finite(losses)
        return losses

    def pipeline_epoch(self, mnist: Any, images: int) -> tuple[str, Any]:
        description = ("Caffe's Data layer over the LMDB (convert_mnist_data's format, read in order, "
                       "transform_param scaling) in solver.step; full batches only")
        steps = self.steps_per_epoch(images)
        self._lmdb_solver(mnist)  # converts and builds now, outside the timed epoch
        return description, lambda: self._lmdb_steps(steps, mnist)

    def _lmdb_steps(self, steps: int, mnist: data.MNIST | None) -> float:
        """``steps`` iterations of the pipeline solver; returns their mean loss."""
        solver, _ = self._lmdb_solver(mnist)
        self._lmdb_losses.clear()
        solver.step(steps)
        return float(np.mean(self._lmdb_losses))

    def evaluate_lmdb(self, mnist: data.MNIST | None = None) -> float:
        """Test accuracy through Caffe's own pipeline: the TEST ``Data`` layer over the test LMDB, its
        ``Accuracy`` layer averaged over batches that cover the test set once."""
        solver, test_iter = self._lmdb_solver(mnist)
        net = solver.test_nets[0]
        return sum(float(net.forward()[caffe_prototxt.ACCURACY]) for _ in range(test_iter)) / test_iter


# --- a user's own prototxt, run in a child process (a glog FATAL aborts the whole process) ---------------
@dataclass(frozen=True)
class SolverResult:
    """What a user's solver reported: train-net outputs after the last iteration, and each test net's
    outputs averaged over its ``test_iter`` batches (as Caffe's ``Solver::Test`` prints them)."""

    iterations: int
    seconds: float
    train_outputs: dict[str, float]
    test_outputs: list[dict[str, float]]


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
    sp = caffe_prototxt.parse(solver_path, "solver").message
    dbs = caffe_lmdb.ensure(mnist)
    pb2 = caffe_prototxt.caffe_pb2()
    with tempfile.TemporaryDirectory(prefix="mfb-caffe-user-") as tmp:
        root = Path(tmp)
        pointed = 0
        for field in ("net", "train_net"):
            if sp.HasField(field):
                path, count = _rewritten_net(getattr(sp, field), solver_path, net_path, dbs, root)
                setattr(sp, field, str(path))
                pointed += count
        for i, name in enumerate(sp.test_net):
            path, count = _rewritten_net(name, solver_path, net_path, dbs, root)
            sp.test_net[i] = str(path)
            pointed += count
        for inline in (sp.net_param, sp.train_net_param, *sp.test_net_param):
            pointed += caffe_prototxt.point_data_at(inline, dbs.train, dbs.test)
        if not pointed:
            raise CaffeError(f"{solver_path}: its nets have no Data layer to read the MNIST LMDBs")
        sp.snapshot_prefix = str(root / "snapshot")
        sp.solver_mode = pb2.SolverParameter.CPU
        if seed is not None and not sp.HasField("random_seed"):
            sp.random_seed = seed
        path = caffe_prototxt.write(sp, root / solver_path.name)
        steps = sp.max_iter if iterations is None else iterations
        result = _run_child({"action": "solve", "path": str(path), "iterations": steps,
                             "test_iter": list(sp.test_iter)}, timeout, what=str(solver_path))
    return SolverResult(**result)


def _rewritten_net(name: str, solver_path: Path, net_path: str | os.PathLike | None, dbs: caffe_lmdb.MnistLmdb,
                   directory: Path) -> tuple[Path, int]:
    """A copy, in ``directory``, of the solver's net file ``name`` with its ``Data`` layers reading the MNIST
    LMDBs, and how many ``Data`` layers it has."""
    source = _find_net(name, solver_path, net_path)
    net = caffe_prototxt.parse(source, "net").message
    count = caffe_prototxt.point_data_at(net, dbs.train, dbs.test)
    return caffe_prototxt.write(net, directory / f"{len(list(directory.iterdir()))}_{source.name}"), count


def _find_net(name: str, solver_path: Path, net_path: str | os.PathLike | None) -> Path:
    """Where a solver's net file is: ``net_path`` if given, else as written, else next to the solver."""
    candidates = [Path(net_path)] if net_path is not None else [
        Path(name), solver_path.parent / name, solver_path.parent / Path(name).name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CaffeError(f"{solver_path}: its net {name!r} was not found (tried {', '.join(map(str, candidates))}); "
                     "pass net_path")


def _run_child(request: dict[str, Any], timeout: float, *, what: str) -> Any:
    """Run ``request`` in a fresh Python process and return its JSON result, or raise ``CaffeError`` with
    Caffe's FATAL message (or the child's Python error)."""
    with tempfile.TemporaryDirectory(prefix="mfb-caffe-child-") as tmp:
        request_path, result_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_path.write_text(json.dumps({**request, "result": str(result_path)}))
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH"))
                                                           if p)}
        env.setdefault("GLOG_minloglevel", "2")
        try:
            proc = subprocess.run([sys.executable, "-m", __name__, str(request_path)], env=env, timeout=timeout,
                                  capture_output=True, text=True)
        except subprocess.TimeoutExpired as exc:
            raise CaffeError(f"{what}: Caffe did not finish within {timeout:.0f} s") from exc
        if proc.returncode != 0:
            raise CaffeError(f"{what}: Caffe failed ({_exit_reason(proc.returncode)}): {_failure(proc.stderr)}")
        return json.loads(result_path.read_text())


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        return f"the child process was killed by {signal.Signals(-returncode).name}"
    return f"the child process exited with status {returncode}"


def _failure(stderr: str) -> str:
    """Caffe's FATAL/ERROR lines from glog output (without their prefix), else the end of stderr."""
    lines = [m.group(1) for m in re.finditer(r"^[FE]\d+ [^\]]*\] (.*)$", stderr, re.MULTILINE)]
    if lines:
        return "; ".join(lines)
    tail = [line for line in stderr.strip().splitlines() if line.strip()][-3:]
    return " | ".join(tail) or "no error output"


def _child(request_path: str) -> None:
    """The child's side of ``_run_child``."""
    request = json.loads(Path(request_path).read_text())
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
    Path(request["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    _child(sys.argv[1])
