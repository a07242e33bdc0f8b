"""Binary conv nets in the compiler (docs/binary-mode.md, "Binary conv passes"): folded binary
convs become binary conv passes, their pools OP_MAX passes, the dense layer after the map reads
it at its stride; the program's reference equals the packed-bit reference of
``zeroskip.models.binary_ref`` at every layer boundary (spare channels included), the simulator
equals the reference, bad input is one line naming the layer, and ``zeroskip compile`` / ``sim``
take a ``zeroskip compress binary-cnn`` model file."""

import dataclasses

import numpy as np
import pytest
from compiler_helpers import arch, check_one_line_error

from zeroskip.compiler import compile_layers
from zeroskip.compiler.binary_conv import (binary_conv_net, centre_thresholds,
                                           random_binary_conv_program, random_binary_conv_spec)
from zeroskip.errors import ZeroskipError
from zeroskip.hw import reference
from zeroskip.hw.conv import ConvGeometry, fm_stride
from zeroskip.hw.fixedpoint import binary_dot_bound, threshold_word
from zeroskip.hw.program import (KIND_BINARY, KIND_BINARY_CONV, KIND_CONV, OP_MAC, OP_MAX,
                                 WINDOW_KINDS, binary_pass_chunks, load_program,
                                 unpack_binary_window_lines)
from zeroskip.models import binary_ref
from zeroskip.models.binary_fold import FoldedLayer

#: 8 PEs on 16-bit lines, 2 rows per accumulator file: spare channels, several chunks per
#: kernel position and row tiles in small nets
NARROW = arch(pes=8, line_bits=16, acc_depth=2, act_depth=256, sparse_depth=4096,
              bias_depth=1024, max_layers=12, max_passes=128)


def net(seed, height, width, channels, convs, dense=(5,), planes=8, binarize_last=False,
        batch=24):
    """A random folded binary conv net with thresholds centred on its own data, and its first
    layer's integer inputs (map order)."""
    rng = np.random.default_rng(seed)
    layers = binary_conv_net(rng, height, width, channels, convs, dense, planes, binarize_last)
    size = (batch, height * width * channels)
    x_int = rng.integers(0, 1 << planes, size) if planes else rng.integers(-9, 9, size)
    return centre_thresholds(rng, layers, x_int), x_int


def model_boundaries(layers, x_int):
    """The packed-bit reference's values at every boundary of the program: per conv its ±1 map
    [n, pixels, channels] (then its pool's), per dense layer its ±1 outputs or the last layer's
    integer dots. Written from ``binary_ref``'s own functions (``trace`` minus its network
    check, which wants an integer last layer)."""
    out, acts = [], np.asarray(x_int)
    for index, layer in enumerate(layers):
        if index == 0 and not layer.input_bits:
            acts = acts >= 0
        if layer.conv is not None:
            dot = binary_ref.conv_dot(layer, acts)
        else:
            dot = binary_ref.layer_dot(layer, acts if layer.input_bits else binary_ref.pack_bits(acts))
        if not layer.binary_output:
            out.append(dot)
            continue
        acts = binary_ref.layer_output_bits(layer, dot)
        out.append(np.where(acts, 1, -1).reshape(len(dot), -1, len(layer.thresholds)))
        if layer.pool is not None:
            acts = binary_ref.pool_bits(layer, acts)
            out.append(np.where(acts, 1, -1).reshape(len(dot), -1, len(layer.thresholds)))
    return out


def assert_program_matches_the_model(program, layers, x_int):
    """Every boundary bit for bit, the real channels against ``model_boundaries``, the spare
    channels as documented: +1 after a binary conv, 0 after a pool."""
    got = reference.trace_int(program, x_int)[1:]
    want = model_boundaries(layers, x_int)
    assert len(got) == len(want) == len(program.layers)
    for index, (info, g, w) in enumerate(zip(program.layers, got, want)):
        if info.kind not in WINDOW_KINDS:
            assert np.array_equal(g, w.reshape(len(g), -1)), f"layer {index} ({info.name})"
            continue
        maps = g.reshape(len(g), -1, info.out_stride)
        assert np.array_equal(maps[..., :info.out_channels], w), f"layer {index} ({info.name})"
        spare = 1 if info.kind == KIND_BINARY_CONV else 0
        assert (maps[..., info.out_channels:] == spare).all(), f"layer {index} spare channels"


# -- placement -------------------------------------------------------------------------------------
def test_passes_lines_and_threshold_words():
    layers, _ = net(1, 5, 6, 3, [(20, 3, 1, 1, (2, 2)), (9, 3, 2, 2, None)], dense=(6,))
    program = compile_layers(layers, NARROW)
    kinds = [(l.kind, l.op) for l in program.layers]
    assert kinds == [(KIND_BINARY_CONV, OP_MAC), (KIND_CONV, OP_MAX), (KIND_BINARY_CONV, OP_MAC),
                     (KIND_BINARY, 0)]
    assert [l.name for l in program.layers] == ["conv1", "conv1.pool", "conv2", "fc1"]
    a = program.arch
    for index, layer in ((0, layers[0]), (2, layers[1])):
        info = program.layers[index]
        g = info.geometry
        h, w, c, k, stride, pad = layer.conv
        assert g == ConvGeometry(h, w, c, c if index == 0 else fm_stride(c, a.pes), k, stride, pad,
                                 len(layer.weights), fm_stride(len(layer.weights), a.pes))
        assert (info.in_len, info.out_len, info.planes) == (g.in_len, g.out_len, layer.input_bits)
        # weights: the layer's rows, zero bits in the spare rows up to the stride
        weights = program.decoded.weights(index)
        assert weights.shape == (g.out_stride, k * k * c)
        assert np.array_equal(weights[: g.out_channels], layer.weights)
        assert not weights[g.out_channels:].any()
        # threshold words: the layer's, then the spare rows' always-true −bound − 1
        bound = binary_dot_bound(k * k * c, layer.input_bits)
        spare = g.out_stride - g.out_channels
        assert spare > 0
        assert np.array_equal(program.decoded.bias(index),
                              threshold_word(np.concatenate([layer.thresholds, [-bound - 1] * spare]),
                                             np.concatenate([layer.flip, [False] * spare])))
        # one pass per row tile, the window's fields, weight lines back to back
        passes = [p for p in program.passes if p.layer == index]
        local = g.out_stride // a.pes
        assert [p.rows for p in passes] == [min(a.acc_depth, local - t * a.acc_depth)
                                            for t in range(-(-local // a.acc_depth))]
        chunks = binary_pass_chunks(c, k, a)
        assert chunks == k * k * -(-c // a.line_bits)
        for p in passes:
            assert (p.kind, p.in_len, p.ptr_base, p.relu, p.planes, p.binarize, p.shift) == \
                (KIND_BINARY_CONV, c, 0, 0, layer.input_bits, 1, 0)
            assert {f: getattr(p, f) for f in g.pass_fields(a.pes)} == g.pass_fields(a.pes)
            for pe in range(a.pes):       # the lines themselves, tap by tap
                lines = program.sparse[pe, p.line_base: p.line_base + chunks * p.rows]
                rows = (p.row_base + np.arange(p.rows)) * a.pes + pe
                assert np.array_equal(unpack_binary_window_lines(lines, p.rows, k, c, a),
                                      weights[rows])
                assert_window_lines(lines, layer.weights, rows, k, c, a.line_bits)
        assert [q.line_base - passes[0].line_base for q in passes] == \
            list(np.cumsum([0] + [chunks * q.rows for q in passes])[:-1])
    meta = program.meta["layers"]
    assert [m["kind"] for m in meta] == ["binary-conv", "conv", "binary-conv", "binary"]
    # the dense layer reads conv2's map at its stride: spare columns of bit 1, whose +1s its
    # bias takes back (an integer output layer)
    fc = program.layers[3]
    conv2 = program.layers[2].geometry
    spare_columns = conv2.pixels * (conv2.out_stride - conv2.out_channels)
    assert fc.in_len == conv2.out_len and spare_columns > 0
    fc_weights = program.decoded.weights(3).reshape(len(layers[2].weights), conv2.pixels, -1)
    assert np.array_equal(fc_weights[..., :conv2.out_channels].reshape(len(fc_weights), -1),
                          layers[2].weights)
    assert fc_weights[..., conv2.out_channels:].all()
    assert np.array_equal(program.decoded.bias(3), np.full(6, -spare_columns))


def assert_window_lines(lines, weights, rows, k, c, width):
    """docs/binary-mode.md's layout, bit by bit: line ``(t·P + j)·rows + r`` holds channels
    ``j·width ..`` of kernel position t of local row r (layer row ``rows[r]``; 0 beyond the
    layer's rows and channels), channel ``j·width + b`` at bit b."""
    per_tap = -(-c // width)
    for t in range(k * k):
        for j in range(per_tap):
            for r, row in enumerate(rows):
                bits = weights[row, t * c + j * width: t * c + min((j + 1) * width, c)] \
                    if row < len(weights) else []
                want = sum(int(bit) << b for b, bit in enumerate(bits))
                assert int(lines[(t * per_tap + j) * len(rows) + r]) == want, (t, j, r)


def test_spare_columns_of_an_integer_output_layer_are_taken_back_by_its_bias():
    layers, x_int = net(2, 4, 4, 2, [(5, 3, 1, 1, None)], dense=(4,), planes=3)
    program = compile_layers(layers, NARROW)
    g = program.layers[0].geometry
    spare = g.pixels * (g.out_stride - g.out_channels)
    assert spare == 16 * 3
    assert np.array_equal(program.decoded.bias(1), np.full(4, -spare))
    assert_program_matches_the_model(program, layers, x_int)


def test_spare_columns_raise_the_thresholds_of_a_binarising_dense_layer():
    layers, x_int = net(3, 4, 4, 2, [(5, 3, 1, 1, (2, 2))], dense=(6, 3))
    program = compile_layers(layers, NARROW)
    g = program.layers[1].geometry                                  # the pool's map
    spare = g.pixels * (g.out_stride - g.out_channels)
    assert spare == 4 * 3
    words = program.decoded.bias(2)
    assert np.array_equal(words >> 1, layers[1].thresholds + spare)
    assert np.array_equal((words & 1).astype(bool), layers[1].flip)
    assert_program_matches_the_model(program, layers, x_int)


# -- arithmetic: the program's reference equals the packed-bit reference ---------------------------
@pytest.mark.parametrize("seed, shape, convs, dense, planes, binarize_last, a", [
    # the zoo's shape in small: planes, pool, bipolar conv, pool, two dense layers
    (10, (8, 8, 1), [(6, 3, 1, 1, (2, 2)), (10, 3, 1, 1, (2, 2))], (12, 10), 8, False, NARROW),
    # several chunks per kernel position (20 > 16 line bits), spare channels, row tiles
    (11, (6, 5, 2), [(20, 3, 1, 1, None), (7, 3, 1, 1, (2, 1))], (5,), 8, False, NARROW),
    # a bipolar first layer reading the host's signed values; kernel 5 stride 2 with padding
    (12, (7, 7, 3), [(9, 5, 2, 3, None), (4, 1, 1, 0, (2, 2))], (6,), 0, False, NARROW),
    # a wide host map (33 channels: three chunks), 1-bit planes, a binarising last layer
    (13, (3, 4, 33), [(8, 3, 1, 2, (3, 1))], (7,), 1, True, NARROW),
    # strided pool, three convs, 4 PEs on 64-bit lines (one chunk), big accumulator files
    (14, (8, 6, 2), [(3, 3, 1, 0, (3, 2)), (16, 1, 1, 0, None), (5, 3, 2, 1, None)], (9, 4), 4,
     False, arch(pes=4, act_depth=512, max_layers=12)),
    # one PE
    (15, (5, 5, 1), [(3, 3, 1, 1, (2, 2)), (2, 3, 1, 1, None)], (3,), 8, False,
     arch(pes=1, act_depth=512, max_layers=12)),
])
def test_reference_on_the_program_equals_the_packed_bit_reference(seed, shape, convs, dense, planes,
                                                                  binarize_last, a):
    layers, x_int = net(seed, *shape, convs, dense, planes, binarize_last)
    program = compile_layers(layers, a)
    assert_program_matches_the_model(program, layers, x_int)
    if not binarize_last:                     # and the models' own trace, end to end
        ref_input = x_int if planes else x_int >= 0          # a first conv reads bits unpacked
        assert np.array_equal(reference.predict_int(program, x_int),
                              binary_ref.last_dots(layers, ref_input))
    # the boundaries are not constant: the comparison can fail
    assert len({tuple(row) for row in reference.predict_int(program, x_int)}) > 1


@pytest.mark.parametrize("mode", ["bwn", "xnor"])
def test_the_zoos_binary_cnn_folded_runs_bit_exactly(mode):
    """``binary_zoo.binary_cnn`` (smaller: 8x8 images, 20 and 6 channels), folded untrained:
    the first conv reads 8-bit pixels, the second 20 channels (two chunks per position on
    16-bit lines, 4 spare channels on 8 PEs)."""
    from zeroskip.models import binary_fold, binary_zoo

    layers = binary_fold.fold(binary_zoo.binary_cnn(mode, channels=(20, 6), hidden=12, seed=3,
                                                    image=8))
    assert [l.conv is not None for l in layers] == [True, True, False, False]
    rng = np.random.default_rng(4)
    x = np.round(rng.uniform(0, 1, (40, 64)) * 255) / 255
    program = compile_layers(layers, NARROW, calibration=x)
    x_int = binary_ref.quantize_pixels(x)
    assert np.array_equal(reference.quantize_input(program, x), x_int)
    assert_program_matches_the_model(program, layers, x_int)
    assert np.array_equal(reference.predict_int(program, x_int), binary_ref.last_dots(layers, x_int))
    scores = program.class_scores(reference.predict(program, x))
    assert np.array_equal(scores.argmax(axis=1), binary_ref.predict(layers, x_int))


def test_random_programs_match_the_packed_bit_reference_and_cover_the_brief():
    """The regression's generator: every program equals the packed-bit reference at every
    boundary; together they cover kernels 1, 3, 5, strides 1 and 2, padding, pools, bit planes
    and bipolar first layers, channels that are and are not multiples of N, several chunks per
    kernel position, row tiles, binarising and integer last layers."""
    seen = set()
    archs = [NARROW, arch(pes=4, line_bits=32, acc_depth=3, act_depth=1024, sparse_depth=4096,
                          bias_depth=1024, max_layers=12, max_passes=128)]
    for seed in range(16):
        a = archs[seed % 2]
        program, x, layers = random_binary_conv_program(a, seed, batch=6)
        x_int = reference.quantize_input(program, x)
        assert_program_matches_the_model(program, layers, x_int)
        for info in program.layers:
            if info.kind == KIND_BINARY_CONV:
                seen |= {f"kernel {info.kernel}", f"stride {info.stride}"}
                seen.add("pad" if info.pad else "no pad")
                seen.add("spare" if info.out_stride > info.out_channels else "multiple")
                seen.add("chunks" if info.in_channels > a.line_bits else "one chunk")
                seen.add("tiles" if info.out_stride // a.pes > a.acc_depth else "one tile")
            seen.add({KIND_CONV: "pool", KIND_BINARY: "dense"}.get(info.kind, ""))
        seen.add(f"planes {bool(program.layers[0].planes)}")
        seen.add(f"binarising last {program.layers[-1].binarize}")
    want = {"kernel 1", "kernel 3", "kernel 5", "stride 1", "stride 2", "pad", "no pad", "spare",
            "multiple", "chunks", "one chunk", "tiles", "one tile", "pool", "dense",
            "planes True", "planes False", "binarising last True", "binarising last False"}
    assert want <= seen, want - seen


def test_random_specs_keep_maps_small_and_layers_within_max_layers():
    rng = np.random.default_rng(0)
    for max_layers in (2, 3, 4, 12):
        a = dataclasses.replace(NARROW, max_layers=max_layers)
        for _ in range(50):
            spec = random_binary_conv_spec(rng, a)
            assert 3 <= spec["height"] <= 8 and 3 <= spec["width"] <= 8
            assert 1 <= len(spec["convs"]) <= 3 and 0 <= spec["planes"] <= 8
            layers = len(spec["convs"]) + len(spec["dense"])
            layers += sum(pool is not None for *_, pool in spec["convs"])
            assert layers <= max_layers


def test_program_directory_round_trip(tmp_path):
    layers, x_int = net(5, 5, 5, 2, [(10, 3, 1, 1, (2, 2))], dense=(4,))
    program = compile_layers(layers, NARROW)
    program.save(str(tmp_path / "prog"))
    loaded = load_program(str(tmp_path / "prog"))
    assert loaded.layers == program.layers and loaded.passes == program.passes
    assert np.array_equal(reference.predict_int(loaded, x_int), binary_ref.last_dots(layers, x_int))


def test_compile_file_and_compile_take_a_binary_conv_model_file(tmp_path):
    from zeroskip.compiler import compile_file
    from zeroskip.compiler.flow import compile as compile_any

    layers, x_int = net(6, 6, 6, 1, [(5, 3, 1, 1, (2, 2)), (3, 3, 2, 1, None)], dense=(4,))
    path = str(tmp_path / "net.npz")
    binary_ref.save(path, layers)
    for program in (compile_file(path, NARROW), compile_any(path, NARROW)):
        assert [l.kind for l in program.layers] == [KIND_BINARY_CONV, KIND_CONV, KIND_BINARY_CONV,
                                                    KIND_BINARY]
        assert program.meta["source"] == path
        assert np.array_equal(reference.predict_int(program, x_int),
                              binary_ref.last_dots(layers, x_int))


# -- the next rung: the cycle simulator ------------------------------------------------------------
@pytest.mark.parametrize("seed, shape, convs, dense, planes", [
    (20, (6, 6, 1), [(6, 3, 1, 1, (2, 2)), (20, 3, 1, 1, None), (5, 3, 2, 1, None)], (7, 4), 8),
    (21, (5, 4, 3), [(9, 5, 1, 2, (2, 1))], (3,), 0),
])
def test_simulator_agrees_with_the_reference(seed, shape, convs, dense, planes):
    from zeroskip.sim import simulate_int

    layers, x_int = net(seed, *shape, convs, dense, planes, batch=5)
    program = compile_layers(layers, NARROW)
    result = simulate_int(program, x_int)
    assert np.array_equal(result.outputs_int, reference.predict_int(program, x_int))
    # the compiler's ideal cycles of a binary conv layer are the simulator's
    for index, info in enumerate(program.layers):
        if info.kind == KIND_BINARY_CONV:
            assert program.meta["layers"][index]["busiest_pe_weights"] == \
                result.layer_ideal_cycles[0, index]


def test_simulator_agrees_on_random_programs():
    from zeroskip.sim import simulate_int

    for seed in (100, 101, 102):
        program, x, _ = random_binary_conv_program(NARROW, seed, batch=3)
        xq = reference.quantize_input(program, x)
        assert np.array_equal(simulate_int(program, xq).outputs_int, reference.predict_int(program, xq))


# -- errors ----------------------------------------------------------------------------------------
def with_(layer, **changes):
    return dataclasses.replace(layer, **changes)


R = np.random.default_rng(30)
CONV1, CONV2, FC = binary_conv_net(R, 4, 4, 2, [(5, 3, 1, 1, (2, 2)), (6, 3, 1, 1, None)],
                                   dense=(3,), planes=8)
GOOD = [CONV1, CONV2, FC]


@pytest.mark.parametrize("layers, a, message", [
    (GOOD, NARROW, None),
    (GOOD, arch(pes=3), "layer 0 (conv1): conv layers need a power-of-two number of PEs, "
                        "the array has 3"),
    (GOOD, arch(pes=4, line_bits=48, code_bits=4, run_bits=4),
     "layer 0 (conv1): binary conv passes need power-of-two line_bits, the architecture has "
     "48-bit lines"),
    (GOOD, arch(pes=16, line_bits=8, act_depth=512),
     "layer 0 (conv1): a binary pass needs pes <= line_bits"),
    ([with_(CONV1, conv=(4, 4, 2, 3, 1, 3)), CONV2, FC], NARROW,
     "layer 0 (conv1): conv geometry (4, 4, 2, 3, 1, 3) is not a valid window"),
    ([with_(CONV1, conv=(4, 4, 2, 3, 16, 1), pool=None), with_(CONV2, conv=(1, 1, 5, 3, 1, 1)), FC],
     NARROW, "layer 0 (conv1): kernel 3, stride 16, pad 1: the array takes kernels and strides up to 15"),
    ([CONV1, with_(CONV2, conv=(3, 3, 5, 3, 1, 1), weights=CONV2.weights), FC], NARROW,
     "layer 2 (conv2): reads a 3x3x5 map but layer 1 writes 2x2x5"),
    ([CONV1, with_(CONV2, weights=CONV2.weights[:, :40]), FC], NARROW,
     "layer 2 (conv2): 40 weight columns, a 3x3 window over 5 channels has 45"),
    ([CONV1, CONV2, with_(FC, weights=FC.weights[:, :20])], NARROW,
     "layer 3 (fc1): takes 20 inputs but the flattened 2x2x6 map has 24"),
    ([CONV1, with_(CONV2, thresholds=None, flip=None, scale=np.ones(6), offset=np.zeros(6))],
     NARROW, "layer 2 (conv2): a binary conv must binarise its outputs"),
    ([with_(CONV1, pool=(5, 1))], NARROW, "layer 0 (conv1): a 5x5 pool is larger than its map"),
    ([FC.__class__("fc0", R.random((32, 4)) < 0.5, 8, thresholds=np.zeros(32, np.int64),
                   flip=np.zeros(32, bool)),
      with_(CONV1, input_bits=0, thresholds=np.zeros(5, np.int64))], NARROW,
     "layer 1 (conv1): a binary conv reads the input image or a feature map, but layer 0 writes "
     "a vector"),
    ([CONV1, with_(CONV2, input_bits=2), FC], NARROW,
     "layer 2: only the first layer reads unsigned bit planes"),
    (GOOD, arch(pes=4, act_bits=9, weight_bits=3, acc_bits=12, act_depth=512),
     "layer 0: dot products up to ±4590 overflow the 12-bit accumulator"),
    (binary_conv_net(R, 3, 3, 3, [(2, 5, 1, 2, None)], dense=(2,)),
     arch(pes=4, act_depth=16, acc_depth=16),
     "layer 0 (conv1): its window has 75 columns, more than the array's act_depth x pes = 64"),
    (GOOD, arch(pes=4, act_depth=8, acc_depth=8), "layer 0 (conv1): 128 outputs exceed the array's act_depth "
                                     "x pes = 32"),
])
def test_bad_binary_conv_nets_are_one_line_errors(layers, a, message):
    check_one_line_error(layers, a, message)


def test_the_spare_rows_threshold_must_fit_the_accumulator_too():
    # 8-bit planes over a 3x3x2 window: |dot| <= 4590 fits 14 bits, but the spare rows' word
    # 2·(−4591) + 0 needs 15
    conv = with_(CONV1, thresholds=np.zeros(5, np.int64), pool=None)
    fc = FoldedLayer("fc1", R.random((3, 4 * 4 * 5)) < 0.5, 0, scale=np.ones(3), offset=np.zeros(3))
    a = arch(pes=8, line_bits=16, act_bits=9, weight_bits=5, acc_bits=14, act_depth=512)
    with pytest.raises(ZeroskipError, match=r"^layer 0: thresholds -4591\.\.0 do not fit 14-bit "
                                            r"threshold words$"):
        compile_layers([conv, fc], a)
    compile_layers([conv, fc], dataclasses.replace(a, acc_bits=15))


# -- the command line ------------------------------------------------------------------------------
def test_cli_compiles_and_simulates_a_binary_cnn_model_file(tmp_path, capsys):
    """What ``zeroskip compress binary-cnn -o`` writes (the zoo's net, folded; untrained here),
    compiled and simulated from the command line; images NCHW."""
    from zeroskip.cli import main
    from zeroskip.models import binary_fold, binary_zoo

    layers = binary_fold.fold(binary_zoo.binary_cnn("xnor", seed=1))
    path = str(tmp_path / "binary_cnn.npz")
    binary_ref.save(path, layers)
    prog = str(tmp_path / "prog")
    assert main(["compile", path, "--act-depth", "4096", "-o", prog]) == 0
    printed = capsys.readouterr().out
    assert "6 layers, 6 passes on small (4 PEs)" in printed
    assert "layer 0:    784 -> 12544  binary conv" in printed
    assert "layer 1:  12544 -> 3136   max 2x2/2  passes" in printed      # the pool
    program = load_program(prog)
    assert [l.kind for l in program.layers] == [KIND_BINARY_CONV, KIND_CONV, KIND_BINARY_CONV,
                                                KIND_CONV, KIND_BINARY, KIND_BINARY]
    rng = np.random.default_rng(2)
    images = np.round(rng.uniform(0, 1, (3, 1, 28, 28)) * 255) / 255
    np.save(tmp_path / "x.npy", images)
    assert main(["sim", prog, "--input", str(tmp_path / "x.npy"), "--output",
                 str(tmp_path / "y.npy")]) == 0
    x_int = binary_ref.quantize_pixels(images.reshape(3, -1))        # C = 1: NCHW = (y, x, c)
    assert np.array_equal(np.load(tmp_path / "y.npy"),
                          binary_ref.last_dots(layers, x_int).astype(np.float32))


def test_cli_inputs_of_a_bit_plane_conv_are_pixels_in_0_1(tmp_path, capsys):
    """``zeroskip sim`` checks a bit-plane first conv's inputs as a bit-plane dense layer's:
    real values in [0, 1], or --quantized integers in 0 .. 2^planes − 1."""
    from zeroskip.cli import main

    program = compile_layers(GOOD, NARROW)
    prog = str(tmp_path / "prog")
    program.save(prog)
    images = np.random.default_rng(5).uniform(0, 1, (2, 2, 4, 4))
    images[1, 1, 2, 3] = -0.25
    np.save(tmp_path / "x.npy", images)
    assert main(["sim", prog, "--input", str(tmp_path / "x.npy")]) == 2
    assert "outside the program's input range [0, 1] (8-bit input planes)" in capsys.readouterr().err
    np.save(tmp_path / "q.npy", np.full((1, 2, 4, 4), 256))
    assert main(["sim", prog, "--input", str(tmp_path / "q.npy"), "--quantized"]) == 2
    assert "integer activations 256..256 outside the array's 0..255" in capsys.readouterr().err
    np.save(tmp_path / "q.npy", np.full((1, 2, 4, 4), 255))
    assert main(["sim", prog, "--input", str(tmp_path / "q.npy"), "--quantized",
                 "--output", str(tmp_path / "y.npy")]) == 0
    xq = np.full((1, 32), 255)
    assert np.array_equal(np.load(tmp_path / "y.npy"), binary_ref.last_dots(GOOD, xq).astype(np.float32))


def test_cli_refuses_an_array_binary_convs_cannot_run_in_one_line(tmp_path, capsys):
    from zeroskip.cli import main

    path = str(tmp_path / "net.npz")
    binary_ref.save(path, GOOD)
    assert main(["compile", path, "--pes", "3", "-o", str(tmp_path / "prog")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert errors[-1].endswith("layer 0 (conv1): conv layers need a power-of-two number "
                               "of PEs, the array has 3")
    assert not (tmp_path / "prog").exists()


# -- mixed programs --------------------------------------------------------------------------------
def test_a_sparse_conv_map_feeds_a_binary_conv_and_a_binary_dense_layer():
    """A sparse conv (no ReLU) writes its map at its stride (spare channels 0); a binary conv
    reads its signs in place, its pool's map is read by a binary dense layer: by hand, the
    sparse layer's outputs from the reference, then the packed-bit reference on their bits."""
    from zeroskip.models.interchange import MapInput, SharedConv
    from zeroskip.sim import simulate_int

    rng = np.random.default_rng(40)
    book = np.concatenate([[0.0], rng.uniform(-1, 1, 15)]).astype(np.float32)
    codes = np.where(rng.random((5, 2 * 9)) < 0.6, rng.integers(1, 16, (5, 2 * 9)), 0)
    sparse = SharedConv(book, codes.astype(np.uint8), rng.uniform(-0.3, 0.3, 5).astype(np.float32),
                        "none", 3, 1, 1, name="conv0")
    binary, fc = binary_conv_net(rng, 5, 5, 5, [(6, 3, 1, 1, (2, 2))], dense=(4,), planes=0)
    x = rng.uniform(-1, 1, (12, 5 * 5 * 2))
    program = compile_layers([MapInput(5, 5, 2), sparse, binary, fc], NARROW, calibration=x)
    assert [l.kind for l in program.layers] == [KIND_CONV, KIND_BINARY_CONV, KIND_CONV, KIND_BINARY]
    assert program.layers[1].in_stride == 8 and program.layers[1].in_channels == 5
    xq = reference.quantize_input(program, x)
    first = reference.trace_int(program, xq)[1].reshape(12, 25, 8)
    assert (first[..., 5:] == 0).all()
    bits = first[..., :5].reshape(12, -1) >= 0
    assert 0 < bits.mean() < 1
    assert np.array_equal(reference.predict_int(program, xq), binary_ref.last_dots([binary, fc], bits))
    assert np.array_equal(simulate_int(program, xq).outputs_int, reference.predict_int(program, xq))
