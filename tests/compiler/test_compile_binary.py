"""Binary layers in the compiler: placement round-trips, bit-exact agreement with the packed-bit
reference of ``zeroskip.models.binary_ref``, mixed sparse + binary programs, user errors."""

import numpy as np
import pytest
from compiler_helpers import arch, check_one_line_error, random_layer

from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw import reference
from zeroskip.hw.fixedpoint import quantize, requantize
from zeroskip.hw.kinds import decode_binary_layer, decode_layer
from zeroskip.hw.program import (KIND_BINARY, KIND_SPARSE, binary_chunks, load_program,
                                 unpack_binary_lines)
from zeroskip.models import binary_ref
from zeroskip.models.binary_fold import FoldedLayer


def folded_layer(rng, out_len, in_len, planes=0, binarize=True, name="fc"):
    """A random folded layer; thresholds spread around the middle of the dot's range so that
    outputs are mixed, some at the ends of the range (always / never)."""
    weights = rng.random((out_len, in_len)) < 0.5
    if not binarize:
        return FoldedLayer(name, weights, planes, scale=rng.uniform(0.1, 1, out_len),
                           offset=rng.normal(0, 1, out_len))
    bound = in_len * ((1 << planes) - 1 if planes else 1)
    spread = max(1, bound // 6)
    thresholds = rng.integers(-spread, spread + 1, out_len)
    thresholds[: max(1, out_len // 10)] = rng.choice([-bound - 1, bound + 1])
    return FoldedLayer(name, weights, planes, thresholds=thresholds, flip=rng.random(out_len) < 0.3)


def folded_network(rng, sizes, planes=8):
    layers = []
    for index, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = index == len(sizes) - 2
        layers.append(folded_layer(rng, n, k, planes if index == 0 else 0, not last, f"fc{index}"))
    return layers


def reference_boundaries(layers, x_int):
    """The packed-bit reference's values at every layer boundary as the array holds them:
    binarised outputs as ±1 (out_frac 0), the last layer's integer dots."""
    dots = binary_ref.trace(layers, x_int)
    out = [np.where(binary_ref.layer_output_bits(l, d), 1, -1) for l, d in zip(layers[:-1], dots)]
    return out + [dots[-1]]


# -- placement -----------------------------------------------------------------------------------
@pytest.mark.parametrize("pes, out_len, in_len, acc_depth, line_bits", [
    (1, 7, 64, 4, 64), (2, 9, 130, 3, 64), (3, 50, 100, 8, 64), (4, 33, 63, 8, 64),
    (8, 70, 200, 2, 64), (8, 5, 17, 64, 32), (4, 10, 1, 2, 16),
])
def test_weights_decode_back_from_the_images(pes, out_len, in_len, acc_depth, line_bits):
    rng = np.random.default_rng(pes * 1000 + out_len)
    layers = [folded_layer(rng, out_len, in_len, planes=0), folded_layer(rng, 6, out_len, binarize=False)]
    a = arch(pes=pes, acc_depth=acc_depth, line_bits=line_bits, sparse_depth=4096)
    program = compile_layers(layers, a)
    for index, layer in enumerate(layers):
        assert np.array_equal(decode_binary_layer(program, index), layer.weights)
    tiles = -(-(-(-out_len // pes)) // acc_depth)
    first = [p for p in program.passes if p.layer == 0]
    assert len(first) == tiles and all(p.kind == KIND_BINARY for p in first)
    assert [p.row_base for p in first] == [t * acc_depth for t in range(tiles)]
    assert [p.last for p in first] == [0] * (tiles - 1) + [1]
    # passes back to back from line 0: chunk-major lines, zero beyond the layer's rows and bits
    chunks = binary_chunks(in_len, a)
    assert [p.line_base for p in first] == list(np.cumsum([0] + [chunks * p.rows for p in first])[:-1])
    for p in first:
        for pe in range(pes):
            lines = program.sparse[pe, p.line_base: p.line_base + chunks * p.rows]
            rows = (p.row_base + np.arange(p.rows)) * pes + pe
            want = np.zeros((p.rows, in_len), bool)
            want[rows < out_len] = layers[0].weights[rows[rows < out_len]]
            assert np.array_equal(unpack_binary_lines(lines, p.rows, in_len, a), want)
            tail = in_len % line_bits
            if tail:   # bits beyond in_len of the last chunk are 0
                last_chunk = lines[(chunks - 1) * p.rows:].astype(np.uint64)
                assert not np.any(last_chunk >> np.uint64(tail))


def test_threshold_words_and_descriptors():
    rng = np.random.default_rng(5)
    layers = folded_network(rng, [40, 12, 5], planes=3)
    program = compile_layers(layers, arch(pes=4, acc_depth=2))
    hidden, last = program.layers
    assert (hidden.kind, hidden.planes, hidden.binarize, hidden.relu) == (KIND_BINARY, 3, True, False)
    assert (last.kind, last.planes, last.binarize) == (KIND_BINARY, 0, False)
    assert [(l.in_frac, l.w_frac, l.out_frac, l.shift) for l in program.layers] == [(0, 0, 0, 0)] * 2
    bias = program.decoded.bias(0)
    assert np.array_equal(bias, 2 * layers[0].thresholds + layers[0].flip)
    assert not np.any(program.decoded.bias(1))
    assert program.ptr.shape == (4, 0) and not program.codebook.any()
    assert program.output_affine["scale"] == layers[1].scale.tolist()
    assert [m["kind"] for m in program.meta["layers"]] == ["binary", "binary"]


# -- arithmetic: the reference on the program equals the packed-bit reference ---------------------
@pytest.mark.parametrize("seed, sizes, planes, pes, acc_depth", [
    (0, [100, 70, 33, 10], 8, 3, 8), (1, [64, 64, 10], 0, 4, 64), (2, [784, 96, 40, 10], 8, 8, 4),
    (3, [17, 5, 3], 1, 2, 1), (4, [200, 130, 10], 4, 1, 64),
])
def test_reference_on_the_program_equals_the_packed_bit_reference(seed, sizes, planes, pes, acc_depth):
    rng = np.random.default_rng(seed)
    layers = folded_network(rng, sizes, planes)
    program = compile_layers(layers, arch(pes=pes, acc_depth=acc_depth, sparse_depth=8192,
                                          bias_depth=1024, act_depth=256, max_passes=256))
    n = 30
    x_int = (rng.integers(0, 1 << planes, (n, sizes[0])) if planes
             else rng.integers(-5, 5, (n, sizes[0])))
    ref_input = x_int if planes else binary_ref.pack_bits(x_int >= 0)     # bipolar: packed bits
    got = reference.trace_int(program, x_int)
    for boundary, (g, w) in enumerate(zip(got[1:], reference_boundaries(layers, ref_input))):
        assert np.array_equal(g, w), f"boundary {boundary + 1}"
    assert np.array_equal(reference.predict_int(program, x_int), binary_ref.last_dots(layers, ref_input))
    # the float API: quantize_input gives the b-bit integers, predict the dots as floats
    if planes:
        x = x_int / ((1 << planes) - 1)
        assert np.array_equal(reference.quantize_input(program, x), x_int)
        assert np.array_equal(reference.predict(program, x), got[-1].astype(np.float32))


def test_program_directory_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    layers = folded_network(rng, [90, 40, 10])
    program = compile_layers(layers, arch(pes=4, acc_depth=4))
    program.save(str(tmp_path / "prog"))
    loaded = load_program(str(tmp_path / "prog"))
    x_int = rng.integers(0, 256, (10, 90))
    assert loaded.passes == program.passes and loaded.layers == program.layers
    assert loaded.output_affine == program.output_affine
    assert np.array_equal(reference.predict_int(loaded, x_int), binary_ref.last_dots(layers, x_int))


@pytest.fixture(scope="module")
def trained():
    """A real binary MLP, briefly trained (seconds) and folded."""
    from zeroskip.models import binary_fold, binary_layers, binary_zoo
    from zeroskip.models.data import mnist_split
    from zeroskip.models.train import Schedule, fit

    x, y, x_test, y_test = mnist_split(0)
    net = binary_zoo.binary_mlp("bwn", sizes=(784, 64, 64, 10), seed=1)
    fit(net, binary_layers.trainable_params(net), x[:800], y[:800], Schedule(1, 0.01, "adam", 100),
        np.random.default_rng(0))
    return binary_fold.fold(net), x_test[:200], y_test[:200]


def test_a_trained_binary_mlp_runs_bit_exactly(trained):
    layers, x, y = trained
    program = compile_layers(layers, "small", calibration=x)
    x_int = binary_ref.quantize_pixels(x)
    assert np.array_equal(reference.quantize_input(program, x), x_int)   # k/255 pixels: no ties
    got = reference.trace_int(program, x_int)
    for boundary, (g, w) in enumerate(zip(got[1:], reference_boundaries(layers, x_int))):
        assert np.array_equal(g, w), f"boundary {boundary + 1}"
    affine = program.output_affine
    scores = reference.predict(program, x) * np.array(affine["scale"]) + np.array(affine["offset"])
    assert np.array_equal(scores.argmax(axis=1), binary_ref.predict(layers, x_int))
    assert np.mean(scores.argmax(axis=1) == y) > 0.5


# -- mixed programs --------------------------------------------------------------------------------
def test_sparse_then_binary_matches_a_hand_computation():
    rng = np.random.default_rng(7)
    sparse = random_layer(rng, 50, 30, 0.4, act="none")
    hidden = folded_layer(rng, 20, 50)
    last = folded_layer(rng, 6, 20, binarize=False)
    x = rng.uniform(-1, 1, (25, 30))
    program = compile_layers([sparse, hidden, last], arch(pes=4, acc_depth=8), calibration=x)
    s, b1, b2 = program.layers
    assert (s.kind, b1.kind, b2.kind) == (KIND_SPARSE, KIND_BINARY, KIND_BINARY)
    assert b1.in_frac == s.out_frac and b2.in_frac == b1.out_frac          # the chain holds
    assert np.array_equal(decode_layer(program, 0), sparse.codes)
    assert np.array_equal(decode_binary_layer(program, 1), hidden.weights)
    # by hand: the sparse layer in integers, its signs as bits, ±1 dot products
    a = program.arch
    xq = quantize(x, s.in_frac, a.act_bits)
    wq = program.codebook[0][sparse.codes]
    bq = quantize(np.asarray(sparse.bias, np.float64), s.in_frac + s.w_frac, a.acc_bits)
    y = requantize(xq @ wq.T, bq, s.shift, False, a.acc_bits, a.act_bits)
    pm = np.where(y >= 0, 1, -1)
    dot1 = pm @ np.where(hidden.weights, 1, -1).T
    h = np.where(np.where(hidden.flip, dot1 <= hidden.thresholds, dot1 >= hidden.thresholds), 1, -1)
    dot2 = h @ np.where(last.weights, 1, -1).T
    assert np.array_equal(reference.predict_int(program, reference.quantize_input(program, x)), dot2)
    assert np.array_equal(reference.predict(program, x), dot2.astype(np.float32))


def test_binary_then_sparse_matches_a_hand_computation():
    rng = np.random.default_rng(8)
    first = folded_layer(rng, 40, 70, planes=8)
    sparse = random_layer(rng, 12, 40, 0.5, act="relu")
    out = random_layer(rng, 5, 12, 0.6, act="none")
    x = rng.uniform(0, 1, (25, 70))
    for calibration in (x, None):
        program = compile_layers([first, sparse, out], arch(pes=3, acc_depth=4), calibration=calibration)
        b, s1, s2 = program.layers
        assert s1.in_frac == b.out_frac == 0 and s2.in_frac == s1.out_frac
        a = program.arch
        x_int = np.floor(x * 255 + 0.5).astype(np.int64)
        dot = x_int @ np.where(first.weights, 1, -1).T
        h = np.where(np.where(first.flip, dot <= first.thresholds, dot >= first.thresholds), 1, -1)
        for layer, info, index in ((sparse, s1, 1), (out, s2, 2)):
            wq = program.codebook[index][layer.codes]
            bq = quantize(np.asarray(layer.bias, np.float64), info.in_frac + info.w_frac, a.acc_bits)
            h = requantize(h @ wq.T, bq, info.shift, info.relu, a.acc_bits, a.act_bits)
        assert np.array_equal(reference.predict_int(program, reference.quantize_input(program, x)), h)
        # and the float meaning: ±1 into the sparse layers, within their rounding
        bits = np.where(np.where(first.flip, dot <= first.thresholds, dot >= first.thresholds), 1.0, -1.0)
        want = np.maximum(bits @ sparse.codebook.astype(np.float64)[sparse.codes].T + sparse.bias, 0)
        want = want @ out.codebook.astype(np.float64)[out.codes].T + out.bias
        assert np.abs(reference.predict(program, x) - want).max() < 0.02 * np.abs(want).max()


def test_balance_leaves_mixed_outputs_unchanged():
    rng = np.random.default_rng(9)
    layers = [random_layer(rng, 40, 30, 0.3, act="none"), folded_layer(rng, 24, 40),
              random_layer(rng, 16, 24, 0.3, act="relu"), random_layer(rng, 6, 16, 0.5, act="none")]
    skew = rng.random((40, 30)) < np.linspace(0.05, 0.9, 40)[:, None]
    layers[0].codes = np.where(skew, layers[0].codes, 0).astype(np.uint8)
    x = rng.uniform(-1, 1, (20, 30))
    plain = compile_layers(layers, arch(pes=4, acc_depth=4), calibration=x)
    balanced = compile_layers(layers, arch(pes=4, acc_depth=4), calibration=x, balance=True)
    assert np.array_equal(reference.predict(plain, x), reference.predict(balanced, x))


# -- errors ----------------------------------------------------------------------------------------
def with_(layer, **changes):
    fields = dict(name=layer.name, weights=layer.weights, input_bits=layer.input_bits,
                  thresholds=layer.thresholds, flip=layer.flip, scale=layer.scale, offset=layer.offset)
    fields.update(changes)
    return FoldedLayer(**fields)


R = np.random.default_rng(10)
HIDDEN = folded_layer(R, 8, 20)
LAST = folded_layer(R, 4, 8, binarize=False)
WIDE = folded_layer(R, 8, 300, planes=7)


@pytest.mark.parametrize("layers, a, message", [
    ([HIDDEN, LAST], arch(pes=16, line_bits=8), "layer 0: a binary pass needs pes <= line_bits"),
    ([with_(HIDDEN, thresholds=np.full(8, 22)), LAST], arch(),
     "layer 0: thresholds 22..22 out of range -21..21 (fan-in 20)"),
    ([with_(WIDE, weights=WIDE.weights[:, :200], thresholds=np.zeros(8, np.int64)),
      folded_layer(R, 2, 8, binarize=False)],
     arch(act_bits=8, weight_bits=8, acc_bits=16), None),
    ([with_(WIDE, weights=WIDE.weights[:, :200], thresholds=np.full(8, 16500)),
      folded_layer(R, 2, 8, binarize=False)], arch(act_bits=8, weight_bits=8, acc_bits=16),
     "layer 0: thresholds 16500..16500 do not fit 16-bit threshold words"),
    ([with_(WIDE, thresholds=np.zeros(8, np.int64)), folded_layer(R, 2, 8, binarize=False)],
     arch(act_bits=8, weight_bits=8, acc_bits=16),
     "layer 0: dot products up to ±38100 overflow the 16-bit accumulator"),
    ([HIDDEN, with_(LAST, weights=LAST.weights[:, :7])], arch(), "layer 1: takes 7 inputs but layer 0 has 8"),
    ([with_(HIDDEN, input_bits=16), LAST], arch(), "layer 0: input_bits 16: a binary pass reads 0"),
    ([with_(HIDDEN, input_bits=8, thresholds=np.zeros(8, np.int64)), LAST],
     arch(act_bits=8, weight_bits=8, acc_bits=16),
     "layer 0: 8-bit unsigned inputs do not fit 8-bit signed activations"),
    ([HIDDEN, with_(LAST, input_bits=2)], arch(), "layer 1: only the first layer reads unsigned bit planes"),
    ([folded_layer(R, 4, 200, planes=8, binarize=False)], arch(),
     "layer 0: integer outputs up to ±51000 do not fit 16-bit activations"),
    ([random_layer(R, 20, 5, act="relu"), HIDDEN, LAST], arch(),
     "layer 1: reads the bits x >= 0 of layer 0's ReLU outputs"),
    ([HIDDEN, "fc2"], arch(), "layer 1: unknown layer type str"),
    ([with_(HIDDEN, weights=HIDDEN.weights.astype(np.int64) * 2), LAST], arch(),
     "layer 0: binary weights must be booleans"),
    ([HIDDEN, with_(LAST, scale=None)], arch(), "layer 1: scale must be 4 finite numbers"),
    ([with_(HIDDEN, flip=None), LAST], arch(), "layer 0: flip must be 8 booleans"),
])
def test_bad_binary_layers_are_one_line_errors(layers, a, message):
    check_one_line_error(layers, a, message)


def test_input_frac_does_not_apply_to_bit_plane_inputs():
    with pytest.raises(ZeroskipError, match="input_frac 3: the first layer reads 8-bit unsigned"):
        compile_layers([folded_layer(R, 4, 10, planes=8), LAST.__class__(
            "x", R.random((2, 4)) < 0.5, 0, scale=np.ones(2), offset=np.zeros(2))], arch(), input_frac=3)


def test_binary_lines_count_against_the_sparse_memory():
    layers = [folded_layer(R, 64, 640), folded_layer(R, 4, 64, binarize=False)]
    compile_layers(layers, arch(pes=4, sparse_depth=161))          # 10 chunks x 16 rows + 1
    with pytest.raises(ZeroskipError, match="layer 1 does not fit: layers 0..1 need 161 sparse "
                                            "lines .* 'sparse_depth' is 160"):
        compile_layers(layers, arch(pes=4, sparse_depth=160))


# -- the next rung: the cycle simulator runs the compiled binary passes to the same integers --------
@pytest.mark.parametrize("seed, make, pes, acc_depth", [
    (11, lambda r: folded_network(r, [100, 40, 10], planes=8), 4, 4),
    (12, lambda r: folded_network(r, [70, 9, 3], planes=0), 3, 64),
    (13, lambda r: [random_layer(r, 30, 20, 0.4, act="none"), folded_layer(r, 16, 30),
                    random_layer(r, 8, 16, 0.5, act="relu"), random_layer(r, 4, 8, 0.5, act="none")], 2, 4),
])
def test_simulator_agrees_with_the_reference(seed, make, pes, acc_depth):
    from zeroskip.sim import simulate_int

    rng = np.random.default_rng(seed)
    layers = make(rng)
    program = compile_layers(layers, arch(pes=pes, acc_depth=acc_depth))
    x = rng.uniform(-1 if program.layers[0].planes == 0 else 0, 1, (6, program.in_len))
    xq = reference.quantize_input(program, x)
    assert np.array_equal(simulate_int(program, xq).outputs_int, reference.predict_int(program, xq))
