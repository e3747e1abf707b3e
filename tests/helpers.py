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
                           "default_variant": variant in ("", "default", "eager"),
                           "batch": batch, "first_call_s": 0.5, "process": process, "repeat": repeat,
                           "details": details}}


def results_doc(benchmarks: list[dict], **more) -> dict:
    """A results document of the current schema around ``benchmarks``."""
    from frameworks.results import SCHEMA, SCHEMA_VERSION

    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "benchmarks": benchmarks, "machine_info": {},
            "commit_info": {}, "settings": {}, **more}


def run_doc(entries: list[tuple[str, str, str, str, float]], *, versions: dict[str, str] | None = None,
            repeats: int = 5, when: str = "2026-11-01T10:00:00+00:00", commit: str = "0123456789abcdef",
            host: str = "test-host", cpu: str = "Test CPU (hand-made data)", jitter: float = 0.02,
            device: str = "cpu") -> dict:
    """A merged run document as ``bench --repeats`` writes it: one process per framework and repeat, each with
    its records of ``entries`` (framework, variant, network, phase, median seconds), the medians moved by up to
    +-``jitter`` between processes. Hand-made, to test code paths; never a measurement."""
    versions = versions or {}
    frameworks = list(dict.fromkeys(e[0] for e in entries))
    benchmarks, processes = [], []
    for r in range(1, repeats + 1):
        factor = 1 + jitter * (((r - 1) % 5) - 2) / 2
        for framework in frameworks:
            label = framework if repeats == 1 else f"{framework}/{r}"
            mine = [e for e in entries if e[0] == framework]
            for _, variant, network, phase, median in mine:
                entry = bench_entry(framework, network, phase, median * factor, variant=variant, device=device,
                                    process=label, repeat=r)
                entry["extra_info"].update(version=versions.get(framework, "1.0"), threads=2)
                benchmarks.append(entry)
            processes.append({"label": label, "frameworks": [framework], "environment": {}, "exit_code": 0,
                              "status": "ok", "outcome": "ok", "benchmarks": len(mine), "json": f"{label}.json",
                              "repeat": r})
    machine = {"machine": {"cpu_model": cpu, "cpu_cores": 2, "usable_cores": 2, "python": "3.11.7", "host": host},
               "versions": dict(versions), "threads": 2}
    return results_doc(benchmarks, processes=processes, datetime=when, command=["python -m frameworks", "bench"],
                       machine_info={"mnist_framework_bench": machine},
                       commit_info={"id": commit, "dirty": False} if commit else {})


def step_entries(frameworks: dict[str, float], networks: dict[str, float] | None = None,
                 phases: dict[str, float] | None = None) -> list[tuple[str, str, str, str, float]]:
    """``run_doc`` entries: every (framework [variant]) x network x phase, the median seconds the product of
    the three factors. ``frameworks`` maps "name" or "name [variant]" to its factor."""
    networks = networks or {"lenet": 0.03, "mlp_bn": 0.005}
    phases = phases or {"forward": 0.3, "train_step": 1.0}
    out = []
    for column, f in frameworks.items():
        name, _, variant = column.partition(" [")
        for network, n in networks.items():
            for phase, p in phases.items():
                out.append((name, variant.rstrip("]"), network, phase, f * n * p))
    return out


def example_store(directory) -> list:
    """A results store of hand-made runs (test data, never measurements): two runs comparing pytorch (eager and
    compile) and keras-tensorflow at two versions each, then one pytorch-only run per version, plus files the
    store must skip. Returns the paths of the runs."""
    import json
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    both = {"pytorch [eager]": 1.0, "pytorch [compile]": 0.8, "keras-tensorflow [default]": 1.1}
    old = {"pytorch": "2.13.0+cpu", "keras-tensorflow": "3.11.3 (tensorflow 2.20.0)"}
    new = {"pytorch": "2.14.1+cu130", "keras-tensorflow": "3.15.1 (tensorflow 2.21.0)"}
    docs = {
        "a.json": run_doc(step_entries(both), versions=old, when="2026-11-01T10:00:00+00:00", commit="a" * 40),
        "b.json": run_doc(step_entries({**both, "pytorch [eager]": 0.9, "pytorch [compile]": 0.72}), versions=new,
                          when="2026-11-02T10:00:00+00:00", commit="b" * 40),
        "c.json": run_doc(step_entries({"pytorch [eager]": 1.0}), versions=old, when="2026-11-03T10:00:00+00:00",
                          commit="c" * 40),
        "d.json": run_doc(step_entries({"pytorch [eager]": 0.85}), versions=new, when="2026-11-03T11:00:00+00:00",
                          commit="c" * 40),
    }
    paths = []
    for name, doc in docs.items():
        path = directory / name
        path.write_text(json.dumps(doc))
        paths.append(path)
    (directory / "broken.json").write_text("{not json")
    (directory / "other-project.json").write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    return paths

