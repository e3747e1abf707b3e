"""``python -m frameworks report RESULTS.json [...]``: benchmark JSON -> a Markdown comparison and PNG charts.

Reads results files (``schema.load_run``): the merged JSON that ``python -m frameworks bench`` writes, or one
process's JSON. Files are written atomically under new names; an existing report is never overwritten.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bench.schema import EPOCH, FIDELITY, STEP, TIME_TO_ACCURACY, BenchRecord, Run, load_run
from ..fileio import atomic_path, write_text
from ..registry import FRAMEWORKS
from ..specs import NETWORKS

PHASE_ORDER = ("forward", "backward", "train_step", "epoch-staged", "epoch-framework")


def spread(r: BenchRecord) -> str:
    n = len(r.samples_s)
    if n < 2 or not r.median_s > 0:
        return f"{n} round" + ("s" if n != 1 else "")
    return f"IQR {100 * r.iqr_s / r.median_s:.0f}%"


@dataclass
class Results:
    """Everything read from one or more results files."""

    runs: list[Run]

    @property
    def records(self) -> list[BenchRecord]:
        return [r for run in self.runs for r in run.records]

    @property
    def rows(self) -> list[BenchRecord]:
        return [r for r in self.records if r.kind in (STEP, EPOCH)]

    @property
    def fidelity(self) -> list[BenchRecord]:
        return [r for r in self.records if r.kind == FIDELITY]

    @property
    def time_to_accuracy(self) -> list[BenchRecord]:
        return [r for r in self.records if r.kind == TIME_TO_ACCURACY]

    @property
    def not_converged(self) -> list[dict[str, Any]]:
        return [n for run in self.runs for n in run.not_converged]

    @property
    def sources(self) -> list[str]:
        return [run.path for run in self.runs]


def load(paths: Sequence[str | os.PathLike]) -> Results:
    """Read results files; raise ``ResultsError`` naming a file that is not the suite's results."""
    return Results([load_run(p) for p in paths])


def fmt_rate(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:,.0f}"


def _sorted_columns(rows: Iterable[BenchRecord]) -> list[str]:
    order = {name: i for i, name in enumerate(FRAMEWORKS)}
    return sorted({r.column for r in rows}, key=lambda c: (order.get(c.split(" [")[0], 99), c))


def throughput_table(rows: list[BenchRecord], device: str) -> list[str]:
    """images/s, frameworks as columns, (network, phase, batch) as rows."""
    rows = [r for r in rows if r.device == device]
    columns = _sorted_columns(rows)
    cells: dict[tuple, dict[str, BenchRecord]] = defaultdict(dict)
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
            text = f"{fmt_rate(r.images_per_s)} ({spread(r)})"
            values.append(f"**{text}**" if r.images_per_s == best and len(cells[key]) > 1 else text)
        lines.append(f"| {network} | {label} | {batch or ''} | " + " | ".join(values) + " |")
    return lines


def first_call_table(rows: list[BenchRecord]) -> list[str]:
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


def fidelity_table(fidelity: list[BenchRecord]) -> list[str]:
    if not fidelity:
        return []
    lines = ["| framework | network | phase | suite median | own tool median | suite / own | own tool drift "
             "| own tool |",
             "|---|---|---|---|---|---|---|---|"]
    for row in fidelity:
        f = row.details
        ratio, own, drift = f.get("suite_over_own"), f.get("own_median_s"), f.get("own_drift")
        lines.append(f"| {row.framework} | {row.network} | {row.phase} | {1e3 * row.median_s:.2f} ms | "
                     f"{'' if own is None else f'{1e3 * own:.2f} ms'} | {'' if ratio is None else f'{ratio:.3f}'} | "
                     f"{'' if drift is None else f'{100 * drift:+.1f}%'} | {f.get('own_tool', '')} |")
    return lines


def time_to_accuracy_table(converged: list[BenchRecord], not_converged: list[dict[str, Any]]) -> list[str]:
    if not converged and not not_converged:
        return []
    lines = ["| framework | network | device | target | result | accuracy after each epoch |",
             "|---|---|---|---|---|---|"]
    for r in converged:
        t = r.details
        accs = ", ".join(f"{a:.2%}" for a in t.get("accuracy_per_epoch", []))
        lines.append(f"| {r.framework} | {r.network} | {r.device} | {t['target']:.1%} | "
                     f"{r.median_s:.1f} s ({t.get('epochs')} epochs) | {accs} |")
    for t in not_converged:
        accs = ", ".join(f"{a:.2%}" for a in t.get("accuracy_per_epoch", []))
        lines.append(f"| {t['framework']} | {t['network']} | {t['device']} | {t['target']:.1%} | "
                     f"not converged within {t['epoch_cap']} epochs | {accs} |")
    return lines


def machine_lines(res: Results) -> list[str]:
    run = res.runs[0]
    details = run.machine
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
    if run.commit.get("id"):
        lines.append(f"- Commit: {run.commit['id'][:12]}{' (dirty)' if run.commit.get('dirty') else ''}")
    return lines


def markdown(res: Results, charts: Sequence[Path] = ()) -> str:
    """The report as Markdown."""
    out = ["# MNIST framework benchmark report", "", f"Sources: {', '.join(res.sources)}", ""]
    out += machine_lines(res) + [""]
    processes = [p for run in res.runs for p in run.processes]
    if processes:
        out += ["## Processes", "", "| process | environment | outcome | results | machine while it ran |",
                "|---|---|---|---|---|"]
        for p in processes:
            env = ", ".join(f"{k}={v}" for k, v in p.environment.items())
            machine = "" if p.noise is None else (f"**disturbed: {p.noise.disturbed}**" if p.noise.disturbed else
                                                  "quiet" + (f" (others {p.noise.others_cpu:.0%} of the CPU)"
                                                             if p.noise.others_cpu is not None else ""))
            out.append(f"| {p.label} | {env} | {p.status} | {p.benchmarks} | {machine} |")
        out.append("")
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
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
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
    md_path = write_text(unused_path(out_dir, f"{stem}-report", ".md"), markdown(res, charts))
    return [md_path, *charts]
