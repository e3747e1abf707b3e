"""Children run the code their parent runs: a child process imports the parent's own ``frameworks`` package,
even when another checkout or an installed copy comes first in the environment, and the run records which."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from frameworks import processes
from frameworks.environment import runtime_details
from frameworks.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def decoy(tmp_path):
    """Another checkout of the suite: a ``frameworks`` package that is not the one running."""
    (tmp_path / "decoy" / "frameworks").mkdir(parents=True)
    (tmp_path / "decoy" / "frameworks" / "__init__.py").write_text("DECOY = True\n")
    return tmp_path / "decoy"


def test_a_child_imports_the_parents_package_not_the_one_first_on_its_path(tmp_path, decoy, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(decoy))
    out = tmp_path / "imported.txt"
    code = processes.run_child([sys.executable, "-c", "import frameworks, sys; "
                                "open(sys.argv[1], 'w').write(frameworks.__file__)", str(out)],
                               env={"PYTHONPATH": f"{decoy}{os.pathsep}{decoy}"}, cwd=str(tmp_path))
    assert code == 0 and Path(out.read_text()) == ROOT / "frameworks" / "__init__.py"


def test_the_child_environment_puts_the_parents_root_first_once_and_names_it(decoy):
    env = processes.child_environment({"PYTHONPATH": os.pathsep.join([str(decoy), str(ROOT), "/elsewhere"])})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(ROOT), str(decoy), "/elsewhere"]
    assert env[processes.ENV_PACKAGE_ROOT] == str(ROOT)


def test_a_child_that_imported_another_copy_refuses_with_both_named(decoy, monkeypatch):
    monkeypatch.setenv(processes.ENV_PACKAGE_ROOT, str(decoy))
    with pytest.raises(UsageError, match=f"imported the suite from {ROOT}, but its parent runs the one in {decoy}"):
        processes.check_parent_package()
    assert processes.ENV_PACKAGE_ROOT not in os.environ, "consumed: grandchildren are not held to it"
    monkeypatch.setenv(processes.ENV_PACKAGE_ROOT, str(ROOT))
    processes.check_parent_package()  # the same package: nothing to say


def test_the_run_records_the_package_that_ran():
    assert runtime_details()["package"] == str(ROOT / "frameworks")


def test_a_pytest_child_refuses_to_run_other_code_than_its_parents(tmp_path, decoy):
    import subprocess

    (tmp_path / "test_tiny.py").write_text("def test_tiny():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), processes.ENV_PACKAGE_ROOT: str(decoy)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4 and f"its parent runs the one in {decoy}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
