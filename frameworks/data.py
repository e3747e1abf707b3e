"""MNIST: locate the four IDX files, verify their SHA256, download them if absent, parse them.

Where the data is looked for, in order: the ``mnist_dir`` argument (pytest ``--mnist-dir``), the
``MNIST_DIR`` environment variable, the suite's cache (``$MFB_CACHE/mnist``, by default
``~/.cache/mnist-framework-bench/mnist``) and ``./data/MNIST/raw`` (where many tutorials download it). A configured
directory that lacks files has them downloaded into it; with nothing configured and nothing found, the
files are downloaded into the cache. Downloads are verified before they are moved into place, so an
interrupted or corrupt download never leaves a file behind; existing files are never overwritten.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, OutputError
from .fileio import write_bytes
from .specs import Recipe

ENV_DIR = "MNIST_DIR"
ENV_MIRRORS = "MNIST_MIRRORS"  # comma-separated base URLs, tried in order
ENV_DOWNLOAD = "MNIST_DOWNLOAD"  # "0" forbids downloads
ENV_CACHE = "MFB_CACHE"
# The mirrors most MNIST loaders use, in their order.
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")


@dataclass(frozen=True)
class IdxFile:
    """One of the four MNIST files: its name, checksums and the array it holds."""

    key: str
    name: str  # uncompressed file name; the download is name + ".gz"
    gz_sha256: str
    raw_sha256: str
    shape: tuple[int, ...]

    @property
    def magic(self) -> int:
        """IDX magic number: 0x0000, dtype 0x08 (uint8), then the number of dimensions."""
        return 0x0800 + len(self.shape)


FILES: tuple[IdxFile, ...] = (
    IdxFile("train_images", "train-images-idx3-ubyte",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", (60000, 28, 28)),
    IdxFile("train_labels", "train-labels-idx1-ubyte",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", (60000,)),
    IdxFile("test_images", "t10k-images-idx3-ubyte",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", (10000, 28, 28)),
    IdxFile("test_labels", "t10k-labels-idx1-ubyte",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", (10000,)),
)

HOW_TO_POINT = (
    "Point the suite at a directory holding the four MNIST files "
    f"({', '.join(f.name + '.gz' for f in FILES)}): set {ENV_DIR}=/path/to/mnist, or pass "
    "--mnist-dir /path/to/mnist to pytest or to python -m frameworks."
)


@dataclass(frozen=True)
class MNIST:
    """The verified dataset as uint8 arrays in the original order, and where it was read from."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    directory: Path


def cache_dir() -> Path:
    """The suite's cache directory (``$MFB_CACHE``, else ``$XDG_CACHE_HOME/mnist-framework-bench``)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mnist-framework-bench"


def configured_dir(mnist_dir: str | os.PathLike | None = None) -> Path | None:
    """The directory the user configured (argument, then ``MNIST_DIR``), if any."""
    value = mnist_dir if mnist_dir not in (None, "") else os.environ.get(ENV_DIR) or None
    return Path(value).expanduser() if value is not None else None


def candidate_dirs(mnist_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where MNIST is looked for, in order."""
    configured = configured_dir(mnist_dir)
    if configured is not None:
        return [configured]
    return [cache_dir() / "mnist", Path("data") / "MNIST" / "raw"]


def find_file(directory: Path, idx: IdxFile) -> Path | None:
    """The file of ``idx`` in ``directory``, gzipped or not, or None."""
    for name in (idx.name + ".gz", idx.name):
        path = directory / name
        if path.is_file():
            return path
    return None


def sha256_of(path: Path) -> str:
    """The SHA256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, idx: IdxFile) -> None:
    """Raise ``DataError`` unless ``path`` has the checksum of ``idx`` (gzipped or raw, by its name)."""
    expected = idx.gz_sha256 if path.name.endswith(".gz") else idx.raw_sha256
    try:
        actual = sha256_of(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc
    if actual != expected:
        raise DataError(
            f"{path}: SHA256 {actual} does not match the expected {expected}; the file is corrupt, "
            f"truncated or not the original MNIST {idx.name}. Replace it with the original (or delete "
            "it to have the suite download it again)."
        )


def locate(mnist_dir: str | os.PathLike | None = None, *, download: bool | None = None) -> dict[str, Path]:
    """Find (or download) and verify the four files; return ``{key: path}``.

    Raises ``DataError`` naming the file and the problem, or saying how to point the suite at the data.
    """
    if download is None:
        download = os.environ.get(ENV_DOWNLOAD, "1") != "0"
    configured = configured_dir(mnist_dir)
    if configured is not None and not configured.exists():  # a typo is never created and downloaded into
        raise DataError(f"{configured} (the configured MNIST directory) does not exist. {HOW_TO_POINT}")
    if configured is not None and not configured.is_dir():
        raise DataError(f"{configured} (the configured MNIST directory) is not a directory. {HOW_TO_POINT}")
    if configured is not None and not os.access(configured, os.R_OK | os.X_OK):
        raise DataError(f"{configured} (the configured MNIST directory) cannot be read: no permission. "
                        f"{HOW_TO_POINT}")
    for directory in candidate_dirs(mnist_dir):
        found = {f.key: find_file(directory, f) for f in FILES}
        if configured is None and None in found.values():
            continue  # an unconfigured place counts only when complete
        missing = [f for f in FILES if found[f.key] is None]
        if missing:
            if not download:
                raise DataError(
                    f"MNIST files missing in {directory}: {', '.join(f.name + '.gz' for f in missing)}, "
                    f"and downloads are off. {HOW_TO_POINT}"
                )
            for f in missing:
                found[f.key] = download_file(f, directory)
        for f in FILES:
            verify_file(found[f.key], f)
        return found  # type: ignore[return-value]
    if not download:
        raise DataError(f"MNIST was not found in {', '.join(map(str, candidate_dirs()))}. {HOW_TO_POINT}")
    target = cache_dir() / "mnist"
    paths = {f.key: find_file(target, f) or download_file(f, target) for f in FILES}
    for f in FILES:
        verify_file(paths[f.key], f)
    return paths  # type: ignore[return-value]


def mirrors() -> list[str]:
    """Base URLs to download from (``MNIST_MIRRORS`` overrides the default list)."""
    value = os.environ.get(ENV_MIRRORS)
    bases = [m.strip() for m in value.split(",") if m.strip()] if value else list(MIRRORS)
    return [b if b.endswith("/") else b + "/" for b in bases]


def download_file(idx: IdxFile, directory: Path, timeout: float = 30.0) -> Path:
    """Download ``idx`` (gzipped) into ``directory`` from the first mirror that serves a verified copy.

    The bytes go to a temporary file in ``directory`` and are renamed into place only after the
    checksum matches; on any failure the temporary file is removed. Raises ``DataError`` when every
    mirror fails, listing each failure and how to point the suite at a local copy.
    """
    target = directory / (idx.name + ".gz")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {directory} to download MNIST into ({exc}). {HOW_TO_POINT}") from exc
    failures = []
    for base in mirrors():
        url = base + idx.name + ".gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        digest = hashlib.sha256(payload).hexdigest()
        if digest != idx.gz_sha256:
            failures.append(f"{url}: wrong SHA256 {digest}")
            continue
        try:
            return write_bytes(target, payload)  # only verified bytes reach the file name
        except OutputError as exc:
            raise DataError(f"{exc}. {HOW_TO_POINT}") from exc
    raise DataError(
        f"could not download {idx.name}.gz into {directory}: " + "; ".join(failures) + f". {HOW_TO_POINT}"
    )


def parse_idx(data: bytes, idx: IdxFile, source: str = "<bytes>") -> np.ndarray:
    """Parse the uncompressed bytes of an IDX file, checking magic number, dimensions and size."""
    if len(data) < 4:
        raise DataError(f"{source}: too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != idx.magic:
        raise DataError(f"{source}: magic number {magic:#010x}, expected {idx.magic:#010x} for {idx.name}")
    ndim = len(idx.shape)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated header ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if dims != idx.shape:
        raise DataError(f"{source}: dimensions {dims}, expected {idx.shape}")
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(f"{source}: {len(data)} bytes, expected {expected} for dimensions {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: Path, idx: IdxFile) -> np.ndarray:
    """Read and parse one IDX file, gzipped or not."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot be read as {idx.name} ({exc})") from exc
    return parse_idx(data, idx, str(path))


def load(mnist_dir: str | os.PathLike | None = None, *, download: bool | None = None) -> MNIST:
    """Locate, verify and parse MNIST (parsed arrays are cached per directory in this process)."""
    paths = locate(mnist_dir, download=download)
    return _load_verified(tuple(sorted((k, str(p.resolve())) for k, p in paths.items())))


def clear_cache() -> None:
    """Forget parsed arrays, so that the next ``load`` reads and verifies the files again."""
    _load_verified.cache_clear()


@functools.lru_cache(maxsize=4)
def _load_verified(paths: tuple[tuple[str, str], ...]) -> MNIST:
    by_key = dict(paths)
    arrays = {f.key: read_idx(Path(by_key[f.key]), f) for f in FILES}
    for array in arrays.values():
        array.setflags(write=False)
    labels = (arrays["train_labels"], arrays["test_labels"])
    for lab in labels:
        if lab.max() > 9:
            raise DataError(f"MNIST labels above 9 in {Path(by_key['train_labels']).parent}")
    return MNIST(**arrays, directory=Path(by_key["train_images"]).parent)


def preprocess(images: np.ndarray, recipe: Recipe) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28) scaled as the recipe says."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    x = images.astype(np.float32)[:, None, :, :]
    x *= np.float32(recipe.scale)
    if recipe.mean or recipe.std != 1.0:
        x -= np.float32(recipe.mean)
        x /= np.float32(recipe.std)
    return x


def raw_copy(mnist: MNIST, relative: str) -> Path:
    """The four files uncompressed in ``<cache>/<relative>`` (for readers that want raw IDX files, such as
    torchvision's MNIST dataset), written once from the verified data, atomically, and checked against the
    uncompressed SHA256; a damaged copy is rewritten, nothing is downloaded again."""
    raw = cache_dir() / relative
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {raw} for the uncompressed MNIST files ({exc.strerror or exc}); set "
                        f"{ENV_CACHE} to a writable directory") from None
    for f in FILES:
        target = raw / f.name
        if target.is_file() and sha256_of(target) == f.raw_sha256:
            continue
        source = find_file(mnist.directory, f)
        if source is None:
            raise DataError(f"{f.name} vanished from {mnist.directory} since it was verified")
        data = gzip.decompress(source.read_bytes()) if source.name.endswith(".gz") else source.read_bytes()
        if hashlib.sha256(data).hexdigest() != f.raw_sha256:
            raise DataError(f"{source}: its uncompressed content does not match {f.name}'s SHA256")
        try:
            write_bytes(target, data)
        except OutputError as exc:
            raise DataError(f"{exc}; set {ENV_CACHE} to a writable directory") from None
    return raw
