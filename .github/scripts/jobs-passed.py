"""The one check branch protection requires: fail unless every job this one needs succeeded.

    NEEDS='${{ toJSON(needs) }}' python .github/scripts/jobs-passed.py [--may-skip JOB ...]

A job that was skipped fails the check too (a job skips when one it needs failed), except those named with
--may-skip (jobs that do not run for this event). Exit status: 0 all passed, 1 some did not, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def verdict(needs: dict, may_skip: set[str]) -> list[str]:
    """The jobs that did not pass, each as 'job: result'."""
    bad = []
    for job, info in needs.items():
        result = info.get("result") if isinstance(info, dict) else None
        if result == "success" or (result == "skipped" and job in may_skip):
            continue
        bad.append(f"{job}: {result}")
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--may-skip", nargs="*", default=[], metavar="JOB", help="jobs allowed to be skipped")
    args = parser.parse_args(argv)
    try:
        needs = json.loads(os.environ["NEEDS"])
    except (KeyError, json.JSONDecodeError) as exc:
        print(f"jobs-passed: NEEDS must hold the JSON of the needs context ({exc!r})", file=sys.stderr)
        return 2
    if not isinstance(needs, dict) or not needs:
        print("jobs-passed: NEEDS names no job", file=sys.stderr)
        return 2
    may_skip = {job for value in args.may_skip for job in value.split()}
    unknown = may_skip - set(needs)
    if unknown:
        print(f"jobs-passed: --may-skip names jobs this one does not need: {', '.join(sorted(unknown))}",
              file=sys.stderr)
        return 2
    for job, info in needs.items():
        print(f"jobs-passed: {job}: {info.get('result') if isinstance(info, dict) else info}")
    bad = verdict(needs, may_skip)
    if bad:
        print(f"jobs-passed: error: not passed: {'; '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
