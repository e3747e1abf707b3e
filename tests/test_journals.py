"""Append-only journals: a failed append leaves no half line behind, and readers keep every complete entry and
report a torn one (a process killed while writing it) instead of dropping it silently."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from frameworks.cli import main
from frameworks.commands import bench as bench_run
from frameworks.errors import EXIT_FAILED, OutputError
from frameworks.fileio import append_line, read_journal

from .helpers import bench_entry


def test_a_full_disk_leaves_no_half_line(tmp_path, monkeypatch):
    journal = tmp_path / "j.jsonl"
    append_line(journal, '{"n": 1}')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=f"could not append to {journal}: No space left"):
        append_line(journal, '{"n": 2, "long": "' + "x" * 10_000 + '"}')
    assert journal.read_text() == '{"n": 1}\n'


def test_a_torn_last_line_is_reported_and_the_rest_kept(tmp_path):
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"n": 1}\n{"n": 2}\n{"n": 3, "par')
    values, torn = read_journal(journal)
    assert values == [{"n": 1}, {"n": 2}]
    assert torn == [f"{journal}: line 3 is not a complete entry (the last: the process ended while writing it); "
                    "left out, the other entries were kept"]
    assert read_journal(tmp_path / "absent.jsonl") == ([], [])


def test_bench_keeps_a_crashed_process_journal_and_says_what_was_torn(tmp_path, capsys, monkeypatch, mnist):
    """A process killed mid-line: its finished benchmark is kept, the torn line named, the run a failure."""
    monkeypatch.chdir(tmp_path)

    def killed(group, args, cwd=None, env=None):
        journal = Path(next(a for a in args if a.startswith("--journal=")).split("=", 1)[1])
        entry = bench_entry(group.frameworks[0], "mlp_bn", "forward", 0.001)
        journal.write_text(json.dumps({"event": "benchmark", "entry": entry}) + '\n{"event": "benchmark", "ent')
        return -9

    monkeypatch.setattr(bench_run, "run_pytest", killed)
    assert main(["bench", "--frameworks", "pytorch", "--networks", "mlp_bn"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "crashed (SIGKILL; 1 results kept)" in out
    assert "line 2 is not a complete entry (the last: the process ended while writing it)" in out
    (merged,) = tmp_path.glob("bench-results/bench-*/results.json")
    assert len(json.loads(merged.read_text())["benchmarks"]) == 1


CHILD = '''
import errno, os
import pytest

@pytest.fixture(autouse=True)
def disk_fills_after_the_first_test(request):
    yield
    if request.node.name == "test_a":
        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        os.fsync = full

def test_a():
    pass

def test_b():
    pass

def test_c():
    pass
'''


def test_a_child_whose_journal_fills_the_disk_stops_with_one_message(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "test_child.py").write_text(CHILD)
    journal = tmp_path / "j.jsonl"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--journal={journal}",
                           str(tmp_path)], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=300)
    text = done.stdout + done.stderr
    assert done.returncode == 3 and text.count("the journal cannot be written") == 1, text[-3000:]
    assert "INTERNALERROR" not in text and "Traceback" not in text
    values, torn = read_journal(journal)
    finished = [v["nodeid"].split("::")[-1] for v in values if v.get("event") == "test"]
    assert finished == ["test_a"] and not torn, "test_a kept, no half line"


def test_a_journal_path_that_cannot_be_written_is_refused_before_anything_runs(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "test_child.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "a-file").write_text("")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--journal={tmp_path / 'a-file' / 'j.jsonl'}", str(tmp_path)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4 and f"--journal {tmp_path / 'a-file' / 'j.jsonl'}: " in done.stderr
    assert "1 passed" not in done.stdout
