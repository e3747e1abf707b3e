"""Numeric precision as a dimension of every measurement: the names, their unit roundoffs, and the bound a
reduced-precision forward pass must keep against the float32 oracle.

``fp32`` is IEEE single precision throughout. ``bf16`` is mixed precision as the frameworks' own recipes set
it up: weights (the master copy the optimizer updates) stay float32, convolutions and matrix products take
bfloat16 operands and accumulate in float32, and their outputs are bfloat16; the loss and the softmax stay
float32. A framework without a reduced-precision path says why in its registry entry.

The bound (``forward_bound``), first-order and norm-wise. Write ``u`` for bfloat16's unit roundoff (2^-8: 8
significant bits). A convolution or dense layer ``y = W x + b`` computed from rounded operands ``W(1 + d_W)``,
``x(1 + d_x)`` with float32 accumulation and a rounded output commits three rounding errors of at most ``u``
each (the float32 accumulation adds n * 2^-24, negligible beside ``u`` for these layers' n <= 3200 terms); a
BatchNorm whose output is rounded commits one. ReLU, max pooling and flattening pass a norm-wise relative error
on without amplifying it, and the layers' conditioning is taken as 1 (no systematic cancellation, the
first-order model's assumption). Rounding errors of independent sign add in quadrature: by Higham and Mary's
probabilistic analysis ("A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput.
41(5), 2019) ``k`` of them give a relative error of at most ``LAMBDA * sqrt(k) * u`` with probability
at least ``1 - 2k exp(-LAMBDA^2 / 2)``. So the class probabilities of a network with ``L`` linear layers and
``N`` BatchNorms differ from float32's by at most

    LAMBDA * u * sqrt(3 L + N)

(taking the softmax as not amplifying a norm-wise error: its Jacobian's norm is at most 1/2; the tests show
the margin). The backward pass runs every rounding layer
a second time, so gradients get twice that (``gradient_bound``). The bound is a ceiling that catches gross
faults (wrong weights, a layer computed in another format, overflow); a precision leak in the other direction (a
layer left in float32, a loss rounded to bfloat16, bfloat16 master weights) is caught by the bit patterns
instead: what ran in bfloat16 is exactly representable in it, and float32 values almost never are
(``bf16_representable``).
"""

from __future__ import annotations

import math

import numpy as np

from .specs import BatchNorm, Conv2D, Dense, NetworkSpec

FP32, BF16 = "fp32", "bf16"
#: every precision the suite knows, in the order reports show them; the first is the default
PRECISIONS: dict[str, str] = {
    FP32: "float32 throughout",
    BF16: "bfloat16 mixed precision: float32 weights, loss and softmax; bfloat16 products",
}
DEFAULT = FP32
#: unit roundoff: half the distance from 1 to the next representable number
UNIT_ROUNDOFF = {FP32: 2.0 ** -24, BF16: 2.0 ** -8}
#: the numeric manifest every benchmark records (``Adapter.numerics`` and the timing's warm-up) -> what it says
MANIFEST: dict[str, str] = {
    "precision": "the precision above",
    "float32_matmul": "how float32 products are computed: ieee, or a reduced format (tf32...)",
    "compilation": "what compiles the model (none: eager; a tracer, XLA, an inductor...)",
    "deterministic": "whether deterministic kernels were requested",
    "threads": "intra-op threads",
    "warmup_calls": "untimed calls before the timed rounds",
}
#: manifest fields two figures must share to be compared: what changes the arithmetic or the workload, not the
#: framework's own configuration (its compilation is what a comparison of frameworks compares)
MUST_MATCH = ("float32_matmul", "deterministic", "threads", "warmup_calls")

#: how many standard deviations the probabilistic bound allows (see the module's docstring): with k = 12
#: rounding errors, the bound fails with probability at most 2 * 12 * exp(-8), under 1%
LAMBDA = 4.0


def rounding_layers(spec: NetworkSpec) -> tuple[int, int]:
    """(linear layers, BatchNorm layers) of ``spec``: the layers whose outputs a reduced precision rounds."""
    linear = sum(1 for layer in spec.layers if isinstance(layer, (Conv2D, Dense)))
    norms = sum(1 for layer in spec.layers if isinstance(layer, BatchNorm))
    return linear, norms


def forward_bound(spec: NetworkSpec, precision: str) -> float:
    """The largest norm-wise relative error of class probabilities against float32 arithmetic that
    ``precision`` may show on ``spec`` (see the module's docstring for the derivation)."""
    u = UNIT_ROUNDOFF[check(precision)]
    linear, norms = rounding_layers(spec)
    return LAMBDA * u * math.sqrt(3 * linear + norms)


def gradient_bound(spec: NetworkSpec, precision: str, batch: int | None = None) -> float:
    """The bound for gradients of one batch (the recipe's by default): twice the forward's, plus the rounding
    of the largest gradient sum (see the module's docstring)."""
    u = UNIT_ROUNDOFF[check(precision)]
    batch = spec.recipe.batch_size if batch is None else batch
    positions = [math.prod(shape[1:]) for layer, shape in zip(spec.layers, spec.output_shapes(), strict=True)
                 if isinstance(layer, (Conv2D, Dense))]
    terms = batch * max(positions, default=1)
    return 2.0 * forward_bound(spec, precision) + LAMBDA * u * math.sqrt(math.log2(max(terms, 2)))


def bf16_representable(values: np.ndarray) -> bool:
    """Whether every float32 value is exactly a bfloat16 (its 16 low-order bits are zero): what a layer that
    ran in bfloat16 returns, and what a layer left in float32 almost never does."""
    bits = np.array(values, dtype=np.float32).view(np.uint32)
    return bool(np.all((bits & np.uint32(0xFFFF)) == 0))


def round_to_bf16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), as float32: numpy has no bfloat16."""
    bits = np.array(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return np.array(rounded.astype(np.uint32).view(np.float32))


def check(precision: str) -> str:
    """``precision`` if the suite knows it, else a ``ValueError`` naming the known ones."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    return precision
