#!/bin/bash
# Keras on torch, keras_cnn, 8,192-image epochs: the suite's epoch benchmark, the same epoch code in a plain
# process and in a bare pytest test, and Keras' mnist_cnn example, in fresh processes, each with glibc malloc's
# defaults and with its thresholds fixed. From the repository root: results/.../allocator/run.sh > run.log
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export MNIST_DIR=${MNIST_DIR:?set MNIST_DIR to the MNIST files} KERAS_BACKEND=torch
P=.venv/bin/python
M="MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824"
for r in 1 2 3; do
  for malloc in no yes; do
    if [ $malloc = yes ]; then E="env $M"; else E="env"; fi
    echo "== r$r malloc=$malloc"
    [ $malloc = no ] && $E $P "$HERE/ab_core.py" plain 2>/dev/null | grep AB
    [ $malloc = no ] && $E $P -m pytest "$HERE/test_ab.py" -q -s -p no:cacheprovider 2>/dev/null | grep AB
    $E PYTHONPATH="$HERE" $P -m pytest frameworks/bench/test_benchmarks.py --frameworks keras-torch -p faultprobe \
      -k "epoch and framework and keras_cnn" -q -s --benchmark-only --epoch-images 8192 --epoch-rounds 3 2>&1 \
      | grep PROBE | grep epoch-framework
    $E OMP_NUM_THREADS=2 $P "$HERE/tutorial_with_faults.py" --data "$MNIST_DIR" --images 8192 --epochs 3 2>/dev/null
  done
done
