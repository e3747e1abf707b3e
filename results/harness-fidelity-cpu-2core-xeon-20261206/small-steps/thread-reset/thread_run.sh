#!/bin/bash
# PyTorch fidelity checks on mlp_bn and lenet, three fresh processes each way, alternating torch Timer's
# thread-count reset (as shipped) with it left out. From the repository root, MNIST_DIR set.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/threadfid}
mkdir -p "$OUT"
for r in 1 2 3; do
  for cond in shipped noreset; do
    if [ $cond = noreset ]; then V=1; else V=0; fi
    PROBE_NO_THREAD_RESET=$V PYTHONPATH="$HERE" PYTEST_ADDOPTS="-p threadprobe" .venv/bin/python -m frameworks bench \
      --frameworks pytorch --networks mlp_bn,lenet --variants default --quick --repeats 1 -k "fidelity and forward" \
      --output-dir "$OUT/$cond-$r" > "$OUT/$cond-$r.log" 2>&1
    gzip -c "$OUT/$cond-$r"/*/results.json > "$HERE/$cond-$r-results.json.gz"
  done
done
