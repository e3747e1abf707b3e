"""What the machine did while a benchmark process ran: CPU used by other processes, CPU stolen by the
hypervisor, load and clock, read from ``/proc`` before and after (Linux; None elsewhere). A busy machine
distorts every figure, so the run records this per process and the report flags disturbed processes."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

from ..results import ProcessNoise


@dataclass(frozen=True)
class Snapshot:
    """System-wide CPU counters, this process's children's CPU time, load and clock at one moment."""

    wall: float
    jiffies: dict[str, int] | None
    children_cpu_s: float
    load: float | None
    cpu_mhz: float | None


_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _proc_stat() -> dict[str, int] | None:
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
    except OSError:
        return None
    if not parts or parts[0] != "cpu":
        return None
    return dict(zip(_FIELDS, (int(v) for v in parts[1:1 + len(_FIELDS)]), strict=False))


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _cpu_mhz() -> float | None:
    try:
        with open("/proc/cpuinfo") as f:
            values = [float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")]
    except (OSError, ValueError, IndexError):
        return None
    return sum(values) / len(values) if values else None


def snapshot() -> Snapshot:
    """The counters now."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(time.monotonic(), _proc_stat(), usage.ru_utime + usage.ru_stime, _load(), _cpu_mhz())


def between(before: Snapshot, after: Snapshot) -> ProcessNoise:
    """What happened between two snapshots taken around one child process (which has been waited for)."""
    seconds = after.wall - before.wall
    noise = ProcessNoise(seconds=seconds, load_before=before.load, load_after=after.load,
                         cpu_mhz=None if before.cpu_mhz is None or after.cpu_mhz is None
                         else (before.cpu_mhz + after.cpu_mhz) / 2)
    if before.jiffies is None or after.jiffies is None:
        return noise
    delta = {k: after.jiffies.get(k, 0) - before.jiffies.get(k, 0) for k in _FIELDS}
    total = sum(delta.values())
    if total <= 0:
        return noise
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = total - delta["idle"] - delta["iowait"] - delta["steal"]
    ours = (after.children_cpu_s - before.children_cpu_s) * hz
    noise.others_cpu = max(0.0, (busy - ours) / total)
    noise.steal = delta["steal"] / total
    noise.idle = (delta["idle"] + delta["iowait"]) / total
    return noise
