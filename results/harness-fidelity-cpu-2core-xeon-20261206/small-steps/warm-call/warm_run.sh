#!/bin/bash
# PyTorch fidelity checks on mlp_bn and lenet, three fresh processes each way, alternating torch Timer's
# own-tool blocks as shipped with each followed by one untimed call of the step. From the repository root, MNIST_DIR set.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/warmfid}
mkdir -p "$OUT"
for r in 1 2 3; do
  for cond in shipped warmed; do
    if [ $cond = warmed ]; then V=1; else V=0; fi
    PROBE_WARM_AFTER_OWN=$V PYTHONPATH="$HERE" PYTEST_ADDOPTS="-p warmprobe" .venv/bin/python -m frameworks bench \
      --frameworks pytorch --networks mlp_bn,lenet --variants default --quick --repeats 1 -k "fidelity and forward" \
      --output-dir "$OUT/$cond-$r" > "$OUT/$cond-$r.log" 2>&1
    gzip -c "$OUT/$cond-$r"/*/results.json > "$HERE/$cond-$r-results.json.gz"
  done
done
