"""Fixtures only the suite's own tests use (the shared ones come from the plugin, frameworks.bench.plugin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

_SHARED: dict[tuple[str, str, str], Any] = {}


@pytest.fixture
def model(framework: str, network: str, device: str, make_model: Callable[..., Any]) -> Any:
    """A built model shared by the tests that only run inference on it (never train it)."""
    key = (framework, network, device)
    if key not in _SHARED:
        _SHARED[key] = make_model(framework, network, device)
    return _SHARED[key]
