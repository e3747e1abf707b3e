"""The structure the suite relies on: framework knowledge lives only in adapters and the registry, every
file write goes through the atomic helper, and every option is declared once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from frameworks import options
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


# --- layers: each module imports only its own layer and those below it ------------------------------------------
# Top to bottom. A folder is one unit. The registry, the adapters, the option table and the process settings are
# one layer: the registry names adapters (loaded lazily), an adapter reads the registry and its own settings.
LAYERS = (
    {"__main__", "cli"},
    {"commands/"},
    {"analysis/", "bench/", "parallel/"},
    {"equivalence", "environment", "processes"},
    {"results/"},
    {"registry", "adapters/", "options", "process_settings"},
    {"data", "weights", "precision"},
    {"specs", "fileio", "stats", "progress", "clock", "errors", "child"},
)
# Imports the layers would allow but the package rules forbid.
FORBIDDEN = {("analysis/", "adapters/"), ("results/", "registry"), ("results/", "adapters/")}


def unit(module: str) -> str:
    """The layer unit of a module of the package: its folder under frameworks/, or the module itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1] + "/" if (PACKAGE / parts[1]).is_dir() else parts[1]


def imports_by_unit() -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) -> where, for every import of the package by the package, lazy ones
    (inside functions) included."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = ".".join(parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE.name:
                continue
            for alias in node.names:  # "from . import stats" imports the module stats
                full = f"{target}.{alias.name}"
                as_path = PACKAGE.parent.joinpath(*full.split("."))
                name = full if as_path.with_suffix(".py").exists() or as_path.is_dir() else target
                pair = (unit(module), unit(name))
                if pair[0] != pair[1] and pair[1] != "__init__":
                    found.setdefault(pair, []).append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def layer_of(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS in tests/test_structure.py")


def test_every_unit_has_a_layer():
    units = {unit(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in PACKAGE.rglob("*.py")}
    for name in units - {"__init__"}:
        layer_of(name)


def test_layers_import_downward_only():
    upward = [f"{a} -> {b} ({', '.join(where)})" for (a, b), where in imports_by_unit().items()
              if a != "__init__" and layer_of(b) < layer_of(a)]
    assert not upward, "imports that run back up a layer:\n" + "\n".join(upward)


def test_forbidden_imports_are_absent():
    found = imports_by_unit()
    hits = [f"{a} -> {b} ({', '.join(found[(a, b)])})" for a, b in FORBIDDEN if (a, b) in found]
    assert not hits, "imports the package rules forbid:\n" + "\n".join(hits)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check itself: a module of a lower layer importing a command is reported."""
    global PACKAGE
    fake = tmp_path / "frameworks"
    (fake / "commands").mkdir(parents=True)
    (fake / "commands" / "bench.py").write_text("X = 1\n")
    (fake / "fileio.py").write_text("from .commands.bench import X\n")
    saved, PACKAGE = PACKAGE, fake
    try:
        assert ("fileio", "commands/") in imports_by_unit()
        assert layer_of("commands/") < layer_of("fileio")
    finally:
        PACKAGE = saved
