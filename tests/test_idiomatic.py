"""The tutorial-style scripts of the fidelity-to-idiomatic-code check run as their tutorials do, import nothing
from the suite, and report each epoch (its seconds, images and page faults) as the benchmark expects."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "frameworks" / "adapters" / "idiomatic"


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.py") if p.name != "__init__.py"))
def test_scripts_import_nothing_from_the_suite(script):
    tree = ast.parse((SCRIPTS / script).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "frameworks" not in imported and "tests" not in imported, imported


def test_each_script_trains_and_reports_its_epochs(framework, network, make_model, mnist):
    model = make_model(framework, network)
    scripts = model.idiomatic_scripts(mnist, images=256, epochs=2)
    if not scripts:
        pytest.skip("no tutorial-style script in the suite for this framework and network")
    for script in scripts:
        proc = subprocess.run(script.argv, env={**os.environ, **script.environment}, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{script.label}: {proc.stderr[-2000:]}"
        epochs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        assert [e["epoch"] for e in epochs] == [1, 2], proc.stdout
        assert all(e["seconds"] > 0 and e["images"] >= 256 for e in epochs)
        # the pages each epoch faulted in (the report sets them beside the suite's): the first epoch allocates
        assert epochs[0]["page_faults"] > 0 and all(isinstance(e["page_faults"], int) for e in epochs), epochs
