"""scripts/verdict_calibration.py: the main job's verdict rule on the gate's recordings. Its published rates are
random trials (minutes to recompute); these tests pin what every trial is made of, on fixed draws."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT / "results" / "gate-experiment" / "recordings"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("verdict_calibration", ROOT / "scripts" / "verdict_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_recording_reads_as_its_runs_by_side(script):
    _, sides = script.load(RECORDINGS / "20261206-1128")
    assert {side: len(runs) for side, runs in sides.items()} == {"unchanged": 12, "slowed": 6, "threads": 6}
    assert all(len(run) == 24 for runs in sides.values() for run in runs)  # 4 frameworks x 2 networks x 3 phases


def test_unchanged_against_slowed_calls_the_unchanged_side_faster_exactly_where_the_code_was_slowed(script):
    """2026-12-06 09:12, the first five unchanged processes against the five slowed ones: the report's rule says
    "faster" (the unchanged side) on every PyTorch benchmark and Keras-on-TensorFlow lenet's three, and on nothing
    else; no benchmark is called slower. Fixed draws, so a flipped ratio or a wrong slowed set fails here."""
    _, sides = script.load(RECORDINGS / "20261206-0912")
    got = script.verdicts(sides["unchanged"][:5], sides["slowed"][:5])
    faster = sorted(script.gate.key_name(k) for k, v in got.items() if v == "faster")
    assert faster == [f"keras-tensorflow lenet {p} batch 128 cpu" for p in ("backward", "forward", "train_step")] + [
        f"pytorch {n} {p} batch 128 cpu" for n in ("lenet", "mlp_bn") for p in ("backward", "forward", "train_step")]
    assert all(script.slowed(k) for k, v in got.items() if v == "faster")
    assert "slower" not in got.values()


def test_unchanged_against_unchanged_calls_nothing_faster_or_slower(script):
    _, sides = script.load(RECORDINGS / "20261206-0912")
    got = script.verdicts(sides["unchanged"][:5], sides["unchanged"][5:10])
    assert not {"faster", "slower"} & set(got.values())
    shifted = script.verdicts(sides["unchanged"][:5], sides["unchanged"][5:10], script.SHIFT)
    assert {script.gate.key_name(k) for k, v in shifted.items() if v == "faster"} <= {
        script.gate.key_name(k) for k in shifted if k[0] == "pytorch"}


def test_the_intervals_claim_only_the_trials_disjoint_runs_allow(script):
    sides = {"unchanged": [{}] * 12, "slowed": [{}] * 6, "threads": [{}] * 6}
    assert [script.independent(sides, n, "aa_false") for n in (3, 4, 5, 6)] == [2, 1, 1, 1]
    assert [script.independent(sides, n, "real_called") for n in (3, 4, 5, 6)] == [2, 1, 1, 1]
    assert script.independent({"unchanged": [{}] * 12}, 5, "threads_called") == 0


def test_the_published_calibration_is_of_the_committed_recordings():
    published = json.loads((ROOT / "results" / "verdict-calibration" / "calibration.json").read_text())
    assert set(published["results"]) == {p.name for p in RECORDINGS.iterdir() if p.is_dir()}
    for by_rule in published["results"].values():
        assert set(by_rule) == {"report", "welch"}
        for by_n in by_rule.values():
            for rates in by_n.values():
                for rate in rates.values():
                    low, high = rate["interval"]
                    assert 0 <= low <= rate["rate"] <= high <= 1 or rate["independent"] == 0
