"""The proof that a data-parallel step computes what one process computes: from the same initial weights, the
ranks' weights after one and after the last of a few optimizer steps against the single-process reference's,
each tensor's difference relative to its own norm, and the ranks' outputs against each other.

Parameters are compared on every rank. BatchNorm's running statistics are compared on rank 0 only where the
engine keeps them per replica: every replica updates them from its own chunk (rank 0's are the reference's).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..adapters.data_parallel import PER_REPLICA
from ..equivalence import relative_error
from ..specs import BatchNorm, get_network
from ..weights import initial_weights, save_weights
from .job import CHECK, REFERENCE, Fault, Job
from .launch import Topology, check_plan, launch
from .worker import checked_spec

TOLERANCE = 1e-6  # each tensor's difference, relative to its norm (float32 sums in another order)
#: A tensor's norm is floored at this fraction of the largest tensor norm at that step, as the equivalence tests
#: floor gradients: a zero-initialised bias after one step holds only that step's update, whose float32
#: reduction noise (sums over a half batch, then across replicas) is ~1e-6 of itself but ~1e-9 of the network.
NORM_FLOOR = 1e-2
RUNNING = ("running_mean", "running_var")


@dataclass
class CheckResult:
    """How far each rank's weights and outputs lie from the reference's, and the verdict."""

    framework: str
    network: str
    mode: str
    world_size: int
    engine_batchnorm: str
    worst: dict[str, tuple[str, float]] = field(default_factory=dict)  # "rank r step s" -> (tensor, error)
    losses: dict[int, list[float]] = field(default_factory=dict)
    final: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # each rank's weights and outputs
    tolerance: float = TOLERANCE

    @property
    def largest(self) -> tuple[str, str, float]:
        where = max(self.worst, key=lambda k: self.worst[k][1])
        return where, *self.worst[where]

    @property
    def equal(self) -> bool:
        return bool(self.worst) and self.largest[2] <= self.tolerance

    def describe(self) -> str:
        where, tensor, error = self.largest
        verdict = "the same computation" if self.equal else "NOT the same computation"
        return (f"{self.framework}/{self.network} {self.mode} x{self.world_size}: {verdict}: largest difference "
                f"{error:.2e} of the tensor's norm ({tensor}, {where}; bound {self.tolerance:.0e})")


def _compared(spec_has_bn: bool, batchnorm: str, rank: int, key: str) -> bool:
    """Whether rank ``rank``'s ``key`` must equal the reference's: running statistics (and the eval-mode outputs
    that read them) of per-replica BatchNorm only on rank 0."""
    if (key == "forward" or key.rsplit(".", 1)[-1] in RUNNING) and spec_has_bn and batchnorm == PER_REPLICA:
        return rank == 0
    return True


def check(framework: str, network: str, *, mode: str, world_size: int = 2, steps: int = 3, seed: int = 0,
          threads: int = 1, mnist_dir: str | None = None, global_batch: int | None = None,
          fault: Fault | None = None, topology: Topology | None = None, workdir: str | Path | None = None,
          timeout_s: float = 300.0, device: str = "cpu") -> CheckResult:
    """Run the reference and the data-parallel job from the same weights (dropout off), and compare them;
    ``fault`` injects a wrong gradient or a crash on purpose."""
    spec = get_network(network)
    batch = global_batch or spec.recipe.batch_size
    topology = topology or Topology()
    cls = check_plan(framework, mode, world_size, batch, threads, topology, device)
    with tempfile.TemporaryDirectory(prefix="mfb-dp-check-", dir=workdir) as tmp:
        weights = save_weights(Path(tmp) / "initial.npz", initial_weights(checked_spec(network), seed))
        base = Job(framework=framework, network=network, mode=mode, world_size=world_size, task=CHECK, output=tmp,
                   global_batch=batch, seed=seed, device=device, threads=threads, mnist_dir=mnist_dir, steps=steps,
                   weights=str(weights), timeout_s=min(timeout_s, 120.0), fault=fault)
        (reference_file,) = launch(replace(base, task=REFERENCE, device="cpu"), timeout_s=timeout_s)
        rank_files = launch(base, topology, timeout_s=timeout_s, expect_ranks=_ranks(mode, world_size))
        return compare(framework, network, mode, world_size, cls.batchnorm, reference_file, rank_files,
                       has_bn=any(isinstance(layer, BatchNorm) for layer in spec.layers))


def _ranks(mode: str, world_size: int) -> list[int]:
    return list(range(world_size)) if mode == "processes" else [0]


def compare(framework: str, network: str, mode: str, world_size: int, batchnorm: str, reference_file: Path,
            rank_files: list[Path], *, has_bn: bool) -> CheckResult:
    """Compare rank files against the reference file (both written by the worker)."""
    result = CheckResult(framework, network, mode, world_size, batchnorm)
    with np.load(reference_file) as ref:
        reference = {k: ref[k] for k in ref.files}
    for rank, path in enumerate(rank_files):
        with np.load(path) as f:
            mine = {k: f[k] for k in f.files}
        result.losses[rank] = mine["losses"].tolist()
        steps = sorted({int(k.split("/")[0][4:]) for k in mine if k.startswith("step")})
        result.final[rank] = {k.partition("/")[2]: v for k, v in mine.items() if k.startswith(f"step{steps[-1]}/")}
        for step in steps:
            errors = {}
            norms = [float(np.linalg.norm(v)) for k, v in reference.items() if k.startswith(f"step{step}/")
                     and not k.endswith("/forward")]
            floor = NORM_FLOOR * max(norms)
            for key, value in mine.items():
                prefix, _, name = key.partition("/")
                if prefix != f"step{step}" or not _compared(has_bn, batchnorm, rank, name):
                    continue
                errors[name] = relative_error(value, reference[key], 0.0 if name == "forward" else floor)
            tensor = max(errors, key=errors.get)  # type: ignore[arg-type]
            result.worst[f"rank {rank} step {step}"] = (tensor, errors[tensor])
    return result
