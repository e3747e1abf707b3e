#!/bin/bash
# PyTorch and Caffe fidelity checks (keras_cnn, mlp_bn), three fresh processes each way, alternating glibc malloc's
# defaults with its thresholds fixed. From the repository root, MNIST_DIR set; then python summary.py.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/fidm}
P=.venv/bin/python
M="MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824"
mkdir -p "$OUT"
for r in 1 2 3; do
  for cond in default malloc; do
    if [ $cond = malloc ]; then E="env $M"; else E="env"; fi
    $E $P -m frameworks bench --frameworks pytorch,caffe --networks keras_cnn,mlp_bn --variants default --quick \
      --repeats 1 -k fidelity --output-dir "$OUT/$cond-$r" > "$OUT/$cond-$r.log" 2>&1
    gzip -c "$OUT/$cond-$r"/*/results.json > "$HERE/$cond-$r-results.json.gz"
  done
done
