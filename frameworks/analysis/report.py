"""``python -m frameworks report FILES``: results -> a Markdown report with a computed verdict, and charts.

Every figure is an estimate over processes (each process summarised by its median round) with a 95%
confidence interval; every comparison carries its interval, a rank test corrected for multiplicity, and a
verdict in words (``stats.py``). Accuracy results (``python -m frameworks accuracy``) add the
accuracy verdict. Several files are pooled only when they are like for like (the same settings, machine and
versions); otherwise the report refuses, unless asked to keep each file's figures apart (``mixed``), and it
always says which file each figure came from. Files are written atomically under new names; an existing
report is never overwritten.
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .. import stats
from ..fileio import atomic_path, check_output, write_text
from ..process_settings import oversubscribed
from ..registry import FRAMEWORKS
from ..results import EPOCH, FIDELITY, IDIOMATIC, STEP, TIME_TO_ACCURACY, BenchRecord, ResultsError, Run
from ..specs import NETWORKS
from .comparisons import (
    HEADLINE_KINDS,
    PHASE_ORDER,
    Analysis,
    AtBest,
    Cell,
    analyse,
    columns_order,
    describe_row,
    row_order,
)
from .export_section import deployment_section


def fmt_rate(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:,.0f}"


def fmt_estimate(e: stats.Estimate | None) -> str:
    if e is None or not math.isfinite(e.value):
        return "-"
    if e.has_interval:
        return f"{fmt_rate(e.value)} [{fmt_rate(e.low)}-{fmt_rate(e.high)}]"
    return f"{fmt_rate(e.value)} (n={e.n})"


def throughput_table(a: Analysis, device: str) -> list[str]:
    """images/s with 95% CIs, frameworks as columns, (network, phase, batch) as rows."""
    cells = [c for c in a.cells if c.device == device and c.kind in HEADLINE_KINDS]
    columns = columns_order(c.column for c in cells)
    rows: dict[tuple, dict[str, Cell]] = defaultdict(dict)
    for c in cells:
        rows[c.row][c.column] = c
    lines = ["| network | phase | batch | processes | " + " | ".join(columns) + " |",
             "|---|---|---|---|" + "---|" * len(columns)]
    for row in sorted(rows, key=row_order):
        network, _, phase, batch, images = row
        label = phase if not phase.startswith("epoch") else f"{phase} ({images:,} images)"
        best = max((c.estimate.value for c in rows[row].values() if c.estimate), default=math.nan)
        ns = sorted({c.estimate.n for c in rows[row].values() if c.estimate})
        values = []
        for column in columns:
            c = rows[row].get(column)
            if c is None:
                values.append("")
                continue
            text = fmt_estimate(c.estimate) + (" †" if c.disturbed else "")
            if len(a.sources) > 1:
                text += f" ({','.join(map(str, sorted(c.sources)))})"
            values.append(f"**{text}**" if c.estimate and c.estimate.value == best and len(rows[row]) > 1 else text)
        lines.append(f"| {network} | {label} | {batch or ''} | {'/'.join(map(str, ns))} | " + " | ".join(values) + " |")
    return lines


def ranking(comparisons: Sequence[stats.Comparison], cells: Sequence[Cell]) -> str:
    """Frameworks from fastest to slowest, joined by what the verdict between neighbours says: ">" faster,
    "≈" equivalent within the margin, "?" not concluded."""
    ordered = sorted((c for c in cells if c.estimate), key=lambda c: -c.estimate.value)  # type: ignore[union-attr]
    if not ordered:
        return ""
    verdicts = {(c.a, c.b): c for c in comparisons}
    parts = [f"{ordered[0].column} {fmt_rate(ordered[0].estimate.value)}"]  # type: ignore[union-attr]
    for upper, lower in itertools.pairwise(ordered):
        c = verdicts.get((upper.column, lower.column)) or verdicts.get((lower.column, upper.column))
        sign = "?"
        if c is not None and c.verdict in ("faster", "slower"):
            sign = ">"
        elif c is not None and c.verdict == "equivalent":
            sign = "≈"
        parts.append(f" {sign} {lower.column} {fmt_rate(lower.estimate.value)}")  # type: ignore[union-attr]
    return "".join(parts)


def scoreboard(comparisons: Sequence[stats.Comparison], sides: Sequence[tuple[str, str]] | None = None) -> list[str]:
    """Per framework, how its comparisons with every other framework came out (``sides``: the frameworks of each
    comparison's a and b, where its labels name variants)."""
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for i, c in enumerate(comparisons):
        a, b = sides[i] if sides is not None else (c.a, c.b)
        if c.verdict == "faster":
            tally[a]["faster"] += 1
            tally[b]["slower"] += 1
        elif c.verdict == "slower":
            tally[a]["slower"] += 1
            tally[b]["faster"] += 1
        else:
            tally[a][c.verdict] += 1
            tally[b][c.verdict] += 1
    lines = ["| framework | faster | slower | equivalent | inconclusive |", "|---|---|---|---|---|"]
    for name in columns_order(tally):
        t = tally[name]
        lines.append(f"| {name} | {t['faster']} | {t['slower']} | {t['equivalent']} | {t['inconclusive']} |")
    return lines


def _tally_sides(pairs: Sequence[tuple[stats.Comparison, str, str]], framework: str) -> tuple[int, int, int, int]:
    """(faster, slower, equivalent, inconclusive) for ``framework`` over comparisons given with the frameworks of
    their two sides."""
    wins = sum(1 for c, a, b in pairs if (c.verdict == "faster" and a == framework)
               or (c.verdict == "slower" and b == framework))
    losses = sum(1 for c, a, b in pairs if (c.verdict == "faster" and b == framework)
                 or (c.verdict == "slower" and a == framework))
    ties = sum(1 for c, _, _ in pairs if c.verdict == "equivalent")
    return wins, losses, ties, len(pairs) - wins - losses - ties


def _conclusion(framework: str, speed: tuple[int, int, int, int], acc: tuple[int, int, int, int]) -> str:
    """The claim's verdict in words from the speed and accuracy tallies."""
    wins, losses, ties, open_ = speed
    acc_wins, acc_losses, acc_ties, acc_open = acc
    n_speed, n_acc = sum(speed), sum(acc)
    if n_speed and wins == n_speed and n_acc and acc_wins == n_acc:
        return "the claim holds in every comparison"
    if losses or acc_losses or (n_acc and acc_ties == n_acc and ties):
        return ("the claim does not hold as a general statement: "
                + ", ".join(p for p in (f"{losses} speed comparisons go against {framework}" if losses else "",
                                       f"{acc_losses} accuracy comparisons go against it" if acc_losses else "",
                                       f"{acc_ties} accuracy comparisons are equivalent" if acc_ties else "",
                                       f"{ties} speed comparisons are equivalent" if ties else "") if p))
    return "the claim is neither shown nor refuted by these results"


def claim_check(a: Analysis, framework: str) -> list[str]:
    """Whether ``framework`` outperforms every other framework in speed and in accuracy, as computed: with every
    framework at its default variant, then with each at its best variant (speed at fp32; accuracy is trained at
    the default variants only)."""
    speed, wins, losses, ties, open_ = _tally(a.speed, framework)
    acc = [c for c in a.accuracy_comparisons if framework in (c.a, c.b)]
    acc_wins = sum(1 for c in acc if c.verdict in ("more accurate", "less accurate")
                   and (c.a == framework) == (c.verdict == "more accurate"))
    acc_losses = sum(1 for c in acc if c.verdict in ("more accurate", "less accurate")) - acc_wins
    acc_ties = sum(1 for c in acc if c.verdict == "equivalent")
    acc_tally = (acc_wins, acc_losses, acc_ties, len(acc) - acc_wins - acc_losses - acc_ties)
    lines = [f"Claim: *{framework} outperforms the other frameworks in speed and accuracy.*", "",
             "**Defaults against defaults** (each framework as it runs out of the box: its default variant):", ""]
    lines.append(f"- Speed ({len(speed)} comparisons of {framework} with another framework on one benchmark): "
                 f"faster in {wins}, slower in {losses}, equivalent within ±{a.margin:.0%} in {ties}, "
                 f"inconclusive in {open_}.")
    if acc:
        lines.append(f"- Accuracy ({len(acc)} comparisons over seeds): more accurate in {acc_wins}, less accurate "
                     f"in {acc_losses}, equivalent within ±{100 * acc[0].margin:.1f} points in {acc_ties}, "
                     f"inconclusive in {acc_tally[3]}.")
    else:
        lines.append("- Accuracy: no accuracy results in this report (python -m frameworks accuracy).")
    lines += ["", f"**Verdict: {_conclusion(framework, (wins, losses, ties, open_), acc_tally)}.**"]
    for precision, comparisons in a.reduced_speed.items():
        column = f"{framework} [{precision}]"
        mine, w, lo, t, o = _tally(comparisons, column)
        if mine:
            lines += ["", f"At {precision} (each framework's default variant at {precision}, against each other only): "
                          f"{column} is faster in {w}, slower in {lo}, equivalent in {t}, inconclusive in {o} of "
                          f"{len(mine)} speed comparisons."]
    best = [(p.comparison, p.a, p.b) for p in a.best if framework in (p.a, p.b)]
    if best and not a.variants:
        lines += ["", "**Each framework at its best**: no framework has another variant in these results, so each is "
                  "at its best at its default: the verdict above."]
    elif best:
        tally = _tally_sides(best, framework)
        counts: dict[str, set[str]] = defaultdict(set)
        for p in a.best:
            if framework in (p.a, p.b):
                counts[p.a_variant if p.a == framework else p.b_variant].add(p.comparison.what)
        chosen = [f"{variant} on {len(whats)}" for variant, whats in sorted(counts.items(), key=lambda kv: -len(kv[1]))]
        lines += ["", "**Each framework at its best** (on each benchmark, each framework's fastest variant, chosen "
                  "on half of its processes and compared on the other half: see *Each framework at its best* "
                  "below):", ""]
        lines.append(f"- Speed ({len(best)} comparisons; the variant of {framework} chosen, per benchmark: "
                     f"{', '.join(chosen)}): faster in {tally[0]}, slower in {tally[1]}, equivalent within "
                     f"±{a.margin:.0%} in {tally[2]}, inconclusive in {tally[3]}.")
        lines.append("- Accuracy: as above (trained at the default variants, which compute the same network as "
                     "every other variant: the equivalence tests prove it).")
        lines += ["", f"**Verdict at each framework's best: {_conclusion(framework, tally, acc_tally)}.**", "",
                  "<details><summary>Every comparison at their best involving " + framework + "</summary>", "",
                  "| benchmark | a / b (the variants chosen) | ratio [95% CI] | processes a / b | p (adjusted) | "
                  "verdict |", "|---|---|---|---|---|---|"]
        lines += [_best_row(p) for p in a.best if framework in (p.a, p.b)] + ["", "</details>"]
    return lines


def _tally(comparisons: Sequence[stats.Comparison], column: str) -> tuple[list[stats.Comparison], int, int, int, int]:
    """(the comparisons naming ``column``, its wins, losses, ties, undecided), refused ones counted undecided."""
    mine = [c for c in comparisons if column in (c.a, c.b)]
    wins = sum(1 for c in mine if (c.verdict == "faster" and c.a == column)
               or (c.verdict == "slower" and c.b == column))
    losses = sum(1 for c in mine if (c.verdict == "faster" and c.b == column)
                 or (c.verdict == "slower" and c.a == column))
    ties = sum(1 for c in mine if c.verdict == "equivalent")
    return mine, wins, losses, ties, len(mine) - wins - losses - ties


def verdict_section(a: Analysis, claim: str | None) -> list[str]:
    out = ["## Verdict", ""]
    family = [*a.speed, *a.variants, *a.precision, *(c for cs in a.reduced_speed.values() for c in cs)]
    n_tests = sum(1 for c in family if math.isfinite(c.p))
    if a.speed or a.variants:  # an accuracy-only report has no speed comparisons to explain
        out += [f"Computed from the figures below ({stats.__name__.rsplit('.', 1)[-1]}.py): each process is summarised "
                "by its median round; a framework's figure is the geometric mean over its processes with a "
                f"{a.confidence:.0%} bootstrap interval over processes; each pair's throughput ratio has a bootstrap "
                "interval and an exact Mann-Whitney U test on the per-process figures, corrected with "
                f"Benjamini-Hochberg over the {n_tests} comparisons of this report. \"Faster\" needs the interval to "
                "exclude 1 and the corrected test to reject; \"equivalent\" needs the whole interval within "
                f"±{a.margin:.0%}; anything else is inconclusive.", ""]
    if claim:
        out += ["### Claim check", ""] + claim_check(a, claim) + [""]
    headline = [c for c in a.speed if math.isfinite(c.ratio)]
    if headline:
        out += ["### Speed", "", "Every framework at its default variant against every other, on every benchmark:",
                ""] + scoreboard(
            headline) + [""]
        out += ["From fastest to slowest (images/s; `>` faster, `≈` equivalent, `?` not concluded, between "
                "neighbours):", "", "| benchmark | ranking |", "|---|---|"]
        by_what: dict[str, list[stats.Comparison]] = defaultdict(list)
        for c in a.speed:
            by_what[c.what].append(c)
        for what, comparisons in by_what.items():
            cells = [c for c in a.cells if c.kind in HEADLINE_KINDS and c.headline and describe_row(c.row) == what]
            out.append(f"| {what} | {ranking(comparisons, cells)} |")
        out += ["", "<details><summary>Every comparison</summary>", "",
                "| benchmark | a / b | ratio [95% CI] | p (adjusted) | verdict |", "|---|---|---|---|---|"]
        for c in a.speed:
            out.append(_comparison_row(c))
        out += ["", "</details>", ""]
        out += manifest_lines(a, [c for c in a.cells if c.headline]) + [""]
    if a.variants:
        out += ["### Variants against their framework's default", "",
                "| benchmark | a / b | ratio [95% CI] | p (adjusted) | verdict |", "|---|---|---|---|---|"]
        out += [_comparison_row(c) for c in a.variants] + [""]
    out += precision_section(a)
    if a.variants and a.best:  # with no variant, "at its best" is every framework at its default: said above
        out += best_section(a)
    if a.accuracy:
        out += accuracy_section(a)
    return out


BEST_METHOD = (
    "On each benchmark at fp32, each framework runs at its best variant: the fastest of those timed there, chosen "
    "by the geometric mean of its processes of even-numbered repeats, and compared with the others on its processes of "
    "odd-numbered repeats, which the choice never saw (split-sample selection). Choosing the best of several noisy "
    "variants and estimating it from the same figures would overstate it (the winner's curse); the held-out "
    "figures keep the interval's coverage however many variants there are. A framework with one variant on a "
    "benchmark has nothing to choose: all its processes count. Each comparison is the usual one "
    "on those figures (bootstrap interval, exact Mann-Whitney U test), corrected with Benjamini-Hochberg over "
    "these comparisons as a family of their own. With n repeats the held-out half has ⌈n/2⌉ processes: a "
    "\"faster\" verdict needs at least 4 a side, so 8 repeats or more.")


def best_section(a: Analysis) -> list[str]:
    """Every pair of frameworks, each at its best variant, with the method and the variant chosen."""
    out = ["### Each framework at its best", "", BEST_METHOD, ""]
    held_out = sorted({n for p in a.best for n in (p.comparison.n_a, p.comparison.n_b)})
    if held_out and held_out[0] < 2:
        out += [f"Here the fewest processes a side is {held_out[0]}: no interval, no verdict (--repeats 8 or more).",
                ""]
    elif held_out and held_out[0] < 4:
        out += [f"Here the fewest processes a side is {held_out[0]}: an interval that excludes 1 cannot become "
                "\"faster\" (the exact rank test's smallest p with so few is above 0.05); equivalence within the "
                "margin can still be shown.", ""]
    shown = [p for p in a.best if math.isfinite(p.comparison.ratio)]
    out += scoreboard([p.comparison for p in shown], [(p.a, p.b) for p in shown]) + [""]
    out += ["| benchmark | a / b (the variants chosen) | chosen from | ratio [95% CI] | processes a / b | "
            "p (adjusted) | verdict |", "|---|---|---|---|---|---|---|"]
    for p in a.best:
        c = p.comparison
        chosen_from = f"{p.a}: {', '.join(p.a_from)}; {p.b}: {', '.join(p.b_from)}"
        out.append(f"| {c.what} | {c.a} / {c.b} | {chosen_from} | {_interval(c)} | {_processes(p)} | {_p(c)} | "
                   f"{c.words} |")
    return out + [""]


def _interval(c: stats.Comparison) -> str:
    return f"{c.ratio:.3f} [{c.low:.3f}-{c.high:.3f}]" if math.isfinite(c.low) else f"{c.ratio:.3f}"


def _p(c: stats.Comparison) -> str:
    return f"{c.p:.4f} ({c.p_adjusted:.4f})" if math.isfinite(c.p) else "-"


def _processes(p: AtBest) -> str:
    """How many processes each side's figure uses, and whether they were held out from a choice."""
    def side(best: stats.Best, n: int) -> str:
        return f"{n} held out" if best.chosen_on else f"{n} (nothing chosen)"

    return f"{side(p.a_best, p.comparison.n_a)} / {side(p.b_best, p.comparison.n_b)}"


def _best_row(p: AtBest) -> str:
    c = p.comparison
    return f"| {c.what} | {c.a} / {c.b} | {_interval(c)} | {_processes(p)} | {_p(c)} | {c.words} |"


def manifest_lines(a: Analysis, cells: Sequence[Cell]) -> list[str]:
    """What the compared figures' numeric manifests say: the values they share, and per framework the values
    that differ (compilation is each framework's own configuration; a field that must match and does not is
    named in the comparisons it refused)."""
    manifests = {c.column: c.manifest for c in cells if c.manifest}
    if not manifests:
        return []
    fields = list(dict.fromkeys(k for m in manifests.values() for k in m))
    shared = [f for f in fields if len({str(m.get(f)) for m in manifests.values()}) == 1]
    lines = ["Numeric manifest of these figures: " + "; ".join(
        f"{f} {next(iter(manifests.values())).get(f)}" for f in shared) + "."]
    for f in (f for f in fields if f not in shared):
        values = "; ".join(f"{column}: {m.get(f, '-')}" for column, m in sorted(manifests.items()))
        lines.append(f"{f} differs: {values}.")
    if refused := [c for c in a.speed if c.verdict == "refused"]:
        lines.append(f"{len(refused)} comparisons were refused as unlike for like (their verdict names the field).")
    return [" ".join(lines)]


def precision_section(a: Analysis) -> list[str]:
    """Reduced precision against fp32 per framework, and the ranking of frameworks at each reduced precision
    (never one framework's bf16 figure against another's fp32)."""
    if not a.precision and not a.reduced_speed:
        return []
    out = ["### Precision", "",
           "Each framework's reduced-precision figure against its own fp32 figure on the same benchmark (a ratio "
           "above 1: the reduced precision is faster). bf16 is mixed precision as each framework's recipe sets "
           "it up (float32 master weights, loss and softmax), proven to compute the fp32 network within "
           "bfloat16's error bound (tests/test_precision.py).", "",
           "| benchmark | a / b | ratio [95% CI] | p (adjusted) | verdict |", "|---|---|---|---|---|"]
    out += [_comparison_row(c) for c in a.precision] + [""]
    for precision, comparisons in a.reduced_speed.items():
        out += [f"Frameworks at {precision}, from fastest to slowest (images/s; `>` faster, `≈` equivalent, `?` not "
                "concluded, between neighbours):", "", "| benchmark | ranking |", "|---|---|"]
        by_what: dict[str, list[stats.Comparison]] = defaultdict(list)
        for c in comparisons:
            by_what[c.what].append(c)
        for what, group in by_what.items():
            cells = [c for c in a.cells if c.kind in HEADLINE_KINDS and c.default_variant
                     and c.precision == precision and describe_row(c.row) == what]
            out.append(f"| {what} | {ranking(group, cells)} |")
        out += [""] + scoreboard([c for c in comparisons if math.isfinite(c.ratio)]) + [""]
        out += manifest_lines(a, [c for c in a.cells if c.default_variant and c.precision == precision]) + [""]
    return out


def _comparison_row(c: stats.Comparison) -> str:
    return f"| {c.what} | {c.a} / {c.b} | {_interval(c)} | {_p(c)} | {c.words} |"


def accuracy_section(a: Analysis) -> list[str]:
    trainings = [t for run in a.accuracy for t in run.trainings]
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for t in trainings:
        groups[(t.network, t.device, t.label)].append(t)
    nets = {n: i for i, n in enumerate(NETWORKS)}
    order = {name: i for i, name in enumerate(FRAMEWORKS)}
    out = ["### Accuracy", "",
           "Test accuracy after the recipe's epochs, one training per seed (Student t interval over seeds). "
           "Failed and diverged runs are counted, never dropped: a failed run has no accuracy, a diverged one "
           "keeps the accuracy it ended with.", "",
           "| network | framework | seeds | mean | sd | 95% CI | range | failed / diverged | reached target |",
           "|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(groups, key=lambda k: (nets.get(k[0], 99), k[1], order.get(k[2].split(' x')[0], 99), k[2])):
        network, device, framework = key
        ts = groups[key]
        accs = [t.accuracy for t in ts if t.accuracy is not None]
        estimate, sd = stats.mean_with_interval(accs, a.confidence)
        failed = sum(1 for t in ts if t.accuracy is None)
        diverged = sum(1 for t in ts if t.diverged)
        target = ts[0].target
        reached = [t.seconds_to_target for t in ts if t.seconds_to_target is not None]
        target_text = "-" if target is None else (
            f"{len(reached)}/{len(ts)} reached {target:.1%} within {ts[0].epochs} epochs"
            + (f" (median {sorted(reached)[len(reached) // 2]:.0f} s)" if reached else ""))
        ci = (f"{estimate.low:.2%}-{estimate.high:.2%}" if estimate.has_interval else "-")
        span = f"{min(accs):.2%}-{max(accs):.2%}" if accs else "-"
        mean = f"{estimate.value:.2%}" if math.isfinite(estimate.value) else "-"
        sd_text = f"{100 * sd:.2f} pts" if math.isfinite(sd) else "-"
        out.append(f"| {network}{'' if device == 'cpu' else f' ({device})'} | {framework} | {len(ts)} | {mean} | "
                   f"{sd_text} | {ci} | {span} | {failed} / {diverged} | {target_text} |")
    if a.accuracy_comparisons:
        out += ["", f"Pairs (Welch's t-test for a difference, two one-sided tests for equivalence within "
                f"±{100 * a.accuracy_comparisons[0].margin:.1f} points, each corrected with Benjamini-Hochberg):", "",
                "| network | a / b | difference [95% CI] | p difference (adj.) | p equivalence (adj.) | verdict |",
                "|---|---|---|---|---|---|"]
        for c in a.accuracy_comparisons:
            diff = (f"{100 * c.difference:+.2f} [{100 * c.low:+.2f} to {100 * c.high:+.2f}] pts"
                    if math.isfinite(c.low) else f"{100 * c.difference:+.2f} pts")
            p = f"{c.p_adjusted:.4f}" if math.isfinite(c.p) else "-"
            pe = f"{c.p_equivalence:.4f}" if math.isfinite(c.p_equivalence) else "-"
            out.append(f"| {c.network} | {c.a} / {c.b} | {diff} | {p} | {pe} | {c.words} |")
    return out + [""]


def first_call_table(a: Analysis) -> list[str]:
    """Seconds of the first call (compilation, tracing, allocation), kept apart from the timed rounds."""
    grouped: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in a.cells:
        if c.kind == STEP:
            for r in c.records:
                if r.first_call_s is not None:
                    grouped[(c.column, c.network, c.device, c.batch)][c.phase].append(r.first_call_s)
    if not grouped:
        return []
    lines = ["| framework | network | device | batch | forward | backward | train_step |",
             "|---|---|---|---|---|---|---|"]
    for (column, network, device, batch), phases in sorted(grouped.items(), key=lambda kv: str(kv[0])):
        values = [f"{sorted(phases[p])[len(phases[p]) // 2]:.2f} s" if p in phases else ""
                  for p in ("forward", "backward", "train_step")]
        lines.append(f"| {column} | {network} | {device} | {batch} | " + " | ".join(values) + " |")
    return lines


def fidelity_table(a: Analysis) -> list[str]:
    """The suite's median step beside the framework's own tool's, in the same process: the ratio as a geometric
    mean over processes with its interval."""
    cells = [c for c in a.cells if c.kind == FIDELITY]
    if not cells:
        return []
    lines = ["| framework | network | phase | suite median | own tool median | suite / own [95% CI] (processes) | "
             "own tool drift | own tool |", "|---|---|---|---|---|---|---|---|"]
    for c in sorted(cells, key=lambda c: (columns_order([c.column]), c.network, c.phase)):
        ratios = [r.details["suite_over_own"] for r in c.records if r.details.get("suite_over_own")]
        own = [r.details["own_median_s"] for r in c.records if r.details.get("own_median_s")]
        drift = [r.details["own_drift"] for r in c.records if r.details.get("own_drift") is not None]
        median = sorted(r.median_s for r in c.records)[len(c.records) // 2]
        ratio = ""
        if ratios:
            e = stats.throughput(ratios, a.confidence)
            ratio = (f"{e.value:.3f} [{e.low:.3f}-{e.high:.3f}] ({e.n})" if e.has_interval else f"{e.value:.3f} "
                     f"({e.n})")
        own_text = f"{1e3 * sorted(own)[len(own) // 2]:.2f} ms" if own else ""
        drift_text = f"{100 * sorted(drift)[len(drift) // 2]:+.1f}%" if drift else ""
        tool = c.records[0].details.get("own_tool", "")
        lines.append(f"| {c.column} | {c.network} | {c.phase} | {1e3 * median:.2f} ms | {own_text} | {ratio} | "
                     f"{drift_text} | {tool} |")
    return lines


def idiomatic_table(a: Analysis) -> list[str]:
    """The suite's epoch against each tutorial-style script: the ratio with its interval and verdict (a family of
    its own, corrected like the speed comparisons)."""
    cells = [c for c in a.cells if c.kind == IDIOMATIC]
    if not cells:
        return []
    pairs = []
    for c in sorted(cells, key=lambda c: (columns_order([c.column]), c.network, c.phase)):
        suite = next((s for s in a.cells if s.kind == EPOCH and s.framework == c.framework and s.headline
                      and s.network == c.network and s.phase == "epoch-framework" and s.device == c.device), None)
        if suite is not None:
            pairs.append((c, suite, stats.compare_throughput(c.network, "the suite", "the script",
                                                             list(suite.per_process.values()),
                                                             list(c.per_process.values()), a.confidence)))
    judged = stats.correct([p[2] for p in pairs], 1 - a.confidence, a.margin)
    lines = ["| framework | network | tutorial-style script, images/s | the suite's epoch, images/s | suite / script "
             "[95% CI] | verdict | page faults per epoch, suite / script | what the script does |",
             "|---|---|---|---|---|---|---|---|"]
    for (c, suite, _), comparison in zip(pairs, judged, strict=True):
        interval = (f"{comparison.ratio:.3f} [{comparison.low:.3f}-{comparison.high:.3f}]"
                    if math.isfinite(comparison.low) else f"{comparison.ratio:.3f}")
        lines.append(f"| {c.column} | {c.network} | {fmt_estimate(c.estimate)} | {fmt_estimate(suite.estimate)} | "
                     f"{interval} | {comparison.words} | {page_faults(suite.records)} / {page_faults(c.records)} | "
                     f"{c.records[0].details.get('script', '')} |")
    return lines


def page_faults(records: list[BenchRecord]) -> str:
    """The median over processes of the minor page faults per round (an epoch here), or "?" where not counted."""
    counts = [r.details["page_faults_per_round"] for r in records if "page_faults_per_round" in r.details]
    return f"{statistics.median(counts):,.0f}" if counts else "?"


def time_to_accuracy_table(a: Analysis) -> list[str]:
    converged = [r for r in a.records if r.kind == TIME_TO_ACCURACY]
    not_converged = [n for run in a.runs for n in run.not_converged]
    if not converged and not not_converged:
        return []
    lines = ["| framework | network | device | target | result | accuracy after each epoch |",
             "|---|---|---|---|---|---|"]
    for r in converged:
        t = r.details
        accs = ", ".join(f"{x:.2%}" for x in t.get("accuracy_per_epoch", []))
        lines.append(f"| {r.framework} | {r.network} | {r.device} | {t['target']:.1%} | "
                     f"{r.median_s:.1f} s ({t.get('epochs')} epochs) | {accs} |")
    for t in not_converged:
        accs = ", ".join(f"{x:.2%}" for x in t.get("accuracy_per_epoch", []))
        lines.append(f"| {t['framework']} | {t['network']} | {t['device']} | {t['target']:.1%} | "
                     f"not converged within {t['epoch_cap']} epochs | {accs} |")
    return lines


def machine_lines(a: Analysis) -> list[str]:
    lines = []
    for i, run in enumerate([*a.runs, *a.accuracy], 1):
        details = run.machine
        m = details.get("machine", {})
        tag = f" [{a.sources.index(run.path) + 1}]" if len(a.sources) > 1 else ""
        if m:
            lines.append(f"- Machine{tag}: {m.get('cpu_model')} ({m.get('cpu_cores')} cores, {m.get('usable_cores')} "
                         f"usable), {m.get('memory_gib')} GiB, {m.get('os')} {m.get('machine')}, Python "
                         f"{m.get('python')}")
        if details.get("threads") is not None:
            lines.append(f"- Threads{tag}: {details['threads']} intra-op threads for every framework")
            cores = m.get("usable_cores")
            if isinstance(details["threads"], int) and isinstance(cores, int) and \
                    (warning := oversubscribed(details["threads"], cores)):
                lines.append(f"- **Oversubscribed{tag}**: {warning.removeprefix('warning: ')}")
        if details.get("versions"):
            lines.append(f"- Versions{tag}: " + ", ".join(f"{k} {v}" for k, v in details["versions"].items()))
        if details.get("gpu"):
            lines.append(f"- GPU{tag}: " + "; ".join(f"{k} {v}" for k, v in details["gpu"].items()))
        if isinstance(run, Run) and run.commit.get("id"):
            lines.append(f"- Commit{tag}: {run.commit['id'][:12]}{' (dirty)' if run.commit.get('dirty') else ''}")
        if run.settings:
            shown = {k: v for k, v in run.settings.items() if v not in (None, [], False)}
            lines.append(f"- Settings{tag}: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
        if run.command:
            lines.append(f"- Command{tag}: `{' '.join(run.command)}`")
        if i > 3 and len(a.runs) + len(a.accuracy) > 4:
            lines.append(f"- ... and {len(a.runs) + len(a.accuracy) - i} more inputs")
            break
    return lines


def processes_section(a: Analysis) -> list[str]:
    processes = [(run, p) for run in a.runs for p in run.processes]
    if not processes:
        return []
    disturbed = [p for _, p in processes if p.noise is not None and p.noise.disturbed]
    out = ["## Processes", ""]
    if disturbed:
        out += [f"**{len(disturbed)} of {len(processes)} processes ran while the machine was busy** (marked "
                "† in the tables): their figures are kept, not silently mixed in, and the intervals include "
                "them; re-run on a quiet machine to remove the doubt.", ""]
    out += ["| process | environment | outcome | results | machine while it ran |", "|---|---|---|---|---|"]
    for run, p in processes:
        env = ", ".join(f"{k}={v}" for k, v in p.environment.items())
        machine = ""
        if p.noise is not None:
            n = p.noise
            parts = []
            if n.others_cpu is not None:
                parts.append(f"others {n.others_cpu:.0%} of the CPU")
            if n.steal is not None:
                parts.append(f"steal {n.steal:.0%}")
            if n.load_before is not None:
                parts.append(f"load {n.load_before:.2f} before")
            machine = (f"**disturbed: {n.disturbed}**" if n.disturbed else "quiet") + (
                f" ({', '.join(parts)})" if parts else "")
        label = p.label + (f" [{a.sources.index(run.path) + 1}]" if len(a.sources) > 1 else "")
        out.append(f"| {label} | {env} | {p.status} | {p.benchmarks} | {machine} |")
    return out + [""]


def markdown(a: Analysis, charts: Sequence[Path] = (), claim: str | None = None,
             extra_sections: Sequence[list[str]] = ()) -> str:
    """The report as Markdown."""
    out = ["# MNIST framework benchmark report", ""]
    out += ["Sources: " + ", ".join(f"[{i}] {s}" if len(a.sources) > 1 else s
                                    for i, s in enumerate(a.sources, 1)), ""]
    if any(run.interrupted for run in [*a.runs, *a.accuracy]):
        out += ["**The run was interrupted: only what finished is reported.**", ""]
    for run in a.runs:
        if run.stopped:
            source = f" ({run.path})" if len(a.sources) > 1 else ""
            out += [f"**The run stopped before its plan{source}:** {run.stopped}.", ""]
    if a.only_in_some:
        out += ["## Benchmarks in some inputs only", "", "Not compared across inputs:", ""]
        out += [f"- {line}" for line in a.only_in_some] + [""]
    out += machine_lines(a) + [""]
    if a.runs or a.accuracy:
        out += verdict_section(a, claim)
    out += processes_section(a)
    devices = sorted({c.device for c in a.cells if c.kind in HEADLINE_KINDS})
    if devices:
        out += [f"## Throughput (images/s: geometric mean over processes [{a.confidence:.0%} CI])", "",
                "Each process's figure is its median timed round; warm-up and the first call are excluded (their "
                "time is below); every call ends with the device synchronised. The best figure of each row is in "
                "bold; † marks a figure with processes that ran on a disturbed machine."
                + (" The numbers in brackets after a figure are the inputs it came from." if len(a.sources) > 1
                   else ""), ""]
        for device in devices:
            out += [f"### {device}", ""] + throughput_table(a, device) + [""]
    elif a.runs:
        out += ["No throughput results in these files.", ""]
    if table := first_call_table(a):
        out += ["## First call (compilation, tracing, first allocation; median over processes)", ""] + table + [""]
    if table := fidelity_table(a):
        out += ["## Fidelity: the suite's timing beside each framework's own tool (same model, same process)", "",
                "The two alternate within the test (one block of the own tool before each of the suite's rounds), so "
                "a change of the machine's speed reaches both alike; the drift column is the own tool's second half "
                "over its first. A ratio near 1 means the suite adds no overhead and the two agree.", ""] + table + [""]
    if table := idiomatic_table(a):
        out += ["## Fidelity to idiomatic code: the suite's epoch beside a tutorial-style training script", "",
                "Each script is written the way its framework's own tutorial writes it, with no suite code; a "
                "ratio near 1 means the suite's harness does not handicap the framework. Page faults are pages the "
                "C allocator took fresh from the system during the epoch (median over processes): where the two "
                "sides differ much, the ratio carries the allocator's state as well as the harness "
                "(docs/benchmarks.md, \"The harness against each framework's own code\").", ""] + table + [""]
    if table := time_to_accuracy_table(a):
        out += ["## Time to accuracy (data loading, model building, training and per-epoch evaluation)", ""]
        out += table + [""]
    if deployment := deployment_section(a.records, a.exports):
        out += deployment + [""]
    for section in extra_sections:
        out += list(section) + [""]
    for chart_path in charts:
        out += [f"![{chart_path.stem}]({chart_path.name})", ""]
    return "\n".join(out)


def chart(a: Analysis, device: str, path: Path) -> Path | None:
    """A PNG of images/s per framework with 95% CIs as error bars, one panel per phase, bars by network."""
    cells = [c for c in a.cells if c.device == device and c.kind in HEADLINE_KINDS and c.estimate]
    if not cells:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in PHASE_ORDER if any(c.phase == p for c in cells)]
    columns = columns_order(c.column for c in cells)
    networks = [n for n in NETWORKS if any(c.network == n for c in cells)] + sorted(
        {c.network for c in cells} - set(NETWORKS))
    fig, axes = plt.subplots(1, len(phases), figsize=(4.2 * len(phases), 4.4), squeeze=False)
    width = 0.8 / max(len(columns), 1)
    for ax, phase in zip(axes[0], phases, strict=True):
        for i, column in enumerate(columns):
            values, low, high = [], [], []
            for network in networks:
                match = [c for c in cells if c.phase == phase and c.network == network and c.column == column]
                best = max(match, key=lambda c: c.estimate.value, default=None)  # type: ignore[union-attr]
                e = best.estimate if best else None
                values.append(e.value if e else 0.0)
                low.append(e.value - e.low if e and e.has_interval else 0.0)
                high.append(e.high - e.value if e and e.has_interval else 0.0)
            ax.bar([j + i * width for j in range(len(networks))], values, width, yerr=[low, high], capsize=2,
                   label=column)
        ax.set_title(phase)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(networks))], networks)
        ax.set_yscale("log")
        ax.set_ylabel("images/s")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"MNIST throughput on {device}, 95% CIs over processes (higher is better)")
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
    raise ResultsError(f"no free file name for {stem}{suffix} in {directory}")


def write_report(paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike | None = None, *,
                 mixed: bool = False, claim: str | None = None, margin: float = stats.SPEED_MARGIN,
                 accuracy_margin: float = stats.ACCURACY_MARGIN, confidence: float = stats.CONFIDENCE,
                 allow_mismatch: Sequence[str] = (), extra_sections: Sequence[list[str]] = ()) -> list[Path]:
    """Write the Markdown report and its charts beside the first result file (or in ``output_dir``)."""
    a = analyse(paths, mixed=mixed, margin=margin, confidence=confidence, accuracy_margin=accuracy_margin,
                allow_mismatch=allow_mismatch)
    if claim is not None and claim not in {c for cell in a.cells for c in (cell.column,)} | {
            t.framework for run in a.accuracy for t in run.trainings}:
        raise ResultsError(f"--claim {claim}: no results for that framework in these files")
    out_dir = check_output(output_dir if output_dir else Path(paths[0]).parent, "--output-dir")
    stem = Path(paths[0]).name.removesuffix(".gz").removesuffix(".json")  # results.json(.gz) -> results
    charts = []
    try:
        import matplotlib  # noqa: F401

        for device in sorted({c.device for c in a.cells if c.kind in HEADLINE_KINDS}):
            made = chart(a, device, unused_path(out_dir, f"{stem}-{device}", ".png"))
            if made:
                charts.append(made)
    except ImportError:
        print("matplotlib is not installed: writing the Markdown report without charts")
    md_path = write_text(unused_path(out_dir, f"{stem}-report", ".md"),
                         markdown(a, charts, claim, extra_sections))
    return [md_path, *charts]
