"""Measure the pull-request gate on real samples: false failures on unchanged code, detection of a real slowdown.

    python scripts/gate_experiment.py RUNS_DIR [--trials 1000] [--output results/gate-experiment]
        [--samples tests/data/gate_samples.json.gz]

RUNS_DIR holds results.json files of the gate's workload, recorded one after another on one machine (the
command the workflow runs for one side). Every trial draws two disjoint sets of runs (A/A: the same code on
both sides) for each number of repeats per side, and asks each candidate rule whether it would fail the pull
request; then it multiplies one framework's head samples by 1.2 and asks again. Writes the rates as JSON and
Markdown, and a compact copy of the recorded samples that tests/test_gate.py resamples.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from frameworks.analysis import gate  # noqa: E402
from frameworks.bench.schema import CALIBRATION, load_run  # noqa: E402
from frameworks.fileio import write_bytes, write_json, write_text  # noqa: E402


def load_pool(runs_dir: Path) -> tuple[list[dict], list[dict], list[str]]:
    """Per run: {key: samples} and {framework: calibration median}, and the files, in recording order."""
    pool, calibration, files = [], [], []
    for path in sorted(runs_dir.rglob("results.json")):
        run = load_run(path)
        samples = {k: v[0] for k, v in gate.samples_by_key([run]).items()}
        cal = {r.process: float(np.median(r.samples_s)) for r in run.records if r.kind == CALIBRATION and r.samples_s}
        by_framework = {}
        for r in run.records:
            if r.kind in gate.GATED_KINDS and r.process in cal:
                by_framework[r.column] = cal[r.process]
        if samples:
            pool.append(samples)
            calibration.append(by_framework)
            files.append(str(path))
    return pool, calibration, files


def rule_gate(base, head):
    return any(d.regressed for d in gate.decide(base, head))


def rule_old(base, head, threshold=0.10, noise_factor=2.0):
    """The gate before this one: medians over repeats of each run's median, failing beyond
    max(10%, 2 x the larger relative range of the repeats)."""
    for key in set(base) & set(head):
        b = [float(np.median(x)) for x in base[key]]
        h = [float(np.median(x)) for x in head[key]]
        spread = max((max(v) - min(v)) / np.median(v) for v in (b, h))
        if np.median(h) / np.median(b) - 1 > max(threshold, noise_factor * spread):
            return True
    return False


def rule_ratio_only(base, head, threshold=0.10):
    """Pooled medians more than 10% apart, no test."""
    return any(np.median(np.concatenate(head[k])) / np.median(np.concatenate(base[k])) > 1 + threshold
               for k in set(base) & set(head))


def rule_process_medians(base, head, threshold=0.10, alpha=0.05):
    """Per-process medians: geometric-mean ratio beyond 10% and an exact one-sided Mann-Whitney test on the
    process medians, Benjamini-Hochberg-corrected."""
    keys = sorted(set(base) & set(head), key=str)
    ratios, ps = [], []
    for k in keys:
        b = np.log([np.median(x) for x in base[k]])
        h = np.log([np.median(x) for x in head[k]])
        ratios.append(float(np.exp(h.mean() - b.mean())))
        ps.append(float(stats.mannwhitneyu(h, b, alternative="greater", method="exact").pvalue))
    q = stats.false_discovery_control(ps, method="bh")
    return any(r > 1 + threshold and p < alpha for r, p in zip(ratios, q, strict=True))


RULES = {"gate (pooled rounds, ratio > 10% and one-sided Mann-Whitney, BH)": rule_gate,
         "previous gate (median of run medians beyond max(10%, 2 x range))": rule_old,
         "pooled median ratio > 10% alone": rule_ratio_only,
         "per-process medians, ratio > 10% and exact Mann-Whitney, BH": rule_process_medians}


def side(pool, indices, calibration=None):
    out = defaultdict(list)
    for i in indices:
        for key, samples in pool[i].items():
            scale = calibration[i].get(key[0], 1.0) if calibration else 1.0
            out[key].append(samples / scale)
    return dict(out)


def experiment(pool, calibration, repeats_list, trials, seed=0):
    rng = np.random.default_rng(seed)
    frameworks = sorted({k[0] for run in pool for k in run})
    results = {}
    for repeats in repeats_list:
        if 2 * repeats > len(pool):
            continue
        counts = defaultdict(lambda: {"aa": 0, "caught": 0, "injected": 0})
        for _ in range(trials):
            chosen = rng.choice(len(pool), size=2 * repeats, replace=False)
            framework = frameworks[rng.integers(len(frameworks))]
            for normalised in (False, True):
                cal = calibration if normalised else None
                base, head = side(pool, chosen[:repeats], cal), side(pool, chosen[repeats:], cal)
                slowed = {k: [v * 1.2 for v in vs] if k[0] == framework else vs for k, vs in head.items()}
                for name, rule in RULES.items():
                    label = name + (" [calibrated]" if normalised else "")
                    counts[label]["aa"] += rule(base, head)
                    counts[label]["caught"] += rule(base, slowed)
                    counts[label]["injected"] += 1
        results[repeats] = {label: {"false_failure": c["aa"] / trials, "detection_20pct": c["caught"] / c["injected"]}
                            for label, c in counts.items()}
    return results


def markdown(results, trials, files) -> str:
    lines = ["# The pull-request gate on real samples", "",
             f"{len(files)} recorded runs of the gate's workload; {trials} random trials per number of repeats: each "
             "draws disjoint base and head runs (A/A, the same code), then multiplies one random framework's head "
             "samples by 1.2. False failure: A/A trials that fail; detection: injected trials that fail. "
             "[calibrated]: every sample divided by its process's calibration benchmark first.", ""]
    for repeats, rules in results.items():
        lines += [f"## {repeats} repeats per side", "", "| rule | false failures | 20% slowdowns caught |",
                  "|---|---|---|"]
        for label, r in rules.items():
            lines.append(f"| {label} | {r['false_failure']:.1%} | {r['detection_20pct']:.1%} |")
        lines.append("")
    lines += ["Runs:", ""] + [f"- {f}" for f in files]
    return "\n".join(lines) + "\n"


def compact(pool, files) -> bytes:
    """The recorded samples, rounded to 4 significant digits, as gzipped JSON (for tests/test_gate.py)."""
    runs = []
    for samples in pool:
        runs.append([{"key": list(k), "samples_s": [float(f"{v:.4g}") for v in x]} for k, x in samples.items()])
    payload = {"what": "timed rounds of the gate's workload, one entry per run (python -m frameworks bench, "
                       "recorded by scripts/gate_experiment.py)", "files": files, "runs": runs}
    return gzip.compress(json.dumps(payload).encode(), mtime=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", default="2,3,4,5")
    parser.add_argument("--output", type=Path, default=Path("results/gate-experiment"))
    parser.add_argument("--samples", type=Path, default=Path("tests/data/gate_samples.json.gz"))
    args = parser.parse_args()
    pool, calibration, files = load_pool(args.runs)
    if len(pool) < 4:
        print(f"need at least 4 runs, found {len(pool)} in {args.runs}", file=sys.stderr)
        return 2
    results = experiment(pool, calibration, [int(r) for r in args.repeats.split(",")], args.trials)
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / "rates.json", {"trials": args.trials, "files": files, "rates": results})
    write_text(args.output / "rates.md", markdown(results, args.trials, files))
    write_bytes(args.samples, compact(pool, files))
    print(markdown(results, args.trials, files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
