"""Caffe mlp_bn forward: the suite's step (pycaffe's forward(), which returns the output blobs, and the output taken)
against caffe time's loop body (Net ForwardFromTo), interleaved in blocks of 20 calls, in one process."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
from frameworks import data, process_settings  # noqa: E402

process_settings.configure_process(2)
from frameworks.registry import create_adapter  # noqa: E402

network = sys.argv[1] if len(sys.argv) > 1 else "mlp_bn"
mnist = data.load()
m = create_adapter("caffe", network, "cpu", threads=2)
x, y = mnist.train_images[:128], mnist.train_labels[:128]
staged = m.stage(*m.check_batch(data.preprocess(x, m.spec.recipe), y))
suite = m.step("forward", staged)
net = m.deploy
m._feed("deploy", net, staged)
last = len(net.layers) - 1
ways = {"suite step": suite, "caffe time's body": lambda: net._forward(0, last), "pycaffe forward()": net.forward}
times = {k: [] for k in ways}
for f in ways.values():
    for _ in range(20):
        f()
for _ in range(15):
    for k, f in ways.items():
        for _ in range(20):
            t = time.perf_counter(); f(); times[k].append(time.perf_counter() - t)
base = statistics.median(times["caffe time's body"])
for k, v in times.items():
    print(f"{network} forward {k:22s} median {statistics.median(v) * 1e6:8.1f} us  over caffe time's body {statistics.median(v) / base:.3f}")
