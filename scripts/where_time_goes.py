"""Where a recorded benchmark run spent its time, and where its figures vary: the measured basis for the main
job's design (how many rounds per process, how many processes).

    python scripts/where_time_goes.py RESULTS.json[.gz] [--output DIR]

Reads a merged run written by ``python -m frameworks bench --repeats N`` (every round of every process is kept)
and writes ``where-time-goes.md`` and ``.json``:

- per framework, the processes' wall time split into timed rounds, first calls (warm-up and compilation, timed
  apart) and the rest (start-up, imports, data, building the networks), and the timed rounds by benchmark kind;
- per step benchmark, the spread of the per-process medians between processes (their coefficient of variation)
  against the standard error of one process's median from its own rounds (``sqrt(pi/2) * sd / sqrt(rounds)``,
  the large-sample standard error of a median). Where the first is several times the second, more rounds in a
  process do not sharpen a comparison: only more processes do.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frameworks.fileio import write_json, write_text  # noqa: E402
from frameworks.results import STEP, Run, load_run  # noqa: E402

MEDIAN_SE = math.sqrt(math.pi / 2)  # the standard error of a median of normal data, in units of sd / sqrt(n)


def time_split(run: Run) -> dict[str, dict[str, float]]:
    """Per framework: seconds of process wall time, timed rounds, first calls, and timed seconds per kind."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for process in run.processes:
        if process.noise is not None:
            for framework in process.frameworks:
                out[framework]["process_s"] += process.noise.seconds / len(process.frameworks)
    for r in run.records:
        out[r.framework]["timed_s"] += sum(r.samples_s)
        out[r.framework]["first_call_s"] += r.first_call_s or 0.0
        out[r.framework][f"timed_{r.kind}_s"] += sum(r.samples_s)
    for figures in out.values():
        figures["other_s"] = figures["process_s"] - figures["timed_s"] - figures["first_call_s"]
    return {k: dict(v) for k, v in out.items()}


def spread(run: Run) -> list[dict[str, object]]:
    """Per step benchmark: processes, rounds per process, between-process CV of medians, within-process
    standard error of a median (relative), and their ratio."""
    groups = defaultdict(list)
    for r in run.records:
        if r.kind == STEP and len(r.samples_s) > 1:
            groups[(r.column, r.network, r.phase, r.batch)].append(r)
    rows = []
    for (column, network, phase, batch), records in sorted(groups.items()):
        if len(records) < 3:
            continue
        medians = [statistics.median(r.samples_s) for r in records]
        between = statistics.stdev(medians) / statistics.fmean(medians)
        rounds = statistics.median(len(r.samples_s) for r in records)
        within = statistics.median(statistics.stdev(r.samples_s) / statistics.fmean(r.samples_s) for r in records)
        se = MEDIAN_SE * within / math.sqrt(rounds)
        rows.append({"benchmark": f"{column} {network} {phase} batch {batch}", "processes": len(records),
                     "rounds": rounds, "between_cv": between, "median_se": se,
                     "ratio": between / se if se > 0 else math.inf})
    return rows


def markdown(path: str, run: Run, split: dict[str, dict[str, float]], rows: list[dict[str, object]]) -> str:
    total = sum(f["process_s"] for f in split.values())
    lines = [f"# Where the time goes, and where the figures vary: `{path}`", "",
             f"{len(run.processes)} processes, {total / 60:.0f} minutes of process wall time in all; command "
             f"`{' '.join(run.command)}`. Written by `python scripts/where_time_goes.py {path}`.", "",
             "## Time per framework (all its processes)", "",
             "| framework | process | timed rounds | first calls | the rest (start-up, imports, data, building) "
             "| timed, by kind |", "|---|---|---|---|---|---|"]
    for framework, f in sorted(split.items(), key=lambda kv: -kv[1]["process_s"]):
        kinds = ", ".join(f"{k[6:-2]} {v:.0f} s" for k, v in sorted(f.items())
                          if k.startswith("timed_") and k != "timed_s")
        lines.append(f"| {framework} | {f['process_s']:.0f} s | {f['timed_s']:.0f} s | {f['first_call_s']:.0f} s "
                     f"| {f['other_s']:.0f} s | {kinds} |")
    share = {k: sum(f[k] for f in split.values()) / total for k in ("timed_s", "first_call_s", "other_s")}
    lines += ["", f"Of all process time: timed rounds {share['timed_s']:.0%}, first calls {share['first_call_s']:.0%}, "
              f"the rest {share['other_s']:.0%}.", "", "## Spread between processes against spread within one", "",
              "Between: the coefficient of variation of the per-process medians. Within: the standard error of one "
              "process's median from its own rounds, relative. Ratio: between / within.", ""]
    ratios = sorted(float(r["ratio"]) for r in rows)
    if ratios:
        over = sum(r > 2 for r in ratios)
        lines += [f"{len(rows)} step benchmarks; median ratio {statistics.median(ratios):.1f}; the between-process "
                  f"spread is more than twice the within-process standard error in {over} of them "
                  f"({over / len(rows):.0%}).", "",
                  "| benchmark | processes | rounds (median) | between CV | within SE of the median | ratio |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: -float(r["ratio"])):
            lines.append(f"| {r['benchmark']} | {r['processes']} | {r['rounds']:g} | {float(r['between_cv']):.3f} "
                         f"| {float(r['median_se']):.4f} | {float(r['ratio']):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="a merged results.json(.gz) written by bench --repeats N")
    parser.add_argument("--output", type=Path, default=Path("."), help="directory for the .md and .json")
    args = parser.parse_args(argv)
    run = load_run(args.results)
    split, rows = time_split(run), spread(run)
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / "where-time-goes.json", {"results": args.results, "time": split, "spread": rows})
    print(write_text(args.output / "where-time-goes.md", markdown(args.results, run, split, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
