"""The structure the suite relies on: framework knowledge lives only in adapters and the registry, every
file write goes through the atomic helper, and every option is declared once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from frameworks.bench import options
from frameworks.registry import _BUILTIN

PACKAGE = Path(__file__).resolve().parent.parent / "frameworks"
FRAMEWORK_WORDS = sorted({info.name for info in _BUILTIN} | {m for info in _BUILTIN for m in info.requires}
                         | {"torchvision", "triton"})
PATTERN = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, FRAMEWORK_WORDS)) + r")(?![\w-])")


def shared_modules() -> list[Path]:
    """Every module outside the adapters and the registry."""
    return [p for p in PACKAGE.rglob("*.py") if "adapters" not in p.relative_to(PACKAGE).parts
            and p.name != "registry.py"]


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def framework_mentions(path: Path) -> list[str]:
    """Framework names in code (imports, names, string values), not in docstrings or comments."""
    tree = ast.parse(path.read_text())
    skip = docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if getattr(node, "module", None) else [])
            hits += [f"import {n}" for n in names if n.split(".")[0] in FRAMEWORK_WORDS]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            hits += [f"{m.group(1)!r} in {node.value[:60]!r}" for m in PATTERN.finditer(node.value)]
        elif isinstance(node, ast.Name) and node.id in FRAMEWORK_WORDS:
            hits.append(f"name {node.id}")
    return [f"{path.relative_to(PACKAGE.parent)}:{h}" for h in hits]


def test_shared_modules_name_no_framework():
    assert shared_modules(), "no modules found"
    hits = [h for path in shared_modules() for h in framework_mentions(path)]
    assert not hits, "framework knowledge outside the adapters and the registry:\n" + "\n".join(hits)


def test_every_file_write_goes_through_the_atomic_helper():
    """Only fileio opens files for writing (base.py writes /proc/self/clear_refs, a kernel control, not a file)."""
    allowed = {"fileio.py": None, "base.py": "w"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"open\([^)]*[\"'](w|a|wb|ab)[\"']", text):
            if path.name in allowed and allowed[path.name] in (None, match.group(1)):
                continue
            offenders.append(f"{path.relative_to(PACKAGE.parent)}: {match.group(0)}")
        if re.search(r"\.write_(text|bytes)\(", text) and path.name != "fileio.py":
            offenders += [f"{path.relative_to(PACKAGE.parent)}: Path.write_*"]
    assert not offenders, "\n".join(offenders)


def test_every_option_is_declared_once():
    flags = [o.flag for o in options.OPTIONS]
    assert len(flags) == len(set(flags))
    assert all(o.scopes for o in options.OPTIONS), "an option offered nowhere"
