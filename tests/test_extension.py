"""The two extension properties: a network defined only as a spec works in every framework with no other
change, and a framework added as one module plus one registry entry is benchmarked and reported with no
change anywhere else."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frameworks import FRAMEWORKS, availability, create_adapter, register, unregister
from frameworks.equivalence import FORWARD_TOL, compute, compute_anywhere, mismatches, probe_request, relative_error
from frameworks.errors import EXIT_FAILED
from frameworks.results import load_run
from frameworks.specs import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, NetworkSpec, Optimizer, Recipe, ReLU

from . import numpy_reference

ROOT = Path(__file__).resolve().parent.parent

# A fourth network, written here only: a small conv net with BatchNorm and dropout.
SMALL_BN_CNN = NetworkSpec(
    name="small_bn_cnn",
    description="conv8-maxpool-flatten-dense32-BN-ReLU-dropout-dense10 (a test's own network)",
    layers=(Conv2D("conv1", 8, 3, "relu"), MaxPool2D("pool1", 2), Flatten("flatten"), Dense("fc1", 32),
            BatchNorm("bn1"), ReLU("relu1"), Dropout("drop1", 0.25), Dense("fc2", 10)),
    recipe=Recipe(optimizer=Optimizer("adam", lr=1e-3, eps=1e-8), batch_size=64, epochs=1, scale=1 / 255,
                  mean=0.1307, std=0.3081, init="torch_default", source="written for the extension test"),
    expected_parameters=80 + 8 * 13 * 13 * 32 + 32 + 64 + 330,
)


@pytest.fixture
def reference_registered():
    register(numpy_reference.INFO)
    yield numpy_reference.NAME
    unregister(numpy_reference.NAME)


def test_a_network_defined_only_here_is_the_same_computation_everywhere(mnist, threads, reference_registered):
    installed = [f for f in FRAMEWORKS if availability(f, probe_device=False).installed]
    if len(installed) < 2:
        pytest.skip(f"needs two installed frameworks; installed: {', '.join(installed)}")
    request = probe_request(SMALL_BN_CNN, mnist, curve_steps=100)
    results = {}
    for framework in installed:
        if framework == reference_registered:
            results[framework] = compute(framework, request, threads)  # registered in this process only
        else:
            (results[framework],) = compute_anywhere(framework, [request], threads)
    for framework, result in results.items():
        assert result["parameters"] == SMALL_BN_CNN.expected_parameters, framework
    for a, b in itertools.combinations(results, 2):
        assert not mismatches(results[a], results[b]), (a, b, mismatches(results[a], results[b]))
    assert "curve" not in results[reference_registered]  # an inference runtime: forward probes only


def test_the_reference_framework_is_an_oracle_for_every_zoo_network(reference_registered):
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.5, 3, (16, 1, 28, 28)).astype(np.float32)
    for network in ("keras_cnn", "mlp_bn", "lenet"):
        oracle = create_adapter(reference_registered, network, seed=5, shared_init=True).forward(x)
        for framework in FRAMEWORKS:
            if framework == reference_registered or not availability(framework).ready:
                continue
            out = create_adapter(framework, network, seed=5, shared_init=True).forward(x)
            assert relative_error(out, oracle) <= FORWARD_TOL, (framework, network)


def test_a_framework_from_an_installed_plugin_is_benchmarked_and_reported(tmp_path, plugin_env):
    """Installed as a distribution would be (an entry point in the mnist_framework_bench.frameworks group),
    the test framework is benchmarked by python -m frameworks bench and appears in the report."""
    env = plugin_env("numpy-reference-plugin", {numpy_reference.NAME: "tests.numpy_reference:INFO"})
    info = subprocess.run([sys.executable, "-m", "frameworks", "info"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert numpy_reference.NAME in info.stdout and info.returncode == 0, info.stdout + info.stderr
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "frameworks", "bench", "--frameworks", numpy_reference.NAME,
                           "--networks", "lenet", "--quick", "--output-dir", str(out)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (results,) = out.glob("bench-*/results.json")
    run = load_run(results)
    forward = [r for r in run.records if r.framework == numpy_reference.NAME and r.phase == "forward"]
    assert forward and all(len(r.samples_s) >= 5 for r in forward)
    assert "is an inference runtime" in proc.stdout  # training phases skipped, with the reason
    (report,) = out.glob("bench-*/results-report.md")
    assert numpy_reference.NAME in report.read_text()
    assert json.loads(results.read_text())["processes"][0]["outcome"] == "ok"


# --- plugins as an outside contributor writes them ---------------------------------------------------------------
# The natural way to write a plugin module: the public API imported from the package, the adapter reused.
NATURAL_PLUGIN = """
from frameworks import FrameworkInfo
from tests.numpy_reference import NumpyReferenceAdapter

INFO = FrameworkInfo("numpy-natural", "tests.numpy_reference:NumpyReferenceAdapter", ("numpy",),
                     variants={"default": ("cpu",)})
"""


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frameworks", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_plugin_module_imports_the_public_api_naturally(tmp_path, plugin_env):
    """``from frameworks import FrameworkInfo`` in the entry point's module works: plugins load after the package."""
    env = plugin_env("natural-plugin", {"numpy-natural": "natural_plugin:INFO"},
                       {"natural_plugin.py": NATURAL_PLUGIN})
    info = run_cli(env, "info")
    assert info.returncode == 0, info.stdout + info.stderr
    assert "numpy-natural" in info.stdout and "Warning" not in info.stderr, info.stdout + info.stderr


@pytest.mark.parametrize(("entry", "module", "expected"), [
    ("broken_plugin:INFO", "import not_a_module_anywhere\n", "No module named 'not_a_module_anywhere'"),
    ("broken_plugin:INFO", "INFO = 'numpy-broken'\n", "gives a str, not a frameworks.FrameworkInfo"),
    ("broken_plugin:MISSING", "INFO = None\n", "could not be loaded"),
], ids=["import-error", "not-a-frameworkinfo", "no-such-attribute"])
def test_a_broken_plugin_stops_every_command_with_what_to_fix(tmp_path, plugin_env, entry, module, expected):
    env = plugin_env("broken-plugin", {"numpy-broken": entry}, {"broken_plugin.py": module})
    for args in (["info"], ["report", str(tmp_path / "none.json")]):
        proc = run_cli(env, *args)
        assert proc.returncode == EXIT_FAILED, (args, proc.stdout + proc.stderr)
        assert expected in proc.stderr, proc.stderr
        assert "'numpy-broken'" in proc.stderr and "broken-plugin 1.0" in proc.stderr, proc.stderr  # which one
        assert "pip uninstall broken-plugin" in proc.stderr or "point it at" in proc.stderr, proc.stderr


def test_a_plugin_named_like_a_built_in_framework_is_refused(tmp_path, plugin_env):
    clash = NATURAL_PLUGIN.replace('"numpy-natural"', '"pytorch"')
    env = plugin_env("clash-plugin", {"my-torch": "clash_plugin:INFO"}, {"clash_plugin.py": clash})
    proc = run_cli(env, "info")
    assert proc.returncode == EXIT_FAILED, proc.stdout + proc.stderr
    assert "'my-torch'" in proc.stderr and "clash-plugin 1.0" in proc.stderr, proc.stderr
    assert "the name of a built-in framework" in proc.stderr and "'pytorch'" in proc.stderr, proc.stderr


def test_two_plugins_with_one_name_are_refused_naming_both(tmp_path, plugin_env):
    env = plugin_env("first-plugin", {"numpy-natural": "natural_plugin:INFO"},
                       {"natural_plugin.py": NATURAL_PLUGIN})
    plugin_env("second-plugin", {"numpy-too": "natural_plugin:INFO"})
    proc = run_cli(env, "info")
    assert proc.returncode == EXIT_FAILED, proc.stdout + proc.stderr
    assert "first-plugin 1.0" in proc.stderr and "second-plugin 1.0" in proc.stderr, proc.stderr
    assert "registers the framework 'numpy-natural'" in proc.stderr and "rename one" in proc.stderr, proc.stderr


def test_pytest_refuses_to_run_with_a_broken_plugin(tmp_path, plugin_env):
    env = plugin_env("broken-plugin", {"numpy-broken": "broken_plugin:INFO"},
                       {"broken_plugin.py": "raise RuntimeError('half-written')\n"})
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q",
                           str(ROOT / "tests" / "test_specs.py")], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "RuntimeError: half-written" in proc.stderr and "broken-plugin 1.0" in proc.stderr, proc.stderr


# --- the conformance kit, as a plugin author runs it --------------------------------------------------------------
BROKEN_ADAPTER = """
from frameworks import FrameworkInfo
from tests.numpy_reference import NumpyReferenceAdapter


class ConvolvesInsteadOfCorrelating(NumpyReferenceAdapter):
    '''A classic bug: kernels flipped (a true convolution); its weights still round-trip.'''

    def _layers(self, x):
        saved = self.weights
        self.weights = {k: v[:, :, ::-1, ::-1] if v.ndim == 4 else v for k, v in saved.items()}
        try:
            return super()._layers(x)
        finally:
            self.weights = saved


INFO = FrameworkInfo("numpy-flipped", f"{__name__}:ConvolvesInsteadOfCorrelating", ("numpy",),
                     variants={"default": ("cpu",)})
"""


def run_conformance(env: dict, cwd: Path, framework: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs",
                           "frameworks.conformance", "--frameworks", framework, "--networks", "lenet,mlp_bn", "-rfs"],
                          env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_the_conformance_kit_passes_the_reference_plugin(tmp_path, plugin_env):
    env = plugin_env("numpy-reference-plugin",
                       {numpy_reference.NAME: "tests.numpy_reference:INFO"})
    proc = run_conformance(env, tmp_path, numpy_reference.NAME)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    assert "is an inference runtime" in proc.stdout  # the training checks skip, saying why


def test_the_conformance_kit_fails_an_adapter_with_wrong_outputs(tmp_path, plugin_env):
    env = plugin_env("flipped-plugin", {"numpy-flipped": "flipped_plugin:INFO"},
                       {"flipped_plugin.py": BROKEN_ADAPTER})
    proc = run_conformance(env, tmp_path, "numpy-flipped")
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-4000:] + proc.stderr[-2000:]
    failed = [line.split("::", 1)[1].split(" ")[0] for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert set(failed) == {"test_forward_matches_the_reference[numpy-flipped-lenet-cpu]",
                           "test_every_layer_output_matches_the_reference[numpy-flipped-lenet-cpu]",
                           "test_every_variant_computes_the_network[numpy-flipped-default-cpu-lenet]"}, failed
    assert "diverges at layer 'conv1' first" in proc.stdout  # mlp_bn has no convolution: it passes
