"""The registry: names, the one availability answer, variants, process settings, and the errors a user sees
for unknown or missing frameworks. Driven by the registry's entries, so a new framework is covered too."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

import frameworks
from frameworks import FRAMEWORKS, FrameworkUnavailable, Status, UnknownNameError, availability, create_adapter
from frameworks.bench import selection
from frameworks.errors import UsageError
from frameworks.registry import (
    DEVICES,
    KERAS_BACKEND,
    FrameworkInfo,
    installed_here,
    process_groups,
    register,
    resolve_variant,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_stable_names():
    assert list(FRAMEWORKS)[:5] == ["pytorch", "keras-tensorflow", "keras-jax", "keras-torch", "caffe"]
    assert list(frameworks.NETWORKS) == ["keras_cnn", "mlp_bn", "lenet"]
    assert DEVICES == ("cpu", "cuda")


@pytest.mark.parametrize("args, kind", [
    (("tensorflow", "lenet"), "framework"),
    (("pytorch", "alexnet"), "network"),
    (("pytorch", "lenet", "tpu"), "device"),
])
def test_unknown_names_list_the_valid_ones(args, kind):
    with pytest.raises(UnknownNameError, match=f"unknown {kind}.*valid {kind}s: "):
        create_adapter(*args)


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_variants_resolve_to_the_default_and_refuse_unknown_names(framework):
    info = FRAMEWORKS[framework]
    device = info.devices[0]
    assert resolve_variant(framework, None, device) == info.default_variant
    with pytest.raises(UnknownNameError, match=f"{framework} variant.*{info.default_variant}"):
        resolve_variant(framework, "turbo", device)
    for variant, devices in info.variants.items():
        for other in set(DEVICES) - set(devices):
            with pytest.raises(FrameworkUnavailable, match="runs on"):
                resolve_variant(framework, variant, other)


def test_a_framework_that_is_not_installed_says_how_to_install_it(monkeypatch):
    name = next(iter(FRAMEWORKS))
    module = FRAMEWORKS[name].requires[0]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == module else real(m, *a))
    state = availability(name)
    assert state.status is Status.NOT_INSTALLED and not state.installed
    assert f"{module} not installed" in state.reason and FRAMEWORKS[name].install_hint in state.reason
    with pytest.raises(FrameworkUnavailable, match="not installed"):
        create_adapter(name, "lenet")


def test_a_platform_that_cannot_run_a_framework_says_so():
    register(FrameworkInfo("test-unsupported", "x:Y", ("os",), platform=lambda: "needs another platform"))
    try:
        state = availability("test-unsupported")
        assert state.status is Status.UNSUPPORTED and "needs another platform" in state.reason
    finally:
        frameworks.unregister("test-unsupported")


def test_installed_here_keeps_the_order_and_gives_each_left_out_framework_its_reason():
    register(FrameworkInfo("test-unsupported", "x:Y", ("os",), platform=lambda: "needs another platform"))
    register(FrameworkInfo("test-absent", "x:Y", ("no_such_module_mfb",)))
    try:
        runnable, left_out = installed_here(["test-absent", "test-unsupported"])
        assert runnable == [] and list(left_out) == ["test-absent", "test-unsupported"]
        assert "no_such_module_mfb not installed" in left_out["test-absent"]
        assert "needs another platform" in left_out["test-unsupported"]
        installed = [name for name in FRAMEWORKS if availability(name, probe_device=False).installed]
        assert installed_here(list(reversed(installed)))[0] == list(reversed(installed))
    finally:
        frameworks.unregister("test-unsupported")
        frameworks.unregister("test-absent")


@pytest.mark.parametrize("framework", [f for f, info in FRAMEWORKS.items() if info.process is not None])
def test_another_process_setting_means_its_own_process(framework, monkeypatch):
    setting, value = FRAMEWORKS[framework].process
    if not availability(framework, probe_device=False).installed:
        pytest.skip(availability(framework).reason)
    if setting.current() == value:
        pytest.skip(f"this process already runs {setting.variable}={value}")
    state = availability(framework, probe_device=False)
    assert state.status is Status.OWN_PROCESS and "fixed per process" in state.reason


@pytest.mark.parametrize("framework", [f for f, info in FRAMEWORKS.items() if "cuda" not in info.devices])
def test_cuda_is_refused_where_the_registry_says_cpu_only(framework):
    """Installed frameworks only: the old form ended in ``or not state.installed`` and passed, checking
    nothing, wherever the framework was missing."""
    if not availability(framework, probe_device=False).installed:
        pytest.skip(availability(framework, probe_device=False).reason)
    state = availability(framework, "cuda", probe_device=False)
    assert not state.ready and "only in this suite" in state.reason, state.reason


def test_process_groups_put_each_setting_value_in_its_own_process():
    groups = process_groups(list(FRAMEWORKS))
    seen = [f for names, _ in groups for f in names]
    assert sorted(seen) == sorted(FRAMEWORKS)
    main_names, main_env = groups[0]
    assert main_env == {KERAS_BACKEND.variable: KERAS_BACKEND.default}
    for names, env in groups:
        values = {FRAMEWORKS[f].process[1] for f in names if FRAMEWORKS[f].process}
        assert len(values) <= 1  # never two values of one setting in one process
        assert all(FRAMEWORKS[f].process is None or env[FRAMEWORKS[f].process[0].variable] == FRAMEWORKS[f].process[1]
                   for f in names)


def test_selection_refuses_frameworks_that_cannot_share_a_process():
    needing = [f for f, info in FRAMEWORKS.items() if info.process and info.process[1] != info.process[0].default]
    if len(needing) < 2:
        pytest.skip("needs two frameworks with different process settings")
    with pytest.raises(UsageError, match="cannot share one process"):
        selection.select(needing[:2])


def test_default_selection_leaves_out_frameworks_needing_another_process():
    sel = selection.select()
    for name in FRAMEWORKS:
        if availability(name, probe_device=False).status is Status.OWN_PROCESS:
            assert name in sel.left_out and name not in sel.frameworks
        else:
            assert name in sel.frameworks


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("option, value, valid", [
    ("--frameworks", "tensorflow", "valid frameworks: pytorch, keras-tensorflow"),
    ("--networks", "vgg", "valid networks: keras_cnn, mlp_bn, lenet"),
    ("--devices", "gpu", "valid devices: cpu, cuda"),
    ("--batch-size", "0", "must be at least 1"),
    ("--frameworks", "", "an empty list"),
])
def test_pytest_option_with_a_bad_value_is_a_usage_error(option, value, valid):
    result = run_pytest(f"{option}={value}", "--collect-only", "-q", "tests/test_specs.py")
    assert result.returncode == 4, result.stdout + result.stderr
    assert option in result.stderr and valid in result.stderr


def test_test_ids_carry_the_names():
    name = next(iter(FRAMEWORKS))
    result = run_pytest("--frameworks", name, "--networks", "lenet", "--devices", "cpu", "--collect-only", "-q",
                        "tests/test_shapes.py::test_forward_is_repeatable")
    assert f"test_forward_is_repeatable[{name}-lenet-cpu]" in result.stdout, result.stdout + result.stderr


def test_a_variant_is_timed_only_in_the_phases_it_changes():
    info = FrameworkInfo("test-phases", "x:Y", ("os",), variants={"base": ("cpu",), "fast": ("cpu",),
                                                                  "loop": ("cpu",)},
                         variant_phases={"loop": ("epoch-framework",)})
    phases = ("forward", "backward", "train_step", "latency", "epoch-staged", "epoch-framework")
    assert [p for p in phases if info.timed_in("base", p)] == list(phases)  # the default: everywhere
    assert [p for p in phases if info.timed_in("fast", p)] == ["forward", "backward", "train_step", "latency"]
    assert [p for p in phases if info.timed_in("loop", p)] == ["epoch-framework"]
    for bad in ({"other": ("epoch-framework",)}, {"base": ("forward",)}):  # unknown, or the default itself
        with pytest.raises(ValueError, match="variant_phases must name variants other than the default"):
            register(FrameworkInfo("test-phases", "x:Y", ("os",), variants=dict(info.variants), variant_phases=bad))
    known = {"forward", "backward", "train_step", "latency", "epoch-staged", "epoch-framework"}
    assert all(set(ps) <= known for f in FRAMEWORKS.values() for ps in f.variant_phases.values())
