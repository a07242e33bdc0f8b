"""ONNX in and out (zeroskip.models.onnx): the imported float network computes what onnxruntime
computes on the same inputs; a weight-shared model compiles; a compressed model's export runs in
onnxruntime and imports back to the same program; bad files and graphs are one line naming the
file and the node."""

import dataclasses

import numpy as np
import onnx
import pytest
from models_helpers import shared_model
from onnx import helper
from onnx_helpers import conv_net, f32, graph_model, mlp, run_onnxruntime, shared, softmax

from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import predict
from zeroskip.models import modelfile, zoo
from zeroskip.models import onnx as zonnx
from zeroskip.models.interchange import MapInput, Pool, SharedConv, SharedLayer, load_model
from zeroskip.models.layers import (AvgPool2D, Conv2D, Flatten, FromNCHW, GlobalAvgPool,
                                    MaxPool2D, build_layer)

ARCH = PRESETS["small"]
# room for a whole LeNet-5 (11,520 conv1 outputs) on the small array's 4 PEs
LENET5_ARCH = dataclasses.replace(ARCH, act_depth=4096, sparse_depth=8192, ptr_depth=8192)


def relative_error(got, want) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def imported(model, name="m.onnx") -> zonnx.OnnxModel:
    return zonnx.from_proto(model, name)


# -- the float model against onnxruntime ---------------------------------------------------------
@pytest.mark.parametrize("variant", [
    {},                                                              # BN, view-reshape, Softmax
    {"bn": False, "view_reshape": False, "pool": "AveragePool"},
    {"softmax": False},
])
def test_conv_net_matches_onnxruntime(variant):
    rng = np.random.default_rng(1)
    model = conv_net(rng, **variant)
    x = rng.standard_normal((7, 3, 9, 9)).astype(np.float32)
    ours = imported(model).network().forward(x)
    if variant.get("softmax", True):
        ours = softmax(ours)                 # a final Softmax is dropped: the network gives logits
    assert relative_error(ours, run_onnxruntime(model, x)) <= 1e-5


def test_batch_norm_and_biases_are_folded_into_the_layers():
    model = imported(conv_net(np.random.default_rng(2)))
    assert [op.kind for op in model.ops] == ["conv", "relu", "maxpool", "conv", "relu",
                                             "flatten", "dense", "relu", "dense"]
    assert [op.name for op in model.ops if op.weight is not None] == \
        ["conv1", "conv2", "fc1", "fc2"]


def test_mlp_matches_onnxruntime():
    rng = np.random.default_rng(3)
    model = mlp(rng)
    x = rng.random((6, 784)).astype(np.float32)
    assert relative_error(imported(model).network().forward(x), run_onnxruntime(model, x)) <= 1e-5


def node(op, inputs, outputs, name, **attrs):
    return helper.make_node(op, inputs, outputs, name=name, **attrs)


WINDOWS = [
    # (op, attributes) on a [N, 3, 7, 6] map; each followed by Flatten and a Gemm
    ("Conv", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("Conv", {"kernel_shape": [2, 2], "strides": [1, 1], "pads": [2, 2, 2, 2]}),
    ("Conv", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"}),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1],
                     "count_include_pad": 1}),
    ("GlobalAveragePool", {}),
]


@pytest.mark.parametrize("op, attrs", WINDOWS, ids=[f"{op}{i}" for i, (op, _) in
                                                   enumerate(WINDOWS)])
def test_strides_pads_and_pools_match_onnxruntime(op, attrs):
    rng = np.random.default_rng(4)
    inits = {"w": f32(rng, 5, 3, attrs.get("kernel_shape", [1])[0],
                      attrs.get("kernel_shape", [1])[0])} if op == "Conv" else {}
    probe = graph_model([node(op, ["x", *inits], ["y"], "layer", **attrs)], inits,
                        ["N", 3, 7, 6], ["N", None, None, None])
    x = rng.standard_normal((4, 3, 7, 6)).astype(np.float32)
    size = run_onnxruntime(probe, x)[0].size
    inits["fc"] = f32(rng, size, 4)
    model = graph_model([node(op, ["x", *[k for k in inits if k != "fc"]], ["h"], "layer", **attrs),
                         node("Flatten", ["h"], ["f"], "flatten"),
                         node("MatMul", ["f", "fc"], ["y"], "fc")], inits, ["N", 3, 7, 6],
                        ["N", 4])
    assert relative_error(imported(model).network().forward(x), run_onnxruntime(model, x)) <= 1e-5


def test_flat_rows_reshaped_into_images():
    """An input [N, 48] reshaped to [N, 3, 4, 4] (how MNIST rows often enter a conv net) is
    taken as a map input."""
    rng = np.random.default_rng(5)
    inits = {"shape": np.array([-1, 3, 4, 4], np.int64), "w": f32(rng, 2, 3, 3, 3),
             "fc": f32(rng, 2, 8)}
    model = graph_model([node("Reshape", ["x", "shape"], ["m"], "to_images"),
                         node("Conv", ["m", "w"], ["c"], "conv", kernel_shape=[3, 3]),
                         node("Flatten", ["c"], ["f"], "flatten"),
                         node("Gemm", ["f", "fc"], ["y"], "fc", transB=1)],
                        inits, ["N", 48], ["N", 2])
    result = imported(model)
    assert result.input_shape == (3, 4, 4) and result.ops[0].kind == "conv"
    x = rng.standard_normal((3, 48)).astype(np.float32)
    assert relative_error(result.network().forward(x), run_onnxruntime(model, x)) <= 1e-5


# -- the numpy layers the import added -----------------------------------------------------------
def test_new_layers_backward_matches_finite_differences():
    from test_layers import check_layer_grads

    rng = np.random.default_rng(6)
    # values 0.1 apart: finite differences never cross a tie of the max pool
    spaced = rng.permutation(2 * 7 * 6 * 2).reshape(2, 7, 6, 2) * 0.1
    for stride, pad in ((2, 1), (1, 2), (2, 0)):
        conv = Conv2D(2, 3, 3, rng, stride=stride, pad=pad)
        conv.params["b"][...] = rng.standard_normal(3)
        check_layer_grads(conv, rng.standard_normal((2, 7, 6, 2)), rng)
        check_layer_grads(MaxPool2D(3, stride, min(pad, 2)), spaced, rng)
        for layer in (AvgPool2D(3, stride, min(pad, 2)),
                      AvgPool2D(3, stride, min(pad, 2), count_include_pad=True)):
            check_layer_grads(layer, rng.standard_normal((2, 7, 6, 2)), rng)
    for layer, shape in ((GlobalAvgPool(), (2, 5, 4, 3)), (FromNCHW((3, 4, 5)), (2, 60)),
                         (Flatten(channels_first=True), (2, 4, 5, 3))):
        check_layer_grads(layer, rng.standard_normal(shape), rng)


def test_specs_rebuild_the_new_layers_and_old_specs_still_load():
    for layer in (Conv2D(2, 3, 3, stride=2, pad=1), MaxPool2D(3, 2, 1), AvgPool2D(2, 2, 0, True),
                  GlobalAvgPool(), FromNCHW((1, 2, 3)), Flatten(channels_first=True)):
        assert build_layer(layer.spec()).spec() == layer.spec()
    # a file written before stride and pad existed: valid, stride 1, and the spec it had
    old = {"kind": "conv2d", "in_channels": 1, "out_channels": 2, "kernel": 3, "input_grad": True}
    conv = build_layer(old)
    assert (conv.stride, conv.pad) == (1, 0) and conv.spec() == old
    assert Flatten().spec() == {"kind": "flatten"}


# -- weight-shared models compile ----------------------------------------------------------------
def test_weight_shared_conv_net_compiles_and_computes_the_onnx_model():
    rng = np.random.default_rng(7)
    model = shared(conv_net(rng, bn=False, softmax=False), rng)
    layers = imported(model).array_layers()
    assert [type(layer) for layer in layers] == [MapInput, SharedConv, Pool, SharedConv,
                                                 SharedLayer, SharedLayer]
    assert [layer.act for layer in layers[1:]] == ["relu", "none", "relu", "relu", "none"]
    assert (layers[3].stride, layers[3].pad) == (2, 1)
    x = rng.uniform(0, 1, (5, 3, 9, 9)).astype(np.float32)
    maps = x.transpose(0, 2, 3, 1).reshape(len(x), -1)        # NCHW → (y·W + x)·C + c
    program = compile_layers(layers, ARCH, calibration=maps)
    want = run_onnxruntime(model, x)
    assert np.abs(predict(program, maps) - want).max() < 0.03 * np.abs(want).max()


def test_codebook_is_zero_then_the_distinct_values():
    rng = np.random.default_rng(8)
    model = mlp(rng, (20, 8, 3), shared_bits=3, density=0.5)
    for layer, tensor in zip(imported(model).array_layers(), ("w0", "w1")):
        w = onnx.numpy_helper.to_array(next(t for t in model.graph.initializer
                                            if t.name == tensor))
        assert layer.codebook[0] == 0.0 and np.array_equal(layer.codebook[1:],
                                                           np.unique(w[w != 0]))
        assert np.array_equal(layer.codebook[layer.codes], w)      # Gemm transB=1: [out, in]


def test_dense_weights_are_not_weight_shared(tmp_path):
    path = tmp_path / "dense.onnx"
    path.write_bytes(mlp(np.random.default_rng(9), (784, 300, 10)).SerializeToString())
    with pytest.raises(ZeroskipError, match=r"dense.onnx: node 'fc1': its weights have \d+ "
                                            "distinct values, not weight-shared"):
        load_model(path)


# -- export → onnxruntime, export → import → compile -----------------------------------
def program_fields(program):
    meta = {k: v for k, v in program.meta.items() if k != "source"}
    meta["compiler"] = {k: v for k, v in meta["compiler"].items() if k != "seconds"}
    return program.layers, program.passes, meta, program.output_index


@pytest.mark.parametrize("name, arch", [("lenet300", ARCH), ("lenet5", LENET5_ARCH)])
def test_export_runs_in_onnxruntime_and_compiles_to_the_same_program(name, arch, tmp_path):
    compressed = shared_model(zoo.build(name), k=15, density=0.1, index_bits=4, seed=1)
    zsk, exported = tmp_path / f"{name}.zsk", tmp_path / f"{name}.onnx"
    modelfile.save(zsk, compressed)
    exported.write_bytes(zonnx.export(load_model(zsk)))
    x = np.random.default_rng(10).random((6, 784)).astype(np.float32)
    onnx_input = x if name == "lenet300" else x.reshape(-1, 1, 28, 28)
    want = compressed.to_network().forward(x)
    assert relative_error(run_onnxruntime(exported.read_bytes(), onnx_input), want) <= 1e-5
    assert relative_error(zonnx.load(exported).network().forward(onnx_input), want) <= 1e-5
    direct = compile_layers(load_model(zsk), arch, calibration=x)
    through_onnx = compile_layers(load_model(exported), arch, calibration=x)
    for image in ("sparse", "ptr", "bias", "codebook"):
        assert np.array_equal(getattr(direct, image), getattr(through_onnx, image)), image
    assert program_fields(direct) == program_fields(through_onnx)


def test_export_stores_the_codebook_so_unused_entries_survive(tmp_path):
    """A codebook entry no weight uses (or two equal ones) cannot be seen in the float weights:
    the stored codebook brings it back, so the import's codes are the model's codes."""
    rng = np.random.default_rng(11)
    book = np.array([0.0, 0.25, -0.5, 0.75, 0.1], np.float32)        # 0.1 unused
    codes = rng.integers(0, 4, (6, 9)).astype(np.uint8)
    layers = [SharedLayer(book, codes, f32(rng, 6), "relu", name="fc1"),
              SharedLayer(book[:4].copy(), rng.integers(0, 4, (2, 6)).astype(np.uint8),
                          f32(rng, 2), "none", name="fc2")]
    back = zonnx.from_proto(onnx.load_model_from_string(zonnx.export(layers)), "m.onnx")
    for before, after in zip(layers, back.array_layers()):
        assert np.array_equal(after.codebook, before.codebook)
        assert np.array_equal(after.codes, before.codes) and after.name == before.name


def test_export_of_a_conv_model_flattens_in_onnx_order():
    """The FC layer after the map reads ONNX's (c, y, x) rows: onnxruntime on NCHW images equals
    the compiler's layers on (y, x, c) map vectors."""
    rng = np.random.default_rng(12)
    book = np.concatenate([[0.0], rng.uniform(-0.5, 0.5, 7)]).astype(np.float32)
    conv = SharedConv(book, rng.integers(0, 8, (3, 2 * 4)).astype(np.uint8), f32(rng, 3),
                      "relu", 2, 1, 0, name="conv1")
    fc = SharedLayer(book, rng.integers(0, 8, (4, 3 * 3 * 4)).astype(np.uint8), f32(rng, 4),
                     "none", name="fc1")
    layers = [MapInput(4, 5, 2), conv, fc]
    x = rng.standard_normal((3, 2, 4, 5)).astype(np.float32)
    maps = x.transpose(0, 2, 3, 1)                               # [n, H, W, C]
    w = book[conv.codes].reshape(3, 2, 2, 2)
    y = np.stack([np.einsum("nhwc,oc->nhwo", maps[:, i:i + 3, j:j + 4], w[:, :, i, j])
                  for i in range(2) for j in range(2)]).sum(axis=0) + conv.bias
    want = np.maximum(y, 0).reshape(3, -1) @ book[fc.codes].T + fc.bias   # (y, x, c) columns
    got = run_onnxruntime(zonnx.export(layers), x)
    assert relative_error(got, want) <= 1e-5


# -- bad input ---------------------------------------------------------------------------------
def write(tmp_path, model, name="bad.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString() if hasattr(model, "SerializeToString") else model)
    return path


def one_op(op, attrs=None, inits=None, inputs=None, input_dims=("N", 3, 6, 6)):
    inits = inits or {}
    return graph_model([node(op, inputs or ["x", *inits], ["y"], "the_node", **(attrs or {}))],
                       inits, input_dims, ["N", None, None, None])


BAD_GRAPHS = [
    (lambda rng: one_op("Sigmoid"), r"node 'the_node' \(Sigmoid\) is not supported$"),
    (lambda rng: one_op("Conv", {"kernel_shape": [3, 3], "group": 2},
                        {"w": f32(rng, 4, 1, 3, 3)}),
     r"node 'the_node' \(Conv\) with group 2 does not divide its 3 input channels$"),
    (lambda rng: one_op("Conv", {"kernel_shape": [3, 3], "dilations": [2, 2]},
                        {"w": f32(rng, 2, 3, 3, 3)}),
     r"node 'the_node' \(Conv\) with dilations \[2, 2\] is not supported"),
    (lambda rng: one_op("Conv", {"kernel_shape": [3, 3], "pads": [1, 0, 1, 0]},
                        {"w": f32(rng, 2, 3, 3, 3)}),
     r"node 'the_node' \(Conv\) with pads \[1, 0, 1, 0\] is not supported"),
    (lambda rng: one_op("Add", inits={"c": f32(rng, 3, 1, 1)}),
     r"node 'the_node' \(Add\) is not supported \(only a constant bias"),
    (lambda rng: one_op("Relu", input_dims=("N", 3, "H", "W")),
     r"input 'x' has a dynamic dimension 'H' at axis 2"),
    (lambda rng: graph_model([node("Softmax", ["x"], ["s"], "soft", axis=1),
                              node("Relu", ["s"], ["y"], "after")], {}, ["N", 5], ["N", 5]),
     r"node 'after' \(Relu\) follows Softmax 'soft'"),
    (lambda rng: graph_model([node("Relu", ["x"], ["a"], "r1"), node("Relu", ["x"], ["b"], "r2"),
                              node("Sum", ["a", "b"], ["y"], "join")], {}, ["N", 5], ["N", 5]),
     r"node 'join' \(Sum\) is not supported$"),
    (lambda rng: graph_model([node("Relu", ["x"], ["r"], "relu"),
                              node("Reshape", ["r", "x"], ["y"], "reshape")],
                             {}, ["N", 4], ["N", 4]),
     r"node 'reshape' \(Reshape\) takes no activation or several"),
    (lambda rng: graph_model([node("Reshape", ["x", "shape"], ["y"], "reshape")],
                             {"shape": np.array([0, -1, -1], np.int64)}, ["N", 4], ["N", 2, 2]),
     r"node 'reshape' \(Reshape\) reshapes to \[0, -1, -1\], which it cannot resolve"),
    (lambda rng: graph_model([node("Gemm", ["x", "w"], ["y"], "fc", transB=1)],
                             {"w": f32(rng, 3, 7)}, ["N", 5], ["N", 3]),
     r"node 'fc' \(Gemm\) has a weight of shape \[3, 7\] for 5 inputs"),
    (lambda rng: graph_model([node("Relu", ["x"], ["y"], "relu")], {}, ["N", 5], ["N", 5]),
     r"the graph has no Conv, Gemm or MatMul layer"),
]


@pytest.mark.parametrize("build, message", BAD_GRAPHS, ids=range(len(BAD_GRAPHS)))
def test_bad_graphs_are_one_line_naming_the_node(build, message, tmp_path):
    path = write(tmp_path, build(np.random.default_rng(13)))
    with pytest.raises(ZeroskipError, match=message) as caught:
        zonnx.load(path).network()
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_truncated_and_damaged_files_are_one_line(tmp_path):
    rng = np.random.default_rng(14)
    data = conv_net(rng).SerializeToString()
    cuts = sorted(set(rng.integers(1, len(data), 40).tolist()) | {1, len(data) - 1})
    for cut in cuts:
        path = write(tmp_path, data[:cut], f"cut{cut}.onnx")
        with pytest.raises(ZeroskipError, match=rf"cut{cut}.onnx: "):
            load_model(path)
    for flip in rng.integers(0, len(data), 60):
        damaged = bytearray(data)
        damaged[flip] ^= 0xFF
        path = write(tmp_path, bytes(damaged), "flip.onnx")
        try:
            zonnx.load(path).network()
        except ZeroskipError as error:                 # a flip may also leave a valid model
            assert str(error).startswith(f"{path}: ") and "\n" not in str(error)


def test_weights_in_an_external_data_file_beside_the_model(tmp_path):
    """torch.onnx.export's default: the weights in MODEL.onnx.data next to MODEL.onnx."""
    rng = np.random.default_rng(16)
    model = mlp(rng, (30, 8, 4))
    x = rng.random((3, 30)).astype(np.float32)
    want = run_onnxruntime(model, x)
    onnx.save_model(model, tmp_path / "m.onnx", save_as_external_data=True,
                    location="m.onnx.data", size_threshold=0)
    assert (tmp_path / "m.onnx.data").stat().st_size > 4 * 30 * 8
    got = zonnx.load(tmp_path / "m.onnx").network().forward(x)
    assert relative_error(got, want) <= 1e-5
    for tensor in model.graph.initializer:    # (saving made them external) now outside the folder
        assert tensor.data_location == onnx.TensorProto.EXTERNAL
        next(e for e in tensor.external_data if e.key == "location").value = "../elsewhere.data"
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", model, "escape.onnx")
    with pytest.raises(ZeroskipError, match=r"escape.onnx: weight 'w0' is stored in "
                                            r"'../elsewhere.data', which is not a file beside"):
        zonnx.load(path)


def test_foreign_files_are_not_onnx(tmp_path):
    (tmp_path / "notes.onnx").write_text("hello, not a model\n")
    with pytest.raises(ZeroskipError, match=r"notes.onnx: not an ONNX model"):
        load_model(tmp_path / "notes.onnx")
    (tmp_path / "junk.bin").write_bytes(b"\x01\x02junk")
    with pytest.raises(ZeroskipError, match=r"junk.bin: neither .* nor an ONNX model"):
        load_model(tmp_path / "junk.bin")


def test_onnx_is_sniffed_from_the_content(tmp_path):
    """An ONNX model under another name is still read as ONNX, and a .zsk named .onnx as .zsk."""
    rng = np.random.default_rng(15)
    path = write(tmp_path, mlp(rng, (10, 4), shared_bits=2), "model.bin")
    assert [layer.shape for layer in load_model(path)] == [(4, 10)]
    modelfile.save(tmp_path / "really_zsk.onnx", shared_model(zoo.build("lenet300"), k=3))
    assert len(load_model(tmp_path / "really_zsk.onnx")) == 3
