"""GPU checks: the same weights give the same outputs on the GPU as on the CPU, and a shortened training run
reaches a real accuracy there. Skipped, with the reason, where the framework has no usable GPU."""

from __future__ import annotations

import numpy as np
import pytest

from frameworks import availability, data
from frameworks.equivalence import relative_error

# PyTorch lets cuDNN convolutions use TF32 by default and XLA uses TF32-class precision for float32 on recent
# GPUs: about 3 decimal digits per product, hence a looser bound than the 1e-5 between CPU frameworks.
GPU_CPU_TOL = 5e-3
# One epoch instead of two; bars a little under what one epoch reached here (shared README: PyTorch,
# keras_cnn 98.47%, lenet 97.9-98.4%, mlp_bn 96.5-96.8%).
ONE_EPOCH_BARS = {"keras_cnn": 0.980, "lenet": 0.975, "mlp_bn": 0.960}

pytestmark = pytest.mark.gpu


@pytest.fixture
def gpu(framework):
    state = availability(framework, "cuda")
    if not state.ready:
        pytest.skip(state.reason)


def test_cpu_and_gpu_outputs_agree(gpu, framework, network, make_model, mnist):
    cpu = make_model(framework, network, "cpu", seed=5, shared_init=True)
    cuda = make_model(framework, network, "cuda", seed=5, shared_init=True)
    x = data.preprocess(mnist.test_images[:512], cpu.spec.recipe)
    err = relative_error(cuda.forward(x), cpu.forward(x))
    assert err <= GPU_CPU_TOL, f"{framework}/{network}: GPU and CPU outputs differ by {err:.2e}"


@pytest.mark.trains
def test_one_epoch_on_the_gpu_reaches_a_real_accuracy(gpu, framework, network, make_model, mnist,
                                                      record_accuracy):
    import time

    model = make_model(framework, network, "cuda")
    recipe = model.spec.recipe
    start = time.perf_counter()
    losses = model.fit(data.preprocess(mnist.train_images, recipe), mnist.train_labels, epochs=1)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(data.preprocess(mnist.test_images, recipe), mnist.test_labels)
    record_accuracy(f"{framework} (cuda)", network, accuracy, 1, seconds)
    assert np.isfinite(losses).all()
    assert accuracy >= ONE_EPOCH_BARS[network], f"{accuracy:.2%} after one epoch on the GPU"
