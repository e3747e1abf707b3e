"""Caffe specifics: the LMDB conversion, the generated prototxts, the BatchNorm mapping, a user's own
prototxt (Caffe's LeNet example), and errors that would otherwise abort the process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from frameworks import adapter_class, availability, data
from frameworks.adapters.caffe import mnist_lmdb as caffe_lmdb
from frameworks.adapters.caffe import prototxt as caffe_prototxt
from frameworks.adapters.caffe.adapter import CaffeAdapter, openblas
from frameworks.adapters.caffe.prototxt import CaffeError, PrototxtError
from frameworks.adapters.caffe.user_solver import run_user_solver, validate_prototxt
from frameworks.specs import NETWORKS, BatchNorm, Dense, Flatten, NetworkSpec, Optimizer, Recipe, ReLU
from frameworks.weights import initial_weights

if not availability("caffe").ready:
    pytest.skip(availability("caffe").reason, allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent.parent / "frameworks" / "adapters" / "caffe" / "examples"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty suite cache for this test."""
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "cache"))
    return tmp_path / "cache"


def caffe_net(path: Path, phase: str = "TEST"):
    import caffe

    return caffe.Net(str(path), getattr(caffe, phase))


# --- Datum and LMDB ------------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(image=arrays(np.uint8, st.tuples(st.integers(1, 32), st.integers(1, 32))), label=st.integers(0, 2**31 - 1))
def test_datum_round_trip_is_bit_exact(image, label):
    back, back_label = caffe_lmdb.parse_datum(caffe_lmdb.datum_bytes(image, label))
    np.testing.assert_array_equal(back, image)
    assert back.dtype == np.uint8 and back_label == label


def test_datum_bytes_are_what_convert_mnist_data_writes():
    # Datum fields in number order, as C++ SerializeToString writes them: channels 1, height 28, width 28,
    # data (784 bytes, length varint 0x90 0x06), label.
    image = np.arange(784, dtype=np.uint32).astype(np.uint8).reshape(28, 28)
    expected = bytes([0x08, 1, 0x10, 28, 0x18, 28, 0x22, 0x90, 0x06]) + image.tobytes() + bytes([0x28, 7])
    assert caffe_lmdb.datum_bytes(image, 7) == expected


def test_conversion_of_mnist_reads_back_bit_exact(cache, mnist):
    start = time.perf_counter()
    dbs = caffe_lmdb.ensure(mnist)
    seconds = time.perf_counter() - start
    assert dbs.root == cache / "caffe_lmdb" / "mnist"
    assert seconds < 20, f"conversion took {seconds:.1f} s"
    for path, images, labels in ((dbs.train, mnist.train_images, mnist.train_labels),
                                 (dbs.test, mnist.test_images, mnist.test_labels)):
        back_images, back_labels = caffe_lmdb.read_lmdb(path)
        np.testing.assert_array_equal(back_images, images)
        np.testing.assert_array_equal(back_labels, labels)
    manifest = json.loads((dbs.root / caffe_lmdb.MANIFEST).read_text())
    assert manifest["counts"] == {"train": 60000, "test": 10000}
    assert manifest["source"] == caffe_lmdb.source_digest()


def test_a_valid_conversion_is_reused(cache, mnist):
    first = caffe_lmdb.ensure(mnist)
    inode = (first.train / "data.mdb").stat().st_ino
    second = caffe_lmdb.ensure(mnist)
    assert second == first and (second.train / "data.mdb").stat().st_ino == inode


def test_a_failed_conversion_leaves_nothing_behind(cache, mnist, monkeypatch):
    real, calls = caffe_lmdb.datum_bytes, []

    def failing(image, label):
        calls.append(1)
        if len(calls) > 2500:
            raise OSError("disk full (simulated)")
        return real(image, label)

    monkeypatch.setattr(caffe_lmdb, "datum_bytes", failing)
    with pytest.raises(OSError, match="simulated"):
        caffe_lmdb.ensure(mnist)
    assert [p.name for p in (cache / "caffe_lmdb").iterdir()] == [".lock"]


def test_a_crash_mid_conversion_is_never_taken_for_complete(cache, mnist):
    crash = textwrap.dedent("""
        import os
        from frameworks import data
        from frameworks.adapters.caffe import mnist_lmdb as caffe_lmdb
        real, calls = caffe_lmdb.datum_bytes, []
        def dying(image, label):
            calls.append(1)
            if len(calls) > 5000:
                os._exit(3)  # killed: no clean-up runs
            return real(image, label)
        caffe_lmdb.datum_bytes = dying
        caffe_lmdb.ensure(data.load())
    """)
    env = {**os.environ, data.ENV_CACHE: str(cache), "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", crash], env=env, timeout=120).returncode == 3
    leftovers = list((cache / "caffe_lmdb").glob(".partial-*"))
    assert leftovers and not caffe_lmdb.location().exists()
    assert not caffe_lmdb.is_valid(caffe_lmdb.location(), mnist)
    dbs = caffe_lmdb.ensure(mnist)
    assert not any(p.exists() for p in leftovers)
    assert caffe_lmdb.is_valid(dbs.root, mnist)
    np.testing.assert_array_equal(caffe_lmdb.read_lmdb(dbs.train)[1], mnist.train_labels)


@pytest.mark.parametrize("damage", ["garbage manifest", "wrong count", "other source", "no manifest",
                                    "changed records"])
def test_a_damaged_conversion_is_rebuilt(cache, mnist, damage):
    dbs = caffe_lmdb.ensure(mnist)
    manifest_path = dbs.root / caffe_lmdb.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    if damage == "garbage manifest":
        manifest_path.write_text("{not json")
    elif damage == "wrong count":
        manifest["counts"]["train"] = 59999
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "other source":
        manifest["source"] = "0" * 64
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "no manifest":
        manifest_path.unlink()
    else:
        with open(dbs.test / "data.mdb", "r+b") as f:  # change one byte
            f.seek(-100, os.SEEK_END)
            byte = f.read(1)
            f.seek(-100, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
    assert not caffe_lmdb.is_valid(dbs.root, mnist)
    rebuilt = caffe_lmdb.ensure(mnist)
    assert caffe_lmdb.is_valid(rebuilt.root, mnist)
    images, labels = caffe_lmdb.read_lmdb(rebuilt.test)
    np.testing.assert_array_equal(images, mnist.test_images)
    np.testing.assert_array_equal(labels, mnist.test_labels)


# --- generated prototxts -------------------------------------------------------------------------------
def test_generated_nets_parse_and_have_the_spec_shapes(network, tmp_path):
    spec = NETWORKS[network]
    for name, net in (("memory", caffe_prototxt.memory_net(spec, 7)), ("deploy", caffe_prototxt.deploy_net(spec, 7))):
        path = caffe_prototxt.write(net, tmp_path / f"{name}.prototxt")
        assert caffe_prototxt.parse(path).message == net  # the text is complete and reads back the same
        built = caffe_net(path, "TRAIN" if name == "memory" else "TEST")
        for layer, shape in zip(spec.layers, spec.output_shapes(), strict=True):
            assert built.blobs[layer.name].data.shape == (7, *shape), (name, layer.name)
    assert built.blobs[caffe_prototxt.PROB].data.shape == (7, 10)


def test_lmdb_net_instantiates_in_both_phases_and_scales_like_the_recipe(network, mnist, tmp_path):
    spec = NETWORKS[network]
    dbs = caffe_lmdb.ensure(mnist)
    path = caffe_prototxt.write(caffe_prototxt.lmdb_net(spec, dbs.train, dbs.test, test_batch=100,
                                                        reader=f"check_{network}"), tmp_path / "train_test.prototxt")
    assert validate_prototxt(path).kind == "net"  # both phases, in a child process
    net = caffe_net(path, "TRAIN")
    net.forward()
    batch = spec.recipe.batch_size
    np.testing.assert_allclose(net.blobs["data"].data, data.preprocess(mnist.train_images[:batch], spec.recipe),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(net.blobs["label"].data, mnist.train_labels[:batch])
    for layer, shape in zip(spec.layers, spec.output_shapes(), strict=True):
        assert net.blobs[layer.name].data.shape == (batch, *shape)


def test_solver_follows_the_recipe(network, tmp_path):
    spec = NETWORKS[network]
    opt = spec.recipe.optimizer
    path = caffe_prototxt.write(caffe_prototxt.solver(spec, 5, train_net="net.prototxt"), tmp_path / "s.prototxt")
    sp = caffe_prototxt.parse(path, "solver").message
    expected_type = {"sgd": "SGD", "adadelta": "AdaDelta", "adam": "Adam"}[opt.kind]
    assert (sp.type, sp.base_lr, sp.weight_decay, sp.lr_policy) == pytest.approx(
        (expected_type, opt.lr, opt.weight_decay, opt.lr_policy))
    if opt.kind == "sgd":
        assert sp.momentum == pytest.approx(opt.momentum)
    elif opt.kind == "adadelta":
        assert (sp.momentum, sp.delta) == pytest.approx((opt.rho, opt.eps))
    else:
        assert (sp.momentum, sp.momentum2, sp.delta) == pytest.approx((opt.beta1, opt.beta2, opt.eps))
    if opt.lr_policy == "inv":
        assert (sp.gamma, sp.power) == pytest.approx((opt.gamma, opt.power))
    assert (sp.random_seed, sp.display, sp.snapshot, sp.test_interval) == (5, 0, 0, 0)
    assert sp.max_iter >= 10**8 and sp.train_net == "net.prototxt" and not sp.test_iter
    with_test = caffe_prototxt.solver(spec, 5, net="train_test.prototxt", test_iter=100)
    assert (with_test.net, list(with_test.test_iter), with_test.test_initialization) == ("train_test.prototxt", [100],
                                                                                          False)
    assert with_test.test_interval >= 10**8  # Caffe needs one; tests run on demand only


def test_one_learning_rate_for_weights_and_biases_and_frozen_batch_norm_statistics():
    net = caffe_prototxt.memory_net(NETWORKS["mlp_bn"], 4)
    for layer in net.layer:
        expected = [0.0, 0.0, 0.0] if layer.type == "BatchNorm" else []
        assert [p.lr_mult for p in layer.param] == expected, layer.name


# --- the adapter ---------------------------------------------------------------------------------------
def test_threads_are_openblas_threads(make_model, threads):
    model = make_model("caffe", "lenet")
    assert model.threads == threads == openblas().openblas_get_num_threads()
    assert model.version.startswith("1.0.0 (CPU only, OpenBLAS")


def test_layer_outputs_have_the_spec_shapes_and_end_in_the_logits(network, make_model):
    model = make_model("caffe", network)
    x = np.random.default_rng(0).uniform(0, 1, (3, 1, 28, 28)).astype(np.float32)
    outputs = model.layer_outputs(x)
    assert list(outputs) == [layer.name for layer in model.spec.layers]
    for layer, shape in zip(model.spec.layers, model.spec.output_shapes(), strict=True):
        assert outputs[layer.name].shape == (3, *shape)
    logits = outputs[model.spec.layers[-1].name]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs / probs.sum(axis=1, keepdims=True), model.forward(x), rtol=1e-5, atol=1e-7)


def test_staged_batches_are_fed_again_when_another_ran_in_between(make_model):
    model = make_model("caffe", "lenet")
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32) for n in (5, 9))
    sa, sb = model.stage(a), model.stage(b)
    first = model.to_numpy(model.run_forward(sa))
    model.to_numpy(model.run_forward(sb))
    np.testing.assert_array_equal(model.to_numpy(model.run_forward(sa)), first)


def test_gradients_are_refused_after_a_solver_step(make_model):
    model = make_model("caffe", "lenet")
    x = np.zeros((2, 1, 28, 28), np.float32)
    model.train_step(x, np.array([1, 2]))
    with pytest.raises(RuntimeError, match="backward first"):
        model.gradients()


def small_bn_spec() -> NetworkSpec:
    """Two BatchNorms (two momenta) and no dropout, so training-mode steps are deterministic."""
    return NetworkSpec(
        "bn_check", "BatchNorm mapping check",
        (Flatten("flatten"), Dense("fc1", 64), BatchNorm("bn1"), ReLU("relu1"), Dense("fc2", 32),
         BatchNorm("bn2", momentum=0.3, eps=1e-3), ReLU("relu2"), Dense("fc3", 10)),
        Recipe(Optimizer("sgd", lr=0.1), 32, 1, 1 / 255, 0.1307, 0.3081, "torch_default", "a test"))


def test_batch_norm_statistics_are_held_as_caffe_sums(threads):
    spec = small_bn_spec()
    model = CaffeAdapter(spec, framework="caffe", threads=threads)
    weights = initial_weights(spec, 0)
    weights["bn2.running_mean"] = np.full(32, 0.5, np.float32)
    weights["bn2.running_var"] = np.full(32, 2.0, np.float32)
    model.set_weights(weights)
    mean_sum, var_sum, factor = (b.data for b in model.train_net.params["bn2"])
    assert factor[0] == pytest.approx(1 / 0.3)
    np.testing.assert_allclose(mean_sum, 0.5 / 0.3, rtol=1e-6)
    np.testing.assert_allclose(var_sum, 2.0 / 0.3, rtol=1e-6)
    bn2 = next(lp for lp in caffe_prototxt.memory_net(spec, 1).layer if lp.name == "bn2")
    assert bn2.batch_norm_param.moving_average_fraction == pytest.approx(0.7)


def test_batch_norm_running_statistics_match_pytorch(threads):
    if not availability("pytorch").ready:
        pytest.skip(availability("pytorch").reason)
    spec = small_bn_spec()
    models = {f: adapter_class(f)(spec, framework=f, threads=threads) for f in ("pytorch", "caffe")}
    rng = np.random.default_rng(0)
    weights = initial_weights(spec, 1)
    weights["bn1.running_mean"] = rng.normal(size=64).astype(np.float32)
    weights["bn1.running_var"] = rng.uniform(0.5, 2.0, 64).astype(np.float32)
    for model in models.values():
        model.set_weights(weights)
    for _ in range(5):  # training-mode forward passes update the statistics; no parameter update
        x, y = rng.normal(size=(32, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 32)
        losses = [model.backward(x, y)[0] for model in models.values()]
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    torch_w, caffe_w = (m.get_weights() for m in models.values())
    for key in ("bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"):
        np.testing.assert_allclose(caffe_w[key], torch_w[key], rtol=1e-5, atol=1e-5, err_msg=key)
    x = rng.normal(size=(8, 1, 28, 28)).astype(np.float32)  # eval mode uses the statistics
    np.testing.assert_allclose(models["caffe"].forward(x), models["pytorch"].forward(x), rtol=1e-5, atol=1e-6)


def test_caffe_pipeline_trains_the_same_model_and_evaluates_like_the_numpy_path(make_model, mnist):
    model = make_model("caffe", "lenet")
    before = model.get_weights()["ip2.weight"]
    description, run = model.pipeline_epoch(mnist, 2048)
    loss = run()  # 32 iterations of the Data-layer solver
    assert "Data layer" in description and np.isfinite(loss)
    assert not np.array_equal(model.get_weights()["ip2.weight"], before)  # the weights are shared
    lmdb_accuracy = model.evaluate_lmdb(mnist)
    numpy_accuracy = model.evaluate(data.preprocess(mnist.test_images, model.spec.recipe), mnist.test_labels)
    assert lmdb_accuracy > 0.8
    assert lmdb_accuracy == pytest.approx(numpy_accuracy, abs=2e-4)  # scaling rounds differently at most


def test_two_models_can_use_caffes_pipeline_at_once(mnist):
    # Caffe 1.0 shares one reader thread among same-named Data layers over one source; a second live net of
    # the same name would wait forever, so this runs in a child process with a deadline.
    script = textwrap.dedent("""
        from frameworks import create_adapter, data
        mnist = data.load()
        models = [create_adapter("caffe", "lenet", seed=s) for s in (0, 1)]
        runs = [m.pipeline_epoch(mnist, 640)[1] for m in models]
        print([run() for run in runs], [m.evaluate_lmdb(mnist) for m in models])
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), data.ENV_DIR: str(mnist.directory)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=180, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- a user's own prototxt -----------------------------------------------------------------------------
def test_caffe_lenet_example_runs_with_only_its_data_paths_changed(mnist):
    result = run_user_solver(EXAMPLES / "lenet_solver.prototxt", 500, mnist=mnist)
    assert result.iterations == 500
    test = result.test_outputs[0]
    assert set(test) == {"accuracy", "loss"}
    assert test["accuracy"] >= 0.95, f"LeNet example: {test['accuracy']:.2%} after 500 iterations"


BAD_NET = """\
name: "bad"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 1 dim: 28 dim: 28 } }
}
layer {
  name: "fc"
  type: "InnerProduct"
  bottom: "data"
  top: "fc"
  inner_product_param { num_output: 10 }
}
"""


def test_a_syntax_error_names_its_line(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(BAD_NET.replace("num_output", "num_outputs"))
    with pytest.raises(PrototxtError, match=r"line 13, column \d+: .*no field named \"num_outputs\""):
        validate_prototxt(path)


def test_a_missing_bottom_blob_is_caffes_fatal_as_a_python_error(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(BAD_NET.replace('bottom: "data"', 'bottom: "nowhere"'))
    assert caffe_prototxt.parse(path).kind == "net"  # valid text, invalid net
    with pytest.raises(CaffeError, match="SIGABRT.*Unknown bottom blob 'nowhere'"):
        validate_prototxt(path)
    path.write_text(BAD_NET)
    assert validate_prototxt(path).kind == "net"  # and this process is still here


def test_a_user_solver_with_a_broken_net_fails_cleanly(tmp_path, mnist):
    net = (EXAMPLES / "lenet_train_test.prototxt").read_text().replace('bottom: "pool2"', 'bottom: "pool3"')
    (tmp_path / "lenet_train_test.prototxt").write_text(net)
    solver = tmp_path / "lenet_solver.prototxt"
    solver.write_text((EXAMPLES / "lenet_solver.prototxt").read_text())
    with pytest.raises(CaffeError, match="Unknown bottom blob 'pool3'"):
        run_user_solver(solver, 10, mnist=mnist)


def test_a_user_solver_without_data_layers_is_refused(tmp_path, mnist):
    (tmp_path / "net.prototxt").write_text(BAD_NET)
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "net.prototxt"\nbase_lr: 0.01\n')
    with pytest.raises(CaffeError, match="no Data layer"):
        run_user_solver(solver, 10, mnist=mnist)


def test_tensorflow_then_torch_then_caffe_in_one_process():
    missing = [m for m in ("tensorflow", "torch") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    script = textwrap.dedent("""
        import numpy as np
        import tensorflow, torch
        from frameworks import create_adapter
        model = create_adapter("caffe", "lenet")
        probs = model.forward(np.zeros((2, 1, 28, 28), np.float32))
        assert probs.shape == (2, 10)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- the command ---------------------------------------------------------------------------------------
def test_the_caffe_command_trains_a_users_solver_and_prints_its_outputs(mnist, capsys):
    from frameworks.cli import main

    assert main(["caffe", str(EXAMPLES / "lenet_solver.prototxt"), "--iterations", "50",
                 "--mnist-dir", str(mnist.directory)]) == 0
    out = capsys.readouterr().out
    assert "50 iterations" in out and "test net #0 accuracy = " in out


def test_the_caffe_command_names_a_missing_solver(tmp_path, capsys):
    from frameworks.cli import main

    assert main(["caffe", str(tmp_path / "nowhere.prototxt")]) == 2
    assert "nowhere.prototxt" in capsys.readouterr().err


def test_the_caffe_command_says_which_data_sources_it_replaced(mnist, capsys):
    from frameworks.cli import main

    assert main(["caffe", str(EXAMPLES / "lenet_solver.prototxt"), "--iterations", "1",
                 "--mnist-dir", str(mnist.directory)]) == 0
    out = capsys.readouterr().out
    assert "Data layer 'mnist' (TRAIN): examples/mnist/mnist_train_lmdb -> " in out
    assert "Data layer 'mnist' (TEST): examples/mnist/mnist_test_lmdb -> " in out


def test_a_missing_net_names_the_commands_option_once(tmp_path, mnist, capsys):
    from frameworks.cli import main

    solver = tmp_path / "solver.prototxt"
    solver.write_text((EXAMPLES / "lenet_solver.prototxt").read_text().replace(
        "examples/mnist/lenet_train_test.prototxt", "nowhere/net.prototxt"))
    assert main(["caffe", str(solver), "--iterations", "1", "--mnist-dir", str(mnist.directory)]) == 2
    err = capsys.readouterr().err
    assert "its net 'nowhere/net.prototxt' was not found" in err and err.count("--net") == 1
