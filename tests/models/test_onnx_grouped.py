"""Grouped and depthwise convolutions (ONNX Conv ``group`` > 1): the numpy layer's gradients, the
import against onnxruntime, the .zsk spec, the export, and a weight-shared grouped net compiled
and run on the array (the simulator equals the fixed-point reference)."""

import numpy as np
import onnx
import pytest
from models_helpers import shared_model
from onnx import helper
from onnx_helpers import f32, graph_model, run_onnxruntime, shared
from test_layers import check_layer_grads

from zeroskip.compiler import compile_layers
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import predict, predict_int, quantize_input
from zeroskip.models import modelfile
from zeroskip.models import onnx as zonnx
from zeroskip.models.interchange import MapInput, SharedConv, SharedLayer, load_model
from zeroskip.models.layers import Conv2D, Dense, Flatten, FromNCHW, ReLU, build_layer
from zeroskip.models.network import Network
from zeroskip.sim.simulator import simulate

ARCH = PRESETS["small"]


def relative_error(got, want) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def loop_conv(x, w, b, stride, pad, groups):
    """x [n, H, W, C] NHWC, w [out, C / groups, k, k]: a grouped conv by plain loops."""
    n, h, wd, c = x.shape
    out, per, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    y = np.zeros((n, oh, ow, out))
    for o in range(out):
        first = o // (out // groups) * per
        for oy in range(oh):
            for ox in range(ow):
                patch = xp[:, oy * stride:oy * stride + k, ox * stride:ox * stride + k,
                           first:first + per]                       # [n, k, k, per]
                y[:, oy, ox, o] = np.einsum("nijc,cij->n", patch, w[o]) + b[o]
    return y


@pytest.mark.parametrize("groups, c, out, stride, pad", [(2, 4, 6, 1, 1), (3, 3, 3, 2, 1),
                                                         (4, 8, 4, 1, 0)])
def test_grouped_conv_forward_and_gradients(groups, c, out, stride, pad):
    rng = np.random.default_rng(groups)
    conv = Conv2D(c, out, 3, rng, stride=stride, pad=pad, groups=groups)
    assert conv.params["W"].shape == (out, c // groups, 3, 3)
    conv.params["b"][...] = rng.standard_normal(out)
    x = rng.standard_normal((2, 6, 5, c)).astype(np.float32)
    want = loop_conv(x, conv.params["W"], conv.params["b"], stride, pad, groups)
    np.testing.assert_allclose(conv.forward(x), want, rtol=1e-5, atol=1e-5)
    check_layer_grads(conv, x, rng)


def test_groups_in_the_spec_only_when_not_one():
    assert "groups" not in Conv2D(4, 4, 3).spec()
    spec = Conv2D(4, 6, 3, groups=2, stride=2, pad=1).spec()
    assert spec["groups"] == 2 and build_layer(spec).spec() == spec
    assert build_layer(spec).params["W"].shape == (6, 2, 3, 3)
    with pytest.raises(ValueError, match="3 groups do not divide 4 input"):
        Conv2D(4, 6, 3, groups=3)


def grouped_net(rng, group1=2, group2=6):
    """[N, 4, 8, 8] → Conv 6@3x3 group ``group1`` pad 1 → Relu → depthwise Conv 3x3 stride 2
    (group ``group2``) → Relu → Conv 1x1 → Flatten → Gemm 5."""
    inits = {"w1": f32(rng, 6, 4 // group1, 3, 3), "b1": f32(rng, 6),
             "w2": f32(rng, 6, 6 // group2, 3, 3), "b2": f32(rng, 6),
             "w3": f32(rng, 4, 6, 1, 1), "b3": f32(rng, 4),
             "w4": f32(rng, 5, 4 * 4 * 4), "b4": f32(rng, 5)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1",
                              kernel_shape=[3, 3], pads=[1] * 4, group=group1),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw2",
                              kernel_shape=[3, 3], pads=[1] * 4, strides=[2, 2], group=group2),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="pw3",
                              kernel_shape=[1, 1]),
             helper.make_node("Flatten", ["c3"], ["f"], name="flatten", axis=1),
             helper.make_node("Gemm", ["f", "w4", "b4"], ["y"], name="fc", transB=1)]
    return graph_model(nodes, inits, ["N", 4, 8, 8], ["N", 5])


def test_grouped_and_depthwise_import_matches_onnxruntime():
    rng = np.random.default_rng(20)
    model = grouped_net(rng)
    x = rng.standard_normal((5, 4, 8, 8)).astype(np.float32)
    net = zonnx.from_proto(model, "g.onnx").network()
    assert [layer.groups for layer in net.layers if isinstance(layer, Conv2D)] == [2, 6, 1]
    assert relative_error(net.forward(x), run_onnxruntime(model, x)) <= 1e-5


def test_weight_shared_grouped_net_compiles_and_the_simulator_equals_the_reference():
    rng = np.random.default_rng(21)
    model = shared(grouped_net(rng), rng, bits=4, density=0.7)
    layers = zonnx.from_proto(model, "g.onnx").array_layers()
    assert [getattr(layer, "groups", None) for layer in layers] == [None, 2, 6, 1, None]
    assert layers[2].codes.shape == (6, 1 * 3 * 3)          # depthwise: one channel per row
    x = rng.uniform(0, 1, (4, 4, 8, 8)).astype(np.float32)
    maps = x.transpose(0, 2, 3, 1).reshape(len(x), -1)
    program = compile_layers(layers, ARCH, calibration=maps)
    want = run_onnxruntime(model, x)
    assert np.abs(predict(program, maps) - want).max() < 0.03 * np.abs(want).max()
    sim = simulate(program, maps)
    assert np.array_equal(sim.outputs_int, predict_int(program, quantize_input(program, maps)))


def test_grouped_conv_round_trips_through_zsk_and_export(tmp_path):
    """A .zsk keeps ``groups``, its array layers carry it, the export writes ``group`` and
    onnxruntime computes the compressed network."""
    rng = np.random.default_rng(22)
    net = Network("grouped", [FromNCHW((4, 6, 6)),
                              Conv2D(4, 6, 3, rng, input_grad=False, groups=2), ReLU(),
                              Conv2D(6, 6, 3, rng, groups=6, stride=2, pad=1), ReLU(),
                              Flatten(channels_first=True),
                              Dense(
                                  6 * 2 * 2, 3, rng)])
    compressed = shared_model(net, k=7, density=0.6, index_bits=3)
    path = tmp_path / "g.zsk"
    modelfile.save(path, compressed)
    back = modelfile.load(path)
    assert back.network == compressed.network
    layers = load_model(path)
    assert [type(layer) for layer in layers] == [MapInput, SharedConv, SharedConv, SharedLayer]
    assert [layers[1].groups, layers[2].groups] == [2, 6]
    exported = zonnx.export(layers)
    groups = [a.i for n in onnx.load_model_from_string(exported).graph.node
              for a in n.attribute if a.name == "group"]
    assert groups == [2, 6]
    x = rng.standard_normal((3, 4, 6, 6)).astype(np.float32)
    want = back.to_network().forward(x)
    assert relative_error(run_onnxruntime(exported, x), want) <= 1e-5


@pytest.mark.parametrize("edit, message", [
    ({"groups": 3}, "groups must be a positive integer dividing"),
    ({"groups": 0}, "groups must be a positive integer dividing"),
    ({"groups": "2"}, "groups must be a positive integer dividing"),
])
def test_bad_groups_in_a_header_are_one_line(edit, message, tmp_path):
    from zeroskip.errors import ZeroskipError

    rng = np.random.default_rng(23)
    net = Network("g", [FromNCHW((4, 5, 5)), Conv2D(4, 4, 3, rng, groups=2), Flatten(),
                        Dense(36, 2, rng)])
    compressed = shared_model(net, k=3)
    compressed.network["layers"][1].update(edit)
    data, _ = modelfile.encode(compressed)
    with pytest.raises(ZeroskipError, match=rf"g.zsk: bad header \(network layer 1 \(conv2d\): "
                                            rf"{message}"):
        modelfile.decode(data, "g.zsk")


def test_a_group_that_does_not_divide_the_channels_is_one_line(tmp_path):
    from zeroskip.errors import ZeroskipError

    rng = np.random.default_rng(24)
    model = graph_model([helper.make_node("Conv", ["x", "w"], ["y"], name="the_node",
                                          kernel_shape=[3, 3], group=2)],
                        {"w": f32(rng, 4, 1, 3, 3)}, ["N", 3, 6, 6], ["N", 4, 4, 4])
    with pytest.raises(ZeroskipError, match=r"^g.onnx: node 'the_node' \(Conv\) with group 2 does "
                                            r"not divide its 3 input channels$"):
        zonnx.from_proto(model, "g.onnx")
