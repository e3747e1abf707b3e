"""The suite's pytest plugin: options, parametrization over framework x network x device, skips with
reasons, shared fixtures, and the accuracy summary."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from frameworks import (
    FRAMEWORKS,
    FrameworkUnavailable,
    UnknownNameError,
    create_adapter,
    cuda_unavailable_reason,
    unavailable_reason,
)
from frameworks.runtime import configure_process
from frameworks.selection import Selection, apply_keras_backend, parse_list, select

SELECTION = pytest.StashKey[Selection]()
ACCURACIES = pytest.StashKey[list]()
THREADS = pytest.StashKey[int]()
NOT_CONVERGED = pytest.StashKey[list]()
SUMMARY = pytest.StashKey[dict]()
ALL_VARIANTS = tuple(dict.fromkeys(v for info in FRAMEWORKS.values() for v in info.variants))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist-framework-bench")
    group.addoption("--frameworks", help="comma list of frameworks (default: every one this process can run)")
    group.addoption("--networks", help="comma list of networks: keras_cnn, mlp_bn, lenet (default: all)")
    group.addoption("--devices", help="comma list of devices: cpu, cuda (default: cpu, plus cuda with a GPU)")
    group.addoption("--mnist-dir", help="directory holding the four MNIST .gz files (or set MNIST_DIR)")
    group.addoption("--threads", type=int, help="intra-op threads for every framework (default: all cores)")
    group.addoption("--equivalence-frameworks",
                    help="comma list of frameworks the equivalence tests compare (default: the selected ones, "
                         "plus, without --frameworks, every installed Keras backend, through child processes)")
    group.addoption("--shared-init", action="store_true",
                    help="start every framework from the same seed-fixed weights instead of its own initialisers")
    group.addoption("--framework-tests-only", action="store_true",
                    help="run only tests parametrized by framework (for the extra Keras-backend processes)")
    bench = parser.getgroup("mnist-framework-bench benchmarks")
    bench.addoption("--batch-size", type=int, default=128, help="batch size of the step benchmarks (default 128)")
    bench.addoption("--batch-sizes", help="comma list of batch sizes to sweep (overrides --batch-size)")
    bench.addoption("--variants", help="comma list of variants, e.g. eager,compile,default,jit (default: all)")
    bench.addoption("--epoch-images", type=int,
                    help="images per epoch benchmark (default: 60000, or 2048 when benchmarks are disabled)")
    bench.addoption("--epoch-rounds", type=int, default=1, help="timed epochs per epoch benchmark (default 1)")
    bench.addoption("--time-to-accuracy", action="store_true",
                    help="also run the time-to-accuracy benchmarks (minutes per framework and network)")


def pytest_configure(config: pytest.Config) -> None:
    opt = config.getoption
    try:
        apply_keras_backend(opt("frameworks"))
        config.stash[SELECTION] = select(opt("frameworks"), opt("networks"), opt("devices"))
        threads = configure_process(opt("threads"))
        parse_list(opt("variants"), "variant", ALL_VARIANTS)
        parse_list(opt("equivalence_frameworks"), "framework", FRAMEWORKS)
    except (UnknownNameError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    # A plain test run runs each benchmark once, as a test; timing needs --benchmark-only (or --benchmark-enable).
    if not (opt("benchmark_only") or opt("benchmark_enable")):
        config.option.benchmark_disable = True
    config.stash[ACCURACIES] = []
    config.stash[NOT_CONVERGED] = []
    config.stash[SUMMARY] = {}
    config.stash[THREADS] = threads
    if opt("mnist_dir"):
        os.environ["MNIST_DIR"] = opt("mnist_dir")
    if os.environ.get("MNIST_DIR"):  # absolute, so that tests that change directory still find it
        os.environ["MNIST_DIR"] = os.path.abspath(os.path.expanduser(os.environ["MNIST_DIR"]))


def pytest_report_header(config: pytest.Config) -> list[str]:
    sel = config.stash[SELECTION]
    lines = [
        f"frameworks: {', '.join(sel.frameworks)}; networks: {', '.join(sel.networks)}; "
        f"devices: {', '.join(sel.devices)}; threads: {config.stash[THREADS]}",
    ]
    lines += [f"not in this run: {name}: {why}" for name, why in sel.left_out.items()]
    lines += [f"skipped: {why}" for f in sel.frameworks if (why := unavailable_reason(f))]
    lines.append(f"MNIST_DIR: {os.environ.get('MNIST_DIR', '(unset: cache, then download)')}")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    sel = metafunc.config.stash[SELECTION]
    names = metafunc.fixturenames
    if "variant" in names:  # variants depend on the framework and the device: parametrize them together
        wanted = parse_list(metafunc.config.getoption("variants"), "variant", ALL_VARIANTS)
        combos = [(f, v, d) for f in sel.frameworks for d in sel.devices for v in FRAMEWORKS[f].variants_for(d)
                  if wanted is None or v in wanted]
        metafunc.parametrize(("framework", "variant", "device"), combos, scope="session",
                             ids=[f"{f}-{v}-{d}" for f, v, d in combos])
    for name, values in (("framework", sel.frameworks), ("network", sel.networks), ("device", sel.devices)):
        if name in names and not (name in ("framework", "device") and "variant" in names):
            metafunc.parametrize(name, values, scope="session")
    if "batch_size" in names:
        sizes = metafunc.config.getoption("batch_sizes")
        values = [int(v) for v in sizes.split(",")] if sizes else [metafunc.config.getoption("batch_size")]
        metafunc.parametrize("batch_size", values, scope="session", ids=[f"batch{v}" for v in values])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = list(items)
    if config.getoption("framework_tests_only"):
        keep = [i for i in keep if hasattr(i, "callspec") and "framework" in i.callspec.params]
    if not config.getoption("time_to_accuracy"):
        keep = [i for i in keep if i.get_closest_marker("time_to_accuracy") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def skip_reason(framework: str, device: str) -> str | None:
    """Why (framework, device) cannot run here, or None."""
    reason = unavailable_reason(framework)
    if reason is None and device == "cuda":
        reason = cuda_unavailable_reason(framework)
    return reason


@pytest.fixture(scope="session")
def threads(pytestconfig: pytest.Config) -> int:
    """The intra-op thread count every framework runs with."""
    return pytestconfig.stash[THREADS]


@pytest.fixture(scope="session")
def make_model(threads: int, pytestconfig: pytest.Config) -> Callable[..., Any]:
    """A factory of fresh adapters: ``make_model(framework, network, device, seed=0)``; skips with the
    reason when the framework or device cannot run here."""

    def make(framework: str, network: str, device: str = "cpu", **kwargs: Any) -> Any:
        reason = skip_reason(framework, device)
        if reason:
            pytest.skip(reason)
        kwargs.setdefault("shared_init", pytestconfig.getoption("shared_init"))
        try:
            return create_adapter(framework, network, device, threads=threads, **kwargs)
        except FrameworkUnavailable as exc:
            pytest.skip(str(exc))

    return make


_SHARED: dict[tuple[str, str, str], Any] = {}


@pytest.fixture
def model(framework: str, network: str, device: str, make_model: Callable[..., Any]) -> Any:
    """A built model shared by the tests that only run inference on it (never train it)."""
    key = (framework, network, device)
    if key not in _SHARED:
        _SHARED[key] = make_model(framework, network, device)
    return _SHARED[key]


@pytest.fixture(scope="session")
def mnist() -> Any:
    """The verified MNIST dataset (located through --mnist-dir / MNIST_DIR, the cache, or a download)."""
    from frameworks import data

    return data.load()


@pytest.fixture
def record_accuracy(request: pytest.FixtureRequest, record_property: Callable[[str, Any], None]) -> Iterator[Callable]:
    """Record an accuracy in the test report (junit property and the end-of-run summary)."""

    def record(framework: str, network: str, accuracy: float, epochs: int, seconds: float) -> None:
        record_property("accuracy", accuracy)
        request.config.stash[ACCURACIES].append((framework, network, epochs, accuracy, seconds))

    yield record


@pytest.fixture
def record_not_converged(request: pytest.FixtureRequest) -> Callable[[dict], None]:
    """Record a time-to-accuracy run that missed its target (kept in the benchmark JSON as an outcome)."""
    return request.config.stash[NOT_CONVERGED].append


@pytest.fixture
def record_summary(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Add a line under a heading of the end-of-run summary."""

    def record(heading: str, line: str) -> None:
        request.config.stash[SUMMARY].setdefault(heading, []).append(line)

    return record


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = config.stash.get(ACCURACIES, [])
    if rows:
        terminalreporter.section("test accuracy reached")
        for framework, network, epochs, accuracy, seconds in rows:
            terminalreporter.write_line(
                f"{framework:18s} {network:10s} {epochs} epochs  {accuracy:.2%}  (training {seconds:.0f} s)")
    for heading, lines in config.stash.get(SUMMARY, {}).items():
        terminalreporter.section(heading)
        for line in lines:
            terminalreporter.write_line(line)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add what the numbers depend on: CPU and cores, GPU, CUDA and cuDNN, every framework's version, the
    BLAS libraries loaded, and the thread count."""
    from frameworks.environment import runtime_details

    machine_info["mnist_framework_bench"] = runtime_details(threads=config.stash[THREADS])


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    """Keep runs that did not converge in the JSON (as outcomes, never as times)."""
    output_json["not_converged"] = config.stash.get(NOT_CONVERGED, [])
