"""Progress you can watch while a command runs its units of work (child processes) one after another.

A ``Tracker`` knows the plan (every unit, in run order), which unit runs now, how many items (benchmarks,
trainings, artifacts) it has and has finished, and which item runs now. It learns this from the command's loop
(``begin``/``end``) and from the unit's journal, which a thread follows while the child runs (``follow``). The
time left is estimated from the plan and the durations measured in this run (``Estimate``).

On a terminal it draws a live display with ``rich.progress`` (the whole run, and the unit running now: what runs,
how far, elapsed, time left); otherwise (a CI log, a pipe) it writes one plain line per finished item, with the
time elapsed and the time left, and no control characters.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

POLL_S = 0.5  # how often a followed journal is read (and the display's times updated)


def hms(seconds: float) -> str:
    """``seconds`` as H:MM:SS (rounded to the second)."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def left_text(seconds: float | None) -> str:
    """The time left in words: an estimate, or that there is none yet."""
    return "time left not known yet" if seconds is None else f"about {hms(seconds)} left"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


@dataclass(frozen=True)
class Budget:
    """``--budget``: a run of rounds (``round_size`` units, one of each kind) starts no round that would end past
    ``seconds``, the next round expected to take the mean of the rounds run; judged only between rounds (so every
    kind runs as often as every other), and the first round always runs. The command stops by this rule and the
    estimate of the time left foresees it, so the two cannot disagree."""

    seconds: float
    round_size: int

    def allows(self, finished: int, elapsed: float) -> bool:
        """Whether the unit after ``finished`` units (run in ``elapsed`` seconds) may start."""
        if finished == 0 or finished % self.round_size:
            return True
        return elapsed + elapsed / (finished // self.round_size) <= self.seconds


class Estimate:
    """The time a planned sequence of units has left, from the durations of the units finished in this run.

    ``keys`` names each unit's kind in run order (units of one kind, e.g. repeats of one framework's process, are
    expected to take alike). A unit not yet run is expected to take the mean duration of the finished units of
    its kind, else of every finished unit, else (nothing finished yet) what the running unit projects from its
    own pace. The running unit's rest is the mean of its kind less the time it has run; when none of its kind
    has finished, or it has already run longer, its own pace (time per finished item times the items left);
    before its first item finishes, the mean of every finished unit less the time it has run (0 if overdue).
    With a ``budget`` the units its rule will not start take no time: the rule is applied to the projected times."""

    def __init__(self, keys: Sequence[str], budget: Budget | None = None) -> None:
        self.keys = list(keys)
        self.budget = budget
        self.durations: dict[int, float] = {}
        self.skipped: set[int] = set()

    def finished(self, index: int, seconds: float) -> None:
        """Unit ``index`` ran to its end in ``seconds``."""
        self.durations[index] = seconds

    def skip(self, index: int) -> None:
        """Unit ``index`` will not run (it takes no time, and says nothing about the others)."""
        self.skipped.add(index)

    def expected(self, index: int) -> float | None:
        """Unit ``index``'s expected duration from the finished units (None: none has finished)."""
        same = [d for i, d in self.durations.items() if self.keys[i] == self.keys[index]]
        if same:
            return _mean(same)
        return _mean(list(self.durations.values())) if self.durations else None

    def unit_left(self, index: int, elapsed: float, done: int, total: int | None) -> float | None:
        """The running unit's rest after ``elapsed`` seconds and ``done`` of ``total`` items (None: unknown)."""
        pace = elapsed * (total - done) / done if done and total is not None else None
        same = [d for i, d in self.durations.items() if self.keys[i] == self.keys[index]]
        if same and _mean(same) > elapsed:
            return _mean(same) - elapsed
        if pace is not None:
            return pace
        if same:  # ran longer than its kind, and its pace is not known yet
            return 0.0
        expected = self.expected(index)
        return None if expected is None else max(expected - elapsed, 0.0)

    def left(self, current: int | None = None, elapsed: float = 0.0, done: int = 0,
             total: int | None = None, run_elapsed: float = 0.0) -> float | None:
        """Seconds left for the whole plan: the running unit's rest (``current``, after ``elapsed`` seconds and
        ``done`` of ``total`` items) plus every unit not yet run that the budget lets start, the run having taken
        ``run_elapsed`` seconds so far (None: not known yet)."""
        rest = 0.0
        projected = None  # the running unit's whole duration at its pace: the guess when nothing has finished
        if current is not None:
            unit = self.unit_left(current, elapsed, done, total)
            if unit is None:
                return None
            rest = unit
            if done and total is not None:
                projected = elapsed * total / done
        for i in range(len(self.keys)):
            if i == current or i in self.durations or i in self.skipped:
                continue
            if self.budget is not None and not self.budget.allows(i, run_elapsed + rest):
                break  # the rule stops the run before unit i: nothing after it runs
            expected = self.expected(i)
            if expected is None:
                expected = projected
            if expected is None:
                return None
            rest += expected
        return rest


class JournalFollower:
    """Reads the events appended to a JSON-lines journal since the last read. A last line still being written
    (no newline yet) is kept for the next read; a complete line that is not JSON is passed over."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.offset = 0  # bytes read so far
        self.partial = b""  # the unfinished last line among them

    def poll(self) -> list[Any]:
        """The events completed since the last call (none while the file does not exist)."""
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self.offset:  # a failed append was cut back: it cut at most the unfinished line
                    self.offset -= len(self.partial)
                    self.partial = b""
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        events = []
        for line in lines:
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError:  # not JSON (torn by a killed writer): the readers of the results say so
                continue
        return events


Interpret = Callable[["Tracker", Any], None]


def pytest_event(tracker: Tracker, event: Any) -> None:
    """What one event of a pytest process's journal (``--journal``) says about its progress."""
    if not isinstance(event, dict):
        return
    kind = event.get("event")
    name = str(event.get("nodeid", "")).rsplit("::", 1)[-1]
    if kind == "collected" and isinstance(event.get("count"), int):
        tracker.expect(event["count"])
    elif kind == "start":
        tracker.running(name)
    elif kind == "test":
        tracker.item(name, str(event.get("outcome", "")))


class Tracker:
    """A run's progress: the plan's units, the running one, its items, and the time left. Safe to update from
    a following thread while the command's loop waits on a child. This base class shows nothing."""

    def __init__(self, units: Sequence[str], *, keys: Sequence[str] | None = None, noun: str = "processes",
                 clock: Callable[[], float] = time.monotonic, budget: Budget | None = None) -> None:
        self.units = list(units)
        self.estimate = Estimate(list(keys) if keys is not None else self.units, budget)
        self.noun = noun  # what the units are, in the plural
        self.clock = clock
        self.started = clock()
        self.current: int | None = None
        self.title = ""
        self.unit_started = self.started
        self.done = 0
        self.total: int | None = None
        self.names: list[str] | None = None
        self.now = ""
        self.finished_units = 0
        self._lock = threading.RLock()

    # --- what the command says --------------------------------------------------------------------------------
    def begin(self, index: int, title: str | None = None) -> None:
        """Unit ``index`` starts now (``title``: how to name it, by default its name in the plan)."""
        with self._lock:
            self.current, self.title = index, title or self.units[index]
            self.unit_started, self.done, self.total, self.names, self.now = self.clock(), 0, None, None, ""
            self._begun()

    def expect(self, total: int, names: Sequence[str] | None = None) -> None:
        """The running unit has ``total`` items (``names``: in the order they run, when known beforehand)."""
        with self._lock:
            self.total, self.names = total, list(names) if names is not None else None
            if self.names and self.done < len(self.names):
                self.now = self.names[self.done]
            self._changed()

    def running(self, name: str) -> None:
        """The running unit's item ``name`` starts."""
        with self._lock:
            self.now = name
            self._changed()

    def item(self, name: str, outcome: str) -> None:
        """The running unit finished its item ``name`` with ``outcome`` (passed, skipped, 98.9%...)."""
        with self._lock:
            self.done += 1
            self.now = self.names[self.done] if self.names and self.done < len(self.names) else ""
            self._finished_item(name, outcome)
            self._changed()

    def end(self) -> None:
        """The running unit ran to its end: its duration now informs the estimate."""
        with self._lock:
            if self.current is None:
                return
            self.estimate.finished(self.current, self.clock() - self.unit_started)
            self.current, self.finished_units = None, self.finished_units + 1
            self._changed()

    def skip(self, index: int) -> None:
        """Unit ``index`` will not run."""
        with self._lock:
            self.estimate.skip(index)
            self.finished_units += 1
            self._changed()

    def close(self) -> None:
        """Stop showing progress (the command's own messages follow)."""

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what it shows ----------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.clock() - self.started

    def unit_elapsed(self) -> float:
        return self.clock() - self.unit_started if self.current is not None else 0.0

    def left(self) -> tuple[float | None, float | None]:
        """(the running unit's time left, the whole run's), None where not known yet."""
        with self._lock:
            if self.current is None:
                return None, self.estimate.left(run_elapsed=self.elapsed())
            elapsed = self.unit_elapsed()
            return (self.estimate.unit_left(self.current, elapsed, self.done, self.total),
                    self.estimate.left(self.current, elapsed, self.done, self.total, self.elapsed()))

    def fraction(self) -> float:
        """The share of the plan done: finished units, and the running one's share of its items."""
        with self._lock:
            share = self.done / self.total if self.current is not None and self.total else 0.0
            return (self.finished_units + min(share, 1.0)) / max(len(self.units), 1)

    def refresh(self) -> None:
        """Bring the shown times up to date (the following thread calls it every ``POLL_S``)."""
        with self._lock:
            self._changed()

    def _begun(self) -> None:
        self._changed()

    def _finished_item(self, name: str, outcome: str) -> None:
        pass

    def _changed(self) -> None:
        pass

    # --- following a child ------------------------------------------------------------------------------------
    @contextmanager
    def follow(self, journal: str | os.PathLike, interpret: Interpret = pytest_event,
               interval: float = POLL_S) -> Iterator[JournalFollower]:
        """While the block runs (a child writing ``journal``), read its new events every ``interval`` seconds and
        pass each to ``interpret``; a last read when the block ends misses none. Progress never stops the run:
        an event that cannot be understood is passed over."""
        follower = JournalFollower(journal)
        stop = threading.Event()

        def read() -> None:
            for event in follower.poll():
                try:
                    interpret(self, event)
                except Exception:  # a malformed event: the results' readers report it, progress passes over it
                    continue
            self.refresh()

        def loop() -> None:
            while not stop.wait(interval):
                read()

        thread = threading.Thread(target=loop, name="progress", daemon=True)
        thread.start()
        try:
            yield follower
        finally:
            stop.set()
            thread.join()
            read()


class PlainTracker(Tracker):
    """Progress as plain lines, one per finished item (for logs and pipes)."""

    def __init__(self, units: Sequence[str], *, out: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.out = out

    def line(self, name: str, outcome: str) -> str:
        """``[3/30] title: 12/39 name outcome; 0:04:12 elapsed, about 0:41:30 left``"""
        _, left = self.left()
        index = (self.current or 0) + 1
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        return (f"[{index}/{len(self.units)}] {self.title}: {count} {name} {outcome}; {hms(self.elapsed())} "
                f"elapsed, {left_text(left)}")

    def _finished_item(self, name: str, outcome: str) -> None:
        out = self.out or sys.stdout
        print(self.line(name, outcome), file=out, flush=True)


class LiveTracker(Tracker):
    """Progress drawn live on a terminal with ``rich.progress``: the whole run, and the unit running now."""

    def __init__(self, units: Sequence[str], *, console: Any = None, **kwargs: Any) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        super().__init__(units, **kwargs)
        self.progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), TaskProgressColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[left]}", markup=False),
                                 console=console, get_time=self.clock)
        self.overall = self.progress.add_task("", total=len(self.units), left="")
        self.unit = self.progress.add_task("", total=None, left="", visible=False)
        self._changed()
        self.progress.start()

    def _begun(self) -> None:  # a fresh task: its elapsed time starts now, its total is unknown yet
        self.progress.remove_task(self.unit)
        self.unit = self.progress.add_task("", total=None, left="")
        self._changed()

    def _changed(self) -> None:
        unit_left, left = self.left()
        finished = self.finished_units
        self.progress.update(self.overall, completed=self.fraction() * len(self.units), left=left_text(left),
                             description=f"{self.noun} {finished}/{len(self.units)}")
        if self.current is not None:
            count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
            now = self.now if len(self.now) <= 60 else self.now[:59] + "…"
            self.progress.update(self.unit, total=self.total, completed=self.done, left=left_text(unit_left),
                                 description=f"[{self.current + 1}/{len(self.units)}] {self.title} {count}"
                                             + (f": {now}" if now else ""))

    def close(self) -> None:
        self.progress.stop()


def stdout_is_terminal() -> bool:
    """Whether the live display fits: standard output is an interactive terminal that can redraw."""
    try:
        interactive = sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
    return interactive and os.environ.get("TERM", "") not in ("dumb", "unknown")


def tracker(units: Sequence[str], *, keys: Sequence[str] | None = None, noun: str = "processes",
            console: Any = None, budget: Budget | None = None) -> Tracker:
    """A live display on a terminal (or on ``console``, a ``rich.console.Console``), else plain lines; nothing
    for an empty plan. ``budget``: the rule that may stop the run early, which the time left takes into account."""
    if not units:
        return Tracker(units, keys=keys, noun=noun, budget=budget)
    if console is not None or stdout_is_terminal():
        return LiveTracker(units, keys=keys, noun=noun, console=console, budget=budget)
    return PlainTracker(units, keys=keys, noun=noun, budget=budget)
