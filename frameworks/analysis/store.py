"""The results store: a directory with one merged run per file, each named by machine, date and commit and never
rewritten, so that it can collect runs from many machines (a GPU box, a laptop, CI): merging stores is copying
their files in. ``python -m frameworks bench --store DIR`` adds a run; ``versions`` and ``dashboard`` read it.

Files that are not usable runs (another schema version, another project's JSON, one process's JSON, an
unreadable file, a second copy of a run) are reported and skipped, never fatal: one stray file must not take a
dashboard down.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OutputError, UsageError
from ..fileio import write_new
from ..results import ResultsError, Run, load_run, read_text

SUFFIX = ".json.gz"  # runs are stored gzipped; plain .json files are read too


def slug(text: str) -> str:
    """``text`` as a file-name part: letters, digits, dots and dashes."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.") or "unknown"


def run_time(run: Run) -> dt.datetime:
    """When the run finished (its document's time, UTC); the epoch when the document has none."""
    try:
        when = dt.datetime.fromisoformat(run.datetime)
    except ValueError:
        return dt.datetime.fromtimestamp(0, dt.timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def machine_label(run: Run) -> str:
    """The machine in words: CPU model, cores and GPUs. Runs are grouped by it (not by host name, which changes
    with every CI runner of the same kind)."""
    m = run.machine.get("machine", {}) if isinstance(run.machine.get("machine"), dict) else {}
    if not m:
        return "unknown machine"
    label = f"{m.get('cpu_model') or 'unknown CPU'}, {m.get('cpu_cores')} cores"
    gpus = run.machine.get("gpu", {}).get("nvidia_smi", []) if isinstance(run.machine.get("gpu"), dict) else []
    names = [str(line).split(",")[0].strip() for line in gpus if str(line).strip()]
    if names:
        label += ", " + " + ".join(f"{names.count(n)} x {n}" if names.count(n) > 1 else n for n in dict.fromkeys(names))
    return label


def host(run: Run) -> str:
    m = run.machine.get("machine", {})
    return str(m.get("host") or "") if isinstance(m, dict) else ""


def commit_label(run: Run) -> str:
    """The commit's short id, marked when the checkout had uncommitted changes; "" when unknown."""
    ident = str(run.commit.get("id") or "")[:12]
    return f"{ident}-dirty" if ident and run.commit.get("dirty") else ident


@dataclass(frozen=True)
class StoredRun:
    """One run of a store."""

    name: str  # the file's name: the run's id in tables and charts
    run: Run
    machine: str = ""
    host: str = ""

    @classmethod
    def of(cls, path: str | os.PathLike, run: Run) -> StoredRun:
        return cls(Path(path).name, run, machine_label(run), host(run))

    @property
    def when(self) -> dt.datetime:
        return run_time(self.run)

    @property
    def commit(self) -> str:
        return commit_label(self.run)


@dataclass
class Store:
    """The runs read from a store (oldest first), and the files skipped with the reason."""

    runs: list[StoredRun]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def file_name(run: Run, fallback_host: str = "") -> str:
    """``<machine>_<date>-<time>_<commit>.json``: the host's name, the run's UTC time, the commit."""
    machine = host(run) or fallback_host or run.machine.get("machine", {}).get("cpu_model", "")
    stamp = run_time(run).astimezone(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{slug(machine)}_{stamp}_{slug(commit_label(run) or 'no-commit')}{SUFFIX}"


def store_run(results: str | os.PathLike, store_dir: str | os.PathLike) -> Path:
    """Copy a merged run (``bench``'s results.json) into the store under a new name; never overwrites.

    Raises ``ResultsError`` for a file that is not a merged run of this schema, ``OutputError`` when the
    store cannot be written."""
    import platform

    run = load_run(results)
    if not run.processes:
        raise ResultsError(f"{results}: one benchmark process's JSON, not a merged run; store the run's "
                           "results.json (python -m frameworks bench --store DIR does)")
    data = gzip.compress(read_text(results).encode(), mtime=0)  # stored compressed: every round is kept
    store = Path(store_dir)
    try:
        store.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the results store {store}: {exc.strerror or exc}") from None
    return write_new(store / file_name(run, platform.node()), data)


def _why(path: Path, message: str) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def load_store(paths: Sequence[str | os.PathLike]) -> Store:
    """Every usable run in ``paths`` (store directories, searched recursively, or run files), oldest first.

    A path that does not exist is a ``UsageError``; unusable files are listed in ``Store.skipped``."""
    files: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.json*") if f.is_file() and not f.name.startswith(".")
                            and f.name.endswith((".json", SUFFIX)))
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or directory (give results store directories or run files)")
    runs: list[StoredRun] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for path in dict.fromkeys(files):
        try:
            digest = hashlib.sha256(read_text(path).encode()).hexdigest()
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
            skipped.append((str(path), f"cannot be read ({getattr(exc, 'strerror', None) or exc})"))
            continue
        if digest in seen:
            skipped.append((str(path), f"a copy of {seen[digest]}"))
            continue
        try:
            run = load_run(path)
        except ResultsError as exc:
            skipped.append((str(path), _why(path, str(exc))))
            continue
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            skipped.append((str(path), f"malformed results ({type(exc).__name__}: {exc})"))
            continue
        if not run.processes:
            skipped.append((str(path), "one benchmark process's JSON, not a merged run (a run's results.json "
                                       "belongs in a store)"))
            continue
        if not run.records:
            skipped.append((str(path), "a run without benchmark results"))
            continue
        seen[digest] = path.name
        runs.append(StoredRun.of(path, run))
    runs.sort(key=lambda r: (r.when, r.name))
    return Store(runs, skipped, [str(p) for p in paths])
