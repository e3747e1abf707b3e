"""The suite's pytest plugin (registered through the ``pytest11`` entry point, so an installed suite works
from any directory): options, parametrization over framework x network x device, skips with reasons, the
fixtures the benchmarks and tests share, and the results' schema stamp.

``pytest --pyargs frameworks --benchmark-only`` runs the benchmarks shipped in this package
(``frameworks/bench/test_benchmarks.py``); a plain test run (no ``--benchmark-only``) runs each once as a test.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .. import options as opts
from ..errors import BenchError, FrameworkUnavailable, OutputError, UsageError
from ..fileio import append_line
from ..options import Settings
from ..process_settings import configure_process, oversubscribed
from ..processes import check_parent_package
from ..registry import FRAMEWORKS, adapter_class, apply_process_settings, availability, create_adapter
from .selection import Selection, select

SETTINGS = pytest.StashKey[Settings]()
SELECTION = pytest.StashKey[Selection]()
ACCURACIES = pytest.StashKey[list]()
THREADS = pytest.StashKey[int]()
NOT_CONVERGED = pytest.StashKey[list]()
SUMMARY = pytest.StashKey[dict]()
JOURNALED = pytest.StashKey[set]()
BUILT = pytest.StashKey[dict]()  # framework -> one adapter built in this session (for its runtime details)
TEST_EPOCH = 2_048  # images per epoch benchmark when benchmarks run once as tests

MARKERS = (
    "slow: trains on the full MNIST (minutes); deselect with -m 'not slow'",
    "gpu: needs a CUDA GPU; skipped with the reason where there is none",
    "time_to_accuracy: trains until a target accuracy; runs only with --time-to-accuracy",
    "idiomatic: times tutorial-style scripts beside the suite's epochs; runs only with --idiomatic",
    "fidelity: times a step beside the framework's own tool (checks the harness); left out of timed runs by "
    "--no-fidelity",
    "trains: trains the model; skipped with the reason for an inference runtime (its adapter's trains is False)",
    "phases(*names): the benchmark phases a test times; it is parametrized with the variants timed in one of them "
    "(FrameworkInfo.timed_in)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    opts.add_to_pytest(parser)


def settings_from_config(config: pytest.Config) -> Settings:
    """The run's settings: the settings file if given, else pytest's options (pytest-benchmark's own
    round settings included)."""
    if config.getoption("settings_file"):
        settings = Settings.read(config.getoption("settings_file"))
        if config.getoption("frameworks") is not None:  # the process's share of the run's frameworks
            settings.frameworks = config.getoption("frameworks")
        return settings
    values = {o.dest: config.getoption(o.dest) for o in opts.OPTIONS if opts.PYTEST in o.scopes}
    values["benchmark_max_time"] = float(config.getoption("benchmark_max_time"))
    values["benchmark_min_rounds"] = int(config.getoption("benchmark_min_rounds"))
    return Settings.from_values(values)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        check_parent_package()
        settings = settings_from_config(config)
        if settings.frameworks:
            apply_process_settings(settings.frameworks)
        config.stash[SELECTION] = select(settings.frameworks, settings.networks, settings.devices, settings.variants)
        threads = configure_process(settings.threads)
        check_benchmark_options(config)
    except BenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS] = settings
    # A plain test run runs each benchmark once, as a test; timing needs --benchmark-only (or --benchmark-enable).
    if not (config.getoption("benchmark_only") or config.getoption("benchmark_enable")):
        config.option.benchmark_disable = True
    config.stash[ACCURACIES] = []
    config.stash[NOT_CONVERGED] = []
    config.stash[SUMMARY] = {}
    config.stash[THREADS] = threads
    config.stash[JOURNALED] = set()
    config.stash[BUILT] = {}
    if settings.mnist_dir:
        os.environ["MNIST_DIR"] = settings.mnist_dir
    if os.environ.get("MNIST_DIR"):  # absolute, so that tests that change directory still find it
        os.environ["MNIST_DIR"] = os.path.abspath(os.path.expanduser(os.environ["MNIST_DIR"]))


def pytest_report_header(config: pytest.Config) -> list[str]:
    sel = config.stash[SELECTION]
    lines = [
        f"frameworks: {', '.join(sel.frameworks)}; networks: {', '.join(sel.networks)}; "
        f"devices: {', '.join(sel.devices)}; threads: {config.stash[THREADS]}",
    ]
    lines += [f"not in this run: {name}: {why}" for name, why in sel.left_out.items()]
    if warning := oversubscribed(config.stash[THREADS]):
        lines.append(warning)
    states = [availability(f, probe_device=False) for f in sel.frameworks]
    lines += [f"skipped: {state.reason}" for state in states if not state.ready]
    lines.append(f"MNIST_DIR: {os.environ.get('MNIST_DIR', '(unset: cache, then download)')}")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if SELECTION not in config.stash:
        return
    sel, settings = config.stash[SELECTION], config.stash[SETTINGS]
    own = {n.strip() for m in metafunc.definition.iter_markers("parametrize")
           for n in (m.args[0].split(",") if isinstance(m.args[0], str) else m.args[0])}
    names = [n for n in metafunc.fixturenames if n not in own]  # a test's own parametrization wins
    if "variant" in names:  # variants depend on the framework and the device: parametrize them together
        marker = metafunc.definition.get_closest_marker("phases")
        phases = marker.args if marker is not None else None
        combos = [(f, v, d) for f in sel.frameworks for d in sel.devices for v in FRAMEWORKS[f].variants_for(d)
                  if FRAMEWORKS[f].chosen(v, settings.variants)
                  and (phases is None or any(FRAMEWORKS[f].timed_in(v, p) for p in phases))]
        if combos:
            metafunc.parametrize(("framework", "variant", "device"), combos, scope="session",
                                 ids=[f"{f}-{v}-{d}" for f, v, d in combos])
        else:  # one skip that says why, rather than pytest's "got empty parameter set"
            reason = (f"none of the selected variants is timed in {', '.join(phases or ())}: epochs are timed at "
                      "each framework's default variant and at the variants that change only them")
            metafunc.parametrize(("framework", "variant", "device"),
                                 [pytest.param(None, None, None, marks=pytest.mark.skip(reason=reason))],
                                 ids=["no-variant"], scope="session")
    for name, values in (("framework", sel.frameworks), ("network", sel.networks), ("device", sel.devices)):
        if name in names and not (name in ("framework", "device") and "variant" in names):
            metafunc.parametrize(name, values, scope="session")
    if "precision" in names:
        metafunc.parametrize("precision", settings.precisions, scope="session")
    if "batch_size" in names:
        metafunc.parametrize("batch_size", settings.batch_sizes, scope="session",
                             ids=[f"batch{v}" for v in settings.batch_sizes])
    if "latency_batch" in names:
        metafunc.parametrize("latency_batch", settings.latency_batches, scope="session",
                             ids=[f"batch{v}" for v in settings.latency_batches])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = list(items)
    if config.getoption("framework_tests_only"):
        keep = [i for i in keep if hasattr(i, "callspec") and "framework" in i.callspec.params]
    settings = config.stash.get(SETTINGS, None)
    if settings is None or not settings.time_to_accuracy:
        keep = [i for i in keep if i.get_closest_marker("time_to_accuracy") is None]
    if settings is None or not settings.idiomatic:
        keep = [i for i in keep if i.get_closest_marker("idiomatic") is None]
    if settings is not None and settings.no_fidelity and not config.option.benchmark_disable:
        keep = [i for i in keep if i.get_closest_marker("fidelity") is None]  # as a test, it still checks its run
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
    if any("mnist" in getattr(i, "fixturenames", ()) for i in items):
        check_mnist()


def check_mnist() -> None:
    """Stop the session with one message, before any test runs, when MNIST cannot be used (rather than one
    error per test that needs it)."""
    from .. import data
    from ..errors import DataError

    try:
        data.locate()
    except DataError as exc:
        problem = str(exc)
    else:
        return
    pytest.exit(f"MNIST is not usable, so the tests and benchmarks that need it cannot run: {problem}",
                returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked ``trains`` for a framework that only runs inference, saying so."""
    if item.get_closest_marker("trains") is None or not hasattr(item, "callspec"):
        return
    framework = item.callspec.params.get("framework")
    if framework is None:
        return
    try:
        trains = adapter_class(framework).trains
    except BenchError:
        return  # cannot run here at all: the model fixture skips with that reason
    if not trains:
        pytest.skip(f"{framework} is an inference runtime: it does not train")


# --- the journal: the number of tests collected, each test as it starts, every finished benchmark and test
# outcome, appended as it happens ------------------------------------------------------------------------------
def _journal(config: pytest.Config, event: dict[str, Any]) -> None:
    """Append one event; a journal that cannot be written (a full disk) stops the session with one message,
    rather than a page of internal errors per test, and what was journaled before is kept."""
    path = config.getoption("journal")
    if not path:
        return
    try:
        append_line(path, json.dumps(event, default=str))
    except OutputError as exc:
        pytest.exit(f"stopped: the journal cannot be written, so results would be lost: {exc}",
                    returncode=pytest.ExitCode.INTERNAL_ERROR)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Journal how many tests will run (after deselection), so that a parent following the journal knows the
    process's total."""
    _journal(session.config, {"event": "collected", "count": len(session.items)})


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Journal the test about to run (the parent's progress display shows it); the run itself is pytest's."""
    _journal(item.config, {"event": "start", "nodeid": item.nodeid})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    config = item.config
    if not config.getoption("journal"):
        return report
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "error" if report.when == "setup" and report.failed else report.outcome
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        _journal(config, {"event": "test", "nodeid": item.nodeid, "outcome": outcome, "reason": reason})
    if report.when == "teardown":
        session = getattr(config, "_benchmarksession", None)
        for bench in getattr(session, "benchmarks", []):
            if id(bench) not in config.stash[JOURNALED]:
                config.stash[JOURNALED].add(id(bench))
                _journal(config, {"event": "benchmark", "entry": bench.as_dict(include_data=False)})
    return report


# --- fixtures ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    """The run's validated settings."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def threads(pytestconfig: pytest.Config) -> int:
    """The intra-op thread count every framework runs with."""
    return pytestconfig.stash[THREADS]


def skip_reason(framework: str, device: str) -> str | None:
    """Why (framework, device) cannot run in this process, or None."""
    state = availability(framework, device)
    return None if state.ready else state.reason


@pytest.fixture(scope="session")
def make_model(threads: int, pytestconfig: pytest.Config) -> Callable[..., Any]:
    """A factory of fresh adapters: ``make_model(framework, network, device, seed=0)``; skips with the
    reason when the framework or device cannot run here."""

    def make(framework: str, network: Any, device: str = "cpu", **kwargs: Any) -> Any:
        reason = skip_reason(framework, device)
        if reason:
            pytest.skip(reason)
        kwargs.setdefault("shared_init", pytestconfig.getoption("shared_init"))
        try:
            adapter = create_adapter(framework, network, device, threads=threads, **kwargs)
        except FrameworkUnavailable as exc:
            pytest.skip(str(exc))
        pytestconfig.stash[BUILT].setdefault((framework, device), adapter)
        return adapter

    return make


@pytest.fixture(scope="session")
def mnist() -> Any:
    """The verified MNIST dataset (located through --mnist-dir / MNIST_DIR, the cache, or a download).

    An unusable copy fails every test that needs it with the one message, not a traceback each."""
    from .. import data
    from ..errors import DataError

    try:
        return data.load()
    except DataError as exc:
        problem = str(exc)
    pytest.fail(f"MNIST is not usable: {problem}", pytrace=False)


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
    math libraries loaded, and the thread count."""
    from ..environment import runtime_details

    machine_info["mnist_framework_bench"] = runtime_details(threads=config.stash[THREADS],
                                                            adapters=config.stash[BUILT].values())


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    """Mark the JSON as the suite's (schema and settings), and keep runs that did not converge (as outcomes,
    never as times)."""
    from ..results import stamp

    stamp(output_json, config.stash[SETTINGS].to_json())
    output_json["not_converged"] = config.stash.get(NOT_CONVERGED, [])
    # --benchmark-json is written by the suite, atomically (a full disk never leaves a truncated file), instead of
    # by pytest-benchmark; only its save_json is replaced, so --benchmark-save/-autosave still write their own files
    session = getattr(config, "_benchmarksession", None)
    if session is not None and session.json:
        session.save_json = functools.partial(save_json, session)


def benchmark_json_path(target: Any) -> Path:
    """Where ``--benchmark-json`` asked for the JSON: pytest-benchmark 5 gives the path (all of it, not only its
    base name), 4 a file it opened (closed here: the atomic writer replaces it by name)."""
    if isinstance(target, (str, os.PathLike)):
        return Path(target)
    target.close()
    return Path(os.path.abspath(target.name))


SAVE_FAILED = pytest.StashKey[str]()


def save_json(session: Any, output_json: dict) -> None:
    """pytest-benchmark's ``save_json``, writing atomically to the path the user gave; a write that fails (a
    full disk) is said once and fails the session (``pytest_sessionfinish``), not a page of internal errors."""
    from ..fileio import write_json

    try:
        path = write_json(benchmark_json_path(session.json), output_json)
    except OutputError as exc:
        session.config.stash[SAVE_FAILED] = str(exc)
        session.logger.error(f"the benchmark results were not saved: {exc}")
        return
    session.logger.info(f"Wrote benchmark data in: {path}", purple=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Runs after pytest-benchmark saved (its hook wraps this one): results that could not be written fail
    the session."""
    if SAVE_FAILED in session.config.stash:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def check_benchmark_options(config: pytest.Config) -> None:
    """Output options that would fail only after benchmarks ran, refused before: a ``--benchmark-json`` or
    ``--journal`` path that cannot be written (missing parents are created), ``--benchmark-histogram`` without
    its optional plotting packages."""
    from ..fileio import check_output

    target = config.getoption("benchmark_json", None)
    if isinstance(target, (str, os.PathLike)):
        check_output(target, "--benchmark-json", directory=False)
    if config.getoption("journal"):
        check_output(config.getoption("journal"), "--journal", directory=False)
    if config.getoption("benchmark_histogram", None) and (why := histogram_unavailable()):
        raise UsageError(why)


def histogram_unavailable() -> str | None:
    """Why ``--benchmark-histogram`` cannot work here (its optional plotting packages are missing), or None."""
    try:
        import pygal  # noqa: F401
        import pygaljs  # noqa: F401
    except ImportError as exc:
        return (f"--benchmark-histogram needs pytest-benchmark's optional plotting packages, which are not "
                f"installed here ({exc.name}): pip install 'pytest-benchmark[histogram]', or leave the option out")
    return None
