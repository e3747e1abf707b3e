"""PyTorch: the spec as an ``nn.Sequential``, trained with ``torch.optim`` over a ``DataLoader``."""

from __future__ import annotations

import contextlib
import math
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrameworkUnavailable
from ..fileio import atomic_path
from ..specs import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, NetworkSpec, ReLU, unknown_layer
from ..weights import Weights
from .base import (
    NCHW,
    Adapter,
    Artifact,
    ExportAttempt,
    ExportUnsupported,
    IdiomaticScript,
    LoadedArtifact,
    OwnTiming,
    PeakMemory,
    Staged,
    attempt_export,
    to_layout,
)
from .import_guards import triton_crash_risk

INT8 = "torch.export-int8"  # a torch.export program quantized by PT2E quantization for x86 (Inductor)
CALIBRATION_BATCH = 64


def pt2e_quantization() -> tuple[Any, Any, Any, str]:
    """(prepare_pt2e, convert_pt2e, the x86_inductor_quantizer module, where they come from): torch's own
    ``torch.ao.quantization`` where the installed torch still has PT2E quantization, else torchao's, where it
    moved; neither: ``ExportUnsupported`` naming the installed version."""
    torch = _torch()
    try:
        from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torch.ao.quantization.quantizer import x86_inductor_quantizer

        return prepare_pt2e, convert_pt2e, x86_inductor_quantizer, f"torch.ao.quantization, torch {torch.__version__}"
    except ImportError as exc:
        missing = f"{type(exc).__name__}: {exc}"
    try:
        import torchao
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer

        return prepare_pt2e, convert_pt2e, x86_inductor_quantizer, f"torchao {torchao.__version__}"
    except ImportError as exc:
        raise ExportUnsupported(
            f"torch {torch.__version__} has no PT2E quantization of its own ({missing}; it moved to torchao, "
            f"torch.ao.quantization's deprecation notice says) and torchao is not installed here "
            f"({type(exc).__name__}: {exc}): pip install torchao") from None


def quantize_program(artifact: Artifact, calibration: np.ndarray, directory: Path) -> Artifact:
    """``artifact``'s program quantized by PT2E: ``prepare_pt2e`` with ``X86InductorQuantizer``'s default config
    (static, per-channel int8 weights, uint8 activations), calibrated on ``calibration``, ``convert_pt2e``, and
    exported again with the batch dimension dynamic into ``directory``/<name>.int8.pt2."""
    torch = _torch()
    prepare_pt2e, convert_pt2e, x86, source = pt2e_quantization()
    if not len(calibration):
        raise ValueError("no calibration images")
    quantizer = x86.X86InductorQuantizer()
    quantizer.set_global(x86.get_default_x86_inductor_quantization_config())
    layout = artifact.input_layout
    with torch.no_grad():
        prepared = prepare_pt2e(torch.export.load(str(artifact.path)).module(), quantizer)
        for i in range(0, len(calibration), CALIBRATION_BATCH):
            prepared(torch.from_numpy(to_layout(calibration[i:i + CALIBRATION_BATCH], layout)))
        converted = convert_pt2e(prepared)
        used = {node.target for node in converted.graph.nodes if node.op == "get_attr"}
        for name, _ in list(converted.named_parameters()):  # the float weights the int8 ones replaced
            if name not in used:
                owner, _, leaf = name.rpartition(".")
                delattr(converted.get_submodule(owner) if owner else converted, leaf)
        sample = (torch.from_numpy(to_layout(calibration[:2], layout)),)
        program = torch.export.export(converted, sample, dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    path = Path(directory) / f"{artifact.path.stem}.int8.pt2"
    with atomic_path(path, suffix=".pt2") as tmp:
        torch.export.save(program, tmp)
    return Artifact(INT8, path, "pytorch", layout, tool=f"PT2E quantization ({source}): prepare_pt2e, convert_pt2e, "
                                                         "torch.export.export",
                    quantization={"tool": f"prepare_pt2e/convert_pt2e ({source})",
                                  "quantizer": "X86InductorQuantizer, get_default_x86_inductor_quantization_config()",
                                  "calibration_images": len(calibration)})


@dataclass(frozen=True)
class Variant:
    """How a PyTorch variant runs. A setting that changes numerics (TF32) is named in the variant; bfloat16 is
    not a variant but the run's precision (``Adapter.precision``), so every variant can run at each."""

    compile_mode: str | None = None  # torch.compile mode; None: eager
    channels_last: bool = False  # NHWC memory format for images and convolution weights
    tf32: bool = False  # TF32 tensor-core matmuls and convolutions (CUDA)
    cudnn_benchmark: bool = False  # let cuDNN time its algorithms and keep the fastest


# Variant name (the registry lists the devices of each) -> settings. Each is a separately named benchmark.
#
# The CPU performance settings PyTorch documents, each a variant of its own (proven to compute the default's
# network by tests/test_equivalence.py's variant tests):
# - channels_last ("eager-cl", "compile-cl"): images and convolution weights in NHWC order. "(beta) Channels Last
#   Memory Format in PyTorch", https://pytorch.org/tutorials/intermediate/memory_format_tutorial.html, and the
#   Performance Tuning Guide, "Enable channels_last memory format for computer vision models",
#   https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html (both written with GPUs in mind; on the CPU,
#   oneDNN's convolutions take NHWC directly: Intel's "Channels Last" page for PyTorch,
#   https://intel.github.io/intel-extension-for-pytorch/cpu/latest/tutorials/features/nhwc.html).
# - torch.compile's max-autotune ("compile-maxautotune"): Inductor times several implementations of each matrix
#   multiplication (its C++ GEMM templates against ATen's) at compile time and keeps the fastest. "Using
#   Max-Autotune Compilation on CPU for Better Performance",
#   https://pytorch.org/tutorials/prototype/max_autotune_on_CPU_tutorial.html; the mode's name is torch.compile's
#   (https://pytorch.org/docs/stable/generated/torch.compile.html): "max-autotune-no-cudagraphs", since CUDA
#   graphs have no meaning on a CPU. Inductor compiles it for the CPU with the machine's C++ compiler, as it does
#   "compile"; where it cannot, the first call fails with Inductor's error, never a silent fallback to eager.
#   The tutorial's C++ GEMM templates also need Inductor's freezing (TORCHINDUCTOR_FREEZING=1: weights become
#   constants of an inference graph), which a model that trains and loads weights cannot use; without it, torch
#   2.14.1 on this project's CPU autotuned each matrix multiplication of these networks from one candidate
#   ("Max autotune selects from 1 choices" in Inductor's select_algorithm log), so this variant is expected to
#   time like "compile" here. It is kept so that the report measures that rather than assumes it.
VARIANTS: dict[str, Variant] = {
    "eager": Variant(),
    "compile": Variant(compile_mode="default"),
    "eager-cl": Variant(channels_last=True),
    "compile-cl": Variant(compile_mode="default", channels_last=True),
    "compile-maxautotune": Variant(compile_mode="max-autotune-no-cudagraphs"),
    "compile-cudagraphs": Variant(compile_mode="reduce-overhead"),
    "eager-cl-tf32": Variant(channels_last=True, tf32=True, cudnn_benchmark=True),
    "compile-maxautotune-cl-tf32": Variant(compile_mode="max-autotune-no-cudagraphs", channels_last=True, tf32=True,
                                           cudnn_benchmark=True),
}


def _torch() -> Any:
    import torch

    return torch


class PyTorchAdapter(Adapter):
    """A network in PyTorch (eager by default, ``torch.compile`` as a variant)."""

    DEFAULT_VARIANT = "eager"
    @classmethod
    def cuda_unavailable_reason(cls, **options: Any) -> str | None:
        torch = _torch()
        if not torch.cuda.is_available():
            return f"torch {torch.__version__} sees no usable CUDA device"
        return None

    @property
    def version(self) -> str:
        return _torch().__version__

    def _apply_threads(self, threads: int | None) -> int | None:
        torch = _torch()
        if threads is not None:
            torch.set_num_threads(threads)
        return torch.get_num_threads()

    def build(self) -> None:
        torch = _torch()
        nn = torch.nn
        self.settings = VARIANTS[self.variant]
        compile_mode = self.settings.compile_mode
        torch.manual_seed(self.seed)
        self._shuffle = torch.Generator().manual_seed(self.seed)  # one stream: each epoch a new order
        modules: OrderedDict[str, Any] = OrderedDict()
        self._keys: dict[str, tuple[str, str]] = {}  # canonical key -> (module name, tensor attribute)
        for layer, in_shape in zip(self.spec.layers, self.spec.input_shapes(), strict=True):
            if isinstance(layer, Conv2D):
                modules[layer.name] = nn.Conv2d(in_shape[0], layer.filters, layer.kernel)
            elif isinstance(layer, Dense):
                modules[layer.name] = nn.Linear(in_shape[0], layer.units)
            elif isinstance(layer, BatchNorm):
                modules[layer.name] = nn.BatchNorm1d(in_shape[0], eps=layer.eps, momentum=layer.momentum)
            elif isinstance(layer, MaxPool2D):
                modules[layer.name] = nn.MaxPool2d(layer.size)
            elif isinstance(layer, Dropout):
                modules[layer.name] = nn.Dropout(layer.rate)
            elif isinstance(layer, Flatten):
                modules[layer.name] = nn.Flatten()
            elif isinstance(layer, ReLU):
                modules[layer.name] = nn.ReLU()
            else:
                raise unknown_layer(layer, "pytorch")
            if isinstance(layer, (Conv2D, Dense)):
                self._init(modules[layer.name])
                self._keys[f"{layer.name}.weight"] = (layer.name, "weight")
                self._keys[f"{layer.name}.bias"] = (layer.name, "bias")
                if layer.activation == "relu":
                    modules[f"{layer.name}_relu"] = nn.ReLU()
            if isinstance(layer, BatchNorm):
                for canonical, attr in (("gamma", "weight"), ("beta", "bias"), ("running_mean", "running_mean"),
                                        ("running_var", "running_var")):
                    self._keys[f"{layer.name}.{canonical}"] = (layer.name, attr)
        self.model = nn.Sequential(modules).to(self.device)
        if self.settings.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._tensors = {key: getattr(self.model.get_submodule(m), attr) for key, (m, attr) in self._keys.items()}
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer, self.scheduler = self._make_optimizer()
        self.compile_mode = compile_mode
        if compile_mode is not None:
            reason = triton_crash_risk()
            if reason:
                raise FrameworkUnavailable(f"pytorch {self.variant}: {reason}")
            self.step_model = torch.compile(self.model, mode=compile_mode)
        else:
            self.step_model = self.model

    def _init(self, module: Any) -> None:
        """Initialise a Conv2d/Linear with the recipe's scheme, using torch.nn.init."""
        init = _torch().nn.init
        scheme = self.spec.recipe.init
        if scheme == "glorot_uniform":
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)
        elif scheme == "xavier_fan_in":  # U(+-sqrt(3 / fan_in)): Caffe's xavier filler
            init.kaiming_uniform_(module.weight, nonlinearity="linear")
            init.zeros_(module.bias)
        # "torch_default": the module's own reset_parameters() already did it.

    def _make_optimizer(self) -> tuple[Any, Any]:
        torch = _torch()
        opt = self.spec.recipe.optimizer
        params = self.model.parameters()
        if opt.kind == "adadelta":
            optimizer = torch.optim.Adadelta(params, lr=opt.lr, rho=opt.rho, eps=opt.eps,
                                             weight_decay=opt.weight_decay)
        elif opt.kind == "sgd":
            optimizer = torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)
        elif opt.kind == "adam":
            optimizer = torch.optim.Adam(params, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                                         weight_decay=opt.weight_decay)
        else:  # pragma: no cover - specs are validated by their Literal type
            raise ValueError(f"unknown optimizer {opt.kind!r}")
        scheduler = None
        if opt.lr_policy == "inv":
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda it: (1.0 + opt.gamma * it) ** (-opt.power))
        return optimizer, scheduler

    def trainable_parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def stage(self, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        torch = _torch()
        ty = torch.from_numpy(y).to(self.device) if y is not None else None
        return Staged(self._images(torch.from_numpy(x)), ty, len(x))

    def _images(self, x: Any) -> Any:
        """Images on the device, in the variant's memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=_torch().channels_last) if self.settings.channels_last else x

    @contextlib.contextmanager
    def _numerics(self) -> Any:
        """The variant's numeric settings for the duration of one call, restored afterwards (they are
        process-wide in PyTorch and must not leak into another variant's figures)."""
        v = self.settings
        if not (v.tf32 or v.cudnn_benchmark):
            yield
            return
        torch = _torch()
        matmul = torch.backends.cuda.matmul
        saved = matmul.allow_tf32
        matmul.allow_tf32 = v.tf32
        try:
            with torch.backends.cudnn.flags(enabled=True, benchmark=v.cudnn_benchmark, allow_tf32=v.tf32):
                yield
        finally:
            matmul.allow_tf32 = saved

    def _autocast(self) -> Any:
        """The precision's region for the forward pass and the loss, as PyTorch's automatic mixed precision recipe
        has it (pytorch.org/docs/stable/amp.html, "CPU Ops that can autocast to bfloat16"): convolutions and
        linear layers run in bfloat16, the loss autocasts to float32, the parameters stay float32 and the
        backward pass runs outside the region. Disabled (a no-op) at fp32."""
        torch = _torch()
        return torch.autocast(self._device_type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @property
    def _device_type(self) -> str:
        return "cuda" if str(self.device).startswith("cuda") else "cpu"

    def _float32_matmul(self) -> str:
        torch = _torch()
        if self._device_type == "cuda":
            return "tf32" if self.settings.tf32 or torch.backends.cuda.matmul.allow_tf32 else "ieee"
        mode = torch.get_float32_matmul_precision()  # "highest" keeps float32 products float32 on the CPU too
        return "ieee" if mode == "highest" else f"float32_matmul_precision={mode}"

    def _compilation(self) -> str:
        return f"torch.compile(mode={self.compile_mode!r})" if self.compile_mode else "none (eager)"

    def _deterministic(self) -> bool | None:
        return bool(_torch().are_deterministic_algorithms_enabled())

    def run_forward(self, batch: Staged) -> Any:
        torch = _torch()
        self.model.eval()
        with torch.inference_mode(), self._numerics():
            with self._autocast():
                logits = self.step_model(batch.x)
            return torch.softmax(logits.float(), dim=1)

    def _loss(self, batch: Staged) -> Any:
        with self._autocast():
            return self.loss_fn(self.step_model(batch.x), batch.y)

    def run_backward(self, batch: Staged) -> Any:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self._numerics():
            loss = self._loss(batch)
            loss.backward()
        return loss.detach()

    def run_train_step(self, batch: Staged) -> Any:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self._numerics():
            loss = self._loss(batch)
            loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach()

    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        torch = _torch()
        x, _ = self.check_batch(x)
        spec_names = {layer.name for layer in self.spec.layers}
        outputs: dict[str, np.ndarray] = {}
        self.model.eval()
        with torch.inference_mode(), self._autocast():
            h = self._images(torch.from_numpy(x))
            for name, module in self.model.named_children():
                h = module(h)
                owner = name[: -len("_relu")] if name.endswith("_relu") else name
                if owner in spec_names:
                    outputs[owner] = h.float().cpu().numpy().copy()  # a fused ReLU overwrites its layer's entry
        return outputs

    def synchronize(self) -> None:
        if self.device == "cuda":
            _torch().cuda.synchronize()

    def own_timing(self, phase: str, batch: Staged, min_seconds: float = 1.0, min_runs: int = 5) -> OwnTiming:
        """``torch.utils.benchmark.Timer.blocked_autorange``: PyTorch's own benchmarking tool. It chooses its
        blocks and their count itself (one untimed call to size them, then blocks until ``min_seconds``), so
        ``min_runs`` is not its setting: with ``min_seconds`` 0 it times one block."""
        from torch.utils import benchmark as torch_benchmark

        timer = torch_benchmark.Timer(stmt="step()", globals={"step": self.step(phase, batch)},
                                      num_threads=self.threads or 1, label=phase)
        measurement = timer.blocked_autorange(min_run_time=min_seconds)
        return OwnTiming(measurement.median, "torch.utils.benchmark.Timer.blocked_autorange", len(measurement.times))

    def runtime_details(self) -> dict[str, Any]:
        import re

        torch = _torch()
        out: dict[str, Any] = {"version": self.version, "threads": torch.get_num_threads(),
                               "blas": sorted(set(re.findall(r"(?:BLAS_INFO|LAPACK_INFO)=(\w+)",
                                                             torch.__config__.show())))}
        if self.device == "cuda":
            out.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                       gpu=torch.cuda.get_device_name(0))
        return out

    def _reset_device_peak_memory(self) -> None:
        _torch().cuda.reset_peak_memory_stats()

    def _device_peak_memory(self) -> PeakMemory | None:
        return PeakMemory(_torch().cuda.max_memory_allocated() / 2**20, "torch.cuda.max_memory_allocated")

    def to_numpy(self, value: Any) -> np.ndarray:
        return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)

    def gradients(self) -> Weights:
        out = {}
        for key, tensor in self._tensors.items():
            if tensor.requires_grad:
                if tensor.grad is None:
                    raise RuntimeError("no gradients yet: call backward first")
                out[key] = tensor.grad.detach().cpu().numpy().copy()
        return out

    def get_weights(self) -> Weights:
        return {key: t.detach().cpu().numpy().copy() for key, t in self._tensors.items()}

    def _set_weights(self, weights: Weights) -> None:
        torch = _torch()
        with torch.no_grad():
            for key, tensor in self._tensors.items():
                tensor.copy_(torch.from_numpy(weights[key]))

    # --- deployment ---------------------------------------------------------------------------------------
    def export(self, directory: Path) -> list[ExportAttempt]:
        """The eval-mode model with its softmax, batch dimension dynamic: a ``torch.export`` ExportedProgram
        (``.pt2``) and an ONNX file from ``torch.onnx.export``'s dynamo exporter."""
        torch = _torch()
        directory = Path(directory)
        module = probabilities_module(torch, self.model).eval()
        sample = (torch.zeros(2, *self.spec.input_shape),)  # 2, not 1: torch.export fixes size-1 dimensions
        shapes = {"x": {0: torch.export.Dim("batch", min=1)}}

        def exported_program() -> Artifact:
            if torch.__version__ < (2, 3) and any(isinstance(layer, Conv2D) for layer in self.spec.layers):
                raise ExportUnsupported(
                    f"torch {torch.__version__} specialises convolutions at batch 16, so torch.export cannot keep "
                    "the batch dimension dynamic (pytorch/pytorch#118289); torch 2.13 and 2.14 export it")
            program = torch.export.export(module, sample, dynamic_shapes=shapes)
            path = directory / "model.pt2"
            with atomic_path(path, suffix=".pt2") as tmp:
                torch.export.save(program, tmp)
            return Artifact("torch.export", path, "pytorch", NCHW, tool=f"torch.export.export, torch {self.version}")

        def onnx_file() -> Artifact:
            import onnxscript  # noqa: F401 - the dynamo exporter needs it: a clear skip where it is missing

            program = torch.onnx.export(module, sample, dynamo=True, dynamic_shapes=shapes, input_names=["image"],
                                        output_names=["probabilities"], verbose=False)
            path = directory / "model.onnx"
            with atomic_path(path, suffix=".onnx") as tmp:
                program.save(str(tmp))
            return Artifact("onnx", path, "onnxruntime", NCHW,
                            tool=f"torch.onnx.export(dynamo=True), torch {self.version}")

        with torch.no_grad():
            return [attempt_export("torch.export", exported_program), attempt_export("onnx", onnx_file)]

    @classmethod
    def import_runtime(cls, artifact: Artifact) -> None:
        _torch()
        if artifact.format == INT8:
            # The quantize/dequantize operators the program holds, registered by torch itself. Not the quantizer's
            # modules: torchao's x86 quantizer also registers Inductor passes of its own, and with them torch
            # 2.14's Inductor lowers a quantized convolution at a dynamic batch with the wrong strides.
            import torch.ao.quantization.fx._decomposed  # noqa: F401

    @classmethod
    def quantize(cls, artifact: Artifact, calibration: np.ndarray, directory: Path) -> list[ExportAttempt]:
        """A ``torch.export`` program quantized to int8 by PT2E quantization for x86 (``torch.export-int8``)."""
        if artifact.format != "torch.export":
            return []
        return [attempt_export(INT8, lambda: quantize_program(artifact, calibration, Path(directory)))]

    @classmethod
    def load_artifact(cls, artifact: Artifact, *, device: str = "cpu", threads: int | None = None) -> LoadedArtifact:
        """A ``torch.export`` ExportedProgram (from PyTorch or Keras on torch), run as its module; an int8 program
        (PT2E) compiled by Inductor with freezing, as x86 int8 inference is served (its first call compiles)."""
        if artifact.format not in ("torch.export", INT8):
            raise FrameworkUnavailable(f"pytorch loads torch.export programs, not {artifact.format}")
        torch = _torch()
        if threads is not None:
            torch.set_num_threads(threads)
        if artifact.format == INT8:
            if device != "cpu":
                raise FrameworkUnavailable(f"the int8 program is quantized for x86 CPUs, not {device}")
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True  # constant-folds the int8 weights into oneDNN's packed kernels
            compiled = torch.compile(torch.export.load(str(artifact.path)).module())
            layout = artifact.input_layout

            def predict_int8(x: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return compiled(torch.from_numpy(to_layout(x, layout))).numpy()

            return LoadedArtifact(predict_int8, {"runtime": f"torch {torch.__version__} (torch.export.load, "
                                                            "torch.compile with Inductor freezing)",
                                                 "threads": torch.get_num_threads()})
        module = torch.export.load(str(artifact.path)).module().to(device)
        layout = artifact.input_layout

        def predict(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = module(torch.from_numpy(to_layout(x, layout)).to(device))
            return out.cpu().numpy()

        return LoadedArtifact(predict, {"runtime": f"torch {torch.__version__} (torch.export.load, "
                                                   "ExportedProgram.module())", "threads": torch.get_num_threads()})

    def data_loader(self, x: np.ndarray, y: np.ndarray) -> Any:
        """A shuffling ``DataLoader`` over in-memory arrays, drawing orders from the adapter's seeded stream."""
        torch = _torch()
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        return torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, shuffle=True,
                                           generator=self._shuffle)

    def train_epoch(self, loader: Any) -> float:
        """One pass of the PyTorch training loop over ``loader``; returns the mean loss."""
        torch = _torch()
        total, count = torch.zeros((), device=self.device), 0
        for xb, yb in loader:
            batch = Staged(self._images(xb), yb.to(self.device, non_blocking=True), len(xb))
            total += self.run_train_step(batch) * len(xb)
            count += len(xb)
        return float(total) / count

    def pipeline_epoch(self, mnist: Any, images: int) -> tuple[str, Any]:
        loader = torchvision_loader(mnist, self.spec, limit=images, generator=self._shuffle)
        return "torchvision MNIST, ToTensor + Normalize, DataLoader", lambda: self.train_epoch(loader)

    def idiomatic_scripts(self, mnist: Any, images: int, epochs: int) -> list[IdiomaticScript]:
        """PyTorch's official MNIST example, for the network it trains (``keras_cnn``): as written (it shuffles
        only on CUDA, so not here) and with shuffling, as the suite's epoch does."""
        if self.spec.name != "keras_cnn" or self.device != "cpu":
            return []
        from .. import data

        root = data.raw_copy(mnist, "torchvision/MNIST/raw").parent.parent
        argv = [sys.executable, "-m", "frameworks.adapters.idiomatic.pytorch_mnist", "--root", str(root),
                "--images", str(images), "--epochs", str(epochs), "--batch-size", str(self.batch_size)]
        if self.threads:
            argv += ["--threads", str(self.threads)]
        return [IdiomaticScript("PyTorch's official MNIST example (no shuffling, as it runs on a CPU)", argv, {}),
                IdiomaticScript("the same example with shuffle=True (as the suite's epoch shuffles)",
                                [*argv, "--shuffle"], {})]

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None) -> list[float]:
        x, y, epochs = self.check_fit_inputs(x, y, epochs)
        loader = self.data_loader(x, y)
        losses = [self.train_epoch(loader) for _ in range(epochs)]
        if not all(math.isfinite(v) for v in losses):
            raise FloatingPointError(f"pytorch/{self.spec.name}: training diverged, losses {losses}")
        return losses


def probabilities_module(torch: Any, model: Any) -> Any:
    """``model`` followed by a softmax over classes, as one module (what a deployed classifier returns)."""

    class Probabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            return torch.softmax(self.model(x), dim=1)

    return Probabilities()


def torchvision_loader(mnist: Any, spec: NetworkSpec, *, train: bool = True, limit: int | None = None,
                       generator: Any = None) -> Any:
    """torchvision's MNIST dataset with ToTensor + Normalize for ``spec``'s recipe, in a ``DataLoader``
    (shuffled for training; ``limit`` keeps the first images only).

    This is PyTorch's own input pipeline (PIL image -> tensor per sample, batched by the loader), reading
    the suite's verified files. Raises ``FrameworkUnavailable`` when torchvision cannot be imported.
    """
    from .. import data

    reason = triton_crash_risk()
    if reason:
        raise FrameworkUnavailable(reason)
    try:
        from torchvision import datasets, transforms
    except Exception as exc:  # torchvision absent, or built for another torch (RuntimeError at import)
        raise FrameworkUnavailable(f"torchvision cannot be imported here ({type(exc).__name__}: {exc})") from exc
    torch = _torch()
    recipe = spec.recipe
    # ToTensor gives pixel / 255; the recipe wants (pixel * scale - mean) / std.
    unit = 255.0 * recipe.scale
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((recipe.mean / unit,), (recipe.std / unit,))])
    root = data.raw_copy(mnist, "torchvision/MNIST/raw").parent.parent  # torchvision reads <root>/MNIST/raw
    dataset = datasets.MNIST(str(root), train=train, transform=transform, download=False)
    if limit is not None and limit < len(dataset):
        dataset = torch.utils.data.Subset(dataset, range(limit))
    return torch.utils.data.DataLoader(dataset, batch_size=recipe.batch_size, shuffle=train,
                                       generator=generator if generator is not None else torch.Generator())
