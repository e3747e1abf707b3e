"""Small helpers shared by the tests."""

from __future__ import annotations

import numpy as np


def random_batch(n: int, seed: int = 0, *, labels: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """A float32 batch (n, 1, 28, 28) in the range scaled MNIST occupies, optionally with labels."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 3.0, size=(n, 1, 28, 28)).astype(np.float32)
    if not labels:
        return x
    return x, rng.integers(0, 10, size=n).astype(np.int64)


def assert_weights_equal(a: dict, b: dict, *, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Two canonical weight dicts hold the same keys and values (exactly, by default)."""
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)
