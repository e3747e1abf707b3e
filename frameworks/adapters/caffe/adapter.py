"""Caffe 1.0 (CPU): the spec built from generated prototxts and trained by Caffe's own solvers.

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
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ... import data
from ...errors import FrameworkUnavailable
from ...fileio import atomic_path
from ...specs import BatchNorm, Conv2D, Dense
from ...weights import Weights
from ..base import (
    NCHW,
    Adapter,
    Artifact,
    ExportAttempt,
    IdiomaticScript,
    LoadedArtifact,
    OwnTiming,
    Staged,
    attempt_export,
)
from . import mnist_lmdb
from . import prototxt as caffe_prototxt
from .prototxt import DATA, LABEL, LOSS, PROB

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
    def cuda_unavailable_reason(cls, **options: Any) -> str | None:
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

    def runtime_details(self) -> dict[str, Any]:
        """The BLAS Caffe computes with: scripts/install_caffe.sh builds it against Debian's OpenBLAS
        (libopenblas-dev, linked as -lopenblas); its own configuration string says which build and CPU kernels
        loaded. Caffe has no performance setting of its own on the CPU beyond that BLAS and its threads: no
        variant."""
        lib = openblas()
        if lib is None:
            return {"version": self.version, "blas": "not OpenBLAS (no libopenblas.so.0 loaded)",
                    "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
        return {"version": self.version, "blas": lib.openblas_get_config().decode(),
                "blas_threads": int(lib.openblas_get_num_threads())}

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

    def own_timing(self, phase: str, batch: Staged, min_seconds: float = 1.0, min_runs: int = 5) -> OwnTiming:
        """``caffe time``'s loop, through pycaffe (the tool is not built): one warm-up forward, then per
        iteration every layer's Forward (the deploy net, ``phase="forward"``) or Forward then Backward (the
        training net, ``phase="backward"``; parameter diffs accumulate, as in the tool). Returns the median
        iteration (the tool prints the mean). The tool's default is 50 iterations: ``min_seconds`` of 1 gives 25
        (at least ``min_runs``, at most 25)."""
        iterations = max(min_runs, min(25, round(50 * min_seconds)))
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

    # --- deployment ------------------------------------------------------------------------------------
    def export(self, directory: Path) -> list[ExportAttempt]:
        """Caffe's native deployment pair: the deploy prototxt (``Input`` of one image, ``Softmax`` out; a
        server reshapes it per request) and the weights as a ``.caffemodel`` (BatchNorm's sums and factor
        included)."""
        directory = Path(directory)

        def write() -> Artifact:
            proto = caffe_prototxt.write(caffe_prototxt.deploy_net(self.spec, 1), directory / "deploy.prototxt")
            weights = directory / "model.caffemodel"
            with atomic_path(weights, suffix=".caffemodel") as tmp:
                self.deploy.save(str(tmp))
            return Artifact("caffe", weights, "caffe", NCHW, companions=(proto,),
                            tool=f"caffe {self.version}: deploy prototxt and Net.save")

        return [attempt_export("caffe", write)]

    @classmethod
    def import_runtime(cls, artifact: Artifact) -> None:
        _caffe()

    @classmethod
    def load_artifact(cls, artifact: Artifact, *, device: str = "cpu", threads: int | None = None) -> LoadedArtifact:
        """A deploy prototxt and ``.caffemodel`` as a TEST-phase ``caffe.Net``; each request reshapes its input
        blob to the request's batch (a no-op when the batch is unchanged)."""
        if artifact.format != "caffe":
            raise FrameworkUnavailable(f"caffe loads deploy prototxt + caffemodel pairs, not {artifact.format}")
        if device != "cpu":
            raise FrameworkUnavailable(cls.cuda_unavailable_reason() or "caffe runs on the CPU only here")
        caffe = _caffe()
        lib = openblas()
        if threads is not None and lib is not None:
            lib.openblas_set_num_threads(threads)
        (proto,) = artifact.companions
        net = caffe.Net(str(proto), caffe.TEST, weights=str(artifact.path))
        data_blob = net.blobs[DATA]

        def predict(x: np.ndarray) -> np.ndarray:
            if data_blob.data.shape[0] != len(x):
                data_blob.reshape(len(x), *x.shape[1:])
                net.reshape()
            data_blob.data[...] = x
            return net.forward()[PROB].copy()

        return LoadedArtifact(predict, {"runtime": f"caffe {caffe.__version__} (caffe.Net, TEST phase)",
                                        "threads": int(lib.openblas_get_num_threads()) if lib is not None else None})

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
            dbs = mnist_lmdb.ensure(mnist)
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

    def pipeline_epoch(self, mnist: Any, images: int) -> tuple[str, Any]:
        description = ("Caffe's Data layer over the LMDB (convert_mnist_data's format, read in order, "
                       "transform_param scaling) in solver.step; full batches only")
        steps = self.steps_per_epoch(images)
        self._lmdb_solver(mnist)  # converts and builds now, outside the timed epoch
        return description, lambda: self._lmdb_steps(steps, mnist)

    def idiomatic_scripts(self, mnist: Any, images: int, epochs: int) -> list[IdiomaticScript]:
        """Caffe's own MNIST example (its LeNet solver and net files), for the network it trains (``lenet``):
        only the data paths change, and its periodic tests are left out (an epoch is training only)."""
        if self.spec.name != "lenet":
            return []
        import sys

        from .user_solver import prepare_solver

        examples = Path(__file__).resolve().with_name("examples")
        directory = Path(self._dir.name) / "idiomatic"
        directory.mkdir(exist_ok=True)
        solver = prepare_solver(examples / "lenet_solver.prototxt", mnist_lmdb.ensure(mnist), directory,
                                train_only=True)
        argv = [sys.executable, "-m", "frameworks.adapters.idiomatic.caffe_lenet", "--solver", str(solver),
                "--images", str(images), "--epochs", str(epochs), "--batch-size", str(self.batch_size)]
        return [IdiomaticScript("Caffe's examples/mnist LeNet solver and net, stepped by pycaffe (caffe train's loop)",
                                argv, {})]

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
