"""The results store and bench --store, on hand-made results documents (code paths, not measurements)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from frameworks import environment
from frameworks.analysis.store import load_store, store_run
from frameworks.cli import build_parser
from frameworks.commands import bench as bench
from frameworks.errors import UsageError
from frameworks.options import Settings
from frameworks.processes import ProcessGroup
from frameworks.results import ProcessRecord, ResultsError
from frameworks.results.benchmarks import BenchRecord, ProcessNoise, compact, compact_samples, load_run, stamp
from frameworks.results.benchmarks import document as benchmarks_document
from frameworks.results.validation import document_kind, migrate, read_json

from .helpers import bench_entry, run_doc, step_entries

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def a_run(**more) -> dict:
    return run_doc(step_entries({"pytorch [eager]": 1.0}), repeats=2, **more)


def test_a_run_is_stored_by_machine_date_and_commit_and_never_overwritten(tmp_path):
    results = write(tmp_path / "bench-1" / "results.json", a_run(when="2026-11-05T08:09:10+00:00"))
    first = store_run(results, tmp_path / "store")
    second = store_run(results, tmp_path / "store")
    assert first.name == "test-host_20261105-080910_0123456789ab.json.gz"
    assert second.name == "test-host_20261105-080910_0123456789ab-1.json.gz"
    assert gzip.decompress(first.read_bytes()) == gzip.decompress(second.read_bytes()) == results.read_bytes()


def test_a_dirty_checkout_or_an_unknown_commit_shows_in_the_name(tmp_path):
    dirty = a_run(commit="")
    dirty["commit_info"] = {"id": "f" * 40, "dirty": True}
    assert store_run(write(tmp_path / "d.json", dirty), tmp_path / "s").name.endswith("_ffffffffffff-dirty.json.gz")
    assert store_run(write(tmp_path / "n.json", a_run(commit="")), tmp_path / "s").name.endswith("_no-commit.json.gz")


def test_only_merged_runs_of_this_schema_are_stored(tmp_path):
    process_json = a_run()
    del process_json["processes"]  # one benchmark process's own JSON has no process records
    with pytest.raises(ResultsError, match="one benchmark process's JSON"):
        store_run(write(tmp_path / "p.json", process_json), tmp_path / "store")
    with pytest.raises(ResultsError, match="schema version 1"):
        store_run(write(tmp_path / "old.json", {**a_run(), "schema_version": 1}), tmp_path / "store")
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").iterdir())


@pytest.mark.parametrize("version", [[], {}, [2], None, "3", 4])
def test_a_schema_version_that_is_no_known_version_is_named_in_the_refusal(tmp_path, version):
    """A list or object as the version was a TypeError from the migration lookup (found by hypothesis in
    test_hard_edges); every value that is not 2 or 3 is refused naming the version and the range read."""
    path = write(tmp_path / "odd.json", {**a_run(), "schema_version": version})
    with pytest.raises(ResultsError, match=rf"odd\.json: results schema version {re.escape(repr(version))}, "
                                           r"but this suite \(version 3\) reads versions 2 to 3; read the file with "
                                           r"the version of the suite that wrote it, or re-run the benchmarks with "
                                           r"this one$"):
        read_json(path)


def test_loading_a_store_reports_and_skips_what_is_not_a_run(tmp_path):
    store = tmp_path / "store"
    good = write(store / "laptop" / "x_20261101-000000_abc.json", a_run(when="2026-11-02T00:00:00+00:00"))
    write(store / "ci" / "y.json", a_run(when="2026-11-01T00:00:00+00:00", host="ci-runner"))  # copied in
    (store / "z-copy.json").write_bytes(good.read_bytes())  # the same run twice
    (store / "broken.json").write_text("{not json")
    write(store / "other.json", {"benchmarks": [], "machine_info": {}})
    write(store / "old.json", {**a_run(), "schema_version": 1})
    process_json = a_run()
    del process_json["processes"]
    write(store / "process.json", process_json)
    malformed = a_run()
    malformed["benchmarks"][0]["extra_info"]["samples_s"] = ["slow"]
    write(store / "malformed.json", malformed)
    (store / "notes.txt").write_text("not a run")
    loaded = load_store([store])
    assert [r.name for r in loaded.runs] == ["y.json", "x_20261101-000000_abc.json"]  # oldest first
    assert loaded.runs[0].host == "ci-runner" and loaded.runs[0].machine == "Test CPU (hand-made data), 2 cores"
    why = {Path(p).name: reason for p, reason in loaded.skipped}
    assert set(why) == {"z-copy.json", "broken.json", "other.json", "old.json", "process.json", "malformed.json"}
    assert why["z-copy.json"] == "a copy of x_20261101-000000_abc.json"
    assert why["broken.json"].startswith("not JSON")
    assert "another project" in why["other.json"] and "schema version 1" in why["old.json"]
    assert "not a merged run" in why["process.json"] and "samples_s" in why["malformed.json"]


def test_a_missing_store_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file or directory"):
        load_store([tmp_path / "absent"])


def test_bench_store_is_checked_before_anything_runs(tmp_path):
    args = build_parser().parse_args(["bench", "--store", "relative/store"])
    assert Path(args.store).is_absolute()
    bench.plan_bench(Settings(frameworks=["pytorch"]), store=tmp_path / "missing" / "store")
    assert (tmp_path / "missing" / "store").is_dir(), "created as mkdir -p does, before the run"
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is a file, not a directory"):
        bench.plan_bench(Settings(frameworks=["pytorch"]), store=tmp_path / "file")


def fake_process(benchmarks: list[dict]):
    def run_process(group, repeat, position, repeats, run_dir, settings_file, pytest_args):
        record = ProcessRecord(label=group.label, frameworks=list(group.frameworks), environment={}, exit_code=0,
                               status="ok", outcome="ok", benchmarks=len(benchmarks), json="x.json", repeat=repeat)
        details = {"machine": {"cpu_model": "Test CPU", "cpu_cores": 2, "host": "bench-host"}}
        return {"record": record, "benchmarks": benchmarks, "tests": [], "interrupted": False,
                "results": {"machine_info": {"mnist_framework_bench": details}}}

    return run_process


@pytest.mark.parametrize("measured", [True, False])
def test_bench_copies_its_merged_run_into_the_store(tmp_path, monkeypatch, capsys, measured):
    from frameworks import processes

    entries = [bench_entry("pytorch", "lenet", "train_step", 0.01, variant="eager", process="pytorch")]
    monkeypatch.setattr(bench, "run_process", fake_process(entries if measured else []))
    monkeypatch.setattr(processes, "handle_sigterm", lambda: None)
    plan = bench.Plan(Settings(), [ProcessGroup(("pytorch",))], 1, tmp_path / "out", [], store=tmp_path / "store")
    _, merged = bench.run_bench(plan, argv=["bench"])
    stored = sorted((tmp_path / "store").glob("*.json.gz")) if measured else []
    if measured:
        commit = environment.source_commit()
        assert len(stored) == 1 and gzip.decompress(stored[0].read_bytes()) == merged.read_bytes()
        assert stored[0].name.startswith("bench-host_") and commit["id"][:12] in stored[0].name
        assert f"stored: {stored[0]}" in capsys.readouterr().out
    else:
        assert not (tmp_path / "store").exists() and "not stored" in capsys.readouterr().out


def test_the_commit_is_the_package_checkouts(monkeypatch):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("the suite is not running from a git checkout")
    commit = environment.source_commit()
    assert commit["id"] == head.stdout.strip() and isinstance(commit["dirty"], bool)
    merged = bench.merge([], Settings(), ["bench"])
    assert merged["commit_info"] == commit

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(environment.subprocess, "run", no_git)
    assert environment.source_commit() == {}



def test_every_committed_result_reads_with_the_label_it_was_written_with(monkeypatch):
    """Earlier schema versions read through the migration, and a stored label does not depend on the registry
    installed: with no framework registered at all, the committed runs name the same columns."""
    from pathlib import Path

    from frameworks import registry
    from frameworks.results import load_any, load_exports, read_json

    root = Path(__file__).resolve().parent.parent / "results"
    files = [p for p in root.rglob("*.json*") if read_json_kind(p) == "results"]
    assert len(files) >= 8, files
    before = {p: sorted({r.column for r in getattr(load_any(p), "records", [])}) for p in files}
    monkeypatch.setattr(registry, "FRAMEWORKS", {})
    after = {p: sorted({r.column for r in getattr(load_any(p), "records", [])}) for p in files}
    assert before == after
    assert "pytorch [compile]" in before[root / "cpu-2core-epyc-20261128" / "results.json.gz"]
    assert "pytorch" in before[root / "cpu-2core-epyc-20261128" / "results.json.gz"]
    assert read_json(root / "cpu-2core-epyc-20261128" / "results.json.gz")["schema_version"] == 3
    for summary in root.rglob("export-summary.json"):
        assert load_exports(summary).records


def read_json_kind(path) -> str:
    """"results" for a file the suite's results readers take (benchmarks or accuracy), else "other"."""
    import gzip
    import json

    raw = path.read_bytes()
    doc = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return "results" if isinstance(doc, dict) and doc.get("schema") == "mnist-framework-bench" else "other"


# --- the results contract's refusals, word for word (what mutation testing found unpinned) -----------------------
def test_a_file_that_is_not_the_suites_results_is_refused_saying_what_it_is(tmp_path):
    marker = ('it has no "schema": "mnist-framework-bench" marker. Give JSON written by python -m frameworks bench, '
              "or by pytest with this suite's plugin and --benchmark-json")
    cases = {"list.json": ([1], "not a results file (a JSON list, not an object)"),
             "other.json": ({"benchmarks": []}, f"pytest-benchmark JSON from another project: {marker}"),
             "none.json": ({"x": 1}, f"not a results file: {marker}")}
    for name, (doc, said) in cases.items():
        with pytest.raises(ResultsError) as info:
            read_json(write(tmp_path / name, doc))
        assert str(info.value) == f"{tmp_path / name}: {said}"
    (tmp_path / "torn.json").write_text("{")
    with pytest.raises(ResultsError, match=rf"^{tmp_path / 'torn.json'}: not JSON \(Expecting property name"):
        read_json(tmp_path / "torn.json")
    with pytest.raises(ResultsError) as info:
        read_json(tmp_path / "absent.json")
    assert str(info.value) == f"{tmp_path / 'absent.json'}: cannot be read (No such file or directory)"


def test_a_gzipped_results_file_reads_as_its_text(tmp_path):
    doc = a_run()
    (tmp_path / "run.json.gz").write_bytes(gzip.compress(json.dumps(doc).encode()))
    assert read_json(tmp_path / "run.json.gz") == doc


def test_a_version_2_file_learns_which_variants_were_defaults():
    entries = [{"extra_info": {"variant": v}} for v in ("", "default", "eager", "compile")]
    entries += [{"extra_info": {"variant": "compile", "default_variant": True}}, {"extra_info": {}},
                {"extra_info": None}, "odd"]
    doc = migrate({"schema_version": 2, "benchmarks": entries})
    assert doc["schema_version"] == 3
    assert [e["extra_info"]["default_variant"] for e in doc["benchmarks"][:6]] == [True, True, True, False, True,
                                                                                    True]
    assert doc["benchmarks"][6:] == [{"extra_info": None}, "odd"]
    assert migrate({"schema_version": 2})["schema_version"] == 3
    # a version 2 file whose benchmarks are no list is left for the reader to refuse (it was a TypeError here)
    assert migrate({"schema_version": 2, "benchmarks": True}) == {"schema_version": 3, "benchmarks": True}
    with pytest.raises(ResultsError, match=r"^p\.json: no benchmarks list$"):
        load_run("p.json", migrate({**a_run(), "schema_version": 2, "benchmarks": True}))


def test_the_document_kind_is_benchmarks_unless_it_says_otherwise():
    assert document_kind({}) == "benchmarks" and document_kind({"document": "accuracy"}) == "accuracy"


@pytest.mark.parametrize("change, said", [
    (lambda e: e.pop("extra_info"), "src: a benchmark without extra_info"),
    (lambda e: [e["extra_info"].pop(k) for k in ("kind", "images")], "src: benchmark {name} lacks kind, images"),
    (lambda e: e["extra_info"].update(images=True),
     "src: benchmark {name}: field 'images' holds bool 'True', not <class 'int'>"),
    (lambda e: e["extra_info"].update(batch="x" * 50),
     "src: benchmark {name}: field 'batch' holds str '" + "x" * 40 + "', not int | None"),
    (lambda e: e["extra_info"].update(images=0), "src: benchmark {name} processes 0 images per call (at least 1)"),
    (lambda e: e["extra_info"].update(samples_s=[0.1, 0.0]),
     "src: benchmark {name} has times in samples_s that no measurement gives (zero, negative or not finite)"),
])
def test_a_benchmark_entry_is_refused_naming_the_benchmark_and_the_field(change, said):
    entry = bench_entry("pytorch", "lenet", "forward", 0.01)
    change(entry)
    with pytest.raises(ResultsError) as info:
        BenchRecord.from_benchmark(entry, "src")
    assert str(info.value) == said.format(name=repr(entry["name"]))


def test_a_benchmark_entry_is_read_field_for_field():
    entry = bench_entry("pytorch", "lenet", "forward", 0.01, variant="compile", samples=[0.02, 0.01, 0.04],
                        batch=64, extra="x")
    entry["extra_info"]["unknown_field"] = 1
    del entry["fullname"]
    record = BenchRecord.from_benchmark(entry, "src")
    assert record.name == entry["name"] and record.samples_s == [0.02, 0.01, 0.04] and record.images == 64
    assert record.median_s == 0.02 and record.images_per_s == 3200.0 and record.details == {"extra": "x"}
    assert record.column == "pytorch [compile]" and record.default_variant is False
    info = record.extra_info()
    assert "name" not in info and info["images_per_s"] == 3200.0 and info["variant"] == "compile"
    empty = dataclasses.replace(record, samples_s=[])
    assert math.isnan(empty.median_s) and math.isnan(empty.images_per_s) and empty.extra_info()["images_per_s"] is None
    bf16 = dataclasses.replace(record, precision="bf16")
    assert bf16.column == "pytorch [compile, bf16]"
    assert dataclasses.replace(bf16, default_variant=True).column == "pytorch [bf16]"


def test_a_benchmark_entry_is_named_by_its_fullname_then_its_name_then_nothing():
    """pytest-benchmark's fullname (the test's node id) names a record before its short name; an entry with
    neither is named "" (no source given: the refusals start ": ")."""
    entry = bench_entry("pytorch", "lenet", "forward", 0.01)
    entry["fullname"] = "tests/test_x.py::" + entry["name"]
    assert BenchRecord.from_benchmark(entry).name == "tests/test_x.py::" + entry["name"]
    del entry["fullname"]
    assert BenchRecord.from_benchmark(entry).name == entry["name"]
    del entry["name"]
    assert BenchRecord.from_benchmark(entry).name == ""
    with pytest.raises(ResultsError) as info:
        BenchRecord.from_benchmark({"name": "t"})
    assert str(info.value) == ": a benchmark without extra_info"


def test_a_benchmark_is_described_with_its_threads_only_when_asked():
    entry = bench_entry("pytorch", "lenet", "forward", 0.01)
    entry["extra_info"]["threads"] = 2
    key = BenchRecord.from_benchmark(entry).key
    assert key.describe("pytorch") == "pytorch lenet forward cpu batch 128"
    assert key.describe("pytorch", threads=True) == "pytorch lenet forward cpu batch 128, 2 threads"
    assert dataclasses.replace(key, threads=None).describe("pytorch", threads=True) == (
        "pytorch lenet forward cpu batch 128")


@pytest.mark.parametrize("payload, said", [
    ([], "src: a process record that is not an object"),
    ({"label": "x"}, "src: a process record lacks frameworks, environment, exit_code, status, outcome, benchmarks, "
                     "json"),
    ({"noise": {"steal": 0.1}}, "src: process noise without seconds"),
    ({"noise": {"seconds": "1"}}, "src: process noise: field 'seconds' holds str '1', not <class 'float'>"),
    ({"exit_code": 1.5}, "src: process record: field 'exit_code' holds float '1.5', not int | None"),
])
def test_a_process_record_is_refused_naming_what_is_wrong(payload, said):
    base = {"label": "x", "frameworks": [], "environment": {}, "exit_code": 0, "status": "", "outcome": "ok",
            "benchmarks": 0, "json": "j"}
    with pytest.raises(ResultsError) as info:
        ProcessRecord.from_json({**base, **payload} if isinstance(payload, dict) and "label" not in payload
                                else payload, "src")
    assert str(info.value) == said


def test_process_noise_is_read_and_flagged_above_its_limits():
    base = {"label": "x", "frameworks": [], "environment": {}, "exit_code": None, "status": "", "outcome": "ok",
            "benchmarks": 0, "json": "j", "unknown": 1}
    record = ProcessRecord.from_json({**base, "noise": {"seconds": 2, "steal": 0.06, "other": 1}}, "src")
    assert record.noise == ProcessNoise(seconds=2, steal=0.06)
    assert record.noise.disturbed == "the hypervisor stole 6% of the CPU"
    assert ProcessNoise(1.0, others_cpu=0.10, steal=0.05).disturbed is None
    assert ProcessNoise(1.0, others_cpu=0.11, steal=0.051).disturbed == ("other processes used 11% of the CPU; the "
                                                                          "hypervisor stole 5% of the CPU")


@pytest.mark.parametrize("change, said", [
    ({"document": "accuracy"}, "p.json: holds accuracy results, not benchmarks"),
    ({"benchmarks": None}, "p.json: no benchmarks list"),
    ({"benchmarks": [1]}, "p.json: a benchmark entry that is not an object"),
    ({"processes": {}}, "p.json: processes is not a list"),
    ({"not_converged": {}}, "p.json: not_converged is not a list"),
    ({"processes": [{"label": "x"}]}, "p.json: a process record lacks frameworks, environment, exit_code, status, "
                                      "outcome, benchmarks, json"),
])
def test_a_run_document_is_refused_saying_which_part_is_wrong(change, said):
    with pytest.raises(ResultsError) as info:
        load_run("p.json", {**a_run(), **change})
    assert str(info.value) == said


def test_a_run_document_is_read_whole():
    doc = {**a_run(), "not_converged": [{"n": 1}, "odd"], "interrupted": 1, "command": ["a", 2]}
    run = load_run("p.json", doc)
    assert run.path == "p.json" and len(run.records) == 8 and [p.label for p in run.processes] == ["pytorch/1",
                                                                                                   "pytorch/2"]
    assert run.settings == {} and run.commit == {"id": "0123456789abcdef", "dirty": False}
    assert run.machine["machine"]["host"] == "test-host" and run.versions == {}
    assert run.datetime == "2026-11-01T10:00:00+00:00" and run.not_converged == [{"n": 1}]
    assert run.command == ["a", "2"] and run.interrupted is True
    assert run.process("pytorch/2") is run.processes[1] and run.process("nope") is None
    bare = load_run("b.json", {"benchmarks": [], "settings": [], "machine_info": [], "commit_info": []})
    assert (bare.settings, bare.machine, bare.commit, bare.datetime, bare.command, bare.interrupted) == (
        {}, {}, {}, "", [], False)


def test_a_process_json_is_stamped_and_compacted():
    doc = {"benchmarks": [{"stats": {"data": [1], "median": 2}, "extra_info": {"samples_s": [0.123456789, 1.0]}},
                          {"stats": None, "extra_info": None}, "odd"]}
    stamp(doc, {"threads": 2})
    assert doc["schema"] == "mnist-framework-bench" and doc["schema_version"] == 3 and doc["document"] == "benchmarks"
    assert doc["settings"] == {"threads": 2}
    assert doc["benchmarks"][0] == {"stats": {"median": 2}, "extra_info": {"samples_s": [0.12346, 1.0]}}
    assert compact_samples([123456.7, 0.000123456]) == [123460.0, 0.00012346]


def test_a_field_type_check_accepts_what_json_can_hold_for_it():
    from typing import Any

    from frameworks.results.validation import conforms

    assert conforms(3, Any) and conforms([1, "a"], list) and conforms({"a": 1}, dict)
    assert conforms({"a": 1}, dict[str, Any])
    assert not conforms([1], dict) and not conforms({1: 2}, dict[str, Any]) and not conforms([("a", 1)], dict[str, Any])
    assert conforms({1: 2}, ProcessNoise) and not conforms([], ProcessNoise)
    assert conforms(1, float) and not conforms(True, float) and not conforms(math.inf, float)
    assert conforms(None, int | None) and not conforms(1.0, int | None) and conforms(5, tuple)  # no rule: accepted


def test_the_run_document_bench_writes_has_every_part_under_its_name():
    process = ProcessRecord(label="p", frameworks=["pytorch"], environment={}, exit_code=0, status="ok",
                            outcome="ok", benchmarks=1, json="p.json")
    doc = benchmarks_document(command=["bench"], settings={"threads": 2}, processes=[process], benchmarks=[],
                              machine_info={"m": 1}, commit_info={"id": "c"}, not_converged=[{"n": 1}],
                              datetime="2026-12-06T00:00:00", suite_version="9.9", stopped="--budget 1 min: ...")
    assert doc == {"schema": "mnist-framework-bench", "schema_version": 3, "document": "benchmarks",
                   "suite_version": "9.9", "datetime": "2026-12-06T00:00:00", "command": ["bench"],
                   "settings": {"threads": 2}, "interrupted": False, "stopped": "--budget 1 min: ...",
                   "processes": [dataclasses.asdict(process)],
                   "benchmarks": [], "not_converged": [{"n": 1}], "machine_info": {"m": 1},
                   "commit_info": {"id": "c"}}
    with pytest.raises(ResultsError, match="^: a process record that is not an object$"):
        ProcessRecord.from_json([])


def test_compaction_leaves_what_has_no_rounds_alone():
    assert compact({"schema": "x"}) == {"schema": "x"}
    doc = {"benchmarks": [{"stats": {"median": 1}, "extra_info": {"samples_s": "odd"}}]}
    assert compact(doc) == {"benchmarks": [{"stats": {"median": 1}, "extra_info": {"samples_s": "odd"}}]}
