"""Fail when a framework's GPU tests all skipped: a GPU job that tests nothing must not pass.

    python .github/scripts/require-gpu-tests.py gpu-results/junit-*.xml

Each JUnit XML file is one pytest process (one framework). A file passes when at least one test of the GPU test
module (tests/test_gpu.py) passed in it; failures are left to pytest's own exit status. Prints, per file, the
counts and the reasons of the skips. Exit status: 0 every file ran GPU tests, 1 some did not, 2 no file or a file
that cannot be read.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

GPU_MODULE = "tests.test_gpu"


def outcomes(path: Path) -> tuple[Counter, list[str]]:
    """Counts of passed/skipped/failed GPU tests in one JUnit file, and the skip reasons."""
    counts: Counter = Counter()
    reasons = []
    for case in ET.parse(path).getroot().iter("testcase"):
        if not case.get("classname", "").startswith(GPU_MODULE):
            continue
        skipped = case.find("skipped")
        if skipped is not None:
            counts["skipped"] += 1
            reasons.append(skipped.get("message", "").strip())
        elif case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        else:
            counts["passed"] += 1
    return counts, reasons


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: require-gpu-tests.py JUNIT.xml...", file=sys.stderr)
        return 2
    idle = []
    for name in argv:
        path = Path(name)
        try:
            counts, reasons = outcomes(path)
        except (OSError, ET.ParseError) as exc:
            print(f"require-gpu-tests: cannot read {path}: {exc}", file=sys.stderr)
            return 2
        print(f"require-gpu-tests: {path}: {counts['passed']} passed, {counts['failed']} failed, "
              f"{counts['skipped']} skipped GPU tests")
        for reason, n in Counter(reasons).most_common():
            print(f"    skipped {n}x: {reason}")
        if counts["passed"] == 0:
            idle.append(path.name)
    if idle:
        print(f"require-gpu-tests: error: no GPU test passed in {', '.join(idle)}: the job tested nothing there",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
