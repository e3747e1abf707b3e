"""Progress you can watch (``frameworks/progress.py``): the time-left arithmetic, the plain lines written where
standard output is not a terminal, the live display drawn by ``rich.progress`` on one, following a child's
journal as it grows, and the long commands (bench, accuracy, export) reporting each finished item and, when
interrupted, what was kept and how to complete the run. The children are fakes: nothing here trains or times."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from frameworks import processes
from frameworks.adapters.base import ExportAttempt
from frameworks.cli import main
from frameworks.commands import accuracy as bench_accuracy
from frameworks.commands import bench as bench_run
from frameworks.commands import export as deployment
from frameworks.errors import EXIT_INTERRUPTED, EXIT_OK
from frameworks.processes import Interrupted
from frameworks.progress import (
    Budget,
    Estimate,
    JournalFollower,
    LiveTracker,
    PlainTracker,
    Tracker,
    hms,
    pytest_event,
    tracker,
)
from frameworks.results import SKIPPED, ExportRecord

from .helpers import bench_entry
from .test_exit_statuses import fake_trainer

ESCAPE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # control characters other than the newline
LINE = re.compile(r"\[\d+/\d+\] .+: \d+(/\d+)? .+ \S+; \d+:\d\d:\d\d elapsed, "
                  r"(about \d+:\d\d:\d\d left|time left not known yet)")  # a plain progress line


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the arithmetic ------------------------------------------------------------------------------------------
def test_hms():
    assert [hms(s) for s in (0, 59.4, 61, 3600, 3 * 3600 + 62.6, -5)] == [
        "0:00:00", "0:00:59", "0:01:01", "1:00:00", "3:01:03", "0:00:00"]


def test_units_not_run_are_expected_to_take_what_their_kind_took():
    """After one process of each of two kinds (10 s and 40 s), the running one of the first kind, 4 s in: 6 s
    more, then two of the second kind, 40 s each. (The mean of every finished process would say 21 + 25 + 25; the
    running one's pace, 1 of 4 items in 4 s, 12 + 16 + 16.)"""
    estimate = Estimate(["a", "b", "a", "b", "b"])
    estimate.finished(0, 10.0)
    estimate.finished(1, 40.0)
    assert estimate.unit_left(2, elapsed=4.0, done=1, total=4) == pytest.approx(6.0)
    assert estimate.left(2, elapsed=4.0, done=1, total=4) == pytest.approx(6 + 40 + 40)
    assert estimate.left() == pytest.approx(10 + 40 + 40), "between units: every unit not yet run"


def test_before_any_unit_finished_the_running_one_projects_its_pace_onto_the_rest():
    estimate = Estimate(["a", "b", "c", "d"])
    assert estimate.left(0, elapsed=10.0, done=0, total=5) is None, "no item finished: nothing to go by"
    assert estimate.unit_left(0, elapsed=10.0, done=2, total=5) == pytest.approx(15.0)  # 5 s an item, 3 left
    assert estimate.left(0, elapsed=10.0, done=2, total=5) == pytest.approx(15 + 3 * 25)
    assert estimate.left(0, elapsed=10.0, done=2, total=None) is None, "no total: no pace"


def test_a_kind_not_seen_yet_is_expected_to_take_the_mean_of_every_finished_unit():
    estimate = Estimate(["a", "b", "c", "c"])
    estimate.finished(0, 10.0)
    estimate.finished(1, 30.0)
    assert estimate.expected(2) == pytest.approx(20.0)
    assert estimate.unit_left(2, elapsed=5.0, done=0, total=4) == pytest.approx(15.0)
    assert estimate.unit_left(2, elapsed=5.0, done=1, total=4) == pytest.approx(15.0), "its own pace, 5 s an item"
    assert estimate.left(2, elapsed=5.0, done=0, total=4) == pytest.approx(15 + 20)


def test_a_unit_running_longer_than_its_kind_goes_by_its_pace_and_skipped_units_take_no_time():
    estimate = Estimate(["a", "a", "b"])
    estimate.finished(0, 10.0)
    assert estimate.unit_left(1, elapsed=15.0, done=3, total=4) == pytest.approx(5.0)
    assert estimate.unit_left(1, elapsed=15.0, done=0, total=4) == 0.0, "overdue, and no pace yet"
    estimate.skip(2)
    assert estimate.left(1, elapsed=15.0, done=3, total=4) == pytest.approx(5.0)
    assert estimate.expected(1) == 10.0, "a skipped unit says nothing about the others"



def test_with_a_budget_the_time_left_counts_only_the_rounds_its_rule_will_start():
    """Rounds of two 100 s processes under a 450 s budget: round 2 starts (200 + 200 <= 450), round 3 would not
    (400 + 200 > 450); without a budget all five rounds are ahead."""
    keys = ["a", "b"] * 5
    budgeted, unbounded = Estimate(keys, Budget(450.0, 2)), Estimate(keys)
    for estimate in (budgeted, unbounded):
        estimate.finished(0, 100.0)
        estimate.finished(1, 100.0)
    assert unbounded.left(run_elapsed=200.0) == pytest.approx(800.0)
    assert budgeted.left(run_elapsed=200.0) == pytest.approx(200.0), "round 2 only"
    # 50 s into round 2: its rest (50 + 100), and nothing after it
    assert budgeted.left(2, elapsed=50.0, done=1, total=2, run_elapsed=250.0) == pytest.approx(150.0)
    # a slow first round (300 s) under the same budget: nothing after it
    slow = Estimate(keys, Budget(450.0, 2))
    slow.finished(0, 150.0)
    slow.finished(1, 150.0)
    assert slow.left(run_elapsed=300.0) == 0.0
    # nothing finished yet: the first process's pace (50 s for 1 of 2 items) projects rounds of 200 s; a 1000 s
    # budget lets all five end (at 1000), 999 s stops before the fifth
    for seconds, left in ((1000.0, 950.0), (999.0, 750.0)):
        early = Estimate(keys, Budget(seconds, 2))
        assert early.left(0, elapsed=50.0, done=1, total=2, run_elapsed=50.0) == pytest.approx(left)


def test_the_budget_rule_judges_only_between_rounds_and_always_runs_the_first():
    budget = Budget(600.0, 3)
    assert budget.allows(0, 1e9), "the first round always runs"
    assert budget.allows(4, 1e9), "mid-round: never stopped there"
    assert budget.allows(3, 300.0), "one round of 300 s: the next ends at 600, within"
    assert not budget.allows(3, 301.0)
    assert budget.allows(6, 400.0) and not budget.allows(6, 400.1), "two rounds of 200: the third ends at 600"

def test_the_share_done_counts_the_running_units_items():
    clock = Clock()
    t = Tracker(["a", "b"], clock=clock)
    t.begin(0)
    assert t.fraction() == 0.0
    t.expect(4)
    t.item("x", "passed")
    assert t.fraction() == pytest.approx(0.125)
    clock.now = 8.0
    t.end()
    t.skip(1)
    assert t.fraction() == 1.0 and t.left() == (None, 0.0)


# --- following a journal -----------------------------------------------------------------------------------
def test_a_followed_journal_gives_each_event_once_and_waits_for_a_line_to_be_complete(tmp_path):
    path = tmp_path / "j.jsonl"
    follower = JournalFollower(path)
    assert follower.poll() == [], "not written yet"
    with open(path, "w") as f:
        f.write('{"n": 1}\n{"n": 2}\n{"n": 3, "pa')
    assert follower.poll() == [{"n": 1}, {"n": 2}]
    assert follower.poll() == [], "the last line is not complete yet"
    with open(path, "a") as f:
        f.write('rt": 1}\nnot json\n\n{"n": 4}\n')
    assert follower.poll() == [{"n": 3, "part": 1}, {"n": 4}], "completed, and a line that is not JSON passed over"
    assert follower.poll() == []


def test_a_journal_cut_back_by_a_failed_append_is_followed_from_the_cut(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"n": 1}\n{"n": 2, "lo')
    follower = JournalFollower(path)
    assert follower.poll() == [{"n": 1}]
    path.write_text('{"n": 1}\n')  # fileio.append_line truncates a failed line away
    assert follower.poll() == []
    with open(path, "a") as f:
        f.write('{"n": 2}\n')
    assert follower.poll() == [{"n": 2}]


def test_a_tracker_follows_a_growing_journal_while_the_child_runs(tmp_path):
    path = tmp_path / "j.jsonl"
    out = io.StringIO()
    t = PlainTracker(["p"], out=out)
    t.begin(0)

    def wait_for(condition):
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "the following thread did not pick the event up"
            time.sleep(0.01)

    def append(text):
        with open(path, "a") as f:
            f.write(text)

    with t.follow(path, interval=0.02):
        append(json.dumps({"event": "collected", "count": 2}) + "\n")
        wait_for(lambda: t.total == 2)
        append(json.dumps({"event": "start", "nodeid": "f.py::test_a[x-1]"}) + "\n")
        wait_for(lambda: t.now == "test_a[x-1]")
        append(json.dumps({"event": "test", "nodeid": "f.py::test_a[x-1]", "outcome": "passed"}) + "\n"
               + '{"event": "test", "nodeid": "f.py::test_b", "outc')
        wait_for(lambda: t.done == 1)
        time.sleep(0.1)
        assert t.done == 1, "a line still being written is not an event"
        append('ome": "skipped"}\n')
    assert t.done == 2, "the last read, when the child ended, misses nothing"
    assert [line.split(";")[0] for line in out.getvalue().splitlines()] == [
        "[1/1] p: 1/2 test_a[x-1] passed", "[1/1] p: 2/2 test_b skipped"]


def test_a_pytest_child_journals_its_count_and_each_test_as_it_starts(tmp_path):
    """The count is what runs, after deselection; each start comes before its outcome."""
    (tmp_path / "test_child.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n\n"
                                            "def test_c():\n    pass\n")
    journal = tmp_path / "j.jsonl"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--journal={journal}",
                           "-k", "not test_b", str(tmp_path)], cwd=tmp_path, env=processes.child_environment(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    events = JournalFollower(journal).poll()
    assert [(e["event"], e.get("count") or e["nodeid"].split("::")[-1]) for e in events] == [
        ("collected", 2), ("start", "test_a"), ("test", "test_a"), ("start", "test_c"), ("test", "test_c")]
    t = Tracker(["child"])
    t.begin(0)
    for event in events:
        pytest_event(t, event)
    assert (t.done, t.total) == (2, 2)


# --- what is shown -----------------------------------------------------------------------------------------
def test_plain_lines_one_per_finished_item_with_elapsed_and_time_left():
    clock, out = Clock(), io.StringIO()
    t = PlainTracker(["a/1", "b/1", "a/2"], keys=["a", "b", "a"], out=out, clock=clock)
    t.begin(0)
    pytest_event(t, {"event": "collected", "count": 2})
    pytest_event(t, {"event": "start", "nodeid": "x.py::test_step[a-cpu-lenet]"})
    clock.now = 10.0
    pytest_event(t, {"event": "test", "nodeid": "x.py::test_step[a-cpu-lenet]", "outcome": "passed"})
    pytest_event(t, {"event": "benchmark", "entry": {}})
    clock.now = 20.0
    pytest_event(t, {"event": "test", "nodeid": "x.py::test_epoch[a-cpu-lenet]", "outcome": "skipped"})
    t.end()
    t.begin(1)
    clock.now = 50.0
    t.item("test_step[b]", "failed")  # no count journaled: the line says only how many finished
    t.end()
    t.begin(2)
    assert out.getvalue().splitlines() == [
        "[1/3] a/1: 1/2 test_step[a-cpu-lenet] passed; 0:00:10 elapsed, about 0:00:50 left",  # 10 + 20 + 20
        "[1/3] a/1: 2/2 test_epoch[a-cpu-lenet] skipped; 0:00:20 elapsed, about 0:00:40 left",
        "[2/3] b/1: 1 test_step[b] failed; 0:00:50 elapsed, about 0:00:20 left",  # a/2 takes what a/1 took
    ]
    assert not ESCAPE.search(out.getvalue())


def test_where_stdout_is_not_a_terminal_the_lines_are_plain(capsys, monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    t = tracker(["only"])
    assert isinstance(t, PlainTracker)
    t.begin(0)
    t.expect(1)
    t.item("one", "passed")
    t.close()
    (line,) = capsys.readouterr().out.splitlines()
    assert LINE.fullmatch(line) and line.endswith("about 0:00:00 left")


def live(width: int = 120, clock: Clock | None = None, **kwargs) -> tuple[LiveTracker, Console]:
    console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    return LiveTracker(kwargs.pop("units", ["a/1", "b/1"]), console=console, clock=clock or Clock(), **kwargs), console


def test_on_a_terminal_rich_draws_the_run_and_the_running_process():
    clock = Clock()
    t, console = live(clock=clock, keys=["a", "b"])
    overall, unit = t.progress.tasks
    t.begin(0)
    unit = t.progress.tasks[1]
    assert unit.total is None and unit.visible, "the count is not known until the child journals it"
    pytest_event(t, {"event": "collected", "count": 4})
    pytest_event(t, {"event": "start", "nodeid": "x.py::test_step[a-eager-cpu-lenet-batch128-forward]"})
    clock.now = 6.0
    t.refresh()
    t.progress.refresh()  # draw now (rich also redraws on its own, ten times a second)
    assert (unit.completed, unit.total) == (0, 4) and (overall.completed, overall.total) == (0, 2)
    pytest_event(t, {"event": "test", "nodeid": "x.py::test_step[a-eager-cpu-lenet-batch128-forward]",
                     "outcome": "passed"})
    assert (unit.completed, unit.total) == (1, 4)
    assert overall.completed == pytest.approx(0.25), "1 of the running process's 4 items: a quarter of a process"
    t.progress.refresh()
    t.close()
    text = console.file.getvalue()
    assert "processes 0/2" in text and "about 0:00:42 left" in text  # 18 s more here, then 24 s for b/1
    assert "[1/2] a/1 0/4: test_step[a-eager-cpu-lenet-batch128-forward]" in text, "brackets are not markup"
    assert "[1/2] a/1 1/4" in text and "about 0:00:18 left" in text


def test_on_a_terminal_a_finished_process_moves_the_overall_bar_and_informs_the_next():
    clock = Clock()
    t, console = live(clock=clock, units=["a/1", "a/2"], keys=["a", "a"])
    t.begin(0)
    t.expect(2)
    clock.now = 30.0
    t.item("x", "passed")
    t.item("y", "passed")
    t.end()
    t.begin(1)
    clock.now = 40.0
    t.refresh()
    overall, unit = t.progress.tasks
    assert overall.completed == 1 and unit.completed == 0 and unit.total is None
    assert overall.fields["left"] == "about 0:00:20 left" and unit.fields["left"] == "about 0:00:20 left"
    t.close()
    assert "processes 1/2" in console.file.getvalue()


# --- the children's output --------------------------------------------------------------------------------
def test_a_childs_output_is_relayed_through_ours_only_where_asked(capfd):
    cmd = [sys.executable, "-c", "import sys; print('one'); print('two', file=sys.stderr)"]
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = relayed = io.StringIO(), io.StringIO()
    try:
        assert processes.run_child(cmd) == 0
        with processes.relayed_output():
            assert processes.run_child(cmd) == 0
    finally:
        sys.stdout, sys.stderr = real
    assert (relayed[0].getvalue(), relayed[1].getvalue()) == ("one\n", "two\n"), "relayed: each to its own"
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("one\n", "two\n"), "not relayed: the child wrote to the terminal itself"


# --- the commands ------------------------------------------------------------------------------------------
def journaling_child(interrupt_on: int | None = None):
    """A benchmark process that journals its count, two tests and one benchmark result (``interrupt_on``: the
    call that is interrupted instead)."""
    calls = []

    def run_pytest(group, args, cwd=None, env=None):
        calls.append(group.label)
        if len(calls) == interrupt_on:
            raise Interrupted(-2)
        value = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if "=" in a}
        entry = bench_entry(group.frameworks[0], "mlp_bn", "forward", 0.001)
        with open(value["--journal"], "a") as f:
            for event in [{"event": "collected", "count": 2},
                          {"event": "start", "nodeid": "t.py::test_step[forward]"},
                          {"event": "test", "nodeid": "t.py::test_step[forward]", "outcome": "passed"},
                          {"event": "benchmark", "entry": entry},
                          {"event": "start", "nodeid": "t.py::test_epoch[staged]"},
                          {"event": "test", "nodeid": "t.py::test_epoch[staged]", "outcome": "skipped"}]:
                f.write(json.dumps(event) + "\n")
        Path(value["--benchmark-json"]).write_text(json.dumps({"benchmarks": [entry], "machine_info": {}}))
        return 0

    return run_pytest


def test_bench_writes_one_plain_line_per_finished_benchmark(tmp_path, capsys, monkeypatch, mnist):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "run_pytest", journaling_child())
    code = main(["bench", "--frameworks", "pytorch", "--networks", "mlp_bn", "--repeats", "2"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    lines = [line for line in out.splitlines() if LINE.fullmatch(line)]
    assert [line.split(";")[0] for line in lines] == [
        "[1/2] pytorch/1: 1/2 test_step[forward] passed", "[1/2] pytorch/1: 2/2 test_epoch[staged] skipped",
        "[2/2] pytorch/2: 1/2 test_step[forward] passed", "[2/2] pytorch/2: 2/2 test_epoch[staged] skipped"]
    assert lines[-1].endswith("about 0:00:00 left")
    assert not ESCAPE.search(out)


def test_bench_interrupted_says_what_it_kept_and_how_to_complete_the_run(tmp_path, capsys, monkeypatch, mnist):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "run_pytest", journaling_child(interrupt_on=2))
    code = main(["bench", "--frameworks", "pytorch", "--networks", "mlp_bn", "--repeats", "2", "--quick"])
    out = capsys.readouterr().out
    assert code == EXIT_INTERRUPTED
    (merged,) = tmp_path.glob("bench-results/bench-*/results.json")
    assert len(json.loads(merged.read_text())["benchmarks"]) == 1
    assert (f"kept: 1 benchmark results from the 2 of 2 processes that ran (the last one cut short), in {merged}"
            in out)
    assert ("run `python -m frameworks bench --frameworks pytorch --networks mlp_bn --repeats 2 --quick` again, "
            f"which starts a new run directory in {tmp_path / 'bench-results'}, or with --repeats 1 instead (the most "
            "processes a framework still lacks)") in out
    assert f"`python -m frameworks report {merged} <the new run directory>/results.json`" in out


def test_accuracy_writes_one_plain_line_per_training_and_says_what_an_interrupt_kept(tmp_path, capsys, monkeypatch,
                                                                                    mnist):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_accuracy, "run_child", fake_trainer("ok"))
    args = ["accuracy", "--frameworks", "pytorch", "--networks", "mlp_bn,lenet", "--seeds", "2", "--epochs", "1"]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert [line.split(";")[0] for line in out.splitlines() if LINE.fullmatch(line)] == [
        f"[1/1] pytorch on cpu: {i}/4 {name} 90.00%"
        for i, name in enumerate(["mlp_bn seed 0", "mlp_bn seed 1", "lenet seed 0", "lenet seed 1"], 1)]

    monkeypatch.setattr(bench_accuracy, "run_child", fake_trainer("interrupt"))
    assert main(args) == EXIT_INTERRUPTED
    out = capsys.readouterr().out
    (written,) = [p for p in tmp_path.glob("accuracy-results/accuracy-*/accuracy.json")
                  if json.loads(p.read_text())["interrupted"]]
    assert (f"interrupted: kept the 0 trainings that finished, in {written}, reported above. A run is not resumed "
            f"in place: run `python -m frameworks {' '.join(args)}` again for a complete set") in out


def fake_export(monkeypatch, interrupt_on: int | None = None) -> list:
    """Two formats per framework, each "skipped" at once (``interrupt_on``: the check that is interrupted)."""
    checks = []

    def export_anywhere(job):
        return [{"network": n, "version": "0", "outputs": None,
                 "attempts": [ExportAttempt("onnx", reason="test", skipped=True),
                              ExportAttempt("native", reason="test", skipped=True)]} for n in job.networks]

    def serve_and_check(attempt, framework, network, *args, **kwargs):
        checks.append(attempt.format)
        if len(checks) == interrupt_on:
            raise KeyboardInterrupt
        return ExportRecord(framework, network, attempt.format, SKIPPED, reason="test"), None

    monkeypatch.setattr(deployment, "export_anywhere", export_anywhere)
    monkeypatch.setattr(deployment, "_serve_and_check", serve_and_check)
    return checks


def test_export_writes_one_plain_line_per_artifact_and_says_what_an_interrupt_kept(tmp_path, capsys, monkeypatch,
                                                                                 mnist):
    fake_export(monkeypatch)
    plan = deployment.ExportPlan(["pytorch", "caffe"], ["lenet"], tmp_path, {"lenet": None})
    code, _ = deployment.run_export(plan, argv=["python -m frameworks", "export"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert [line.split(";")[0] for line in out.splitlines() if LINE.fullmatch(line)] == [
        "[1/2] pytorch: 1/2 lenet onnx skipped", "[1/2] pytorch: 2/2 lenet native skipped",
        "[2/2] caffe: 1/2 lenet onnx skipped", "[2/2] caffe: 2/2 lenet native skipped"]

    fake_export(monkeypatch, interrupt_on=3)
    with pytest.raises(KeyboardInterrupt):
        deployment.run_export(plan, argv=["python -m frameworks", "export", "--networks", "lenet"])
    captured = capsys.readouterr()
    assert len([line for line in captured.out.splitlines() if LINE.fullmatch(line)]) == 2
    (root,) = [p for p in tmp_path.glob("export-*") if not (p / "export-summary.json").exists()]
    assert (f"export: interrupted: the artifacts written so far are in {root}, but no summary or report (they are "
            "written at the end); run `python -m frameworks export --networks lenet` again") in captured.err
