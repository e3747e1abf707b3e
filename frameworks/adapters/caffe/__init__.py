"""Caffe 1.0 (CPU), built from source by ``scripts/install_caffe.sh``: the adapter, its generated prototxts,
MNIST as LMDBs, and users' own solver files. Importing this package does not load pycaffe."""

from __future__ import annotations

import importlib.util
import os
import sys


def platform_unsupported() -> str | None:
    """Why this Python cannot run the suite's Caffe, or None: the build is tied to Python 3.11."""
    if sys.version_info[:2] != (3, 11):
        return "the Caffe build is tied to Python 3.11 (Debian's Boost.Python)"
    return None


def installed_versions() -> dict[str, str]:
    """pycaffe's version and what it was built from, read from its files without loading the extension."""
    spec = importlib.util.find_spec("caffe")
    if spec is None or not spec.submodule_search_locations:
        return {}
    source = os.path.join(list(spec.submodule_search_locations)[0], ".mfb_source")
    try:
        with open(source) as f:
            return {"caffe": f"1.0.0 (built from {f.read().strip()} by scripts/install_caffe.sh)"}
    except OSError:
        return {"caffe": "1.0.0"}
