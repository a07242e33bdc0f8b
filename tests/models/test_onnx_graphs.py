"""Branching ONNX graphs (Fire modules' Concat, residual Add, ShuffleNet's channel shuffle):
imported into a ``Graph`` network that computes what onnxruntime computes, trains (its gradients
are finite differences'), rebuilds from its spec; the array does not run them yet, and
``zeroskip compile`` says so in one line naming the first node it cannot place."""

import re

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx_helpers import (f32, fire_net, graph_model, residual_net, run_onnxruntime, shared,
                          shuffle_net)
from test_layers import check_layer_grads, numeric_grad

from zeroskip.cli import main
from zeroskip.errors import ZeroskipError
from zeroskip.models import onnx as zonnx
from zeroskip.models.layers import Add, ChannelShuffle, Concat, Conv2D, Dense, Flatten, ReLU
from zeroskip.models.network import Graph, Network, Node


def relative_error(got, want) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


MODELS = {
    "fire": (fire_net, (3, 8, 8), "concat"),
    "residual": (residual_net, (4, 6, 6), "add"),
    "residual-no-bn": (lambda rng: residual_net(rng, bn=False), (4, 6, 6), "add"),
    "shuffle2": (lambda rng: shuffle_net(rng, 2), (4, 6, 6), "shuffle"),
    "shuffle4": (lambda rng: shuffle_net(rng, 4), (4, 6, 6), "shuffle"),
}


@pytest.mark.parametrize("name", MODELS)
def test_branching_graph_matches_onnxruntime(name):
    build, shape, kind = MODELS[name]
    rng = np.random.default_rng(30)
    model = build(rng)
    x = rng.standard_normal((6, *shape)).astype(np.float32)
    imported = zonnx.from_proto(model, "g.onnx")
    net = imported.network()
    assert isinstance(net, Graph) and not imported.is_sequential()
    assert kind in [layer.kind for layer in net.layers]
    assert relative_error(net.forward(x), run_onnxruntime(model, x)) <= 1e-5


def test_batch_norm_folds_in_a_branch_and_the_shuffle_is_one_layer():
    residual = zonnx.from_proto(residual_net(np.random.default_rng(31)), "r.onnx")
    assert [op.kind for op in residual.ops] == ["relu", "conv", "relu", "conv", "add", "relu",
                                                "flatten", "dense"]
    assert residual.ops[4].inputs == ["c2", "xr"]
    shuffle = zonnx.from_proto(shuffle_net(np.random.default_rng(32), 4), "s.onnx")
    op = next(op for op in shuffle.ops if op.kind == "shuffle")
    assert (op.name, op.groups, op.inputs) == ("shuffle", 4, ["r1"])


def test_channel_shuffle_permutes_as_onnx_does():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6)       # channels 0..5, 2 groups of 3
    assert ChannelShuffle(2).forward(x).ravel().tolist() == [0, 3, 1, 4, 2, 5]
    assert ChannelShuffle(3).forward(x).ravel().tolist() == [0, 2, 4, 1, 3, 5]
    check_layer_grads(ChannelShuffle(3), np.random.default_rng(33).standard_normal((2, 3, 2, 6)),
                      np.random.default_rng(34))


def small_graph(rng):
    """input → conv a → relu ─┬─ conv b (pad 1) ─┐
                               └─ conv c 1x1 ─────┴─ Add ─┬─ Concat(·, relu a) → Flatten → Dense
    (the relu's output read three times: its gradient is the sum of three)."""
    nodes = [Node("a", Conv2D(2, 3, 3, rng, input_grad=False), ("input",)),
             Node("ra", ReLU(), ("a",)),
             Node("b", Conv2D(3, 3, 3, rng, pad=1), ("ra",)),
             Node("c", Conv2D(3, 3, 1, rng), ("ra",)),
             Node("sum", Add(), ("b", "c")),
             Node("cat", Concat(), ("sum", "ra")),
             Node("flat", Flatten(), ("cat",)),
             Node("fc", Dense(6 * 4 * 4, 4, rng), ("flat",))]
    return Graph("small", nodes)


def test_graph_gradients_match_finite_differences():
    rng = np.random.default_rng(35)
    net = small_graph(rng)
    for layer in net.weighted():
        for key in layer.params:
            layer.params[key] = (layer.params[key] + rng.standard_normal(
                layer.params[key].shape) * 0.1).astype(np.float64)
            layer.grads[key] = np.zeros_like(layer.params[key])
    x = rng.standard_normal((2, 6, 6, 2))
    r = rng.standard_normal((2, 4))
    net.forward(x)
    net.backward(r)
    for layer in net.weighted():
        for key in layer.params:
            want = numeric_grad(lambda: float((net.forward(x) * r).sum()), layer.params[key])
            np.testing.assert_allclose(layer.grads[key], want, rtol=1e-5, atol=1e-6)


def test_graph_trains_and_rebuilds_from_its_spec():
    rng = np.random.default_rng(36)
    net = small_graph(rng)
    x = rng.standard_normal((32, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 4, 32)
    params = [(layer.params[k], layer.grads[k]) for layer in net.weighted() for k in layer.params]
    before = net.loss(x, y)
    for _ in range(20):                                  # plain gradient descent
        net.loss_and_grads(x, y)
        for p, g in params:
            p -= 0.05 * g
    assert net.loss(x, y) < 0.8 * before
    rebuilt = Network.from_spec(net.spec())
    assert isinstance(rebuilt, Graph) and rebuilt.spec() == net.spec()
    rebuilt.set_weights(net.get_weights())
    assert np.array_equal(rebuilt.forward(x), net.forward(x))


@pytest.mark.parametrize("nodes, message", [
    ([Node("a", ReLU(), ("nowhere",))], "graph node 'a' reads 'nowhere', which no earlier"),
    ([Node("a", ReLU(), ("input",)), Node("a", ReLU(), ("input",))], "'a' is used twice"),
    ([Node("a", Concat(), ("input",))], r"graph node 'a' \(concat\) takes 1 inputs"),
])
def test_bad_graphs_are_refused(nodes, message):
    with pytest.raises(ValueError, match=message):
        Graph("bad", nodes)


# -- branching graphs on the array: what does not fit says so in one line ------------------------
# (that they compile and compute what onnxruntime computes: tests/compiler/test_compile_graph.py)
@pytest.mark.parametrize("name, where", [
    ("fire", r"layer 2 \(expand1x1\+expand3x3\): its codebook needs \d+ distinct weights .*"
             r"more than code_bits 4 holds \(15\); try --code-bits \d+ .*"),
    ("residual", r"layer 1 \(conv1\): its codebook needs \d+ distinct weights .*"
                 r"more than code_bits 4 holds \(15\); try --code-bits \d+ .*"),
    ("shuffle2", None),                                # fits: compiles
])
def test_compile_of_a_branching_graph_fits_or_says_why_in_one_line(name, where, tmp_path, capsys):
    build, shape, _ = MODELS[name]
    rng = np.random.default_rng(37)
    model = shared(build(rng), rng)                    # weight-shared, 15 values per node
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    np.save(tmp_path / "calib.npy", rng.random((4, int(np.prod(shape)))).astype(np.float32))
    try:
        status = main(["compile", str(path), "--calibration", str(tmp_path / "calib.npy"),
                       "-o", str(tmp_path / "prog")])
    except SystemExit as done:
        status = done.code
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.strip() and not line.startswith("[")]
    if where is None:
        assert status == 0 and not err and (tmp_path / "prog").is_dir()
        return
    assert status == 2
    assert len(err) == 1 and err[0].startswith(f"zeroskip compile: error: {path}: ")
    assert re.search(where + "$", err[0]), err[0]
    assert not (tmp_path / "prog").exists()


# -- what the import refuses, in one line naming the node -----------------------------------------
def node(op, inputs, outputs, name, **attrs):
    return helper.make_node(op, inputs, outputs, name=name, **attrs)


def two_branches(join):
    """[N, 2, 4, 4] → Relu a, Relu b (or MaxPool b), then ``join`` nodes reading a and b."""
    return lambda rng: graph_model(
        [node("Relu", ["x"], ["a"], "ra"), node("MaxPool", ["x"], ["b"], "pb", kernel_shape=[2, 2],
                                                strides=[2, 2]), *join],
        {}, ["N", 2, 4, 4], ["N", None, None, None])


BAD = [
    (two_branches([node("Add", ["a", "b"], ["y"], "the_add")]),
     r"node 'the_add' \(Add\) adds \[2, 4, 4\] and \[2, 2, 2\]; only two activations of the "
     r"same shape"),
    (two_branches([node("Concat", ["a", "b"], ["y"], "the_cat", axis=1)]),
     r"node 'the_cat' \(Concat\) concatenates \[2, 4, 4\], \[2, 2, 2\] on axis 1; only the "
     r"channels of equal maps"),
    (lambda rng: graph_model([node("Relu", ["x"], ["a"], "ra"), node("Relu", ["x"], ["b"], "rb"),
                              node("Concat", ["a", "b"], ["y"], "the_cat", axis=2)],
                             {}, ["N", 2, 4, 4], ["N", 2, 8, 4]),
     r"node 'the_cat' \(Concat\) concatenates \[2, 4, 4\], \[2, 4, 4\] on axis 2"),
    (lambda rng: graph_model([node("Transpose", ["x"], ["y"], "the_t", perm=[0, 1, 3, 2])],
                             {}, ["N", 2, 4, 4], ["N", 2, 4, 4]),
     r"node 'the_t' \(Transpose\) with perm \[0, 1, 3, 2\] is supported only inside a channel "
     r"shuffle"),
    (lambda rng: graph_model(
        [node("Reshape", ["x", "split"], ["s"], "split"),
         node("Relu", ["s"], ["y"], "the_relu")],
        {"split": np.array([0, 2, 2, 4, 4], np.int64)}, ["N", 4, 4, 4], ["N", 2, 2, 4, 4]),
     r"node 'the_relu' \(Relu\) reads 's', a step of a channel shuffle"),
    # batch norm after a conv whose output another node also reads: folding it would change
    # what the other node reads
    (lambda rng: graph_model(
        [node("Conv", ["x", "w"], ["c"], "conv", kernel_shape=[1, 1]),
         node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], "the_bn"),
         node("Add", ["n", "c"], ["y"], "add")],
        {"w": f32(rng, 2, 2, 1, 1), "s": f32(rng, 2), "b": f32(rng, 2), "m": f32(rng, 2),
         "v": np.ones(2, np.float32)}, ["N", 2, 4, 4], ["N", 2, 4, 4]),
     r"node 'the_bn' \(BatchNormalization\) does not follow a Conv or Gemm it can be folded "
     r"into"),
]


@pytest.mark.parametrize("build, message", BAD, ids=range(len(BAD)))
def test_unsupported_branching_is_one_line_naming_the_node(build, message):
    model = build(np.random.default_rng(38))
    with pytest.raises(ZeroskipError, match=r"^g.onnx: " + message) as caught:
        zonnx.from_proto(model, "g.onnx").network()
    assert "\n" not in str(caught.value)


# -- compress MODEL.onnx on a branching model ----------------------------------------------------
def run_cli(argv, capsys):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as done:
        status = done.code
    out, err = capsys.readouterr()
    return status, out, [line for line in err.splitlines()
                         if line.strip() and not line.startswith("[")]


def test_compress_a_branching_model_on_data_and_the_zsk_keeps_the_graph(tmp_path, capsys):
    """A Fire-module net compresses on its data (labels: its own predictions); the .zsk holds
    the graph (nodes named as in ONNX), rebuilt it scores what the report says, its weights are
    shared, and compiling it is one line naming the first node the array cannot place."""
    import json

    from zeroskip.models import modelfile

    rng = np.random.default_rng(39)
    model = fire_net(rng)
    onnx.save(model, tmp_path / "fire.onnx")
    x = rng.standard_normal((500, 3, 8, 8)).astype(np.float32)
    y = run_onnxruntime(model, x).argmax(axis=1)
    np.savez(tmp_path / "train.npz", x=x[:400], y=y[:400])
    np.savez(tmp_path / "test.npz", x=x[400:], y=y[400:])
    status, out, err = run_cli(
        ["compress", tmp_path / "fire.onnx", "--data", tmp_path / "train.npz", "--test",
         tmp_path / "test.npz", "--validation", "0", "--prune-steps", "1", "--prune-epochs", "1",
         "--finetune-epochs", "1", "-o", tmp_path / "fire.zsk", "--json", tmp_path / "r.json"],
        capsys)
    assert status == 0, err
    compressed = modelfile.load(tmp_path / "fire.zsk")
    net = compressed.to_network()
    assert isinstance(net, Graph)
    assert [node.name for node in net.nodes if node.layer.kind == "concat"] == ["fire_concat"]
    assert list(compressed.names) == ["stem", "squeeze", "expand1x1", "expand3x3", "fc"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert net.accuracy(x[400:], y[400:]) == report["accuracy_compressed"]
    for layer, shared_layer in zip(net.weighted(), compressed.layers):
        assert np.array_equal(layer.params["W"].reshape(len(shared_layer.codes), -1),
                              shared_layer.weights())
        assert len(np.unique(layer.params["W"])) <= len(shared_layer.codebook)
    status, _, err = run_cli(["compile", tmp_path / "fire.zsk", "-o", tmp_path / "prog"], capsys)
    assert status == 2 and len(err) == 1 and not (tmp_path / "prog").exists()
    # the graph lowers (tests/compiler/test_compile_graph.py); its 8-bit conv codes do not fit
    # the default 4-bit code format, and the one line says which layer and which flag
    assert re.search(r"fire\.zsk: layer 0 \(stem\): its codebook needs \d+ distinct weights .*"
                     r"try --code-bits \d+", err[0]), err[0]


@pytest.mark.parametrize("edit, message", [
    (lambda layers: layers[1].update(inputs=["nowhere"]), r"reads 'nowhere', which no earlier"),
    (lambda layers: layers[1].update(inputs=[["a"]]), r"a graph layer needs a node name"),
    (lambda layers: layers.insert(2, {"kind": "shuffle", "groups": 0, "node": "s",
                                      "inputs": ["a"]}), r"shuffle groups must be an integer"),
])
def test_bad_graphs_in_a_header_are_one_line(edit, message):
    from models_helpers import shared_model

    from zeroskip.models import modelfile

    compressed = shared_model(small_graph(np.random.default_rng(40)), k=3)
    edit(compressed.network["layers"])
    data, _ = modelfile.encode(compressed)
    with pytest.raises(ZeroskipError, match=r"^g.zsk: bad header \(.*" + message):
        modelfile.decode(data, "g.zsk")
