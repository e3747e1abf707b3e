"""One framework's step timed at several Python call depths in one process: the evidence behind
``frameworks.clock.on_fresh_stack`` (why the suite's timed loops run on a fresh frame stack).

    KERAS_BACKEND=torch python scripts/call_depth.py keras-torch mlp_bn forward [--calls 100]

CPython keeps its frames in 16 KiB chunks; before gh-142183's fix (3.13 and later, 2026) a loop whose calls cross a
chunk boundary allocates and frees a chunk on every crossing (mmap and munmap, so fresh pages and their faults). A
benchmark harness calls the framework from some depth (pytest's is about 50 frames), so where the boundary falls
inside the framework's own calls depends on the harness. The script times the same staged step from each extra
depth, interleaved, and counts the minor page faults per call (``getrusage``), which the crossings cause; then the
same from each depth on a fresh frame stack, as the suite times. It prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frameworks import data  # noqa: E402
from frameworks.bench.test_benchmarks import real_batch  # noqa: E402
from frameworks.clock import on_fresh_stack  # noqa: E402
from frameworks.registry import create_adapter  # noqa: E402

BLOCK = 10  # calls per block; ways alternate block by block


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework")
    parser.add_argument("network")
    parser.add_argument("phase", choices=["forward", "backward", "train_step"])
    parser.add_argument("--calls", type=int, default=100, help="timed calls at each depth (default 100)")
    parser.add_argument("--depths", default="0,10,20,30,40,50,60,70,80",
                        help="extra call depths (default every 10 from 0 to 80)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]

    model = create_adapter(args.framework, args.network, "cpu", threads=args.threads)
    x, y = real_batch(data.load(), model.spec, 128)
    step = model.step(args.phase, model.stage(*model.check_batch(x, y)))
    for _ in range(10):
        step()

    def timed() -> tuple[float, int]:
        before, start = faults(), time.perf_counter()
        step()
        return time.perf_counter() - start, faults() - before

    def block() -> list[tuple[float, int]]:
        timed()  # the block's first call is untimed
        return [timed() for _ in range(BLOCK)]

    def at(depth: int, call=block) -> Any:
        return at(depth - 1, call) if depth else call()

    ways: dict[str, Callable[[], list[tuple[float, int]]]] = {f"+{d} frames": (lambda d=d: at(d)) for d in depths}
    for d in depths:  # what the suite does: the loop on a fresh frame stack (clock.on_fresh_stack)
        ways[f"+{d} frames, on a fresh stack"] = lambda d=d: at(d, lambda: on_fresh_stack(block))
    seconds: dict[str, list[float]] = {w: [] for w in ways}
    faulted: dict[str, list[int]] = {w: [] for w in ways}
    gc.collect()
    gc.disable()
    for _ in range(max(1, args.calls // BLOCK)):
        for way, call in ways.items():  # blocks interleaved, so a change of the machine's speed reaches every way
            for s, f in call():
                seconds[way].append(s)
                faulted[way].append(f)
    base = statistics.median(seconds[f"+{depths[0]} frames"])
    print(f"{args.framework} {args.network} {args.phase}, batch 128, {len(seconds[way])} calls each in interleaved "
          f"blocks of {BLOCK}, Python "
          f"{sys.version.split()[0]}\n")
    print("| called from | median step | over the first depth | minor page faults per call (median) |")
    print("|---|---|---|---|")
    for way in ways:
        median = statistics.median(seconds[way])
        print(f"| {way} | {1e3 * median:.2f} ms | {median / base:.3f} | {statistics.median(faulted[way]):g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
