"""``python -m frameworks accuracy --seeds N``: each (framework, network) trained with its recipe from N seeds,
the test accuracy each reached recorded, so that accuracy claims rest on a distribution, not one run.

Each framework trains in a process of its own (a Keras backend is fixed per process), seeds 0..N-1 in turn,
and appends every finished training to a journal as it finishes: an interrupted run keeps what finished. A
run that diverges or fails is recorded as such (counted and shown, never dropped). The time to the spec's
time-to-accuracy target is recorded when a trained epoch reaches it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__
from .. import options as opts
from ..errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING,
    EXIT_OK,
    DataError,
    NamedUnavailable,
    NothingToMeasure,
    UsageError,
)
from ..fileio import append_line, check_output, write_json
from ..processes import Interrupted, ProcessGroup, interrupts_held, one_each, relayed_output, run_child
from ..progress import Tracker, tracker
from ..registry import FRAMEWORKS, Status, availability, installed_here, trains
from ..results import TrainingRecord, accuracy_document
from ..specs import NETWORKS, get_network


def train_once(framework: str, network: str, device: str, seed: int, epochs: int | None, threads: int | None,
               mnist: Any, precision: str = "fp32") -> TrainingRecord:
    """Train ``network`` in ``framework`` from ``seed`` with the recipe at ``precision``, evaluating after every
    epoch."""
    from .. import data
    from ..registry import create_adapter

    spec = get_network(network)
    epochs = epochs or spec.recipe.epochs
    target = spec.time_to_accuracy.accuracy if spec.time_to_accuracy else None
    record = TrainingRecord(framework=framework, network=network, device=device, seed=seed, epochs=epochs,
                            accuracy=None, target=target, precision=precision)
    try:
        model = create_adapter(framework, network, device, threads=threads, seed=seed, precision=precision)
        record.version = model.version
        x_train = data.preprocess(mnist.train_images, spec.recipe)
        x_test = data.preprocess(mnist.test_images, spec.recipe)
        seconds = 0.0
        for _ in range(epochs):
            start = time.perf_counter()
            try:
                model.fit(x_train, mnist.train_labels, epochs=1)
            except FloatingPointError as exc:
                record.diverged, record.error = True, str(exc)
            seconds += time.perf_counter() - start
            accuracy = model.evaluate(x_test, mnist.test_labels)
            record.accuracy_per_epoch.append(accuracy)
            if target is not None and record.seconds_to_target is None and accuracy >= target:
                record.seconds_to_target = seconds
            if record.diverged:
                break
        record.seconds = seconds
        record.accuracy = record.accuracy_per_epoch[-1] if record.accuracy_per_epoch else None
    except Exception as exc:  # recorded as a failed run, with the reason: a failure is a result here
        record.error = record.error or f"{type(exc).__name__}: {exc}"
    return record


def worker(job_path: str) -> int:
    """A child process's side: train every (network, seed) of the job and journal each result."""
    from .. import data
    from ..process_settings import configure_process

    job = json.loads(Path(job_path).read_text())
    threads = configure_process(job["threads"])
    if not trains(job["framework"]):
        print(f"{job['framework']}: an inference runtime, it does not train: nothing to do", flush=True)
        return 0
    mnist = data.load(job["mnist_dir"])
    for precision in job.get("precisions", ["fp32"]):
        for network in job["networks"]:
            for seed in job["seeds"]:
                record = train_once(job["framework"], network, job["device"], seed, job["epochs"], threads, mnist,
                                    precision)
                record.process = job["label"]
                append_line(job["journal"], json.dumps(asdict(record)))
                accuracy = "failed" if record.accuracy is None else f"{record.accuracy:.2%}"
                print(f"{job['framework']:18s} {network:10s} {precision} seed {seed}: {accuracy}"
                      + (f" ({record.error})" if record.error else ""), flush=True)
    return 0


def read_journal(path: Path) -> list[TrainingRecord]:
    """The trainings a worker journaled; a torn or unreadable line is left out and said so."""
    from ..fileio import read_journal as read_lines

    records = []
    events, notes = read_lines(path)
    for event in events:
        try:
            records.append(TrainingRecord.from_json(event, str(path)))
        except ValueError as exc:
            notes.append(f"{path}: an entry that is not a training record, left out ({exc})")
    for note in notes:
        print(f"note: {note}", flush=True)
    return records


def run_accuracy(*, frameworks: Sequence[str] | None, networks: Sequence[str] | None, seeds: int,
                 devices: Sequence[str] | None = None, epochs: int | None = None, threads: int | None = None,
                 mnist_dir: str | None = None, output_dir: str | Path | None = None,
                 argv: Sequence[str] = (), world_sizes: Sequence[int] = (1,),
                 precisions: Sequence[str] = ("fp32",)) -> tuple[int, Path]:
    """Train every (framework, network, precision) from ``seeds`` seeds; write accuracy.json and its report."""
    from .. import data
    from ..environment import runtime_details, source_commit
    from ..processes import handle_sigterm
    from .bench import new_run_dir

    try:
        data.locate(mnist_dir)
    except DataError as exc:
        raise UsageError(f"MNIST is not usable, so nothing can be trained: {exc}") from None
    chosen = list(frameworks) if frameworks else list(FRAMEWORKS)
    nets = list(networks) if networks else list(NETWORKS)
    installed, left_out = installed_here(chosen)
    runnable = [name for name in installed if trains(name)]
    left_out.update({name: f"{name} is an inference runtime: it does not train"
                     for name in installed if name not in runnable})
    if not runnable:  # frameworks named that cannot train here are a failure, not a skip
        raise (NamedUnavailable if frameworks else NothingToMeasure)(
            "; ".join(left_out.values()) or "no framework selected")
    out = check_output(output_dir or Path.cwd() / "accuracy-results", "--output-dir")
    handle_sigterm()
    run_dir = new_run_dir(out, "accuracy")
    trainings: list[TrainingRecord] = []
    interrupted = False
    devs = list(devices) if devices else ["cpu"]
    units = [(device, group) for device in (devs if 1 in world_sizes else ()) for group in one_each(runnable)]
    names = [(network, seed) for network in nets for seed in range(seeds)]  # the order a worker trains in
    # world size 1: each framework's own fit in its process; progress followed from each process's journal
    with tracker([f"{group.label} on {device}" for device, group in units], noun="processes") as shown, \
            relayed_output():
        for i, (device, group) in enumerate(units):
            state = availability(group.frameworks[0], device, probe_device=False)
            if state.status is Status.NO_DEVICE:
                left_out[f"{group.label} on {device}"] = state.reason
                shown.skip(i)
                continue
            info = FRAMEWORKS[group.frameworks[0]]
            left_out.update({f"{group.label} {p}": why for p in precisions
                             if (why := info.precision_unavailable(p))})
            mine = [p for p in precisions if p in info.precisions]
            if not mine:
                shown.skip(i)
                continue
            journal = run_dir / f"{group.label}-{device}.journal.jsonl"
            try:
                shown.begin(i)
                shown.expect(len(mine) * len(names), [_item_name(network, seed, p) for p in mine for network in nets
                                                      for seed in range(seeds)])
                with shown.follow(journal, _training_event):
                    records, interrupted = _run_group(group, nets, seeds, device, epochs, threads, mnist_dir,
                                                      run_dir, mine)
                if not interrupted:
                    shown.end()
            except KeyboardInterrupt:  # outside the child (between processes): keep what its journal holds
                records, interrupted = read_journal(journal), True
            trainings += records
            if interrupted:
                break
    if not interrupted and any(n > 1 for n in world_sizes):
        from ..parallel.modes import data_parallel_frameworks
        from ..parallel.train import train_all

        parallel, without = data_parallel_frameworks(runnable)
        left_out.update({f"{name} data parallel": why for name, why in without.items()})
        try:
            trainings += train_all(parallel, nets, seeds, world_sizes, mnist_dir=mnist_dir, epochs=epochs)
        except (KeyboardInterrupt, Interrupted):  # Ctrl-C here, or passed on by a launch
            interrupted = True
    cut_short = interrupted  # by Ctrl-C while training (not while the results are written)
    settings = {"frameworks": chosen, "networks": nets, "seeds": list(range(seeds)), "devices": devs,
                "epochs": epochs, "threads": threads, "world_sizes": list(world_sizes), "precisions": list(precisions)}
    with interrupts_held() as held:  # every finished training is written, whenever Ctrl-C comes now
        doc = accuracy_document(command=["python -m frameworks", *argv], settings=settings, trainings=trainings,
                                machine=runtime_details(threads=threads), suite_version=__version__,
                                datetime=dt.datetime.now(dt.timezone.utc).isoformat(), interrupted=interrupted,
                                commit_info=source_commit())
        path = write_json(run_dir / "accuracy.json", doc)
        from ..analysis.report import write_report

        for written in write_report([path], run_dir):
            print(f"report: {written}")
    interrupted = interrupted or held.interrupted
    failed = [t for t in trainings if t.accuracy is None]
    for name, why in left_out.items():
        print(f"not run: {name}: {why}")
    print(f"accuracy: {path} ({len(trainings)} trainings, {len(failed)} failed)")
    if cut_short:
        command = " ".join(["python -m frameworks", *(shlex.quote(str(a)) for a in argv)])
        print(f"interrupted: kept the {len(trainings)} trainings that finished, in {path}, reported above. A run is "
              f"not resumed in place: run `{command}` again for a complete set (it starts a new run directory in "
              f"{out})")
    named = bool(frameworks) or devices is not None  # what was named and cannot run is a failure, not a skip
    if interrupted:
        return EXIT_INTERRUPTED, path
    if not trainings:
        return (EXIT_FAILED if named and left_out else EXIT_NOTHING), path
    return (EXIT_FAILED if failed or (named and left_out) else EXIT_OK), path


def _training_event(shown: Tracker, event: object) -> None:
    """What one entry of a worker's journal (a finished training) says about its progress."""
    if isinstance(event, dict):
        accuracy = event.get("accuracy")
        outcome = f"{accuracy:.2%}" if isinstance(accuracy, float) else "failed"
        shown.item(_item_name(event.get("network"), event.get("seed"), event.get("precision", "fp32")), outcome)


def _item_name(network: object, seed: object, precision: object) -> str:
    """How progress names one training (its precision only when it is not fp32)."""
    return f"{network} seed {seed}" + (f" {precision}" if precision != "fp32" else "")


def _run_group(group: ProcessGroup, networks: list[str], seeds: int, device: str, epochs: int | None,
               threads: int | None, mnist_dir: str | None, run_dir: Path,
               precisions: Sequence[str] = ("fp32",)) -> tuple[list[TrainingRecord], bool]:
    framework = group.frameworks[0]
    stem = f"{group.label}-{device}"
    journal = run_dir / f"{stem}.journal.jsonl"
    job = write_json(run_dir / f"{stem}.job.json", {
        "framework": framework, "networks": networks, "seeds": list(range(seeds)), "device": device,
        "epochs": epochs, "threads": threads, "mnist_dir": mnist_dir, "journal": str(journal), "label": group.label,
        "precisions": list(precisions)})
    print(f"\n=== {group.label} on {device}: {len(networks)} networks x {seeds} seeds x {', '.join(precisions)}",
          flush=True)
    interrupted = False
    try:
        code = run_child([sys.executable, "-m", __name__, str(job)], env=group.environment)
    except Interrupted:
        code, interrupted = None, True
    records = read_journal(journal)
    done = {(r.precision, r.network, r.seed) for r in records}
    if not interrupted and code != 0:  # a crash: the trainings it never reported are failures, with the reason
        for precision in precisions:
            for network in networks:
                for seed in range(seeds):
                    if (precision, network, seed) not in done:
                        records.append(TrainingRecord(
                            framework=framework, network=network, device=device, seed=seed,
                            epochs=epochs or get_network(network).recipe.epochs, accuracy=None,
                            error=f"the process ended with exit {code} before this training finished",
                            process=group.label, precision=precision))
    return records, interrupted


def finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))


# --- the command ------------------------------------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    accuracy = sub.add_parser("accuracy", help="train each framework and network from several seeds and compare the "
                                               "accuracies (mean, CI, equivalence tests)")
    opts.add_to_argparse(accuracy, "accuracy")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Train every framework and network from several seeds; write the accuracies and their report."""
    code, _ = run_accuracy(frameworks=args.frameworks, networks=args.networks, seeds=args.seeds,
                           devices=args.devices, epochs=args.epochs, threads=args.threads, mnist_dir=args.mnist_dir,
                           output_dir=args.output_dir, argv=argv, world_sizes=args.world_sizes or [1],
                           precisions=args.precisions or ["fp32"])
    return code
