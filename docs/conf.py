"""Sphinx configuration: the manual, written in Markdown (MyST), with the option and exit-status reference
generated from the code at build time (``_ext/generated_reference.py``) so it cannot drift from it.

Build it as the tests and the Pages workflow do: ``python -m sphinx -W --keep-going -n -b html docs OUT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]  # this checkout's suite, and the local extension

project = "mnist-framework-bench"
author = "the mnist-framework-bench contributors"
copyright = "the mnist-framework-bench contributors (MIT licence)"

extensions = ["myst_parser", "sphinx.ext.autodoc", "generated_reference"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

myst_heading_anchors = 3  # links to sections of another page: usage.md#using-the-installed-package

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# No intersphinx (the build needs no network): types from the standard library and numpy are named, not linked.
# Every reference to the suite itself must still resolve (-n), so only those modules are let off.
nitpick_ignore_regex = [("py:class", r"(abc|argparse|collections\.abc|enum|os|pathlib|typing|numpy)\..+")]

html_theme = "furo"
html_title = "mnist-framework-bench"
smartquotes = False  # "--threads" stays two hyphens, in prose and in generated help alike
