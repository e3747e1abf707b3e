"""A pytest plugin (-p warmprobe): with PROBE_WARM_AFTER_OWN=1, each block of PyTorch's own tool (torch Timer) is
followed by one untimed call of the same step, so that the suite's round runs right after a call of the step, as the
Timer's timed call runs right after its untimed one; otherwise nothing."""
import os

if os.environ.get("PROBE_WARM_AFTER_OWN") == "1":
    from frameworks.adapters.pytorch import PyTorchAdapter

    _own = PyTorchAdapter.own_timing

    def own_timing(self, phase, batch, min_seconds=1.0, min_runs=5):
        result = _own(self, phase, batch, min_seconds, min_runs)
        self.step(phase, batch)()
        return result

    PyTorchAdapter.own_timing = own_timing
