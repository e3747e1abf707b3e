"""The suite installed as a package (not the checkout) works from any directory: the command line, the
benchmark command, and pytest running the shipped benchmarks through the plugin's entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from frameworks import FRAMEWORKS, availability

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with the suite installed from this checkout (a regular, not editable,
    install); the frameworks come from this environment through a .pth line, to avoid gigabytes of copies."""
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "_frameworks_from_the_test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    return venv


def ready_framework() -> str:
    for name in FRAMEWORKS:
        if availability(name, probe_device=False).ready:
            return name
    pytest.skip("no framework can run in this process")


@pytest.fixture
def mnist_dir(mnist) -> Path:
    return mnist.directory


def run(venv: Path, cwd: Path, *args: str, mnist_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MNIST_DIR"] = str(mnist_dir)
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_installed_package_is_not_the_checkout(installed_venv, tmp_path, mnist_dir):
    proc = run(installed_venv, tmp_path, "python", "-c", "import frameworks; print(frameworks.__file__)",
               mnist_dir=mnist_dir)
    assert proc.returncode == 0 and str(ROOT) not in proc.stdout and "site-packages" in proc.stdout, proc.stdout


def test_info_works_outside_the_checkout(installed_venv, tmp_path, mnist_dir):
    proc = run(installed_venv, tmp_path, "mnist-framework-bench", "info", mnist_dir=mnist_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "frameworks:" in proc.stdout and "all 4 files verify" in proc.stdout


def test_bench_works_outside_the_checkout(installed_venv, tmp_path, mnist_dir):
    framework = ready_framework()
    proc = run(installed_venv, tmp_path, "mnist-framework-bench", "bench", "--quick", "--frameworks", framework,
               "--networks", "mlp_bn", "-k", "test_step", mnist_dir=mnist_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (results,) = (tmp_path / "bench-results").glob("bench-*/results.json")
    doc = json.loads(results.read_text())
    assert {b["extra_info"]["phase"] for b in doc["benchmarks"] if b["extra_info"]["kind"] == "step"} == {
        "forward", "backward", "train_step"}


def test_pytest_runs_the_shipped_benchmarks_outside_the_checkout(installed_venv, tmp_path, mnist_dir):
    framework = ready_framework()
    proc = run(installed_venv, tmp_path, "python", "-m", "pytest", "--pyargs", "frameworks", "--benchmark-only",
               "--frameworks", framework, "--networks", "mlp_bn", "-k", "test_step and train_step",
               "--benchmark-json", str(tmp_path / "out.json"), "-p", "no:cacheprovider", "-v", mnist_dir=mnist_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "passed" in proc.stdout and str(ROOT / "frameworks") not in proc.stdout
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["schema"] == "mnist-framework-bench" and len(doc["benchmarks"]) >= 1
