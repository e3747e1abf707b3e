"""Names, availability and the errors a user sees for unknown or missing frameworks."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

import frameworks
from frameworks import FrameworkUnavailable, UnknownNameError, create_adapter, selection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_stable_names():
    assert list(frameworks.FRAMEWORKS) == ["pytorch", "keras-tensorflow", "keras-jax", "keras-torch", "caffe"]
    assert list(frameworks.NETWORKS) == ["keras_cnn", "mlp_bn", "lenet"]
    assert frameworks.DEVICES == ("cpu", "cuda")


@pytest.mark.parametrize("args, kind", [
    (("tensorflow", "lenet"), "framework"),
    (("pytorch", "alexnet"), "network"),
    (("pytorch", "lenet", "tpu"), "device"),
])
def test_unknown_names_list_the_valid_ones(args, kind):
    with pytest.raises(UnknownNameError, match=f"unknown {kind}.*valid {kind}s: "):
        create_adapter(*args)


def test_unknown_variant_is_refused():
    if frameworks.unavailable_reason("pytorch"):
        pytest.skip(frameworks.unavailable_reason("pytorch"))
    with pytest.raises(UnknownNameError, match="pytorch variant.*eager"):
        create_adapter("pytorch", "lenet", variant="turbo")


def test_a_framework_that_is_not_installed_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    reason = frameworks.unavailable_reason("pytorch")
    assert reason and "torch not installed" in reason and "pip install" in reason
    with pytest.raises(FrameworkUnavailable, match="not installed"):
        create_adapter("pytorch", "lenet")


def test_another_keras_backend_is_refused_in_this_process(monkeypatch):
    current = sys.modules["keras"].backend.backend() if "keras" in sys.modules else "tensorflow"
    others = [b for b in ("jax", "torch", "tensorflow") if b != current and frameworks.installed(f"keras-{b}")]
    if not others:
        pytest.skip("needs Keras with a second backend installed (a not-installed one is refused as such)")
    monkeypatch.setenv("KERAS_BACKEND", current)
    other = others[0]
    reason = frameworks.unavailable_reason(f"keras-{other}")
    assert reason and "fixed per process" in reason


def test_cuda_is_refused_for_caffe():
    assert "CPU only" in frameworks.cuda_unavailable_reason("caffe")


def test_selection_parses_and_validates():
    sel = selection.select("pytorch", "lenet,mlp_bn", "cpu")
    assert (sel.frameworks, sel.networks, sel.devices) == (["pytorch"], ["lenet", "mlp_bn"], ["cpu"])
    with pytest.raises(UnknownNameError, match="valid frameworks"):
        selection.select("pytorch,mxnet")
    with pytest.raises(ValueError, match="one Keras backend"):
        selection.select("keras-jax,keras-torch")


def test_default_selection_leaves_out_other_keras_backends(monkeypatch):
    if not (frameworks.installed("keras-jax") and frameworks.installed("keras-tensorflow")):
        pytest.skip("needs Keras with both the JAX and the TensorFlow backend installed")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    sel = selection.select()
    assert "keras-jax" in sel.frameworks and "keras-tensorflow" in sel.left_out


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("option, value, valid", [
    ("--frameworks", "tensorflow", "caffe, keras-jax"),
    ("--networks", "vgg", "keras_cnn, lenet, mlp_bn"),
    ("--devices", "gpu", "cpu, cuda"),
])
def test_pytest_option_with_an_unknown_name_is_a_usage_error(option, value, valid):
    result = run_pytest(option, value, "--collect-only", "-q", "tests/test_specs.py")
    assert result.returncode == 4, result.stdout + result.stderr
    assert valid in result.stderr


def test_test_ids_carry_the_names():
    result = run_pytest("--frameworks", "pytorch", "--networks", "lenet", "--devices", "cpu", "--collect-only", "-q",
                        "tests/test_shapes.py::test_forward_is_repeatable")
    assert "test_forward_is_repeatable[pytorch-lenet-cpu]" in result.stdout, result.stdout + result.stderr
