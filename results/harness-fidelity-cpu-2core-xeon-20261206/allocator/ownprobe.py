"""A pytest plugin (-p ownprobe): each fidelity round of PyTorch, the own tool's block and the suite's call, with its
milliseconds and minor page faults; the last 16 printed at the end of the test."""
import os, time, resource, json
import frameworks.adapters.pytorch as P
import frameworks.bench.timing as T
def flt(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
_own = P.PyTorchAdapter.own_timing
LOG = []
def own_timing(self, phase, batch, min_seconds=1.0, min_runs=5):
    f = flt(); t = time.perf_counter()
    r = _own(self, phase, batch, min_seconds, min_runs)
    LOG.append(("own", round(r.median_s*1e3, 1), round((time.perf_counter()-t)*1e3, 1), flt() - f))
    return r
P.PyTorchAdapter.own_timing = own_timing
_orig = T.timed_rounds
def timed_rounds(benchmark, adapter, record, target, setup, **kw):
    def wrapped(*a, **k):
        f, t = flt(), time.perf_counter()
        out = target(*a, **k)
        LOG.append(("suite", round((time.perf_counter() - t)*1e3, 1), 0, flt() - f))
        return out
    _orig(benchmark, adapter, record, wrapped, setup, **kw)
    print("\nOWNPROBE", record.phase, record.network, LOG[-16:], flush=True)
T.timed_rounds = timed_rounds
