"""ONNX Runtime: an inference runtime whose model is an ONNX graph built from the spec itself.

The graph is made with ``onnx.helper`` from the ``NetworkSpec`` and canonical weights (as the Caffe adapter
generates its prototxt), so it needs no other framework: ``Conv``, ``MaxPool``, ``Flatten`` (channel-major,
the canonical order), ``Gemm`` with the canonical (out, in) weights, ``BatchNormalization`` on its running
statistics, ``Relu``, dropout as ``Identity`` (evaluation), and a final ``Softmax``. Each spec layer's output
is a value of the layer's name, so per-layer outputs can be compared by name. It does not train: the training
phases raise ``inference_only()`` and their benchmarks skip with that reason.

It also loads the ONNX files other frameworks export (``load_artifact``), in their input layout, and quantizes
them to int8 (``quantize``): ONNX Runtime's static quantization, as its quantization guide prescribes (the
``quant_pre_process`` step, then ``quantize_static`` in the QDQ format with per-channel weights, calibrated by a
``CalibrationDataReader`` over the images the export run hands it: MNIST training images).
Threads: ``intra_op_num_threads`` is the run's thread count, one inter-op thread, sequential execution; the
variants (``VARIANTS``) change the graph optimisation level and the execution mode.
Devices: the CPU execution provider, or CUDA's where ``onnxruntime-gpu`` provides it (never a silent fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrameworkUnavailable
from ..process_settings import default_threads
from ..specs import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, NetworkSpec, ReLU, unknown_layer
from ..weights import Weights, initial_weights
from .base import NCHW, Adapter, Artifact, ExportAttempt, LoadedArtifact, Staged, attempt_export, to_layout

INPUT, OUTPUT = "image", "probabilities"
OPSET = 17
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
INT8 = "onnx-int8"  # the format of an ONNX file quantized by ONNX Runtime (QuantizeLinear/DequantizeLinear pairs)
CALIBRATION_BATCH = 64


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def onnx_model(spec: NetworkSpec, weights: Weights, *, layer_outputs: bool = False) -> Any:
    """The spec as an ONNX ``ModelProto`` (eval mode, probabilities out) holding ``weights`` (canonical).

    With ``layer_outputs``, every spec layer's output (after its activation) is a graph output too.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers = [], []
    value = INPUT
    for layer in spec.layers:
        name = layer.name
        linear = f"{name}_linear" if getattr(layer, "activation", None) == "relu" else name
        if isinstance(layer, Conv2D):
            nodes.append(helper.make_node("Conv", [value, f"{name}.weight", f"{name}.bias"], [linear], name=name,
                                          kernel_shape=[layer.kernel, layer.kernel], strides=[1, 1],
                                          pads=[0, 0, 0, 0]))
            initializers += [f"{name}.weight", f"{name}.bias"]
        elif isinstance(layer, Dense):
            nodes.append(helper.make_node("Gemm", [value, f"{name}.weight", f"{name}.bias"], [linear], name=name,
                                          transB=1))
            initializers += [f"{name}.weight", f"{name}.bias"]
        elif isinstance(layer, MaxPool2D):
            nodes.append(helper.make_node("MaxPool", [value], [name], name=name,
                                          kernel_shape=[layer.size, layer.size], strides=[layer.size, layer.size]))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [value], [name], name=name, axis=1))
        elif isinstance(layer, BatchNorm):
            keys = [f"{name}.{kind}" for kind in ("gamma", "beta", "running_mean", "running_var")]
            nodes.append(helper.make_node("BatchNormalization", [value, *keys], [name], name=name,
                                          epsilon=layer.eps))
            initializers += keys
        elif isinstance(layer, ReLU):
            nodes.append(helper.make_node("Relu", [value], [name], name=name))
        elif isinstance(layer, Dropout):
            nodes.append(helper.make_node("Identity", [value], [name], name=name))  # evaluation: no dropout
        else:
            raise unknown_layer(layer, f"onnxruntime/{spec.name}")
        if linear != name:
            nodes.append(helper.make_node("Relu", [linear], [name], name=f"{name}_relu"))
        value = name
    nodes.append(helper.make_node("Softmax", [value], [OUTPUT], name="softmax", axis=1))
    image = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *spec.input_shape])
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", spec.num_classes])]
    if layer_outputs:
        outputs += [helper.make_tensor_value_info(layer.name, TensorProto.FLOAT, ["N", *shape])
                    for layer, shape in zip(spec.layers, spec.output_shapes(), strict=True)]
    graph = helper.make_graph(nodes, spec.name, [image], outputs,
                              initializer=[numpy_helper.from_array(weights[k], k) for k in initializers])
    opset = helper.make_opsetid("", OPSET)
    model = helper.make_model(graph, opset_imports=[opset], producer_name="mnist-framework-bench",
                              doc_string=f"{spec.name}: {spec.description}")
    model.ir_version = helper.find_min_ir_version_for([opset])  # the oldest IR that holds it: widest support
    onnx.checker.check_model(model, full_check=True)
    return model


@dataclass(frozen=True)
class OrtVariant:
    """Two session options ONNX Runtime documents for performance tuning.

    - ``graph_optimization``: a ``GraphOptimizationLevel`` ("Graph Optimizations in ONNX Runtime",
      https://onnxruntime.ai/docs/performance/model-optimizations/graph-optimizations.html): ORT_ENABLE_ALL, the
      default, adds the extended fusions and layout optimisations to the basic, semantics-preserving rewrites
      (constant folding, redundant node elimination, Conv+Add and similar fusions) that ORT_ENABLE_BASIC keeps.
    - ``parallel``: ``ExecutionMode.ORT_PARALLEL`` ("Thread management",
      https://onnxruntime.ai/docs/performance/tune-performance/threading.html): independent nodes run at once on
      ``inter_op_num_threads`` threads, here the run's thread count as for the intra-op pool. The page says it
      usually helps a model with many branches and can hurt one without; these networks are chains, so it is
      timed to measure that, not to expect a gain.
    """

    graph_optimization: str = "ORT_ENABLE_ALL"
    parallel: bool = False


# Variant name (the registry lists the devices of each) -> session options.
VARIANTS: dict[str, OrtVariant] = {
    "default": OrtVariant(),
    "basic": OrtVariant(graph_optimization="ORT_ENABLE_BASIC"),
    "parallel": OrtVariant(parallel=True),
}


def session_options(threads: int, variant: OrtVariant = VARIANTS["default"]) -> Any:
    """Session options with ``threads`` intra-op threads and ``variant``'s graph optimisation level; sequential
    execution with one inter-op thread, or parallel execution with ``threads`` inter-op threads."""
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, variant.graph_optimization)
    if variant.parallel:
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.inter_op_num_threads = threads
    else:
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return options


def new_session(model: Any, device: str, threads: int, variant: OrtVariant = VARIANTS["default"]) -> Any:
    """An ``InferenceSession`` of ``model`` (bytes, a path or a ``ModelProto``) on exactly ``device``'s provider."""
    ort = _ort()
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    provider = PROVIDERS[device]
    session = ort.InferenceSession(source, sess_options=session_options(threads, variant), providers=[provider])
    if session.get_providers()[0] != provider:
        raise FrameworkUnavailable(f"onnxruntime: asked for {provider}, got {session.get_providers()}")
    return session


class OnnxRuntimeAdapter(Adapter):
    """A network as an ONNX graph in an ONNX Runtime ``InferenceSession`` (inference only)."""

    trains = False

    @classmethod
    def cuda_unavailable_reason(cls, **options: Any) -> str | None:
        ort = _ort()
        if PROVIDERS["cuda"] not in ort.get_available_providers():
            return (f"onnxruntime {ort.__version__} has no {PROVIDERS['cuda']} here (providers: "
                    f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu")
        return None

    @property
    def version(self) -> str:
        import onnx

        return f"{_ort().__version__} (onnx {onnx.__version__}, opset {OPSET}, {PROVIDERS[self.device]})"

    def _apply_threads(self, threads: int | None) -> int | None:
        return default_threads() if threads is None else threads  # a session option: applied in build()

    def build(self) -> None:
        self._load(initial_weights(self.spec, self.seed))

    def _load(self, weights: Weights) -> None:
        self.weights = {k: v.copy() for k, v in weights.items()}
        self.model = onnx_model(self.spec, self.weights)
        self.session = new_session(self.model, self.device, self.threads or default_threads(), VARIANTS[self.variant])
        self._probe: Any = None  # the session that also returns every layer's output, made on demand

    def trainable_parameter_count(self) -> int:
        trainable = self.spec.parameter_shapes()
        return sum(int(np.prod(t.dims)) for t in self.model.graph.initializer if t.name in trainable)

    def stage(self, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.device == "cuda":
            x = _ort().OrtValue.ortvalue_from_numpy(x, "cuda", 0)  # on the device before the timed calls
            return Staged(x, y, x.shape()[0])
        return Staged(x, y, len(x))

    def run_forward(self, batch: Staged) -> Any:
        if self.device == "cuda":
            return self.session.run_with_ort_values([OUTPUT], {INPUT: batch.x})[0]
        return self.session.run([OUTPUT], {INPUT: batch.x})[0]

    def synchronize(self) -> None:
        """Nothing to wait for: ``InferenceSession.run`` returns when its outputs are complete."""

    def to_numpy(self, value: Any) -> np.ndarray:
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value)

    def get_weights(self) -> Weights:
        return {k: v.copy() for k, v in self.weights.items()}

    def _set_weights(self, weights: Weights) -> None:
        self._load(weights)  # weights are constants of the graph: a new graph and session

    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x, _ = self.check_batch(x)
        if self._probe is None:
            self._probe = new_session(onnx_model(self.spec, self.weights, layer_outputs=True), "cpu",
                                      self.threads or default_threads(), VARIANTS[self.variant])
        names = [layer.name for layer in self.spec.layers]
        values = self._probe.run(names, {INPUT: x})
        return {name: np.asarray(v) for name, v in zip(names, values, strict=True)}

    def _compilation(self) -> str:
        return f"ONNX Runtime graph optimizations ({self.session.get_session_options().graph_optimization_level})"

    def runtime_details(self) -> dict[str, Any]:
        options = self.session.get_session_options()
        return {"version": self.version, "execution_provider": self.session.get_providers()[0],
                "available_providers": _ort().get_available_providers(),
                "intra_op_num_threads": options.intra_op_num_threads,
                "inter_op_num_threads": options.inter_op_num_threads,
                "graph_optimization_level": str(options.graph_optimization_level),
                "execution_mode": str(options.execution_mode)}

    # --- deployment ---------------------------------------------------------------------------------------
    def export(self, directory: Path) -> list[ExportAttempt]:
        """The graph this adapter runs, as an ONNX file (built from the spec with ``onnx.helper``)."""
        from ..fileio import write_bytes

        def write() -> Artifact:
            path = write_bytes(Path(directory) / "model.onnx", self.model.SerializeToString())
            return Artifact("onnx", path, "onnxruntime", NCHW, tool=f"onnx.helper from the spec (opset {OPSET})")

        return [attempt_export("onnx", write)]

    @classmethod
    def import_runtime(cls, artifact: Artifact) -> None:
        _ort()

    @classmethod
    def quantize(cls, artifact: Artifact, calibration: np.ndarray, directory: Path) -> list[ExportAttempt]:
        """An ONNX file quantized to int8 by ONNX Runtime's static quantization (``onnx-int8``), for every ONNX
        file whatever framework wrote it; served by ``load_artifact`` like the float file."""
        if artifact.format != "onnx":
            return []
        return [attempt_export(INT8, lambda: quantize_onnx(artifact, calibration, Path(directory)))]

    @classmethod
    def load_artifact(cls, artifact: Artifact, *, device: str = "cpu", threads: int | None = None) -> LoadedArtifact:
        """An ONNX file, from any exporter, in an ``InferenceSession`` fed in the artifact's input layout."""
        if artifact.format not in ("onnx", INT8):
            raise FrameworkUnavailable(f"onnxruntime loads ONNX files, not {artifact.format}")
        threads = default_threads() if threads is None else threads
        session = new_session(artifact.path, device, threads)
        (name,) = [i.name for i in session.get_inputs()]
        layout = artifact.input_layout

        def predict(x: np.ndarray) -> np.ndarray:
            return np.asarray(session.run(None, {name: to_layout(x, layout)})[0])

        return LoadedArtifact(predict, {"runtime": f"onnxruntime {_ort().__version__}",
                                        "execution_provider": session.get_providers()[0],
                                        "intra_op_num_threads": threads})


# --- int8: ONNX Runtime's static quantization ------------------------------------------------------------------
def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has the VNNI dot-product instructions (AVX512-VNNI or AVX-VNNI), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_vnni", "avx_vnni"})
    except OSError:
        pass
    return False


def quantization_settings() -> dict[str, Any]:
    """``quantize_static``'s types as its documentation chooses them for CPU inference: on x86, uint8 activations
    and int8 weights, weights in 7 bits (``reduce_range``) where the CPU lacks VNNI (saturation risk); on ARM,
    int8 for both. Per-channel weights (the accuracy choice), min-max calibration, the QDQ format."""
    import platform

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    vnni = x86 and cpu_has_vnni()
    return {"quant_format": QuantFormat.QDQ, "per_channel": True, "reduce_range": x86 and not vnni,
            "activation_type": QuantType.QUInt8 if x86 else QuantType.QInt8, "weight_type": QuantType.QInt8,
            "calibrate_method": CalibrationMethod.MinMax}


def calibration_reader(images: np.ndarray, input_name: str, layout: str, batch: int = CALIBRATION_BATCH) -> Any:
    """An ONNX Runtime ``CalibrationDataReader`` that feeds exactly ``images`` (canonical float32, the artifact's
    input layout), ``batch`` at a time, and nothing else."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.fed = 0  # images handed out so far
            self.rewind()

        def get_next(self) -> dict[str, np.ndarray] | None:
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            self.fed += len(chunk)
            return {input_name: to_layout(chunk, layout)}

        def rewind(self) -> None:
            self._chunks = iter([images[i:i + batch] for i in range(0, len(images), batch)])

    return Reader()


def quantize_onnx(artifact: Artifact, calibration: np.ndarray, directory: Path) -> Artifact:
    """``artifact`` (an ONNX file) pre-processed (``quant_pre_process``: shape inference and graph optimization)
    and statically quantized (``quantize_static``) into ``directory``/<name>.int8.onnx."""
    import tempfile

    import onnx
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..fileio import atomic_path

    if not len(calibration):
        raise ValueError("no calibration images")
    model = onnx.load(str(artifact.path))
    initializers = {t.name for t in model.graph.initializer}
    (image,) = [i for i in model.graph.input if i.name not in initializers]
    first = image.type.tensor_type.shape.dim[0]
    batch = first.dim_value if first.HasField("dim_value") and first.dim_value > 0 else CALIBRATION_BATCH
    settings = quantization_settings()
    path = Path(directory) / f"{artifact.path.stem}.int8.onnx"
    with tempfile.TemporaryDirectory(prefix="mfb-quantize-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(artifact.path), str(prepared))
        reader = calibration_reader(calibration, image.name, artifact.input_layout, batch)
        with atomic_path(path, suffix=".onnx") as out:
            quantize_static(str(prepared), str(out), reader, **settings)
    if reader.fed != len(calibration):
        raise RuntimeError(f"quantize_static read {reader.fed} calibration images, not the {len(calibration)} given")
    described = {k: getattr(v, "name", v) for k, v in settings.items()}
    return Artifact(INT8, path, "onnxruntime", artifact.input_layout,
                    tool=f"onnxruntime.quantization.quantize_static after quant_pre_process, onnxruntime "
                         f"{_ort().__version__}",
                    quantization={"tool": "onnxruntime.quantization.quantize_static", **described,
                                  "calibration_images": len(calibration)})
