"""What is installed and usable here: package versions, the machine, devices, MNIST. Imports no framework
unless asked to probe a GPU."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import __version__
from .process_settings import THREAD_VARIABLES, default_threads
from .registry import FRAMEWORKS, Status, availability, gpu_present, process_variables, thread_variables

# Distributions every run depends on, whatever the frameworks; each framework adds its own (registry).
COMMON_PACKAGES = ("numpy", "scipy", "pytest", "pytest-benchmark")


def package_version(name: str) -> str | None:
    """An installed distribution's version, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def framework_versions(name: str) -> dict[str, str]:
    """The versions of one framework's packages that are installed (and what its registry entry adds)."""
    info = FRAMEWORKS[name]
    found = {p: v for p in info.packages if (v := package_version(p))}
    if info.versions:
        module, function = info.versions.split(":")
        found.update(getattr(importlib.import_module(module), function)())
    return found


def versions() -> dict[str, str]:
    """Versions of every relevant package that is installed."""
    found: dict[str, str] = {}
    for name in FRAMEWORKS:
        found.update(framework_versions(name))
    found.update({p: v for p in COMMON_PACKAGES if (v := package_version(p))})
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
        "host": platform.node(),
    }


def source_commit() -> dict[str, Any]:
    """The commit of the checkout this package runs from (pytest-benchmark's ``commit_info`` keys), or {} when
    it is not a git checkout (an installed wheel) or git is missing.

    Benchmark processes run in their run directory, where git may find another repository or none, so the
    run's commit is taken here, from the package's own source.
    """
    package = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise subprocess.SubprocessError(done.stderr.strip())
        return done.stdout.strip()

    try:
        top = Path(git("rev-parse", "--show-toplevel")).resolve()
        if top / package.name != package:  # an installed copy inside some other repository
            return {}
        return {"id": git("rev-parse", "HEAD"), "time": git("show", "-s", "--format=%cI", "HEAD"),
                "author_time": git("show", "-s", "--format=%aI", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
                "project": top.name, "branch": git("rev-parse", "--abbrev-ref", "HEAD")}
    except (OSError, subprocess.SubprocessError):
        return {}


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
    """The GPUs nvidia-smi reports (name, driver, memory)."""
    out: dict[str, Any] = {}
    if shutil.which("nvidia-smi"):
        try:
            query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                    "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
            out["nvidia_smi"] = query.stdout.strip().splitlines()
        except (OSError, subprocess.SubprocessError) as exc:
            out["nvidia_smi_error"] = str(exc)
    return out


def runtime_details(threads: int | None = None, adapters: Any = ()) -> dict[str, Any]:
    """Everything a benchmark figure depends on, for pytest-benchmark's machine info; ``adapters`` (built
    ones) add what only the loaded framework can tell (its CUDA and cuDNN, its BLAS). ``package`` is the suite's
    code that ran (in a child, its parent's: ``processes.child_environment``)."""
    from .processes import PACKAGE_ROOT

    thread_env = {k: os.environ[k] for k in (*THREAD_VARIABLES, *thread_variables(), *process_variables())
                  if k in os.environ}
    details: dict[str, Any] = {"machine": machine(), "versions": versions(), "threads": threads,
                               "package": str(PACKAGE_ROOT / "frameworks"), "environment": thread_env,
                               "math_libraries": loaded_math_libraries(), "gpu": gpu_details()}
    for adapter in adapters:
        details.setdefault("frameworks", {})[f"{adapter.framework} on {adapter.device}"] = adapter.runtime_details()
    return details


def framework_rows(probe_cuda: bool = False) -> list[dict[str, Any]]:
    """One row per framework: versions, whether it runs in this process, and on which devices."""
    rows = []
    for name in FRAMEWORKS:
        state = availability(name, probe_device=False)
        cuda = None
        if probe_cuda and state.ready:
            cuda_state = availability(name, "cuda")
            cuda = "available" if cuda_state.ready else cuda_state.reason
        rows.append({"framework": name, "packages": framework_versions(name), "state": state, "cuda": cuda})
    return rows


def describe(mnist_dir: str | None = None, probe_cuda: bool = False) -> tuple[list[str], bool]:
    """Human-readable lines for ``python -m frameworks info``, and whether MNIST is usable."""
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
        state = row["state"]
        status = {Status.READY: "usable", Status.OWN_PROCESS: "usable in its own process (python -m frameworks "
                  "runs it so)"}.get(state.status, f"not here: {state.reason}")
        cuda = f"; cuda: {row['cuda']}" if row["cuda"] else ""
        lines.append(f"  {row['framework']:17s} {packages:45s} {status}{cuda}")
    lines.append("devices: cpu" + ("" if gpu_present() else "; cuda: no NVIDIA GPU on this machine"))
    usable = True
    try:
        paths = data.locate(mnist_dir, download=False)
        where = {str(p.parent) for p in paths.values()}
        lines.append(f"MNIST: {', '.join(sorted(where))}: all {len(paths)} files verify (SHA256)")
    except DataError as exc:
        lines.append(f"MNIST: not usable: {exc}")
        usable = False
    lines.append(f"threads: {default_threads()} by default (--threads sets it)")
    return lines, usable
