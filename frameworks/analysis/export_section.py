"""The report's "Deployment" section: per network, each framework's exported artifacts (status, equality with
the source framework, size, cold start, per-request latency, serving memory, and with ``export --int8`` the test
accuracy), the int8 artifacts beside the float ones they were quantized from (accuracy drop with its interval,
latency, size), the agreement of one format's artifacts across frameworks, and the per-request latency of each
framework itself from a benchmark run.

``deployment_section(records, summaries)`` takes the ``BenchRecord``s of benchmark runs (its latency records
are used) and the export summaries (``schema.load_exports``) and returns Markdown lines; either may be empty.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from ..registry import FRAMEWORKS
from ..results import LATENCY, OK, BenchmarkKey, BenchRecord, ExportRecord, ExportSummary
from ..specs import NETWORKS
from ..stats import latency_percentiles

STATUS_WORDS = {"ok": "equal", "unequal": "**unequal**", "failed": "**failed**", "skipped": "skipped"}
#: an int8 artifact is judged by its accuracy, not by equality (deployment.judge_quantized)
INT8_STATUS_WORDS = {"ok": "ok (accuracy)", "unequal": "**accuracy drop**", "failed": "**failed**",
                     "skipped": "skipped"}


def status_text(record: ExportRecord) -> str:
    words = INT8_STATUS_WORDS if record.precision != "fp32" else STATUS_WORDS
    return words.get(record.status, record.status)


def percent(fraction: float | None) -> str:
    return "-" if fraction is None or not math.isfinite(fraction) else f"{100 * fraction:.2f}%"


def ms(seconds: float | None) -> str:
    """A duration in milliseconds with three significant figures ("-" when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    value = 1e3 * seconds
    return f"{value:.3g} ms" if value < 1000 else f"{value:,.0f} ms"


def seconds_text(seconds: float | None) -> str:
    return "-" if seconds is None or not math.isfinite(seconds) else f"{seconds:.2f} s"


def mib(size_bytes: int | None) -> str:
    return "-" if size_bytes is None else f"{size_bytes / 2**20:.2f} MiB"


def _framework_order(name: str) -> int:
    order = {n: i for i, n in enumerate(FRAMEWORKS)}
    return order.get(name.split(" [")[0], len(order))


def _network_order(name: str) -> int:
    order = {n: i for i, n in enumerate(NETWORKS)}
    return order.get(name, len(order))


def _ordered(records: Iterable[ExportRecord]) -> list[ExportRecord]:
    return sorted(records, key=lambda r: (_framework_order(r.framework), r.format))


def _latency_cells(record: ExportRecord, batch: int) -> str:
    match = [lat for lat in record.latency if lat.batch == batch and lat.samples_s]
    if not match:
        return "-"
    p = match[0].percentiles
    return f"{ms(p['p50_s'])} / {ms(p['p90_s'])} / {ms(p['p99_s'])} / {ms(p['max_s'])}"


def export_table(records: Sequence[ExportRecord], batch: int) -> list[str]:
    """One row per artifact of one network (a test accuracy column where artifacts were scored)."""
    scored = any(r.test_accuracy is not None for r in records)
    lines = [f"| framework | artifact | served by | status | max relative error vs source | size | cold start: import "
             f"+ load + first prediction | latency p50 / p90 / p99 / max (batch {batch}) | peak memory serving |"
             + (" test accuracy |" if scored else ""),
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if scored else "")]
    for r in _ordered(records):
        error = "-" if r.max_relative_error is None else f"{r.max_relative_error:.1e}"
        cold = "-"
        if r.cold_start is not None:
            c = r.cold_start
            cold = (f"{seconds_text(c.total_s)} = {seconds_text(c.import_s)} + {seconds_text(c.load_s)} + "
                    f"{ms(c.first_prediction_s)}")
        memory = "-" if r.serving_peak_memory_mib is None else f"{r.serving_peak_memory_mib:,.0f} MiB"
        runtime = r.runtime_details.get("runtime", r.runtime) if r.runtime_details else (r.runtime or "-")
        lines.append(f"| {r.framework} | {r.format} | {runtime} | {status_text(r)} | {error} "
                     f"| {mib(r.size_bytes)} | {cold} | {_latency_cells(r, batch)} | {memory} |"
                     + (f" {percent(r.test_accuracy)} |" if scored else ""))
    return lines


def _p50(record: ExportRecord | None, batch: int) -> float | None:
    match = [lat for lat in record.latency if lat.batch == batch and lat.samples_s] if record else []
    return match[0].percentiles["p50_s"] if match else None


def quantized_table(records: Sequence[ExportRecord], batch: int) -> list[str]:
    """Each int8 artifact of one network beside the float artifact it was quantized from (same framework)."""
    quantized = [r for r in _ordered(records) if r.precision != "fp32"]
    if not quantized:
        return []
    lines = ["| framework | int8 artifact | quantized from | test accuracy: float / int8 | accuracy drop, points "
             "(95% CI) | images right in only one: float / int8 | same class as the source | status | "
             f"latency p50 (batch {batch}): float / int8 | size: float / int8 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in quantized:
        source = next((s for s in records if s.framework == r.framework and s.format == r.derived_from
                       and s.precision == "fp32"), None)
        d = r.accuracy_drop
        drop = "-" if d is None else f"{100 * d.drop:+.2f} ({100 * d.low:+.2f} to {100 * d.high:+.2f})"
        only = "-" if d is None else f"{d.only_source} / {d.only_quantized}"
        agreement = "-" if r.class_agreement is None else f"{percent(r.class_agreement)} of {r.images}"
        fp32_p50, int8_p50 = _p50(source, batch), _p50(r, batch)
        speed = f" ({fp32_p50 / int8_p50:.2f}x)" if fp32_p50 and int8_p50 else ""
        lines.append(f"| {r.framework} | {r.format} | {r.derived_from or '-'} | "
                     f"{percent(d.source_accuracy if d else None)} / {percent(r.test_accuracy)} | {drop} | {only} | "
                     f"{agreement} | {status_text(r)} | {ms(fp32_p50)} / {ms(int8_p50)}{speed} | "
                     f"{mib(source.size_bytes if source else None)} / {mib(r.size_bytes)} |")
    return lines


def _pooled_latency(records: Iterable[BenchRecord]) -> dict[BenchmarkKey, list[BenchRecord]]:
    """The latency records of each benchmark (``BenchmarkKey``), over every process that ran it."""
    pooled: dict[BenchmarkKey, list[BenchRecord]] = defaultdict(list)
    for r in records:
        if r.kind == LATENCY and r.samples_s:
            pooled[r.key].append(r)
    return pooled


def framework_latency_table(records: Sequence[BenchRecord], network: str) -> list[str]:
    """Per-request latency inside each framework (the benchmark run's latency group). These are percentiles of
    requests, not a throughput per process: the requests of a benchmark's repeated processes are pooled into one
    distribution (``stats.latency_percentiles``)."""
    pooled = {k: v for k, v in _pooled_latency(records).items() if k.network == network}
    if not pooled:
        return []
    threads = len({k.threads for k in pooled}) > 1  # named only where they differ, so rows stay apart
    lines = ["| framework | device | batch | requests (processes) | p50 | p90 | p99 | max | first request | "
             "peak memory |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key, group in sorted(pooled.items(), key=lambda kv: (kv[0].device, kv[0].batch or kv[0].images,
                                                            _framework_order(kv[1][0].column), kv[0].threads or 0)):
        device, batch = key.device, key.batch or key.images
        column = group[0].column + (f", {key.threads} threads" if threads and key.threads else "")
        samples = [t for r in group for t in r.samples_s]
        p = latency_percentiles(samples)
        first = [r.first_call_s for r in group if r.first_call_s is not None]
        peaks = [r.peak_memory_mib for r in group if r.peak_memory_mib is not None]
        lines.append(f"| {column} | {device} | {batch} | {p['requests']:,} ({len(group)}) | {ms(p['p50_s'])} | "
                     f"{ms(p['p90_s'])} | {ms(p['p99_s'])} | {ms(p['max_s'])} | "
                     f"{ms(sorted(first)[len(first) // 2]) if first else '-'} | "
                     f"{f'{max(peaks):,.0f} MiB' if peaks else '-'} |")
    return lines


def deployment_section(records: Sequence[BenchRecord], summaries: Sequence[ExportSummary]) -> list[str]:
    """The "Deployment" section as Markdown lines (empty when there is nothing to show)."""
    exports = [r for s in summaries for r in s.records]
    latency = [r for r in records if r.kind == LATENCY]
    if not exports and not latency:
        return []
    out = ["## Deployment", ""]
    if summaries:
        settings = summaries[0].settings
        batches = ", ".join(map(str, settings.get("latency_batches") or [1]))
        weights = "; ".join(sorted({str(w) for s in summaries for w in (s.settings.get("weights") or {}).values()}))
        out += [f"Each framework exported each network from {weights or 'the recorded weights'}. Every artifact was "
                "loaded in its own runtime in a fresh process: its cold start is that process's import of the "
                "runtime, load of the artifact and first one-image prediction. Its outputs on "
                f"{settings.get('images', 'the')} real MNIST test images were compared with the source framework's "
                f"own forward (\"equal\": the worst image's relative error is within "
                f"{float(settings.get('tolerance', 1e-5)):.0e}). Then {settings.get('latency_requests', 'the')} "
                f"requests were served one after another at batch {batches}, each timed from numpy in to numpy out, "
                f"with {settings.get('threads') or 'all'} threads; the peak memory is the serving process's peak "
                "resident set while it served. Sources: " + ", ".join(f"`{s.path}`" for s in summaries) + ".", ""]
        int8 = next((s.settings["int8"] for s in summaries if isinstance(s.settings.get("int8"), dict)), None)
        if int8:
            margin = 100 * float(int8.get("margin", 0.01))
            out += [f"int8 artifacts were made by each runtime's own quantization tooling, calibrated on "
                    f"{int8.get('calibration', 'MNIST training images')}, and served, compared and timed like the "
                    "others. They cannot equal the float forward within the tolerance, so they are judged by "
                    f"accuracy instead: each artifact classified the {int8.get('test_images', 'MNIST')} test images, "
                    "and an int8 artifact is \"ok (accuracy)\" when the "
                    f"{float(int8.get('confidence', 0.95)):.0%} interval of its accuracy drop against the float "
                    f"artifact it was quantized from (paired: the same images; Newcombe's interval) ends under "
                    f"{margin:g} point; its share of the compared images classified as the source framework does "
                    "is shown beside it.", ""]
    if latency:
        out += ["Latency inside each framework comes from the benchmark run's `latency` group: the same kind of "
                "request (numpy in, the framework's tensors, eval-mode forward, numpy out) on a built model, at "
                "least the requested number of requests per process.", ""]
    networks = sorted({r.network for r in exports} | {r.network for r in latency}, key=_network_order)
    for network in networks:
        out += [f"### {network}", ""]
        rows = [r for r in exports if r.network == network]
        if rows:
            batch = min((lat.batch for r in rows for lat in r.latency), default=1)
            out += ["Exported artifacts:", ""] + export_table(rows, batch) + [""]
            int8 = quantized_table(rows, batch)
            if int8:
                out += ["int8 artifacts beside the float artifacts they were quantized from (accuracy on the same "
                        "test images; the drop is float minus int8):", ""] + int8 + [""]
            notes = [f"- {r.framework} {r.format}: {r.status}: {r.reason}" for r in rows if r.status != OK and r.reason]
            if notes:
                out += notes + [""]
            agreeing = [a for s in summaries for a in s.agreements if a.network == network]
            if agreeing:
                out += ["The same format from different frameworks, served by one runtime on the same images:", ""]
                out += ["| format | frameworks | max relative difference | same outputs |", "|---|---|---|---|"]
                out += [f"| {a.format} | {' vs '.join(a.frameworks)} | {a.max_relative_error:.1e} | "
                        f"{'yes' if a.agree else '**no**'} |" for a in agreeing]
                out.append("")
            more = sorted({lat.batch for r in rows for lat in r.latency} - {batch})
            for extra in more:
                out += [f"Artifact latency at batch {extra} (p50 / p90 / p99 / max):", "",
                        "| framework | artifact | latency |", "|---|---|---|"]
                out += [f"| {r.framework} | {r.format} | {_latency_cells(r, extra)} |" for r in _ordered(rows)
                        if r.latency]
                out.append("")
        table = framework_latency_table(latency, network)
        if table:
            out += ["Per-request latency inside each framework (benchmark run):", ""] + table + [""]
    left_out = {name: why for s in summaries for name, why in s.left_out.items()}
    if left_out:
        out += ["Not exported here:", ""] + [f"- {name}: {why}" for name, why in left_out.items()] + [""]
    return out

