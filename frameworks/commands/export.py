"""``python -m frameworks export``: every framework's deployment artifacts, each proven to compute what its
source framework computes, with its size, cold start, per-request latency and serving memory.

For each framework and network, from the suite's shared initial weights (or given canonical weights), the
adapter writes its artifacts (``Adapter.export``) and computes its own forward on real MNIST test images.
Frameworks that cannot share this process (another Keras backend) do both in a child process. Then each
artifact is served in a fresh process with the environment of the runtime that loads it (``Artifact.runtime``):
the runtime's import, the artifact's load and the first one-image prediction are timed apart (the cold
start), its outputs on the same images are compared with the source's (the worst image's relative error
against the suite's equivalence tolerance), and requests are served one after another to time each
(p50/p90/p99/max) while the process's peak resident set is watched. Artifacts of one format from different
frameworks (the ONNX files of PyTorch, Keras and the spec-built graph) are compared with each other too.

With ``--int8``, the runtime of each artifact that proved equal is asked for int8 artifacts derived from it by
its own quantization tooling (``Adapter.quantize``, in a child process with the runtime's environment),
calibrated on the first ``CALIBRATION_IMAGES`` MNIST *training* images (``calibration_images``; the test images
that prove and score them are never among them). An int8 artifact is served, compared and timed exactly like the
others, but it cannot equal the float forward within the tolerance, so it is not judged by it: it is judged by its
accuracy on the whole MNIST test set against the artifact it was quantized from, on the same images (the paired
drop with its 95% interval, ``stats.paired_accuracy_difference``): it passes ("ok") when the interval's upper end
is under ``INT8_MARGIN`` (1 accuracy point), and is "unequal" otherwise. The share of the compared images it
classifies as the source framework does is recorded beside it. Every artifact's test accuracy is recorded then.

Everything is written under ``--output-dir``/export-<date>-<time>/: ``<framework>/<network>/`` holds the
artifacts, ``export-summary.json`` (``schema.ExportRecord`` per artifact) and ``export-report.md`` the results.
Nothing here names a framework: the registry and the adapters know them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .. import options as opts
from ..adapters.base import Artifact, ExportAttempt, process_peak, reset_process_peak
from ..clock import gc_paused
from ..equivalence import FORWARD_TOL as TOLERANCE
from ..equivalence import TEST_IMAGES as IMAGES
from ..errors import (
    EXIT_FAILED,
    EXIT_OK,
    FrameworkUnavailable,
    InputError,
    NamedUnavailable,
    NothingToMeasure,
    UsageError,
)
from ..fileio import check_output, write_json, write_text
from ..processes import run_anywhere, run_job
from ..progress import Tracker, tracker
from ..registry import FRAMEWORKS, adapter_class, availability, create_adapter, framework_info, installed_here
from ..results import (
    EXPORT_SUMMARY,
    FAILED,
    OK,
    SKIPPED,
    UNEQUAL,
    AccuracyDrop,
    Agreement,
    ColdStart,
    ExportRecord,
    Latency,
    export_document,
)
from ..specs import NETWORKS, get_network
from ..weights import Weights, check_weights, load_weights

# IMAGES: the real MNIST test images every artifact is compared on, the equivalence tests' forward probe's.
# TOLERANCE: the equivalence tests' forward tolerance (relative). Export applies it to the worst single image
# (``per_image_errors``), where the equivalence tests apply it to the whole batch: per image is the stricter bound.
PREDICT_CHUNK = 64
WARMUP_REQUESTS = 10
CHILD_TIMEOUT_S = 1800.0
CALIBRATION_IMAGES = 512  # MNIST training images (the first ones) that calibrate int8 quantization (--int8)
INT8_MARGIN = 0.01  # an int8 artifact passes when its accuracy drop's 95% interval ends below 1 point


@dataclass
class ExportPlan:
    """A checked export run: frameworks to export (and those left out, with why), networks, weights, where."""

    frameworks: list[str]
    networks: list[str]
    output_dir: Path
    weights: dict[str, Path | None]  # network -> canonical weights file, None: shared initial weights
    left_out: dict[str, str] = field(default_factory=dict)
    asked_by_name: bool = False


def _weights_files(path: str | None, networks: list[str]) -> dict[str, Path | None]:
    if path is None:
        return {n: None for n in networks}
    where = Path(path)
    if where.is_dir():
        files = {n: where / f"{n}.npz" for n in networks}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise UsageError(f"--weights {where}: no {', '.join(missing)}; the directory must hold <network>.npz "
                             "for every network exported")
        return dict(files)
    if not where.is_file():
        raise UsageError(f"--weights {where}: no such file or directory")
    if len(networks) != 1:
        raise UsageError(f"--weights {where} is one file but {len(networks)} networks are exported; name one "
                         "with --networks, or give a directory of <network>.npz")
    return {networks[0]: where}


def read_weights(network: str, path: Path) -> Weights:
    """Canonical weights of ``network`` from an ``.npz``, checked against its spec (``UsageError`` if wrong)."""
    try:
        return check_weights(get_network(network), load_weights(path))
    except InputError as exc:
        raise UsageError(f"--weights {path}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--weights {path}: not a readable .npz of canonical weights ({exc})") from None


def plan_export(frameworks: list[str] | None, networks: list[str] | None, output_dir: str | os.PathLike | None,
         weights: str | None = None, mnist_dir: str | None = None) -> ExportPlan:
    """Check everything an export needs before anything is built: MNIST, the output directory, the weights and
    the frameworks (named ones that cannot run: ``NamedUnavailable``). Raises ``UsageError`` (fix the input) or
    ``NothingToMeasure`` (nothing can export here)."""
    from .. import data
    from ..errors import DataError

    try:
        data.locate(mnist_dir)
    except DataError as exc:
        raise UsageError(f"MNIST is not usable, so no artifact can be checked: {exc}") from None
    nets = list(networks) if networks is not None else list(NETWORKS)
    files = _weights_files(weights, nets)
    for network, path in files.items():
        if path is not None:
            read_weights(network, path)
    chosen = list(frameworks) if frameworks is not None else list(FRAMEWORKS)
    runnable, left_out = installed_here(chosen)
    if not runnable:
        raise (NamedUnavailable if frameworks is not None else NothingToMeasure)(
            "none of the frameworks can export here: " + "; ".join(left_out.values()))
    out = check_output(output_dir if output_dir is not None else Path.cwd() / "bench-results", "--output-dir")
    return ExportPlan(runnable, nets, out, files, left_out, frameworks is not None)


# --- the source side: build, compute the reference outputs, export ------------------------------------------
@dataclass
class SourceJob:
    """What one framework exports: networks, their weights and images, where, with how many threads."""

    framework: str
    networks: list[str]
    weights: dict[str, Path | None]
    images: dict[str, np.ndarray]
    directory: Path
    threads: int | None


def export_here(job: SourceJob) -> list[dict[str, Any]]:
    """Build each network in ``job.framework`` in this process, compute its forward on the images, and export it.

    Returns per network ``{network, version, outputs, attempts}`` or ``{network, error}``."""
    results = []
    for network in job.networks:
        try:
            path = job.weights.get(network)
            model = create_adapter(job.framework, network, threads=job.threads, shared_init=path is None)
            if path is not None:
                model.set_weights(read_weights(network, path))
            outputs = model.forward(job.images[network])
            target = job.directory / job.framework / network
            target.mkdir(parents=True, exist_ok=True)
            try:
                attempts = model.export(target)
            except FrameworkUnavailable as exc:
                attempts = [ExportAttempt("-", reason=str(exc), skipped=True)]
            results.append({"network": network, "version": model.version, "outputs": outputs,
                            "attempts": attempts})
        except Exception as exc:  # a framework that cannot build is reported, the others still export
            results.append({"network": network, "error": f"{type(exc).__name__}: {exc}"})
    return results


def export_anywhere(job: SourceJob, timeout: float = CHILD_TIMEOUT_S) -> list[dict[str, Any]]:
    """``export_here`` in this process if the framework can run here, else in a child process with the
    environment it needs (its own Keras backend)."""
    return run_anywhere(job.framework, export_here, job, in_child=in_child, timeout=timeout,
                        what=f"{job.framework} export")


# --- the runtime side: a fresh process serves one artifact ---------------------------------------------------
@dataclass
class ServeJob:
    """One artifact to serve in a fresh process: the images to compare on and the latency to measure."""

    artifact: Artifact
    images: np.ndarray
    requests: int
    latency_batches: list[int]
    threads: int | None
    device: str = "cpu"
    score_images: np.ndarray | None = None  # --int8: the MNIST test set, whose predicted classes come back


def serve_here(job: ServeJob) -> dict[str, Any]:
    """Serve ``job.artifact`` in this (fresh) process: the cold start's three parts timed apart, the outputs on
    every image (and the predicted class of every score image), then ``job.requests`` timed requests per latency
    batch with the peak resident set watched."""
    artifact, images = job.artifact, job.images
    start = time.perf_counter()
    runtime = adapter_class(artifact.runtime)
    runtime.import_runtime(artifact)
    imported = time.perf_counter()
    loaded = runtime.load_artifact(artifact, device=job.device, threads=job.threads)
    ready = time.perf_counter()
    loaded.predict(images[:1])
    first = time.perf_counter()
    outputs = np.concatenate([loaded.predict(images[i:i + PREDICT_CHUNK])
                              for i in range(0, len(images), PREDICT_CHUNK)])
    scored = job.score_images
    predictions = None if scored is None else np.concatenate(
        [np.argmax(loaded.predict(scored[i:i + PREDICT_CHUNK]), axis=1) for i in range(0, len(scored), PREDICT_CHUNK)])
    latency = []
    reset_process_peak()  # from here on: the peak while serving (the loaded artifact stays resident)
    for batch in job.latency_batches:
        batches = [np.ascontiguousarray(images[i:i + batch]) for i in range(0, len(images) - batch + 1, batch)]
        for i in range(WARMUP_REQUESTS):
            loaded.predict(batches[i % len(batches)])
        times = []
        with gc_paused():
            for i in range(job.requests):
                x = batches[i % len(batches)]
                t = time.perf_counter()
                loaded.predict(x)
                times.append(time.perf_counter() - t)
        latency.append(Latency(batch, times))
    peak = process_peak()
    return {"cold_start": ColdStart(imported - start, ready - imported, first - ready), "outputs": outputs,
            "latency": latency, "peak_mib": None if peak is None else peak.mib, "details": loaded.details,
            "predictions": predictions}


def serve_in_fresh_process(job: ServeJob, timeout: float = CHILD_TIMEOUT_S) -> dict[str, Any]:
    """``serve_here`` in a new process with the runtime's environment; raises ``RuntimeError`` with the child's
    output when it fails."""
    env = framework_info(job.artifact.runtime).child_environment()
    return _run_child(serve_here, job, env, timeout, what=f"serving {job.artifact.format} in {job.artifact.runtime}")


# --- int8: the runtime's own quantization tooling -------------------------------------------------------------
def calibration_images(mnist: Any, network: str) -> np.ndarray:
    """The images that calibrate int8 quantization: the first ``CALIBRATION_IMAGES`` MNIST *training* images,
    preprocessed with the network's recipe. Only the training set is read: the test images prove and score the
    quantized artifacts, so they must never shape them."""
    from .. import data

    return data.preprocess(mnist.train_images[:CALIBRATION_IMAGES], get_network(network).recipe)


@dataclass
class QuantizeJob:
    """An artifact to quantize with its runtime's tooling, the calibration images, and where to write."""

    artifact: Artifact
    calibration: np.ndarray
    directory: Path
    threads: int | None


def quantize_here(job: QuantizeJob) -> list[ExportAttempt]:
    """The attempts of the artifact's runtime to derive int8 artifacts from it (none where it has no tooling)."""
    return adapter_class(job.artifact.runtime).quantize(job.artifact, job.calibration, job.directory)


def quantize_in_fresh_process(job: QuantizeJob, timeout: float = CHILD_TIMEOUT_S) -> list[ExportAttempt]:
    """``quantize_here`` in a new process with the runtime's environment; raises ``RuntimeError`` when it fails."""
    env = framework_info(job.artifact.runtime).child_environment()
    return _run_child(quantize_here, job, env, timeout,
                      what=f"quantizing {job.artifact.format} with {job.artifact.runtime}")


def _run_child(action: Any, job: Any, env: dict[str, str], timeout: float, *, what: str) -> Any:
    """``action(job)`` in a fresh process with ``env`` (``child.run_job``); ``RuntimeError`` when it fails."""
    return run_job(in_child, job, action, env=env, timeout=timeout, what=what)


def in_child(job: Any, action: Any = export_here) -> Any:
    """What a child process runs: ``action(job)`` with the job's threads set first."""
    from ..process_settings import configure_process

    configure_process(job.threads)
    return action(job)


# --- comparisons -----------------------------------------------------------------------------------------
def per_image_errors(outputs: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(worst image's ||outputs - reference|| / ||reference||, largest absolute difference), in float64."""
    a, b = np.asarray(outputs, np.float64), np.asarray(reference, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"outputs shaped {a.shape}, the source's {b.shape}")
    relative = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), np.finfo(np.float64).tiny)
    return float(relative.max()), float(np.abs(a - b).max())


def agreements(records: list[ExportRecord], outputs: dict[int, np.ndarray]) -> list[Agreement]:
    """Artifacts of one format and network from different frameworks, compared with the first of them."""
    out = []
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        if i in outputs:
            groups.setdefault((r.network, r.format), []).append(i)
    for (network, fmt), members in groups.items():
        first = members[0]
        for other in members[1:]:
            error, _ = per_image_errors(outputs[other], outputs[first])
            out.append(Agreement(network, fmt, [records[first].framework, records[other].framework], error,
                                 TOLERANCE))
    return out


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@dataclass
class Scoring:
    """--int8: the MNIST test images (preprocessed) and labels every artifact classifies for its test accuracy."""

    images: np.ndarray
    labels: np.ndarray


def check_artifact(attempt: ExportAttempt, framework: str, network: str, version: str, reference: np.ndarray,
                   images: np.ndarray, root: Path, *, requests: int, latency_batches: list[int],
                   threads: int | None) -> tuple[ExportRecord, np.ndarray | None]:
    """The record of one export attempt: served in a fresh process and compared with the source's outputs."""
    record, served = _serve_and_check(attempt, framework, network, version, reference, images, root,
                                      requests=requests, latency_batches=latency_batches, threads=threads)
    return record, None if served is None else served["outputs"]


def _serve_and_check(attempt: ExportAttempt, framework: str, network: str, version: str, reference: np.ndarray,
                     images: np.ndarray, root: Path, *, requests: int, latency_batches: list[int],
                     threads: int | None, scoring: Scoring | None = None,
                     tolerance: float | None = TOLERANCE) -> tuple[ExportRecord, dict[str, Any] | None]:
    """``check_artifact``, returning what the serving process returned; with ``scoring``, the test accuracy too;
    with ``tolerance`` None, the outputs' difference from the source's is recorded but not judged."""
    record = ExportRecord(framework=framework, network=network, format=attempt.format, status=OK,
                          source_version=version, export_s=attempt.seconds, images=len(images))
    artifact = attempt.artifact
    if artifact is None:
        record.status, record.reason = (SKIPPED if attempt.skipped else FAILED), attempt.reason
        return record, None
    record.runtime, record.tool, record.input_layout = artifact.runtime, artifact.tool, artifact.input_layout
    record.path = _relative(artifact.path, root)
    record.files = [_relative(p, root) for p in artifact.files]
    record.size_bytes = artifact.size_bytes
    state = availability(artifact.runtime, probe_device=False)
    if not state.installed:
        record.status, record.reason = SKIPPED, f"its runtime cannot run here: {state.reason}"
        return record, None
    job = ServeJob(artifact, images, requests, latency_batches, threads,
                   score_images=None if scoring is None else scoring.images)
    try:
        served = serve_in_fresh_process(job)
    except RuntimeError as exc:
        record.status, record.reason = FAILED, str(exc)
        return record, None
    record.cold_start, record.latency = served["cold_start"], served["latency"]
    record.serving_peak_memory_mib, record.runtime_details = served["peak_mib"], served["details"]
    record.max_relative_error, record.max_abs_error = per_image_errors(served["outputs"], reference)
    if scoring is not None and served.get("predictions") is not None:
        record.test_images = len(scoring.labels)
        record.test_accuracy = float(np.mean(served["predictions"] == scoring.labels))
    if tolerance is not None and not record.max_relative_error <= tolerance:
        record.status = UNEQUAL
        record.reason = (f"outputs differ from {framework}'s own forward by up to {record.max_relative_error:.2e} "
                         f"(relative, worst of {len(images)} test images; tolerance {tolerance:.0e})")
    return record, served


def check_quantized(attempt: ExportAttempt, source: ExportRecord, source_predictions: np.ndarray,
                    reference: np.ndarray, images: np.ndarray, root: Path, scoring: Scoring, *, requests: int,
                    latency_batches: list[int], threads: int | None) -> ExportRecord:
    """The record of an int8 artifact derived from ``source`` (an artifact proven equal to its framework): served
    and timed like any artifact, its classes on the compared images set beside the source framework's, and its
    accuracy on the test set set against the source artifact's on the same images (``judge_quantized``)."""
    from ..stats import paired_accuracy_difference

    record, served = _serve_and_check(attempt, source.framework, source.network, source.source_version, reference,
                                      images, root, requests=requests, latency_batches=latency_batches,
                                      threads=threads, scoring=scoring, tolerance=None)
    record.precision, record.derived_from = "int8", source.format
    if attempt.artifact is not None:
        record.quantization = dict(attempt.artifact.quantization)
    if served is None or served.get("predictions") is None:
        return record
    record.class_agreement = float(np.mean(np.argmax(served["outputs"], axis=1) == np.argmax(reference, axis=1)))
    difference = paired_accuracy_difference(source_predictions == scoring.labels,
                                            served["predictions"] == scoring.labels)
    record.accuracy_drop = AccuracyDrop(
        source_accuracy=float(np.mean(source_predictions == scoring.labels)), drop=difference.difference,
        low=difference.low, high=difference.high, confidence=difference.confidence, margin=INT8_MARGIN,
        only_source=difference.only_a, only_quantized=difference.only_b, method=difference.method)
    return judge_quantized(record)


def judge_quantized(record: ExportRecord) -> ExportRecord:
    """An int8 artifact passes ("ok") when the upper end of its accuracy drop's interval is under the margin
    (``INT8_MARGIN``); otherwise it is "unequal", with the figures in the reason."""
    drop = record.accuracy_drop
    if record.status != OK or drop is None:
        return record
    if not drop.within_margin:
        record.status = UNEQUAL
        record.reason = (f"test accuracy {100 * (record.test_accuracy or 0):.2f}% against {record.derived_from}'s "
                         f"{100 * drop.source_accuracy:.2f}% on the same {record.test_images:,} images: a drop of "
                         f"{100 * drop.drop:.2f} points ({drop.confidence:.0%} CI {100 * drop.low:.2f} to "
                         f"{100 * drop.high:.2f}), not shown to be under {100 * drop.margin:g} point")
    return record


def _print_outcome(record: ExportRecord) -> None:
    if record.reason and record.status != OK:
        detail = f": {record.reason}"
    elif record.status == OK and record.accuracy_drop is not None:
        d = record.accuracy_drop
        detail = (f" (test accuracy {100 * (record.test_accuracy or 0):.2f}%, {record.derived_from} "
                  f"{100 * d.source_accuracy:.2f}%: drop {100 * d.drop:.2f} points, 95% CI {100 * d.low:.2f} to "
                  f"{100 * d.high:.2f})")
    elif record.status == OK:
        detail = f" (max relative error {record.max_relative_error:.1e})"
    else:
        detail = ""
    print(f"  {record.network} {record.format}: {record.status}{detail}", flush=True)


def quantized_records(attempt: ExportAttempt, source: ExportRecord, source_predictions: np.ndarray,
                      reference: np.ndarray, images: np.ndarray, calibration: np.ndarray, scoring: Scoring,
                      root: Path, *, requests: int, latency_batches: list[int],
                      threads: int | None) -> list[ExportRecord]:
    """The records of the int8 artifacts the runtime of ``attempt``'s artifact derives from it (none where it has
    no quantization tooling): quantized in a child process, then each checked by ``check_quantized``."""
    artifact = attempt.artifact
    assert artifact is not None
    job = QuantizeJob(artifact, calibration, artifact.path.parent, threads)
    try:
        attempts = quantize_in_fresh_process(job)
    except RuntimeError as exc:
        return [ExportRecord(source.framework, source.network, f"{source.format} (int8)", FAILED, reason=str(exc),
                             runtime=artifact.runtime, source_version=source.source_version, precision="int8",
                             derived_from=source.format)]
    out = []
    for quantized in attempts:
        if quantized.artifact is not None:
            print(f"  {source.network} {quantized.format}: quantized from {source.format} in "
                  f"{quantized.seconds:.1f} s; serving it in a fresh process", flush=True)
        record = check_quantized(quantized, source, source_predictions, reference, images, root, scoring,
                                 requests=requests, latency_batches=latency_batches, threads=threads)
        _print_outcome(record)
        out.append(record)
    return out


def new_export_dir(output_dir: Path) -> Path:
    """A fresh directory for one export run, named by the time; never an existing one."""
    from .bench import new_run_dir

    return new_run_dir(output_dir, prefix="export")


def run_export(export_plan: ExportPlan, *, threads: int | None = None, requests: int = 1000,
               latency_batches: Sequence[int] = (1,), mnist_dir: str | None = None,
               argv: Sequence[str] = (), int8: bool = False) -> tuple[int, Path]:
    """Export, check and serve everything planned (with ``int8``, the int8 artifacts each runtime derives too);
    write the summary and its report. Returns (exit status, summary path)."""
    from .. import data
    from ..analysis.export_section import deployment_section
    from ..environment import runtime_details, source_commit

    mnist = data.load(mnist_dir)
    images = {n: data.preprocess(mnist.test_images[:IMAGES], get_network(n).recipe) for n in export_plan.networks}
    scoring = {n: Scoring(data.preprocess(mnist.test_images, get_network(n).recipe), mnist.test_labels)
               for n in export_plan.networks} if int8 else {}
    calibration = {n: calibration_images(mnist, n) for n in export_plan.networks} if int8 else {}
    root = new_export_dir(export_plan.output_dir)
    records: list[ExportRecord] = []
    outputs: dict[int, np.ndarray] = {}
    try:
        with tracker(export_plan.frameworks, noun="frameworks") as shown:
            for i, framework in enumerate(export_plan.frameworks):
                print(f"exporting {framework}: {', '.join(export_plan.networks)}", flush=True)
                shown.begin(i)
                shown.running(f"exporting {', '.join(export_plan.networks)}")
                _export_one(framework, export_plan, images, root, records, outputs, shown, requests=requests,
                            latency_batches=list(latency_batches), threads=threads, scoring=scoring,
                            calibration=calibration if int8 else None)
                shown.end()
    except KeyboardInterrupt:
        command = " ".join([*map(str, argv[:1]), *(shlex.quote(str(a)) for a in argv[1:])]) or "export"
        print(f"\nexport: interrupted: the artifacts written so far are in {root}, but no summary or report (they are "
              f"written at the end); run `{command}` again to export, check and time everything (in a new directory)",
              file=sys.stderr, flush=True)
        raise
    weights = {n: (str(p) if p else "shared initial weights (weights.initial_weights, seed 0)")
               for n, p in export_plan.weights.items()}
    settings = {"frameworks": export_plan.frameworks, "networks": export_plan.networks, "threads": threads,
                "latency_requests": requests, "latency_batches": list(latency_batches), "images": IMAGES,
                "tolerance": TOLERANCE, "weights": weights, "device": "cpu"}
    if int8:
        settings["int8"] = {"calibration_images": CALIBRATION_IMAGES,
                            "calibration": f"MNIST training images 0-{CALIBRATION_IMAGES - 1}, preprocessed with each "
                                           "network's recipe",
                            "test_images": len(mnist.test_labels), "margin": INT8_MARGIN, "confidence": 0.95}
    machine = runtime_details(threads=threads)
    summary = export_document(command=list(argv), settings=settings, machine=machine, records=records,
                              agreements=agreements(records, outputs), left_out=export_plan.left_out,
                              datetime=dt.datetime.now(dt.timezone.utc).isoformat(), suite_version=__version__,
                              commit_info=source_commit())
    path = write_json(root / EXPORT_SUMMARY, summary)
    from ..results import load_exports

    written = load_exports(path)
    m = machine.get("machine", {})
    header = ["# Deployment exports", "",
              f"Machine: {m.get('cpu_model')} ({m.get('cpu_cores')} cores), {m.get('memory_gib')} GiB, Python "
              f"{m.get('python')}; versions: " + ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items()),
              ""]
    write_text(root / "export-report.md", "\n".join([*header, *deployment_section([], [written])]) + "\n")
    bad = [r for r in records if r.status in (FAILED, UNEQUAL)]
    disagree = [a for a in written.agreements if not a.agree]
    code = EXIT_FAILED if bad or disagree or (export_plan.asked_by_name and export_plan.left_out) else EXIT_OK
    return code, path


def _export_one(framework: str, export_plan: ExportPlan, images: dict[str, np.ndarray], root: Path,
                records: list[ExportRecord], outputs: dict[int, np.ndarray], shown: Tracker, *, requests: int,
                latency_batches: list[int], threads: int | None, scoring: dict[str, Scoring],
                calibration: dict[str, np.ndarray] | None) -> None:
    """Export ``framework``'s networks, then check and serve each artifact (and, with ``calibration``, the int8
    artifacts its runtime derives), adding to ``records`` (and ``outputs``, by record index) and to the progress
    shown (one item per exported artifact)."""
    job = SourceJob(framework, export_plan.networks, export_plan.weights, images, root, threads)
    try:
        sources = export_anywhere(job)
    except (RuntimeError, FrameworkUnavailable) as exc:
        sources = [{"network": n, "error": str(exc)} for n in export_plan.networks]
    shown.expect(sum(len(source.get("attempts", [])) or 1 for source in sources))
    for source in sources:
        network = source["network"]
        if "error" in source:
            records.append(ExportRecord(framework, network, "-", FAILED, reason=source["error"]))
            shown.item(network, FAILED)
            continue
        for attempt in source["attempts"]:
            shown.running(f"{network} {attempt.format}")
            if attempt.artifact is not None:
                print(f"  {network} {attempt.format}: exported in {attempt.seconds:.1f} s; serving it in a fresh "
                      "process", flush=True)
            record, served = _serve_and_check(attempt, framework, network, source["version"], source["outputs"],
                                              images[network], root, requests=requests,
                                              latency_batches=latency_batches, threads=threads,
                                              scoring=scoring.get(network))
            if served is not None:
                outputs[len(records)] = served["outputs"]
            records.append(record)
            _print_outcome(record)
            if calibration is not None and served is not None and record.status == OK \
                    and served.get("predictions") is not None:
                records.extend(quantized_records(attempt, record, served["predictions"], source["outputs"],
                                                 images[network], calibration[network], scoring[network], root,
                                                 requests=requests, latency_batches=latency_batches,
                                                 threads=threads))
            shown.item(f"{network} {attempt.format}", record.status)


# --- the command ------------------------------------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    export = sub.add_parser("export", help="write each framework's deployment artifacts (its own formats and "
                                           "the portable ones it exports), prove each equal to its source in a "
                                           "fresh process, and time its "
                                           "cold start and per-request latency")
    opts.add_to_argparse(export, "export")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Export every framework's deployment artifacts, check each against its source, time its serving."""
    from ..process_settings import configure_process
    from ..processes import handle_sigterm

    handle_sigterm()  # a CI runner's cancellation is an interrupt too: the child running then is ended with it
    checked = plan_export(args.frameworks, args.networks, args.output_dir, args.weights, args.mnist_dir)
    for name, why in checked.left_out.items():
        print(f"not exported: {name}: {why}")
    threads = configure_process(args.threads)
    code, path = run_export(checked, threads=threads, requests=args.latency_requests or 1000,
                            latency_batches=args.latency_batches or [1], mnist_dir=args.mnist_dir,
                            argv=["python -m frameworks", *argv], int8=args.int8)
    print(f"\nsummary: {path}\nreport: {path.with_name('export-report.md')}")
    return code
