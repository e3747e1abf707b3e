"""CI itself: the job matrix comes from tox.ini, the minimum-version environments pin pyproject's lower bounds, the
torch pins take the CPU build from the environment and resolve here, the benchmark gate's script (install, ABBA
loop, base's gate) run against a small git history with a stub ``python -m frameworks``, the GPU job's checks, the
aggregate check, and the rules every workflow follows (pinned actions and images, no persisted credentials, a
timeout on every job). The workflows' logic lives in scripts under .github/scripts, so it is exercised here."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="the CI tests need PyYAML: pip install -e '.[ci]'")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
BASH = shutil.which("bash")
GIT = shutil.which("git")
HAS_TOX = importlib.util.find_spec("tox") is not None
needs_tox = pytest.mark.skipif(not HAS_TOX, reason="needs tox: pip install -e '.[ci]'")
needs_git = pytest.mark.skipif(GIT is None or BASH is None, reason="needs git and bash")


def load_script(name: str):
    """A script of .github/scripts imported as a module (their names have dashes)."""
    spec = importlib.util.spec_from_file_location(name.replace("-", "_").removesuffix(".py"), SCRIPTS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(cmd, *, cwd=ROOT, env=None, check=False, **kwargs) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key)
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True, text=True, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def workflows() -> dict[str, dict]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS.glob("*.yml"))}


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True)) or {}  # PyYAML reads the key `on` as True


def step(workflow: dict, job: str, name: str) -> dict:
    for candidate in workflow["jobs"][job]["steps"]:
        if candidate.get("name") == name:
            return candidate
    raise AssertionError(f"no step named {name!r} in job {job}")


# ---- the matrix comes from tox.ini -----------------------------------------------------------------------------

TOX_KEYS = ("labels", "base_python", "deps", "set_env")


@pytest.fixture(scope="module")
def tox_config():
    """tox's own view of every environment in envlist: {env: {key: [values]}} (one tox call)."""
    if not HAS_TOX:
        pytest.skip("needs tox: pip install -e '.[ci]'")
    matrix = load_script("tox-matrix.py")
    done = run([sys.executable, "-m", "tox", "config", "-k", *TOX_KEYS], check=True)
    return matrix.parse_config(done.stdout)


@needs_tox
def test_every_tox_environment_runs_in_exactly_one_job(tox_config):
    matrix = load_script("tox-matrix.py")  # the functions the plan job runs, on the same `tox config` output
    assert matrix.unplaced(tox_config) == {}
    jobs = {label: matrix.matrix(tox_config, label)["include"] for label in ("lint", "hosted", "debian")}
    placed = [entry for entries in jobs.values() for entry in entries]
    assert sorted(e["env"] for e in placed) == sorted(tox_config), "each environment of envlist, once"
    for entry in placed:
        factor = re.match(r"py(\d)(\d+)-", entry["env"])
        assert entry["python"] == (f"{factor[1]}.{factor[2]}" if factor else "3.11"), entry
    assert [e["env"] for e in jobs["debian"]] == ["caffe"] and [e["env"] for e in jobs["lint"]] == ["lint", "ci"]
    hosted = {e["env"] for e in jobs["hosted"]}
    for python in ("310", "311", "312"):  # every non-Caffe framework environment on each Python...
        for env in ("torch213", "torch214", "tf220", "tf221", "kerastorch213", "kerastorch214"):
            assert f"py{python}-{env}" in hosted
    assert {"py311-jax010", "py312-jax010", "py310-min-jax"} <= hosted  # ...JAX 0.9/0.10 need Python >= 3.11


@needs_tox
def test_an_environment_without_a_job_fails_the_plan(tmp_path):
    ini = tmp_path / "tox.ini"
    ini.write_text("[tox]\nenvlist = a, b\n[testenv]\npackage = skip\nlabels = hosted\n[testenv:b]\nlabels =\n")
    done = run([sys.executable, SCRIPTS / "tox-matrix.py", "--check", "hosted"],
               env={"TOX": f"{sys.executable} -m tox -c {ini}"})
    assert done.returncode == 1
    assert "b has job labels none" in done.stderr and "lint, hosted, debian" in done.stderr


def test_the_workflow_matrices_are_the_plans_outputs():
    ci = workflows()["ci.yml"]
    assert "tox-matrix.py --check hosted debian" in step(ci, "prepare", "The job matrices, from tox.ini (every "
                                                          "environment in envlist in exactly one job)")["run"]
    assert ci["jobs"]["prepare"]["outputs"] == {"hosted": "${{ steps.matrix.outputs.hosted }}",
                                                "debian": "${{ steps.matrix.outputs.debian }}"}
    assert ci["jobs"]["tox"]["strategy"]["matrix"] == "${{ fromJSON(needs.prepare.outputs.hosted) }}"
    assert ci["jobs"]["tox-debian"]["strategy"]["matrix"] == "${{ fromJSON(needs.prepare.outputs.debian) }}"
    assert "tox -m lint" in step(ci, "lint", "ruff, shellcheck, actionlint, zizmor; tests/test_ci.py")["run"]


# ---- minimum versions and the torch builds -----------------------------------------------------------------------

def lower_bounds(extra: str) -> dict[str, str]:
    """pyproject.toml's ">=" bounds for an install of ``extra`` with the test tools."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"][extra],
                    *project["optional-dependencies"]["test"]]
    bounds = {}
    for requirement in requirements:
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement.replace(" ", ""))
        if found:
            bounds[found[1].lower()] = found[2]
    return bounds


def pins(lines: list[str]) -> dict[str, str]:
    return {name.lower(): version for name, version in (line.split("==") for line in lines if "==" in line)}


@needs_tox
def test_the_minimum_environments_install_pyprojects_lower_bounds(tox_config):
    import tomllib
    from packaging.version import Version

    minimum_envs = [env for env in tox_config if "-min-" in env]
    requires_python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    extras = []
    for env in minimum_envs:
        assert tox_config[env]["base_python"] == ["py" + requires_python.removeprefix(">=").replace(".", "")]
        extra = next(line.split("=", 1)[1] for line in tox_config[env]["set_env"] if line.startswith("FRAMEWORKS="))
        extras.append(extra)  # each environment tests one framework, named as its extra is
        bounds = lower_bounds(extra)
        pinned = pins(tox_config[env]["deps"])
        assert len(pinned) == len(tox_config[env]["deps"]), f"{env}: every dependency pinned"
        assert set(pinned) == set(bounds) | ({"jaxlib"} if "jax" in bounds else set()), f"{env}: the bounds, only"
        for name, bound in bounds.items():
            assert Version(Version(pinned[name]).public) == Version(bound), f"{env}: {name} {pinned[name]} >={bound}"
        assert Version(pinned["numpy"]).major == 1, "numpy 1.x is what the lower bound allows, so it is tested"
        if "jax" in bounds:
            assert pinned["jaxlib"] == pinned["jax"]
    assert sorted(extras) == ["keras-jax", "keras-tensorflow", "keras-torch", "pytorch"]


@needs_tox
def test_torch_pins_take_the_build_from_torch_variant(tox_config):
    variant = os.environ.get("TORCH_VARIANT", "")
    torch_pins = [line for keys in tox_config.values() for line in keys.get("deps", [])
                  if line.startswith(("torch==", "torchvision=="))]
    assert len(torch_pins) >= 15
    assert all(line.endswith(variant) for line in torch_pins) if variant else all("+" not in p for p in torch_pins)
    done = run([sys.executable, "-m", "tox", "config", "-e", "py310-min-torch,py311-kerastorch213", "-k", "deps"],
               env={"TORCH_VARIANT": "+cpu"}, check=True)
    config = load_script("tox-matrix.py").parse_config(done.stdout)
    assert {"torch==2.2.0+cpu", "torchvision==0.17.0+cpu", "numpy==1.24.0"} <= set(config["py310-min-torch"]["deps"])
    assert sorted(config["py311-kerastorch213"]["deps"]) == ["keras==3.15.1", "torch==2.13.0+cpu"]


@needs_tox
def test_the_torch_pins_exist_on_the_configured_indexes(tox_config):
    """Each torch/torchvision pin of the matrix has a wheel for its Python on the indexes pip is configured with, as
    the build TORCH_VARIANT names: on GitHub, +cpu on PyTorch's CPU index (PIP_EXTRA_INDEX_URL); here, the releases
    this machine's indexes hold."""
    from packaging.version import Version

    matrix = load_script("tox-matrix.py")
    variant = os.environ.get("TORCH_VARIANT", "")
    wanted: dict[tuple[str, str], set[str]] = {}  # (package, python) -> pinned versions
    for keys in tox_config.values():
        python = matrix.python_version(keys["base_python"])
        for pin in keys.get("deps", []):
            if pin.startswith(("torch==", "torchvision==")):
                name, version = pin.split("==")
                wanted.setdefault((name, python), set()).add(version)
    assert len(wanted) == 6, wanted  # torch and torchvision, on 3.10, 3.11 and 3.12
    for (name, python), versions in sorted(wanted.items()):
        done = run([sys.executable, "-m", "pip", "index", "versions", name, "--python-version", python,
                    "--only-binary", ":all:"])
        assert done.returncode == 0, f"{name} for Python {python}: {done.stderr[-1500:]}"
        listed = re.search(r"^Available versions: (.*)$", done.stdout, re.M)
        available = [Version(v) for v in listed[1].split(", ")] if listed else []
        for version in versions:
            pin = Version(version)
            found = [v for v in available if v.public == pin.public and (not variant or v.local == pin.local)]
            assert found, f"{name}=={version} has no wheel for Python {python} here: {listed}"


def write_distribution(site: Path, name: str, version: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_check_torch_variant_fails_on_another_build(tmp_path):
    write_distribution(tmp_path, "torch", "2.14.1+cpu")
    write_distribution(tmp_path, "torchvision", "0.29.1+cu128")
    script = SCRIPTS / "check-torch-variant.py"
    env = {"PYTHONPATH": str(tmp_path)}
    wrong = run([sys.executable, script], env={**env, "TORCH_VARIANT": "+cpu"})
    assert wrong.returncode == 1
    assert "torchvision 0.29.1+cu128 (WRONG BUILD)" in wrong.stdout and "PIP_EXTRA_INDEX_URL" in wrong.stderr
    (tmp_path / "torchvision-0.29.1+cu128.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torchvision\nVersion: 0.29.1+cpu\n")
    assert run([sys.executable, script], env={**env, "TORCH_VARIANT": "+cpu"}).returncode == 0
    unset = run([sys.executable, script], env={**env, "TORCH_VARIANT": None})
    assert unset.returncode == 0 and "torch 2.14.1+cpu" in unset.stdout


@needs_git
def test_setup_sh_pins_the_torch_build_it_is_asked_for(tmp_path):
    """scripts/setup.sh with TORCH_VARIANT=+cpu installs constraints.txt's versions as that build (a stub venv
    records the pip command)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stub = venv / "bin" / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/pip-args\n')
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    done = run([BASH, ROOT / "scripts" / "setup.sh"],
               env={"MFB_VENV": str(venv), "MFB_SKIP_CAFFE": "1", "TORCH_VARIANT": "+cpu"}, check=True)
    constraints = (ROOT / "constraints.txt").read_text()
    torch = re.search(r"^torch==(\S+)", constraints, re.M)[1]
    vision = re.search(r"^torchvision==(\S+)", constraints, re.M)[1]
    overlay = venv / "torch-variant-constraints.txt"
    assert overlay.read_text() == f"torch=={torch}+cpu\ntorchvision=={vision}+cpu\n"
    args = (tmp_path / "pip-args").read_text().split()
    assert args[:2] == ["-m", "pip"] and f"{ROOT}[all,test,browser,ci,docs]" in args
    assert ["-c", str(ROOT / "constraints.txt"), "-c", str(overlay)] == [a for a in args if a == "-c" or
                                                                         a.endswith(".txt")]
    assert "torch builds: torch==" in done.stdout


# ---- the benchmark gate -------------------------------------------------------------------------------------------

def git(repo: Path, *args: str) -> str:
    return run([GIT, "-C", repo, *args], check=True,
               env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
                    "GIT_COMMITTER_EMAIL": "t@example.invalid"}).stdout.strip()


def pull_request_history(repo: Path, files: dict[str, str], change, docs_only=False) -> dict[str, str]:
    """A repository with main at A, a pull request P branched from A, main moved on to B, and the merge commit M
    (what actions/checkout checks out for a pull request). ``change(repo)`` edits the tree for P."""
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch", "main")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "A")
    git(repo, "checkout", "--quiet", "-b", "pr")
    change(repo)
    git(repo, "commit", "--quiet", "-am", "P")
    git(repo, "checkout", "--quiet", "main")
    (repo / ("NOTES.md" if docs_only else "main-moved-on.txt")).write_text("B\n")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "B")
    shas = {"A": git(repo, "rev-parse", "HEAD^"), "B": git(repo, "rev-parse", "HEAD")}
    git(repo, "merge", "--quiet", "--no-ff", "pr", "-m", "M")
    shas["M"] = git(repo, "rev-parse", "HEAD")
    return shas


def suite_files() -> dict[str, str]:
    """What an editable install of the suite needs, and the gate script."""
    names = ["pyproject.toml", "constraints.txt", "README.md", "LICENSE", ".github/scripts/benchmark-gate.sh"]
    names += [str(p.relative_to(ROOT)) for p in (ROOT / "frameworks").rglob("*.py")]
    return {name: (ROOT / name).read_text() for name in names}


def loosen_the_gate_and_bump_numpy(repo: Path) -> None:
    """The pull request: a dependency bump, and an attempt to loosen its own gate."""
    constraints = repo / "constraints.txt"
    constraints.write_text(re.sub(r"^numpy==\S+", "numpy==2.3.5", constraints.read_text(), flags=re.M))
    script = repo / ".github" / "scripts" / "benchmark-gate.sh"
    script.write_text(script.read_text().replace("MIN_EFFECT=0.10", "MIN_EFFECT=0.50"))


STUB = '''\
import fnmatch, json, os, subprocess, sys
from pathlib import Path

side, python = os.environ["MFB_GATE_SIDE"], os.environ["MFB_GATE_PYTHON"]
probe = subprocess.run([python, "-c", "import numpy, frameworks; print(numpy.__version__, frameworks.__file__)"],
                       capture_output=True, text=True, check=True).stdout.split()
record = {"cmd": sys.argv[1], "args": sys.argv[2:], "side": side, "cwd": os.getcwd(), "python": python,
          "numpy": probe[0], "frameworks": probe[1], "mnist": os.environ.get("MNIST_DIR")}
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
if sys.argv[1] == "bench":
    out = Path(sys.argv[sys.argv.index("--output-dir") + 1])
    if any(fnmatch.fnmatch(out.name, p) for p in os.environ.get("FAKE_FAIL", "").split()):
        sys.exit(1)
    (out / "bench-1").mkdir(parents=True)
    (out / "bench-1" / "results.json").write_text(json.dumps({"side": side, "run": out.name}))
elif sys.argv[1] == "gate":
    sys.exit(int(os.environ.get("FAKE_GATE_EXIT", "0")))
'''


@pytest.fixture(scope="module")
def gate_case(tmp_path_factory):
    """A pull-request history of this repository's own suite, the base's copy of the gate script (as the workflow
    takes it), a stub `python -m frameworks`, and a work directory shared by the tests (installs happen once)."""
    if GIT is None or BASH is None:
        pytest.skip("needs git and bash")
    root = tmp_path_factory.mktemp("gate")
    repo = root / "pr"
    shas = pull_request_history(repo, suite_files(), loosen_the_gate_and_bump_numpy)
    script = root / "benchmark-gate.sh"
    script.write_text(git(repo, "show", "HEAD^1:.github/scripts/benchmark-gate.sh") + "\n")
    stub = root / "fake-frameworks"
    stub.write_text(f"#!{sys.executable}\n{STUB}")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return {"root": root, "repo": repo, "shas": shas, "script": script, "stub": stub, "work": root / "work"}


def run_gate(case, log_name, **env):
    log = case["root"] / log_name
    base_env = {"MFB_GATE_FRAMEWORKS": str(case["stub"]), "FAKE_LOG": str(log), "GATE_EXTRAS": "", "REPEATS": "2",
                "PYTHON": sys.executable, "TORCH_VARIANT": "+cpu", "MNIST_DIR": "some/relative/mnist",
                "GATE_REMOVED": None, "GATE_OUT_OF_SCOPE": None, "SUMMARY": None}
    done = run([BASH, case["script"], case["repo"], case["work"]], cwd=case["root"], env={**base_env, **env})
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, records


def test_the_gate_benchmarks_abba_each_side_with_its_own_install_and_the_base_decides(gate_case):
    summary = gate_case["root"] / "summary.md"
    done, records = run_gate(gate_case, "full.log", FAKE_FAIL="head-2", FAKE_GATE_EXIT="1",
                             GATE_REMOVED="test_old_bench test_other", GATE_OUT_OF_SCOPE="keras-* pytorch",
                             SUMMARY=str(summary))
    assert done.returncode == 1, f"the gate's verdict is the script's\n{done.stdout}\n{done.stderr}"
    work = gate_case["work"]
    benches = [r for r in records if r["cmd"] == "bench"]
    assert [Path(r["args"][r["args"].index("--output-dir") + 1]).name for r in benches] == \
        ["base-1", "head-1", "head-2", "base-2"], "ABBA order"
    assert "round 2: the head run failed" in done.stdout
    for r in benches:
        side = r["side"]
        assert r["cwd"] == str(work / "src" / side) and r["python"] == str(work / f"venv-{side}" / "bin" / "python")
        assert r["frameworks"].startswith(str(work / "src" / side)), "each side runs its own code"
        assert r["numpy"] == ("2.3.5" if side == "head" else re.search(
            r"^numpy==(\S+)", (ROOT / "constraints.txt").read_text(), re.M)[1]), "each side's own constraints"
        assert r["args"][:2] == ["--quick", "--frameworks"] and "--threads" in r["args"]
        assert r["mnist"] == str(gate_case["root"] / "some" / "relative" / "mnist")
    assert git(work / "src" / "base", "rev-parse", "HEAD") == gate_case["shas"]["B"], "base: the merge's 1st parent"
    assert git(work / "src" / "head", "rev-parse", "HEAD") == gate_case["shas"]["M"]
    (gate,) = [r for r in records if r["cmd"] == "gate"]
    args = gate["args"]
    assert gate["side"] == "base" and gate["cwd"] == str(work / "src" / "base"), "the base's gate code"
    assert args[args.index("--min-effect") + 1] == "0.10", "the base's threshold, not the pull request's 0.50"
    assert args[args.index("--alpha") + 1] == "0.05"
    assert args[args.index("--summary") + 1] == str(summary)
    assert args[args.index("--removed") + 1] == "test_old_bench,test_other", "one comma list, as gate takes it"
    assert args[args.index("--out-of-scope") + 1] == "keras-*,pytorch"
    base_files = args[args.index("--base") + 1:args.index("--head")]
    head_files = args[args.index("--head") + 1:args.index("--min-effect")]
    assert [Path(f).parts[-3] for f in base_files] == ["base-1", "base-2"]
    assert [Path(f).parts[-3] for f in head_files] == ["head-1"], "a failed run is left out, not faked"
    for side in ("base", "head"):
        overlay = (work / f"torch-variant-{side}.txt").read_text()
        assert re.fullmatch(r"torch==\S+\+cpu\ntorchvision==\S+\+cpu\n", overlay)


def test_the_gate_fails_when_every_head_run_fails_and_needs_a_baseline(gate_case):
    pytest.importorskip("numpy")
    if not (gate_case["work"] / "venv-head" / ".gate-installed").exists():
        run_gate(gate_case, "install.log")
    done, records = run_gate(gate_case, "head-fails.log", FAKE_FAIL="head-*")
    assert done.returncode == 1 and "every head run failed" in done.stderr
    assert "is up to date" in done.stdout, "an unchanged side is not installed again"
    assert not [r for r in records if r["cmd"] == "gate"]
    done, records = run_gate(gate_case, "base-fails.log", FAKE_FAIL="base-*")
    assert done.returncode == 2 and "no baseline" in done.stderr


def test_an_untested_benchmark_is_not_a_pass_and_the_summary_says_so(gate_case):
    pytest.importorskip("numpy")
    summary = gate_case["root"] / "untested-summary.md"
    done, _ = run_gate(gate_case, "untested.log", FAKE_GATE_EXIT="4", SUMMARY=str(summary))
    assert done.returncode == 4, f"{done.stdout}\n{done.stderr}"
    assert "NOT A PASS, some benchmarks could not be tested" in summary.read_text()
    assert "GATE_OUT_OF_SCOPE" in summary.read_text()


@needs_git
def test_the_gate_skips_a_documentation_only_pull_request(tmp_path):
    repo = tmp_path / "pr"
    files = {"README.md": "x\n", "docs/guide.md": "y\n", "frameworks/code.py": "z = 1\n",
             ".github/scripts/benchmark-gate.sh": (SCRIPTS / "benchmark-gate.sh").read_text()}

    def edit_docs(repo):
        (repo / "README.md").write_text("changed\n")
        (repo / "docs" / "guide.md").write_text("changed\n")

    pull_request_history(repo, files, edit_docs, docs_only=True)
    summary = tmp_path / "summary.md"
    done = run([BASH, SCRIPTS / "benchmark-gate.sh", repo, tmp_path / "work"], env={"SUMMARY": str(summary)})
    assert done.returncode == 0 and "only documentation changed" in done.stdout
    assert "skipped" in summary.read_text() and not (tmp_path / "work" / "venv-base").exists()


@needs_git
def test_the_gate_needs_the_merge_commits_parent_and_two_repeats(tmp_path):
    repo = tmp_path / "shallow"
    repo.mkdir()
    git(repo, "init", "--quiet")
    (repo / "f").write_text("x")
    git(repo, "add", "f")
    git(repo, "commit", "--quiet", "-m", "only")
    done = run([BASH, SCRIPTS / "benchmark-gate.sh", repo, tmp_path / "work"])
    assert done.returncode == 2 and "fetch-depth: 2" in done.stderr
    done = run([BASH, SCRIPTS / "benchmark-gate.sh", repo, tmp_path / "work"], env={"REPEATS": "1"})
    assert done.returncode == 2 and "REPEATS must be a whole number >= 2" in done.stderr


def run_workflow_step(text: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """A workflow's run block as GitHub runs it (bash -eo pipefail); the block must hold no ${{ }} expansion."""
    assert "${{" not in text
    return run([BASH, "--noprofile", "--norc", "-eo", "pipefail", "-c", text], cwd=cwd, env=env)


@needs_git
def test_the_gate_workflow_runs_the_bases_copy_of_the_gate_script(gate_case, tmp_path):
    gate = workflows()["benchmark-gate.yml"]
    checkout = gate["jobs"]["gate"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@") and "ref" not in checkout["with"], "the merge commit"
    assert checkout["with"]["fetch-depth"] == 2 and checkout["with"]["path"] == "pr"
    take = step(gate, "gate", "Take the gate script from the base")["run"]
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "pr").symlink_to(gate_case["repo"])
    done = run_workflow_step(take, workspace, {"RUNNER_TEMP": str(tmp_path)})
    assert done.returncode == 0 and "using the base's" in done.stdout
    taken = (tmp_path / "benchmark-gate.sh").read_text()
    assert "MIN_EFFECT=0.10" in taken and "MIN_EFFECT=0.50" not in taken
    assert "benchmark-gate.sh\" pr \"$RUNNER_TEMP/gate\"" in step(
        gate, "gate", "Benchmark base and head alternately; the base's gate decides")["run"]

    # the first pull request that adds the script: the base has none, so the pull request's copy runs, with a warning
    repo = tmp_path / "bootstrap"

    def add_the_script(repo):
        (repo / ".github" / "scripts").mkdir(parents=True)
        (repo / ".github" / "scripts" / "benchmark-gate.sh").write_text("echo pr's copy\n")
        git(repo, "add", "-A")

    pull_request_history(repo, {"README.md": "x\n"}, add_the_script)
    (workspace / "pr").unlink()
    (workspace / "pr").symlink_to(repo)
    done = run_workflow_step(take, workspace, {"RUNNER_TEMP": str(tmp_path)})
    assert done.returncode == 0 and "::warning::the base has no" in done.stdout
    assert (tmp_path / "benchmark-gate.sh").read_text() == "echo pr's copy\n"


# ---- the GPU job --------------------------------------------------------------------------------------------------

def fake_nvidia_smi(bin_dir: Path, cuda: str | None) -> None:
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    banner = f"| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: {cuda}     |" if cuda else ""
    smi.write_text(f"#!/bin/sh\necho '{banner}'\n" if cuda else "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize(("cuda", "build", "jax"), [("13.0", "cu130", "cuda13"), ("12.9", "cu128", "cuda12"),
                                                   ("12.8", "cu128", "cuda12"), ("12.6", "cu126", "cuda12")])
def test_gpu_install_picks_the_newest_torch_build_the_driver_runs(tmp_path, cuda, build, jax):
    fake_nvidia_smi(tmp_path / "bin", cuda)
    done = run([BASH, SCRIPTS / "gpu-install.sh"], env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
                                                        "GPU_INSTALL_DRY_RUN": "1", "MFB_VENV": str(tmp_path / "v")})
    assert done.returncode == 0, done.stderr
    constraints = (ROOT / "constraints.txt").read_text()
    torch = re.search(r"^torch==(\S+)", constraints, re.M)[1]
    jax_version = re.search(r"^jax==(\S+)", constraints, re.M)[1]
    assert f"torch=={torch}+{build}" in done.stdout and f"--extra-index-url https://download.pytorch.org/whl/{build}" \
        in done.stdout
    assert f"jax[{jax}]=={jax_version}" in done.stdout and f"runs CUDA up to {cuda}" in done.stdout
    assert not (tmp_path / "v").exists(), "a dry run installs nothing"


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize(("cuda", "message"), [("12.4", "update the driver"), ("11.8", "update the driver"),
                                               (None, "nvidia-smi failed")])
def test_gpu_install_refuses_a_driver_it_cannot_serve(tmp_path, cuda, message):
    fake_nvidia_smi(tmp_path / "bin", cuda)
    done = run([BASH, SCRIPTS / "gpu-install.sh"], env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
                                                        "GPU_INSTALL_DRY_RUN": "1"})
    assert done.returncode == 3 and message in done.stderr


def junit(path: Path, cases: list[tuple[str, str]]) -> Path:
    body = "".join(
        f'<testcase classname="{cls}" name="t{i}">'
        + {"passed": "", "skipped": '<skipped type="pytest.skip" message="no GPU here"/>',
           "failed": '<failure message="boom"/>'}[outcome] + "</testcase>"
        for i, (cls, outcome) in enumerate(cases))
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{body}</testsuite></testsuites>')
    return path


def test_require_gpu_tests_fails_when_a_frameworks_gpu_tests_all_skipped(tmp_path):
    script = SCRIPTS / "require-gpu-tests.py"
    ran = junit(tmp_path / "junit-pytorch.xml", [("tests.test_gpu", "passed"), ("tests.test_gpu", "skipped")])
    idle = junit(tmp_path / "junit-keras-jax.xml", [("tests.test_gpu", "skipped"), ("tests.test_data", "passed")])
    assert run([sys.executable, script, ran]).returncode == 0
    done = run([sys.executable, script, ran, idle])
    assert done.returncode == 1 and "junit-keras-jax.xml" in done.stderr and "skipped 1x: no GPU here" in done.stdout
    assert run([sys.executable, script]).returncode == 2
    assert run([sys.executable, script, tmp_path / "missing.xml"]).returncode == 2


def test_require_gpu_tests_on_a_real_run_without_a_gpu(tmp_path):
    """The GPU tests as the GPU job runs them, here, where they skip: the check must fail."""
    pytest.importorskip("torch")
    if Path("/dev/nvidiactl").exists():
        pytest.skip("this machine has an NVIDIA GPU")
    report = tmp_path / "junit-pytorch.xml"
    run([sys.executable, "-m", "pytest", "tests/test_gpu.py", "--frameworks", "pytorch", "--devices", "cuda",
         "--networks", "lenet", "-p", "no:cacheprovider", "--junitxml", report, "-q"], check=True)
    done = run([sys.executable, SCRIPTS / "require-gpu-tests.py", report])
    assert done.returncode == 1 and "0 passed" in done.stdout and "tested nothing" in done.stderr


def test_gpu_devices_fails_where_torch_sees_no_gpu():
    pytest.importorskip("torch")
    if Path("/dev/nvidiactl").exists():
        pytest.skip("this machine has an NVIDIA GPU")
    done = run([sys.executable, SCRIPTS / "gpu-devices.py", "torch"])
    assert done.returncode == 1 and "no GPU visible to torch" in done.stderr and "0 GPU(s)" in done.stdout
    assert run([sys.executable, SCRIPTS / "gpu-devices.py", "tensorflow"]).returncode == 2


def test_the_gpu_job_proves_its_gpu_before_and_after_testing():
    job = workflows()["gpu.yml"]["jobs"]["gpu"]
    names = [s.get("name", s.get("uses", "")) for s in job["steps"]]
    order = [next(i for i, n in enumerate(names) if n.startswith(prefix)) for prefix in (
        "Install CUDA builds", "torch and JAX see the GPU", "GPU tests, one process per framework",
        "Every framework ran GPU tests")]
    assert order == sorted(order)
    assert "gpu-install.sh" in job["steps"][order[0]]["run"]
    assert "gpu-devices.py torch jax" in job["steps"][order[1]]["run"]
    assert "--junitxml" in job["steps"][order[2]]["run"]
    require = job["steps"][order[3]]
    assert require["if"] == "always()" and "require-gpu-tests.py" in require["run"]


# ---- the one required check ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("needs", "may_skip", "code"), [
    ({"a": "success", "b": "success"}, "", 0),
    ({"a": "success", "b": "failure"}, "", 1),
    ({"a": "success", "b": "cancelled"}, "", 1),
    ({"a": "skipped", "b": "success"}, "", 1),  # skipped because a job it needs failed
    ({"a": "skipped", "b": "success"}, "a", 0),
    ({"a": "success"}, "c", 2),
])
def test_jobs_passed(needs, may_skip, code):
    env = {"NEEDS": json.dumps({job: {"result": result, "outputs": {}} for job, result in needs.items()})}
    assert run([sys.executable, SCRIPTS / "jobs-passed.py", "--may-skip", may_skip], env=env).returncode == code


def test_ci_passed_needs_every_other_job():
    ci = workflows()["ci.yml"]
    aggregate = ci["jobs"]["ci-passed"]
    assert set(aggregate["needs"]) == set(ci["jobs"]) - {"ci-passed"} and aggregate["if"] == "always()"
    assert ci["jobs"]["full-suite"]["if"] == "github.event_name != 'pull_request'"
    assert ".ci/run" in step(ci, "full-suite", "Every test, as this project's CI runs them (.ci/run -> ./run-tests)")[
        "run"]
    assert set(triggers(ci)) == {"push", "pull_request", "schedule", "workflow_dispatch"}


# ---- rules every workflow follows -------------------------------------------------------------------------------

USES = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$", re.M)


def test_actions_are_pinned_by_commit_sha_with_their_version():
    seen: dict[str, set[str]] = {}
    files = [*WORKFLOWS.glob("*.yml"), *(ROOT / ".github" / "actions").glob("*/action.yml")]
    for path in files:
        for ref, comment in USES.findall(path.read_text()):
            if ref.startswith("$/"):
                continue  # this repository, at the workflow's own commit
            action, _, sha = ref.partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{path.name}: {ref} is not pinned by commit SHA"
            assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{path.name}: {ref} needs a '# vX.Y.Z' comment"
            seen.setdefault(action, set()).add(sha)
    assert {"actions/checkout", "actions/setup-python", "actions/cache/restore", "actions/upload-pages-artifact",
            "actions/deploy-pages"} <= set(seen)
    assert all(len(shas) == 1 for shas in seen.values()), f"one version of each action: {seen}"


def test_every_job_has_a_timeout_a_pinned_image_and_no_persisted_credentials():
    for name, workflow in workflows().items():
        assert workflow.get("permissions") == {"contents": "read"}, f"{name}: read-only by default"
        for job_id, job in workflow["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), f"{name}: {job_id} has no timeout-minutes"
            assert job.get("name"), f"{name}: {job_id} has no name"
            if "container" in job:
                image = job["container"] if isinstance(job["container"], str) else job["container"]["image"]
                assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), f"{name}: {image}"
            for s in job.get("steps", []):
                if s.get("uses", "").startswith("actions/checkout@"):
                    assert s.get("with", {}).get("persist-credentials") is False, f"{name}: {job_id} checkout"
                assert "${{" not in s.get("run", ""), f"{name}: {job_id}: an expression expanded into a run step"


def test_only_pull_requests_cancel_runs_in_progress():
    for name, workflow in workflows().items():
        concurrency = workflow.get("concurrency")
        assert concurrency, f"{name}: no concurrency group"
        cancel = concurrency["cancel-in-progress"]
        on = triggers(workflow)
        if set(on) == {"pull_request"}:
            assert cancel is True, name
        elif "pull_request" in on:
            assert cancel == "${{ github.event_name == 'pull_request' }}", name
            assert "github.run_id" in concurrency["group"], f"{name}: each push to main needs a group of its own"
        else:
            assert cancel is False, name


def test_dependabot_updates_actions_and_pip():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(ecosystems) == {"github-actions", "pip"}
    assert "/.github/actions/mnist" in ecosystems["github-actions"]["directories"]


# ---- MNIST for the jobs ---------------------------------------------------------------------------------------

def test_the_mnist_action_saves_its_cache_right_after_the_download():
    action = yaml.safe_load((ROOT / ".github" / "actions" / "mnist" / "action.yml").read_text())
    steps = action["runs"]["steps"]
    assert [s.get("uses", "run").split("@")[0] for s in steps] == ["actions/cache/restore", "run",
                                                                   "actions/cache/save"]
    assert steps[1]["if"] == steps[2]["if"] == "steps.restore.outputs.cache-hit != 'true'"
    assert "fetch-mnist.sh" in steps[1]["run"]
    for name, workflow in workflows().items():
        uses_mnist = any("actions/mnist" in s.get("uses", "") for j in workflow["jobs"].values()
                         for s in j.get("steps", []))
        if uses_mnist:
            assert workflow["env"]["MNIST_DIR"] == action["inputs"]["path"]["default"], name
            assert workflow["env"]["MNIST_DOWNLOAD"] == "0", name


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_fetch_mnist_downloads_and_verifies(tmp_path):
    pytest.importorskip("numpy")
    from frameworks import data

    try:
        source = data.locate(download=False)
    except Exception as exc:  # noqa: BLE001 - any reason there is no local copy to serve
        pytest.skip(f"no local MNIST to serve as a mirror: {exc}")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for path in source.values():
        if not path.name.endswith(".gz"):
            pytest.skip("the local copy is not gzipped, as the mirrors serve it")
        (mirror / path.name).symlink_to(path)
    target = tmp_path / "mnist"
    env = {"PYTHON": sys.executable, "MNIST_MIRRORS": mirror.as_uri() + "/", "MNIST_DIR": None}
    done = run([BASH, SCRIPTS / "fetch-mnist.sh", target], env=env, check=True)
    assert done.stdout.count("(verified)") == 4 and len(list(target.glob("*.gz"))) == 4
    (mirror / next(iter(source.values())).name).unlink()  # the files are there now: nothing is downloaded again
    assert run([BASH, SCRIPTS / "fetch-mnist.sh", target], env=env).returncode == 0


def test_the_scripts_tox_ini_names_exist():
    text = (ROOT / "tox.ini").read_text()
    named = re.findall(r"(?:\.github/)?scripts/[\w-]+\.(?:sh|py)", text)
    assert len(named) >= 3
    assert "venv_redirect = false" in text, "tox must not write a .venv file where scripts/setup.sh keeps its venv"
    for script in named:
        assert (ROOT / script).is_file(), f"tox.ini names {script}, which does not exist"


def test_the_dashboard_workflow_builds_the_site_from_the_committed_results(tmp_path):
    """The Pages workflow's command, run here on the repository's results/ (into a temporary directory)."""
    pytest.importorskip("altair", reason="the dashboard extra (altair) is not installed")
    dashboard = workflows()["dashboard.yml"]
    words = dashboard["env"]["DASHBOARD_COMMAND"].split()
    assert words[:4] == ["python", "-m", "frameworks", "dashboard"] and dashboard["env"]["SITE_DIR"] == words[-1]
    words[-1] = str(tmp_path / "site")
    done = run([sys.executable, *words[1:]])
    assert done.returncode == 0, done.stdout + done.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    runs = re.search(r"\((\d+) runs", done.stdout)
    assert "vega" in page.lower() and runs and int(runs[1]) >= 1, done.stdout


def test_the_pages_site_holds_the_manual_built_with_warnings_as_errors():
    """The Pages workflow builds the manual (tests/test_docs.py builds it the same way) into the dashboard's site,
    under docs/, after the dashboard, from an install with the docs extra."""
    dashboard = workflows()["dashboard.yml"]
    words = dashboard["env"]["DOCS_COMMAND"].split()
    assert words[:3] == ["python", "-m", "sphinx"] and {"-W", "--keep-going", "-n"} <= set(words)
    assert words[-2:] == ["docs", f"{dashboard['env']['SITE_DIR']}/docs"]
    runs = [s.get("run", "") for s in dashboard["jobs"]["build"]["steps"]]
    assert any("pip install" in r and ".[dashboard,docs]" in r for r in runs)
    assert runs.index("$DASHBOARD_COMMAND") < runs.index("$DOCS_COMMAND")
