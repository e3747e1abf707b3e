"""Calibrate the report's verdict rule for the main job on recorded runs: how often it calls a difference where there
is none, and how often it calls a real 20% one, at 3 to 6 processes a framework.

    python scripts/verdict_calibration.py RECORDING_DIR [RECORDING_DIR ...] [--output results/verdict-calibration]

The recordings are the gate's (``scripts/gate_recording.py``): runs of the step benchmarks at ``--quick``'s rounds
(the main job's), each framework in a fresh process, from fresh clones: unchanged code, and copies whose PyTorch
steps (and Keras on TensorFlow's lenet steps) spin for 20% of their time, or run PyTorch on one thread. Each run
gives one process's figure per benchmark, as the main job's repeats do.

The rule is the report's (``frameworks.stats``: per-process figures, the geometric-mean ratio with its bootstrap
interval, the exact Mann-Whitney test, Benjamini-Hochberg over the family, ``judge``'s verdict), applied to a family
of one comparison per benchmark, as the report makes them:

- **A/A** (false verdicts): n unchanged processes against n other unchanged processes of the same benchmark, drawn
  from one recording; a "faster" or "slower" verdict on any benchmark of the family is a false one;
- **real 20%**: n unchanged processes against n of the slowed copy: the share of slowed benchmarks called
  (the unchanged side "faster"), and the share of families with a false verdict on an unslowed benchmark;
- **multiplied 20%**: A/A draws with the second side's PyTorch times multiplied by 1.2;
- **thread-count change** (where recorded): unchanged against one-thread PyTorch.

Trials are drawn at random (``TRIALS`` per setting, fixed seed) from each recording's runs. They share runs, so
their number is not a sample size: each rate's 95% interval is Clopper-Pearson over the trials disjoint runs allow
(12 unchanged runs hold one disjoint A/A pair of 5-process sides), which is wide and says how little one recording
holds. (A bootstrap over the runs was tried and dropped: a resample holds a run twice, which gives the tests
duplicate figures and moved the rates far from the recording's own.)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frameworks import stats  # noqa: E402
from frameworks.analysis import gate  # noqa: E402
from frameworks.fileio import write_json, write_text  # noqa: E402
from frameworks.results import load_run  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from gate_validation import SLOWED, slowed  # noqa: E402  (what gate_recording.py slows, named once)

PROCESSES = (3, 4, 5, 6)
TRIALS = 100  # random trials per setting and recording
SEED = 20261206
SHIFT = math.log1p(0.2)


def load(directory: Path) -> tuple[dict, dict[str, list[dict]]]:
    """The recording's description and its runs by side: each run a map from benchmark key to its log median
    time. Processes the noise check flagged as disturbed are kept, as the report keeps them (it marks them); the gate
    would leave them out."""
    import json

    meta = json.loads((directory / "recording.json").read_text())
    sides: dict[str, list[dict]] = {}
    for entry in meta["runs"]:
        if entry["file"] is None:
            continue
        figures: dict[tuple, list[tuple[str, float]]] = {}
        for record in load_run(directory / entry["file"]).records:
            if record.kind in gate.GATED_KINDS and record.samples_s:
                figures.setdefault(gate.gate_key(record), []).append((record.process or "", record.median_s))
        sides.setdefault(entry["side"], []).append(
            {key: math.log(float(np.median(list(stats.per_process(pairs).values())))) for key, pairs in
             figures.items()})
    return meta, sides


def welch(what: str, xa: list[float], xb: list[float]) -> stats.Comparison:
    """The alternative rule's comparison: Welch's t-test on the log throughputs (scipy), its 95% interval for the
    ratio of geometric means; the family correction and the verdict as the report's."""
    la, lb = np.log(xa), np.log(xb)
    result = scipy_stats.ttest_ind(la, lb, equal_var=False)
    interval = result.confidence_interval(0.95)
    return stats.Comparison(what, "a", "b", float(np.exp(la.mean() - lb.mean())), float(np.exp(interval.low)),
                            float(np.exp(interval.high)), float(result.pvalue), len(xa), len(xb))


RULES = ("report", "welch")


def verdicts(a: list[dict], b: list[dict], shift_b: float = 0.0, rule: str = "report") -> dict[tuple, str]:
    """The verdict per benchmark for processes ``a`` against ``b`` (throughput a / throughput b), one family, by
    ``rule``: the report's (bootstrap interval, exact Mann-Whitney) or Welch's t on logs. ``shift_b`` is added to
    b's PyTorch log times (the multiplied slowdown)."""
    keys = sorted({k for run in a + b for k in run}, key=str)
    comparisons = []
    for key in keys:
        extra = shift_b if key[0] == SLOWED[0] else 0.0
        xa = [math.exp(-run[key]) for run in a if key in run]  # throughput, in units of images per second / batch
        xb = [math.exp(-(run[key] + extra)) for run in b if key in run]
        what = gate.key_name(key)
        comparisons.append(stats.compare_throughput(what, "a", "b", xa, xb) if rule == "report" else
                           welch(what, xa, xb))
    return {key: c.verdict for key, c in zip(keys, stats.correct(comparisons), strict=True)}


def trial_counts(sides: dict[str, list[dict]], n: int, rng: np.random.Generator,
                 rule: str) -> dict[str, list[float]]:
    """One batch of random trials at ``n`` processes a side: per trial, whether it had a false verdict (A/A), the
    share of slowed benchmarks called, and so on."""
    unchanged = sides["unchanged"]
    out: dict[str, list[float]] = {"aa_false": [], "multiplied_called": [], "real_called": [], "real_false": [],
                                   "threads_called": [], "threads_false": []}
    for _ in range(TRIALS):
        order = rng.permutation(len(unchanged))
        if len(order) >= 2 * n:
            a, b = [unchanged[i] for i in order[:n]], [unchanged[i] for i in order[n:2 * n]]
            got = verdicts(a, b, rule=rule)
            out["aa_false"].append(float(any(v in ("faster", "slower") for v in got.values())))
            got = verdicts(a, b, SHIFT, rule)
            called = [got[k] == "faster" for k in got if k[0] == SLOWED[0]]
            out["multiplied_called"].append(float(np.mean(called)))
        for side, name in (("slowed", "real"), ("threads", "threads")):
            if len(sides.get(side, ())) >= n:
                a = [unchanged[i] for i in rng.choice(len(unchanged), n, replace=False)]
                b = [sides[side][i] for i in rng.choice(len(sides[side]), n, replace=False)]
                got = verdicts(a, b, rule=rule)
                hit = slowed if side == "slowed" else (lambda k: k[0] == SLOWED[0])
                out[f"{name}_called"].append(float(np.mean([got[k] == "faster" for k in got if hit(k)])))
                out[f"{name}_false"].append(float(any(got[k] in ("faster", "slower") for k in got if not hit(k))))
    return out


def independent(sides: dict[str, list[dict]], n: int, name: str) -> int:
    """How many trials of ``name`` could be drawn from disjoint runs: the sample size the interval may claim."""
    unchanged = len(sides["unchanged"])
    if name.startswith(("aa", "multiplied")):
        return unchanged // (2 * n)
    other = len(sides.get("slowed" if name.startswith("real") else "threads", ()))
    return min(unchanged, other) // n


def rates(sides: dict[str, list[dict]], n: int, rng: np.random.Generator, rule: str) -> dict[str, object]:
    """The rates of ``rule`` at ``n`` processes a side, each with a 95% interval (Clopper-Pearson) over the trials
    that disjoint runs allow: the random trials share runs, so their number says nothing about the precision."""
    out: dict[str, object] = {}
    for name, values in trial_counts(sides, n, rng, rule).items():
        if not values:
            continue
        rate = float(np.mean(values))
        basis = independent(sides, n, name)
        ci = scipy_stats.binomtest(round(rate * basis), basis).proportion_ci(0.95) if basis else None
        out[name] = {"rate": rate, "trials": len(values), "independent": basis,
                     "interval": [ci.low, ci.high] if ci else [0.0, 1.0]}
    return out


NAMES = {"aa_false": "families with a false verdict (A/A)", "real_called": "real 20% slowdown called",
         "real_false": "families with a false verdict beside the real slowdown",
         "multiplied_called": "multiplied 20% called", "threads_called": "thread-count change called",
         "threads_false": "families with a false verdict beside the thread-count change"}


RULE_NAMES = {"report": "the report's rule (bootstrap interval, exact Mann-Whitney, BH)",
              "welch": "Welch's t-test on log throughputs and its interval, BH (the alternative)"}


def table(title: str, by_n: dict) -> list[str]:
    columns = [k for k in NAMES if any(k in r for r in by_n.values())]
    lines = ["", f"## {title}", "", "| processes a side | " + " | ".join(NAMES[k] for k in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for n, r in by_n.items():
        cells = []
        for k in columns:
            if k in r:
                low, high = r[k]["interval"]
                cells.append(f"{r[k]['rate']:.1%} [{low:.0%}-{high:.0%}] ({r[k]['trials']}, {r[k]['independent']})")
            else:
                cells.append("-")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict, metas: dict) -> str:
    lines = ["# The main job's verdict rule on recorded runs", "",
             "Written by `python scripts/verdict_calibration.py` (its docstring says how each figure is computed) "
             "from the gate's recordings (`results/gate-experiment/recordings/`): the step benchmarks of PyTorch and "
             "Keras on TensorFlow, JAX and torch (lenet and mlp_bn; forward, backward, train step: 24 per family) at "
             "`--quick`'s rounds, each run one fresh process per framework, as the main job's repeats are. Two rules: "
             f"the report's, and Welch's t-test as the alternative. {TRIALS} random trials per setting (they share "
             "runs); each 95% interval is Clopper-Pearson over the trials disjoint runs allow, shown after the "
             "rate as (trials, disjoint). Goal (issue 24): at most "
             "1% of families with a false verdict, at least 90% of real 20% differences called.", ""]
    for name, meta in metas.items():
        lines.append(f"- `{name}`: {meta['started']} to {meta['ended']}, {meta['machine']['cpu']}, "
                     f"{meta['machine']['cores']} cores, {len(meta['runs'])} runs ({meta['order']})")
    for name, by_rule in results.items():
        for rule, by_n in by_rule.items():
            lines += table(f"{name}: {RULE_NAMES[rule]}", by_n)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recordings", type=Path, nargs="+")
    parser.add_argument("--output", type=Path, default=Path("results/verdict-calibration"))
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    results, metas = {}, {}
    for directory in args.recordings:
        meta, sides = load(directory)
        metas[directory.name] = meta
        results[directory.name] = {rule: {n: rates(sides, n, rng, rule) for n in PROCESSES} for rule in RULES}
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / "calibration.json", {"results": results, "recordings": metas, "trials": TRIALS,
                                                  "seed": SEED})
    text = markdown(results, metas)
    print(write_text(args.output / "calibration.md", text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
