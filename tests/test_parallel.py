"""Data-parallel training: each engine's step equals the single-process reference (and the numpy oracle's forward
agrees with each rank's model after it), a corrupted rank fails the check, a crashed rank ends the launch with
its name, two "machines" on the loopback address form one job, and every bad plan is refused before it runs."""

from __future__ import annotations

import math
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from frameworks.adapters.data_parallel import DEVICES, GLOBAL, PER_REPLICA, PROCESSES, World
from frameworks.analysis import scaling as scaling_analysis
from frameworks.errors import UsageError
from frameworks.parallel.check import TOLERANCE, check, compare
from frameworks.parallel.job import CHECK, REFERENCE, Fault, Job
from frameworks.parallel.launch import LaunchFailed, Topology, check_plan, free_port, launch
from frameworks.parallel.scaling import configs
from frameworks.parallel.worker import checked_spec
from frameworks.registry import availability, framework_info
from frameworks.weights import initial_weights, save_weights

from .numpy_reference import NumpyReferenceAdapter

# (framework, mode, network): every engine on the network with BatchNorm (where the engines differ), PyTorch on
# the convolutional networks too. Each case runs a reference and a two-replica launch (~15-30 s).
CASES = [
    ("pytorch", PROCESSES, "lenet"),
    ("pytorch", PROCESSES, "mlp_bn"),
    ("pytorch", PROCESSES, "keras_cnn"),
    ("keras-torch", PROCESSES, "mlp_bn"),
    ("keras-jax", PROCESSES, "mlp_bn"),
    ("keras-jax", DEVICES, "mlp_bn"),
    ("keras-tensorflow", DEVICES, "mlp_bn"),
]


def needs(framework: str) -> None:
    state = availability(framework, probe_device=False)
    if not state.installed:
        pytest.skip(f"{framework}: {state.reason}")


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.mark.parametrize(("fw", "mode", "net"), CASES, ids=[f"{f}-{m}-{n}" for f, m, n in CASES])
def test_a_data_parallel_step_is_the_single_process_step(fw, mode, net, mnist, port, tmp_path):
    needs(fw)
    result = check(fw, net, mode=mode, world_size=2, steps=3, mnist_dir=str(mnist.directory),
                   topology=Topology(master_port=port), workdir=tmp_path)
    assert result.equal, result.describe()
    ranks = 2 if mode == PROCESSES else 1
    assert sorted(result.worst) == sorted(f"rank {r} step {s}" for r in range(ranks) for s in (1, 3))
    assert result.largest[2] <= TOLERANCE
    assert all(len(losses) == 3 and all(math.isfinite(v) for v in losses) for losses in result.losses.values())
    # the independent oracle: numpy's forward from each rank's final weights is that rank's model's forward
    spec = checked_spec(net)
    oracle = NumpyReferenceAdapter(spec, framework="numpy")
    from frameworks import data

    x_eval = data.preprocess(mnist.test_images[:256], spec.recipe)
    for rank, final in result.final.items():
        oracle.set_weights({k: v for k, v in final.items() if k != "forward"})
        expected = oracle.forward(x_eval)
        error = np.linalg.norm(final["forward"] - expected) / np.linalg.norm(expected)
        assert error < 1e-5, f"rank {rank}: numpy's forward differs by {error:.2e}"
        start = initial_weights(spec, 0)
        assert any(not np.array_equal(final[k], start[k]) for k in start), f"rank {rank}: the steps changed nothing"


def test_batchnorm_statistics_are_what_each_engine_declares(mnist, port, tmp_path):
    """PyTorch DDP normalises each replica by its own chunk: the per-replica reference matches it exactly, and the
    global-batch reference (what a synchronised BatchNorm would give) does not."""
    needs("pytorch")
    spec_name = "mlp_bn"
    weights = save_weights(tmp_path / "w.npz", initial_weights(checked_spec(spec_name), 0))
    job = Job(framework="pytorch", network=spec_name, mode=PROCESSES, world_size=2, task=CHECK, output=str(tmp_path),
              global_batch=128, mnist_dir=str(mnist.directory), weights=str(weights))
    ranks = launch(job, Topology(master_port=port), timeout_s=300)
    per_replica = launch(replace(job, task=REFERENCE, output=str(tmp_path / "per")), timeout_s=300)[0]
    global_batch = launch(replace(job, task=REFERENCE, world_size=1, output=str(tmp_path / "global")),
                          timeout_s=300)[0]
    assert framework_info("pytorch").data_parallel  # the engine declares per-replica statistics
    assert compare("pytorch", spec_name, PROCESSES, 2, PER_REPLICA, per_replica, ranks, has_bn=True).equal
    other = compare("pytorch", spec_name, PROCESSES, 2, GLOBAL, global_batch, ranks, has_bn=True)
    assert not other.equal and other.largest[2] > 1e-3, other.describe()


def test_a_corrupted_rank_fails_the_check(mnist, port, tmp_path):
    needs("pytorch")
    result = check("pytorch", "lenet", mode=PROCESSES, world_size=2, steps=1, mnist_dir=str(mnist.directory),
                   topology=Topology(master_port=port), fault=Fault("corrupt", rank=1), workdir=tmp_path)
    assert not result.equal
    assert result.largest[2] > 100 * TOLERANCE, result.describe()
    assert "NOT the same computation" in result.describe()


def test_a_crashed_rank_ends_the_launch_naming_it(mnist, port, tmp_path):
    needs("pytorch")
    start = time.monotonic()
    with pytest.raises(LaunchFailed) as caught:
        check("pytorch", "lenet", mode=PROCESSES, world_size=2, steps=3, mnist_dir=str(mnist.directory),
              topology=Topology(master_port=port), fault=Fault("crash", rank=1, step=2), workdir=tmp_path,
              timeout_s=240)
    assert time.monotonic() - start < 200  # bounded by the launcher's failure handling, not the test's limit
    message = str(caught.value)
    assert message.startswith("pytorch check launch of 2 replica(s) (processes) failed: rank 1 failed first "
                              "(killed by SIGKILL)"), message


def test_two_machines_on_the_loopback_address_form_one_job(mnist, port, tmp_path):
    """Two launches, ``--nnodes 2 --node-rank 0|1 --master-addr 127.0.0.1``, agree with one process."""
    needs("pytorch")
    weights = save_weights(tmp_path / "w.npz", initial_weights(checked_spec("lenet"), 0))
    job = Job(framework="pytorch", network="lenet", mode=PROCESSES, world_size=2, task=CHECK, output=str(tmp_path),
              global_batch=64, mnist_dir=str(mnist.directory), weights=str(weights))
    reference = launch(replace(job, task=REFERENCE, output=str(tmp_path / "ref")), timeout_s=300)[0]
    files: dict[int, list[Path]] = {}
    errors: list[BaseException] = []

    def node(rank: int) -> None:
        try:
            files[rank] = launch(job, Topology(nnodes=2, node_rank=rank, master_port=port), timeout_s=300)
        except BaseException as exc:  # reported below, from the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=node, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [p.name for p in files[0]] == ["check-rank0.npz"] and [p.name for p in files[1]] == ["check-rank1.npz"]
    result = compare("pytorch", "lenet", PROCESSES, 2, PER_REPLICA, reference, files[0] + files[1], has_bn=False)
    assert result.equal, result.describe()


# --- refused before anything runs -------------------------------------------------------------------------------
def test_a_framework_without_data_parallelism_is_refused_with_its_reason():
    with pytest.raises(UsageError, match="inference runtime"):
        check_plan("onnxruntime", PROCESSES, 2, 64, 1)
    with pytest.raises(UsageError, match="pytorch cannot train data parallel in devices mode.*processes only"):
        check_plan("pytorch", DEVICES, 2, 64, 1)
    with pytest.raises(UsageError, match=r"MultiWorkerMirroredStrategy does not work with Keras 3's fit "
                                         r"\(keras-team/keras#20585"):
        check_plan("keras-tensorflow", PROCESSES, 2, 64, 1)


def test_bad_plans_are_refused_naming_what_to_change():
    needs("pytorch")
    with pytest.raises(UsageError, match="batch of 63 cannot be split evenly over 2"):
        check_plan("pytorch", PROCESSES, 2, 63, 1)
    with pytest.raises(UsageError, match=r"need \d+ cores.*lower --world-sizes or --threads"):
        check_plan("pytorch", PROCESSES, 64, 64, 1)
    with pytest.raises(UsageError, match="--node-rank must lie in 0..1"):
        check_plan("pytorch", PROCESSES, 2, 64, 1, Topology(nnodes=2, node_rank=2))
    with pytest.raises(UsageError, match="world size 3 cannot be split evenly over --nnodes 2"):
        check_plan("pytorch", PROCESSES, 3, 63, 1, Topology(nnodes=2))


def test_a_busy_port_is_refused_naming_it():
    needs("pytorch")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is in use: give another --master-port"):
            check_plan("pytorch", PROCESSES, 2, 64, 1, Topology(master_port=port))


def test_each_process_feeds_its_own_rows():
    assert World(PROCESSES, 2, rank=1).shard(128) == slice(64, 128)
    assert World(PROCESSES, 4, rank=0).shard(128) == slice(0, 32)
    assert World(DEVICES, 2).shard(128) == slice(0, 128)  # one process feeds every device
    env = {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "GROUP_RANK": "1", "MASTER_ADDR": "10.0.0.1",
           "MASTER_PORT": "1234"}
    world = World.from_environment(PROCESSES, 30.0, env)
    assert (world.size, world.rank, world.local_rank, world.node_rank, world.master_port) == (4, 3, 1, 1, 1234)


def test_scaling_configurations_on_two_cores():
    labels = [(c.label, c.world_size, c.threads, c.global_batch, c.kind)
              for c in configs("lenet", [1, 2], PROCESSES, 2)]
    assert labels == [("1x1", 1, 1, 64, "baseline"), ("1x2", 1, 2, 64, "threads"), ("2x1", 2, 1, 64, "strong"),
                      ("2x1 weak", 2, 1, 128, "weak")]
    devices = [(c.label, c.threads) for c in configs("mlp_bn", [2], DEVICES, 2)]
    assert devices == [("1x1", 1), ("1x2", 2), ("1x2 2 devices", 2), ("1x2 2 devices weak", 2)]


# --- the analysis ----------------------------------------------------------------------------------------------
def _records(config: str, kind: str, world: int, batch: int, medians: list[list[float]], no_sync: float | None = None):
    out = []
    for repeat, ranks in enumerate(medians):
        for rank, median in enumerate(ranks):
            r = {"framework": "fw", "network": "net", "config": config, "kind": kind, "world_size": world,
                 "global_batch": batch, "repeat": repeat, "rank": rank, "median_s": median, "times_s": [median]}
            if no_sync is not None:
                r["no_sync_median_s"] = median * (1 - no_sync)
            out.append(r)
    return out


def test_efficiency_is_throughput_ratio_over_world_size_with_an_interval():
    base = _records("1x1", "baseline", 1, 64, [[0.064 * f] for f in (0.98, 1.0, 1.02, 0.99, 1.01)])  # 1000 img/s
    threads = _records("1x2", "threads", 1, 64, [[0.040 * f] for f in (0.98, 1.0, 1.02, 0.99, 1.01)])  # 1600
    # two ranks, the slower one sets the pace: 64 / 0.04267 = 1500 img/s -> strong efficiency 0.75
    strong = _records("2x1", "strong", 2, 64, [[0.064 / 1.5 * f, 0.064 / 1.5 * f * 0.9]
                                               for f in (0.98, 1.0, 1.02, 0.99, 1.01)], no_sync=0.25)
    result = scaling_analysis.analyse(base + threads + strong)[("fw", "net")]
    (eff,) = result["efficiencies"]
    assert eff.what == "strong" and eff.world_size == 2
    assert eff.value == pytest.approx(0.75, rel=1e-3)
    assert eff.low < 0.75 < eff.high and eff.high - eff.low < 0.05
    assert result["straggler_median"] == pytest.approx(1 / 0.9, rel=1e-9)
    assert result["communication"].value == pytest.approx(0.25, rel=1e-9)
    (versus,) = result["versus"]
    assert versus.ratio == pytest.approx(1500 / 1600, rel=1e-3) and versus.verdict == "slower"
    text = scaling_analysis.markdown({"records": base + threads + strong, "repeats": 5,
                                      "machine": {"cpu": "test CPU", "cores": 2}})
    assert "| fw | net | strong | 2 | 0.75 [" in text and "1x1 is faster than 2x1" not in text
    assert "| fw | net | 2x1 / 1x2 |" in text and "1x2 is faster than 2x1 by 7%" in text


def test_the_gpu_path_is_refused_with_its_reason_without_gpus():
    """The CUDA path (NCCL, one GPU per rank) is written; without GPUs it is a stated skip, before any launch."""
    needs("pytorch")
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() >= 2:
        pytest.skip("this machine has two GPUs: the refusal cannot be shown here")
    from frameworks.errors import FrameworkUnavailable

    with pytest.raises(FrameworkUnavailable, match=r"2 ranks per node need 2 CUDA devices \(one each, NCCL\)"):
        check_plan("pytorch", PROCESSES, 2, 64, 1, device="cuda")
    with pytest.raises(FrameworkUnavailable, match="has no cuda path in the suite"):
        check_plan("keras-torch", PROCESSES, 2, 64, 1, device="cuda")


def test_threads_other_than_asked_are_said():
    records = _records("1x1", "baseline", 1, 64, [[0.064]])
    records[0].update(threads_asked=1, threads=2)
    assert scaling_analysis.threads_not_asked(records) == [("fw", "1x1", 1, 2)]
    text = scaling_analysis.markdown({"records": records, "repeats": 1, "machine": {"cores": 2}})
    assert "- fw 1x1: 2 thread(s) per process, 1 asked for" in text
    records[0]["threads"] = 1
    assert scaling_analysis.threads_not_asked(records) == []


def test_report_reads_a_scaling_run_alone_and_beside_other_results(tmp_path):
    from frameworks.cli import main
    from frameworks.fileio import write_json

    base = _records("1x1", "baseline", 1, 64, [[0.064 * f] for f in (0.98, 1.0, 1.02)])
    strong = _records("2x1", "strong", 2, 64, [[0.05 * f, 0.05 * f] for f in (0.98, 1.0, 1.02)])
    path = write_json(tmp_path / "scaling.json", {"kind": "scaling", "version": 1, "repeats": 3,
                                                  "machine": {"cpu": "test CPU", "cores": 2},
                                                  "records": base + strong})
    assert main(["report", str(path), "--output-dir", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "scaling-report.md").read_text()
    assert text.startswith("## Scaling") and "| fw | net | 2x1 | 1280 [" in text
    assert not scaling_analysis.is_scaling(tmp_path / "missing.json")
