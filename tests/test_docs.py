"""The manual (docs/) builds with warnings as errors, as the Pages workflow builds it: a broken reference, a
page missing from the table of contents or an exit status without a meaning fails here. The reference pages are
generated from the code (every command, option and exit status appears), and the modules the API reference
documents import no framework, so the manual builds where none is installed."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WHY = "the documentation build needs sphinx, myst-parser and furo: pip install -e '.[docs]'"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The manual built once, into a temporary directory, with the flags of the Pages workflow."""
    for module in ("sphinx", "myst_parser", "furo"):
        pytest.importorskip(module, reason=WHY)
    out = tmp_path_factory.mktemp("docs") / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           str(DOCS), str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"the manual does not build cleanly:\n{done.stdout}\n{done.stderr}"
    return out


def text_of(page: Path) -> str:
    """A built page's visible text, roughly: tags dropped, entities of the characters that matter decoded."""
    text = re.sub(r"<[^>]+>", "", page.read_text())
    return text.replace("&#8212;", "-").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_the_manual_builds_with_warnings_as_errors(site):
    assert (site / "index.html").is_file()
    for source in DOCS.rglob("*.md"):
        if "_build" not in source.parts:
            assert (site / source.relative_to(DOCS).with_suffix(".html")).is_file(), f"{source} was not built"


def test_the_reference_lists_every_command_and_option(site):
    from frameworks.cli import build_parser
    from frameworks.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOTHING, EXIT_OK, EXIT_USAGE
    from frameworks.options import OPTIONS

    page = text_of(site / "reference" / "cli.html")
    commands = build_parser()._subparsers._group_actions[0].choices  # argparse keeps them there
    assert {"info", "test", "bench", "accuracy", "report", "gate", "versions", "dashboard", "export"} <= set(commands)
    html = (site / "reference" / "cli.html").read_text()
    for name, parser in commands.items():
        assert f'id="{name}"' in html, f"no section for the command {name}"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # -h, --help: every command has them; the reference leaves them out
            for flag in action.option_strings:
                assert re.search(rf"(?<![\w-]){re.escape(flag)}\b", page), f"{name} {flag} is not in the reference"
    for option in OPTIONS:
        assert re.search(rf"(?<![\w-]){re.escape(option.flag)}\b", page), option.flag
    statuses = text_of(site / "reference" / "exit-statuses.html")
    for status in (EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERRUPTED):
        assert re.search(rf"\b{status}\b", statuses), status


def test_the_documented_modules_import_no_framework():
    """Importing the suite never imports a framework: the API reference and the generated reference import
    these modules, and the manual must build without any framework installed."""
    documented = re.findall(r"\.\. automodule:: (\S+)", (DOCS / "reference" / "api.md").read_text())
    assert "frameworks.adapters.base" in documented
    code = f"""
import importlib, json, sys
for name in {documented!r} + ["frameworks.cli"]:
    importlib.import_module(name)
import frameworks.cli
frameworks.cli.build_parser()
from frameworks import FRAMEWORKS
modules = {{m for info in FRAMEWORKS.values() for m in info.requires}}
print(json.dumps(sorted(m for m in modules if m in sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
