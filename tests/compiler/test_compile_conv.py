"""Conv models through the compiler (docs/conv.md): the program computes what a plain float
convolution computes (to the fixed-point's precision), the flattened map reaches the FC layer
where it lies, max pooling is exact, and what cannot be lowered is one line naming the layer."""

import dataclasses
import types

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.compiler.conv import random_conv_program
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.program import KIND_CONV
from zeroskip.hw.reference import predict, predict_int, quantize_input, trace_int
from zeroskip.models.interchange import MapInput, Pool, SharedConv, SharedLayer
from zeroskip.sim.simulator import simulate

ARCH = PRESETS["small"]


def float_conv(x, weights, bias, stride, pad, groups=1):
    """x [H, W, C], weights [out, C / groups, k, k] → [OH, OW, out], by plain loops."""
    h, w, c = x.shape
    out, per_group, k, _ = weights.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    y = np.zeros((oh, ow, out))
    for oy in range(oh):
        for ox in range(ow):
            for o in range(out):
                total = bias[o]
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
                        if 0 <= iy < h and 0 <= ix < w:
                            first = o // (out // groups) * per_group
                            total += float(np.dot(weights[o, :, ky, kx],
                                                  x[iy, ix, first:first + per_group]))
                y[oy, ox, o] = total
    return y


def float_network(layers, x):
    """The model's layers in float: x [batch, H·W·C] → [batch, classes]."""
    results = []
    for sample in x:
        shape = layers[0]
        fm = sample.reshape(shape.height, shape.width, shape.channels)
        for layer in layers[1:]:
            if hasattr(layer, "codes") and hasattr(layer, "kernel"):
                k = layer.kernel
                weights = layer.codebook[layer.codes].reshape(len(layer.bias), -1, k, k)
                fm = float_conv(fm, weights, layer.bias, layer.stride, layer.pad,
                                getattr(layer, "groups", 1))
            elif isinstance(layer, Pool):
                k, s = layer.kernel, layer.stride
                oh, ow = (fm.shape[0] - k) // s + 1, (fm.shape[1] - k) // s + 1
                reduce = (lambda v: v.max(axis=(0, 1))) if layer.op == "max" else \
                    (lambda v: v.sum(axis=(0, 1)) / (k * k))
                fm = np.array([[reduce(fm[y * s:y * s + k, x * s:x * s + k])
                                for x in range(ow)] for y in range(oh)])
            else:
                fm = layer.codebook[layer.codes] @ fm.reshape(-1) + layer.bias
            if getattr(layer, "act", "none") == "relu":
                fm = np.maximum(fm, 0)
        results.append(fm)
    return np.array(results)


def grouped_model(rng, groups: int, out: int, pool: str):
    book = np.concatenate([[0.0], rng.uniform(-0.5, 0.5, 15)]).astype(np.float32)
    shape = (out, 8 // groups * 9)
    codes = (rng.integers(1, 16, shape) * (rng.random(shape) < 0.7)).astype(np.uint8)
    return [MapInput(6, 6, 8),
            SharedConv(book, codes, rng.uniform(-0.2, 0.2, out).astype(np.float32), "relu", 3,
                        1, 1, name="grouped", groups=groups),
            Pool(pool, 2, 2, name="pool"),
            SharedLayer(book, (rng.integers(0, 16, (3, 9 * out))).astype(np.uint8),
                        np.zeros(3, np.float32), "none", name="fc")]


@pytest.mark.parametrize("groups, out, pool", [(2, 6, "avg"), (8, 8, "max"), (4, 8, "avg")])
def test_grouped_and_depthwise_convs_and_average_pooling(groups, out, pool):
    """Grouped convs lower block-diagonally (8 groups of 8 channels: depthwise); average
    pooling shares one weight, 1/(k·k)."""
    rng = np.random.default_rng(groups)
    layers = grouped_model(rng, groups, out, pool)
    x = rng.uniform(-1, 1, (4, 6 * 6 * 8))
    program = compile_layers(layers, ARCH, calibration=x)
    want = float_network(layers, x)
    assert np.abs(predict(program, x) - want).max() < 0.02 * np.abs(want).max() + 0.01
    sim = simulate(program, x)
    assert np.array_equal(sim.outputs_int, predict_int(program, quantize_input(program, x)))


def conv_model(rng, act="relu", pool_act="none"):
    def layer_codes(shape):
        return (rng.integers(1, 16, shape) * (rng.random(shape) < 0.6)).astype(np.uint8)

    book = lambda: np.concatenate([[0.0], rng.uniform(-0.5, 0.5, 15)]).astype(np.float32)  # noqa: E731
    return [MapInput(7, 7, 2),
            SharedConv(book(), layer_codes((5, 2 * 9)), rng.uniform(-0.2, 0.2, 5).astype(np.float32),
                       act, 3, 1, 1, name="conv1"),
            Pool("max", 2, 2, act=pool_act, name="pool1"),
            SharedConv(book(), layer_codes((6, 5 * 4)), rng.uniform(-0.2, 0.2, 6).astype(np.float32),
                       "relu", 2, 2, 0, name="conv2"),
            SharedLayer(book(), layer_codes((4, 6)), rng.uniform(-0.2, 0.2, 4).astype(np.float32),
                        "none", name="fc")]


@pytest.mark.parametrize("act", ["relu", "none"])
def test_program_computes_the_float_network(act):
    """Without a ReLU before it, max pooling sees negative values (and zeros it must not skip)."""
    rng = np.random.default_rng(3)
    layers = conv_model(rng, act=act)
    x = rng.uniform(-1, 1, (6, 7 * 7 * 2))
    x[rng.random(x.shape) < 0.3] = 0
    program = compile_layers(layers, ARCH, calibration=x)
    assert [layer.kind for layer in program.layers][:3] == [KIND_CONV] * 3
    want = float_network(layers, x)
    got = predict(program, x)
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max() + 0.01
    sim = simulate(program, x)
    assert np.array_equal(sim.outputs_int, predict_int(program, quantize_input(program, x)))


def test_max_pool_is_exact():
    """A pool-only model: the window's maximum of the quantized inputs, bit for bit."""
    rng = np.random.default_rng(0)
    layers = [MapInput(6, 5, 3), Pool("max", 2, 2, name="pool"),
              SharedLayer(np.array([0.0, 1.0], np.float32), np.eye(18, dtype=np.uint8),
                          np.zeros(18, np.float32), "none")]
    x = rng.uniform(-1, 1, (5, 90))
    x[rng.random(x.shape) < 0.4] = 0
    program = compile_layers(layers, ARCH, calibration=x, input_frac=8)
    xq = quantize_input(program, x)
    fm = xq.reshape(5, 6, 5, 3)
    want = np.array([[[fm[b, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(0, 1))
                       for j in range(2)] for i in range(3)] for b in range(5)]).reshape(5, -1)
    maps = trace_int(program, xq)[1].reshape(5, 6, -1)[..., :3].reshape(5, -1)
    assert np.array_equal(maps, want)


def test_flatten_moves_columns_to_the_padded_map():
    """A 3-channel map on 4 PEs is stored at stride 4: the FC layer's columns follow."""
    rng = np.random.default_rng(1)
    layers = conv_model(rng)[:3] + [
        SharedLayer(np.array([0, 0.5, -0.25], np.float32),
                    rng.integers(0, 3, (3, 3 * 3 * 5)).astype(np.uint8), np.zeros(3, np.float32),
                    "none")]
    x = rng.uniform(-1, 1, (4, 98))
    program = compile_layers(layers, ARCH, calibration=x)
    assert program.layers[-1].in_len == 3 * 3 * 8              # stride fm_stride(5, 4) = 8
    want = float_network(layers, x)
    assert np.abs(predict(program, x) - want).max() < 0.05 * np.abs(want).max() + 0.01


@pytest.mark.parametrize("seed", range(3))
def test_random_programs_sim_equals_reference(seed):
    arch = dataclasses.replace(ARCH, pes=[1, 2, 8][seed], act_depth=512)
    program, x = random_conv_program(arch, seed, height=7, width=6, channels=3,
                                     convs=((5, 3, 2, 1), (9, 1, 1, 0)), pool=(2, 1))
    sim = simulate(program, x)
    assert np.array_equal(sim.outputs_int, predict_int(program, quantize_input(program, x)))
    assert (sim.layer_padding[:, 0] > 0).all()


def test_bad_models_name_the_layer():
    rng = np.random.default_rng(0)
    layers = conv_model(rng)
    with pytest.raises(ZeroskipError, match=r"layer 0 \(conv1\): a conv or pool layer needs a feature map"):
        compile_layers(layers[1:], ARCH)
    wrong = [MapInput(7, 7, 3)] + layers[1:]
    with pytest.raises(ZeroskipError, match=r"layer 0 \(conv1\): takes 2 channels but its input map has 3"):
        compile_layers(wrong, ARCH)
    other = layers[:2] + [Pool("lp", 2, 2, name="lppool")] + layers[3:]
    with pytest.raises(ZeroskipError, match=r"layer 1 \(lppool\): 'lp' pooling is not lowered"):
        compile_layers(other, ARCH)
    # the compiler checks any conv-shaped object, not only the models' SharedConv (which refuses)
    odd_conv = types.SimpleNamespace(**{f.name: getattr(layers[1], f.name)
                                        for f in dataclasses.fields(layers[1])})
    odd_conv.groups = 3
    odd = [layers[0], odd_conv] + layers[2:]
    with pytest.raises(ZeroskipError, match=r"layer 0 \(conv1\): 3 groups do not divide its 2"):
        compile_layers(odd, ARCH)
    with pytest.raises(ZeroskipError, match=r"layer 0 \(conv1\): conv layers need a power-of-two"):
        compile_layers(layers, dataclasses.replace(ARCH, pes=3))
    big = [MapInput(40, 40, 2)] + layers[1:2]
    with pytest.raises(ZeroskipError, match=r"layer 0.*40 x 40|exceed|outputs"):
        compile_layers(big, ARCH)


def test_max_pool_padding_is_no_candidate():
    """A padded 3x3 max pool over negative values: the corner window's maximum is the largest
    inside value, not the padding's 0 (docs/conv.md), in the reference and the simulator."""
    layers = [MapInput(3, 3, 1), Pool("max", 3, 1, pad=1, name="pool"),
              SharedLayer(np.array([0.0, 1.0], np.float32), np.eye(9, dtype=np.uint8),
                          np.zeros(9, np.float32), "none")]
    x = -np.arange(1, 10, dtype=np.float64)[None] / 16
    program = compile_layers(layers, ARCH, input_frac=8)
    xq = quantize_input(program, x)
    pooled = trace_int(program, xq)[1].reshape(9, -1)[:, 0]
    grid = xq.reshape(3, 3)
    want = [max(grid[y, x] for y in range(max(0, i - 1), min(3, i + 2))
                for x in range(max(0, j - 1), min(3, j + 2))) for i in range(3) for j in range(3)]
    assert pooled.tolist() == want
    assert np.array_equal(simulate(program, x).outputs_int, predict_int(program, xq))


@pytest.mark.parametrize("pad,lanes", [(0, 0), (1, 0), (1, 1)])
def test_blocked_pools_give_the_same_outputs_in_fewer_cycles(pad, lanes):
    """``block_pools``: a conv and its 2x2 max pool become a conv over 2x2 blocks of output
    pixels and a max over channel groups; the outputs equal the unblocked program's bit for
    bit, the simulator equals the reference, and the cycles drop. With lane passes each group
    starts at a multiple of N (4 PEs: 6 channels → 8) and the max is a lane pass."""
    rng = np.random.default_rng(5)
    book = np.concatenate([[0.0], rng.uniform(-0.5, 0.5, 15)]).astype(np.float32)
    codes = (rng.integers(1, 16, (6, 3 * 9)) * (rng.random((6, 27)) < 0.3)).astype(np.uint8)
    side = 8 - 2 * pad                  # an even conv output either way
    out = (side + 2 * pad - 2) // 2
    layers = [MapInput(side, side, 3),
              SharedConv(book, codes, rng.uniform(-0.2, 0.2, 6).astype(np.float32), "none", 3,
                         1, pad, name="conv"),
              Pool("max", 2, 2, name="pool"),
              SharedLayer(book, rng.integers(0, 16, (4, out * out * 6)).astype(np.uint8),
                          np.zeros(4, np.float32), "none", name="fc")]
    x = rng.uniform(-1, 1, (6, side * side * 3))
    arch = dataclasses.replace(ARCH, lane_passes=lanes)
    plain = compile_layers(layers, arch, calibration=x)
    blocked = compile_layers(layers, arch, calibration=x, block_pools=True)
    g = blocked.layers[0].geometry
    assert (g.kernel, g.stride, g.out_channels) == (4, 2, 32 if lanes else 24)
    assert blocked.layers[1].kernel == 1 and blocked.layers[1].op
    assert [bool(p.lanes) for p in blocked.passes if p.layer == 1] == [bool(lanes)]
    xq = quantize_input(plain, x)
    assert np.array_equal(predict_int(blocked, xq), predict_int(plain, xq))
    fast, slow = simulate(blocked, x), simulate(plain, x)
    assert np.array_equal(fast.outputs_int, predict_int(blocked, xq))
    assert fast.cycles.sum() < slow.cycles.sum()


@pytest.mark.parametrize("stride,lanes", [(1, 0), (1, 1), (2, 1)])
def test_row_passes_give_the_same_outputs_in_fewer_cycles(stride, lanes):
    """``row_passes``: a depthwise 3x3 conv (pad 1) becomes one pass per output row over the
    rows seen as a one-pixel-wide map; the maps around it keep their layout, so the outputs
    equal the plain program's bit for bit (a max pool and an FC head read them), the simulator
    equals the reference, and the cycles drop."""
    side = 8
    out = (side + 2 - 3) // stride + 1
    arch = dataclasses.replace(ARCH, lane_passes=lanes)
    model = dict(height=side, width=side, channels=8, convs=((8, 3, stride, 1, 8),), pool=(2, 2),
                 classes=4, density=0.5, batch=6, input_density=0.5)
    plain, x = random_conv_program(arch, 11 + stride, **model)
    rows, _ = random_conv_program(arch, 11 + stride, row_passes=True, **model)
    g = rows.layers[0].geometry
    assert (g.in_height, g.in_width, g.in_channels) == (side, 1, side * 8)
    assert (g.out_height, g.out_width, g.out_channels) == (out, 1, out * 8)
    assert [p.lanes for p in rows.passes if p.layer == 0] == [lanes]
    assert rows.layers[1].geometry == plain.layers[1].geometry       # the pool reads as before
    xq = quantize_input(plain, x)
    assert np.array_equal(predict_int(rows, xq), predict_int(plain, xq))
    fast, slow = simulate(rows, x), simulate(plain, x)
    assert np.array_equal(fast.outputs_int, predict_int(rows, xq))
    assert fast.layer_cycles[:, 0].sum() < slow.layer_cycles[:, 0].sum()


def test_row_passes_leave_what_they_do_not_fit():
    """A row too long for the accumulators, a conv without 'same' padding and a conv reading
    every channel stay as they are; a row pass whose 577 column pointers overflow a 200-deep
    pointer memory (the plain layer's 73 fit) is the packer's one-line error naming it."""
    rng = np.random.default_rng(3)
    book = np.concatenate([[0.0], rng.uniform(-0.5, 0.5, 15)]).astype(np.float32)
    depthwise = SharedConv(book, (rng.integers(1, 16, (8, 9))).astype(np.uint8),
                           np.zeros(8, np.float32), "relu", 3, 1, 1, name="dw", groups=8)
    valid = SharedConv(book, (rng.integers(1, 16, (8, 9))).astype(np.uint8),
                       np.zeros(8, np.float32), "relu", 3, 1, 0, name="valid", groups=8)
    full = SharedConv(book, (rng.integers(1, 16, (8, 72))).astype(np.uint8),
                      np.zeros(8, np.float32), "relu", 3, 1, 1, name="full")
    short = dataclasses.replace(ARCH, acc_depth=8)      # an 8-wide row of 8 channels: 16 rows/PE
    for layer, arch in ((depthwise, short), (valid, ARCH), (full, ARCH)):
        x = rng.uniform(-1, 1, (2, 8 * 8 * 8))
        program = compile_layers([MapInput(8, 8, 8), layer], arch, calibration=x, row_passes=True)
        assert program.layers[0].geometry.in_width == 8, layer.name
    program = compile_layers([MapInput(8, 8, 8), depthwise], ARCH, calibration=x, row_passes=True)
    assert program.layers[0].geometry.in_width == 1             # where it fits, it is taken
    few_pointers = dataclasses.replace(ARCH, ptr_depth=200)
    compile_layers([MapInput(8, 8, 8), depthwise], few_pointers, calibration=x)
    with pytest.raises(ZeroskipError, match="577 pointers .* 'ptr_depth' is 200"):
        compile_layers([MapInput(8, 8, 8), depthwise], few_pointers, calibration=x,
                       row_passes=True)
