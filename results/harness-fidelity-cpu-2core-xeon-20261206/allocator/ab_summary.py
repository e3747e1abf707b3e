"""run.log in figures: per process, the suite's first timed epoch against the tutorial's second (as the suite
compares them), with the page faults of each."""
import json, re, statistics, math, sys
rows = {}; cur = None
for line in open(sys.argv[1] if len(sys.argv) > 1 else "run.log"):
    m = re.match(r"== r(\d) malloc=(\w+)", line)
    if m: cur = (int(m[1]), m[2]); continue
    if line.startswith("AB "):
        d = json.loads(line[3:]); rows.setdefault(cur, {}).setdefault(d["label"], []).append((d["img_s"][0], None))
    elif line.startswith("PROBE "):
        d = json.loads(line[6:]); rows.setdefault(cur, {}).setdefault("suite", []).append((d["img_s"], d["faults"]))
    elif line.startswith("{"):
        d = json.loads(line); rows.setdefault(cur, {}).setdefault("script", []).append((round(d["images"]/d["seconds"]), d["faults"]))
for malloc in ("no", "yes"):
    print("malloc fixed:", malloc)
    ratios = []
    for r in (1, 2, 3):
        x = rows[(r, malloc)]
        suite = x["suite"][0]; script = x["script"][1]  # the suite's first timed epoch; the script's second
        ratios.append(suite[0] / script[0])
        print(f"  process {r}: suite {suite[0]} img/s ({suite[1]:,} faults), script {script[0]} img/s ({script[1]:,} faults), ratio {suite[0]/script[0]:.3f}",
              " plain", x.get("plain"), "pytest", x.get("pytest"))
    print("  geo mean ratio %.3f" % math.exp(statistics.mean(map(math.log, ratios))))
