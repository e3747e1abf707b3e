"""Append-only journals: a failed append leaves no half line behind, and readers keep every complete entry and
report a torn one (a process killed while writing it) instead of dropping it silently."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from frameworks.bench import run as bench_run
from frameworks.cli import main
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
