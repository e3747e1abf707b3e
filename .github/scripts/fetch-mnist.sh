#!/usr/bin/env bash
# Download MNIST into DIR and verify every file with the suite's own data module (SHA256 checked, files moved
# into place only once verified). CI runs it on a cache miss, before any job can fail.
#
# Usage: .github/scripts/fetch-mnist.sh DIR      (PYTHON: the interpreter to use, default python3; if it lacks
#                                                  numpy, a throwaway virtual environment with numpy is made)
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$1
python=${PYTHON:-python3}
if ! "$python" -c 'import numpy' 2>/dev/null; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$python" -m venv "$tmp/venv"
  "$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check numpy
  python=$tmp/venv/bin/python
fi
mkdir -p "$dir"
PYTHONPATH=$root "$python" - "$dir" <<'PY'
import sys

from frameworks import data

for key, path in data.locate(sys.argv[1], download=True).items():
    print(f"MNIST {key}: {path} (verified)")
PY
