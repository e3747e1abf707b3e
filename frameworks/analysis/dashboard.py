"""``python -m frameworks dashboard STORE... --output SITE``: a static site from a results store.

One ``index.html`` that opens from the file system, with everything inlined: Vega-Lite charts written with
altair (the Vega, Vega-Lite and vega-embed JavaScript comes inlined from ``vl-convert-python``, never from a
CDN) and the data inside the chart specification. It shows the latest comparison between frameworks per
machine and device (ratios to the fastest with CIs and verdicts), throughput by framework for each network and
phase with error bars, each benchmark's history over runs with version changes marked, the comparisons between
versions of each framework, and the machine and versions of every run. Dropdowns of the chart library
filter every chart by network, framework and phase; the tables below the charts list everything.

Statistics come from ``stats`` (through ``throughputs`` and ``versions``); no figure is computed here.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..fileio import check_output, write_text
from ..stats import CONFIDENCE, Comparison, Estimate, compare_throughput, correct
from . import scaling
from .store import Store, StoredRun, load_store
from .throughputs import PHASE_ORDER, THROUGHPUT_KINDS, Benchmark, Unit, estimate, group, units
from .versions import VersionComparison, compare_versions

FILTERS = ("network", "framework", "phase")  # the fields the page's dropdowns filter every chart by
VERDICT_COLOURS = {"faster": "#1a9850", "slower": "#d73027", "equivalent": "#4575b4", "inconclusive": "#999999",
                   "fastest": "#000000"}
INSTALL_HINT = "pip install 'mnist-framework-bench[dashboard]' (altair and vl-convert-python)"


# --- what the page shows, as data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameworkComparison:
    """One framework against the fastest on one benchmark of one run (``comparison.a`` is the framework)."""

    benchmark: Benchmark
    column: str
    framework: str
    fastest: str
    run: str
    estimate: Estimate  # the framework's throughput over processes
    comparison: Comparison | None  # None for the fastest itself


def columns_on(stored: StoredRun, device: str) -> set[str]:
    """The frameworks (with their variants) a run measured throughput of on ``device``."""
    return {r.column for r in stored.run.records if r.kind in THROUGHPUT_KINDS and r.device == device}


def latest_runs(store: Store) -> dict[tuple[str, str], StoredRun]:
    """The run shown per (machine, device): the latest one comparing two or more frameworks there, else the latest
    comparing variants of one framework (e.g. one version's environment), else the latest one."""
    best: dict[tuple[str, str], tuple[tuple[bool, bool], StoredRun]] = {}
    for stored in store.runs:  # oldest first
        for device in sorted({r.device for r in stored.run.records if r.kind in THROUGHPUT_KINDS}):
            frameworks = {r.framework for r in stored.run.records
                          if r.kind in THROUGHPUT_KINDS and r.device == device}
            rank = (len(frameworks) > 1, len(columns_on(stored, device)) > 1)
            key = (stored.machine, device)
            if key not in best or rank >= best[key][0]:
                best[key] = (rank, stored)
    return {key: stored for key, (_, stored) in sorted(best.items())}


def framework_comparisons(stored: StoredRun, device: str) -> list[FrameworkComparison]:
    """Every framework against the fastest on each benchmark of one run on one device, judged as one family."""
    found = [u for u in units([stored]) if u.benchmark.device == device]
    rows: list[tuple[Benchmark, str, str, str, Any, list[Unit], list[Unit]]] = []
    for bench, bench_units in sorted(group(found, lambda u: u.benchmark).items(), key=lambda kv: kv[0].order):
        by_column = group(bench_units, lambda u: u.column)
        estimates = {column: estimate(us) for column, us in by_column.items()}
        fastest = max(estimates, key=lambda column: estimates[column].value)
        for column in sorted(by_column, key=lambda c: -estimates[c].value):
            rows.append((bench, column, by_column[column][0].framework, fastest, estimates[column],
                         by_column[column], by_column[fastest]))
    raw = [compare_throughput(b.label, column, fastest, [u.images_per_s for u in mine],
                              [u.images_per_s for u in best])
           for b, column, _, fastest, _, mine, best in rows if column != fastest]
    judged = iter(correct(raw))
    return [FrameworkComparison(b, column, framework, fastest, stored.name, est,
                                None if column == fastest else next(judged))
            for b, column, framework, fastest, est, _, _ in rows]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _filters(bench: Benchmark, framework: str) -> dict[str, Any]:
    return {"network": bench.network, "phase": bench.phase, "framework": framework, "where": bench.where,
            "stage": f"{bench.phase}, {bench.size}"}


def comparison_rows(latest: dict[tuple[str, str], StoredRun]) -> list[dict[str, Any]]:
    rows = []
    for (_, device), stored in latest.items():
        if len(columns_on(stored, device)) < 2:
            continue  # one framework: nothing to compare
        for fc in framework_comparisons(stored, device):
            c = fc.comparison
            rows.append({**_filters(fc.benchmark, fc.framework), "run": fc.run, "column": fc.column,
                         "row": f"{fc.benchmark.label} | {fc.column}", "fastest": fc.fastest,
                         "images_per_s": _finite(fc.estimate.value), "n": fc.estimate.n,
                         "ratio": 1.0 if c is None else _finite(c.ratio),
                         "low": None if c is None else _finite(c.low), "high": None if c is None else _finite(c.high),
                         "verdict": "fastest" if c is None else c.verdict,
                         "words": "the fastest here" if c is None else c.words, "order": len(rows)})
    return rows


def estimate_rows(latest: dict[tuple[str, str], StoredRun]) -> list[dict[str, Any]]:
    rows = []
    for (_, device), stored in latest.items():
        found = [u for u in units([stored]) if u.benchmark.device == device]
        for (bench, _), us in group(found, lambda u: (u.benchmark, u.key)).items():
            column, e = us[0].column, estimate(us)
            rows.append({**_filters(bench, us[0].framework), "run": stored.name, "column": column,
                         "version": us[0].version,
                         "panel": f"{bench.network}" + (f", {bench.threads} threads" if bench.threads else "")
                                  + f" | {bench.where}",
                         "value": _finite(e.value), "low": _finite(e.low), "high": _finite(e.high), "n": e.n})
    return rows


def history_rows(store: Store) -> list[dict[str, Any]]:
    """One point per run, benchmark and framework; ``changed`` marks a series' first point and each version
    change (where the chart writes the version)."""
    rows = []
    series = group(units(store.runs), lambda u: (u.benchmark, u.key))
    for (bench, _), us in sorted(series.items(), key=lambda kv: (kv[0][0].order, kv[1][0].column)):
        column = us[0].column
        previous = None
        for (when, run), run_units in sorted(group(us, lambda u: (u.when, u.run)).items()):
            e = estimate(run_units)
            version = run_units[0].version
            rows.append({**_filters(bench, run_units[0].framework), "column": column, "version": version,
                         "changed": version != previous, "when": when.isoformat(), "run": run,
                         "commit": run_units[0].commit, "panel": f"{bench.label} | {bench.where}",
                         "value": _finite(e.value), "low": _finite(e.low), "high": _finite(e.high), "n": e.n})
            previous = version
    return rows


def version_rows(comparisons: Sequence[VersionComparison]) -> list[dict[str, Any]]:
    return [{**_filters(v.benchmark, v.framework), "column": v.column, "older": v.older, "newer": v.newer,
             "row": f"{v.column} {v.older} -> {v.newer} | {v.benchmark.label}", "ratio": _finite(v.ratio),
             "low": _finite(v.comparison.low), "high": _finite(v.comparison.high), "verdict": v.comparison.verdict,
             "words": v.comparison.words, "n_older": v.comparison.n_b, "n_newer": v.comparison.n_a, "order": i}
            for i, v in enumerate(comparisons)]


def scaling_rows(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """Every scaling efficiency (``python -m frameworks scale``'s scaling.json, given or inside a directory)."""
    files = []
    for path in map(Path, paths):
        candidates = sorted(path.rglob("scaling.json")) if path.is_dir() else [path]
        files += [f for f in candidates if scaling.is_scaling(f)]
    rows = []
    for file in files:
        document = scaling.read(file)
        machine = document.get("machine", {})
        where = f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {document.get('started', '')}"
        for (framework, network), result in sorted(scaling.analyse(document["records"]).items()):
            for e in result["efficiencies"]:
                rows.append({"framework": framework, "network": network, "where": where,
                             "row": f"{network} | {framework} | {e.what} x{e.world_size}", "what": e.what,
                             "world_size": e.world_size, "efficiency": _finite(e.value), "low": _finite(e.low),
                             "high": _finite(e.high), "floor": 1 / e.world_size, "order": len(rows)})
    return rows


# --- charts (altair) -----------------------------------------------------------------------------------------
def _altair():
    try:
        import altair as alt
        import vl_convert  # noqa: F401  (inlines the JavaScript)
    except ImportError as exc:
        raise UsageError(f"the dashboard needs {exc.name}: {INSTALL_HINT}") from None
    return alt


def _filtered(chart: Any) -> Any:
    for name in FILTERS:
        chart = chart.transform_filter(f"filter_{name} === '' || datum.{name} === filter_{name}")
    return chart


def _row(alt: Any, field: str) -> Any:
    """Facet rows labelled above each panel."""
    return alt.Row(f"{field}:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top",
                                                              labelFontWeight="bold"))


def _title(alt: Any, text: str, subtitle: str) -> Any:
    return alt.TitleParams(text, subtitle=subtitle, anchor="start", fontSize=15, subtitleFontSize=11)


def _ratio_chart(alt: Any, rows: list[dict[str, Any]], axis: str, title: Any, tooltip: list[str]) -> Any:
    """Ratios with their intervals, coloured by verdict, one facet row per machine and device."""
    colour = alt.Color("verdict:N", scale=alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values())))
    y = alt.Y("row:N", sort=alt.EncodingSortField("order", op="min"), title=None, axis=alt.Axis(labelLimit=420))
    one = alt.Chart().mark_rule(strokeDash=[4, 4], color="#666666").encode(x=alt.datum(1))
    interval = alt.Chart().mark_rule(strokeWidth=2).encode(
        y=y, x=alt.X("low:Q", scale=alt.Scale(type="log")), x2="high:Q", color=colour)
    point = alt.Chart().mark_point(filled=True, size=60).encode(
        y=y, x=alt.X("ratio:Q", scale=alt.Scale(type="log"), title=axis), color=colour, tooltip=tooltip)
    layer = alt.layer(one, interval, point, data=alt.Data(values=rows)).properties(width=420, height=alt.Step(16))
    return _filtered(layer.facet(row=_row(alt, "where"))).resolve_scale(y="independent").properties(title=title)


def charts(data: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, Any] | None, list[str]]:
    """The page's charts as one Vega-Lite specification (so one set of dropdowns filters them all), and the
    names of the sections that had data."""
    alt = _altair()
    sections, names = [], []
    columns = sorted({r["column"] for rows in data.values() for r in rows if "column" in r})
    colour = alt.Color("column:N", title="framework", scale=alt.Scale(domain=columns))
    level = f"{CONFIDENCE:.0%}"
    if data["comparisons"]:
        names.append("comparisons")
        sections.append(_ratio_chart(
            alt, data["comparisons"], "throughput / the fastest's (log scale)",
            _title(alt, "Latest comparison per machine and device",
                   f"each framework's throughput over the fastest's on each benchmark, {level} CI over processes; "
                   "colour: the verdict after Benjamini-Hochberg"),
            ["run:N", "row:N", "images_per_s:Q", "n:Q", "ratio:Q", "low:Q", "high:Q", "words:N"]))
    if data["estimates"]:
        names.append("throughput")
        stages = sorted({r["stage"] for r in data["estimates"]}, key=_stage_order)
        base = alt.Chart().encode(x=alt.X("stage:N", title=None, sort=stages,
                                               axis=alt.Axis(labelAngle=-25, labelAlign="right")),
                                  xOffset=alt.XOffset("column:N", scale=alt.Scale(domain=columns)))
        bars = base.mark_bar().encode(
            y=alt.Y("value:Q", title="images/s"), color=colour,
            tooltip=["run:N", "column:N", "version:N", "stage:N", "value:Q", "low:Q", "high:Q", "n:Q"])
        error = base.mark_rule(color="black").encode(y="low:Q", y2="high:Q")
        layer = alt.layer(bars, error, data=alt.Data(values=data["estimates"])).properties(
            width=alt.Step(14, **{"for": "offset"}), height=150)
        sections.append(_filtered(layer.facet(row=_row(alt, "panel"))).resolve_scale(y="independent").properties(
            title=_title(alt, "Throughput by framework for each network and phase",
                         f"the latest comparison's runs; geometric mean over processes, error bars: {level} CI "
                         "(none with one process)")))
    if data["history"]:
        names.append("history")
        base = alt.Chart().encode(x=alt.X("when:T", title="run finished (UTC)"), color=colour)
        line = base.mark_line(point=True).encode(
            y=alt.Y("value:Q", title="images/s", scale=alt.Scale(zero=False)),
            tooltip=["run:N", "commit:N", "column:N", "version:N", "when:T", "value:Q", "low:Q", "high:Q", "n:Q"])
        error = base.mark_rule().encode(y="low:Q", y2="high:Q")
        versions = base.mark_text(dy=-12, fontSize=9, align="left").encode(y="value:Q", text="version:N"
                                                                           ).transform_filter("datum.changed")
        layer = alt.layer(line, error, versions, data=alt.Data(values=data["history"])).properties(width=560,
                                                                                                  height=120)
        sections.append(_filtered(layer.facet(row=_row(alt, "panel"))).resolve_scale(y="independent").properties(
            title=_title(
            alt, "History over runs",
            f"each benchmark per machine and device, geometric mean over each run's processes with its {level} CI; "
            "the version is written where it changes")))
    if data["versions"]:
        names.append("versions")
        sections.append(_ratio_chart(
            alt, data["versions"], "throughput newer / older (log scale)",
            _title(alt, "Version comparisons",
                   f"each framework's newer version over the one before it, {level} CI over processes; above 1 the "
                   "newer is faster"),
            ["row:N", "n_older:Q", "n_newer:Q", "ratio:Q", "low:Q", "high:Q", "words:N"]))
    if data.get("scaling"):
        names.append("scaling")
        y = alt.Y("row:N", sort=alt.EncodingSortField("order", op="min"), title=None, axis=alt.Axis(labelLimit=420))
        x = alt.X("efficiency:Q", scale=alt.Scale(domain=[0, 1.2]),
                  title="scaling efficiency: throughput(N) / (N x throughput(1 process x 1 thread))")
        one = alt.Chart().mark_rule(strokeDash=[4, 4], color="#666666").encode(x=alt.datum(1))
        floor = alt.Chart().mark_tick(color="#999999", thickness=1).encode(y=y, x="floor:Q")
        interval = alt.Chart().mark_rule(strokeWidth=2).encode(y=y, x="low:Q", x2="high:Q", color="what:N")
        point = alt.Chart().mark_point(filled=True, size=60).encode(
            y=y, x=x, color=alt.Color("what:N", title="scaling"),
            tooltip=["row:N", "efficiency:Q", "low:Q", "high:Q", "where:N"])
        layer = alt.layer(one, floor, interval, point, data=alt.Data(values=data["scaling"])).properties(
            width=420, height=alt.Step(16))
        sections.append(_filtered(layer.facet(row=_row(alt, "where"))).properties(title=_title(
            alt, "Data-parallel scaling efficiency",
            f"strong (same global batch) and weak (same batch per rank), {level} CI over launches; the grey tick "
            "is 1/N, where the extra replicas add nothing")))
    if not sections:
        return None, []
    options = {name: sorted({r[name] for rows in data.values() for r in rows if name in r}) for name in FILTERS}
    spec = alt.vconcat(*sections, spacing=40).resolve_scale(color="independent").configure_view(
        stroke="#dddddd").to_dict()
    # the dropdowns: top-level parameters bound to inputs of the library, placed above the charts
    spec["params"] = [*spec.get("params", []), *(alt.param(
        name=f"filter_{name}", value="", bind=alt.binding_select(
            options=["", *options[name]], labels=["all", *options[name]], name=f"{name} ", element="#filters"),
    ).param.to_dict() for name in FILTERS)]
    return spec, names


def _stage_order(stage: str) -> tuple:
    phase = stage.split(",")[0]
    return (PHASE_ORDER.index(phase) if phase in PHASE_ORDER else len(PHASE_ORDER), stage)


# --- the page ------------------------------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _interval(low: float | None, high: float | None, digits: int = 3) -> str:
    return "-" if low is None or high is None else f"{low:.{digits}f}-{high:.{digits}f}"


def runs_table(store: Store) -> str:
    rows = []
    for s in reversed(store.runs):  # newest first
        run = s.run
        versions: dict[str, set[str]] = {}
        for r in run.records:
            if r.version:
                versions.setdefault(r.column.split(" [")[0], set()).add(r.version)
        devices = sorted({r.device for r in run.records})
        disturbed = sum(1 for p in run.processes if p.noise is not None and p.noise.disturbed)
        ok = sum(1 for p in run.processes if p.outcome == "ok")
        m = run.machine.get("machine", {})
        rows.append([s.name, s.when.strftime("%Y-%m-%d %H:%M UTC"), s.machine, s.host or "-", ", ".join(devices),
                     s.commit or "-", "; ".join(f"{k} {', '.join(sorted(v))}" for k, v in sorted(versions.items())),
                     f"{ok} of {len(run.processes)} ok" + (f", {disturbed} disturbed" if disturbed else "")
                     + (", interrupted" if run.interrupted else ""),
                     f"Python {m.get('python', '?')}, {run.machine.get('threads') or '?'} threads"])
    return _table(["run", "finished", "machine", "host", "devices", "commit", "framework versions", "processes",
                   "setting"], rows)


def comparison_tables(rows: list[dict[str, Any]]) -> str:
    parts = []
    for where, where_rows in group_dicts(rows, "where").items():
        run = where_rows[0]["run"]
        parts.append(f"<h3>{html.escape(where)} <small>(run {html.escape(run)})</small></h3>")
        parts.append(_table(
            ["benchmark", "framework", "images/s", "processes", "/ fastest", f"{CONFIDENCE:.0%} CI", "verdict"],
            [[r["row"].split(" | ")[0], r["column"], _rate(r["images_per_s"]), r["n"],
              "-" if r["ratio"] is None else f"{r['ratio']:.3f}", _interval(r["low"], r["high"]), r["words"]]
             for r in where_rows]))
    return "".join(parts) or "<p>No run here compares two frameworks (or variants) on one machine and device.</p>"


def version_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ("<p>No framework has runs at two versions of the same benchmark on the same machine in these runs. "
                "<code>tox -m bench-versions</code> makes them.</p>")
    return _table(["machine and device", "framework", "benchmark", "older -> newer", "processes", "newer / older",
                   f"{CONFIDENCE:.0%} CI", "verdict"],
                  [[r["where"], r["column"], r["row"].split(" | ", 1)[1], f"{r['older']} -> {r['newer']}",
                    f"{r['n_older']} v {r['n_newer']}", "-" if r["ratio"] is None else f"{r['ratio']:.3f}",
                    _interval(r["low"], r["high"]), r["words"]] for r in rows])


def scaling_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    return "<h2>Data-parallel scaling</h2>" + _table(
        ["where", "network", "framework", "scaling", "N", "efficiency", f"{CONFIDENCE:.0%} CI"],
        [(r["where"], r["network"], r["framework"], r["what"], r["world_size"],
          "-" if r["efficiency"] is None else f"{r['efficiency']:.2f}", _interval(r["low"], r["high"], 2))
         for r in rows])


def group_dicts(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; max-width: 1500px; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
#filters { position: sticky; top: 0; background: #fff; padding: 0.4em 0; z-index: 2; border-bottom: 1px solid #eee; }
#filters .vega-bind { display: inline-block; margin-right: 1.5em; }
.note { color: #555; font-size: 0.9em; }
"""


def page(store: Store, data: dict[str, list[dict[str, Any]]], spec: dict[str, Any] | None, sections: list[str],
         script: str, title: str) -> str:
    """The whole page: header, dropdowns, charts, tables, and the inlined JavaScript."""
    built = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machines = sorted({s.machine for s in store.runs})
    skipped = ("<h2>Files skipped</h2>" + _table(["file", "why"], store.skipped)) if store.skipped else ""
    spec_json = json.dumps(spec).replace("</", "<\\/") if spec else "null"
    charts_html = (f'<div id="filters"></div><div id="charts" data-sections="{",".join(sections)}"></div>' if spec else
                   "<p>No throughput results to chart.</p>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script>{script}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">{len(store.runs)} runs from {len(machines)} machine{'s' if len(machines) != 1 else ''}
({html.escape(', '.join(store.sources))}), built {built}. Every figure is images/s: each benchmark process is
summarised by its median timed round, and a framework's figure is the geometric mean over its processes
(one per <code>--repeats</code>) with a {CONFIDENCE:.0%} bootstrap interval over processes. Comparisons use an
exact Mann-Whitney U test with Benjamini-Hochberg over each table. The dropdowns filter every chart; the tables
below the charts list everything.</p>
{charts_html}
<h2>Latest comparison per machine and device</h2>
{comparison_tables(data["comparisons"])}
<h2>Version comparisons</h2>
{version_table(data["versions"])}
{scaling_table(data.get("scaling", []))}
<h2>Runs: machine and versions</h2>
{runs_table(store)}
{skipped}
<script>
const spec = {spec_json};
if (spec) {{
  vegaEmbed("#charts", spec, {{renderer: "svg", actions: false}}).catch((error) => console.error(error));
}}
</script>
</body>
</html>
"""


@functools.lru_cache(maxsize=1)
def javascript() -> str:
    """Vega, Vega-Lite and vega-embed in one script (from vl-convert-python, matching altair's Vega-Lite)."""
    _altair()
    import vl_convert
    from altair.vegalite import SCHEMA_VERSION

    bundle = vl_convert.javascript_bundle(vl_version="_".join(SCHEMA_VERSION.split(".")[:2]))
    return bundle.replace("</script", "<\\/script")


def site_data(store: Store, paths: Sequence[str | os.PathLike] = ()) -> dict[str, list[dict[str, Any]]]:
    latest = latest_runs(store)
    return {"comparisons": comparison_rows(latest), "estimates": estimate_rows(latest),
            "history": history_rows(store), "versions": version_rows(compare_versions(store.runs)),
            "scaling": scaling_rows(paths)}


def build(paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike, *,
          title: str = "MNIST framework benchmark") -> tuple[Path, Store]:
    """Write ``output_dir/index.html`` from the runs in ``paths``; returns its path and the store read."""
    _altair()
    store = load_store(paths)
    if not store.runs:
        why = "; ".join(f"{p}: {w}" for p, w in store.skipped[:5]) or "no run files there"
        raise UsageError(f"no usable runs in {', '.join(map(str, paths))} ({why})")
    out = check_output(output_dir, "--output")
    data = site_data(store, paths)
    spec, sections = charts(data)
    return write_text(out / "index.html", page(store, data, spec, sections, javascript(), title)), store
