"""Branching graphs through the compiler (compiler/graph.py, docs/conv.md "Graphs"): Fire
modules, ShuffleNet units (stride 1 and 2) and a MobileNetV2 bottleneck compute what the float
graph computes, the simulator equals the reference bit for bit, the fusions are the ones the
docs describe, and what cannot be placed is one line naming the node or layer."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler.flow import compile, compile_file
from zeroskip.compiler.graph import GRAPH_KINDS, example_graph, random_graph_program
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS, with_overrides
from zeroskip.hw.reference import predict, predict_int, quantize_input
from zeroskip.models.layers import Add, AvgPool2D, Concat, Conv2D, MaxPool2D, ReLU, Reshape
from zeroskip.models.network import Graph, Node
from zeroskip.sim.simulator import simulate

ARCH = PRESETS["small"]
SIZE, CHANNELS = 6, 4


def float_outputs(graph, x):
    return graph.forward(x.reshape(len(x), SIZE, SIZE, CHANNELS)).reshape(len(x), -1)


def check_program(program, graph, x):
    """Outputs within the fixed point's precision of the float graph; sim == reference."""
    want = float_outputs(graph, x)
    got = predict(program, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max() + 0.01
    sim = simulate(program, x)
    assert np.array_equal(sim.outputs_int, predict_int(program, quantize_input(program, x)))
    return sim


@pytest.mark.parametrize("kind", GRAPH_KINDS)
@pytest.mark.parametrize("classes", [3, None])
def test_graphs_compute_the_float_graph(kind, classes):
    program, x, graph = random_graph_program(ARCH, 5, kind, width=4, classes=classes)
    check_program(program, graph, x)


def test_fire_expands_in_one_3x3_layer_and_shufflenet_pools_its_shortcut_with_the_depthwise():
    fire, _, _ = random_graph_program(ARCH, 1, "fire", width=4)
    names = [layer.name for layer in fire.layers]
    assert names == ["stem", "squeeze", "expand1x1+expand3x3", "gap", "fc"]
    expand = fire.layers[2]
    assert (expand.kernel, expand.out_channels) == (3, 8)
    # the 1x1 rows have entries at the centre tap only
    codes = fire.decoded.weights(2).reshape(8, 9, -1)
    assert not codes[:4, [0, 1, 2, 3, 5, 6, 7, 8]].any() and codes[:4, 4].any()
    assert codes[4:, [0, 1, 2, 3, 5, 6, 7, 8]].any()
    unit, _, _ = random_graph_program(ARCH, 1, "shuffle2", width=4)
    assert [layer.name for layer in unit.layers][:4] == ["stem", "gconv1", "depthwise+shortcut",
                                                        "gconv2"]
    stride1, _, _ = random_graph_program(ARCH, 1, "shuffle", width=4)
    # the add folds into gconv2: [W | I] over the depthwise output and the carried shortcut
    assert [layer.name for layer in stride1.layers][:4] == ["stem", "gconv1", "depthwise", "add"]


def test_the_shuffle_is_folded_not_dropped():
    """The same unit without its shuffle computes something else, and the program follows the
    graph that shuffles."""
    program, x, graph = random_graph_program(ARCH, 2, "shuffle", width=4, classes=None)
    plain = Graph("plain", [dataclasses.replace(n, inputs=("gconv1_relu",))
                            if n.name == "depthwise" else n for n in graph.nodes
                            if n.name != "shuffle"])
    want, other = float_outputs(graph, x), float_outputs(plain, x)
    assert np.abs(want - other).max() > 0.1 * np.abs(want).max()
    check_program(program, graph, x)


def test_a_shortcut_that_may_be_negative_crosses_relu_layers_as_two_halves():
    """A shortcut (no ReLU) read back by the layer after next's reader cannot rest in its
    bank (the banks alternate): it crosses the ReLU layer between as relu(x) and relu(−x), two
    carried rows per channel."""
    rng = np.random.default_rng(3)
    graph = Graph("short", [Node("image", Reshape((SIZE, SIZE, CHANNELS)), ("input",)),
                            Node("stem", conv(rng, 4, 4, 1), ("image",)),
                            Node("expand", conv(rng, 4, 8, 1), ("stem",)),
                            Node("expand_relu", ReLU(), ("expand",)),
                            Node("project", conv(rng, 8, 4, 1), ("expand_relu",)),
                            Node("add", Add(), ("project", "stem"))])
    x = rng.uniform(-1, 1, (8, SIZE * SIZE * CHANNELS))
    program = compile(graph, ARCH, calibration=x)
    assert [layer.name for layer in program.layers] == ["stem", "expand", "add"]
    expand = program.layers[1]
    assert expand.relu and expand.out_channels == 8 + 2 * 4
    check_program(program, graph, x)


def test_a_shortcut_rests_in_its_bank_while_two_layers_run():
    """A MobileNetV2 bottleneck's shortcut and a ShuffleNet unit's stay where the stem wrote
    them: the next layer reads them without carrying them, the depthwise layer writes beside
    them in the same bank (its ``channel_base``, the map's stride widened for both), and the
    add reads both at once. No carried row, no half."""
    for kind, mid in (("bottleneck", 8), ("shuffle", 4)):
        program, x, graph = random_graph_program(ARCH, 3, kind, width=4)
        stem, first, depthwise, add = program.layers[:4]
        assert (first.out_channels, depthwise.out_channels) == (mid, mid)       # nothing carried
        assert depthwise.channel_base == stem.out_channels == 4
        assert stem.out_stride == first.in_stride == depthwise.out_stride == add.in_stride == 4 + mid
        assert add.name == "add" and add.in_channels == 4 + mid
        assert stem.out_frac == depthwise.out_frac                  # one map, one scale
        check_program(program, graph, x)


def conv(rng, cin, cout, k, stride=1, pad=0, values=3):
    layer = Conv2D(cin, cout, k, stride=stride, pad=pad)
    book = rng.uniform(-0.5, 0.5, values)
    layer.params["W"][...] = book[rng.integers(0, values, layer.params["W"].shape)]
    return layer


def test_bad_graphs_are_one_line_naming_the_node_or_layer():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, SIZE * SIZE * CHANNELS))
    # two strided windows over one map at once: the array reads one map per layer
    two_windows = Graph("two", [Node("a", conv(rng, 4, 4, 3, 2, 1), ("input",)),
                                Node("b", MaxPool2D(2, 2), ("input",)),
                                Node("cat", Concat(), ("a", "b"))])
    with pytest.raises(ZeroskipError, match=r"^node 'a': needs a 3x3 stride-2 window while "
                                            r"other branches' values must be kept"):
        compile(two_windows, ARCH, calibration=x, input_shape=(SIZE, SIZE, CHANNELS))
    # merged codebooks beyond code_bits: the layer and the flag
    wide = Graph("wide", [Node("a", conv(rng, 4, 4, 1, values=9), ("input",)),
                          Node("b", conv(rng, 4, 4, 3, pad=1, values=9), ("input",)),
                          Node("cat", Concat(), ("a", "b"))])
    with pytest.raises(ZeroskipError, match=r"^layer 0 \(a\+b\): its codebook needs 1\d distinct "
                                            r"weights \(its nodes', carries' and pools' together\), "
                                            r"more than code_bits 4 holds \(15\); try --code-bits 5"):
        compile(wide, ARCH, calibration=x, input_shape=(SIZE, SIZE, CHANNELS))
    # average pooling that leaves the padding out
    pool = Graph("pool", [Node("p", AvgPool2D(3, 1, 1), ("input",)), Node("r", ReLU(), ("p",))])
    with pytest.raises(ZeroskipError, match=r"^node 'p' \(avgpool\): pads and leaves the padding"):
        compile(pool, ARCH, calibration=x, input_shape=(SIZE, SIZE, CHANNELS))
    with pytest.raises(ZeroskipError, match=r"input map's shape is unknown"):
        compile(pool, ARCH, calibration=x)
    # a map too large for the banks beside a value resting there is not tiled over space
    # (docs/conv.md "Spatial tiling"): the layer and the memory
    with pytest.raises(ZeroskipError, match=r"^layer 0 \(stem\): 1152 outputs exceed the "
                                            r"array's act_depth x pes = 1024; try --act-depth 288"
                                            r".*resting in its bank"):
        random_graph_program(ARCH, 0, "shuffle", width=16)


def test_carried_values_tile_over_space():
    """The stride-2 ShuffleNet unit 16 channels wide: its first layers' maps, carried shortcut
    included, exceed the banks and are tiled over space; the outputs are the untiled graph's."""
    from zeroskip.hw.tiled import TiledProgram

    tiled, x, graph = random_graph_program(ARCH, 0, "shuffle2", width=16)
    assert isinstance(tiled, TiledProgram)
    full = compile(graph, with_overrides(ARCH, act_depth=8192), calibration=x,
                   input_shape=(SIZE, SIZE, CHANNELS))
    xq = quantize_input(full, x)
    got = tiled.run(xq, lambda name, program, q: (predict_int(program, q), None))[0]
    assert np.array_equal(got, predict_int(full, xq))


def test_a_branching_zsk_compiles_from_the_file_and_the_command_line(tmp_path, capsys):
    from zeroskip.cli import main
    from zeroskip.models import modelfile

    rng = np.random.default_rng(4)
    graph = example_graph("fire", rng, width=4)
    books, codes = [], []
    for layer in graph.weighted():
        w = layer.params["W"].astype(np.float32)
        book = np.concatenate([[0.0], np.unique(w[w != 0])]).astype(np.float32)
        books.append(book)
        codes.append(np.searchsorted(book, w))
    model = modelfile.from_network(graph, books, codes, [4] * len(books))
    modelfile.save(tmp_path / "fire.zsk", model)
    x = rng.uniform(-1, 1, (4, SIZE * SIZE * CHANNELS))
    program = compile_file(str(tmp_path / "fire.zsk"), ARCH, calibration=x)
    check_program(program, model.to_network(), x)
    np.save(tmp_path / "calib.npy", x)
    status = main(["compile", str(tmp_path / "fire.zsk"), "--calibration",
                   str(tmp_path / "calib.npy"), "-o", str(tmp_path / "prog"), "--quiet"])
    assert status in (0, None) and (tmp_path / "prog" / "manifest.json").exists()
    # a codebook the architecture cannot hold: one line naming the file and the layer, exit 2
    status = main(["compile", str(tmp_path / "fire.zsk"), "--code-bits", "2", "--run-bits", "6",
                   "-o", str(tmp_path / "small-codes")])
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.strip() and not line.startswith("[")]
    assert status == 2 and len(err) == 1 and not (tmp_path / "small-codes").exists()
    assert err[0].startswith(f"zeroskip compile: error: {tmp_path / 'fire.zsk'}: layer "), err[0]


def onnx_helpers():
    """tests/models' ONNX model builders (Fire, residual, ShuffleNet as ONNX graphs)."""
    import importlib
    import sys
    from pathlib import Path

    folder = str(Path(__file__).resolve().parents[1] / "models")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("onnx_helpers")


@pytest.mark.parametrize("name", ["fire", "residual", "shuffle"])
def test_branching_onnx_models_compile_on_the_command_line(name, tmp_path, capsys):
    """``zeroskip compile`` on a weight-shared branching ONNX model: the program computes what
    onnxruntime computes (NCHW in; the program reads (y, x, c)), the simulator equals the
    reference. Fire's fused expands need 5-bit codes (two 4-bit codebooks)."""
    import onnx

    from zeroskip.cli import main
    from zeroskip.hw.program import load_program

    helpers = onnx_helpers()
    build, shape = {"fire": (helpers.fire_net, (3, 8, 8)),
                    "residual": (lambda rng: helpers.residual_net(rng, bn=False), (4, 6, 6)),
                    "shuffle": (lambda rng: helpers.shuffle_net(rng, 2), (4, 6, 6))}[name]
    rng = np.random.default_rng(37)
    model = helpers.shared(build(rng), rng)
    onnx.save(model, tmp_path / "m.onnx")
    x = rng.standard_normal((6, *shape)).astype(np.float32)
    rows = x.transpose(0, 2, 3, 1).reshape(len(x), -1)
    np.save(tmp_path / "calib.npy", rows)
    status = main(["compile", str(tmp_path / "m.onnx"), "--calibration", str(tmp_path / "calib.npy"),
                   "--code-bits", "5", "--run-bits", "3", "--act-depth", "1024",
                   "-o", str(tmp_path / "prog"), "--quiet"])
    assert status in (0, None), capsys.readouterr().err
    program = load_program(str(tmp_path / "prog"))
    assert program.meta["source"] == str(tmp_path / "m.onnx")
    want = helpers.run_onnxruntime(model, x).reshape(len(x), -1)
    got = predict(program, rows)
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max() + 0.01
    sim = simulate(program, rows)
    assert np.array_equal(sim.outputs_int, predict_int(program, quantize_input(program, rows)))


def test_a_residual_between_fully_connected_layers_folds_into_one():
    """Rows too: ``c(b(relu(a(x))) + relu(a(x)))``: the add folds into b's FC layer, [W | I]."""
    from zeroskip.models.layers import Add, Dense

    rng = np.random.default_rng(6)

    def dense(n_in, n_out):
        layer = Dense(n_in, n_out)
        book = rng.uniform(-0.5, 0.5, 3)
        layer.params["W"][...] = book[rng.integers(0, 3, (n_out, n_in))]
        return layer

    graph = Graph("rows", [Node("a", dense(8, 6), ("input",)), Node("ar", ReLU(), ("a",)),
                           Node("b", dense(6, 6), ("ar",)), Node("sum", Add(), ("b", "ar")),
                           Node("c", dense(6, 3), ("sum",))])
    x = rng.uniform(-1, 1, (4, 8))
    program = compile(graph, ARCH, calibration=x, input_shape=(8,))
    assert [layer.name for layer in program.layers] == ["a", "sum", "c"]
    want = graph.forward(x)
    assert np.abs(predict(program, x) - want).max() < 0.02 * np.abs(want).max() + 0.01
    sim = simulate(program, x)
    assert np.array_equal(sim.outputs_int, predict_int(program, quantize_input(program, x)))


def test_a_shufflenet_unit_on_the_gateware_under_amaranth():
    """The Amaranth rung: a ShuffleNet unit's program (shuffle, carries, the folded add) on the
    whole array under Amaranth's simulator, loaded over the bus: outputs == the reference's,
    cycles == the simulator's, input by input."""
    from zeroskip.ladder import compare, run

    tiny = dataclasses.replace(ARCH, name="graph-tiny", pes=4, fifo_depth=2, act_depth=64,
                               acc_depth=2, sparse_depth=128, ptr_depth=256, bias_depth=64,
                               max_layers=4, max_passes=24)
    program, x, _ = random_graph_program(tiny, 3, "shuffle", size=3, channels=2, width=4,
                                         classes=None, batch=2)
    assert [layer.name for layer in program.layers] == ["stem", "gconv1", "depthwise", "add"]
    xq = quantize_input(program, x)
    checks = compare(run("reference", program, xq), run("amaranth", program, xq),
                     run("sim", program, xq))
    assert len(checks) == 2 and all(check.ok for check in checks), checks
