"""What is installed and usable here: package versions, the machine, devices, MNIST. Imports no framework
unless asked to probe a GPU."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Any

from . import FRAMEWORKS, __version__, cuda_unavailable_reason, needs_own_process, unavailable_reason
from .runtime import default_threads
from .selection import gpu_present

# Distributions whose versions matter to results, in report order.
PACKAGES = ("torch", "torchvision", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "numpy",
            "protobuf", "lmdb", "pytest-benchmark")
FRAMEWORK_PACKAGES = {
    "pytorch": ("torch", "torchvision"),
    "keras-tensorflow": ("keras", "tensorflow", "tensorflow-cpu"),
    "keras-jax": ("keras", "jax", "jaxlib"),
    "keras-torch": ("keras", "torch"),
    "caffe": (),
}


def package_version(name: str) -> str | None:
    """An installed distribution's version, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def caffe_version() -> str | None:
    """pycaffe's version and what it was built from, read from its files without loading the extension."""
    import importlib.util

    spec = importlib.util.find_spec("caffe")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = os.path.join(list(spec.submodule_search_locations)[0], ".mfb_source")
    try:
        with open(source) as f:
            return f"1.0.0 (built from {f.read().strip()} by scripts/install_caffe.sh)"
    except OSError:
        return "1.0.0"


def versions() -> dict[str, str]:
    """Versions of every relevant package that is installed."""
    found = {name: v for name in PACKAGES if (v := package_version(name))}
    if (cv := caffe_version()) is not None:
        found["caffe"] = cv
    return found


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    """Total memory in GiB (Linux)."""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        return round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def machine() -> dict[str, Any]:
    """The machine, as reports and benchmark JSON record it."""
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "usable_cores": default_threads(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "gpu_present": gpu_present(),
    }


def loaded_math_libraries() -> list[str]:
    """BLAS and kernel libraries mapped into this process (OpenBLAS, MKL, oneDNN, cuBLAS, cuDNN...)."""
    pattern = re.compile(r"(openblas|mkl|dnnl|blas|cudnn|eigen|xnnpack)", re.IGNORECASE)
    found: set[str] = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if "/" in line else ""
                if path and pattern.search(os.path.basename(path)):
                    found.add(os.path.basename(path))
    except OSError:
        pass
    return sorted(found)


def gpu_details() -> dict[str, Any]:
    """GPU name, driver, CUDA and cuDNN, from nvidia-smi and from whichever frameworks are loaded."""
    out: dict[str, Any] = {}
    if shutil.which("nvidia-smi"):
        try:
            query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                    "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
            out["nvidia_smi"] = query.stdout.strip().splitlines()
        except (OSError, subprocess.SubprocessError) as exc:
            out["nvidia_smi_error"] = str(exc)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["torch_cuda"] = torch.version.cuda
        out["torch_cudnn"] = torch.backends.cudnn.version()
        out["torch_device"] = torch.cuda.get_device_name(0)
    jax = sys.modules.get("jax")
    if jax is not None:
        out["jax_devices"] = sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()})
    return out


def runtime_details(threads: int | None = None) -> dict[str, Any]:
    """Everything a benchmark figure depends on, for pytest-benchmark's machine info."""
    thread_env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                             "TF_NUM_INTRAOP_THREADS", "KERAS_BACKEND") if k in os.environ}
    details: dict[str, Any] = {"machine": machine(), "versions": versions(), "threads": threads,
                               "environment": thread_env, "math_libraries": loaded_math_libraries(),
                               "gpu": gpu_details()}
    torch = sys.modules.get("torch")
    if torch is not None:
        config = torch.__config__.show()
        details["torch_blas"] = sorted(set(re.findall(r"(?:BLAS_INFO|LAPACK_INFO)=(\w+)", config)))
    return details


def framework_rows(probe_cuda: bool = False) -> list[dict[str, Any]]:
    """One row per framework: versions, whether it runs in this process, and on which devices."""
    vs = versions()
    rows = []
    for name in FRAMEWORKS:
        packages = {p: vs[p] for p in FRAMEWORK_PACKAGES[name] if p in vs}
        if name == "caffe" and "caffe" in vs:
            packages["caffe"] = vs["caffe"]
        reason = unavailable_reason(name)
        cuda = None
        if probe_cuda and reason is None:
            cuda = cuda_unavailable_reason(name) or "available"
        rows.append({"framework": name, "packages": packages, "unavailable": reason, "cuda": cuda})
    return rows


def describe(mnist_dir: str | None = None, probe_cuda: bool = False) -> list[str]:
    """Human-readable lines for ``python -m frameworks info``."""
    from . import data
    from .errors import DataError

    m = machine()
    lines = [
        f"mnist-framework-bench {__version__}: Python {m['python']} on {m['os']} {m['machine']}, "
        f"{m['cpu_cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB",
        "frameworks:",
    ]
    for row in framework_rows(probe_cuda):
        packages = ", ".join(f"{k} {v}" for k, v in row["packages"].items()) or "-"
        status = "usable" if row["unavailable"] is None else f"not here: {row['unavailable']}"
        if needs_own_process(row["framework"]):
            status = "usable in its own process (python -m frameworks runs it so)"
        cuda = f"; cuda: {row['cuda']}" if row["cuda"] else ""
        lines.append(f"  {row['framework']:17s} {packages:45s} {status}{cuda}")
    lines.append("devices: cpu" + ("" if gpu_present() else "; cuda: no NVIDIA GPU on this machine"))
    try:
        paths = data.locate(mnist_dir, download=False)
        where = {str(p.parent) for p in paths.values()}
        lines.append(f"MNIST: {', '.join(sorted(where))}: all {len(paths)} files verify (SHA256)")
    except DataError as exc:
        lines.append(f"MNIST: not usable: {exc}")
    lines.append(f"threads: {default_threads()} by default (--threads sets it)")
    return lines
