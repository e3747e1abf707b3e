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

    record = SimpleNamespace(manifest={}, first_call_s=None, samples_s=[], extra_info=lambda: {})
    measure(benchmark, Adapter(), run, record, group="g", warmup_calls=2, min_rounds=7, target_seconds=0.0,
            between=lambda: events.append("own"))
    with open("events.json", "w") as f:
        json.dump({"events": events, "samples": len(record.samples_s)}, f)
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


def depth() -> int:
    """Python frames below the caller's, on its thread."""
    frame, n = sys._getframe(1), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def test_timed_code_runs_at_a_scripts_depth_whatever_the_depth_of_its_caller():
    from frameworks.clock import on_fresh_thread

    def deep(n: int) -> tuple[int, int]:
        return deep(n - 1) if n else (depth(), on_fresh_thread(depth))

    caller, timed = deep(120)
    assert caller > 120 and timed < 10


def test_what_the_fresh_thread_returns_or_raises_reaches_the_caller():
    import threading

    from frameworks.clock import on_fresh_thread

    assert on_fresh_thread(lambda: threading.current_thread()) is not threading.current_thread()
    assert on_fresh_thread(lambda: 42) == 42

    def fails():
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        on_fresh_thread(fails)
    with pytest.raises(pytest.skip.Exception, match="no GPU"):  # a skip is a BaseException: it reaches pytest too
        on_fresh_thread(lambda: pytest.skip("no GPU"))
