"""The manual's reference pages, written from the code at build time so that they cannot drift from it.

``reference/cli.md`` gets every command of ``frameworks.cli.build_parser()`` with each of its arguments, and
the option table (``frameworks.options.OPTIONS``) says where else each option is offered;
``reference/exit-statuses.md`` gets ``frameworks.errors``' ``EXIT_*`` constants with their meanings. Each page
holds its own introduction; the generated Markdown is appended to it when Sphinx reads it (``source-read``),
so nothing generated is written into the source tree. A status without a meaning is a build warning, so the
documentation build (warnings as errors) fails on it.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
PROG = "python -m frameworks"
_ESCAPE = re.compile(r"([\\`*_\[\]<>|#$])")


def escape(text: str) -> str:
    """Plain text safe inside Markdown (a table cell included): ``<network>.npz`` is not an HTML tag here."""
    return _ESCAPE.sub(r"\\\1", " ".join(str(text).split()))


def _help(action: argparse.Action, prog: str) -> str:
    """An argument's help as ``--help`` prints it (``%%`` and ``%(default)s`` expanded, as argparse does)."""
    if not action.help:
        return ""
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = prog
    return action.help % params


def _subcommands(parser: argparse.ArgumentParser) -> Iterable[tuple[str, str, argparse.ArgumentParser]]:
    """Each command: name, one-line help, parser (argparse keeps them on its subparsers action)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _argument(action: argparse.Action) -> str:
    if not action.option_strings:
        many = action.nargs in ("+", "*")
        return f"`{action.metavar or action.dest}{' ...' if many else ''}`"
    value = ""
    if action.nargs != 0:
        value = " " + (action.metavar or action.dest.upper())
        if action.nargs in ("+", "*"):
            value += " ..."
    return ", ".join(f"`{flag}{value}`" for flag in action.option_strings)


def commands_markdown() -> str:
    """Every command and its arguments, from the parser the command line itself builds."""
    from frameworks.cli import build_parser
    from frameworks.options import OPTIONS

    table = {option.flag: option for option in OPTIONS}
    lines: list[str] = []
    for name, summary, sub in _subcommands(build_parser()):
        prog = f"{PROG} {name}"
        lines += ["", f"## `{name}`", "", escape(summary.replace("%%", "%")) + ".", ""]
        actions = [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        if not actions:
            lines.append("No arguments.")
            continue
        lines += ["| argument | what | offered in |", "|---|---|---|"]
        for action in actions:
            what = escape(_help(action, prog)) + (" (required)" if action.required and action.option_strings else "")
            option = table.get(action.option_strings[0]) if action.option_strings else None
            offered = ", ".join(f"`{scope}`" for scope in sorted(option.scopes)) if option else f"`{name}` only"
            lines.append(f"| {_argument(action)} | {what} | {offered} |")
    return "\n".join(lines) + "\n"


def pytest_markdown() -> str:
    """The options the pytest plugin registers, from the same table."""
    from frameworks.options import OPTIONS, PYTEST

    lines = ["| option | what | also in |", "|---|---|---|"]
    for option in OPTIONS:
        if PYTEST in option.scopes:
            value = f" {option.metavar}" if option.parse is not None and option.metavar else ""
            others = ", ".join(f"`{scope}`" for scope in sorted(option.scopes - {PYTEST})) or "pytest only"
            lines.append(f"| `{option.flag}{value}` | {escape(option.help.replace('%%', '%'))} | {others} |")
    return "\n".join(lines) + "\n"


def exit_statuses() -> list[tuple[int, str, str]]:
    """``(status, constant, meaning)`` for every ``EXIT_*`` of ``frameworks.errors``: the meaning from a dict
    of meanings there if the module has one, else from the comment on the constant's line."""
    errors = importlib.import_module("frameworks.errors")
    constants = {name: value for name, value in vars(errors).items()
                 if name.startswith("EXIT_") and isinstance(value, int) and not isinstance(value, bool)}
    meanings: dict[Any, str] = {}
    for value in vars(errors).values():
        if (isinstance(value, dict) and len(value) >= 2 and all(isinstance(v, str) for v in value.values())
                and (set(value) <= set(constants.values()) or set(value) <= set(constants))):
            meanings = value
            break
    source = inspect.getsource(errors)
    comments = {m[1]: m[2].strip() for m in re.finditer(r"^(EXIT_\w+)\b[^=\n]*=[^#\n]*#\s*(.+)$", source, re.M)}
    rows = []
    for name, value in sorted(constants.items(), key=lambda item: item[1]):
        meaning = meanings.get(value) or meanings.get(name) or comments.get(name, "")
        if not meaning:
            logger.warning(f"frameworks.errors.{name} = {value} has no meaning (a comment or an entry in the "
                           "module's dict of meanings); the exit status reference needs one")
        rows.append((value, name, meaning))
    return rows


def exit_statuses_markdown() -> str:
    lines = ["| status | constant | meaning |", "|---|---|---|"]
    lines += [f"| **{value}** | `{name}` | {escape(meaning)} |" for value, name, meaning in exit_statuses()]
    return "\n".join(lines) + "\n"


def cli_page() -> str:
    return commands_markdown() + "\n## In pytest\n\n" + \
        "The pytest plugin registers these options from the same table (`pytest --help` lists them under " + \
        "*mnist-framework-bench*); pytest-benchmark's own `--benchmark-*` options work as usual.\n\n" + \
        pytest_markdown()


GENERATED: dict[str, Callable[[], str]] = {
    "reference/cli": cli_page,
    "reference/exit-statuses": exit_statuses_markdown,
}


def append_generated(app: Sphinx, docname: str, source: list[str]) -> None:
    """``source-read``: append the generated part to the pages that have one."""
    if docname in GENERATED:
        source[0] = source[0].rstrip("\n") + "\n\n" + GENERATED[docname]()


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", append_generated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
