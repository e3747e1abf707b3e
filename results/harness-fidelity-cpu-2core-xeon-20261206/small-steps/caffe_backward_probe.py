"""Caffe mlp_bn backward: the suite's step (pycaffe's forward() and backward() after clear_param_diffs) against
caffe time's loop body (Net ForwardFromTo/BackwardFromTo), and the suite's step without clear_param_diffs,
interleaved in blocks of 20 calls, in one process. From the repository root, MNIST_DIR set."""
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
suite = m.step("backward", staged)
net = m.train_net
m._feed("train", net, staged)
last = len(net.layers) - 1


def tool():
    net._forward(0, last)
    net._backward(last, 0)


def suite_without_clear():
    net.forward()
    net.backward()


def clear_only():
    net.clear_param_diffs()


ways = {"suite step": suite, "caffe time's body": tool, "suite without clear_param_diffs": suite_without_clear,
        "clear_param_diffs alone": clear_only}
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
    print(f"{network} {k:34s} median {statistics.median(v) * 1e6:8.1f} us  over caffe time's body {statistics.median(v) / base:.3f}")
