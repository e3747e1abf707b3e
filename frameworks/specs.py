"""The model zoo: each network specified once, as data, with its training recipe.

Every framework's model is derived from these specs by its adapter; nothing here imports a framework.
Shapes are canonical: channel-first (C, H, W) activations and PyTorch/Caffe parameter layouts
(see ``frameworks.weights``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from .errors import UnknownNameError

Activation = Literal["relu"] | None


@dataclass(frozen=True)
class Conv2D:
    """A 'valid' (unpadded), stride-1 square convolution, optionally followed by an activation."""

    name: str
    filters: int
    kernel: int
    activation: Activation = None


@dataclass(frozen=True)
class MaxPool2D:
    """Non-overlapping max pooling (window = stride = ``size``)."""

    name: str
    size: int


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout: drops with probability ``rate`` in training, identity in evaluation."""

    name: str
    rate: float


@dataclass(frozen=True)
class Flatten:
    """Flatten to a vector in channel-major (C, H, W) order."""

    name: str


@dataclass(frozen=True)
class Dense:
    """A fully connected layer, optionally followed by an activation."""

    name: str
    units: int
    activation: Activation = None


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation over features.

    ``momentum`` uses PyTorch's convention: ``running = (1 - momentum) * running + momentum * batch``,
    with the unbiased batch variance in the running variance. Adapters map it to their framework's.
    """

    name: str
    momentum: float = 0.1
    eps: float = 1e-5


@dataclass(frozen=True)
class ReLU:
    """A standalone ReLU."""

    name: str


Layer = Conv2D | MaxPool2D | Dropout | Flatten | Dense | BatchNorm | ReLU
Shape = tuple[int, ...]

OptimizerKind = Literal["adadelta", "sgd", "adam"]
InitScheme = Literal["glorot_uniform", "xavier_fan_in", "torch_default"]


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and its settings, stated explicitly (framework defaults differ).

    ``weight_decay`` is coupled L2 (added to the gradient, as Caffe and ``torch.optim.SGD`` do), applied
    to every parameter. ``lr_policy`` is ``"fixed"`` or Caffe's ``"inv"``:
    ``lr * (1 + gamma * iteration) ** -power``.
    """

    kind: OptimizerKind
    lr: float
    momentum: float = 0.0
    rho: float = 0.95
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    weight_decay: float = 0.0
    lr_policy: Literal["fixed", "inv"] = "fixed"
    gamma: float = 0.0
    power: float = 0.0

    def lr_at(self, iteration: int) -> float:
        """The learning rate used by update number ``iteration`` (counted from 0)."""
        if self.lr_policy == "inv":
            return self.lr * (1.0 + self.gamma * iteration) ** (-self.power)
        return self.lr


@dataclass(frozen=True)
class Recipe:
    """How a network is trained, identically in every framework.

    Inputs are ``(pixel * scale - mean) / std`` with pixels the raw uint8 values. ``init`` names the
    initialisation of the network's origin framework, realised with each framework's own initialisers:
    ``glorot_uniform`` (Keras' default: U(+-sqrt(6 / (fan_in + fan_out))), zero bias), ``xavier_fan_in``
    (Caffe's ``xavier`` filler: U(+-sqrt(3 / fan_in)), zero bias) or ``torch_default`` (PyTorch's
    ``nn.Linear``/``nn.Conv2d`` default: weight and bias U(+-1 / sqrt(fan_in))). BatchNorm always starts
    at gamma 1, beta 0, mean 0, variance 1.
    """

    optimizer: Optimizer
    batch_size: int
    epochs: int
    scale: float
    mean: float
    std: float
    init: InitScheme
    source: str


@dataclass(frozen=True)
class AccuracyTarget:
    """A time-to-accuracy target (MLPerf/DAWNBench style): the test accuracy to reach, checked after each epoch,
    and the epoch cap after which a run counts as not converged."""

    accuracy: float
    epoch_cap: int


@dataclass(frozen=True)
class NetworkSpec:
    """A network: its input shape, its layers in order, its recipe and where it comes from."""

    name: str
    description: str
    layers: tuple[Layer, ...]
    recipe: Recipe
    input_shape: Shape = (1, 28, 28)
    num_classes: int = 10
    expected_parameters: int | None = None
    accuracy_bar: float = 0.0
    time_to_accuracy: AccuracyTarget | None = None
    origin: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: layer names must be unique, got {names}")
        shapes = self.output_shapes()
        if shapes[-1] != (self.num_classes,):
            raise ValueError(f"{self.name}: the last layer gives {shapes[-1]}, not ({self.num_classes},)")
        if self.expected_parameters is not None and self.trainable_parameters() != self.expected_parameters:
            raise ValueError(
                f"{self.name}: {self.trainable_parameters()} trainable parameters, "
                f"expected {self.expected_parameters}"
            )

    def output_shapes(self) -> list[Shape]:
        """The canonical output shape of every layer, for one sample."""
        shapes: list[Shape] = []
        shape = self.input_shape
        for layer in self.layers:
            shape = _layer_output_shape(layer, shape, self.name)
            shapes.append(shape)
        return shapes

    def input_shapes(self) -> list[Shape]:
        """The canonical input shape of every layer, for one sample."""
        return [self.input_shape, *self.output_shapes()[:-1]]

    def parameter_shapes(self) -> dict[str, Shape]:
        """Trainable parameters, in order, with canonical names and shapes (``conv1.weight`` ...)."""
        return {k: s for k, (s, trainable) in self._state_shapes().items() if trainable}

    def state_shapes(self) -> dict[str, Shape]:
        """All weights a model holds: trainable parameters and BatchNorm running statistics."""
        return {k: s for k, (s, _) in self._state_shapes().items()}

    def trainable_parameters(self) -> int:
        """The number of trainable parameters."""
        return sum(math.prod(s) for s in self.parameter_shapes().values())

    def without_dropout(self) -> NetworkSpec:
        """The same network with its Dropout layers removed (deterministic training, same weights)."""
        return dataclasses.replace(self, layers=tuple(lay for lay in self.layers if not isinstance(lay, Dropout)))

    def with_optimizer(self, optimizer: Optimizer) -> NetworkSpec:
        """The same network trained with another optimizer."""
        return dataclasses.replace(self, recipe=dataclasses.replace(self.recipe, optimizer=optimizer))

    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"{self.name} has no layer {name!r}")

    def _state_shapes(self) -> dict[str, tuple[Shape, bool]]:
        out: dict[str, tuple[Shape, bool]] = {}
        for layer, in_shape in zip(self.layers, self.input_shapes(), strict=True):
            if isinstance(layer, Conv2D):
                out[f"{layer.name}.weight"] = ((layer.filters, in_shape[0], layer.kernel, layer.kernel), True)
                out[f"{layer.name}.bias"] = ((layer.filters,), True)
            elif isinstance(layer, Dense):
                out[f"{layer.name}.weight"] = ((layer.units, in_shape[0]), True)
                out[f"{layer.name}.bias"] = ((layer.units,), True)
            elif isinstance(layer, BatchNorm):
                features = (in_shape[0],)
                out[f"{layer.name}.gamma"] = (features, True)
                out[f"{layer.name}.beta"] = (features, True)
                out[f"{layer.name}.running_mean"] = (features, False)
                out[f"{layer.name}.running_var"] = (features, False)
        return out


def fan_in_out(shape: Shape) -> tuple[int, int]:
    """Fan-in and fan-out of a canonical weight shape ((out, in) or (out, in, kh, kw))."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def init_bounds(scheme: InitScheme, weight_shape: Shape) -> tuple[float, float]:
    """The uniform bounds (weight, bias) of an init scheme for one layer; a bias bound of 0 means zeros."""
    fan_in, fan_out = fan_in_out(weight_shape)
    if scheme == "glorot_uniform":
        return math.sqrt(6.0 / (fan_in + fan_out)), 0.0
    if scheme == "xavier_fan_in":
        return math.sqrt(3.0 / fan_in), 0.0
    if scheme == "torch_default":
        bound = 1.0 / math.sqrt(fan_in)
        return bound, bound
    raise ValueError(f"unknown init scheme {scheme!r}")


def _layer_output_shape(layer: Layer, shape: Shape, network: str) -> Shape:
    where = f"{network}/{layer.name}"
    if isinstance(layer, Conv2D):
        _require(len(shape) == 3, where, f"needs a (C, H, W) input, got {shape}")
        c, h, w = shape
        _require(h >= layer.kernel and w >= layer.kernel, where, f"kernel {layer.kernel} exceeds input {shape}")
        return (layer.filters, h - layer.kernel + 1, w - layer.kernel + 1)
    if isinstance(layer, MaxPool2D):
        _require(len(shape) == 3, where, f"needs a (C, H, W) input, got {shape}")
        c, h, w = shape
        # Caffe rounds pooled sizes up, Keras and PyTorch down: the zoo keeps them equal.
        _require(h % layer.size == 0 and w % layer.size == 0, where,
                 f"pool {layer.size} must divide {h}x{w} so that every framework agrees")
        return (c, h // layer.size, w // layer.size)
    if isinstance(layer, Flatten):
        return (math.prod(shape),)
    if isinstance(layer, Dense):
        _require(len(shape) == 1, where, f"needs a flat input, got {shape}; add a Flatten")
        return (layer.units,)
    if isinstance(layer, BatchNorm):
        _require(len(shape) == 1, where, f"this zoo normalises flat features only, got {shape}")
        return shape
    if isinstance(layer, (Dropout, ReLU)):
        return shape
    raise unknown_layer(layer, where)


def unknown_layer(layer: object, where: str) -> TypeError:
    """The error for a layer type that a framework's builder does not know (a new ``Layer`` kind)."""
    return TypeError(f"{where}: no support for layer type {type(layer).__name__}; add it to every adapter "
                     "(see CONTRIBUTING.md)")


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{where}: {message}")


KERAS_CNN = NetworkSpec(
    name="keras_cnn",
    description="The Keras mnist_cnn example: conv32-conv64-maxpool-dropout-dense128-dropout-dense10",
    layers=(
        Conv2D("conv1", 32, 3, "relu"),
        Conv2D("conv2", 64, 3, "relu"),
        MaxPool2D("pool1", 2),
        Dropout("drop1", 0.25),
        Flatten("flatten"),
        Dense("fc1", 128, "relu"),
        Dropout("drop2", 0.5),
        Dense("fc2", 10),
    ),
    recipe=Recipe(
        optimizer=Optimizer("adadelta", lr=1.0, rho=0.95, eps=1e-7),
        batch_size=128,
        epochs=2,
        scale=1 / 255,
        mean=0.1307,
        std=0.3081,
        init="glorot_uniform",
        source="Keras' mnist_cnn.py (Adadelta lr 1.0 as in Keras 2, rho 0.95, eps 1e-7, batch 128, "
        "Glorot init); inputs normalised by MNIST's mean and std as PyTorch's example does",
    ),
    expected_parameters=1_199_882,
    accuracy_bar=0.985,
    time_to_accuracy=AccuracyTarget(0.990, 12),
    origin="Keras' examples (mnist_cnn.py)",
)

MLP_BN = NetworkSpec(
    name="mlp_bn",
    description="The seed's PyTorch MLP: 784-548-BN-ReLU-dropout-252-BN-ReLU-dropout-10",
    layers=(
        Flatten("flatten"),
        Dense("fc1", 548),
        BatchNorm("bn1"),
        ReLU("relu1"),
        Dropout("drop1", 0.5),
        Dense("fc2", 252),
        BatchNorm("bn2"),
        ReLU("relu2"),
        Dropout("drop2", 0.2),
        Dense("fc3", 10),
    ),
    recipe=Recipe(
        optimizer=Optimizer("adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8),
        batch_size=128,
        epochs=2,
        scale=1 / 255,
        mean=0.1307,
        std=0.3081,
        init="torch_default",
        source="Adam lr 1e-3 (betas 0.9/0.999, eps 1e-8), batch 128, normalised inputs, PyTorch's "
        "default init; the seed's plain SGD lr 0.001 reached only 83% after one epoch",
    ),
    expected_parameters=572_658,
    accuracy_bar=0.970,
    time_to_accuracy=AccuracyTarget(0.980, 15),
    origin="the seed article's PyTorch code",
)

LENET = NetworkSpec(
    name="lenet",
    description="Caffe's examples/mnist LeNet: conv20-pool-conv50-pool-ip500-relu-ip10",
    layers=(
        Conv2D("conv1", 20, 5),
        MaxPool2D("pool1", 2),
        Conv2D("conv2", 50, 5),
        MaxPool2D("pool2", 2),
        Flatten("flatten"),
        Dense("ip1", 500, "relu"),
        Dense("ip2", 10),
    ),
    recipe=Recipe(
        optimizer=Optimizer("sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, lr_policy="inv",
                            gamma=1e-4, power=0.75),
        batch_size=64,
        epochs=2,
        scale=1 / 256,
        mean=0.0,
        std=1.0,
        init="xavier_fan_in",
        source="Caffe's lenet_solver.prototxt (SGD lr 0.01, momentum 0.9, weight decay 5e-4, 'inv' "
        "policy gamma 1e-4 power 0.75, batch 64, inputs x/256, xavier filler, zero bias), with one "
        "learning rate for weights and biases",
    ),
    expected_parameters=431_080,
    accuracy_bar=0.980,
    time_to_accuracy=AccuracyTarget(0.990, 15),
    origin="Caffe's examples/mnist",
)

NETWORKS: dict[str, NetworkSpec] = {spec.name: spec for spec in (KERAS_CNN, MLP_BN, LENET)}


def get_network(name: str | NetworkSpec) -> NetworkSpec:
    """The spec called ``name`` (a spec is returned as it is); an unknown name raises ``UnknownNameError``."""
    if isinstance(name, NetworkSpec):
        return name
    try:
        return NETWORKS[name]
    except KeyError:
        raise UnknownNameError("network", name, NETWORKS) from None
