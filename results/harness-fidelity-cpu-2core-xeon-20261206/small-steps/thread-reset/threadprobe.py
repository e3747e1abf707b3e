"""A pytest plugin (-p threadprobe): with PROBE_NO_THREAD_RESET=1, torch.utils.benchmark's Timer no longer sets the
thread count on entering each block and restores it after (torch.utils.benchmark.utils.common.set_torch_threads),
which changes nothing when the count is already the one asked for; otherwise nothing."""
import contextlib
import os

if os.environ.get("PROBE_NO_THREAD_RESET") == "1":
    import torch.utils.benchmark.utils.common as common

    common.set_torch_threads = lambda n: contextlib.nullcontext()
