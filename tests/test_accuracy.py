"""Real training on the full MNIST: two epochs, the same bar for every framework."""

from __future__ import annotations

import time

import numpy as np
import pytest

from frameworks import data


@pytest.mark.trains
@pytest.mark.slow
def test_accuracy_after_the_recipe_epochs(framework, network, device, make_model, mnist, record_accuracy):
    model = make_model(framework, network, device)
    recipe = model.spec.recipe
    x_train = data.preprocess(mnist.train_images, recipe)
    x_test = data.preprocess(mnist.test_images, recipe)
    start = time.perf_counter()
    losses = model.fit(x_train, mnist.train_labels, epochs=recipe.epochs)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, mnist.test_labels)
    record_accuracy(framework, network, accuracy, recipe.epochs, seconds)
    assert len(losses) == recipe.epochs and np.all(np.isfinite(losses))
    assert losses[-1] < losses[0], f"training loss did not fall: {losses}"
    assert accuracy >= model.spec.accuracy_bar, (
        f"{framework}/{network}: {accuracy:.2%} test accuracy after {recipe.epochs} epochs, "
        f"below the bar of {model.spec.accuracy_bar:.1%}"
    )
