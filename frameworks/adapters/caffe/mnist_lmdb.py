"""MNIST as Caffe's LMDBs, written exactly as Caffe's ``examples/mnist/convert_mnist_data.cpp`` writes them.

Each image is a ``Datum`` (channels 1, height 28, width 28, ``data`` the raw pixel bytes, ``label``) stored
under the key ``"%08d" % index`` in the original order, committed every 1,000 records. The databases live
in the suite's cache (``<cache>/caffe_lmdb/mnist/{train,test}``) with a ``manifest.json`` written last.
A conversion is built in a temporary directory and renamed into place only when complete, under a file
lock; a database is reused only if its manifest matches (format, source checksums, counts, file digests).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import data
from ...errors import DataError
from ...fileio import exclusive_lock, write_json
from .prototxt import caffe_pb2

FORMAT = 1  # bump when what is written changes
NAME = "mnist"
SPLITS = ("train", "test")
COMMIT_EVERY = 1000  # records per transaction, as convert_mnist_data
MAP_SIZE = 1 << 30  # address space reserved for one database (sparse on disk)
MANIFEST = "manifest.json"
_PARTIAL, _STALE = ".partial-", ".stale-"


@dataclass(frozen=True)
class MnistLmdb:
    """The two converted databases (directories Caffe's ``Data`` layer reads with ``backend: LMDB``)."""

    root: Path
    train: Path
    test: Path


def datum_bytes(image: np.ndarray, label: int) -> bytes:
    """One serialised ``Datum``: a (28, 28) uint8 image and its label."""
    height, width = image.shape
    datum = caffe_pb2().Datum(channels=1, height=height, width=width, data=image.tobytes(), label=int(label))
    return datum.SerializeToString()


def parse_datum(value: bytes) -> tuple[np.ndarray, int]:
    """A serialised single-channel ``Datum`` as ((height, width) uint8 image, label)."""
    datum = caffe_pb2().Datum()
    datum.ParseFromString(value)
    if datum.channels != 1 or len(datum.data) != datum.height * datum.width or datum.float_data:
        raise DataError(f"not a single-channel uint8 Datum: channels {datum.channels}, {datum.height}x"
                        f"{datum.width}, {len(datum.data)} data bytes, {len(datum.float_data)} floats")
    return np.frombuffer(datum.data, np.uint8).reshape(datum.height, datum.width), datum.label


def write_lmdb(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write ``images`` (N, 28, 28) uint8 and ``labels`` into a new LMDB directory ``path``."""
    import lmdb

    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    path.mkdir(parents=True)
    env = lmdb.open(str(path), map_size=MAP_SIZE, subdir=True)
    try:
        for start in range(0, len(images), COMMIT_EVERY):
            with env.begin(write=True) as txn:
                for i in range(start, min(start + COMMIT_EVERY, len(images))):
                    txn.put(b"%08d" % i, datum_bytes(images[i], labels[i]))
        env.sync(True)
    finally:
        env.close()


def read_lmdb(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Every record of an MNIST LMDB as (images (N, 28, 28) uint8, labels (N,) uint8), checking the keys."""
    import lmdb

    try:
        env = lmdb.open(str(path), readonly=True, lock=False, subdir=True)
    except lmdb.Error as exc:
        raise DataError(f"{path}: not a readable LMDB ({exc})") from exc
    try:
        count = env.stat()["entries"]
        images, labels = np.empty((count, 28, 28), np.uint8), np.empty(count, np.uint8)
        with env.begin() as txn:
            for i, (key, value) in enumerate(txn.cursor()):
                if key != b"%08d" % i:
                    raise DataError(f"{path}: record {i} has key {key!r}, expected {b'%08d' % i!r}")
                image, label = parse_datum(value)
                if image.shape != (28, 28):
                    raise DataError(f"{path}: record {i} is {image.shape}, expected (28, 28)")
                images[i], labels[i] = image, label
    finally:
        env.close()
    return images, labels


def source_digest() -> str:
    """A digest of the MNIST files' checksums: what a database was converted from."""
    text = "".join(f"{f.name} {f.raw_sha256}\n" for f in data.FILES)
    return hashlib.sha256(text.encode()).hexdigest()


def _manifest(root: Path) -> dict:
    return {
        "format": FORMAT,
        "source": source_digest(),
        "counts": {split: _entries(root / split) for split in SPLITS},
        "sha256": {split: data.sha256_of(root / split / "data.mdb") for split in SPLITS},
    }


def _entries(path: Path) -> int:
    import lmdb

    env = lmdb.open(str(path), readonly=True, lock=False, subdir=True)
    try:
        return env.stat()["entries"]
    finally:
        env.close()


def expected_counts(mnist: data.MNIST) -> dict[str, int]:
    """Records each database must hold."""
    return {"train": len(mnist.train_labels), "test": len(mnist.test_labels)}


def is_valid(root: Path, mnist: data.MNIST) -> bool:
    """Whether ``root`` holds a complete conversion of ``mnist`` that has not changed since it was written."""
    import lmdb

    try:
        manifest = json.loads((root / MANIFEST).read_text())
        return (isinstance(manifest, dict) and manifest.get("format") == FORMAT
                and manifest.get("source") == source_digest()
                and manifest.get("counts") == expected_counts(mnist)
                and manifest == _manifest(root))
    except (OSError, ValueError, lmdb.Error):  # missing, unreadable, not JSON, not an LMDB
        return False


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (other processes converting wait)."""
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(directory / ".lock"):
        yield


def location() -> Path:
    """Where the converted databases live (``<cache>/caffe_lmdb/mnist``)."""
    return data.cache_dir() / "caffe_lmdb" / NAME


def ensure(mnist: data.MNIST | None = None) -> MnistLmdb:
    """The MNIST LMDBs, converted now unless a valid conversion is cached.

    Under a lock: leftovers of interrupted conversions are removed, a new conversion is written into a
    temporary directory (manifest last) and renamed into place; an invalid one is replaced.
    """
    mnist = data.load() if mnist is None else mnist
    root = location()
    with _locked(root.parent):
        if not is_valid(root, mnist):
            for leftover in root.parent.iterdir():
                if leftover.name.startswith((_PARTIAL, _STALE)):
                    shutil.rmtree(leftover)
            partial = Path(tempfile.mkdtemp(prefix=_PARTIAL, dir=root.parent))
            try:
                write_lmdb(partial / "train", mnist.train_images, mnist.train_labels)
                write_lmdb(partial / "test", mnist.test_images, mnist.test_labels)
                write_json(partial / MANIFEST, _manifest(partial))
                if root.exists():
                    stale = Path(tempfile.mkdtemp(prefix=_STALE, dir=root.parent))
                    os.replace(root, stale / NAME)
                    shutil.rmtree(stale)
                os.replace(partial, root)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    return MnistLmdb(root, root / "train", root / "test")
