"""The dashboard site, built from hand-made results (code paths, not measurements); the page in a real
browser is tests/test_dashboard_browser.py."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("scipy", reason="the statistics need scipy: pip install scipy")

from frameworks.analysis import dashboard
from frameworks.analysis.store import load_store
from frameworks.cli import main

from .helpers import example_store, run_doc, step_entries

pytest.importorskip("altair", reason="the dashboard needs altair: pip install 'mnist-framework-bench[dashboard]'")
pytest.importorskip("vl_convert", reason="the dashboard needs vl-convert-python (it inlines the JavaScript)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    example_store(root / "store")
    index, store = dashboard.build([root / "store"], root / "site")
    return index, index.read_text(), store


def test_the_site_is_one_page_that_needs_no_server_and_no_network(site):
    index, page, _ = site
    assert index.name == "index.html" and sorted(p.name for p in index.parent.iterdir()) == ["index.html"]
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # the inlined JavaScript is one script
    assert page.count("<script>") == 2 and "<script src" not in page
    assert re.search(r"<(link|img|iframe)\b[^>]*\b(src|href)=", markup) is None  # nothing to fetch
    assert "vegaEmbed(" in page and 'data-sections="comparisons,throughput,history,versions"' in page
    spec = json.loads(re.search(r"const spec = (.*);\n", page).group(1).replace("<\\/", "</"))
    assert len(spec["vconcat"]) == 4 and {p["name"] for p in spec["params"]} == {
        "filter_network", "filter_framework", "filter_phase"}
    assert all(p["bind"]["input"] == "select" and p["bind"]["element"] == "#filters" for p in spec["params"])


def test_the_tables_list_every_comparison_version_and_run(site):
    _, page, store = site
    assert "pytorch [compile] is faster than keras-tensorflow by" in page
    assert "2.13.0+cpu -&gt; 2.14.1+cu130" in page and "3.11.3 (tensorflow 2.20.0) -&gt; 3.15.1" in page
    for run in ("a.json", "b.json", "c.json", "d.json"):
        assert f"<td>{run}</td>" in page
    assert "Files skipped" in page and "broken.json" in page and "other-project.json" in page
    assert len(store.runs) == 4 and len(store.skipped) == 2


def test_the_latest_comparison_is_the_latest_run_comparing_frameworks(site):
    _, _, store = site
    latest = dashboard.latest_runs(store)
    ((machine, device), run), = latest.items()
    assert device == "cpu" and run.name == "b.json"  # c.json and d.json are later but hold one framework each
    rows = dashboard.framework_comparisons(run, "cpu")
    fastest = [r for r in rows if r.comparison is None]
    assert {r.column for r in fastest} == {"pytorch [compile]"} and len(fastest) == 4
    assert all(r.comparison.verdict == "slower" and r.comparison.ratio < 1 for r in rows if r.comparison)


def test_history_writes_the_version_where_it_changes(site):
    _, _, store = site
    rows = [r for r in dashboard.history_rows(store)
            if r["column"] == "pytorch" and r["network"] == "lenet" and r["phase"] == "forward"]
    assert [(r["run"], r["version"], r["changed"]) for r in rows] == [
        ("a.json", "2.13.0+cpu", True), ("b.json", "2.14.1+cu130", True), ("c.json", "2.13.0+cpu", True),
        ("d.json", "2.14.1+cu130", True)]
    tf = [r for r in dashboard.history_rows(store) if r["framework"] == "keras-tensorflow"]
    assert all(r["low"] < r["value"] < r["high"] and r["n"] == 5 for r in tf)


def test_a_single_process_run_has_no_interval(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "r.json").write_text(json.dumps(run_doc(step_entries({"pytorch [eager]": 1.0}), repeats=1)))
    rows = dashboard.estimate_rows(dashboard.latest_runs(load_store([tmp_path / "s"])))
    assert rows and all(r["n"] == 1 and r["low"] is None and r["high"] is None for r in rows)


def test_the_command_refuses_an_empty_store_and_a_file_as_output(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["dashboard", str(tmp_path / "empty"), "--output", str(tmp_path / "site")]) == 2
    assert "no usable runs" in capsys.readouterr().err
    example_store(tmp_path / "store")
    (tmp_path / "file").write_text("")
    assert main(["dashboard", str(tmp_path / "store"), "--output", str(tmp_path / "file")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert main(["dashboard", str(tmp_path / "store"), "--output", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "index.html").exists() and "wrote" in capsys.readouterr().out


def test_runs_of_one_framework_compare_nothing_but_still_chart(tmp_path):
    (tmp_path / "s").mkdir()
    for day, version in ((1, "2.13.0"), (2, "2.14.1")):
        doc = run_doc(step_entries({"pytorch [eager]": 1.0}), versions={"pytorch": version},
                      when=f"2026-11-0{day}T00:00:00")
        (tmp_path / "s" / f"{day}.json").write_text(json.dumps(doc))
    index, _ = dashboard.build([tmp_path / "s"], tmp_path / "site")
    page = index.read_text()
    assert 'data-sections="throughput,history,versions"' in page
    assert "No run here compares two frameworks" in page


def test_a_later_run_of_one_frameworks_variants_does_not_hide_the_comparison_of_frameworks(tmp_path):
    store_dir = tmp_path / "s"
    store_dir.mkdir()
    both = run_doc(step_entries({"pytorch [eager]": 1.0, "keras-tensorflow [default]": 1.2}),
                   when="2026-11-01T00:00:00")
    variants = run_doc(step_entries({"keras-tensorflow [default]": 1.2, "keras-tensorflow [jit]": 2.0}),
                       when="2026-11-02T00:00:00")
    (store_dir / "both.json").write_text(json.dumps(both))
    (store_dir / "variants.json").write_text(json.dumps(variants))
    ((_, run),) = dashboard.latest_runs(load_store([store_dir])).items()
    assert run.name == "both.json"


def test_a_scaling_run_beside_the_store_gets_its_chart_and_table(tmp_path):
    example_store(tmp_path / "store")
    records = []
    for repeat, f in enumerate((0.98, 1.0, 1.02)):
        common = {"framework": "pytorch", "network": "lenet", "repeat": repeat, "global_batch": 64}
        records.append({**common, "config": "1x1", "kind": "baseline", "world_size": 1, "rank": 0,
                        "median_s": 0.064 * f})
        records += [{**common, "config": "2x1", "kind": "strong", "world_size": 2, "rank": r,
                     "median_s": 0.064 / 1.5 * f} for r in (0, 1)]
    (tmp_path / "scaling").mkdir()
    (tmp_path / "scaling" / "scaling.json").write_text(json.dumps(
        {"kind": "scaling", "version": 1, "repeats": 3, "machine": {"cpu": "test CPU", "cores": 2},
         "started": "2026-12-06T02:00:00", "records": records}))
    index, _ = dashboard.build([tmp_path / "store", tmp_path / "scaling"], tmp_path / "site")
    page = index.read_text()
    assert 'data-sections="comparisons,throughput,history,versions,scaling"' in page
    assert "<h2>Data-parallel scaling</h2>" in page
    row = re.search(r"<td>lenet</td><td>pytorch</td><td>strong</td><td>2</td><td>([\d.]+)</td>", page)
    assert row and row.group(1) == "0.75"
    spec = json.loads(re.search(r"const spec = (.*);\n", page).group(1).replace("<\\/", "</"))
    assert len(spec["vconcat"]) == 5
