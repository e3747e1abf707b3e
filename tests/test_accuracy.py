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


def test_the_accuracy_command_trains_each_seed_and_reports_the_distribution(tmp_path, mnist):
    """Two seeds of one short training each: the records, the document and the report's accuracy section."""
    from frameworks import FRAMEWORKS, availability
    from frameworks.commands.accuracy import run_accuracy
    from frameworks.results import load_any

    trainers = [f for f in FRAMEWORKS if availability(f).ready and FRAMEWORKS[f].process is None]
    if not trainers:
        pytest.skip("no framework that trains can run in this process")
    code, path = run_accuracy(frameworks=[trainers[0]], networks=["mlp_bn"], seeds=2, epochs=1,
                              mnist_dir=str(mnist.directory), output_dir=tmp_path)
    assert code == 0
    run = load_any(path)
    assert [(t.seed, t.epochs, len(t.accuracy_per_epoch)) for t in run.trainings] == [(0, 1, 1), (1, 1, 1)]
    assert all(t.accuracy > 0.9 and t.seconds > 0 and t.error is None for t in run.trainings)
    assert run.trainings[0].accuracy != run.trainings[1].accuracy  # two seeds, two trainings
    (report,) = path.parent.glob("accuracy-report.md")
    text = report.read_text()
    assert "### Accuracy" in text and f"| mlp_bn | {trainers[0]} | 2 |" in text
    assert "Mann-Whitney" not in text  # no speed comparisons in an accuracy run, so none explained
