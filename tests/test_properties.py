"""Property tests: whatever the command line and whatever a results file holds, every command ends with a
clear message and a status of the one table (``errors.EXIT_STATUSES``): never a traceback, never a partial file.

Command lines are drawn from the parser itself (every command but ``test``, every option, valid and invalid
values, unknown tokens); results files from a document of the real schema (``helpers.run_doc``) with fields
removed, retyped or set out of range, truncated, or with a torn line appended. Child processes, export's
serving and the browser check are replaced by instant fakes, so that the properties stay fast."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from frameworks.cli import build_parser, main
from frameworks.commands import accuracy as bench_accuracy
from frameworks.commands import bench as bench_run
from frameworks.errors import EXIT_STATUSES

from .helpers import run_doc, step_entries
from .test_exit_statuses import fake_child, fake_trainer

SLOW_OR_RECURSIVE = {"test"}  # runs the test suite itself


def good_doc() -> dict:
    return run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.1}), repeats=2)


@contextlib.contextmanager
def fresh_directory(root: Path):
    """A new directory to run one example in (made the current one), with the files command lines name."""
    where = Path(tempfile.mkdtemp(dir=root))
    (where / "good.json").write_text(json.dumps(good_doc()))
    (where / "broken.json").write_text('{"benchmarks": [')
    (where / "a-file").write_text("in the way")
    (where / "store").mkdir()
    (where / "store" / "run.json").write_text(json.dumps(good_doc()))
    before = os.getcwd()
    os.chdir(where)
    try:
        yield where
    finally:
        os.chdir(before)


def leftovers(root: Path) -> list[Path]:
    """Temporary files of the atomic writers: their presence is a partial write."""
    return [p for p in root.rglob("*") if ".tmp" in p.name or p.name.startswith(".write-check-")]


@pytest.fixture
def fakes(monkeypatch, mnist):
    """Instant stand-ins for everything that would start a framework, a child process or a browser."""
    from frameworks import process_settings as runtime
    from frameworks import registry
    from frameworks.analysis import browser
    from frameworks.commands import export as deployment

    monkeypatch.setattr(bench_run, "run_pytest", fake_child("ok"))
    monkeypatch.setattr(bench_accuracy, "run_child", fake_trainer("ok"))
    monkeypatch.setattr(deployment, "run_export", lambda plan, **k: (0, plan.output_dir / "export-summary.json"))
    monkeypatch.setattr(runtime, "configure_process", lambda threads=None: threads or 1)
    monkeypatch.setattr(browser, "check", lambda index, screenshot=None: types.SimpleNamespace(
        browser="fake", marks={}, problems=[]))
    real = registry.availability

    def availability(name, device="cpu", *a, **k):  # caffe's own command must not train anything here
        if name == "caffe":
            return registry.Availability(name, device, registry.Status.NOT_INSTALLED, "caffe: faked out here")
        return real(name, device, *a, **k)

    monkeypatch.setattr(registry, "availability", availability)
    from .test_exit_statuses import fake_scale

    fake_scale(monkeypatch)  # scale's proof and launches
    monkeypatch.setattr("frameworks.parallel.train.train_all", lambda *a, **k: [])  # accuracy --world-sizes 2


# --- command lines -----------------------------------------------------------------------------------------------
def command_options() -> dict[str, list[tuple[str, bool]]]:
    """Per command, its options (flag, takes a value), read from the parser the command line uses."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    out = {}
    for name, sub in commands.items():
        if name in SLOW_OR_RECURSIVE:
            continue
        out[name] = [(a.option_strings[-1], a.nargs != 0) for a in sub._actions
                     if a.option_strings and a.option_strings[-1] not in ("--help",)]
    return out


OPTIONS = command_options()
VALUES = st.sampled_from(["0", "1", "2", "-1", "0.5", "1.5", "abc", "", "pytorch", "lenet,mlp_bn", "cpu", "cuda",
                          "eager", "compile", "pytorch,onnxruntime", "keras-*", "out", "new/dir", "a-file",
                          "a-file/below", "store", "good.json", "128,1024", "1e9", "nan"]) | st.text(max_size=6)
POSITIONALS = st.lists(st.sampled_from(["good.json", "broken.json", "missing.json", "store", "a-file"]), min_size=1,
                       max_size=2)


@st.composite
def command_lines(draw: Any) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command]
    if command in ("report", "versions", "dashboard"):
        argv += draw(POSITIONALS)
    if command == "caffe":
        argv.append(draw(st.sampled_from(["solver.prototxt", "good.json"])))
    if command == "gate":
        argv += ["--base", *draw(POSITIONALS), "--head", *draw(POSITIONALS)]
    if command == "dashboard" and draw(st.booleans()):
        argv += ["--output", draw(st.sampled_from(["site", "a-file", "new/site"]))]
    if command in ("bench", "export", "accuracy") and not draw(st.integers(0, 3)):
        argv += ["--frameworks", "pytorch", "--networks", "mlp_bn"]  # mostly a small selection
    for flag, takes_value in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=3)):
        argv.append(flag)
        if takes_value:
            argv.append(draw(VALUES))
    if draw(st.integers(0, 5)) == 0:
        argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(["--nonsense", "extra", "-k", "--"])))
    return argv


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(argv=command_lines())
def test_any_command_line_ends_with_a_status_of_the_table(tmp_path, capsys, fakes, argv):
    with fresh_directory(tmp_path) as where:
        code = main(argv)
    out = capsys.readouterr()
    event(f"{argv[0]} exit {code}")
    assert code in EXIT_STATUSES, (argv, code, out.err[-2000:])
    assert "Traceback" not in out.out + out.err, argv
    if code != 0:
        assert (out.out + out.err).strip(), f"{argv}: no message"
    assert not leftovers(where), argv


# --- results files ------------------------------------------------------------------------------------------------
def paths_in(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) into a JSON value, the root excluded."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found += paths_in(child, (*prefix, key))
    return found


ODD_VALUES = st.sampled_from([None, "x", "", [], {}, -1, 0, 0.0, -0.5, 1e308, True, [0.0], [-1.0], [], ["x"],
                              float("nan"), float("inf")])


@st.composite
def mutated_files(draw: Any) -> str:
    """The text of a results file of the real schema, damaged in one to three ways."""
    doc = good_doc()
    paths = paths_in(doc)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(ODD_VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # the path went with an earlier mutation
    text = json.dumps(doc, allow_nan=True)
    damage = draw(st.sampled_from(["none", "truncate", "torn line"]))
    if damage == "truncate":
        text = text[:draw(st.integers(0, len(text) - 1))]
    elif damage == "torn line":
        text += '\n{"benchmarks": [{"extra_info": {"kind": "st'
    return text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(text=mutated_files())
def test_any_damaged_results_file_is_read_or_refused_by_every_reader(tmp_path, capsys, text):
    with fresh_directory(tmp_path) as where:
        (where / "damaged.json").write_text(text)
        statuses = {}
        for argv in (["report", "damaged.json", "--output-dir", "report"], ["versions", "damaged.json"],
                     ["gate", "--base", "damaged.json", "good.json", "--head", "good.json", "damaged.json"]):
            statuses[argv[0]] = main(argv)
            out = capsys.readouterr()
            event(f"{argv[0]} exit {statuses[argv[0]]}")
            assert statuses[argv[0]] in EXIT_STATUSES, (argv, out.err[-2000:])
            assert "Traceback" not in out.out + out.err
        assert not leftovers(where)
        written = list((where / "report").glob("*.md")) if (where / "report").exists() else []
        assert bool(written) == (statuses["report"] == 0), "a report only for a readable file, and then complete"
        for md in written:
            assert md.read_text().rstrip().endswith(("|", ")", ".", "`")) or md.read_text().strip()


@pytest.mark.parametrize("field, value, said", [
    ("images", 0, "processes 0 images per call"), ("images", -128, "processes -128 images per call"),
    ("samples_s", [0.0, 0.01], "no measurement gives"), ("samples_s", [-0.01], "no measurement gives"),
    ("samples_s", [float("nan")], "samples_s"),
])
def test_values_no_measurement_gives_are_refused_with_the_benchmark_named(tmp_path, capsys, field, value, said):
    doc = good_doc()
    doc["benchmarks"][1]["extra_info"][field] = value
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert said in err and repr(doc["benchmarks"][1]["name"]) in err
