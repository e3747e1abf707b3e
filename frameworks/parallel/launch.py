"""Planning and starting one data-parallel launch: every check that can fail is made before anything runs
(a framework without the mode, a world size larger than the cores or devices, a global batch the world size
does not divide, a busy port), then the framework's own launcher starts the ranks, and the parent collects each
rank's file, naming the ranks that left none.
"""

from __future__ import annotations

import collections
import re
import signal
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..adapters.data_parallel import DEVICES, MODES, PROCESSES, ParallelTrainer, World
from ..errors import BenchError, FrameworkUnavailable, UsageError
from ..process_settings import default_threads
from ..processes import ChildTimeout, run_child
from ..registry import FRAMEWORKS, availability, framework_info, parallel_trainer
from .job import Job, rank_file

WORKER = "frameworks.parallel.worker"


class LaunchFailed(BenchError):
    """A launch ended without every rank's result: which ranks, and how the launcher ended."""


@dataclass(frozen=True)
class Topology:
    """Where a job runs: ``nnodes`` launches (one per machine) of ``world_size / nnodes`` processes each, meeting
    at ``master_addr:master_port`` (torchrun's meanings)."""

    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500


LOCAL = Topology()  # one machine, meeting on the loopback address


def usable_cores() -> int:
    """Cores this process may run on."""
    return default_threads()


def port_is_free(addr: str, port: int) -> bool:
    """Whether a listening socket can be opened on ``addr:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def free_port(addr: str = "127.0.0.1") -> int:
    """A port the system reports free now (for tests and local runs that need two)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return int(s.getsockname()[1])


def trainer_for(framework: str, mode: str) -> type[ParallelTrainer]:
    """The framework's trainer for ``mode``, or a ``UsageError`` saying which frameworks and modes exist."""
    if mode not in MODES:
        raise UsageError(f"unknown --dp-mode {mode!r}; modes: {', '.join(MODES)}")
    info = framework_info(framework)
    if mode not in info.data_parallel:
        offered = [f"{n} ({', '.join(i.data_parallel)})" for n, i in FRAMEWORKS.items() if i.data_parallel]
        why = info.no_data_parallel if not info.data_parallel else info.missing_modes.get(
            mode, f"it has {', '.join(info.data_parallel)} only")
        raise UsageError(f"{framework} cannot train data parallel in {mode} mode: {why}. Frameworks with data "
                         f"parallelism: {'; '.join(offered)}")
    state = availability(framework, probe_device=False)
    if not state.installed:
        raise FrameworkUnavailable(f"{framework}: {state.reason}")
    try:
        return parallel_trainer(framework, mode)
    except ImportError as exc:
        raise FrameworkUnavailable(f"{framework} data parallelism cannot be imported here: {exc}") from None


def check_plan(framework: str, mode: str, world_size: int, global_batch: int, threads: int,
               topology: Topology = LOCAL, device: str = "cpu") -> type[ParallelTrainer]:
    """Every check of a launch that can be made before it starts; returns the trainer class."""
    cls = trainer_for(framework, mode)
    if world_size < 1:
        raise UsageError(f"world size must be at least 1, got {world_size}")
    if global_batch % world_size:
        raise UsageError(f"a global batch of {global_batch} cannot be split evenly over {world_size} replicas: "
                         f"give a batch that {world_size} divides")
    if topology.nnodes < 1 or not 0 <= topology.node_rank < topology.nnodes:
        raise UsageError(f"--node-rank must lie in 0..{topology.nnodes - 1} for --nnodes {topology.nnodes}, "
                         f"got {topology.node_rank}")
    if mode == DEVICES and topology.nnodes > 1:
        raise UsageError("--dp-mode devices runs in one process on one machine: --nnodes must be 1")
    if world_size % topology.nnodes:
        raise UsageError(f"world size {world_size} cannot be split evenly over --nnodes {topology.nnodes}")
    here = world_size // topology.nnodes if mode == PROCESSES else 1
    cores = usable_cores()
    if here * threads > cores:
        raise UsageError(f"{here} process(es) x {threads} thread(s) on this machine need {here * threads} cores, "
                         f"but {cores} are usable: lower --world-sizes or --threads")
    if mode == DEVICES and world_size > cores:
        raise UsageError(f"{world_size} devices of one process need at least {world_size} cores here, "
                         f"{cores} are usable")
    world = World(mode=mode, size=world_size, nnodes=topology.nnodes, node_rank=topology.node_rank,
                  master_addr=topology.master_addr, master_port=topology.master_port)
    if why := cls.unavailable_reason(world, device):
        raise FrameworkUnavailable(f"{framework} data parallelism in {mode} mode on {device}: {why}")
    if (mode == PROCESSES and world_size > 1 and topology.node_rank == 0
            and not port_is_free(topology.master_addr, topology.master_port)):
        raise UsageError(f"port {topology.master_port} on {topology.master_addr} is in use: give another "
                         "--master-port")
    return cls


def environment(framework: str) -> dict[str, str]:
    """What every process of the launch starts with besides ours: the framework's own process settings (the ranks
    import this process's package: ``processes.run_child`` puts it first on the import path)."""
    return dict(framework_info(framework).child_environment())


def launch(job: Job, topology: Topology = LOCAL, *, timeout_s: float = 600.0,
           expect_ranks: Sequence[int] | None = None) -> list[Path]:
    """Run ``job`` (its ranks on this node) and return the result files of ``expect_ranks`` (default: every
    rank this node starts); ``LaunchFailed`` names the ranks that left none."""
    cls = parallel_trainer(job.framework, job.mode)
    Path(job.output).mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", prefix="job-", suffix=".json", dir=job.output, delete=False) as f:
        job_path = f.name
    job.write(job_path)
    if job.mode == PROCESSES and job.world_size > 1 and job.task != "reference":
        per_node = job.world_size // topology.nnodes
        world = World(mode=PROCESSES, size=job.world_size, nnodes=topology.nnodes, node_rank=topology.node_rank,
                      master_addr=topology.master_addr, master_port=topology.master_port)
        cmd = cls.launcher(world, per_node, [WORKER, job_path])
        ranks = range(topology.node_rank * per_node, (topology.node_rank + 1) * per_node)
    else:
        from ..adapters.data_parallel import python_module_command

        cmd, ranks = python_module_command(WORKER, job_path), range(1)
    wanted = list(ranks if expect_ranks is None else expect_ranks)
    suffix = ".json" if job.task in ("time", "train") else ".npz"
    output: collections.deque[str] = collections.deque(maxlen=200)
    try:
        code = run_child(cmd, env=environment(job.framework), timeout=timeout_s, tail=output)
    except ChildTimeout as exc:
        code = None
        ended = str(exc)
    else:
        ended = f"exit {code}"
    files = [rank_file(job.output, job.task, r, suffix) for r in wanted]
    missing = [r for r, p in zip(wanted, files, strict=True) if not p.exists()]
    if missing or code != 0:
        who = ", ".join(f"rank {r}" for r in missing) + " left no result" if missing else "every rank wrote its result"
        first = first_failure("".join(output))
        raise LaunchFailed(f"{job.framework} {job.task} launch of {job.world_size} replica(s) ({job.mode}) failed"
                           f"{f': {first}' if first else ''}; {who}; the launcher ended with {ended}")
    return files


def first_failure(output: str) -> str:
    """The rank that failed first and how, from the launcher's own failure report (torchrun's "Root Cause (first
    observed failure)" section: ``rank: N (local_rank: L)`` and ``exitcode: X``), or ``""``."""
    match = re.search(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", output, re.DOTALL)
    if not match:
        return ""
    rank, code = int(match.group(1)), int(match.group(2))
    how = f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit {code}"
    return f"rank {rank} failed first ({how})"
