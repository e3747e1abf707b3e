"""How the suite times a benchmark (``bench/timing.py``), through pytest-benchmark's own fixture in a child pytest:
the first call and the warm-up calls untimed by pytest-benchmark, then the timed rounds, and a ``between`` hook that
runs before each timed round (the fidelity check's own-tool blocks), never inside one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHILD = '''
import json, time
from types import SimpleNamespace
from frameworks.bench.timing import measure

class Adapter:
    def reset_peak_memory(self):
        pass

    def peak_memory(self):
        return None

def test_measure(benchmark):
    events = []

    def run():
        events.append("suite")
        time.sleep(0.002)

    record = SimpleNamespace(manifest={}, first_call_s=None, samples_s=[], details={}, extra_info=lambda: {})
    measure(benchmark, Adapter(), run, record, group="g", warmup_calls=2, min_rounds=7, target_seconds=0.0,
            between=lambda: events.append("own"))
    with open("events.json", "w") as f:
        json.dump({"events": events, "samples": len(record.samples_s), "details": record.details}, f)
'''

FAULTS_CHILD = '''
import json, mmap
from types import SimpleNamespace
from frameworks.bench.timing import measure

PAGES = 2048  # 8 MiB of fresh anonymous memory: one minor fault a page on first touch

class Adapter:
    def reset_peak_memory(self):
        pass

    def peak_memory(self):
        return None

def touch(pages):
    block = mmap.mmap(-1, pages * mmap.PAGESIZE)
    for page in range(pages):
        block[page * mmap.PAGESIZE] = 1
    block.close()

def timed(benchmark, name, between):
    record = SimpleNamespace(manifest={}, first_call_s=None, samples_s=[], details={}, extra_info=lambda: {})
    measure(benchmark, Adapter(), lambda: touch(PAGES), record, group="g", warmup_calls=3, min_rounds=5,
            target_seconds=0.0, rounds=5, between=between)
    with open(name + ".json", "w") as f:
        json.dump(record.details, f)

def test_alone(benchmark):
    timed(benchmark, "alone", None)

def test_with_setup(benchmark):
    timed(benchmark, "with_setup", lambda: touch(4 * PAGES))
'''


@pytest.mark.parametrize("mode, expected, samples", [
    # the first call, 2 warm-up calls, then 7 rounds each after an own block
    ("--benchmark-only", ["suite"] * 3 + ["own", "suite"] * 7, 7),
    # a test run: the first call, then one call after the hook (so the test exercises the hook too)
    ("--benchmark-disable", ["suite", "own", "suite"], 0),
])
def test_between_runs_before_each_timed_round_and_never_inside_one(tmp_path, mode, expected, samples):
    (tmp_path / "test_child.py").write_text(CHILD)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:frameworks",
                           mode, "test_child.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "events.json").read_text())
    assert result["events"] == expected
    assert result["samples"] == samples
    assert "page_faults_per_round" not in result["details"], "a setup's faults would count as the rounds'"


def test_the_page_faults_recorded_are_the_timed_rounds_alone(tmp_path):
    """Each round maps 2,048 fresh pages; the warm-up calls (3 more) and a setup's pages (4 times as many) must
    not count, and with a setup, whose faults pytest-benchmark runs inside the measured loop, none are recorded."""
    (tmp_path / "test_child.py").write_text(FAULTS_CHILD)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:frameworks",
                           "--benchmark-only", "test_child.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    found = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("alone", "with_setup")}
    assert 2048 <= found["alone"]["page_faults_per_round"] < 2048 * 1.2, found
    assert "page_faults_per_round" not in found["with_setup"], found


def minor_faults() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def chain(n: int) -> None:
    """A chain of ``n`` nested calls."""
    if n:
        chain(n - 1)


def faults_per_loop(depth: int, through=None) -> float:
    """Page faults per repetition of a 40-call chain, run from ``depth`` frames further down (``through``: a
    wrapper the loop is called through)."""

    def loop() -> float:
        before = minor_faults()
        for _ in range(100):
            chain(40)
        return (minor_faults() - before) / 100

    def down(n: int) -> float:
        if n:
            return down(n - 1)
        return through(loop) if through else loop()

    return down(depth)


def test_a_loop_called_on_a_fresh_stack_does_not_thrash_at_a_chunk_boundary():
    """Where this Python allocates and frees a frame-stack chunk each time a loop's calls cross a boundary (CPython
    before gh-142183's fix), find a depth where the plain loop does, and check that through ``on_fresh_stack`` it
    does not."""
    from frameworks.clock import on_fresh_stack

    thrashing = next((d for d in range(0, 400, 3) if faults_per_loop(d) >= 1), None)
    if thrashing is None:
        pytest.skip(f"Python {sys.version.split()[0]} does not thrash at its frame-stack chunk boundaries")
    assert faults_per_loop(thrashing, on_fresh_stack) < 0.2, f"still thrashing from {thrashing} frames down"
    assert all(faults_per_loop(d, on_fresh_stack) < 0.2 for d in range(0, 400, 25))


def test_what_the_call_returns_or_raises_reaches_the_caller():
    from frameworks.clock import FRESH_STACK_SLOTS, on_fresh_stack

    assert on_fresh_stack(lambda: 42) == 42

    def fails():
        raise ValueError("from the benchmark")

    with pytest.raises(ValueError, match="from the benchmark"):
        on_fresh_stack(fails)
    with pytest.raises(pytest.skip.Exception, match="no GPU"):
        on_fresh_stack(lambda: pytest.skip("no GPU"))
    assert FRESH_STACK_SLOTS * 8 > 16 * 1024, "the frame must not fit in a 16 KiB chunk"
