"""Caffe's text formats: the nets and the solver of a ``NetworkSpec``, and reading a user's prototxt.

Built as ``caffe_pb2`` messages (never string templates). Every spec layer gets a Caffe layer of the same
name whose top blob carries that name too, so per-layer outputs can be compared by spec name; a fused
activation is an in-place ``ReLU`` named ``<layer>_relu``, and a spec ``BatchNorm`` is Caffe's
``BatchNorm`` (statistics) plus an in-place ``Scale`` named ``<layer>_scale`` (gamma, beta). Three nets:

- ``memory_net``: ``Input`` layers (``data`` N x C x H x W, ``label`` N) and ``SoftmaxWithLoss``, trained
  from in-memory arrays;
- ``deploy_net``: an ``Input`` layer and a final ``Softmax`` (``prob``), for inference;
- ``lmdb_net``: Caffe's own pipeline, ``Data`` layers over LMDBs for TRAIN and TEST, with an ``Accuracy``.

One learning rate for weights and biases (no ``lr_mult: 2``): the recipe is the same in every framework.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...errors import BenchError
from ...fileio import write_text
from ...specs import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    NetworkSpec,
    Recipe,
    ReLU,
    init_bounds,
    unknown_layer,
)

DATA, LABEL, LOSS, PROB, ACCURACY = "data", "label", "loss", "prob", "accuracy"
RESERVED_BLOBS = (DATA, LABEL, LOSS, PROB, ACCURACY)
#: Far beyond any run: the solvers' ``max_iter`` (``Solver.step`` ignores it) and test interval.
MAX_ITER = 1_000_000_000

Kind = Literal["net", "solver"]


class CaffeError(BenchError):
    """Caffe refused a definition or failed while running it (with Caffe's own message)."""


class PrototxtError(CaffeError, ValueError):
    """A prototxt file that cannot be parsed (with its line and column)."""


def caffe_pb2() -> Any:
    """Caffe's protobuf module (importing it loads pycaffe)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    from caffe.proto import caffe_pb2 as pb2

    return pb2


def transform(recipe: Recipe) -> tuple[float, float]:
    """``(scale, mean_value)`` of a ``transform_param`` computing the recipe's ``(pixel * scale - mean) / std``.

    Caffe computes ``(pixel - mean_value) * scale``, so ``mean_value = mean / scale`` and
    ``scale = scale / std``.
    """
    return recipe.scale / recipe.std, recipe.mean / recipe.scale


def body(spec: NetworkSpec) -> tuple[list[Any], str]:
    """The spec's layers as Caffe layers reading blob ``data``; returns them and the last top blob."""
    pb2 = caffe_pb2()
    clash = [layer.name for layer in spec.layers if layer.name in RESERVED_BLOBS]
    if clash:
        raise ValueError(f"{spec.name}: layer names {clash} clash with the Caffe blobs {RESERVED_BLOBS}")
    layers: list[Any] = []
    bottom = DATA
    for layer, in_shape in zip(spec.layers, spec.input_shapes(), strict=True):
        lp = pb2.LayerParameter(name=layer.name, bottom=[bottom], top=[layer.name])
        if isinstance(layer, Conv2D):
            lp.type = "Convolution"
            conv = lp.convolution_param
            conv.num_output = layer.filters
            conv.kernel_size.append(layer.kernel)
            _fillers(conv, spec.recipe, (layer.filters, in_shape[0], layer.kernel, layer.kernel))
        elif isinstance(layer, Dense):
            lp.type = "InnerProduct"
            lp.inner_product_param.num_output = layer.units
            _fillers(lp.inner_product_param, spec.recipe, (layer.units, in_shape[0]))
        elif isinstance(layer, MaxPool2D):
            lp.type = "Pooling"
            lp.pooling_param.pool = pb2.PoolingParameter.MAX
            lp.pooling_param.kernel_size = layer.size
            lp.pooling_param.stride = layer.size
        elif isinstance(layer, Dropout):
            lp.type = "Dropout"
            lp.dropout_param.dropout_ratio = layer.rate
        elif isinstance(layer, Flatten):
            lp.type = "Flatten"
        elif isinstance(layer, ReLU):
            lp.type = "ReLU"
        elif isinstance(layer, BatchNorm):
            lp.type = "BatchNorm"
            # The running sums decay by (1 - momentum): with the scale factor held at 1 / momentum, Caffe's
            # sum / factor is exactly PyTorch's running statistic (see adapter.py).
            lp.batch_norm_param.moving_average_fraction = 1.0 - layer.momentum
            lp.batch_norm_param.eps = layer.eps
            for _ in range(3):  # mean sum, variance sum, scale factor: statistics, never learned
                lp.param.add(lr_mult=0.0, decay_mult=0.0)
        else:
            raise unknown_layer(layer, f"caffe/{spec.name}")
        layers.append(lp)
        if isinstance(layer, BatchNorm):
            scale = pb2.LayerParameter(name=f"{layer.name}_scale", type="Scale", bottom=[layer.name],
                                       top=[layer.name])
            scale.scale_param.bias_term = True
            scale.scale_param.filler.type = "constant"
            scale.scale_param.filler.value = 1.0
            scale.scale_param.bias_filler.type = "constant"
            scale.scale_param.bias_filler.value = 0.0
            layers.append(scale)
        if getattr(layer, "activation", None) == "relu":
            layers.append(pb2.LayerParameter(name=f"{layer.name}_relu", type="ReLU", bottom=[layer.name],
                                             top=[layer.name]))
        bottom = layer.name
    return layers, bottom


def _fillers(param: Any, recipe: Recipe, weight_shape: tuple[int, ...]) -> None:
    """Set ``weight_filler``/``bias_filler`` realising the recipe's init scheme for one layer."""
    if recipe.init == "glorot_uniform":  # U(+-sqrt(6 / (fan_in + fan_out)))
        param.weight_filler.type = "xavier"
        param.weight_filler.variance_norm = param.weight_filler.AVERAGE
    elif recipe.init == "xavier_fan_in":  # U(+-sqrt(3 / fan_in)), Caffe's default xavier
        param.weight_filler.type = "xavier"
    else:  # torch_default: weight and bias U(+-1 / sqrt(fan_in))
        bound, bias_bound = init_bounds(recipe.init, weight_shape)
        param.weight_filler.type = "uniform"
        param.weight_filler.min, param.weight_filler.max = -bound, bound
        param.bias_filler.type = "uniform"
        param.bias_filler.min, param.bias_filler.max = -bias_bound, bias_bound
        return
    param.bias_filler.type = "constant"
    param.bias_filler.value = 0.0


def _input_layer(spec: NetworkSpec, batch: int, *, labels: bool) -> Any:
    pb2 = caffe_pb2()
    lp = pb2.LayerParameter(name="input", type="Input", top=[DATA, LABEL] if labels else [DATA])
    lp.input_param.shape.add(dim=[batch, *spec.input_shape])
    if labels:
        lp.input_param.shape.add(dim=[batch])
    return lp


def memory_net(spec: NetworkSpec, batch: int) -> Any:
    """The training net fed from memory: ``Input`` (data, label), the body, ``SoftmaxWithLoss`` (loss)."""
    pb2 = caffe_pb2()
    layers, last = body(spec)
    loss = pb2.LayerParameter(name=LOSS, type="SoftmaxWithLoss", bottom=[last, LABEL], top=[LOSS])
    return pb2.NetParameter(name=f"{spec.name}_memory", layer=[_input_layer(spec, batch, labels=True), *layers,
                                                               loss])


def deploy_net(spec: NetworkSpec, batch: int) -> Any:
    """The inference net: ``Input`` (data), the body, ``Softmax`` (prob)."""
    pb2 = caffe_pb2()
    layers, last = body(spec)
    prob = pb2.LayerParameter(name=PROB, type="Softmax", bottom=[last], top=[PROB])
    return pb2.NetParameter(name=f"{spec.name}_deploy", layer=[_input_layer(spec, batch, labels=False), *layers,
                                                               prob])


def lmdb_net(spec: NetworkSpec, train_source: str | os.PathLike, test_source: str | os.PathLike, *,
             test_batch: int, reader: str = "mnist") -> Any:
    """Caffe's own pipeline: ``Data`` layers over the LMDBs (TRAIN: the recipe's batch, TEST: ``test_batch``)
    with the recipe's scaling in ``transform_param``, the body, ``SoftmaxWithLoss`` and a TEST ``Accuracy``.

    The ``Data`` layers are named ``reader``: Caffe 1.0 gives all ``Data`` layers of one name and source in a
    process a single reader thread that feeds only the first, so a second live net needs another name (its
    setup would wait forever).
    """
    pb2 = caffe_pb2()
    scale, mean_value = transform(spec.recipe)
    data_layers = []
    for phase, source, batch in ((pb2.TRAIN, train_source, spec.recipe.batch_size), (pb2.TEST, test_source,
                                                                                      test_batch)):
        lp = pb2.LayerParameter(name=reader, type="Data", top=[DATA, LABEL])
        lp.include.add(phase=phase)
        lp.transform_param.scale = scale
        if mean_value:
            lp.transform_param.mean_value.append(mean_value)
        lp.data_param.source = str(source)
        lp.data_param.batch_size = batch
        lp.data_param.backend = pb2.DataParameter.LMDB
        data_layers.append(lp)
    layers, last = body(spec)
    accuracy = pb2.LayerParameter(name=ACCURACY, type="Accuracy", bottom=[last, LABEL], top=[ACCURACY])
    accuracy.include.add(phase=pb2.TEST)
    loss = pb2.LayerParameter(name=LOSS, type="SoftmaxWithLoss", bottom=[last, LABEL], top=[LOSS])
    return pb2.NetParameter(name=f"{spec.name}_lmdb", layer=[*data_layers, *layers, accuracy, loss])


def solver(spec: NetworkSpec, seed: int, *, train_net: str | os.PathLike | None = None,
           net: str | os.PathLike | None = None, test_iter: int | None = None) -> Any:
    """The recipe's optimizer as a ``SolverParameter``: over ``train_net`` (no test net) or over a train/test
    ``net`` with ``test_iter`` test batches, tested only on demand (Caffe requires a positive
    ``test_interval`` with a test net: it is ``MAX_ITER``, without a test before the first step). No
    display, no snapshots."""
    pb2 = caffe_pb2()
    opt = spec.recipe.optimizer
    sp = pb2.SolverParameter(base_lr=opt.lr, weight_decay=opt.weight_decay, random_seed=seed, max_iter=MAX_ITER,
                             display=0, snapshot=0, snapshot_after_train=False, test_interval=0,
                             solver_mode=pb2.SolverParameter.CPU)
    if (train_net is None) == (net is None):
        raise ValueError("give exactly one of train_net and net")
    if train_net is not None:
        sp.train_net = str(train_net)
    else:
        sp.net = str(net)
        if test_iter is None:
            raise ValueError("a train/test net needs test_iter")
        sp.test_iter.append(test_iter)
        sp.test_interval, sp.test_initialization = MAX_ITER, False
    if opt.kind == "sgd":
        sp.type, sp.momentum = "SGD", opt.momentum
    elif opt.kind == "adadelta":
        sp.type, sp.momentum, sp.delta = "AdaDelta", opt.rho, opt.eps
    else:
        sp.type, sp.momentum, sp.momentum2, sp.delta = "Adam", opt.beta1, opt.beta2, opt.eps
    sp.lr_policy = opt.lr_policy
    if opt.lr_policy == "inv":
        sp.gamma, sp.power = opt.gamma, opt.power
    return sp


def to_text(message: Any) -> str:
    """A message in protobuf text format (what Caffe reads)."""
    from google.protobuf import text_format

    return text_format.MessageToString(message)


def write(message: Any, path: str | os.PathLike) -> Path:
    """Write a message as prototxt; return the path."""
    return write_text(path, to_text(message))


# --- reading a user's prototxt ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Parsed:
    """A parsed prototxt: ``kind`` ("net" or "solver") and its message."""

    kind: Kind
    message: Any


def parse(path: str | os.PathLike, kind: Kind | None = None) -> Parsed:
    """Parse a prototxt as a ``NetParameter`` or ``SolverParameter`` (``kind=None``: whichever it is).

    Raises ``PrototxtError`` naming the file, line and column of the first problem; when the kind is not
    given and neither parses, the error reported is the one found further into the file.
    """
    from google.protobuf import text_format

    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PrototxtError(f"{path}: cannot be read ({exc})") from exc
    pb2 = caffe_pb2()
    kinds: tuple[Kind, ...] = (kind,) if kind else ("solver", "net")
    errors: list[text_format.ParseError] = []
    for k in kinds:
        message = pb2.SolverParameter() if k == "solver" else pb2.NetParameter()
        try:
            text_format.Parse(text, message)
            return Parsed(k, message)
        except text_format.ParseError as exc:
            errors.append(exc)
    worst = max(errors, key=lambda e: ((e.GetLine() or 0), (e.GetColumn() or 0)))
    what = kind or "net or solver"
    line, column = worst.GetLine(), worst.GetColumn()
    where = f"line {line}, column {column}" if line else "(position unknown)"
    detail = str(worst).split(" : ", 1)[-1]
    raise PrototxtError(f"{path}: not a valid Caffe {what} prototxt: {where}: {detail}") from worst


def point_data_at(net: Any, train_source: str | os.PathLike, test_source: str | os.PathLike,
                  replaced: list[str] | None = None) -> int:
    """Point every ``Data`` layer of ``net`` at the LMDB of its phase (TRAIN or TEST), in place; return how
    many were changed, and add to ``replaced`` what each read before (to tell the user). A ``Data`` layer
    included in no single phase is an error."""
    if net.layers:
        raise CaffeError("this net uses Caffe's old V1 'layers' format; upgrade it with upgrade_net_proto_text")
    pb2 = caffe_pb2()
    changed = 0
    for layer in net.layer:
        if layer.type != "Data":
            continue
        phases = {rule.phase for rule in layer.include if rule.HasField("phase")}
        if len(phases) != 1:
            raise CaffeError(f"Data layer {layer.name!r} is not included in exactly one phase (TRAIN or TEST); "
                             "cannot tell which LMDB it reads")
        source = train_source if phases == {pb2.TRAIN} else test_source
        if replaced is not None:
            phase = "TRAIN" if phases == {pb2.TRAIN} else "TEST"
            replaced.append(f"Data layer {layer.name!r} ({phase}): {layer.data_param.source or '(no source)'} -> "
                            f"{source}")
        layer.data_param.source = str(source)
        layer.data_param.backend = pb2.DataParameter.LMDB
        changed += 1
    return changed
