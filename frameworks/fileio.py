"""Writing files so that no reader ever sees a partial one: a temporary file beside the target, renamed into
place when complete. A failure (a full disk, a read-only directory) removes the temporary file and raises
``OutputError`` naming the path, never leaving a truncated file behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import OutputError, UsageError


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to (a file, or a directory a writer makes); on success it
    is renamed to ``path``.

    ``suffix`` ends the temporary name, for writers that insist on an extension (``np.savez``, ``savefig``).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"could not write {path}: {exc.strerror or exc}") from exc
    finally:
        try:
            if tmp.is_dir():  # a writer that makes a directory (a saved model)
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    return write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented JSON to ``path`` atomically; return the path."""
    return write_text(path, json.dumps(payload, indent=1, default=str) + "\n")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line and flush it to disk (journals, CI summaries). A failure (a full disk) cuts the file back
    to where it was, so no half line is left behind; a process killed while writing may still leave one, which
    ``read_journal`` reports."""
    try:
        with open(path, "a") as f:
            start = f.tell()
            try:
                f.write(line.rstrip("\n") + "\n")
                f.flush()
                os.fsync(f.fileno())
            except OSError:
                try:
                    f.truncate(start)
                except OSError:
                    pass
                raise
    except OSError as exc:
        raise OutputError(f"could not append to {path}: {exc.strerror or exc}") from exc


def read_journal(path: str | os.PathLike) -> tuple[list[Any], list[str]]:
    """The JSON value of every line of an append-only journal (none if it does not exist), and a note for each
    line that is not one (torn by a process killed while writing it), so that readers keep the rest and say
    what was lost."""
    values: list[Any] = []
    torn: list[str] = []
    path = Path(path)
    if not path.exists():
        return values, torn
    lines = path.read_text(errors="replace").splitlines()
    for n, line in enumerate(lines, 1):
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError:
            last = " (the last: the process ended while writing it)" if n == len(lines) else ""
            torn.append(f"{path}: line {n} is not a complete entry{last}; left out, the other entries were kept")
    return values, torn


@contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created empty if absent) while the block runs: other
    processes wanting it wait."""
    import fcntl

    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def create_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a new file at ``path`` atomically, never replacing one: ``FileExistsError`` if ``path``
    exists (the temporary file is linked into place, which fails rather than overwrites)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: check, then rename (the check is not atomic)
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        raise OutputError(f"could not write {path}: {exc.strerror or exc}") from exc
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return path


def write_new(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` atomically to ``path``, or, when that exists, to ``stem-1.ext``, ``stem-2.ext``...: never
    over an existing file. Returns the path written."""
    path = Path(path)
    base, dot, extensions = path.name.partition(".")  # x.json.gz -> x-1.json.gz
    for n in range(10_000):
        candidate = path if n == 0 else path.with_name(f"{base}-{n}{dot}{extensions}")
        try:
            return create_bytes(candidate, data)
        except FileExistsError:
            continue
    raise OutputError(f"no free file name for {path.name} in {path.parent}")


def check_writable(directory: str | os.PathLike, what: str) -> None:
    """Raise ``OutputError`` saying ``what`` cannot be written unless a file can be created in ``directory``, or,
    when it does not exist yet, in its nearest existing parent (nothing is left behind)."""
    path = Path(directory)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        fd, name = tempfile.mkstemp(prefix=".write-check-", dir=path)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"{what} {directory} cannot be written ({exc.strerror or exc})") from None


def check_output(path: str | os.PathLike, what: str, *, directory: bool = True) -> Path:
    """The one check of every output path, before anything runs: missing parents (and ``path`` itself when it is
    a ``directory``) are created as ``mkdir -p`` does; a file in the way, a directory where a file goes, no
    permission or a full file system raise ``UsageError`` naming ``what`` (the option) and the path, so every
    command refuses the same bad path the same way (exit 2) instead of failing after the work is done."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise UsageError(f"{what} {path}: {existing} is a file, not a directory")
    if path.exists() and path.is_dir() != directory:
        kind = ("a file, not a directory", "a directory, not a file")[path.is_dir()]
        raise UsageError(f"{what} {path} is {kind}")
    folder = path if directory else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.statvfs(folder).f_bavail == 0:
            raise OSError(28, "No space left on device")
        fd, name = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        os.close(fd)
        os.unlink(name)
        if not directory and path.exists():
            with open(path, "ab"):  # appended to or replaced: it must open for writing, unchanged
                pass
    except OSError as exc:
        raise UsageError(f"{what} {path} cannot be written ({exc.strerror or exc})") from None
    return path
