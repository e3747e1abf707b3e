"""Deployment exports: every artifact of every network, from PyTorch, Keras (TensorFlow here, the other
backends through a child process), Caffe and ONNX Runtime, loaded back in its own runtime in a fresh process
and equal to its source framework's forward on real MNIST test images; the ONNX files of different frameworks
equal in ONNX Runtime; cold start, latency and size recorded; failures and bad inputs reported clearly."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from frameworks import availability, data
from frameworks.adapters.base import Artifact, ExportAttempt, attempt_export
from frameworks.analysis.export_section import deployment_section
from frameworks.cli import main
from frameworks.commands.export import (
    CALIBRATION_IMAGES,
    IMAGES,
    INT8_MARGIN,
    TOLERANCE,
    calibration_images,
    check_artifact,
    check_quantized,
    judge_quantized,
    per_image_errors,
    plan_export,
    run_export,
)
from frameworks.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, FrameworkUnavailable, NamedUnavailable, UsageError
from frameworks.registry import FRAMEWORKS
from frameworks.results import FAILED, OK, SKIPPED, UNEQUAL, AccuracyDrop, ExportRecord, ResultsError, load_exports
from frameworks.specs import NETWORKS, get_network
from frameworks.weights import initial_weights, save_weights

REQUESTS = 25  # per latency batch: enough to check the bookkeeping (the real runs use 1,000)
BATCHES = [1, 4]
#: The formats each framework must export equal to itself (where its exporter's packages are installed).
EXPECTED = {"pytorch": {"torch.export", "onnx"}, "keras-tensorflow": {"tf_saved_model", "onnx"},
            "caffe": {"caffe"}, "onnxruntime": {"onnx"},
            "keras-jax": {"tf_saved_model"}, "keras-torch": {"onnx", "torch.export"}}


def missing_module(reason: str) -> bool:
    """A skip the test accepts: the exporter's package is missing, or the installed version has a known
    limitation (the adapter's ExportUnsupported names the upstream issue)."""
    return ("not installed" in reason or "No module named" in reason or "requires the" in reason
            or "pytorch/pytorch#" in reason or "Unrecognized format" in reason)


def own_process(framework: str) -> bool:
    """Whether the framework needs a process setting other than the default (a Keras backend other than
    TensorFlow): its exports are checked from the main process, through a child, by the test below."""
    setting = FRAMEWORKS[framework].process
    return setting is not None and setting[1] != setting[0].default


@pytest.fixture(scope="module")
def exported(tmp_path_factory, mnist, threads, pytestconfig):
    """Every selected framework that runs in this process, every network, exported, served and checked once."""
    chosen = pytestconfig.getoption("frameworks") or list(EXPECTED)
    here = [f for f in chosen if availability(f, probe_device=False).ready and not own_process(f)]
    if not here:
        pytest.skip("no framework that exports runs in this process")
    checked = plan_export(here, list(NETWORKS), tmp_path_factory.mktemp("exports"))
    code, path = run_export(checked, threads=threads, requests=REQUESTS, latency_batches=BATCHES)
    return code, load_exports(path), path


def records_of(summary, framework, network):
    return [r for r in summary.records if r.framework == framework and r.network == network]


def test_every_artifact_equals_its_source_and_serves(request, framework, network):
    if own_process(framework):
        pytest.skip(f"{framework} needs a process of its own: test_a_keras_backend_exports_in_its_own_process "
                    "checks its exports from the main test process, through a child process")
    code, summary, path = request.getfixturevalue("exported")
    records = records_of(summary, framework, network)
    if not records:
        pytest.skip(f"{framework} was not exported in this process: {availability(framework).reason}")
    by_format = {r.format: r for r in records}
    for fmt in EXPECTED.get(framework, set()):
        assert fmt in by_format, f"{framework}/{network}: no {fmt} export attempted"
        r = by_format[fmt]
        assert r.status == OK or (r.status == SKIPPED and missing_module(r.reason)), (fmt, r.status, r.reason)
    if not any(r.status == OK for r in records):  # every format skipped, each for an accepted reason (above)
        pytest.skip(f"{framework}/{network}: no format can be exported here: "
                    + "; ".join(f"{r.format}: {r.reason}" for r in records))
    root = path.parent
    for r in records:
        assert r.status in (OK, SKIPPED), f"{framework}/{network} {r.format}: {r.status}: {r.reason}"
        if r.status != OK:
            continue
        assert r.images == IMAGES and r.max_relative_error <= TOLERANCE, (r.format, r.max_relative_error)
        assert r.size_bytes == sum((root / f).stat().st_size for f in r.files) > 0
        assert (root / r.path).exists()
        cold = r.cold_start
        assert cold.import_s > 0 and cold.load_s > 0 and cold.first_prediction_s > 0
        assert [lat.batch for lat in r.latency] == BATCHES
        for lat in r.latency:
            p = lat.percentiles
            assert p["requests"] == REQUESTS
            assert 0 < p["p50_s"] <= p["p90_s"] <= p["p99_s"] <= p["max_s"]
        assert r.serving_peak_memory_mib > 0 and r.runtime_details.get("runtime")


def test_artifacts_of_one_format_agree_across_frameworks(exported, network):
    _, summary, _ = exported
    pairs = [a for a in summary.agreements if a.network == network]
    onnx = {f for a in pairs if a.format == "onnx" for f in a.frameworks}
    present = {r.framework for r in summary.records if r.network == network and r.format == "onnx" and r.status == OK}
    assert onnx == present or len(present) < 2
    for a in pairs:
        assert a.agree, f"{network} {a.format}: {a.frameworks} differ by {a.max_relative_error:.2e}"


def test_onnx_files_from_each_framework_give_the_same_outputs_in_onnx_runtime(exported, network, mnist):
    """Loaded here, independently of the command's own comparison: PyTorch's, Keras' and the spec-built ONNX
    files of the same weights, on the same real images."""
    if not availability("onnxruntime", probe_device=False).ready:
        pytest.skip(availability("onnxruntime").reason)
    from frameworks.adapters.onnxruntime import OnnxRuntimeAdapter

    _, summary, path = exported
    onnx = [r for r in summary.records if r.network == network and r.format == "onnx" and r.status == OK]
    if len({r.framework for r in onnx}) < 2:
        pytest.skip(f"fewer than two frameworks exported {network} to ONNX here")
    x = data.preprocess(mnist.test_images[:IMAGES], get_network(network).recipe)
    outputs = {}
    for r in onnx:
        artifact = Artifact("onnx", path.parent / r.path, "onnxruntime", r.input_layout)
        outputs[r.framework] = OnnxRuntimeAdapter.load_artifact(artifact, threads=1).predict(x)
    first, *others = outputs
    for other in others:
        error, _ = per_image_errors(outputs[other], outputs[first])
        assert error <= TOLERANCE, f"{network}: {first} and {other} ONNX files differ by {error:.2e}"


def test_the_summary_reads_back_and_renders_as_the_deployment_section(exported):
    code, summary, path = exported
    assert code == EXIT_OK, [(r.framework, r.network, r.format, r.status, r.reason) for r in summary.records]
    assert load_exports(path).records == summary.records
    text = "\n".join(deployment_section([], [summary]))
    assert text.startswith("## Deployment")
    for network in {r.network for r in summary.records}:
        assert f"### {network}" in text
    for r in summary.records:
        assert f"| {r.framework} | {r.format} |" in text
    assert (path.parent / "export-report.md").read_text().count("### ") == len({r.network for r in summary.records})


@pytest.mark.parametrize("backend", ["keras-jax", "keras-torch"])
def test_a_keras_backend_exports_in_its_own_process(backend, tmp_path, threads):
    """Through a child process with the backend's KERAS_BACKEND (in this process if it already has it); a
    format whose exporter is not installed is a skip with the missing package named."""
    state = availability(backend, probe_device=False)
    if not state.installed:
        pytest.skip(state.reason)
    code, path = run_export(plan_export([backend], ["lenet"], tmp_path), threads=threads, requests=REQUESTS,
                            latency_batches=[1])
    summary = load_exports(path)
    records = {r.format: r for r in summary.records}
    for fmt in EXPECTED[backend]:
        r = records[fmt]
        assert r.status == OK or (r.status == SKIPPED and missing_module(r.reason)), (fmt, r.status, r.reason)
    for r in summary.records:
        assert r.status in (OK, SKIPPED) and (r.status == OK or r.reason), (r.format, r.status, r.reason)
        if r.status == OK:
            assert r.max_relative_error <= TOLERANCE and r.cold_start is not None
    assert code == EXIT_OK


# --- failures are results, reported with the reason ----------------------------------------------------------
def test_an_exporter_that_fails_or_is_missing_is_reported_with_the_reason(tmp_path):
    def broken() -> Artifact:
        raise RuntimeError("the converter met an op\nit does not know")

    def absent() -> Artifact:
        raise ImportError("No module named 'some_converter'")

    failed, skipped = attempt_export("onnx", broken), attempt_export("onnx", absent)
    assert failed.artifact is None and not failed.skipped
    assert "RuntimeError: the converter met an op it does not know" in failed.reason
    assert skipped.skipped and "some_converter" in skipped.reason
    for attempt, status in ((failed, FAILED), (skipped, SKIPPED)):
        record, outputs = check_artifact(attempt, "pytorch", "lenet", "v", np.zeros((2, 10)), np.zeros((2, 1, 28, 28),
                                         np.float32), tmp_path, requests=1, latency_batches=[1], threads=1)
        assert record.status == status and record.reason == attempt.reason and outputs is None


def test_an_artifact_whose_outputs_differ_is_unequal(tmp_path, mnist):
    if not availability("onnxruntime", probe_device=False).ready:
        pytest.skip(availability("onnxruntime").reason)
    from frameworks import create_adapter

    model = create_adapter("onnxruntime", "lenet", shared_init=True, threads=1)
    (attempt,) = model.export(tmp_path)
    x = data.preprocess(mnist.test_images[:8], model.spec.recipe)
    wrong = model.forward(x)[::-1]  # another image's probabilities: what a broken export would give
    record, _ = check_artifact(attempt, "onnxruntime", "lenet", model.version, wrong, x, tmp_path, requests=3,
                               latency_batches=[1], threads=1)
    assert record.status == UNEQUAL and "tolerance" in record.reason and record.max_relative_error > TOLERANCE
    right, _ = check_artifact(attempt, "onnxruntime", "lenet", model.version, model.forward(x), x, tmp_path,
                              requests=3, latency_batches=[1], threads=1)
    assert right.status == OK and right.max_relative_error <= TOLERANCE


def test_a_summary_that_is_not_one_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"benchmarks": []}')
    with pytest.raises(ResultsError, match="not an export summary"):
        load_exports(path)
    with pytest.raises(ResultsError, match="status"):
        ExportRecord.from_json({"framework": "a", "network": "lenet", "format": "onnx", "status": "great"})


# --- bad inputs: clear errors before anything is built -----------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--frameworks", "tensorflow"], "valid frameworks: "),
    (["--networks", "vgg"], "valid networks: "),
    (["--latency-batches", "0"], "must be at least 1"),
    (["--latency-batches", "1,1000"], "at most 256"),
    (["--latency-requests", "many"], "not a whole number"),
])
def test_bad_options_are_usage_errors(args, message, capsys):
    assert main(["export", *args]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_an_output_directory_that_cannot_be_written_is_a_usage_error(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("")
    for where, message in ((a_file, "is a file"), (a_file / "sub", f"{a_file} is a file, not a directory"),
                           (Path("/proc/mfb-cannot-write-here"), "cannot be written")):
        assert main(["export", "--frameworks", "onnxruntime", "--output-dir", str(where)]) == EXIT_USAGE
        assert message in capsys.readouterr().err


def test_weights_must_fit_the_networks(tmp_path):
    good = save_weights(tmp_path / "lenet.npz", initial_weights(get_network("lenet"), 1))
    with pytest.raises(UsageError, match="one file but 2 networks"):
        plan_export(["onnxruntime"], ["lenet", "mlp_bn"], tmp_path, weights=str(good))
    with pytest.raises(UsageError, match="mlp_bn.npz"):
        plan_export(["onnxruntime"], ["lenet", "mlp_bn"], tmp_path, weights=str(tmp_path))
    with pytest.raises(UsageError, match="missing"):
        plan_export(["onnxruntime"], ["mlp_bn"], tmp_path, weights=str(good))
    with pytest.raises(UsageError, match="no such file"):
        plan_export(["onnxruntime"], ["lenet"], tmp_path, weights=str(tmp_path / "nope.npz"))
    installed = [f for f in FRAMEWORKS if availability(f, probe_device=False).installed]
    if installed:  # a plan needs a framework that can export here
        assert plan_export(installed[:1], ["lenet"], tmp_path, weights=str(tmp_path)).weights == {"lenet": good}


def test_a_framework_named_that_is_not_installed_cannot_export(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "onnxruntime" else real(m, *a))
    with pytest.raises(NamedUnavailable, match="onnxruntime(, onnx)? not installed"):
        plan_export(["onnxruntime"], ["lenet"], tmp_path)


def test_given_weights_are_exported_and_the_command_line_works(tmp_path, capsys):
    """``python -m frameworks export`` from canonical weights: the exported model computes with those weights."""
    if not availability("onnxruntime", probe_device=False).ready:
        pytest.skip(availability("onnxruntime").reason)
    from frameworks import create_adapter

    weights = initial_weights(get_network("lenet"), 5)
    save_weights(tmp_path / "w.npz", weights)
    code = main(["export", "--frameworks", "onnxruntime", "--networks", "lenet", "--weights", str(tmp_path / "w.npz"),
                 "--latency-requests", "5", "--threads", "1", "--output-dir", str(tmp_path / "out")])
    assert code == EXIT_OK, capsys.readouterr()
    (summary_path,) = (tmp_path / "out").glob("export-*/export-summary.json")
    summary = load_exports(summary_path)
    (record,) = summary.records
    assert record.status == OK and summary.settings["weights"] == {"lenet": str(tmp_path / "w.npz")}
    assert "id" in json.loads(summary_path.read_text())["commit_info"]  # the source it ran from
    assert "summary:" in capsys.readouterr().out
    reference = create_adapter("onnxruntime", "lenet", threads=1)
    reference.set_weights(weights)
    artifact = Artifact("onnx", summary_path.parent / record.path, "onnxruntime")
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 28, 28)).astype(np.float32)
    from frameworks.adapters.onnxruntime import OnnxRuntimeAdapter

    np.testing.assert_allclose(OnnxRuntimeAdapter.load_artifact(artifact).predict(x), reference.forward(x),
                               rtol=1e-6)


def test_an_adapter_without_exports_says_so():
    from .numpy_reference import NumpyReferenceAdapter

    model = NumpyReferenceAdapter(get_network("lenet"), framework="numpy-reference")
    with pytest.raises(FrameworkUnavailable, match="no deployment export"):
        model.export(Path("."))
    assert ExportAttempt("onnx").artifact is None


def test_the_section_shows_each_frameworks_own_latency_from_a_benchmark_run():
    from frameworks.results import BenchRecord

    from .helpers import bench_entry

    entries = [bench_entry("pytorch", "lenet", "latency", 0.002, kind="latency", batch=1, rounds=100, process=p)
               for p in ("pytorch/1", "pytorch/2")]
    entries.append(bench_entry("onnxruntime", "lenet", "latency", 0.0005, kind="latency", batch=1, rounds=100))
    entries.append(bench_entry("pytorch", "lenet", "forward", 0.01))  # not a latency record: not in the section
    records = [BenchRecord.from_benchmark(e) for e in entries]
    lines = deployment_section(records, [])
    assert lines[0] == "## Deployment" and "### lenet" in lines
    rows = [line for line in lines if line.startswith("| pytorch |") or line.startswith("| onnxruntime |")]
    assert len(rows) == 2  # the two pytorch processes pooled into one row
    assert rows[0].startswith("| pytorch | cpu | 1 | 200 (2) | 2 ms |")
    assert rows[1].startswith("| onnxruntime | cpu | 1 | 100 (1) | 0.5 ms |")
    assert deployment_section([records[-1]], []) == []


def test_a_directory_written_atomically_is_moved_into_place_or_removed(tmp_path):
    from frameworks.errors import OutputError
    from frameworks.fileio import atomic_path

    with atomic_path(tmp_path / "saved_model") as tmp:
        tmp.mkdir()
        (tmp / "saved_model.pb").write_bytes(b"graph")
    assert (tmp_path / "saved_model" / "saved_model.pb").read_bytes() == b"graph"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "broken") as tmp:
        tmp.mkdir()
        (tmp / "half").write_bytes(b"")
        raise RuntimeError("the writer failed half way")
    with pytest.raises(OutputError, match="could not write"), atomic_path(tmp_path / "saved_model") as tmp:
        tmp.mkdir()
        (tmp / "other").write_bytes(b"")  # the target exists and is not empty: never overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_model"]


# --- int8 (export --int8): quantized by each runtime's tooling, proven by accuracy, timed like the rest -----------
ROOT = Path(__file__).resolve().parent.parent
OLD_SUMMARY = ROOT / "results" / "cpu-2core-epyc-20261128" / "export-summary.json"  # written before int8 existed


def test_calibration_reads_the_training_images_only(mnist):
    """The calibration set is the first training images with the network's recipe; reading the test images,
    which prove and score the int8 artifacts, fails this test."""

    class TrainingImagesOnly:
        train_images = mnist.train_images

        def __getattr__(self, name):
            raise AssertionError(f"calibration read mnist.{name}")

    x = calibration_images(TrainingImagesOnly(), "mlp_bn")
    np.testing.assert_array_equal(x, data.preprocess(mnist.train_images[:CALIBRATION_IMAGES],
                                                     get_network("mlp_bn").recipe))


def test_int8_artifacts_are_calibrated_on_training_images_served_timed_and_judged_by_accuracy(
        tmp_path, mnist, monkeypatch):
    if not availability("onnxruntime", probe_device=False).ready:
        pytest.skip(availability("onnxruntime").reason)
    import frameworks.commands.export as deployment

    jobs = []
    real = deployment.quantize_in_fresh_process
    monkeypatch.setattr(deployment, "quantize_in_fresh_process", lambda job, *a, **k: jobs.append(job) or real(job))
    code, path = run_export(plan_export(["onnxruntime"], ["mlp_bn"], tmp_path), threads=1, requests=REQUESTS,
                            latency_batches=[1], int8=True)
    summary = load_exports(path)
    fp32, int8 = sorted(summary.records, key=lambda r: r.precision)
    assert (fp32.format, fp32.status, fp32.precision, int8.format, int8.precision, int8.derived_from) == (
        "onnx", OK, "fp32", "onnx-int8", "int8", "onnx"), (int8.status, int8.reason)
    (job,) = jobs  # what calibrated it: the training images, none of the test images proven and scored on
    np.testing.assert_array_equal(job.calibration, calibration_images(mnist, "mlp_bn"))
    scored = {image.tobytes() for image in data.preprocess(mnist.test_images, get_network("mlp_bn").recipe)}
    assert not any(image.tobytes() in scored for image in job.calibration)
    assert int8.quantization["calibration_images"] == CALIBRATION_IMAGES
    assert summary.settings["int8"]["calibration_images"] == CALIBRATION_IMAGES
    assert fp32.test_images == int8.test_images == len(mnist.test_labels)
    drop = int8.accuracy_drop
    assert drop.source_accuracy == fp32.test_accuracy and drop.margin == INT8_MARGIN
    assert drop.drop == pytest.approx(fp32.test_accuracy - int8.test_accuracy)
    assert drop.low <= drop.drop <= drop.high and 0 <= int8.class_agreement <= 1
    assert int8.status == (OK if drop.high < INT8_MARGIN else UNEQUAL)
    assert code == (EXIT_OK if int8.status == OK else EXIT_FAILED)
    assert int8.cold_start.total_s > 0 and int8.latency[0].percentiles["requests"] == REQUESTS  # timed the same way
    assert int8.size_bytes < fp32.size_bytes
    assert not summary.agreements  # an int8 file is never held to the float files' tolerance
    text = "\n".join(deployment_section([], [summary]))
    assert "| onnxruntime | onnx-int8 | onnx |" in text and "ends under 1 point" in text


def test_int8_fields_round_trip_and_summaries_written_before_them_still_read():
    old = load_exports(OLD_SUMMARY)
    assert old.records and all(r.precision == "fp32" and r.accuracy_drop is None and r.test_accuracy is None
                               for r in old.records)
    assert "quantized from" not in "\n".join(deployment_section([], [old]))
    drop = AccuracyDrop(source_accuracy=0.9752, drop=0.0002, low=-0.0004, high=0.0008, confidence=0.95,
                        margin=INT8_MARGIN, only_source=3, only_quantized=1, method="Newcombe")
    record = ExportRecord("onnxruntime", "mlp_bn", "onnx-int8", OK, precision="int8", derived_from="onnx",
                          quantization={"per_channel": True, "calibration_images": 512}, test_images=10000,
                          test_accuracy=0.975, class_agreement=1.0, accuracy_drop=drop)
    payload = json.loads(json.dumps(record.to_json()))
    assert payload["accuracy_drop"]["within_margin"] is True
    assert ExportRecord.from_json(payload) == record
    assert judge_quantized(record).status == OK
    worse = dataclasses.replace(record, accuracy_drop=dataclasses.replace(drop, drop=0.012, low=0.009, high=0.015))
    judged = judge_quantized(worse)
    assert judged.status == UNEQUAL and "not shown to be under 1 point" in judged.reason


def test_a_quantizer_that_is_not_installed_is_a_skip_with_the_reason(tmp_path, monkeypatch):
    from .numpy_reference import NumpyReferenceAdapter

    calibration = np.zeros((4, 1, 28, 28), np.float32)
    assert NumpyReferenceAdapter.quantize(Artifact("onnx", tmp_path, "x"), calibration, tmp_path) == []  # the default
    if not availability("pytorch", probe_device=False).installed:
        pytest.skip(availability("pytorch").reason)
    import torch

    from frameworks.adapters.pytorch import PyTorchAdapter

    monkeypatch.setitem(sys.modules, "torch.ao.quantization.quantize_pt2e", None)  # as in torch 2.14
    monkeypatch.setitem(sys.modules, "torchao", None)  # where it moved, absent
    (attempt,) = PyTorchAdapter.quantize(Artifact("torch.export", tmp_path / "model.pt2", "pytorch"), calibration,
                                         tmp_path)
    assert attempt.skipped and attempt.format == "torch.export-int8" and attempt.artifact is None
    assert f"torch {torch.__version__} has no PT2E quantization" in attempt.reason and "torchao" in attempt.reason
    source = ExportRecord("pytorch", "lenet", "torch.export", OK, source_version=torch.__version__)
    record = check_quantized(attempt, source, np.zeros(2, np.int64), np.zeros((2, 10)), calibration[:2], tmp_path,
                             deployment_scoring(), requests=1, latency_batches=[1], threads=1)
    assert (record.status, record.reason, record.precision, record.derived_from) == (
        SKIPPED, attempt.reason, "int8", "torch.export")
    assert PyTorchAdapter.quantize(Artifact("onnx", tmp_path, "onnxruntime"), calibration, tmp_path) == []


def deployment_scoring():
    from frameworks.commands.export import Scoring

    return Scoring(np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int64))
