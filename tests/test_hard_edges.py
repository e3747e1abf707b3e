"""Hard edges: every bad input is a clear error naming what to fix (or a correct result), nothing silently
wrong, and nothing the user ran is lost on an interrupt or a full disk."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frameworks import data, options, register, unregister
from frameworks.analysis import report
from frameworks.cli import main
from frameworks.commands import bench as bench_run
from frameworks.errors import BenchError, OutputError, UsageError
from frameworks.fileio import write_json
from frameworks.options import Settings
from frameworks.registry import DEVICES, FRAMEWORKS, FrameworkInfo
from frameworks.results import ProcessNoise, ProcessRecord, ResultsError, load_any
from frameworks.specs import NETWORKS

from . import numpy_reference
from .helpers import bench_entry, results_doc

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- options: validated once, up front, with the option and the valid range named --------------------------
@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--epoch-rounds", "0"], "--epoch-rounds: must be at least 1, got 0"),
    (["--batch-sizes", "128,abc"], "--batch-sizes: 'abc' in '128,abc': 'abc' is not a whole number"),
    (["--epoch-images", "0"], "--epoch-images: must be at least 1, got 0"),
    (["--epoch-images", "-1"], "--epoch-images: must be at least 1, got -1"),
    (["--epoch-images", "70000"], "--epoch-images: must be at most 60,000, got 70,000"),
    (["--frameworks="], "--frameworks: an empty list; give one or more of: pytorch"),
    (["--networks", "LeNet"], "--networks: unknown network 'LeNet'; valid networks: keras_cnn, mlp_bn, lenet"),
    (["--threads", "0"], "--threads: must be at least 1"),
    (["--repeats", "0"], "--repeats: must be at least 1"),
    (["--benchmark-max-time", "0"], "--benchmark-max-time: must be a finite number above 0"),
    (["--batch-size", "128", "--batch-sizes", "256"], "--batch-size and --batch-sizes contradict each other"),
    (["--benchmark-json", "x.json"], "bench does not take --benchmark-json"),
])
def test_bad_bench_options_are_usage_errors_before_anything_runs(in_tmp, capsys, args, message):
    assert main(["bench", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (in_tmp / "bench-results").exists()  # no run directory, no report


def test_the_test_command_reports_a_bad_option_once(in_tmp, capsys):
    assert main(["test", "--networks", "LeNet"]) == 2
    err = capsys.readouterr().err
    assert err.count("unknown network 'LeNet'") == 1


def test_quick_keeps_what_was_given_explicitly():
    argv = ["--quick", "--epoch-images", "256"]
    values = {"epoch_images": 256, "quick": True}
    quick, notes = Settings.from_values(values).with_quick(options.explicit_dests(argv))
    assert quick.epoch_images == 256 and quick.round_seconds == options.QUICK["round_seconds"]
    assert "--quick: keeping your epoch-images 256" in notes


def test_settings_files_are_validated_like_options(tmp_path):
    good = Settings(frameworks=["pytorch"], batch_sizes=[64], epoch_images=512)
    assert Settings.read(good.write(tmp_path / "s.json")) == good
    for bad, message in (({"epoch_images": 0}, "must be at least 1"), ({"frameworks": ["mxnet"]}, "unknown framework"),
                         ({"nonsense": 1}, "unknown settings"), ([], "not a settings object")):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(UsageError, match=message):
            Settings.read(tmp_path / "bad.json")


# --- nothing to measure is not success ---------------------------------------------------------------------------
def test_cuda_named_on_a_machine_without_a_gpu_is_a_failure(in_tmp, capsys):
    from frameworks.registry import gpu_present

    if gpu_present():
        pytest.skip("this machine has a GPU")
    assert main(["bench", "--devices", "cuda"]) == 1  # named, so a failure (the table), not a skip
    assert "no framework can use a GPU here" in capsys.readouterr().err
    assert not (in_tmp / "bench-results").exists()


def test_a_framework_named_that_is_not_installed_is_a_failure(in_tmp, capsys):
    register(FrameworkInfo("test-absent", "nowhere:Adapter", ("a_module_that_is_not_installed",),
                           install_hint="pip install test-absent"))
    try:
        assert main(["bench", "--frameworks", "test-absent"]) == 1
    finally:
        unregister("test-absent")
    err = capsys.readouterr().err
    assert "a_module_that_is_not_installed not installed" in err and "pip install test-absent" in err


def test_calibration_alone_is_not_a_result():
    outcome = {"record": ProcessRecord(label="x", frameworks=["x"], environment={}, exit_code=0, status="",
                                       outcome="nothing", benchmarks=0, json="x.json"),
               "benchmarks": [], "tests": [{"nodeid": "a", "outcome": "skipped", "reason": "why"}], "results": {}}
    plan = bench_run.Plan(Settings(), [], 1, Path("."), [])
    code, lines = bench_run.summary(plan, [outcome], interrupted=False)
    assert code == 3 and any("nothing was measured" in line for line in lines)
    assert any("1 x why" in line for line in lines)


# --- MNIST and paths ----------------------------------------------------------------------------------------------
def test_an_unusable_mnist_is_one_message_before_anything_runs(in_tmp, mnist, capsys, monkeypatch):
    broken = in_tmp / "broken"
    broken.mkdir()
    for f in data.FILES:
        (broken / (f.name + ".gz")).symlink_to(mnist.directory / (f.name + ".gz"))
    (broken / (data.FILES[1].name + ".gz")).unlink()
    (broken / (data.FILES[1].name + ".gz")).write_bytes(b"not mnist")
    monkeypatch.setenv(data.ENV_DIR, str(broken))
    assert main(["info"]) == 2
    assert main(["bench", "--frameworks", "pytorch"]) == 2
    err = capsys.readouterr().err
    assert "MNIST is not usable" in err and "does not match the expected" in err
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_data.py"), "-k", "real_mnist or preprocess"],
                          env={**os.environ, data.ENV_DIR: str(broken)}, capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 4, proc.stdout[-2000:]
    assert (proc.stdout + proc.stderr).count("does not match the expected") == 1


def test_a_mistyped_mnist_directory_is_never_created(in_tmp):
    typo = in_tmp / "mnsit"
    with pytest.raises(BenchError, match="does not exist"):
        data.locate(typo)
    assert not typo.exists()


def test_an_unreadable_mnist_directory_is_named(in_tmp, monkeypatch):
    folder = in_tmp / "locked"
    folder.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == folder else real(p, mode, **kw))
    with pytest.raises(BenchError, match="cannot be read: no permission"):
        data.locate(folder)


def test_an_output_directory_under_a_file_is_refused(in_tmp, capsys):
    (in_tmp / "typo").write_text("")
    assert main(["bench", "--output-dir", str(in_tmp / "typo" / "results"), "--frameworks", "pytorch"]) == 2
    assert f"{in_tmp / 'typo'} is a file, not a directory" in capsys.readouterr().err


# --- files: atomic, and a full disk names the path ------------------------------------------------------------
def test_a_failed_write_leaves_no_file_and_names_the_path(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    write_json(target, {"old": True})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=f"could not write {target}: No space left on device"):
        write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}  # the old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left


class FullFile:
    """A file on a full disk: it opens, and every write fails with ENOSPC, as the kernel's does."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def fail_writes_under(monkeypatch, directory: Path, code: int) -> None:
    """Make the file-system calls that write under ``directory`` fail with ``code`` (ENOSPC: files open and
    their writes fail; EROFS or EACCES: creating a file or directory fails), leaving the rest of the machine
    alone. This is how an unprivileged process (a CI runner) tests a full or read-only disk; a real mount needs
    root."""
    import builtins

    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def under(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and Path(os.path.abspath(path)).is_relative_to(directory)

    def guarded_open(file, mode="r", *args, **kwargs):
        writes = any(m in mode for m in "wax+")
        if writes and under(file) and code != errno.ENOSPC:
            raise OSError(code, os.strerror(code), str(file))
        f = real_open(file, mode, *args, **kwargs)
        return FullFile(f) if writes and under(file) else f

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(path) and code != errno.ENOSPC:
            raise OSError(code, os.strerror(code), str(path))
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if under(path) and code != errno.ENOSPC:
            raise OSError(code, os.strerror(code), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


def mounted(tmp_path, name: str, options: str):
    """A tmpfs mounted at ``tmp_path / name`` (yielded, then unmounted), or a skip saying why it cannot be."""
    mount = tmp_path / name
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (the injected variant of this test runs everywhere): "
                    f"{proc.stderr.strip()}")
    return mount


@pytest.fixture(params=["injected", "mount"])
def small_disk(request, tmp_path, monkeypatch):
    """A directory on a full disk: injected ENOSPC (every machine), or a 64 KiB tmpfs where the machine lets
    this process mount one (root)."""
    if request.param == "injected":
        disk = tmp_path / "small"
        disk.mkdir()
        fail_writes_under(monkeypatch, disk, errno.ENOSPC)
        yield disk
        return
    yield mounted(tmp_path, "small", "size=64k")
    subprocess.run(["umount", str(tmp_path / "small")], check=False)


def test_a_full_disk_gives_a_message_and_no_truncated_file(small_disk, tmp_path):
    doc = results_doc([bench_entry("pytorch", "lenet", "train_step", 0.01, rounds=20000)])
    with pytest.raises(OutputError, match=f"could not write {small_disk}/results.json: No space left"):
        write_json(small_disk / "results.json", doc)
    assert list(small_disk.iterdir()) == []  # no truncated file, no temporary file
    source = tmp_path / "r.json"
    write_json(source, results_doc([bench_entry("pytorch", "lenet", "train_step", 0.01)]))
    free = os.statvfs(small_disk)
    if free.f_blocks * free.f_frsize < 1 << 20:  # the mounted 64 KiB disk: fill it (the injected one is full)
        (small_disk / "filler").write_bytes(b"x" * max(0, free.f_bavail * free.f_frsize - 2048))
    before = sorted(p.name for p in small_disk.iterdir())
    with pytest.raises(BenchError, match="No space left"):  # refused up front (UsageError) or while writing
        report.write_report([source], small_disk)
    assert sorted(p.name for p in small_disk.iterdir()) == before  # the report and chart left nothing behind


# --- reading results: refuse what cannot be used, say where each figure came from ---------------------------------
def test_report_refuses_runs_that_are_not_like_for_like_unless_mixed(tmp_path):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(json.dumps(results_doc([bench_entry("pytorch", "lenet", "forward", 0.01)],
                                        settings={"batch_sizes": [128]})))
    b.write_text(json.dumps(results_doc([bench_entry("pytorch", "lenet", "forward", 0.02),
                                         bench_entry("pytorch", "mlp_bn", "forward", 0.02)],
                                        settings={"batch_sizes": [256]})))
    with pytest.raises(ResultsError, match="not like for like.*other settings"):
        report.analyse([a, b])
    md = report.write_report([a, b], tmp_path, mixed=True)[0].read_text()
    assert "pytorch (1)" in md and "pytorch (2)" in md  # each file's figures apart, labelled
    assert "## Benchmarks in some inputs only" in md and "mlp_bn forward cpu batch 128: only in" in md


def test_compatible_runs_are_pooled_and_each_figure_names_its_files(tmp_path):
    paths = []
    for i, median in enumerate((0.010, 0.011)):
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps(results_doc([bench_entry("pytorch", "lenet", "forward", median, process="p")])))
        paths.append(path)
    a = report.analyse(paths)
    (cell,) = [c for c in a.cells if c.network == "lenet"]
    assert cell.sources == {1, 2} and len(cell.per_process) == 2
    assert "(1,2)" in report.markdown(a)


def test_a_disturbed_process_is_flagged_in_the_summary_and_the_report(tmp_path):
    noise = ProcessNoise(seconds=10, others_cpu=0.5, steal=0.0)
    assert "other processes used 50% of the CPU" in noise.disturbed
    record = ProcessRecord(label="pytorch", frameworks=["pytorch"], environment={}, exit_code=0, status="ok",
                           outcome="ok", benchmarks=1, json="p.json", noise=noise)
    outcome = {"record": record, "benchmarks": [bench_entry("pytorch", "lenet", "forward", 0.01)], "tests": [],
               "results": {}}
    _, lines = bench_run.summary(bench_run.Plan(Settings(), [], 1, Path("."), []), [outcome], False)
    assert any("[disturbed: other processes used 50% of the CPU]" in line for line in lines)
    merged = bench_run.merge([outcome], Settings(), ["bench"])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(merged))
    md = report.write_report([path], tmp_path)[0].read_text()
    assert "1 of 1 processes ran while the machine was busy" in md and " †" in md


# --- interrupts: what finished is kept, merged and reported --------------------------------------------------------
def test_ctrl_c_keeps_what_finished_merges_reports_and_exits_130(tmp_path, mnist, plugin_env):
    env = {**plugin_env("numpy-reference-plugin", {numpy_reference.NAME: "tests.numpy_reference:INFO"}),
           data.ENV_DIR: str(mnist.directory), "PYTHONUNBUFFERED": "1"}  # each line as it is written, not at exit
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "frameworks", "bench", "--frameworks", numpy_reference.NAME,
                             "--networks", "lenet,mlp_bn", "--quick", "--repeats", "3", "--output-dir", str(out)],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            # as from a terminal: a runner (tox) may start the tests with Ctrl-C ignored, and an
                            # ignored SIGINT is inherited (Python then installs no KeyboardInterrupt handler)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    second = False
    for line in proc.stdout:  # interrupt while the second repeat's process runs its benchmarks
        seen.append(line)
        second = second or "[2/3]" in line
        if second and "collected" in line:
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, "".join(seen)[-2000:] + rest[-2000:]
    (results,) = out.glob("bench-*/results.json")
    run = load_any(results)
    assert run.interrupted
    assert [p.outcome for p in run.processes][:1] == ["ok"] and run.processes[-1].outcome == "interrupted"
    assert any(r.repeat == 1 for r in run.records)  # the finished process's results survive
    (md,) = out.glob("bench-*/results-report.md")
    assert "The run was interrupted" in md.read_text()


# --- properties: arbitrary input gives a result or a clear message, never a traceback ----------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=4), max_leaves=20)
FIELDS = st.sampled_from(["schema", "schema_version", "document", "benchmarks", "processes", "settings",
                          "extra_info", "samples_s", "kind", "framework", "images", "machine_info", "trainings"])


def documents():
    """Mostly-plausible results documents with arbitrary values in them."""
    entry = st.fixed_dictionaries({"name": st.text(max_size=5), "extra_info": st.dictionaries(
        st.sampled_from(["kind", "framework", "network", "device", "phase", "samples_s", "images", "batch",
                         "process", "details"]), JSON, max_size=10)})
    return st.fixed_dictionaries({"schema": st.just("mnist-framework-bench") | JSON,
                                  "schema_version": st.sampled_from([2, 3]) | JSON,
                                  "benchmarks": st.lists(entry, max_size=3) | JSON,
                                  "processes": st.lists(st.dictionaries(st.text(max_size=6), JSON), max_size=2)},
                                 optional={"settings": JSON, "document": JSON, "trainings": JSON}) | JSON


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents())
def test_any_file_gives_report_and_gate_a_result_or_a_message(tmp_path, doc):
    """A refused file gets a message that names it and leaves nothing written; an accepted one gets exactly the
    report (and charts) it returns. The old form caught BenchError with ``pass``: a write_report that wrote half a
    report, or raised BenchError("") for every input, passed it."""
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        path, out = Path(scratch) / "input.json", Path(scratch) / "out"
        path.write_text(json.dumps(doc, allow_nan=True))
        out.mkdir()
        try:
            written = report.write_report([path], out)
        except BenchError as exc:
            assert str(path) in str(exc), str(exc)
            assert list(out.iterdir()) == []
        else:
            assert sorted(written) == sorted(out.iterdir()) and written[0].name == "input-report.md"
            assert written[0].read_text().startswith("# ")
        from frameworks.analysis.gate import gate

        code, text = gate([str(path)], [str(path)])
        assert code in (0, 1, 2) and text
        assert (code == 2) == text.startswith("## Benchmark gate: NO USABLE"), text


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=12), option=st.sampled_from([o for o in options.OPTIONS if o.parse is not None]))
def test_any_option_value_is_parsed_or_refused_with_a_message(text, option):
    import argparse

    try:
        option.parse(text)  # type: ignore[misc]
    except argparse.ArgumentTypeError as exc:
        assert str(exc)


FIELDS_OF_SETTINGS = {f.name: f for f in dataclasses.fields(Settings)}
NAMES = {"frameworks": sorted(FRAMEWORKS), "networks": sorted(NETWORKS), "devices": list(DEVICES),
         "variants": sorted({v for info in FRAMEWORKS.values() for v in info.variants})}
EDGE_INTS = st.sampled_from([0, 1, 2, -1, 256, 257, 60_000, 60_001, 2**31]) | st.integers()
EDGE_FLOATS = st.sampled_from([0.0, -0.0, 1e-9, -1.0, 0.5, 1.0, float("inf"), float("nan")]) | st.floats()
SCALARS = st.none() | st.booleans() | EDGE_INTS | EDGE_FLOATS | st.text(max_size=12) | st.sampled_from(
    [n for names in NAMES.values() for n in names] + ["128", "1,2", "", " ", "cpu,cpu"])


def setting_values(name: str):
    """Values for one field of ``Settings``: well-formed ones from its type and the registry's names, at the
    boundaries its parser draws (0, 1, the maximum and one past it), and the wrong types a hand-written or
    corrupted file holds (a string where a list belongs, a number where a name belongs, a list of lists)."""
    if name in NAMES:
        good = st.lists(st.sampled_from(NAMES[name]), min_size=1, max_size=3)
    elif name in ("batch_sizes", "latency_batches"):
        good = st.lists(EDGE_INTS, min_size=1, max_size=3)
    elif str(FIELDS_OF_SETTINGS[name].type) == "bool":  # every on/off setting, new ones included
        good = st.booleans()
    elif name == "mnist_dir":
        good = st.just("/data/mnist")
    elif name == "round_seconds":
        good = EDGE_FLOATS
    else:
        good = EDGE_INTS
    return good | SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=4), SCALARS, max_size=2)


def settings_payloads():
    """Settings files: mostly real field names with drawn values, sometimes an unknown key or not an object."""
    known = st.sampled_from(sorted(FIELDS_OF_SETTINGS)).flatmap(lambda n: st.tuples(st.just(n), setting_values(n)))
    fields = st.lists(known, max_size=6).map(dict)
    unknown = st.tuples(fields, st.sampled_from(["frameworkz", "batch_size", "Threads", ""]), SCALARS).map(
        lambda t: {**t[0], t[1]: t[2]})
    return fields | unknown | JSON


def assert_valid(read: Settings) -> None:
    """Every field of ``read`` holds what the run can use."""
    def positive(v):
        return type(v) is int and v >= 1

    for name, names in NAMES.items():
        value = getattr(read, name)
        assert value is None or (type(value) is list and value and all(n in names for n in value)), (name, value)
    assert type(read.batch_sizes) is list and read.batch_sizes and all(map(positive, read.batch_sizes))
    assert type(read.latency_batches) is list and read.latency_batches
    assert all(positive(v) and v <= options.MAX_LATENCY_BATCH for v in read.latency_batches)
    for name in ("threads", "min_rounds"):
        assert getattr(read, name) is None or positive(getattr(read, name)), name
    assert positive(read.epoch_rounds) and positive(read.latency_requests)
    assert read.epoch_images is None or (positive(read.epoch_images) and read.epoch_images <= 60_000)
    assert read.round_seconds is None or (type(read.round_seconds) is float and 0 < read.round_seconds < math.inf)
    flags = [name for name, f in FIELDS_OF_SETTINGS.items() if str(f.type) == "bool"]
    assert {"time_to_accuracy", "idiomatic", "no_fidelity"} <= set(flags)
    assert all(type(getattr(read, name)) is bool for name in flags), [(n, getattr(read, n)) for n in flags]
    assert read.mnist_dir is None or type(read.mnist_dir) is str


@settings(max_examples=400, deadline=None)
@given(payload=settings_payloads())
def test_any_settings_file_is_read_valid_or_refused_naming_the_setting(payload):
    """What is read is valid (every field usable, and it reads back unchanged); what is refused is refused
    with a message that names the file and the setting. The old property drew keys from ``st.text(max_size=8)``,
    which cannot spell ten of the fifteen fields, and only checked ``str(exc)``: it passed a reader that turned
    ``"batch_sizes": "128"`` into [1, 2, 8] or kept ``"idiomatic": "no"`` (true); this one fails both."""
    try:
        read = Settings.from_json(payload)
    except UsageError as exc:
        message = str(exc)
        assert message.startswith("settings: "), message
        if isinstance(payload, dict) and set(payload) <= set(FIELDS_OF_SETTINGS):
            assert any(name in message or name.replace("_", "-") in message for name in payload), message
        return
    assert isinstance(payload, dict) and set(payload) <= set(FIELDS_OF_SETTINGS)
    assert_valid(read)
    assert Settings.from_json(read.to_json()) == read
    for name, value in payload.items():  # a well-formed value is kept as given (names and numbers deduplicated)
        if value is not None and name not in ("epoch_rounds", "latency_requests"):
            expected = list(dict.fromkeys(value)) if isinstance(value, list) else value
            assert getattr(read, name) == expected, (name, value, getattr(read, name))


@pytest.fixture(params=["injected-erofs", "injected-eacces", "mount"])
def read_only_dir(request, tmp_path, monkeypatch):
    """A directory that cannot be written: EROFS or EACCES injected at the file-system calls (every machine:
    root ignores file permissions, so chmod proves nothing), or a tmpfs mounted read-only where root allows.
    Yields (directory, the error's words)."""
    if request.param.startswith("injected"):
        directory = tmp_path / "ro"
        directory.mkdir()
        code = errno.EROFS if request.param == "injected-erofs" else errno.EACCES
        fail_writes_under(monkeypatch, directory, code)
        yield directory, os.strerror(code)
        return
    yield mounted(tmp_path, "ro", "ro,size=64k"), os.strerror(errno.EROFS)
    subprocess.run(["umount", str(tmp_path / "ro")], check=False)


def test_a_read_only_output_directory_or_cache_is_a_usage_error(in_tmp, read_only_dir, capsys, monkeypatch):
    read_only_dir, words = read_only_dir
    assert main(["bench", "--output-dir", str(read_only_dir / "results"), "--frameworks", "pytorch"]) == 2
    assert f"--output-dir {read_only_dir / 'results'} cannot be written ({words})" in capsys.readouterr().err
    monkeypatch.setenv(data.ENV_CACHE, str(read_only_dir / "cache"))
    assert main(["bench", "--frameworks", "pytorch"]) == 2
    assert "set MFB_CACHE to a writable directory" in capsys.readouterr().err
    assert not (in_tmp / "bench-results").exists()
    with pytest.raises(BenchError, match=f"cannot create {read_only_dir / 'cache'}.*\\({words}\\)"):
        data.raw_copy(data.load(), "reader/MNIST/raw")
    assert list(read_only_dir.iterdir()) == []


# --- each parser's decision and words, exactly (what mutation testing found unpinned) ------------------------------
@pytest.mark.parametrize("dest, text, result", [
    ("batch_size", " 7 ", 7), ("node_rank", "0", 0), ("master_port", "65535", 65535), ("master_port", "1", 1),
    ("benchmark_max_time", " 0.5 ", 0.5), ("margin", "0.999", 0.999), ("batch_sizes", "3, 1,3", [3, 1]),
    ("epoch_images", "60000", 60_000), ("epoch_images", "1", 1), ("removed", "a, b", ["a", "b"]),
    ("latency_batches", "1,256", [1, 256]), ("dp_mode", " devices ", "devices"), ("master_addr", " host ", "host"),
    ("devices", "cpu, cpu", ["cpu"]), ("devices", "cuda,cpu", ["cuda", "cpu"]), ("claim", " pytorch ", "pytorch"),
    ("claim", "pytorch,pytorch", "pytorch"),
])
def test_each_parser_returns_the_value_given(dest, text, result):
    assert options.BY_DEST[dest].parse(text) == result


@pytest.mark.parametrize("dest, text, message", [
    ("batch_size", "0", "must be at least 1, got 0"),
    ("batch_size", "x", "'x' is not a whole number"),
    ("node_rank", "-1", "must be at least 0, got -1"),
    ("master_port", "65536", "must be at most 65,535, got 65,536"),
    ("master_port", "0", "must be at least 1, got 0"),
    ("epoch_images", "60001", "must be at most 60,000, got 60,001"),
    ("benchmark_max_time", "0", "must be a finite number above 0, got 0"),
    ("benchmark_max_time", "-1", "must be a finite number above 0, got -1"),
    ("benchmark_max_time", "inf", "must be a finite number above 0, got inf"),
    ("benchmark_max_time", "nan", "must be a finite number above 0, got nan"),
    ("benchmark_max_time", "x", "'x' is not a number"),
    ("margin", "1", "must lie between 0 and 1, got 1"),
    ("margin", "1.5", "must lie between 0 and 1, got 1.5"),
    ("margin", "0", "must be a finite number above 0, got 0"),
    ("batch_sizes", " , ", "an empty list; give one or more whole numbers, e.g. 128,1024"),
    ("batch_sizes", "1,0", "'0' in '1,0': must be at least 1, got 0"),
    ("removed", "a,,b", "an empty name in 'a,,b'"),
    ("latency_batches", "1,300,257",
     "latency batches must be at most 256 (small batches; --batch-sizes measures throughput), got 300"),
    ("dp_mode", "x", "unknown dp-mode 'x'; valid: processes, devices"),
    ("master_addr", "h:1", "'h:1' is not a host name or address (give it without scheme or port)"),
    ("master_addr", "a/b", "'a/b' is not a host name or address (give it without scheme or port)"),
    ("master_addr", "a b", "'a b' is not a host name or address (give it without scheme or port)"),
    ("master_addr", "", "'' is not a host name or address (give it without scheme or port)"),
    ("output_dir", "  ", "an empty path"),
    ("devices", ",", "an empty list; give one or more of: cpu, cuda"),
    ("devices", "cpu,,cuda", "an empty name in 'cpu,,cuda'; valid devices: cpu, cuda"),
    ("devices", "tpu", "unknown device 'tpu'; valid devices: cpu, cuda"),
    ("claim", "pytorch,keras-jax", "give one framework, got 2: 'pytorch,keras-jax'"),
])
def test_each_parser_refuses_with_the_words_that_say_what_is_valid(dest, text, message):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError) as info:
        options.BY_DEST[dest].parse(text)
    assert str(info.value) == message


def test_a_path_option_is_made_absolute_where_it_was_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert options.user_path("out") == str(tmp_path / "out")
    assert options.user_path("~/x") == str(tmp_path / "home" / "x")


def test_the_table_registers_each_option_where_it_is_offered():
    import argparse

    assert options.BY_DEST["benchmark_max_time"].flag == "--benchmark-max-time"
    assert options.BY_DEST["quick"].kwargs() == {"action": "store_true", "default": False,
                                                 "help": options.BY_DEST["quick"].help}
    assert options.BY_DEST["repeats"].kwargs() == {"type": options.positive_int, "default": 1, "metavar": "N",
                                                   "help": options.BY_DEST["repeats"].help}
    parser = argparse.ArgumentParser()
    options.add_to_argparse(parser, "gate")
    assert vars(parser.parse_args(["--alpha", "0.01", "--removed", "a"])) == {
        "min_effect": 0.10, "alpha": 0.01, "removed": ["a"], "out_of_scope": (), "summary": None}

    class Group:
        added: dict = {}

        def addoption(self, flag, **kwargs):
            self.added[flag] = kwargs

    class Parser:
        group = Group()

        def getgroup(self, name):
            assert name == "mnist-framework-bench"
            return self.group

    pytest_parser = Parser()
    options.add_to_pytest(pytest_parser)
    added = pytest_parser.group.added
    assert set(added) == {o.flag for o in options.OPTIONS if options.PYTEST in o.scopes}
    assert "--repeats" not in added and added["--batch-size"]["dest"] == "batch_size"
    assert added["--shared-init"] == {"dest": "shared_init", "action": "store_true", "default": False,
                                      "help": options.BY_DEST["shared_init"].help}
    assert added["--threads"]["metavar"] == "N"


def test_settings_from_option_values_fill_every_default():
    assert Settings.from_values({}) == Settings(precisions=["fp32"], batch_sizes=[128], epoch_rounds=1,
                                                latency_batches=[1], latency_requests=1000)
    values = {"frameworks": ["pytorch"], "networks": ["lenet"], "devices": ["cpu"], "variants": ["eager"],
              "precisions": ["bf16"], "batch_size": 64, "threads": 2, "mnist_dir": "/m", "epoch_images": 512,
              "epoch_rounds": 3, "time_to_accuracy": True, "idiomatic": True, "benchmark_max_time": 0.5,
              "benchmark_min_rounds": 7, "latency_batches": [1, 8], "latency_requests": 10}
    assert Settings.from_values(values) == Settings(
        frameworks=["pytorch"], networks=["lenet"], devices=["cpu"], variants=["eager"], precisions=["bf16"],
        batch_sizes=[64], threads=2, mnist_dir="/m", epoch_images=512, epoch_rounds=3, time_to_accuracy=True,
        idiomatic=True, round_seconds=0.5, min_rounds=7, latency_batches=[1, 8], latency_requests=10)
    assert Settings.from_values({"batch_sizes": [256, 512]}).batch_sizes == [256, 512]
    with pytest.raises(UsageError, match=r"^--batch-size and --batch-sizes contradict each other: give one of them$"):
        Settings.from_values({"batch_size": 64, "batch_sizes": [256]})


def test_quick_sets_both_of_its_values_and_says_so():
    quick, notes = Settings().with_quick(set())
    assert (quick.epoch_images, quick.round_seconds) == (8_192, 0.3)
    assert notes == ["--quick: epoch-images 8192", "--quick: round-seconds 0.3"]
    kept, notes = Settings(round_seconds=2.0).with_quick({"round_seconds"})
    assert (kept.epoch_images, kept.round_seconds) == (8_192, 2.0)
    assert notes == ["--quick: epoch-images 8192", "--quick: keeping your round-seconds 2.0"]


@pytest.mark.parametrize("payload, message", [
    ({"epoch_images": 0}, "settings: epoch_images: must be at least 1, got 0"),
    ({"epoch_images": 60_001}, "settings: epoch_images: must be at most 60,000, got 60,001"),
    ({"threads": 0}, "settings: threads: must be at least 1, got 0"),
    ({"epoch_rounds": None}, "settings: epoch_rounds: null, but this setting needs a value"),
    ({"batch_sizes": "128"}, "settings: batch_sizes: must be a list of ints, got '128'"),
    ({"batch_sizes": ["128"]}, "settings: batch_sizes: must be a list of ints, got ['128']"),
    ({"frameworks": ["pytorch,caffe"]}, "settings: frameworks: must be a list of strs, got ['pytorch,caffe']"),
    ({"devices": ["tpu"]}, "settings: devices: unknown device 'tpu'; valid devices: cpu, cuda"),
    ({"latency_batches": [512]}, "settings: latency_batches: latency batches must be at most 256 (small batches; "
                                 "--batch-sizes measures throughput), got 512"),
    ({"threads": 2.0}, "settings: threads: must be a number, got 2.0"),
    ({"threads": True}, "settings: threads: must be a number, got True"),
    ({"round_seconds": "1"}, "settings: round_seconds: must be a number, got '1'"),
    ({"round_seconds": 0}, "settings: round_seconds: must be a finite number above 0, got 0"),
    ({"idiomatic": 1}, "settings: idiomatic: must be true or false, got 1"),
    ({"time_to_accuracy": "yes"}, "settings: time_to_accuracy: must be true or false, got 'yes'"),
    ({"mnist_dir": ""}, "settings: mnist_dir: must be a directory path, got ''"),
    ({"mnist_dir": 3}, "settings: mnist_dir: must be a directory path, got 3"),
    ({"nonsense": 1, "other": 2}, "settings: unknown settings ['nonsense', 'other']"),
    ([], "settings: not a settings object"),
])
def test_a_settings_file_is_refused_naming_the_setting_and_the_rule(payload, message):
    with pytest.raises(UsageError) as info:
        Settings.from_json(payload)
    assert str(info.value) == message


def test_a_settings_file_keeps_each_value_it_holds(tmp_path):
    payload = {"frameworks": ["pytorch"], "networks": ["lenet", "lenet"], "devices": None, "variants": ["eager"],
               "precisions": ["fp32"], "batch_sizes": [64, 8], "threads": 2, "mnist_dir": "/m", "epoch_images": 512,
               "epoch_rounds": 2, "time_to_accuracy": True, "idiomatic": False, "round_seconds": 1,
               "min_rounds": 3, "latency_batches": [1, 8], "latency_requests": 5}
    read = Settings.from_json(payload)
    assert read == Settings(frameworks=["pytorch"], networks=["lenet"], devices=None, variants=["eager"],
                            precisions=["fp32"], batch_sizes=[64, 8], threads=2, mnist_dir="/m", epoch_images=512,
                            epoch_rounds=2, time_to_accuracy=True, idiomatic=False, round_seconds=1.0, min_rounds=3,
                            latency_batches=[1, 8], latency_requests=5)
    assert type(read.round_seconds) is float
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match=rf"^--settings-file {tmp_path / 'bad.json'}: not readable as JSON \("):
        Settings.read(tmp_path / "bad.json")
    (tmp_path / "zero.json").write_text('{"threads": 0}')
    with pytest.raises(UsageError) as info:
        Settings.read(tmp_path / "zero.json")
    assert str(info.value) == f"--settings-file {tmp_path / 'zero.json'}: threads: must be at least 1, got 0"


def test_a_settings_file_keeps_a_fractional_number_of_seconds(tmp_path):
    """round_seconds is a float: a file's 0.25 is kept (an int is read as its float), where an int setting refuses
    a float."""
    assert Settings.from_json({"round_seconds": 0.25}).round_seconds == 0.25
    assert Settings.read(Settings(round_seconds=0.3).write(tmp_path / "s.json")).round_seconds == 0.3
    with pytest.raises(UsageError) as info:
        Settings.from_json({"min_rounds": 2.5})
    assert str(info.value) == "settings: min_rounds: must be a number, got 2.5"


def test_explicit_options_are_found_with_or_without_an_equals_sign():
    argv = ["--quick", "--epoch-images=256", "--benchmark-max-time", "1", "--benchmark-min-rounds=2", "x=--threads"]
    assert options.explicit_dests(argv) == {"quick", "epoch_images", "round_seconds", "min_rounds"}


def test_the_parser_factories_build_what_the_table_holds():
    """The table's parsers are made once, at import: mutation testing reaches the factories only when a test
    makes one, as here."""
    import argparse

    devices = options._names("device", lambda: DEVICES)
    assert devices.__name__ == "device list" and devices(" cuda ,cpu,cuda") == ["cuda", "cpu"]
    for text, said in ((" ", "an empty list; give one or more of: cpu, cuda"),
                       ("cpu,", "an empty name in 'cpu,'; valid devices: cpu, cuda"),
                       ("gpu", "unknown device 'gpu'; valid devices: cpu, cuda")):
        with pytest.raises(argparse.ArgumentTypeError) as info:
            devices(text)
        assert str(info.value) == said
    mode = options._choice("dp-mode", ("processes", "devices"))
    assert mode.__name__ == "dp-mode" and mode(" processes ") == "processes"
    with pytest.raises(argparse.ArgumentTypeError) as info:
        mode("threads")
    assert str(info.value) == "unknown dp-mode 'threads'; valid: processes, devices"
    with pytest.raises(argparse.ArgumentTypeError, match=r"^unknown framework 'mxnet'; valid frameworks: pytorch, "):
        options.framework_name("mxnet")
    assert options._scopes("bench", "gate") == frozenset({"bench", "gate"})
    assert options.BY_DEST["master_addr"].parse("NODE-X.example") == "NODE-X.example"


def test_an_option_without_a_metavar_reaches_pytest_without_one(monkeypatch):
    extra = options.Option("--extra", "h", options.positive_int, scopes=options._scopes(options.PYTEST))
    flag = options.Option("--on", "h", default=True, scopes=options._scopes(options.PYTEST))
    assert flag.kwargs()["default"] is True
    monkeypatch.setattr(options, "OPTIONS", (extra, flag))
    added = {}

    class Parser:
        def getgroup(self, name):
            return self

        def addoption(self, flag, **kwargs):
            added[flag] = kwargs

    options.add_to_pytest(Parser())
    assert added == {"--extra": {"dest": "extra", "type": options.positive_int, "default": None, "help": "h"},
                     "--on": {"dest": "on", "action": "store_true", "default": True, "help": "h"}}


def test_an_explicit_value_holding_an_equals_sign_still_names_its_option():
    assert options.explicit_dests(["--mnist-dir=/data/a=b"]) == {"mnist_dir"}
