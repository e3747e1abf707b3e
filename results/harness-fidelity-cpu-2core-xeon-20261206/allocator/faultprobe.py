"""A pytest plugin (-p faultprobe): each timed round's seconds, images/s, minor page faults and resident MiB,
printed as a PROBE line; PROBE_GC=on leaves garbage collection on while timing."""
import os, time, resource, gc, contextlib, json
import frameworks.bench.timing as T
_orig = T.timed_rounds
if os.environ.get("PROBE_GC") == "on":
    T.gc_paused = lambda collect=True: contextlib.nullcontext()
def flt(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def rss():
    with open("/proc/self/statm") as f: return int(f.read().split()[1]) * 4096 / 2**20
def timed_rounds(benchmark, adapter, record, target, setup, **kw):
    def wrapped(*a, **k):
        f, t, r = flt(), time.perf_counter(), rss()
        out = target(*a, **k)
        dt = time.perf_counter() - t
        print("\nPROBE", json.dumps({"phase": record.phase, "net": record.network, "s": round(dt, 3), "img_s": round(record.images / dt), "faults": flt() - f, "rss0": round(r), "rss1": round(rss()), "gc": gc.isenabled()}), flush=True)
        return out
    return _orig(benchmark, adapter, record, wrapped, setup, **kw)
T.timed_rounds = timed_rounds
