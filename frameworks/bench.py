"""``python -m frameworks bench``: every framework (and each Keras backend) benchmarked in its own process,
their pytest-benchmark JSON merged, and the report written.

A framework's figures then cannot depend on which frameworks ran before it, and a framework whose process
crashes is reported as failed while the others' results are kept.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import FRAMEWORKS, __version__, installed, missing_reason
from .processes import ProcessGroup, isolated_groups, run_pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH_TESTS = "tests/test_benchmarks.py"


def new_run_dir(output_dir: Path) -> Path:
    """A fresh directory for one run's files, named by the time; never an existing one.

    The path is absolute: the benchmark processes run from the repository root, not the caller's directory.
    """
    output_dir = Path(output_dir).resolve()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        candidate = output_dir / (f"bench-{stamp}" + (f"-{n}" if n else ""))
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run directory in {output_dir}")


def write_json_atomic(path: Path, payload: Any) -> Path:
    """Write JSON to a temporary file beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=1, default=str))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def describe_exit(code: int, benchmarks: int) -> str:
    """A process's outcome in words."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"crashed ({name})"
    if code == 0:
        return "ok" if benchmarks else "no results (every benchmark skipped)"
    if code == 1:
        return f"some benchmarks failed ({benchmarks} results kept)"
    return f"failed (pytest exit {code})"


def run_group(group: ProcessGroup, json_path: Path, pytest_args: Sequence[str]) -> dict[str, Any]:
    """Benchmark one process group; return its run record and results (empty if it produced none)."""
    code = run_pytest(group, [BENCH_TESTS, "--benchmark-only", f"--benchmark-json={json_path}", *pytest_args],
                      cwd=str(ROOT))
    results: dict[str, Any] = {}
    if json_path.exists():
        try:
            results = json.loads(json_path.read_text())
        except json.JSONDecodeError as exc:
            code = code or 1
            results = {"error": f"unreadable JSON: {exc}"}
    count = len(results.get("benchmarks", []))
    record = {"frameworks": list(group.frameworks), "keras_backend": group.keras_backend, "exit_code": code,
              "status": describe_exit(code, count), "benchmarks": count, "json": json_path.name}
    return {"record": record, "results": results}


def merge(outcomes: list[dict[str, Any]], argv: Sequence[str]) -> dict[str, Any]:
    """One JSON document from the processes' results, with each process's outcome."""
    merged: dict[str, Any] = {
        "suite": "mnist-framework-bench", "suite_version": __version__,
        "datetime": dt.datetime.now(dt.timezone.utc).isoformat(), "command": list(argv),
        "runs": [o["record"] for o in outcomes], "benchmarks": [], "not_converged": [], "machine_info": {},
        "commit_info": {},
    }
    for outcome in outcomes:
        results = outcome["results"]
        for bench in results.get("benchmarks", []):
            bench.setdefault("extra_info", {})["process"] = outcome["record"]["json"]
            merged["benchmarks"].append(bench)
        merged["not_converged"] += results.get("not_converged", [])
        if results.get("machine_info") and not merged["machine_info"]:
            merged["machine_info"] = results["machine_info"]
            merged["commit_info"] = results.get("commit_info", {})
        if results.get("machine_info"):
            outcome["record"]["versions"] = results["machine_info"].get("mnist_framework_bench", {}).get("versions")
    return merged


def run_bench(frameworks: Sequence[str] | None, output_dir: Path, pytest_args: Sequence[str],
              argv: Sequence[str] = ()) -> tuple[int, Path]:
    """Run the benchmark processes, merge, report. Returns (exit status, merged JSON path)."""
    chosen = list(frameworks) if frameworks else list(FRAMEWORKS)
    runnable = []
    for name in chosen:
        if installed(name):
            runnable.append(name)
        else:
            print(f"skipping {name}: {missing_reason(name)}", flush=True)
    run_dir = new_run_dir(output_dir)
    outcomes = []
    groups = isolated_groups(runnable)
    for i, group in enumerate(groups, 1):
        print(f"\n[{i}/{len(groups)}] benchmarking {group.label} in its own process", flush=True)
        outcomes.append(run_group(group, run_dir / f"{group.label}.json", pytest_args))
    merged = merge(outcomes, argv or sys.argv)
    merged_path = write_json_atomic(run_dir / "results.json", merged)
    print(f"\nresults: {merged_path}")
    for run in merged["runs"]:
        print(f"  {','.join(run['frameworks']):18s} {run['status']}")
    from .report import write_report

    for path in write_report([merged_path], run_dir):
        print(f"report: {path}")
    failed = [r for r in merged["runs"] if r["exit_code"] != 0]
    return (1 if failed else 0), merged_path
