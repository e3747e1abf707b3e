"""pytest-benchmark's own options under the suite's plugin do what pytest-benchmark documents, or are refused
with a message before anything runs: each is run in a pytest process of its own, on a one-line benchmark, from
a directory other than the one the output goes to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from frameworks.bench.plugin import benchmark_json_path

ROOT = Path(__file__).resolve().parent.parent
TINY = "def test_tiny(benchmark):\n    benchmark(sum, range(10))\n"


@pytest.fixture
def project(tmp_path):
    """A directory holding one tiny benchmark, and another the commands run in."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "test_tiny.py").write_text(TINY)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's plugin, whatever is installed
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--benchmark-only",
                           "--benchmark-max-time=0.01", "--benchmark-min-rounds=2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def suite_json(path: Path) -> dict:
    doc = json.loads(path.read_text())
    assert doc["schema"] == "mnist-framework-bench" and doc["benchmarks"][0]["name"] == "test_tiny"
    return doc


@pytest.mark.parametrize("where", ["absolute", "relative"])
def test_benchmark_json_is_written_where_it_was_asked_for(project, where):
    target = project / "out" / "deeper" / "bench.json"  # missing parents are created
    given = str(target) if where == "absolute" else os.path.relpath(target, project / "elsewhere")
    done = pytest_run(project / "elsewhere", str(project / "proj"), f"--benchmark-json={given}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    suite_json(target)
    assert not (project / "elsewhere" / "bench.json").exists(), "not its base name in the current directory"
    assert f"Wrote benchmark data in: {given}" in done.stdout + done.stderr


def test_benchmark_json_with_a_file_in_the_way_is_refused_before_running(project):
    (project / "file").write_text("x")
    done = pytest_run(project / "elsewhere", str(project / "proj"), f"--benchmark-json={project / 'file' / 'b.json'}")
    assert done.returncode == 4 and "Traceback" not in done.stdout + done.stderr
    assert f"--benchmark-json {project / 'file' / 'b.json'}: {project / 'file'} is a file" in done.stderr
    assert "test_tiny" not in done.stdout, "refused before anything ran"


FULL_AT_THE_END = """
import errno, os
import pytest

@pytest.fixture(scope="session", autouse=True)
def disk_fills_when_the_benchmarks_are_done():
    yield
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    os.fsync = full
"""


def test_benchmark_json_that_cannot_be_written_at_the_end_is_said_once_and_fails(project):
    (project / "proj" / "conftest.py").write_text(FULL_AT_THE_END)
    target = project / "b.json"
    done = pytest_run(project / "elsewhere", str(project / "proj"), f"--benchmark-json={target}")
    text = done.stdout + done.stderr
    assert done.returncode == 3 and text.count("the benchmark results were not saved") == 1, text[-3000:]
    assert f"could not write {target}: No space left on device" in text
    assert "INTERNALERROR" not in text and "Traceback" not in text
    assert not target.exists()
    assert not [p for p in project.rglob("*") if ".tmp" in p.name], "no partial file"


def test_benchmark_json_on_pytest_benchmark_4_which_passes_an_open_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with open("sub/b.json", "wb") as opened:  # what pytest-benchmark 4's argparse.FileType("wb") hands over
        path = benchmark_json_path(opened)
        assert opened.closed, "closed, so that the atomic writer's rename is the only writer"
    assert path == tmp_path / "sub" / "b.json"
    assert benchmark_json_path(Path("sub/b.json")) == Path("sub/b.json"), "5's path is kept whole"


@pytest.mark.parametrize("where", ["absolute", "relative"])
def test_save_and_storage_write_their_own_files_beside_the_json(project, where):
    storage = project / "storage"
    target = project / "b.json"
    given = str(storage) if where == "absolute" else os.path.relpath(storage, project / "elsewhere")
    done = pytest_run(project / "elsewhere", str(project / "proj"), "--benchmark-autosave",
                      f"--benchmark-storage=file://{given}", f"--benchmark-json={target}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (saved,) = storage.rglob("*.json")
    assert json.loads(saved.read_text())["schema"] == "mnist-framework-bench"
    suite_json(target)
    compared = pytest_run(project / "elsewhere", str(project / "proj"), f"--benchmark-storage=file://{given}",
                          "--benchmark-compare", "--benchmark-compare-fail=mean:1000%")
    assert compared.returncode == 0 and "0001" in compared.stdout, compared.stdout[-3000:]


def test_histogram_without_its_plotting_packages_is_a_message_not_a_traceback(project):
    try:
        import pygal  # noqa: F401
        import pygaljs  # noqa: F401
        pytest.skip("pygal is installed here")
    except ImportError:
        pass
    done = pytest_run(project / "elsewhere", str(project / "proj"), f"--benchmark-histogram={project / 'h'}")
    assert done.returncode == 4 and "Traceback" not in done.stdout + done.stderr
    assert "--benchmark-histogram needs pytest-benchmark's optional plotting packages" in done.stderr
    assert "pytest-benchmark[histogram]" in done.stderr


def test_bench_refuses_the_histogram_without_its_packages_once_before_any_process(tmp_path, capsys, monkeypatch):
    from frameworks.bench.plugin import histogram_unavailable
    from frameworks.cli import main

    if histogram_unavailable() is None:
        pytest.skip("pygal is installed here")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--frameworks", "pytorch", "--benchmark-histogram"]) == 2
    assert capsys.readouterr().err.count("pytest-benchmark[histogram]") == 1
    assert not (tmp_path / "bench-results").exists()


@pytest.mark.parametrize("option, shown", [
    ("--benchmark-columns=min,max", "Max"), ("--benchmark-sort=name", "test_tiny"),
    ("--benchmark-group-by=name", "test_tiny"), ("--benchmark-enable", "test_tiny"),
])
def test_table_options_pass_through(project, option, shown):
    done = pytest_run(project / "elsewhere", str(project / "proj"), option)
    assert done.returncode == 0 and shown in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]


def test_disable_and_skip(project):
    (project / "proj" / "test_plain.py").write_text("def test_plain():\n    pass\n")
    skipped = pytest_run(project / "elsewhere", str(project / "proj"), "--benchmark-skip")
    assert "1 passed" in skipped.stdout and "1 skipped" in skipped.stdout, skipped.stdout[-2000:]
    disabled = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--benchmark-disable",
                               str(project / "proj")], cwd=project / "elsewhere", capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert disabled.returncode == 0 and "2 passed" in disabled.stdout, disabled.stdout[-2000:]
