"""MNIST: locating, verifying, downloading and parsing, and every way the files can be wrong."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frameworks import data
from frameworks.errors import DataError, OutputError
from frameworks.specs import NETWORKS

IMAGES = data.FILES[0]
LABELS = data.FILES[1]


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file holding a uint8 array."""
    header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No configured directory, an empty cache, downloads refused unless a test allows them."""
    monkeypatch.delenv(data.ENV_DIR, raising=False)
    monkeypatch.delenv(data.ENV_DOWNLOAD, raising=False)  # CI sets it to 0; these tests use a local mirror
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv(data.ENV_MIRRORS, "http://127.0.0.1:9/")  # a closed port: fails at once
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def source_dir(mnist) -> Path:
    """The directory the verified dataset was read from."""
    return mnist.directory


def linked_copy(source: Path, target: Path, skip: tuple[str, ...] = ()) -> Path:
    """``target`` holding symlinks to the real files (the dataset is never copied into the repo)."""
    target.mkdir(parents=True, exist_ok=True)
    for f in data.FILES:
        if f.name not in skip:
            (target / (f.name + ".gz")).symlink_to((source / (f.name + ".gz")).resolve())
    return target


# --- the real dataset -------------------------------------------------------------------------------
def test_real_mnist_has_the_known_counts_and_order(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    scaled = mnist.train_images / 255.0
    assert scaled.mean() == pytest.approx(0.1307, abs=1e-4)
    assert scaled.std() == pytest.approx(0.3081, abs=1e-4)


def test_arrays_are_read_only(mnist):
    with pytest.raises(ValueError):
        mnist.train_images[0, 0, 0] = 1


@pytest.mark.parametrize("spec", NETWORKS.values(), ids=list(NETWORKS))
def test_preprocess_follows_the_recipe(mnist, spec):
    recipe = spec.recipe
    x = data.preprocess(mnist.test_images[:5], recipe)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    expected = (mnist.test_images[:5].astype(np.float64) * recipe.scale - recipe.mean) / recipe.std
    np.testing.assert_allclose(x[:, 0], expected, rtol=1e-6, atol=1e-6)


def test_preprocess_rejects_non_images():
    with pytest.raises(ValueError, match="uint8"):
        data.preprocess(np.zeros((2, 28, 28), np.float32), NETWORKS["lenet"].recipe)


# --- parsing ----------------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(st.integers(0, 20).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_parse_idx_round_trips_any_label_file(raw):
    idx = data.IdxFile("x", "x", "", "", (len(raw),))
    labels = np.frombuffer(raw, np.uint8)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(labels), idx), labels)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:2], "too short"),
    (lambda b: (2049).to_bytes(4, "big") + b[4:], "magic number"),
    (lambda b: b[:10], "truncated header"),
    (lambda b: b[:4] + (5).to_bytes(4, "big") + b[8:], "dimensions"),
    (lambda b: b[:-1], "bytes, expected"),
    (lambda b: b + b"\0", "bytes, expected"),
])
def test_parse_idx_rejects_malformed_files(mutate, message):
    idx = data.IdxFile("x", "x", "", "", (4, 2, 2))
    good = idx_bytes(np.arange(16, dtype=np.uint8).reshape(4, 2, 2))
    assert data.parse_idx(good, idx).shape == (4, 2, 2)
    with pytest.raises(DataError, match=message):
        data.parse_idx(mutate(good), idx, "somefile")


def test_a_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00" * 100)[:30])
    with pytest.raises(DataError, match=str(path)):
        data.read_idx(path, LABELS)


# --- locating and verifying ---------------------------------------------------------------------
def test_mnist_dir_is_used_and_verified(isolated, source_dir, monkeypatch):
    linked = linked_copy(source_dir, isolated / "mine")
    monkeypatch.setenv(data.ENV_DIR, str(linked))
    paths = data.locate()
    assert {p.parent for p in paths.values()} == {linked}


def test_the_argument_beats_the_environment(isolated, source_dir, monkeypatch):
    linked = linked_copy(source_dir, isolated / "arg")
    monkeypatch.setenv(data.ENV_DIR, str(isolated / "elsewhere"))
    assert {p.parent for p in data.locate(linked).values()} == {linked}


def test_uncompressed_files_are_accepted_and_checked_against_their_own_checksum(isolated, source_dir):
    target = isolated / "raw"
    target.mkdir()
    for f in data.FILES:
        (target / f.name).write_bytes(gzip.decompress((source_dir / (f.name + ".gz")).read_bytes()))
    loaded = data.load(target)
    assert loaded.train_labels[:3].tolist() == [5, 0, 4]


def test_the_cache_is_found_without_configuration(isolated, source_dir):
    linked_copy(source_dir, data.cache_dir() / "mnist")
    assert {p.parent for p in data.locate().values()} == {data.cache_dir() / "mnist"}


def test_torchvision_layout_in_the_working_directory_is_found(isolated, source_dir):
    linked_copy(source_dir, isolated / "data" / "MNIST" / "raw")
    assert {p.parent.resolve() for p in data.locate().values()} == {(isolated / "data/MNIST/raw").resolve()}


def test_a_corrupt_file_is_named_and_left_alone(isolated, source_dir):
    target = linked_copy(source_dir, isolated / "bad", skip=(LABELS.name,))
    bad = target / (LABELS.name + ".gz")
    content = bytearray((source_dir / (LABELS.name + ".gz")).read_bytes())
    content[100] ^= 0xFF
    bad.write_bytes(bytes(content))
    with pytest.raises(DataError, match=rf"{bad}: SHA256 .* does not match"):
        data.locate(target)
    assert bad.read_bytes() == bytes(content)  # nothing on disk is touched


def test_a_truncated_file_is_named(isolated, source_dir):
    target = linked_copy(source_dir, isolated / "short", skip=(IMAGES.name,))
    short = target / (IMAGES.name + ".gz")
    short.write_bytes((source_dir / (IMAGES.name + ".gz")).read_bytes()[:1000])
    with pytest.raises(DataError, match=f"{short}.*corrupt, truncated"):
        data.load(target)


def test_a_file_path_as_directory_is_rejected(isolated):
    path = isolated / "afile"
    path.write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        data.locate(path)


def test_offline_without_data_says_how_to_point_the_suite(isolated):
    with pytest.raises(DataError) as info:
        data.locate(download=False)
    assert "MNIST_DIR" in str(info.value) and "--mnist-dir" in str(info.value)


def test_missing_files_with_downloads_off_are_listed(isolated, source_dir):
    target = linked_copy(source_dir, isolated / "partial", skip=(LABELS.name,))
    with pytest.raises(DataError, match=f"missing in {target}: {LABELS.name}.gz"):
        data.locate(target, download=False)


def test_download_env_switch_turns_downloads_off(isolated, monkeypatch):
    monkeypatch.setenv(data.ENV_DOWNLOAD, "0")
    with pytest.raises(DataError, match="downloads are off|not found"):
        data.locate()


# --- downloading -----------------------------------------------------------------------------------
@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server; returns (base URL, served directory)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", served
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def test_download_from_a_mirror_into_the_cache(isolated, source_dir, mirror, monkeypatch):
    url, served = mirror
    for f in data.FILES:
        shutil.copy(source_dir / (f.name + ".gz"), served)
    monkeypatch.setenv(data.ENV_MIRRORS, f"http://127.0.0.1:9/,{url}")  # the first mirror is down
    loaded = data.load()
    assert loaded.directory == data.cache_dir() / "mnist"
    assert loaded.test_labels[:3].tolist() == [7, 2, 1]
    assert sorted(p.name for p in loaded.directory.iterdir()) == sorted(f.name + ".gz" for f in data.FILES)


def test_download_fills_in_what_a_configured_directory_lacks(isolated, source_dir, mirror, monkeypatch):
    url, served = mirror
    shutil.copy(source_dir / (LABELS.name + ".gz"), served)
    monkeypatch.setenv(data.ENV_MIRRORS, url)
    target = linked_copy(source_dir, isolated / "partial", skip=(LABELS.name,))
    paths = data.locate(target)
    assert paths["train_labels"] == target / (LABELS.name + ".gz")


def test_a_corrupt_download_is_rejected_and_leaves_nothing(isolated, source_dir, mirror, monkeypatch):
    url, served = mirror
    for f in data.FILES:
        (served / (f.name + ".gz")).write_bytes(b"not mnist")
    monkeypatch.setenv(data.ENV_MIRRORS, url)
    with pytest.raises(DataError, match="wrong SHA256") as info:
        data.locate()
    assert "MNIST_DIR" in str(info.value)
    cache = data.cache_dir() / "mnist"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_an_unreachable_mirror_is_reported(isolated):
    with pytest.raises(DataError, match=r"127\.0\.0\.1:9"):
        data.locate()


# --- uncompressed copies for readers of raw IDX files ---------------------------------------------
def test_raw_copy_holds_verified_uncompressed_files(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path))
    raw = data.raw_copy(mnist, "reader/MNIST/raw")
    assert raw == tmp_path / "reader" / "MNIST" / "raw"
    for f in data.FILES:
        assert data.sha256_of(raw / f.name) == f.raw_sha256
    damaged = raw / LABELS.name
    damaged.write_bytes(b"damaged")
    data.raw_copy(mnist, "reader/MNIST/raw")
    assert data.sha256_of(damaged) == LABELS.raw_sha256


# --- mirrors and downloads, offline (what mutation testing found untested) ----------------------
def test_the_mirror_list_is_the_default_unless_given_and_every_base_ends_in_a_slash(monkeypatch):
    monkeypatch.delenv(data.ENV_MIRRORS, raising=False)
    assert data.mirrors() == ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    monkeypatch.setenv(data.ENV_MIRRORS, " http://a.example/mnist , ,http://b.example/")
    assert data.mirrors() == ["http://a.example/mnist/", "http://b.example/"]


def test_a_mirror_serving_the_wrong_bytes_is_passed_over_for_the_next(isolated, source_dir, mirror, monkeypatch):
    url, served = mirror
    (served / "bad").mkdir()
    (served / "bad" / (LABELS.name + ".gz")).write_bytes(b"not mnist")
    shutil.copy(source_dir / (LABELS.name + ".gz"), served)
    monkeypatch.setenv(data.ENV_MIRRORS, f"{url}bad/,{url}")
    path = data.download_file(LABELS, isolated / "into")
    assert path == isolated / "into" / (LABELS.name + ".gz")
    assert data.sha256_of(path) == LABELS.gz_sha256


def test_every_failed_mirror_is_listed_in_order(isolated, monkeypatch):
    monkeypatch.setenv(data.ENV_MIRRORS, "http://127.0.0.1:9/,http://127.0.0.1:9/second/")
    with pytest.raises(DataError) as info:
        data.download_file(LABELS, isolated / "into")
    message = str(info.value)
    assert message.startswith(f"could not download {LABELS.name}.gz into {isolated / 'into'}: "
                              f"http://127.0.0.1:9/{LABELS.name}.gz: ")
    assert f"; http://127.0.0.1:9/second/{LABELS.name}.gz: " in message
    assert message.endswith(f". {data.HOW_TO_POINT}")


def test_a_download_waits_30_seconds_at_most_for_a_mirror(isolated, monkeypatch):
    asked = []

    def urlopen(url, timeout=None):
        asked.append((url, timeout))
        raise OSError("refused")

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    monkeypatch.setenv(data.ENV_MIRRORS, "http://m.example/")
    with pytest.raises(DataError, match="http://m.example/train-labels-idx1-ubyte.gz: refused"):
        data.download_file(LABELS, isolated / "into")
    assert asked == [(f"http://m.example/{LABELS.name}.gz", 30.0)]


def test_a_download_directory_that_cannot_be_made_is_named(isolated):
    (isolated / "a-file").write_text("")
    with pytest.raises(DataError, match=rf"^cannot create {isolated / 'a-file' / 'sub'} to download MNIST into "
                                        r"\(.*\)\. Point the suite"):
        data.download_file(LABELS, isolated / "a-file" / "sub")


def test_a_verified_download_that_cannot_be_written_says_so_and_how_to_point(isolated, source_dir, mirror,
                                                                             monkeypatch):
    url, served = mirror
    shutil.copy(source_dir / (LABELS.name + ".gz"), served)
    monkeypatch.setenv(data.ENV_MIRRORS, url)

    def full(path, payload):
        raise OutputError(f"{path}: no space left")

    monkeypatch.setattr(data, "write_bytes", full)
    with pytest.raises(DataError) as info:
        data.download_file(LABELS, isolated / "into")
    assert str(info.value) == f"{isolated / 'into' / (LABELS.name + '.gz')}: no space left. {data.HOW_TO_POINT}"


def test_preprocess_divides_by_a_std_even_with_a_zero_mean():
    recipe = dataclasses.replace(NETWORKS["lenet"].recipe, scale=1.0, mean=0.0, std=2.0)
    x = data.preprocess(np.array([[[0, 4], [10, 255]]], np.uint8), recipe)
    assert x[0, 0].tolist() == [[0.0, 2.0], [5.0, 127.5]]
    shifted = dataclasses.replace(recipe, mean=1.0, std=1.0)
    assert data.preprocess(np.array([[[0, 4]]], np.uint8), shifted)[0, 0].tolist() == [[-1.0, 3.0]]


def test_the_cache_is_mfb_cache_else_xdg_cache_home_else_home_dot_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(data.ENV_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "mnist-framework-bench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "mnist-framework-bench"


def test_raw_copy_reads_uncompressed_sources_too(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path))
    first = data.raw_copy(mnist, "first")
    second = data.raw_copy(dataclasses.replace(mnist, directory=first), "second")
    for f in data.FILES:
        assert data.sha256_of(second / f.name) == f.raw_sha256


def test_raw_copy_names_each_way_it_can_fail(mnist, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "a-file"))
    with pytest.raises(DataError) as info:
        data.raw_copy(mnist, "raw")
    assert str(info.value) == (f"cannot create {tmp_path / 'a-file' / 'raw'} for the uncompressed MNIST files "
                               "(Not a directory); set MFB_CACHE to a writable directory")
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as info:
        data.raw_copy(dataclasses.replace(mnist, directory=tmp_path / "empty"), "raw")
    assert str(info.value) == f"{IMAGES.name} vanished from {tmp_path / 'empty'} since it was verified"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / (IMAGES.name + ".gz")).write_bytes(gzip.compress(b"not mnist"))
    with pytest.raises(DataError) as info:
        data.raw_copy(dataclasses.replace(mnist, directory=tmp_path / "other"), "raw")
    assert str(info.value) == (f"{tmp_path / 'other' / (IMAGES.name + '.gz')}: its uncompressed content does not "
                               f"match {IMAGES.name}'s SHA256")

    def full(path, payload):
        raise OutputError(f"{path}: no space left")

    monkeypatch.setattr(data, "write_bytes", full)
    with pytest.raises(DataError) as info:
        data.raw_copy(mnist, "raw")
    assert str(info.value) == (f"{tmp_path / 'cache' / 'raw' / IMAGES.name}: no space left; set MFB_CACHE to a "
                               "writable directory")


def test_a_checksum_mismatch_or_an_unreadable_file_is_said_in_full(tmp_path):
    bad = tmp_path / (LABELS.name + ".gz")
    bad.write_bytes(b"x")
    with pytest.raises(DataError) as info:
        data.verify_file(bad, LABELS)
    assert str(info.value) == (
        f"{bad}: SHA256 {data.sha256_of(bad)} does not match the expected {LABELS.gz_sha256}; the file is corrupt, "
        f"truncated or not the original MNIST {LABELS.name}. Replace it with the original (or delete it to have the "
        "suite download it again).")
    a_directory = tmp_path / LABELS.name
    a_directory.mkdir()
    with pytest.raises(DataError, match=rf"^{a_directory}: cannot be read \(\[Errno 21\] Is a directory"):
        data.verify_file(a_directory, LABELS)
    with pytest.raises(DataError, match=rf"^{bad}: cannot be read as {LABELS.name} \("):
        data.read_idx(bad, LABELS)


def test_parse_idx_draws_its_lines_at_the_exact_sizes():
    idx = data.IdxFile("x", "x", "", "", (4, 2, 2))
    good = idx_bytes(np.arange(16, dtype=np.uint8).reshape(4, 2, 2))
    with pytest.raises(DataError, match=r"^<bytes>: too short to be an IDX file \(3 bytes\)$"):
        data.parse_idx(good[:3], idx)
    with pytest.raises(DataError, match=r"^<bytes>: truncated header \(4 bytes\)$"):
        data.parse_idx(good[:4], idx)
    # a dimension's high byte counts: a reader that skipped it would take 2**24 + 4 for 4
    high = good[:4] + (2**24 + 4).to_bytes(4, "big") + good[8:]
    with pytest.raises(DataError, match=r"^<bytes>: dimensions \(16777220, 2, 2\), expected \(4, 2, 2\)$"):
        data.parse_idx(high, idx)
    high = good[:8] + (2**24 + 2).to_bytes(4, "big") + good[12:]
    with pytest.raises(DataError, match=r"^<bytes>: dimensions \(4, 16777218, 2\), expected \(4, 2, 2\)$"):
        data.parse_idx(high, idx)


def test_load_passes_downloads_off_on(isolated, source_dir):
    target = linked_copy(source_dir, isolated / "partial", skip=(LABELS.name,))
    with pytest.raises(DataError, match=f"missing in {target}: {LABELS.name}.gz, and downloads are off"):
        data.load(target, download=False)


def test_an_empty_argument_is_no_directory_given(isolated, monkeypatch):
    monkeypatch.setenv(data.ENV_DIR, str(isolated / "env"))
    assert data.configured_dir("") == isolated / "env"
    assert data.configured_dir(None) == isolated / "env"
    monkeypatch.setenv(data.ENV_DIR, "")
    assert data.configured_dir("") is None
    assert data.candidate_dirs() == [isolated / "cache" / "mnist", Path("data/MNIST/raw")]


def test_each_refusal_of_locate_says_where_and_what_in_full(isolated, source_dir, monkeypatch):
    with pytest.raises(DataError) as info:
        data.locate(isolated / "typo")
    assert str(info.value) == (f"{isolated / 'typo'} (the configured MNIST directory) does not exist. "
                               f"{data.HOW_TO_POINT}")
    target = linked_copy(source_dir, isolated / "partial", skip=(LABELS.name, IMAGES.name))
    with pytest.raises(DataError) as info:
        data.locate(target, download=False)
    assert str(info.value) == (f"MNIST files missing in {target}: {IMAGES.name}.gz, {LABELS.name}.gz, and downloads "
                               f"are off. {data.HOW_TO_POINT}")
    with pytest.raises(DataError) as info:
        data.locate(download=False)
    assert str(info.value) == (f"MNIST was not found in {isolated / 'cache' / 'mnist'}, data/MNIST/raw. "
                               f"{data.HOW_TO_POINT}")


def test_a_directory_that_exists_but_cannot_be_listed_or_entered_is_refused(isolated, monkeypatch):
    """Root reads every directory, so the permission is simulated: this one may be seen (F_OK) but neither read
    nor entered."""
    locked = isolated / "locked"
    locked.mkdir()
    real = data.os.access
    monkeypatch.setattr(data.os, "access", lambda p, mode: mode == data.os.F_OK if Path(p) == locked
                        else real(p, mode))
    with pytest.raises(DataError) as info:
        data.locate(locked)
    assert str(info.value) == (f"{locked} (the configured MNIST directory) cannot be read: no permission. "
                               f"{data.HOW_TO_POINT}")
