"""``zeroskip compress MODEL.onnx``: Deep Compression of a network trained elsewhere, on the
user's data; a model whose weights are already shared taken as it is; ``--one-shot``; the
``.zsk`` of an imported model (strided, padded convolutions, pooling, NCHW input, channels-first
flatten) lowering to the layers its ONNX model lowers to; bad data one line, exit 2, nothing
written. The issue's "must show" (a scikit-learn 784-300-100-10 MLP, ≥ 30x smaller within
1 pp) is ``test_sklearn_lenet300_is_30x_smaller_within_1pp``."""

import dataclasses
import json

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx_helpers import (conv_net, graph_model, lenet5, mlp, run_onnxruntime, shared,
                          sklearn_mlp, sklearn_to_onnx)

from zeroskip.cli import main
from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.program import load_program
from zeroskip.hw.reference import predict
from zeroskip.models import compress as pipeline
from zeroskip.models import modelfile
from zeroskip.models import onnx as zonnx
from zeroskip.models.data import mnist_split
from zeroskip.models.interchange import MapInput, Pool, SharedConv, SharedLayer, load_model

ARCH = PRESETS["small"]
#: 6-bit codes: batch norm folded into a shared conv multiplies its distinct values
WIDE = dataclasses.replace(ARCH, code_bits=6, run_bits=2)
QUICK = ["--prune-steps", "1", "--prune-epochs", "1", "--finetune-epochs", "1"]


def run(argv, capsys):
    """``main``'s status, stdout and the stderr lines (without progress lines)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as done:
        status = done.code
    out, err = capsys.readouterr()
    return status, out, [line for line in err.splitlines() if line.strip()]


def accuracy(logits, y) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


@pytest.fixture(scope="module")
def mnist():
    return mnist_split(0)


@pytest.fixture(scope="module")
def small(tmp_path_factory, mnist):
    """A small dense MLP (784-32-10) trained by scikit-learn on 1,000 images, as ONNX, with a
    training and a test data file."""
    x, y, xt, yt = mnist
    root = tmp_path_factory.mktemp("small")
    classifier = sklearn_mlp(x[:1000], y[:1000], hidden=(32,), epochs=5)
    onnx.save(sklearn_to_onnx(classifier), root / "mlp.onnx")
    np.savez(root / "train.npz", x=x[:1000], y=y[:1000])
    np.savez(root / "test.npz", x=xt[:200], y=yt[:200])
    return root, classifier, xt[:200], yt[:200]


# -- Deep Compression on the user's data ----------------------------------------------------------
def test_compress_onnx_on_user_data(small, tmp_path, capsys):
    root, classifier, xt, yt = small
    zsk, report_path = tmp_path / "m.zsk", tmp_path / "r.json"
    status, out, err = run(["compress", root / "mlp.onnx", "--data", root / "train.npz",
                            "--test", root / "test.npz", "--validation", "10", *QUICK,
                            "-o", zsk, "--json", report_path], capsys)
    assert status == 0, err
    assert "mlp: Deep Compression (P+Q+H)" in out and "dense0" in out and "dense1" in out
    assert "accuracy on 200 held-out images" in out and "validation (100 training images" in out
    report = json.loads(report_path.read_text())
    assert report["method"] == "deep-compression" and report["source"].endswith("mlp.onnx")
    assert report["test_images"] == 200 and report["validation_images"] == 100
    # the dense stage is the model as scikit-learn trained it
    assert report["accuracy_dense"] == classifier.score(xt, yt)
    assert report["file_bytes"] == zsk.stat().st_size
    assert report["compression_ratio"] > report["compression_ratio_quantized"] > 1
    assert [layer["name"] for layer in report["layers"]] == ["dense0", "dense1"]
    assert all(layer["density"] < 1 for layer in report["layers"])
    compressed = modelfile.load(zsk)
    assert report["accuracy_compressed"] == accuracy(compressed.to_network().logits(xt), yt)
    # it leaves as ONNX at that accuracy, and compiles
    exported = zonnx.export(load_model(zsk))
    assert accuracy(run_onnxruntime(exported, xt), yt) == report["accuracy_compressed"]
    program = compile_layers(load_model(zsk), WIDE, calibration=xt)
    assert accuracy(predict(program, xt), yt) >= report["accuracy_compressed"] - 0.03


def test_dense_model_without_data_is_one_line(small, tmp_path, capsys):
    root, *_ = small
    status, out, err = run(["compress", root / "mlp.onnx", "-o", tmp_path / "m.zsk"], capsys)
    assert status == 2 and out == "" and len(err) == 1
    assert "mlp.onnx: dense weights (layer 'dense0' holds" in err[0]
    assert "--data TRAIN.npz" in err[0] and "--one-shot" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_one_shot_warns_with_the_accuracy_it_measured(small, tmp_path, capsys):
    root, classifier, xt, yt = small
    zsk, report_path = tmp_path / "m.zsk", tmp_path / "r.json"
    status, out, err = run(["-q", "compress", root / "mlp.onnx", "--one-shot", "--test",
                            root / "test.npz", "-o", zsk, "--json", report_path], capsys)
    assert status == 0 and len(err) == 1
    report = json.loads(report_path.read_text())
    assert report["method"] == "one-shot" and "one-shot" in out
    measured = accuracy(modelfile.load(zsk).to_network().logits(xt), yt)
    assert report["accuracy_compressed"] == measured
    assert report["accuracy_dense"] == classifier.score(xt, yt)
    assert err[0].startswith("zeroskip compress: warning: one-shot: pruned and shared without "
                             "retraining")
    assert f"accuracy {100 * measured:.2f}% on 200 --test images" in err[0]
    assert f"{100 * (report['accuracy_dense'] - measured):.2f} pp below" in err[0]
    # without test data it says that it measured nothing
    status, _, err = run(["-q", "compress", root / "mlp.onnx", "--one-shot", "-o", zsk],
                         capsys)
    assert status == 0 and len(err) == 1 and "not measured (give --test TEST.npz)" in err[0]


def test_one_shot_with_data_is_refused(small, tmp_path, capsys):
    root, *_ = small
    status, _, err = run(["compress", root / "mlp.onnx", "--one-shot", "--data",
                          root / "train.npz", "-o", tmp_path / "m.zsk"], capsys)
    assert status == 2 and len(err) == 1 and "--one-shot: prunes and shares without" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_weights_already_shared_are_taken_as_they_are(small, tmp_path, capsys):
    root, *_ = small
    rng = np.random.default_rng(5)
    model = mlp(rng, (784, 40, 10), shared_bits=4, density=0.3)
    (tmp_path / "shared.onnx").write_bytes(model.SerializeToString())
    zsk, report_path = tmp_path / "s.zsk", tmp_path / "r.json"
    status, out, err = run(["-q", "compress", tmp_path / "shared.onnx", "--test",
                            root / "test.npz", "-o", zsk, "--json", report_path], capsys)
    assert status == 0 and err == []
    report = json.loads(report_path.read_text())
    assert report["method"] == "as-is" and "taken as they are" in out
    assert report["accuracy_dense"] == report["accuracy_compressed"]
    assert report["accuracy_pruned"] is None
    want = zonnx.from_proto(model, "shared.onnx").array_layers()
    got = load_model(zsk)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a.codebook, b.codebook) and np.array_equal(a.codes, b.codes)
        assert np.array_equal(a.bias, b.bias) and (a.act, a.name) == (b.act, b.name)
    # too few bits for its 15 values: dense for 3-bit sharing, says which layer
    status, _, err = run(["compress", tmp_path / "shared.onnx", "--bits", "3", "-o",
                          tmp_path / "t.zsk"], capsys)
    assert status == 2 and "layer 'fc1' holds 15 distinct values, more than 3-bit" in err[0]
    assert not (tmp_path / "t.zsk").exists()


# -- bad data: one line naming the file and the problem, exit 2, nothing written --------------
def bad_files(root, mnist):
    x, y, *_ = mnist
    x, y = x[:300], y[:300]
    return {
        "shape": (dict(x=x.reshape(-1, 28, 28), y=y), "x has shape [300, 28, 28], the model "
                                                     "takes [n, 784]"),
        "label": (dict(x=x, y=np.where(y == 3, 10, y)), "y holds label 10, the model has 10 "
                                                        "outputs (labels 0..9)"),
        "negative": (dict(x=x, y=np.where(y == 3, -1, y)), "y holds label -1"),
        "float labels": (dict(x=x, y=y.astype(np.float32)), "y must hold integer labels"),
        "count": (dict(x=x, y=y[:-1]), "y has shape [299], expected [300]"),
        "no y": (dict(x=x), "no array 'y'"),
        "nan": (dict(x=np.where(x > 0.5, np.nan, x), y=y), "x contains NaN"),
        "text": (dict(x=np.array(["a"] * 300), y=y), "x must be numeric"),
        "empty": (dict(x=x[:0], y=y[:0]), "x holds no images"),
    }


CASES = ["shape", "label", "negative", "float labels", "count", "no y", "nan", "text", "empty",
         "not npz"]


@pytest.mark.parametrize("case, flag", [(case, flag) for case in CASES
                                        for flag in ("--data", "--test")]
                         + [("few", "--data")])       # the validation split is --data's
def test_bad_data_is_one_line_exit_2_and_nothing_written(case, flag, small, mnist, tmp_path,
                                                         capsys):
    root, *_ = small
    data = tmp_path / "d.npz"
    extra = []
    if case == "not npz":
        np.save(tmp_path / "d.npy", mnist[0][:10])
        data, message = tmp_path / "d.npy", "not an .npz archive"
    elif case == "few":
        np.savez(data, x=mnist[0][:300], y=mnist[1][:300])
        extra, message = ["--validation", "25"], "too few to set 25 aside for validation"
    else:
        arrays, message = bad_files(root, mnist)[case]
        np.savez(data, **arrays)
    files = {"--data": data, "--test": root / "test.npz"}
    if flag == "--test":
        files = {"--data": root / "train.npz", "--test": data}
    before = sorted(tmp_path.iterdir())
    status, out, err = run(["-q", "compress", root / "mlp.onnx", "--data", files["--data"],
                            "--test", files["--test"], *extra, "-o", tmp_path / "m.zsk",
                            "--json", tmp_path / "r.json"], capsys)
    assert status == 2 and out == "" and len(err) == 1, err
    assert err[0].startswith(f"zeroskip compress: error: {flag} {data}") and message in err[0]
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("flag", ["-o", "--json"])
def test_outputs_never_overwrite_the_test_data(flag, small, tmp_path, capsys):
    root, *_ = small
    test = tmp_path / "test.npz"
    test.write_bytes((root / "test.npz").read_bytes())
    status, _, err = run(["-q", "compress", root / "mlp.onnx", "--data", root / "train.npz",
                          "--test", test, flag, test], capsys)
    assert status == 2 and len(err) == 1
    assert f"{flag} {test}: would overwrite the input {test}" in err[0]
    assert test.read_bytes() == (root / "test.npz").read_bytes()


@pytest.mark.parametrize("name, message", [("missing.onnx", "missing.onnx: no such file"),
                                           ("model.zsk", "model.zsk: not an ONNX model")])
def test_model_files_that_are_not_onnx_are_one_line(name, message, small, tmp_path, capsys):
    if name == "model.zsk":
        (tmp_path / name).write_bytes(b"ZSKMODEL" + bytes(40))
    status, out, err = run(["compress", tmp_path / name, "-o", tmp_path / "m.zsk"], capsys)
    assert status == 2 and len(err) == 1 and message in err[0]
    assert "lenet5, squeezenet, mobilenet, mobilenet-standard, shufflenet), binary-mlp, " \
        "binary-cnn or an ONNX model file" in err[0]
    assert not (tmp_path / "m.zsk").exists()


# -- the .zsk of an imported model lowers as its ONNX model does ------------------------------
def global_pool_net(rng):
    """[N, 2, 6, 6] → Conv 3x3 pad 1 → Relu → GlobalAveragePool → Flatten → Gemm."""
    inits = {"w1": (rng.standard_normal((4, 2, 3, 3)) * 0.3).astype(np.float32),
             "b1": np.zeros(4, np.float32),
             "w2": (rng.standard_normal((3, 4)) * 0.3).astype(np.float32),
             "b2": np.zeros(3, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], name="conv1",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc1", transB=1)]
    return graph_model(nodes, inits, ["N", 2, 6, 6], ["N", 3])


@pytest.mark.parametrize("build, input_shape", [
    (lambda rng: conv_net(rng), (3, 9, 9)),                  # BN folded, view-reshape, Softmax
    (lambda rng: conv_net(rng, bn=False, view_reshape=False, pool="AveragePool"), (3, 9, 9)),
    (global_pool_net, (2, 6, 6)),
])
def test_imported_conv_model_file_lowers_like_its_onnx_model(build, input_shape):
    rng = np.random.default_rng(3)
    model = shared(build(rng), rng)
    imported = zonnx.from_proto(model, "net.onnx")
    net = imported.network()
    config = pipeline.imported_config(net, "net.onnx")
    books, codes = zip(*(imported.shared(op) for op in imported.ops if op.weight is not None))
    result = pipeline.compress_shared(config, net, books, codes,
                                      names=imported.weighted_names())
    decoded = modelfile.decode(result.data, "net.zsk")
    # the file's network computes what onnxruntime computes on NCHW images
    x = rng.uniform(0, 1, (5, *input_shape)).astype(np.float32)
    want = run_onnxruntime(model, x)
    got = decoded.to_network().forward(x)
    if model.graph.node[-1].op_type == "Softmax":
        got = np.exp(got - got.max(1, keepdims=True))
        got /= got.sum(1, keepdims=True)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    # and lowers to the layers (so the program) the ONNX model lowers to
    from_file, from_onnx = decoded.array_layers("net.zsk"), imported.array_layers()
    assert [type(layer) for layer in from_file] == [type(layer) for layer in from_onnx]
    assert any(isinstance(layer, SharedConv) for layer in from_file)
    for a, b in zip(from_file, from_onnx):
        if isinstance(a, (SharedLayer, SharedConv)):
            assert np.array_equal(a.codes, b.codes) and np.array_equal(a.codebook, b.codebook)
            assert (a.act, a.name) == (b.act, b.name)
            assert getattr(a, "stride", 1) == getattr(b, "stride", 1)
            assert getattr(a, "pad", 0) == getattr(b, "pad", 0)
        elif isinstance(a, Pool):
            assert (a.op, a.kernel, a.stride, a.pad, a.act) == (b.op, b.kernel, b.stride, b.pad,
                                                               b.act)
        else:
            assert a == b and isinstance(a, MapInput)
    maps = x.transpose(0, 2, 3, 1).reshape(len(x), -1)
    direct = compile_layers(from_file, WIDE, calibration=maps)
    through_onnx = compile_layers(from_onnx, WIDE, calibration=maps)
    for image in ("sparse", "ptr", "bias", "codebook"):
        assert np.array_equal(getattr(direct, image), getattr(through_onnx, image)), image
    # the same program, but for the pools' names (a file names them pool1, ...)
    assert [dataclasses.replace(layer, name="") for layer in direct.layers] == \
        [dataclasses.replace(layer, name="") for layer in through_onnx.layers]
    assert direct.passes == through_onnx.passes


def test_average_pooling_that_leaves_padding_out_is_not_lowered():
    rng = np.random.default_rng(4)
    inits = {"w": (rng.standard_normal((3, 2 * 4 * 4)) * 0.3).astype(np.float32)}
    for include in (0, 1):
        nodes = [helper.make_node("AveragePool", ["x"], ["p"], name="pool", kernel_shape=[3, 3],
                                  strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=include),
                 helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
                 helper.make_node("Gemm", ["f", "w"], ["y"], name="fc1", transB=1)]
        model = shared(graph_model(nodes, inits, ["N", 2, 8, 8], ["N", 3]), rng)
        imported = zonnx.from_proto(model, "pool.onnx")
        net = imported.network()
        books, codes = zip(*(imported.shared(op) for op in imported.ops if op.weight is not None))
        decoded = pipeline.compress_shared(pipeline.imported_config(net, "pool.onnx"), net,
                                           books, codes).model
        if include:
            assert isinstance(decoded.array_layers()[1], Pool)
            assert isinstance(imported.array_layers()[1], Pool)
            continue
        with pytest.raises(ZeroskipError, match="p.zsk: layer 1 of model 'pool' is a 'avgpool' "
                                                "layer that pads and leaves the padding out"):
            decoded.array_layers("p.zsk")
        with pytest.raises(ZeroskipError, match=r"node 'pool' \(AveragePool\) pads and leaves"):
            imported.array_layers()


@pytest.mark.parametrize("edit, message", [
    ({"stride": 0}, "stride must be an integer in 1..65536"),
    ({"pad": -1}, "pad must be an integer in 0..65536"),
    ({"stride": True}, "stride must be an integer"),
])
def test_bad_windows_in_a_header_are_one_line(edit, message):
    rng = np.random.default_rng(6)
    imported = zonnx.from_proto(shared(conv_net(rng), rng), "net.onnx")
    net = imported.network()
    books, codes = zip(*(imported.shared(op) for op in imported.ops if op.weight is not None))
    model = pipeline.compress_shared(pipeline.imported_config(net, "net.onnx"), net, books,
                                     codes).model
    network = json.loads(json.dumps(model.network))
    conv = next(spec for spec in network["layers"] if spec["kind"] == "conv2d")
    conv.update(edit)
    edited = dataclasses.replace(model, network=network)
    with pytest.raises(ZeroskipError, match=f"e.zsk: bad header .*{message}"):
        modelfile.decode(modelfile.encode(edited)[0], "e.zsk")


# -- a LeNet-5-shaped ONNX conv net: compresses, compiles, runs on the array ------------------
def test_lenet5_shaped_onnx_model_compresses_compiles_and_runs_on_the_array(mnist, tmp_path,
                                                                             capsys):
    """A quick run (two epochs of dense training from He initialisation, one pruning step):
    what is checked is the flow, not the figures."""
    x, y, xt, yt = mnist
    onnx.save(lenet5(np.random.default_rng(0), pad=2), tmp_path / "lenet5.onnx")
    np.savez(tmp_path / "train.npz", x=x[:1000].reshape(-1, 1, 28, 28), y=y[:1000])
    np.savez(tmp_path / "test.npz", x=xt[:200].reshape(-1, 1, 28, 28), y=yt[:200])
    np.save(tmp_path / "calib.npy", x[:200])
    np.save(tmp_path / "x.npy", xt[:16])
    status, out, err = run(["-q", "compress", tmp_path / "lenet5.onnx", "--data",
                            tmp_path / "train.npz", "--test", tmp_path / "test.npz", "--eie",
                            "--epochs", "2", "--validation", "20", *QUICK,
                            "-o", tmp_path / "l5.zsk", "--json", tmp_path / "r.json"], capsys)
    assert status == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert [layer["name"] for layer in report["layers"]] == ["conv1", "conv2", "fc1", "fc2"]
    assert report["accuracy_compressed"] > 0.6 and report["compression_ratio"] > 10
    status, _, err = run(["-q", "compile", tmp_path / "l5.zsk", "--pes", "16", "--act-depth",
                          "2048", "--ptr-depth", "4096", "--calibration", tmp_path / "calib.npy",
                          "-o", tmp_path / "prog"], capsys)
    assert status == 0, err
    program = load_program(tmp_path / "prog")
    conv1 = program.layers[0]
    assert (conv1.kernel, conv1.stride, conv1.pad, conv1.out_channels) == (5, 1, 2, 20)
    status, _, err = run(["-q", "sim", tmp_path / "prog", "--input", tmp_path / "x.npy",
                          "--output", tmp_path / "y.npy"], capsys)
    assert status == 0, err
    on_array = np.load(tmp_path / "y.npy")
    assert np.array_equal(on_array, predict(program, xt[:16]))     # the sim is the reference
    float_logits = modelfile.load(tmp_path / "l5.zsk").to_network().logits(xt[:16])
    assert np.mean(on_array.argmax(1) == float_logits.argmax(1)) >= 0.9


# -- the "must show" ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow),
                                  pytest.param(2, marks=pytest.mark.slow)])
def test_sklearn_lenet300_is_30x_smaller_within_1pp(seed, mnist, tmp_path, capsys):
    """A dense 784-300-100-10 MLP trained by scikit-learn on the 4,000 training images, exported
    to ONNX; ``zeroskip compress mlp.onnx --data train.npz --test test.npz`` makes it >= 30x
    smaller with an accuracy drop <= 1 pp on the 1,000 held-out images, and its export runs in
    onnxruntime at the reported accuracy."""
    x, y, xt, yt = mnist
    classifier = sklearn_mlp(x, y, hidden=(300, 100), epochs=20, seed=seed)
    onnx.save(sklearn_to_onnx(classifier), tmp_path / "mlp.onnx")
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=xt, y=yt)
    status, _, err = run(["-q", "compress", tmp_path / "mlp.onnx", "--data",
                          tmp_path / "train.npz", "--test", tmp_path / "test.npz",
                          "--seed", seed, "-o", tmp_path / "mlp.zsk", "--json",
                          tmp_path / "r.json"], capsys)
    assert status == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    dense = classifier.score(xt, yt)
    assert report["accuracy_dense"] == dense and report["test_images"] == 1000
    assert report["compression_ratio"] >= 30
    assert (tmp_path / "mlp.zsk").stat().st_size * 30 <= report["dense_bytes"]
    assert dense - report["accuracy_compressed"] <= 0.01
    status, _, err = run(["-q", "export", tmp_path / "mlp.zsk", "-o", tmp_path / "out.onnx"],
                         capsys)
    assert status == 0, err
    logits = run_onnxruntime((tmp_path / "out.onnx").read_bytes(), xt)
    assert accuracy(logits, yt) == report["accuracy_compressed"]


def test_a_model_that_does_not_end_in_class_scores_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv1", kernel_shape=[3, 3]),
             helper.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["y"], name="flatten")]
    model = graph_model(nodes, {"w": rng.standard_normal((4, 1, 3, 3)).astype(np.float32)},
                        ["N", 1, 6, 6], ["N", 4])
    (tmp_path / "net.onnx").write_bytes(model.SerializeToString())
    status, _, err = run(["compress", tmp_path / "net.onnx", "-o", tmp_path / "m.zsk"], capsys)
    assert status == 2 and len(err) == 1
    assert "net.onnx: the model must end in a Gemm/MatMul layer" in err[0]
    assert "ends in 'flatten' (flatten)" in err[0]
    assert not (tmp_path / "m.zsk").exists()


def test_a_stored_codebook_wider_than_the_bits_is_one_line(tmp_path, capsys):
    """An export keeps its codebook (unused entries too): 20 entries do not fit 4-bit sharing
    even where the weights use only 3 of them."""
    rng = np.random.default_rng(8)
    book = np.concatenate([[0.0], np.linspace(-1, 1, 19)]).astype(np.float32)
    layers = [SharedLayer(book, rng.integers(0, 4, (5, 12)).astype(np.uint8),
                          np.zeros(5, np.float32), "none", name="fc1")]
    (tmp_path / "wide.onnx").write_bytes(zonnx.export(layers))
    status, _, err = run(["compress", tmp_path / "wide.onnx", "--bits", "4", "-o",
                          tmp_path / "m.zsk"], capsys)
    assert status == 2 and len(err) == 1
    assert "wide.onnx: layer fc1 shares 19 non-zero values, more than 4-bit sharing holds (16)" in err[0]
    assert not (tmp_path / "m.zsk").exists()
    status, _, err = run(["-q", "compress", tmp_path / "wide.onnx", "-o", tmp_path / "m.zsk"],
                         capsys)
    assert status == 0 and err == []
    assert np.array_equal(load_model(tmp_path / "m.zsk")[0].codebook, book)
