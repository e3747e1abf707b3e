"""ONNX Runtime as a framework: its graph comes from the spec alone, computes what the independent numpy
oracle computes, runs with the run's threads on a recorded execution provider, refuses to train, and runs the
forward and latency benchmarks end to end in ``python -m frameworks bench``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from frameworks import availability, create_adapter, data
from frameworks.errors import FrameworkUnavailable
from frameworks.specs import NETWORKS, get_network
from frameworks.weights import initial_weights

from .numpy_reference import NumpyReferenceAdapter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "onnxruntime"
TOLERANCE = 1e-5


@pytest.fixture(scope="module", autouse=True)
def onnxruntime_here():
    state = availability(NAME, probe_device=False)
    if not state.ready:
        pytest.skip(state.reason)


def moved_weights(network: str, seed: int = 3) -> dict:
    """Initial weights with BatchNorm statistics moved away from 0 and 1 (so they are really used)."""
    weights = initial_weights(get_network(network), seed)
    rng = np.random.default_rng(seed)
    for key, value in weights.items():
        if key.endswith("running_mean"):
            weights[key] = rng.normal(0, 0.5, value.shape).astype(np.float32)
        elif key.endswith("running_var"):
            weights[key] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
    return weights


def test_the_graph_is_built_from_the_spec_without_any_other_framework():
    code = ("import sys; from frameworks import create_adapter; import numpy as np\n"
            "m = create_adapter('onnxruntime', 'keras_cnn', shared_init=True)\n"
            "m.forward(np.zeros((2, 1, 28, 28), np.float32))\n"
            "loaded = sorted(set(sys.modules) & {'torch', 'tensorflow', 'keras', 'jax', 'caffe'})\n"
            "print('loaded:', loaded)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout


@pytest.mark.parametrize("network", list(NETWORKS))
def test_outputs_equal_the_numpy_oracle_on_real_images(network, mnist):
    spec = get_network(network)
    weights = moved_weights(network)
    model = create_adapter(NAME, network)
    model.set_weights(weights)
    oracle = NumpyReferenceAdapter(spec, framework="numpy-reference")
    oracle.set_weights(weights)
    x = data.preprocess(mnist.test_images[:128], spec.recipe)
    got, want = model.forward(x), oracle.forward(x)
    error = np.linalg.norm(got - want) / np.linalg.norm(want)
    assert error <= TOLERANCE, f"{network}: {error:.2e}"
    layers, reference = model.layer_outputs(x[:16]), oracle.layer_outputs(x[:16])
    assert list(layers) == [layer.name for layer in spec.layers]
    for name in layers:
        np.testing.assert_allclose(layers[name], reference[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_graph_holds_the_spec_layers_and_the_canonical_weights():
    from frameworks.adapters.onnxruntime import INPUT, OPSET, OUTPUT, onnx_model

    spec = get_network("mlp_bn")
    weights = moved_weights("mlp_bn")
    model = onnx_model(spec, weights)
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Flatten", "Gemm", "BatchNormalization", "Relu", "Identity", "Gemm", "BatchNormalization",
                   "Relu", "Identity", "Gemm", "Softmax"]
    assert [i.name for i in model.graph.input] == [INPUT] and [o.name for o in model.graph.output] == [OUTPUT]
    assert model.opset_import[0].version == OPSET
    from onnx import numpy_helper

    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert set(stored) == set(spec.state_shapes())
    for key, value in stored.items():
        np.testing.assert_array_equal(value, weights[key], err_msg=key)


def test_threads_and_execution_provider_are_the_runs_and_recorded():
    model = create_adapter(NAME, "lenet", threads=1)
    details = model.runtime_details()
    assert model.threads == 1 and details["intra_op_num_threads"] == 1 and details["inter_op_num_threads"] == 1
    assert details["execution_provider"] == "CPUExecutionProvider"
    assert "CPUExecutionProvider" in model.version and model.describe()["threads"] == 1


def test_it_does_not_train_and_says_so():
    model = create_adapter(NAME, "lenet")
    assert model.trains is False
    x, y = np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64)
    for call in (lambda: model.backward(x, y), lambda: model.train_step(x, y), lambda: model.fit(x, y, 1),
                 lambda: model.step("train_step", model.stage(x, y))):
        with pytest.raises(FrameworkUnavailable, match="inference runtime"):
            call()


def test_new_weights_give_a_new_graph():
    model = create_adapter(NAME, "lenet", seed=1)
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 28, 28)).astype(np.float32)
    before = model.forward(x)
    weights = initial_weights(get_network("lenet"), 2)
    model.set_weights(weights)
    assert not np.allclose(model.forward(x), before)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, weights[key])


def test_cuda_needs_a_gpu_and_the_cuda_provider():
    state = availability(NAME, "cuda")
    if state.ready:
        pytest.skip("a GPU and onnxruntime-gpu are present: CUDA is usable here")
    assert "no NVIDIA GPU" in state.reason or "onnxruntime-gpu" in state.reason


def test_bench_runs_forward_and_latency_and_skips_training_with_the_reason(tmp_path):
    """``python -m frameworks bench --frameworks onnxruntime`` end to end, shortened."""
    cmd = [sys.executable, "-m", "frameworks", "bench", "--frameworks", NAME, "--networks", "lenet", "--quick",
           "--benchmark-max-time", "0.05", "--latency-requests", "50", "--latency-batches", "1,4", "--threads", "2",
           "--output-dir", str(tmp_path)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "onnxruntime is an inference runtime: it does not train" in result.stdout
    (run_dir,) = tmp_path.iterdir()
    doc = json.loads((run_dir / "results.json").read_text())
    infos = [b["extra_info"] for b in doc["benchmarks"]]
    forward = [i for i in infos if i["kind"] == "step" and i["phase"] == "forward"]
    latency = {i["batch"]: i for i in infos if i["kind"] == "latency"}
    assert forward and forward[0]["framework"] == NAME and forward[0]["threads"] == 2
    assert sorted(latency) == [1, 4]
    for batch, info in latency.items():
        details = info["details"]
        assert len(info["samples_s"]) >= 50 and details["requests"] == len(info["samples_s"])
        assert 0 < details["p50_s"] <= details["p90_s"] <= details["p99_s"] <= details["max_s"]
        assert info["images"] == batch and info["peak_memory_mib"] > 0
    assert not [i for i in infos if i["phase"] in ("backward", "train_step")]
    assert list(run_dir.glob("results-report.md"))


def test_int8_quantization_writes_a_graph_that_holds_int8_and_reads_only_the_images_given(tmp_path, mnist,
                                                                                          monkeypatch):
    """ONNX Runtime's static quantization (QDQ, per channel) of an exported ONNX file: QuantizeLinear /
    DequantizeLinear pairs with 8-bit zero points, int8 weights with a scale per output channel, served by the
    same loader; its calibration reader hands out exactly the calibration images, nothing else."""
    import onnx
    from onnx import TensorProto, numpy_helper

    from frameworks.adapters import onnxruntime as ort_adapter
    from frameworks.adapters.base import Artifact
    from frameworks.commands.export import calibration_images

    model = create_adapter(NAME, "lenet", shared_init=True, threads=1)
    (attempt,) = model.export(tmp_path)
    calibration = calibration_images(mnist, "lenet")[:96]
    fed = []
    real_reader = ort_adapter.calibration_reader

    def watched(images, *args, **kwargs):
        reader = real_reader(images, *args, **kwargs)
        get_next = reader.get_next

        def spy():
            batch = get_next()
            if batch is not None:
                fed.extend(batch.values())
            return batch

        reader.get_next = spy
        return reader

    monkeypatch.setattr(ort_adapter, "calibration_reader", watched)
    (quantized,) = ort_adapter.OnnxRuntimeAdapter.quantize(attempt.artifact, calibration, tmp_path)
    assert quantized.artifact is not None, quantized.reason
    artifact = quantized.artifact
    assert (artifact.format, artifact.runtime, artifact.path.name) == ("onnx-int8", NAME, "model.int8.onnx")
    assert artifact.quantization["quant_format"] == "QDQ" and artifact.quantization["per_channel"] is True
    np.testing.assert_array_equal(np.concatenate(fed), calibration)  # those images, once, in order

    graph = onnx.load(str(artifact.path)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QuantizeLinear") >= 2 and ops.count("DequantizeLinear") >= 4, ops
    initial = {t.name: t for t in graph.initializer}
    zero_points = {initial[n.input[2]].data_type for n in graph.node if n.op_type == "QuantizeLinear"}
    assert zero_points and zero_points <= {TensorProto.INT8, TensorProto.UINT8}  # activations in 8 bits
    dequantized = {initial[n.input[0]].data_type for n in graph.node
                   if n.op_type == "DequantizeLinear" and n.input[0] in initial}
    assert TensorProto.INT8 in dequantized and dequantized <= {TensorProto.INT8, TensorProto.INT32}  # int32: biases
    weights = [numpy_helper.to_array(initial[n.input[0]]) for n in graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in initial]
    conv1 = [w for w in weights if w.dtype == np.int8 and w.ndim == 4]
    assert conv1, "no int8 convolution weights"
    per_channel = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in initial
                   and numpy_helper.to_array(initial[n.input[1]]).size > 1]
    assert per_channel, "no per-channel weight scales"

    loaded = ort_adapter.OnnxRuntimeAdapter.load_artifact(artifact, threads=1)
    x = data.preprocess(mnist.test_images[:8], model.spec.recipe)
    out = loaded.predict(x)
    assert out.shape == (8, 10) and np.allclose(out.sum(axis=1), 1, atol=0.02)  # softmax's output: 1/255 steps
    assert ort_adapter.OnnxRuntimeAdapter.quantize(Artifact("caffe", tmp_path, NAME), calibration, tmp_path) == []
