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


def bench_entry(framework: str, network: str, phase: str, median: float, *, variant: str = "", device: str = "cpu",
                batch: int = 128, kind: str = "step", rounds: int = 10, spread: float = 0.1, process: str | None = None,
                repeat: int | None = None, samples: list[float] | None = None, **details) -> dict:
    """One benchmark entry of a results document: ``rounds`` samples spread evenly around ``median``
    (hand-made, to test code paths; never a measurement)."""
    if samples is None:
        samples = [median * (1 + spread * (i / max(rounds - 1, 1) - 0.5)) for i in range(rounds)]
    name = f"test_{kind}[{framework}-{variant}-{device}-{network}-{phase}-batch{batch}]"
    return {"group": f"{phase} {network} {device} batch {batch}", "name": name, "fullname": name,
            "stats": {"median": median},
            "extra_info": {"kind": kind, "framework": framework, "network": network, "device": device,
                           "phase": phase, "samples_s": samples, "images": batch, "variant": variant,
                           "batch": batch, "first_call_s": 0.5, "process": process, "repeat": repeat,
                           "details": details}}


def results_doc(benchmarks: list[dict], **more) -> dict:
    """A results document of the current schema around ``benchmarks``."""
    from frameworks.bench.schema import SCHEMA, SCHEMA_VERSION

    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "benchmarks": benchmarks, "machine_info": {},
            "commit_info": {}, "settings": {}, **more}
