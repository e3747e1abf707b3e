"""Writing files so that no reader ever sees a partial one: a temporary file beside the target, renamed into
place when complete. A failure (a full disk, a read-only directory) removes the temporary file and raises
``OutputError`` naming the path, never leaving a truncated file behind."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import OutputError


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
