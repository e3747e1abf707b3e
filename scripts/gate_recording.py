"""Record the pull-request gate's workload for validating the gate on runs it never saw: unchanged code, and a
copy with a real slowdown, interleaved on one machine.

    python scripts/gate_recording.py OUTPUT_DIR [--cycles 6] [--slowdown 0.2]

Makes three fresh clones of this checkout's HEAD in a temporary directory: ``unchanged``; ``slowed``, whose
source gets a real code change (appended to two adapters, never committed): every PyTorch step spins for
``--slowdown`` of the time the step took (a whole framework slower), and Keras on TensorFlow's lenet steps do the
same (one network slower, its other networks untouched). A third clone, ``threads``, gets a thread-count change:
every PyTorch step runs on one intra-op thread instead of the process's setting (as when a change lowers the
threads a library uses; what the run records as its threads stays the same, so the gate compares the same keys).
Then it runs the gate's workload (the ``bench`` arguments of ``.github/scripts/benchmark-gate.sh``) ``--cycles``
times in the order unchanged, unchanged, slowed, threads: each cycle's two unchanged runs are an A/A pair
recorded next to each other, and its second unchanged run with the slowed one (and with the threads one) a
base/head pair, as the workflow's alternation records them. Writes each run's results
(gzipped) and ``recording.json`` (when, the order, the machine, the commit) under OUTPUT_DIR;
``scripts/gate_validation.py`` reads it. Every run uses this interpreter's environment (the shared one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frameworks.fileio import write_bytes, write_json  # noqa: E402

GATE_SCRIPT = ROOT / ".github" / "scripts" / "benchmark-gate.sh"

# Appended to the slowed copy's adapters: the step (what the gate times) does its work, then spins for SLOWDOWN
# of the time it took, so the change costs CPU in proportion to the step, as slower code would.
SPIN = '''

# --- gate recording only: a real slowdown of {what} (scripts/gate_recording.py; never committed) ---
import time as _gate_time

_gate_step = {cls}.step


def _gate_slowed_step(self, phase, batch):
    step = _gate_step(self, phase, batch)
    if not ({condition}):
        return step

    def slowed():
        start = _gate_time.perf_counter()
        out = step()
        until = _gate_time.perf_counter() + {slowdown} * (_gate_time.perf_counter() - start)
        while _gate_time.perf_counter() < until:
            pass
        return out

    return slowed


{cls}.step = _gate_slowed_step
'''

# Appended to the threads copy's PyTorch adapter: each step runs on one intra-op thread, the setting restored after.
ONE_THREAD = '''

# --- gate recording only: a thread-count change (scripts/gate_recording.py; never committed) ---
_gate_threads_step = PyTorchAdapter.step


def _gate_one_thread_step(self, phase, batch):
    step = _gate_threads_step(self, phase, batch)

    def one_thread():
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return step()
        finally:
            torch.set_num_threads(before)

    return one_thread


PyTorchAdapter.step = _gate_one_thread_step
'''


def bench_arguments() -> list[str]:
    """The ``bench`` arguments the gate's script runs each side with (read from the script, so they match)."""
    text = GATE_SCRIPT.read_text()
    start = text.index("readonly BENCH_ARGS=(") + len("readonly BENCH_ARGS=(")
    return shlex.split(text[start:text.index(")", start)].replace("\n", " "))


def clone(into: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(into)], check=True)
    return into


def run_in(source: Path, arguments: list[str], log: Path) -> int:
    """``python -m frameworks ARGUMENTS`` with ``source``'s package (this checkout's stays out of the way)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFB_PACKAGE")}
    env["PYTHONPATH"] = str(source)
    with log.open("wb") as out:  # the run's own output, kept beside it (a scratch file, not the results)
        return subprocess.run([sys.executable, "-m", "frameworks", *arguments], cwd=source, env=env, stdout=out,
                              stderr=subprocess.STDOUT).returncode


def slow_down(copy: Path, slowdown: float) -> list[str]:
    """Apply the real slowdowns to a clone; returns what was slowed, in words."""
    changes = [("frameworks/adapters/pytorch.py", "PyTorchAdapter", "True", "every PyTorch step"),
               ("frameworks/adapters/keras/adapter.py", "KerasAdapter",
                'self.backend.name == "tensorflow" and self.spec.name == "lenet"', "Keras on TensorFlow's lenet steps")]
    for path, cls, condition, what in changes:
        target = copy / path
        write_bytes(target, (target.read_text() + SPIN.format(what=what, cls=cls, condition=condition,
                                                              slowdown=slowdown)).encode())
    return [what for *_, what in changes]


def one_thread(copy: Path) -> str:
    """Apply the thread-count change to a clone; returns what changed, in words."""
    target = copy / "frameworks/adapters/pytorch.py"
    write_bytes(target, (target.read_text() + ONE_THREAD).encode())
    return "every PyTorch step on 1 intra-op thread"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--slowdown", type=float, default=0.2)
    args = parser.parse_args()
    if args.output.exists() and any(args.output.iterdir()):
        raise SystemExit(f"{args.output} is not empty: give a new directory")
    args.output.mkdir(parents=True, exist_ok=True)
    arguments = bench_arguments()
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    runs = []
    with tempfile.TemporaryDirectory(prefix="gate-recording-") as tmp:
        unchanged = clone(Path(tmp) / "unchanged")
        slowed = clone(Path(tmp) / "slowed")
        slowed_what = slow_down(slowed, args.slowdown)
        threads = clone(Path(tmp) / "threads")
        threads_what = one_thread(threads)
        sources = {"unchanged": unchanged, "slowed": slowed, "threads": threads}
        order = ["unchanged", "unchanged", "slowed", "threads"] * args.cycles
        for i, side in enumerate(order, 1):
            out = Path(tmp) / "runs" / f"{i:02d}-{side}"
            source = sources[side]
            print(f"[{i}/{len(order)}] {side}", flush=True)
            began = time.monotonic()
            out.mkdir(parents=True)
            code = run_in(source, ["bench", *arguments, "--output-dir", str(out)], out / "output.log")
            seconds = time.monotonic() - began
            (results,) = out.glob("bench-*/results.json") if code in (0, 1) else (None,)
            name = f"{i:02d}-{side}.json.gz"
            if results is not None:
                write_bytes(args.output / name, gzip.compress(results.read_bytes(), mtime=0))
            runs.append({"run": i, "side": side, "file": name if results is not None else None, "exit": code,
                         "seconds": round(seconds, 1)})
            print(f"  exit {code}, {seconds:.0f} s", flush=True)
    write_json(args.output / "recording.json", {
        "started": started, "ended": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": _cpu(), "cores": _cores(), "python": platform.python_version()},
        "bench": ["python -m frameworks bench", *arguments], "slowdown": args.slowdown, "slowed": slowed_what,
        "threads": threads_what,
        "order": "unchanged, unchanged, slowed, threads per cycle: A/A pairs (1st, 2nd) and base/head pairs "
                 "(2nd, 3rd) and (2nd, 4th)",
        "commit": _commit(), "runs": runs})
    print(f"recorded {len(runs)} runs in {args.output}")
    return 0


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _commit() -> str:
    """The commit the clones were made of (git's own answer: packed refs and worktrees included)."""
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
