"""``python -m frameworks report RESULTS.json [...]``: benchmark JSON -> a Markdown comparison and PNG charts.

Reads the merged JSON that ``python -m frameworks bench`` writes or plain pytest-benchmark JSON. Files are
written atomically under new names; an existing report is never overwritten.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import FRAMEWORKS, NETWORKS

PHASE_ORDER = ("forward", "backward", "train_step", "epoch-staged", "epoch-framework")


@dataclass(frozen=True)
class Row:
    """One benchmark result, flattened."""

    framework: str
    variant: str
    network: str
    device: str
    phase: str
    batch: int | None
    images: int
    median_s: float
    iqr_s: float
    rounds: int
    first_call_s: float | None
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def images_per_s(self) -> float:
        return self.images / self.median_s if self.median_s > 0 else math.nan

    @property
    def column(self) -> str:
        default = next(iter(FRAMEWORKS[self.framework].variants)) if self.framework in FRAMEWORKS else ""
        return self.framework if self.variant in ("", default) else f"{self.framework} [{self.variant}]"

    @property
    def spread(self) -> str:
        if self.rounds < 2 or self.median_s <= 0:
            return f"{self.rounds} round" + ("s" if self.rounds != 1 else "")
        return f"IQR {100 * self.iqr_s / self.median_s:.0f}%"


@dataclass
class Results:
    """Everything read from one or more JSON files."""

    rows: list[Row]
    fidelity: list[dict[str, Any]]
    time_to_accuracy: list[dict[str, Any]]
    not_converged: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    machine: dict[str, Any]
    commit: dict[str, Any]
    sources: list[str]


def load(paths: Sequence[str | os.PathLike]) -> Results:
    """Read result files; raise ``ValueError`` naming a file that is not benchmark JSON."""
    res = Results([], [], [], [], [], {}, {}, [])
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not readable as JSON ({exc})") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
            raise ValueError(f"{path}: not pytest-benchmark JSON (no 'benchmarks' list)")
        res.sources.append(str(path))
        res.machine = res.machine or doc.get("machine_info", {})
        res.commit = res.commit or doc.get("commit_info", {})
        res.runs += doc.get("runs", [])
        res.not_converged += doc.get("not_converged", [])
        for bench in doc["benchmarks"]:
            info, stats = bench.get("extra_info", {}), bench.get("stats", {})
            if "framework" not in info or "median" not in stats:
                continue  # not one of the suite's benchmarks
            if info.get("phase") == "time-to-accuracy":
                res.time_to_accuracy.append({**info, "seconds": stats["median"]})
                continue
            row = Row(framework=info["framework"], variant=info.get("variant", ""), network=info["network"],
                      device=info["device"], phase=info["phase"], batch=info.get("batch"),
                      images=info.get("images", info.get("batch", 0)), median_s=stats["median"],
                      iqr_s=stats.get("iqr", 0.0), rounds=stats.get("rounds", 1),
                      first_call_s=info.get("first_call_s"), version=info.get("version", ""), extra=info)
            if bench.get("group", "").startswith("fidelity"):
                res.fidelity.append({"row": row, **info})
            else:
                res.rows.append(row)
    return res


def fmt_rate(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:,.0f}"


def _sorted_columns(rows: Iterable[Row]) -> list[str]:
    order = {name: i for i, name in enumerate(FRAMEWORKS)}
    return sorted({r.column for r in rows}, key=lambda c: (order.get(c.split(" [")[0], 99), c))


def throughput_table(rows: list[Row], device: str) -> list[str]:
    """images/s, frameworks as columns, (network, phase, batch) as rows."""
    rows = [r for r in rows if r.device == device]
    columns = _sorted_columns(rows)
    cells: dict[tuple, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        cells[(r.network, r.phase, r.batch, r.images)][r.column] = r
    net_order = {n: i for i, n in enumerate(NETWORKS)}
    phase_order = {p: i for i, p in enumerate(PHASE_ORDER)}
    keys = sorted(cells, key=lambda k: (net_order.get(k[0], 99), phase_order.get(k[1], 99), k[2] or 0, k[3]))
    lines = ["| network | phase | batch | " + " | ".join(columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for key in keys:
        network, phase, batch, images = key
        label = phase if not phase.startswith("epoch") else f"{phase} ({images:,} images)"
        best = max((r.images_per_s for r in cells[key].values()), default=math.nan)
        values = []
        for column in columns:
            r = cells[key].get(column)
            if r is None:
                values.append("")
                continue
            text = f"{fmt_rate(r.images_per_s)} ({r.spread})"
            values.append(f"**{text}**" if r.images_per_s == best and len(cells[key]) > 1 else text)
        lines.append(f"| {network} | {label} | {batch or ''} | " + " | ".join(values) + " |")
    return lines


def first_call_table(rows: list[Row]) -> list[str]:
    """Seconds of the first call (compilation, tracing, allocation), kept apart from the timed rounds."""
    steps = [r for r in rows if r.phase in ("forward", "backward", "train_step") and r.first_call_s is not None]
    if not steps:
        return []
    lines = ["| framework | network | device | batch | forward | backward | train_step |",
             "|---|---|---|---|---|---|---|"]
    grouped: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in steps:
        grouped[(r.column, r.network, r.device, r.batch)][r.phase] = r.first_call_s  # type: ignore[assignment]
    for (column, network, device, batch), phases in sorted(grouped.items()):
        values = [f"{phases[p]:.2f} s" if p in phases else "" for p in ("forward", "backward", "train_step")]
        lines.append(f"| {column} | {network} | {device} | {batch} | " + " | ".join(values) + " |")
    return lines


def fidelity_table(fidelity: list[dict[str, Any]]) -> list[str]:
    if not fidelity:
        return []
    lines = ["| framework | network | phase | suite median | own tool median | suite / own | own tool drift "
             "| own tool |",
             "|---|---|---|---|---|---|---|---|"]
    for f in fidelity:
        row: Row = f["row"]
        ratio = f.get("suite_over_own")
        own = f.get("own_median_s")
        drift = f.get("own_drift")  # after vs before the suite's measurement: how far the machine moved
        lines.append(f"| {row.framework} | {row.network} | {row.phase} | {1e3 * row.median_s:.2f} ms | "
                     f"{'' if own is None else f'{1e3 * own:.2f} ms'} | {'' if ratio is None else f'{ratio:.3f}'} | "
                     f"{'' if drift is None else f'{100 * drift:+.1f}%'} | {f.get('own_tool', '')} |")
    return lines


def time_to_accuracy_table(converged: list[dict[str, Any]], not_converged: list[dict[str, Any]]) -> list[str]:
    if not converged and not not_converged:
        return []
    lines = ["| framework | network | device | target | result | accuracy after each epoch |",
             "|---|---|---|---|---|---|"]
    for t in converged:
        accs = ", ".join(f"{a:.2%}" for a in t.get("accuracy_per_epoch", []))
        lines.append(f"| {t['framework']} | {t['network']} | {t['device']} | {t['target']:.1%} | "
                     f"{t['seconds']:.1f} s ({t.get('epochs')} epochs) | {accs} |")
    for t in not_converged:
        accs = ", ".join(f"{a:.2%}" for a in t.get("accuracy_per_epoch", []))
        lines.append(f"| {t['framework']} | {t['network']} | {t['device']} | {t['target']:.1%} | "
                     f"not converged within {t['epoch_cap']} epochs | {accs} |")
    return lines


def machine_lines(res: Results) -> list[str]:
    details = res.machine.get("mnist_framework_bench", {})
    m = details.get("machine", {})
    lines = []
    if m:
        lines.append(f"- Machine: {m.get('cpu_model')} ({m.get('cpu_cores')} cores, {m.get('usable_cores')} usable), "
                     f"{m.get('memory_gib')} GiB, {m.get('os')} {m.get('machine')}, Python {m.get('python')}")
    if details.get("threads") is not None:
        lines.append(f"- Threads: {details['threads']} intra-op threads for every framework")
    if details.get("versions"):
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in details["versions"].items()))
    gpu = details.get("gpu", {})
    if gpu:
        lines.append("- GPU: " + "; ".join(f"{k} {v}" for k, v in gpu.items()))
    if details.get("math_libraries"):
        lines.append("- Math libraries loaded (first process): " + ", ".join(details["math_libraries"]))
    if res.commit.get("id"):
        lines.append(f"- Commit: {res.commit['id'][:12]}{' (dirty)' if res.commit.get('dirty') else ''}")
    return lines


def markdown(res: Results, charts: Sequence[Path] = ()) -> str:
    """The report as Markdown."""
    out = ["# MNIST framework benchmark report", "", f"Sources: {', '.join(res.sources)}", ""]
    out += machine_lines(res) + [""]
    if res.runs:
        out += ["## Processes", "", "| frameworks | Keras backend | outcome | results |", "|---|---|---|---|"]
        out += [f"| {','.join(r['frameworks'])} | {r.get('keras_backend', '')} | {r['status']} | {r['benchmarks']} |"
                for r in res.runs] + [""]
    out += ["## Throughput (images/s, median over the timed rounds; spread as IQR / median)", "",
            "Warm-up and the first call are excluded (their time is below); every call ends with the device "
            "synchronised. The best figure of each row is in bold.", ""]
    for device in sorted({r.device for r in res.rows}):
        out += [f"### {device}", ""] + throughput_table(res.rows, device) + [""]
    if not res.rows:
        out += ["No throughput results in these files.", ""]
    if table := first_call_table(res.rows):
        out += ["## First call (compilation, tracing, first allocation)", ""] + table + [""]
    if table := fidelity_table(res.fidelity):
        out += ["## Fidelity: the suite's timing beside each framework's own tool (same model, same run)", "",
                "A ratio near 1 means the suite adds no overhead and the two agree.", ""] + table + [""]
    if table := time_to_accuracy_table(res.time_to_accuracy, res.not_converged):
        out += ["## Time to accuracy (data loading, model building, training and per-epoch evaluation)", ""]
        out += table + [""]
    for chart in charts:
        out += [f"![{chart.stem}]({chart.name})", ""]
    return "\n".join(out)


def chart(res: Results, device: str, path: Path) -> Path | None:
    """A PNG of images/s per framework, one panel per phase, bars grouped by network."""
    rows = [r for r in res.rows if r.device == device]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in PHASE_ORDER if any(r.phase == p for r in rows)]
    columns = _sorted_columns(rows)
    networks = [n for n in NETWORKS if any(r.network == n for r in rows)]
    fig, axes = plt.subplots(1, len(phases), figsize=(4.2 * len(phases), 4.2), squeeze=False)
    width = 0.8 / max(len(columns), 1)
    for ax, phase in zip(axes[0], phases, strict=True):
        for i, column in enumerate(columns):
            values = []
            for network in networks:
                match = [r for r in rows if r.phase == phase and r.network == network and r.column == column]
                values.append(max((r.images_per_s for r in match), default=0.0))
            ax.bar([j + i * width for j in range(len(networks))], values, width, label=column)
        ax.set_title(phase)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(networks))], networks)
        ax.set_yscale("log")
        ax.set_ylabel("images/s")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"MNIST throughput on {device} (higher is better)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def unused_path(directory: Path, stem: str, suffix: str) -> Path:
    """``directory/stem+suffix``, or with -1, -2... appended when that exists (nothing is overwritten)."""
    for n in range(10_000):
        path = directory / f"{stem}{'' if n == 0 else f'-{n}'}{suffix}"
        if not path.exists():
            return path
    raise RuntimeError(f"no free file name for {stem}{suffix} in {directory}")


def write_report(paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write the Markdown report and its charts beside the first result file (or in ``output_dir``)."""
    res = load(paths)
    out_dir = Path(output_dir) if output_dir else Path(paths[0]).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(paths[0]).stem
    charts = []
    try:
        import matplotlib  # noqa: F401

        for device in sorted({r.device for r in res.rows}):
            made = chart(res, device, unused_path(out_dir, f"{stem}-{device}", ".png"))
            if made:
                charts.append(made)
    except ImportError:
        print("matplotlib is not installed: writing the Markdown report without charts")
    md_path = unused_path(out_dir, f"{stem}-report", ".md")
    tmp = md_path.with_name(f".{md_path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(markdown(res, charts))
        os.replace(tmp, md_path)
    finally:
        tmp.unlink(missing_ok=True)
    return [md_path, *charts]
