"""Each fidelity ratio (suite over own tool) per process and as a geometric mean, both ways."""
import glob, gzip, json, math, os, statistics
base = os.path.dirname(os.path.abspath(__file__))
for cond in ("shipped", "warmed"):
    cells = {}
    for path in sorted(glob.glob(f"{base}/{cond}-*-results.json.gz")):
        for b in json.load(gzip.open(path))["benchmarks"]:
            e = b["extra_info"]
            r = e.get("details", {}).get("suite_over_own")
            if e.get("kind") == "fidelity" and r:
                cells.setdefault((e["framework"], e["network"], e["phase"]), []).append(r)
    print(cond)
    for k, v in sorted(cells.items()):
        g = math.exp(statistics.mean(map(math.log, v)))
        print(f"  {'/'.join(k):32s} {g:.3f}  [{', '.join('%.3f' % x for x in v)}]{'  OUTSIDE 2%' if abs(g-1) > 0.02 else ''}")
