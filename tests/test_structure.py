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
# In text: a name, in any case, not inside a longer word ("PyTorch", "keras_cnn" and "torch.compile" are hits; the
# "torch" of "pytorch" is the one hit "pytorch").
PATTERN = re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, FRAMEWORK_WORDS)) + r")(?![a-z0-9])", re.IGNORECASE)
# In identifiers: a name anywhere, in any case ("to_keras", "KerasThing", "is_pytorch", "JAX_FLAGS").
IDENTIFIER_WORDS = sorted({w.lower().replace("-", "_") for w in FRAMEWORK_WORDS})
# Prose, exempt like docstrings: the provenance a network or recipe cites (specs.py: "Caffe's examples/mnist").
PROSE_KEYWORDS = {"description", "source", "origin"}
# Names that carry a framework's name but hold no knowledge of it, kept because users and committed results use
# them: a network named after the example it reproduces, and an init scheme named after where it was defined (every
# adapter implements it from specs.init_bounds). The identifier of the same name (KERAS_CNN) goes with it.
ALLOWED_NAMES = {"keras_cnn", "torch_default"}


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


def identifiers(node: ast.AST) -> list[str]:
    """The names a node introduces or uses: variables, attributes, functions, classes, arguments, keywords,
    imports."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword) and node.arg:
        return [node.arg]
    if isinstance(node, ast.alias):
        return [node.name, *([node.asname] if node.asname else [])]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module]
    if isinstance(node, ast.Global | ast.Nonlocal):
        return list(node.names)
    return []


def token_at(text: str, start: int, end: int) -> str:
    """The whole word (letters, digits, underscores) around ``text[start:end]``."""
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[start:end]


def framework_mentions(path: Path) -> list[str]:
    """Framework names in code (imports, identifiers in any case, string values), not in docstrings or
    comments."""
    tree = ast.parse(path.read_text())
    skip = docstrings(tree) | {id(node.value) for node in ast.walk(tree)
                               if isinstance(node, ast.keyword) and node.arg in PROSE_KEYWORDS}
    hits = []
    for node in ast.walk(tree):
        for name in identifiers(node):
            lowered = name.lower()
            if lowered not in ALLOWED_NAMES:
                hits += [f"name {name} (line {node.lineno})" for w in IDENTIFIER_WORDS if w in lowered][:1]
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            hits += [f"{m.group(1)!r} in {node.value[:60]!r} (line {node.lineno})" for m in PATTERN.finditer(node.value)
                     if token_at(node.value, m.start(), m.end()).lower() not in ALLOWED_NAMES]
    return [f"{path.relative_to(PACKAGE.parent)}:{h}" for h in hits]


def test_shared_modules_name_no_framework():
    assert shared_modules(), "no modules found"
    hits = [h for path in shared_modules() for h in framework_mentions(path)]
    assert not hits, "framework knowledge outside the adapters and the registry:\n" + "\n".join(hits)


def test_the_framework_check_sees_identifiers_in_any_case(tmp_path):
    """The check itself: a framework's name in a function, a class, an argument, an attribute or an import of a
    shared module is reported, in any case; in a docstring or a comment it is not."""
    global PACKAGE
    fake = tmp_path / "frameworks"
    fake.mkdir()
    (fake / "weights.py").write_text(
        '"""Converts to Keras\' layout (a docstring may say so)."""\n'
        "from .adapters.keras.layout import from_keras  # a comment may name PyTorch\n"
        "def to_keras(w):\n    return w\n"
        "class KerasThing:\n    pass\n"
        "def convert(w, jax_array=None, **kw):\n    return w.Torch_layout\n"
        "LABEL = \'PyTorch weights\'\n")
    saved, PACKAGE = PACKAGE, fake
    try:
        hits = framework_mentions(fake / "weights.py")
    finally:
        PACKAGE = saved
    text = "\n".join(hits)
    for name in ("from_keras", "to_keras", "KerasThing", "jax_array", "Torch_layout", "'PyTorch'"):
        assert name in text, (name, text)
    assert "line 1" not in text, text  # the docstring
    assert "comment" not in text, text
    assert len(hits) == 7, text  # the import's module path and the imported name are two hits


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
    {"analysis/", "bench/", "parallel/", "conformance/"},
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
    assert {"commands/", "results/", "adapters/", "cli"} <= units, units  # the walk sees the package
    missing = sorted(n for n in units - {"__init__"} if not any(n in layer for layer in LAYERS))
    assert not missing, f"in no layer (add them to LAYERS in tests/test_structure.py): {missing}"


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


def test_every_setting_is_one_option_row():
    """Each ``Settings`` field is filled by the option that names it: a new setting is a field and one row."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(options.Settings)}
    assert fields == {o.setting for o in options.OPTIONS if o.setting}
    for option in (o for o in options.OPTIONS if o.setting):
        given = True if option.parse is None else ["a value"]
        settings = options.Settings.from_values({option.dest: given})
        assert getattr(settings, option.setting) == given, option.flag
        others = {f: getattr(settings, f) for f in fields - {option.setting}}
        assert others == {f: getattr(options.Settings(), f) for f in others}, f"{option.flag} filled another field"
