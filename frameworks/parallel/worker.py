"""One process of a data-parallel job: ``python -m frameworks.parallel.worker JOB.json``.

Started by the framework's launcher (one per rank), directly (device mode, world size 1, the reference), it
builds the framework's ``ParallelTrainer`` from the job, feeds it its rows of each global batch of MNIST
training images, and writes its result file: weights and outputs after the checkpoints (check, reference) or
its own step times (time).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import sys
import time
from typing import Any

import numpy as np

from .. import data
from ..adapters.data_parallel import DEVICES, World
from ..equivalence import PLAIN_SGD
from ..fileio import atomic_path, write_json
from ..process_settings import configure_process
from ..registry import apply_process_settings, parallel_trainer
from ..specs import BatchNorm, NetworkSpec, get_network
from ..weights import load_weights
from .job import REFERENCE, TIME, TRAIN, Job, rank_file

EVAL_IMAGES = 256  # test images whose outputs are compared after the steps


def batches(job: Job, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` consecutive global batches of training images (recipe-scaled), and the evaluation images."""
    spec = get_network(job.network)
    mnist = data.load(job.mnist_dir)
    n = job.global_batch * count
    if n > len(mnist.train_images):
        raise ValueError(f"{count} global batches of {job.global_batch} exceed MNIST's training images")
    x = data.preprocess(mnist.train_images[:n], spec.recipe)
    y = mnist.train_labels[:n].astype(np.int64)
    return x, y, data.preprocess(mnist.test_images[:EVAL_IMAGES], spec.recipe)


def checked_spec(network: str) -> NetworkSpec:
    """The network the equivalence check trains: without dropout, with the recipe's optimizer, except plain SGD
    (the equivalence tests' SGD step) for a network with BatchNorm: an adaptive optimizer turns float noise in a
    mathematically zero gradient (a bias before BatchNorm) into a full-size step, so the reference and the
    replicas would differ by that noise, not by what data parallelism computes."""
    spec = get_network(network).without_dropout()
    if any(isinstance(layer, BatchNorm) for layer in spec.layers):
        spec = spec.with_optimizer(PLAIN_SGD)
    return spec


def _world(job: Job) -> World:
    if job.task == REFERENCE:
        return World(mode=job.mode, size=1)
    if job.mode == DEVICES:
        return World(mode=DEVICES, size=job.world_size, timeout_s=job.timeout_s)
    return World.from_environment(job.mode, job.timeout_s)


def run(job: Job) -> None:
    """Do ``job``'s part for this process and write its result file."""
    configure_process(job.threads)
    apply_process_settings([job.framework])
    spec = checked_spec(job.network) if job.task not in (TIME, TRAIN) else get_network(job.network)
    if not job.dropout:
        spec = spec.without_dropout()
    world = _world(job)
    cls = parallel_trainer(job.framework, job.mode)
    if job.task == REFERENCE:
        trainer: Any = cls.reference(spec, job.world_size, seed=job.seed, threads=job.threads)
    else:
        trainer = cls(spec, world, seed=job.seed, threads=job.threads, device=job.device)
    if job.weights:
        trainer.set_weights(load_weights(job.weights))
    if job.task == TRAIN:
        _train(job, trainer, world)
        trainer.close()
        return
    steps = job.steps if job.task != TIME else job.warmup + job.rounds
    x, y, x_eval = batches(job, steps if job.task != TIME else 1)
    rows = world.shard(job.global_batch) if job.task != REFERENCE else slice(0, job.global_batch)

    def batch(step: int) -> tuple[np.ndarray, np.ndarray]:
        """Global batch ``step`` (1-based; timing reuses the first), this process's rows, faults applied."""
        start = 0 if job.task == TIME else (step - 1) * job.global_batch
        xb, yb = x[start:start + job.global_batch][rows], y[start:start + job.global_batch][rows]
        fault = job.fault
        if fault and fault.rank == world.rank and step >= fault.step and job.task != REFERENCE:
            if fault.kind == "crash":
                print(f"[worker] rank {world.rank}: killing itself at step {step} (injected fault)", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            if fault.kind == "corrupt":
                yb = (yb + 1) % spec.num_classes
        return xb, yb

    if job.task == TIME:
        _time(job, trainer, world, batch)
    else:
        _check(job, trainer, world, batch, x_eval)
    if hasattr(trainer, "close"):  # the reference is a plain adapter or a helper: no job to leave
        trainer.close()


def _check(job: Job, trainer: Any, world: World, batch: Any, x_eval: np.ndarray) -> None:
    out: dict[str, np.ndarray] = {}
    losses = []
    for step in range(1, job.steps + 1):
        losses.append(trainer.train_step(*batch(step)))
        if step in job.checkpoints:
            for key, value in trainer.get_weights().items():
                out[f"step{step}/{key}"] = value
            out[f"step{step}/forward"] = trainer.forward(x_eval)
    out["losses"] = np.asarray(losses)
    path = rank_file(job.output, job.task, world.rank, ".npz")
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **out)


def _train(job: Job, trainer: Any, world: World) -> None:
    """The recipe's epochs over the whole training set, each epoch in a new seed-fixed order shared by every rank
    (each takes its rows of every global batch; a last partial batch the replicas cannot share evenly is left
    out), rank 0 evaluating on the test set after each epoch."""
    spec = get_network(job.network)
    mnist = data.load(job.mnist_dir)
    x, y = data.preprocess(mnist.train_images, spec.recipe), mnist.train_labels.astype(np.int64)
    x_test = data.preprocess(mnist.test_images, spec.recipe)
    epochs = job.epochs or spec.recipe.epochs
    batch = job.global_batch
    record: dict[str, Any] = {"framework": job.framework, "network": job.network, "device": job.device,
                              "seed": job.seed, "epochs": epochs, "accuracy": None, "accuracy_per_epoch": [],
                              "world_size": job.world_size, "diverged": False, "error": None,
                              "target": spec.time_to_accuracy.accuracy if spec.time_to_accuracy else None,
                              "seconds_to_target": None, "version": getattr(trainer, "engine", "")}
    seconds = 0.0
    for epoch in range(epochs):
        order = np.random.default_rng([job.seed, epoch]).permutation(len(x))
        ends = list(range(batch, len(x) + 1, batch))
        tail = len(x) - ends[-1]
        if tail and tail % job.world_size == 0:
            ends.append(len(x))
        start, begin = time.perf_counter(), 0
        for end in ends:
            idx = order[begin:end][world.shard(end - begin)]
            loss = trainer.train_step(x[idx], y[idx])
            begin = end
        trainer.synchronize()
        seconds += time.perf_counter() - start
        if not np.isfinite(loss):
            record.update(diverged=True, error=f"a non-finite loss ({loss}) in epoch {epoch + 1}")
        if world.rank == 0:
            probs = np.concatenate([trainer.forward(x_test[i:i + 1000]) for i in range(0, len(x_test), 1000)])
            accuracy = float((probs.argmax(axis=1) == mnist.test_labels).mean())
            record["accuracy_per_epoch"].append(accuracy)
            if record["target"] is not None and record["seconds_to_target"] is None and accuracy >= record["target"]:
                record["seconds_to_target"] = seconds
        if record["diverged"]:
            break
    if world.rank == 0:
        record.update(seconds=seconds, accuracy=record["accuracy_per_epoch"][-1])
        write_json(rank_file(job.output, job.task, 0, ".json"), record)


def _timed(step: Any, trainer: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        trainer.synchronize()
        times.append(time.perf_counter() - start)
    return times


def _time(job: Job, trainer: Any, world: World, batch: Any) -> None:
    xb, yb = batch(1)
    for _ in range(job.warmup):
        trainer.train_step(xb, yb)
    times = _timed(lambda: trainer.train_step(xb, yb), trainer, job.rounds)
    record: dict[str, Any] = {"rank": world.rank, "world_size": world.size, "mode": world.mode,
                              "processes": world.processes, "threads_asked": job.threads,
                              "threads": getattr(getattr(trainer, "adapter", None), "threads", job.threads),
                              "host": socket.gethostname(),
                              "engine": getattr(trainer, "engine", ""), "times_s": times,
                              "median_s": statistics.median(times), **job.labels}
    if job.no_sync and trainer.has_no_sync and world.size > 1:
        for _ in range(2):
            trainer.no_sync_step(xb, yb)
        quiet = _timed(lambda: trainer.no_sync_step(xb, yb), trainer, job.rounds)
        record.update(no_sync_times_s=quiet, no_sync_median_s=statistics.median(quiet))
    write_json(rank_file(job.output, job.task, world.rank, ".json"), record)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m frameworks.parallel.worker JOB.json", file=sys.stderr)
        return 2
    job = Job.read(argv[0])
    try:
        run(job)
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the group: the parent says what was kept
        print(f"[worker] {job.framework} rank {os.environ.get('RANK', '0')}: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:
        rank = os.environ.get("RANK", "0")
        print(f"[worker] {job.framework} rank {rank}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
