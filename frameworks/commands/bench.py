"""``python -m frameworks bench``: every framework (and each Keras backend) benchmarked in processes of its
own, repeated and interleaved, their results merged into one run document, and the report written.

Why processes: a framework's figures then cannot depend on which frameworks ran before it, a crashing
framework is reported as failed while the others' results are kept, and repeats in fresh processes expose
the variation between processes that rounds within one process cannot. Repeats are interleaved (round
robin, the order rotated and reversed between rounds, as asv varies it) so that the machine's slow drift is
spread over every framework. Each process appends every finished benchmark to a journal as it goes, so an
interrupted or crashed process loses nothing it had finished.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .. import options as opts
from ..bench import noise
from ..bench.selection import unsupported_variants
from ..errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_USAGE,
    DataError,
    NamedUnavailable,
    NothingToMeasure,
    OutputError,
    UsageError,
)
from ..fileio import check_output, check_writable, write_json
from ..options import Settings
from ..processes import Interrupted, ProcessGroup, interrupts_held, one_each, relayed_output, run_pytest
from ..progress import Budget, tracker
from ..registry import FRAMEWORKS, Status, availability, gpu_present, installed_here
from ..results import ProcessRecord, compact, document

BENCHMARKS = Path(__file__).resolve().parent.parent / "bench" / "test_benchmarks.py"
#: pytest options that would fight the run's own bookkeeping
REFUSED_PYTEST_ARGS = {
    "--benchmark-json": "bench writes results.json (and one JSON per process) into --output-dir",
    "--benchmark-save": "bench writes results.json into --output-dir",
    "--benchmark-autosave": "bench writes results.json into --output-dir",
    "--benchmark-disable": "bench exists to time the benchmarks; use python -m frameworks test to run them once",
    "--benchmark-skip": "bench runs only benchmarks",
    "--settings-file": "bench writes the settings file itself",
    "--journal": "bench gives each process its own journal",
    "--frameworks": "give --frameworks to bench itself",
}


@dataclass
class Plan:
    """A checked benchmark run: what runs, what was left out and why, and where results go."""

    settings: Settings
    groups: list[ProcessGroup]
    repeats: int
    output_dir: Path
    pytest_args: list[str]
    left_out: dict[str, str] = field(default_factory=dict)  # framework -> why it cannot run here
    asked_by_name: bool = False  # the user named the frameworks (then one left out is a failure)
    store: Path | None = None  # a results store the merged run is copied into
    budget_s: float | None = None  # no round of processes starts that would end after this (--budget)

    @property
    def budget(self) -> Budget | None:
        """``--budget``'s rule for this plan: a round is one process of every group."""
        return None if self.budget_s is None else Budget(self.budget_s, len(self.groups))


def check_pytest_args(args: Sequence[str]) -> list[str]:
    """The pytest arguments passed through, refusing those that would break the run's bookkeeping."""
    from ..bench.plugin import histogram_unavailable

    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag == "--benchmark-histogram" and (missing := histogram_unavailable()):
            raise UsageError(missing)  # once, here, not once per process
        for refused, why in REFUSED_PYTEST_ARGS.items():
            if flag == refused or (refused.startswith("--benchmark-save") and flag.startswith(refused)):
                raise UsageError(f"bench does not take {flag}: {why}")
    return list(args)


def plan_bench(settings: Settings, *, repeats: int = 1, output_dir: str | Path | None = None,
               pytest_args: Sequence[str] = (), store: str | Path | None = None,
               budget_minutes: float | None = None) -> Plan:
    """Check everything a run needs before any process starts: MNIST, the frameworks, the devices and the output
    paths (``--output-dir`` and ``--store``, created as ``mkdir -p`` does). Raises ``UsageError`` (fix the input),
    ``NamedUnavailable`` (a framework or device named cannot run here) or ``NothingToMeasure`` (nothing can run
    here)."""
    from .. import data

    args = check_pytest_args(pytest_args)
    try:
        data.locate(settings.mnist_dir)
    except DataError as exc:
        raise UsageError(f"MNIST is not usable, so nothing can be benchmarked: {exc}") from None
    try:
        check_writable(data.cache_dir(), f"the suite's cache (set {data.ENV_CACHE} to a writable directory):")
    except OutputError as exc:
        raise UsageError(str(exc)) from None
    by_name = settings.frameworks is not None
    chosen = list(settings.frameworks) if by_name else list(FRAMEWORKS)
    runnable, left_out = installed_here(chosen)
    if settings.devices is not None and "cuda" in settings.devices:  # asked for by name: it must be there
        states = {f: availability(f, "cuda", probe_device=False, in_this_process=False) for f in runnable}
        usable = [f for f, state in states.items() if state.status is not Status.NO_DEVICE]
        if not usable:
            why = "; ".join(sorted({state.reason for state in states.values()})) or "no framework to run"
            if settings.devices == ["cuda"]:  # named, so a failure (exit 1), not a skip
                raise NamedUnavailable(f"--devices cuda: no framework can use a GPU here ({why})")
            left_out["device cuda"] = why
        elif settings.devices == ["cuda"]:
            left_out.update({f: states[f].reason for f in runnable if f not in usable})
            runnable = usable
    devices = settings.devices or ["cpu", *(["cuda"] if gpu_present() else [])]  # the children's default
    lacking = unsupported_variants(runnable, settings.variants, devices)
    if lacking and (by_name or len(lacking) == len(runnable)):  # a pair that cannot exist: fix the options
        raise UsageError(f"--variants {','.join(settings.variants or [])}: " + "; ".join(lacking.values()))
    left_out.update(lacking)
    runnable = [f for f in runnable if f not in lacking]
    if not runnable:
        reasons = "; ".join(left_out.values()) or "no framework selected"
        raise (NamedUnavailable if by_name else NothingToMeasure)(f"none of the frameworks can run here: {reasons}")
    # last, so that a run refused above creates nothing; before any process starts, so that a bad --store is
    # refused now and not after the whole run
    out = check_output(output_dir if output_dir is not None else Path.cwd() / "bench-results", "--output-dir")
    store_dir = check_output(store, "--store") if store is not None else None
    return Plan(settings, one_each(runnable), repeats, out, args, left_out, by_name or settings.devices is not None,
                store_dir, None if budget_minutes is None else 60 * budget_minutes)


def interleaved(groups: Sequence[ProcessGroup], repeats: int) -> list[tuple[int, int, ProcessGroup]]:
    """(repeat, position, group) in run order: round robin, each round rotated by one (every group takes every
    position once in ``len(groups)`` rounds), and each further cycle of rounds reversed, so neighbours change."""
    order = []
    n = len(groups)
    for r in range(repeats):
        rotated = [groups[(i + r) % n] for i in range(n)]
        if (r // n) % 2 == 1:
            rotated.reverse()
        order += [(r + 1, i, g) for i, g in enumerate(rotated)]
    return order


def new_run_dir(output_dir: Path, prefix: str = "bench") -> Path:
    """A fresh directory for one run's files, named ``<prefix>-<date>-<time>``; never an existing one."""
    output_dir = Path(output_dir).resolve()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        output_dir.mkdir(exist_ok=True)
        for n in range(1000):
            candidate = output_dir / (f"{prefix}-{stamp}" + (f"-{n}" if n else ""))
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        raise OutputError(f"cannot create a run directory in {output_dir}: {exc.strerror or exc}") from None
    raise OutputError(f"could not create a new run directory in {output_dir}")


def describe_exit(code: int | None, benchmarks: int, interrupted: bool = False) -> tuple[str, str]:
    """A process's (outcome, status in words)."""
    if interrupted:
        return "interrupted", f"interrupted ({benchmarks} results kept)"
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return "crashed", f"crashed ({name}; {benchmarks} results kept)"
    if code == 0:
        return ("ok", "ok") if benchmarks else ("nothing", "no results (every benchmark skipped)")
    if code == 1:
        return "partial", f"some benchmarks failed ({benchmarks} results kept)"
    if code == 5:
        return "nothing", "no benchmarks collected"
    return "failed", f"failed (pytest exit {code}; {benchmarks} results kept)"


def read_journal(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(finished benchmark entries, test outcomes, notes on torn lines) from a process's journal."""
    from ..fileio import read_journal as read_lines

    benchmarks, tests = [], []
    events, torn = read_lines(path)
    for event in events:
        if not isinstance(event, dict):
            continue
        if event.get("event") == "benchmark" and isinstance(event.get("entry"), dict):
            benchmarks.append(event["entry"])
        elif event.get("event") == "test":
            tests.append(event)
    return benchmarks, tests, torn


def process_names(group: ProcessGroup, repeat: int, repeats: int) -> tuple[str, str]:
    """A process's (label, stem of its files' names)."""
    if repeats == 1:
        return group.label, group.label
    return f"{group.label}/{repeat}", f"{group.label}-{repeat}"


def run_process(group: ProcessGroup, repeat: int, position: int, repeats: int, run_dir: Path,
                settings_file: Path, pytest_args: Sequence[str]) -> dict[str, Any]:
    """Benchmark one group in one process; returns its record, results and test outcomes."""
    label, stem = process_names(group, repeat, repeats)
    json_path, journal = run_dir / f"{stem}.json", run_dir / f"{stem}.journal.jsonl"
    args = [str(BENCHMARKS), "--benchmark-only", f"--benchmark-json={json_path}", f"--settings-file={settings_file}",
            f"--journal={journal}", "-p", "no:cacheprovider", f"--rootdir={run_dir}",
            f"--confcutdir={BENCHMARKS.parent}", *pytest_args]
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    before = noise.snapshot()
    interrupted = False
    try:
        code: int | None = run_pytest(group, args, cwd=str(run_dir))
    except Interrupted as exc:
        code, interrupted = exc.returncode, True
    measured = noise.between(before, noise.snapshot())
    results: dict[str, Any] = {}
    if json_path.exists():
        try:
            results = json.loads(json_path.read_text())
        except (json.JSONDecodeError, OSError):
            results = {}
    kept, tests, torn = read_journal(journal)
    for note in torn:
        print(f"note: {note}", flush=True)
    benchmarks = results.get("benchmarks") if isinstance(results.get("benchmarks"), list) else kept
    compact({"benchmarks": benchmarks})
    figures = len(benchmarks)
    outcome, status = describe_exit(code, figures, interrupted)
    versions = results.get("machine_info", {}).get("mnist_framework_bench", {}).get("versions", {})
    record = ProcessRecord(label=label, frameworks=list(group.frameworks), environment=dict(group.environment),
                           exit_code=code, status=status, outcome=outcome, benchmarks=figures,
                           json=json_path.name, repeat=repeat, order=position, started=started, versions=versions,
                           noise=measured)
    for entry in benchmarks:
        info = entry.setdefault("extra_info", {})
        info["process"], info["repeat"] = label, repeat
    return {"record": record, "benchmarks": benchmarks, "tests": tests, "results": results,
            "interrupted": interrupted}


def merge(outcomes: list[dict[str, Any]], settings: Settings, argv: Sequence[str],
          interrupted: bool = False, stopped: str = "") -> dict[str, Any]:
    """One run document from the processes' results, with each process's record and why the run stopped early
    (``stopped``: --budget's words, empty if it ran its plan). The commit is the package's own checkout's (the
    processes ran in the run directory, where git may see another repository or none)."""
    from ..environment import runtime_details, source_commit

    machine_info: dict[str, Any] = {}
    commit_info: dict[str, Any] = {}
    not_converged: list[dict[str, Any]] = []
    for outcome in outcomes:
        results = outcome["results"]
        if results.get("machine_info") and not machine_info:
            machine_info, commit_info = results["machine_info"], results.get("commit_info", {})
        not_converged += results.get("not_converged", [])
    if not machine_info:  # no process finished its JSON: describe the machine from here
        machine_info = {"mnist_framework_bench": runtime_details(threads=settings.threads)}
    commit_info = source_commit() or commit_info  # the processes run elsewhere: ask the suite's own checkout
    return document(command=list(argv), settings=settings.to_json(), processes=[o["record"] for o in outcomes],
                    benchmarks=[b for o in outcomes for b in o["benchmarks"]], machine_info=machine_info,
                    commit_info=commit_info, not_converged=not_converged,
                    datetime=dt.datetime.now(dt.timezone.utc).isoformat(), suite_version=__version__,
                    interrupted=interrupted, stopped=stopped)


PYTEST_USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR: its command line was refused


def summary(plan: Plan, outcomes: list[dict[str, Any]], interrupted: bool) -> tuple[int, list[str]]:
    """The run's exit status and the lines that explain it."""
    lines = []
    for o in outcomes:
        r: ProcessRecord = o["record"]
        flag = f"  [disturbed: {r.noise.disturbed}]" if r.noise and r.noise.disturbed else ""
        lines.append(f"  {r.label:24s} {r.status}{flag}")
    for name, why in plan.left_out.items():
        lines.append(f"  {name:24s} not run: {why}")
    skips: dict[str, int] = {}
    failures = []
    for o in outcomes:
        for t in o["tests"]:
            if t["outcome"] == "skipped":
                skips[t.get("reason", "")] = skips.get(t.get("reason", ""), 0) + 1
            elif t["outcome"] in ("failed", "error"):
                failures.append(t["nodeid"])
    if skips:
        lines.append(f"  {sum(skips.values())} benchmarks skipped (not applicable here):")
        lines += [f"    {count} x {reason}" for reason, count in sorted(skips.items(), key=lambda kv: -kv[1])]
    if failures:
        lines.append(f"  {len(failures)} benchmarks failed: " + ", ".join(failures[:10])
                     + (" ..." if len(failures) > 10 else ""))
    measured = sum(o["record"].benchmarks for o in outcomes)
    if outcomes and outcomes[-1]["record"].exit_code == PYTEST_USAGE_ERROR:
        return EXIT_USAGE, lines + [f"pytest refused the arguments passed on to it ({' '.join(plan.pytest_args)}; "
                                    "its message is above): fix them; no other process was started"]
    if interrupted:
        return EXIT_INTERRUPTED, lines + ["interrupted: the results of what finished were kept and reported"]
    bad = [o for o in outcomes if o["record"].outcome in ("crashed", "failed", "partial")]
    if measured == 0 and (bad or failures):  # a crash is not a skip
        return EXIT_FAILED, lines + [f"nothing was measured: {len(bad)} of {len(outcomes)} processes crashed or "
                                     "failed (above)" if bad else "nothing was measured: every benchmark failed"]
    if measured == 0:
        return EXIT_NOTHING, lines + ["nothing was measured: every benchmark was skipped (reasons above)"]
    if bad or failures or (plan.asked_by_name and plan.left_out):
        return EXIT_FAILED, lines + ["not everything asked for ran: see above"]
    return EXIT_OK, lines


def over_budget(plan: Plan, finished: int, elapsed_s: float) -> str | None:
    """Before process ``finished + 1`` starts: why ``--budget``'s rule (``progress.Budget``) stops the run there
    (None: go on)."""
    budget = plan.budget
    if budget is None or budget.allows(finished, elapsed_s):
        return None
    rounds = finished // budget.round_size
    per_round = elapsed_s / rounds
    return (f"--budget {budget.seconds / 60:g} min: stopped after {rounds} of {plan.repeats} repeats (a round took "
            f"about {per_round / 60:.1f} min, so another would have ended at about {(elapsed_s + per_round) / 60:.1f} "
            "min); the report counts the repeats that ran")


def run_bench(plan: Plan, argv: Sequence[str] = ()) -> tuple[int, Path]:
    """Run the planned processes, merge, report. Returns (exit status, merged JSON path)."""
    from ..processes import handle_sigterm

    handle_sigterm()
    run_dir = new_run_dir(plan.output_dir)
    settings_file = plan.settings.write(run_dir / "settings.json")
    outcomes: list[dict[str, Any]] = []
    interrupted = False
    stopped: str | None = None  # why the run stopped early to keep within --budget
    began = time.monotonic()
    schedule = interleaved(plan.groups, plan.repeats)
    names = [process_names(group, repeat, plan.repeats) for repeat, _, group in schedule]
    # progress: followed from each process's journal; the processes' own output is relayed above the display
    with tracker([label for label, _ in names], keys=[group.label for _, _, group in schedule],
                 budget=plan.budget) as shown, relayed_output():
        for i, (repeat, position, group) in enumerate(schedule, 1):
            if stopped := over_budget(plan, i - 1, time.monotonic() - began):
                for rest in range(i - 1, len(schedule)):
                    shown.skip(rest)
                break
            rep = f", repeat {repeat}/{plan.repeats}" if plan.repeats > 1 else ""
            print(f"\n[{i}/{len(schedule)}] benchmarking {group.label} in its own process{rep}", flush=True)
            try:
                shown.begin(i - 1)
                with shown.follow(run_dir / f"{names[i - 1][1]}.journal.jsonl"):
                    outcome = run_process(group, repeat, position, plan.repeats, run_dir, settings_file,
                                          plan.pytest_args)
                if not outcome["interrupted"]:
                    shown.end()
            except KeyboardInterrupt:  # between processes
                interrupted = True
                break
            outcomes.append(outcome)
            if outcome["interrupted"]:
                interrupted = True
                break
            if outcome["record"].exit_code == PYTEST_USAGE_ERROR:  # the same arguments fail every process
                break
    with interrupts_held() as held:  # everything finished is written, whenever Ctrl-C comes now
        merged = merge(outcomes, plan.settings, argv or sys.argv, interrupted, stopped or "")
        merged_path = write_json(run_dir / "results.json", merged)
        code, lines = summary(plan, outcomes, interrupted)
        if stopped:
            lines.append(stopped)
        print(f"\nresults: {merged_path}")
        print("\n".join(lines))
        from ..analysis.report import write_report

        for path in write_report([merged_path], run_dir):
            print(f"report: {path}")
        if plan.store is not None:
            if merged["benchmarks"]:
                from ..analysis.store import store_run

                print(f"stored: {store_run(merged_path, plan.store)}")
            else:
                print(f"not stored in {plan.store}: the run has no results")
    if interrupted:
        print("\n".join(resume_note(plan, outcomes, len(schedule), merged_path, argv or sys.argv)))
    if held.interrupted:
        print("interrupted while the results were written: every measurement had finished, and all of them were "
              "written and reported")
        code = EXIT_INTERRUPTED
    return code, merged_path


def resume_note(plan: Plan, outcomes: list[dict[str, Any]], planned: int, merged_path: Path,
                argv: Sequence[str]) -> list[str]:
    """What an interrupted run kept, and how to complete it: a run is not resumed in place, but a new run with
    the same settings can be reported together with the kept one (``report`` pools like-for-like runs)."""
    measured = sum(o["record"].benchmarks for o in outcomes)
    complete = {group.label: 0 for group in plan.groups}  # processes that ran to their end, per group
    for o in outcomes:
        if not o["interrupted"]:
            complete[",".join(o["record"].frameworks)] += 1
    lacking = plan.repeats - min(complete.values())
    command = " ".join([str(argv[0]), *(shlex.quote(str(a)) for a in argv[1:])])
    fewer = (f", or with --repeats {lacking} instead (the most processes a framework still lacks)"
             if 0 < lacking < plan.repeats else "")
    cut = " (the last one cut short)" if outcomes and outcomes[-1]["interrupted"] else ""
    return [f"kept: {measured} benchmark results from the {len(outcomes)} of {planned} processes that ran{cut}, in "
            f"{merged_path}, reported above",
            f"to complete the run (it is not resumed in place): run `{command}` again, which starts a new run "
            f"directory in {plan.output_dir}{fewer}; then `python -m frameworks report {merged_path} "
            "<the new run directory>/results.json` reports the two runs pooled"]


# --- the command ------------------------------------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction) -> None:
    """Declare the command and its options (from the option table)."""
    bench = sub.add_parser("bench", help="benchmark every framework, each in its own process, and report "
                                         "(other arguments go to pytest, e.g. -k)")
    opts.add_to_argparse(bench, "bench")


def run(args: argparse.Namespace, rest: list[str], argv: Sequence[str]) -> int:
    """Benchmark every framework in processes of its own, merge the results, write the report."""
    explicit = opts.explicit_dests(argv)
    for note in opts.apply_preset(vars(args), explicit):
        print(note)
    settings = opts.Settings.from_values(vars(args))
    if args.quick:
        settings, notes = settings.with_quick(explicit)
        print("\n".join(notes))
    checked = plan_bench(settings, repeats=args.repeats, output_dir=args.output_dir, pytest_args=rest, store=args.store,
                         budget_minutes=args.budget)
    for name, why in checked.left_out.items():
        print(f"not run: {name}: {why}")
    code, _ = run_bench(checked, argv=["python -m frameworks", *argv])
    return code
