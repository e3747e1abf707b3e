"""Build a GitHub Actions job matrix from tox's own configuration, so tox.ini stays the one list of environments.

    python .github/scripts/tox-matrix.py hosted  -> hosted={"include": [{"env": "py310-torch213", ...}, ...]}
    python .github/scripts/tox-matrix.py --check -> every environment in envlist has exactly one job label

Each tox environment carries a label naming the job that runs it (tox.ini: ``labels``): ``lint`` (the lint job),
``hosted`` (a matrix job on a GitHub-hosted runner, with that environment's Python set up) or ``debian`` (a
matrix job in the Debian container Caffe's build needs). The environments and their Pythons come from
``tox config``, never from a copy here. Each label's matrix is printed as ``LABEL=<json>``, the format of
$GITHUB_OUTPUT, and appended there when that is set.
Exit status: 0 done; 1 an environment in envlist has no job label or several, or a label has no environment;
2 bad usage or tox failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

JOB_LABELS = ("lint", "hosted", "debian")
ROOT = Path(__file__).resolve().parents[2]


class ToxError(RuntimeError):
    """tox could not be run or its output could not be read."""


def tox_command() -> list[str]:
    """How to run tox: $TOX (a command line) or the tox module of this Python."""
    return shlex.split(os.environ["TOX"]) if os.environ.get("TOX") else [sys.executable, "-m", "tox"]


def run_tox(*args: str) -> str:
    cmd = [*tox_command(), *args]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ToxError(f"cannot run {shlex.join(cmd)}: {exc}") from exc
    if done.returncode != 0:
        raise ToxError(f"{shlex.join(cmd)} failed with status {done.returncode}:\n{done.stderr or done.stdout}")
    return done.stdout


def parse_config(text: str) -> dict[str, dict[str, list[str]]]:
    """``tox config`` output -> {env: {key: [values]}} (a value continued on indented lines is a list)."""
    envs: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    key = None
    for line in text.splitlines():
        section = re.fullmatch(r"\[testenv:(.+)\]", line.strip())
        if section:
            current = envs.setdefault(section.group(1), {})
            key = None
        elif current is not None and line[:1] in (" ", "\t") and key is not None:
            if line.strip():
                current[key].append(line.strip())
        elif current is not None and "=" in line:
            key, _, value = (part.strip() for part in line.partition("="))
            if value.startswith("# Exception:"):
                raise ToxError(f"tox config: {key} of an environment: {value}")
            current[key] = [value] if value else []
    return envs


def load() -> dict[str, dict[str, list[str]]]:
    """Every environment of tox's envlist, in its order, with its labels and base_python (one tox call)."""
    return parse_config(run_tox("config", "-k", "labels", "base_python"))


def python_version(base_python: list[str]) -> str:
    """'py310' or 'python3.10' -> '3.10' (what actions/setup-python takes)."""
    for spec in base_python:
        found = re.fullmatch(r"(?:py|python)(\d)\.?(\d+)", spec)
        if found:
            return f"{found.group(1)}.{found.group(2)}"
    raise ToxError(f"cannot tell the Python version of base_python = {base_python}")


def matrix(config: dict[str, dict[str, list[str]]], label: str) -> dict[str, list[dict[str, str]]]:
    """The job matrix for the environments that carry ``label``, in envlist order."""
    return {"include": [{"env": env, "python": python_version(keys["base_python"])}
                        for env, keys in config.items() if label in keys.get("labels", [])]}


def unplaced(config: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """Environments with no job label, or with more than one: {env: their job labels}."""
    placed = {env: [label for label in keys.get("labels", []) if label in JOB_LABELS] for env, keys in config.items()}
    return {env: labels for env, labels in placed.items() if len(labels) != 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", nargs="*", metavar="LABEL",
                        help=f"the jobs whose matrices to print: {', '.join(JOB_LABELS)}")
    parser.add_argument("--check", action="store_true", help="check that each environment has exactly one job")
    args = parser.parse_args(argv)
    if not args.labels and not args.check:
        parser.error("give a label, --check, or both")
    for label in args.labels:
        if label not in JOB_LABELS:
            parser.error(f"unknown job label {label!r}; the labels are {', '.join(JOB_LABELS)}")
    try:
        config = load()
        if args.check:
            bad = unplaced(config)
            for env, labels in bad.items():
                print(f"tox-matrix: {env} has job labels {labels or 'none'}; give it exactly one of "
                      f"{', '.join(JOB_LABELS)} in tox.ini", file=sys.stderr)
            if bad:
                return 1
        lines = []
        for label in args.labels:
            result = matrix(config, label)
            if not result["include"]:
                print(f"tox-matrix: no environment in envlist has the label {label}", file=sys.stderr)
                return 1
            lines.append(f"{label}={json.dumps(result, separators=(',', ':'))}")
        if lines:
            print("\n".join(lines))
        if lines and os.environ.get("GITHUB_OUTPUT"):
            with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in lines))
    except ToxError as exc:
        print(f"tox-matrix: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
