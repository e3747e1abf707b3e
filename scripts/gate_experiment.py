"""Measure the pull-request gate on real samples: false failures on unchanged code, detection of a real slowdown.

    python scripts/gate_experiment.py RUNS_DIR [--trials 1000] [--output results/gate-experiment]
        [--samples tests/data/gate_samples.json.gz]

RUNS_DIR holds results.json files of the gate's workload, recorded one after another on one machine (the
command the workflow runs for one side). Every trial takes pairs of consecutive runs and puts one run of each
pair on each side (A/A: the same code on both sides, alternating as the workflow alternates), for each number
of repeats per side, and asks each candidate rule whether it would fail the pull request; then it multiplies
one framework's head times by 1.2 and asks again. Writes the rates as JSON and
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
from frameworks.fileio import write_bytes, write_json, write_text  # noqa: E402
from frameworks.results import CALIBRATION, load_run  # noqa: E402


def load_pool(runs_dir: Path) -> tuple[list[dict], list[dict], list[set], list[str]]:
    """Per run, in recording order: {key: rounds}, {framework: calibration median}, the frameworks whose process
    ran on a disturbed machine, and the files."""
    pool, calibration, disturbed, files = [], [], [], []
    paths = sorted(runs_dir.rglob("results.json"), key=lambda p: load_run(p).datetime)
    for path in paths:
        run = load_run(path)
        samples = {(r.column, r.network, r.device, r.phase, r.batch): np.asarray(r.samples_s)
                   for r in run.records if r.kind in gate.GATED_KINDS and r.samples_s}
        cal = {r.process: float(np.median(r.samples_s)) for r in run.records if r.kind == CALIBRATION and r.samples_s}
        by_framework = {r.column: cal[r.process] for r in run.records
                        if r.kind in gate.GATED_KINDS and r.process in cal}
        busy = {f for p in run.processes if p.noise is not None and p.noise.disturbed for f in p.frameworks}
        if samples:
            pool.append(samples)
            calibration.append(by_framework)
            disturbed.append(busy)
            files.append(str(path.relative_to(runs_dir)))  # names, not this machine's paths
    return pool, calibration, disturbed, files


def log_medians(pool, disturbed, calibration=None):
    """Each run's log median per benchmark (None for a disturbed process), optionally calibrated."""
    out = []
    for i, run in enumerate(pool):
        scale = calibration[i] if calibration else {}
        out.append({k: None if k[0] in disturbed[i] else float(np.log(np.median(x) / scale.get(k[0], 1.0)))
                    for k, x in run.items()})
    return out


def rule_gate(base, head, samples_base, samples_head):
    return any(d.regressed for d in gate.decide(base, head))


def rule_gate_unpaired(base, head, samples_base, samples_head):
    return any(d.regressed for d in gate.decide(base, head, paired=False))


def rule_old(base, head, samples_base, samples_head, threshold=0.10, noise_factor=2.0):
    """The gate before this one: medians over repeats of each run's median, failing beyond
    max(10%, 2 x the larger relative range of the repeats)."""
    for key in set(base) & set(head):
        b = np.exp([v for v in base[key] if v is not None])
        h = np.exp([v for v in head[key] if v is not None])
        if len(b) == 0 or len(h) == 0:
            continue
        spread = max((max(v) - min(v)) / np.median(v) for v in (b, h))
        if np.median(h) / np.median(b) - 1 > max(threshold, noise_factor * spread):
            return True
    return False


def rule_pooled_rounds(base, head, samples_base, samples_head, threshold=0.10, alpha=0.05):
    """Every round of a side pooled: median ratio beyond 10% and a one-sided Mann-Whitney test, BH-corrected.
    (Rounds inside a process share its state, so this treats correlated rounds as independent.)"""
    keys = sorted(set(samples_base) & set(samples_head), key=str)
    ratios, ps = [], []
    for k in keys:
        b, h = np.concatenate(samples_base[k]), np.concatenate(samples_head[k])
        ratios.append(np.median(h) / np.median(b))
        ps.append(stats.mannwhitneyu(h, b, alternative="greater").pvalue)
    q = stats.false_discovery_control(ps, method="bh")
    return any(r > 1 + threshold and p < alpha for r, p in zip(ratios, q, strict=True))


RULES = {"the gate: per-run medians, ratio > 10% and a paired one-sided t-test, BH": rule_gate,
         "the same with Welch's unpaired t-test": rule_gate_unpaired,
         "previous gate: median of run medians beyond max(10%, 2 x range)": rule_old,
         "every round pooled: ratio > 10% and one-sided Mann-Whitney, BH": rule_pooled_rounds}


def experiment(pool, calibration, disturbed, repeats_list, trials, seed=0):
    frameworks = sorted({k[0] for run in pool for k in run})
    keys = sorted({k for run in pool for k in run}, key=str)
    plain, calibrated = log_medians(pool, disturbed), log_medians(pool, disturbed, calibration)
    shift = np.log(1.2)
    results = {}
    for repeats in repeats_list:
        if 2 * repeats > len(pool):
            continue
        counts = defaultdict(lambda: {"aa": 0, "caught": 0, "injected": 0})
        rng = np.random.default_rng(seed)
        for base_idx, head_idx in gate.adjacent_pair_trials(len(pool), repeats, trials, seed):
            framework = frameworks[rng.integers(len(frameworks))]
            raw_b = {k: [pool[i][k] for i in base_idx if k in pool[i]] for k in keys}
            raw_h = {k: [pool[i][k] for i in head_idx if k in pool[i]] for k in keys}
            raw_s = {k: [x * 1.2 for x in v] if k[0] == framework else v for k, v in raw_h.items()}
            for label_suffix, medians in (("", plain), (" [calibrated]", calibrated)):
                b = {k: [medians[i].get(k) for i in base_idx] for k in keys}
                h = {k: [medians[i].get(k) for i in head_idx] for k in keys}
                slowed = {k: [None if v is None else v + shift for v in vs] if k[0] == framework else vs
                          for k, vs in h.items()}
                for name, rule in RULES.items():
                    if label_suffix and rule is rule_pooled_rounds:
                        continue
                    label = name + label_suffix
                    counts[label]["aa"] += rule(b, h, raw_b, raw_h)
                    counts[label]["caught"] += rule(b, slowed, raw_b, raw_s)
                    counts[label]["injected"] += 1
        results[repeats] = {label: {"false_failure": c["aa"] / trials, "detection_20pct": c["caught"] / c["injected"]}
                            for label, c in counts.items()}
    return results


def markdown(results, trials, files, disturbed) -> str:
    busy = sum(len(d) for d in disturbed)
    lines = ["# The pull-request gate on real samples", "",
             f"{len(files)} runs of the gate's workload recorded one after another on this project's machine "
             f"({busy} of their processes ran while the machine was busy and are left out, as the gate leaves them "
             f"out). {trials} trials per number of repeats, each mimicking the workflow: recorded runs are paired "
             "(1st with 2nd, 3rd with 4th...), a trial takes that many pairs and puts one run of each pair on each "
             "side at random (A/A: the same code on both sides), then multiplies the head's times of one random "
             "framework by 1.2. False failure: A/A trials that fail; detection: injected trials that fail. "
             "[calibrated]: each run's medians divided by its process's calibration benchmark first.", ""]
    for repeats, rules in results.items():
        lines += [f"## {repeats} repeats per side", "", "| rule | false failures | 20% slowdowns caught |",
                  "|---|---|---|"]
        for label, r in rules.items():
            lines.append(f"| {label} | {r['false_failure']:.1%} | {r['detection_20pct']:.1%} |")
        lines.append("")
    lines += ["Runs:", ""] + [f"- {f}" for f in files]
    return "\n".join(lines) + "\n"


def compact(pool, disturbed, files) -> bytes:
    """The recorded rounds, rounded to 4 significant digits, as gzipped JSON (for tests/test_gate.py)."""
    runs = []
    for samples, busy in zip(pool, disturbed, strict=True):
        runs.append({"disturbed": sorted(busy),
                     "benchmarks": [{"key": list(k), "samples_s": [float(f"{v:.4g}") for v in x]}
                                    for k, x in samples.items()]})
    payload = {"what": "timed rounds of the gate's workload, one entry per run in recording order "
                       "(python -m frameworks bench; scripts/gate_experiment.py)", "files": files, "runs": runs}
    return gzip.compress(json.dumps(payload).encode(), mtime=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", default="3,4,5,6,7")
    parser.add_argument("--output", type=Path, default=Path("results/gate-experiment"))
    parser.add_argument("--samples", type=Path, default=Path("tests/data/gate_samples.json.gz"))
    args = parser.parse_args()
    pool, calibration, disturbed, files = load_pool(args.runs)
    if len(pool) < 4:
        print(f"need at least 4 runs, found {len(pool)} in {args.runs}", file=sys.stderr)
        return 2
    results = experiment(pool, calibration, disturbed, [int(r) for r in args.repeats.split(",")], args.trials)
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / "rates.json", {"trials": args.trials, "files": files, "rates": results})
    write_text(args.output / "rates.md", markdown(results, args.trials, files, disturbed))
    write_bytes(args.samples, compact(pool, disturbed, files))
    print(markdown(results, args.trials, files, disturbed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
