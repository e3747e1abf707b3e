"""The main job's schedule: presets, --budget's stopping rule between rounds, the word ``default`` in --variants,
and the fidelity benchmarks left out of a timed run by --no-fidelity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from frameworks import options as opts
from frameworks.analysis.comparisons import analyse
from frameworks.analysis.report import markdown
from frameworks.bench.selection import unsupported_variants
from frameworks.cli import build_parser
from frameworks.commands import bench
from frameworks.errors import EXIT_OK
from frameworks.options import Settings
from frameworks.processes import ProcessGroup
from frameworks.registry import FRAMEWORKS, FrameworkInfo
from frameworks.results import ProcessRecord, document, load_run

from .helpers import bench_entry

ROOT = Path(__file__).resolve().parent.parent


# --- presets ----------------------------------------------------------------------------------------------
def preset_values(*argv: str) -> tuple[dict, list[str]]:
    args = build_parser().parse_args(["bench", *argv])
    values = vars(args)
    notes = opts.apply_preset(values, opts.explicit_dests(argv))
    return values, notes


def test_the_verdict_preset_sets_its_design():
    values, notes = preset_values("--preset", "verdict")
    assert notes == ["--preset verdict: --repeats 5", "--preset verdict: --benchmark-max-time 0.3",
                     "--preset verdict: --epoch-images 4096", "--preset verdict: --variants default",
                     "--preset verdict: --no-fidelity"]
    settings = Settings.from_values(values)
    assert values["repeats"] == 5 and not values["quick"]
    assert (settings.round_seconds, settings.epoch_images, settings.variants) == (0.3, 4096, ["default"])
    assert settings.no_fidelity and not settings.idiomatic


def test_options_given_with_a_preset_win_over_it():
    values, notes = preset_values("--preset", "verdict", "--repeats", "3", "--variants=eager,compile")
    assert values["repeats"] == 3 and values["variants"] == ["eager", "compile"] and values["no_fidelity"] is True
    assert "--preset verdict: keeping your --repeats" in notes and "--preset verdict: keeping your --variants" in notes


def test_the_thorough_preset_runs_every_variant_and_the_harness_checks():
    values, _ = preset_values("--preset", "thorough")
    settings = Settings.from_values(values)
    assert values["repeats"] == 5 and values["quick"] and settings.idiomatic
    assert settings.variants is None and not settings.no_fidelity


def test_no_preset_changes_nothing():
    values, notes = preset_values("--repeats", "2")
    assert notes == [] and values["repeats"] == 2 and values["variants"] is None and not values["quick"]


def test_an_unknown_preset_is_refused_naming_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--preset", "fast"])
    assert "unknown preset 'fast'; valid: verdict, thorough" in capsys.readouterr().err


def test_run_benchmarks_runs_the_verdict_preset_by_default():
    script = (ROOT / "run-benchmarks").read_text()
    assert "set -- --preset verdict" in script


# --- --variants default -----------------------------------------------------------------------------------
def test_default_names_each_frameworks_default_variant_whatever_it_is_called():
    info = FrameworkInfo("test-variants", "x:Y", ("os",), variants={"fast": ("cpu",), "slow": ("cpu",)})
    assert [v for v in info.variants if info.chosen(v, ["default"])] == ["fast"]
    assert [v for v in info.variants if info.chosen(v, ["slow"])] == ["slow"]
    assert [v for v in info.variants if info.chosen(v, None)] == ["fast", "slow"]
    assert [v for v in info.variants if info.chosen(v, ["default", "slow"])] == ["fast", "slow"]


def test_every_framework_has_a_default_variant_to_run():
    assert unsupported_variants(list(FRAMEWORKS), ["default"], ["cpu"]) == {}
    lacking = unsupported_variants(list(FRAMEWORKS), ["compile"], ["cpu"])
    assert "pytorch" not in lacking and "keras-jax" in lacking


def collected(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                             "frameworks/bench/test_benchmarks.py", "--frameworks", "pytorch", "--networks", "lenet",
                             *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_benchmarks_collected_at_default_variants_and_without_fidelity():
    everything = collected("--benchmark-only")
    assert "pytorch-compile-cpu" in everything and "test_fidelity[" in everything
    chosen = collected("--benchmark-only", "--variants", "default", "--no-fidelity")
    assert "test_step[pytorch-eager-cpu-lenet" in chosen and "pytorch-compile" not in chosen
    assert "test_fidelity[" not in chosen
    as_tests = collected("--variants", "default", "--no-fidelity")  # a test run still checks the fidelity code
    assert "test_fidelity[" in as_tests


# --- --budget: no round starts that would end past it ----------------------------------------------------
def plan(repeats: int = 5, groups: int = 2, budget_minutes: float | None = 12.0, tmp: Path = Path("/nonexistent")):
    names = list(FRAMEWORKS)[:groups]
    return bench.Plan(Settings(), [ProcessGroup((n,)) for n in names], repeats, tmp, [],
                      budget_s=None if budget_minutes is None else 60 * budget_minutes)


@pytest.mark.parametrize("finished, elapsed_min, stops", [
    (0, 0.0, False),  # nothing run: nothing known, the first round always runs
    (1, 9.0, False),  # mid-round: never stopped there, so every framework runs as often as the others
    (2, 5.0, False),  # one round of 5 min: the second ends at 10 <= 12
    (2, 6.5, True),  # one round of 6.5 min: the second would end at 13 > 12
    (4, 8.0, False),  # two rounds of 4: the third ends at 12, within
    (4, 8.2, True),
])
def test_the_budget_is_checked_between_rounds_from_the_rounds_run(finished, elapsed_min, stops):
    why = bench.over_budget(plan(), finished, 60 * elapsed_min)
    assert (why is not None) == stops
    if stops:
        rounds = finished // 2
        assert why.startswith(f"--budget 12 min: stopped after {rounds} of 5 repeats (a round took about "
                              f"{elapsed_min / rounds:.1f} min")


def test_without_a_budget_every_round_runs():
    assert bench.over_budget(plan(budget_minutes=None), 2, 1e9) is None


def test_a_run_stops_between_rounds_when_the_next_would_pass_its_budget(tmp_path, monkeypatch, capsys):
    from frameworks import processes

    clock = [0.0]
    started: list[tuple[str, int]] = []

    def run_process(group, repeat, position, repeats, run_dir, settings_file, pytest_args):
        started.append((group.label, repeat))
        clock[0] += 150.0  # each process takes 2.5 minutes: a round of two takes 5
        label = f"{group.label}/{repeat}"
        record = ProcessRecord(label=label, frameworks=list(group.frameworks), environment={}, exit_code=0,
                               status="ok", outcome="ok", benchmarks=1, json="x.json", repeat=repeat)
        entry = bench_entry(group.label, "lenet", "train_step", 0.01, variant="default", process=label, repeat=repeat)
        return {"record": record, "benchmarks": [entry], "tests": [], "interrupted": False, "results": {}}

    monkeypatch.setattr(bench, "run_process", run_process)
    monkeypatch.setattr(bench.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(processes, "handle_sigterm", lambda: None)
    monkeypatch.setattr("frameworks.analysis.report.write_report", lambda paths, out: [])
    code, merged = bench.run_bench(plan(repeats=5, budget_minutes=12.0, tmp=tmp_path), argv=["bench"])
    names = list(FRAMEWORKS)[:2]
    assert started == [(names[0], 1), (names[1], 1), (names[1], 2), (names[0], 2)]  # two whole rounds
    out = capsys.readouterr().out
    why = ("--budget 12 min: stopped after 2 of 5 repeats (a round took about 5.0 min, so another would have "
           "ended at about 15.0 min); the report counts the repeats that ran")
    assert why in out
    assert code == EXIT_OK
    run = load_run(merged)  # the results say it too, and so does their report
    assert run.stopped == why and not run.interrupted
    assert f"**The run stopped before its plan:** {why}." in markdown(analyse([merged]))


def test_a_run_that_ran_its_plan_says_nothing_of_stopping(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document(command=["bench"], settings={}, processes=[], benchmarks=[
        bench_entry("pytorch", "lenet", "train_step", 0.01)], machine_info={}, commit_info={}, not_converged=[],
        datetime="2026-12-06T00:00:00", suite_version="0")))
    assert load_run(path).stopped == ""
    assert "stopped before its plan" not in markdown(analyse([path]))


def test_a_kept_option_is_named_as_it_is_typed():
    _, notes = preset_values("--preset", "verdict", "--epoch-images", "8192", "--no-fidelity")
    assert "--preset verdict: keeping your --epoch-images" in notes
    assert "--preset verdict: keeping your --no-fidelity" in notes
