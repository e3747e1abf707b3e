"""What the repository's own test runs share (tests/ and the package's test modules, from a checkout): fixtures
only the checkout's tests use. The installed suite does not need this file: its options, parametrization and shared
fixtures come from its pytest plugin (frameworks/bench/plugin.py, a pytest11 entry point)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
_SHARED: dict[tuple[str, str, str], Any] = {}


@pytest.fixture
def model(framework: str, network: str, device: str, make_model: Callable[..., Any]) -> Any:
    """A built model shared by the tests that only run inference on it (never train it)."""
    key = (framework, network, device)
    if key not in _SHARED:
        _SHARED[key] = make_model(framework, network, device)
    return _SHARED[key]


@pytest.fixture
def plugin_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Install a framework plugin as a distribution would be, without pip: ``plugin_env(distribution, entry_points,
    modules)`` writes a ``.dist-info`` folder naming ``entry_points`` (name -> "module:attribute") in the suite's
    group, and ``modules`` (file name -> source) beside it, and returns an environment whose PYTHONPATH holds them
    and this checkout (so ``tests.numpy_reference`` imports). Several calls install several distributions."""
    site = tmp_path / "site"

    def install(distribution: str, entry_points: dict[str, str], modules: dict[str, str] | None = None) -> dict:
        dist = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (dist / "entry_points.txt").write_text(f"[mnist_framework_bench.frameworks]\n{lines}")
        for name, source in (modules or {}).items():
            (site / name).write_text(source)
        return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}

    return install
