"""Spatial tiling (compiler/spatial.py, docs/conv.md "Spatial tiling"): a network whose maps do
not fit the activation banks runs tile by tile, and its outputs are the untiled network's bit
for bit, on the reference and on the simulator."""

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from zeroskip.compiler.conv import random_conv_layers
from zeroskip.compiler.flow import compile_layers
from zeroskip.compiler.conv import lower_layers
from zeroskip.compiler.passes import to_ir
from zeroskip.compiler.spatial import (axis_window, compile_spatial, plan_axis, plan_stages,
                                       plan_tiles, random_tiled_layers)
from zeroskip.hw.tiled import TiledProgram
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import load_arch, with_overrides
from zeroskip.hw.program import Program
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.models.interchange import MapInput, SharedLayer
from zeroskip.sim import simulate_int

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from onnx_helpers import f32, graph_model, residual_net, shared  # noqa: E402

SMALL = with_overrides(load_arch("small"), pes=4, act_depth=64, acc_depth=16)


def untiled(layers, arch, x, **options):
    """The same network on an array whose banks hold every map: the outputs tiling must equal."""
    return compile_layers(layers, with_overrides(arch, act_depth=8192), calibration=x, **options)


def reference(name, program, xq):
    return predict_int(program, xq), None


def simulator(name, program, xq):
    result = simulate_int(program, xq)
    return result.outputs_int, result.cycles


def assert_tiling_exact(layers, arch, x, **options):
    tiled = compile_spatial(layers, arch, calibration=x, **options)
    assert isinstance(tiled, TiledProgram)
    full = untiled(layers, arch, x, **options)
    xq = quantize_input(full, x)
    want = predict_int(full, xq)
    got, cycles, _ = tiled.run(xq, reference)
    assert cycles is None and np.array_equal(got, want)
    got, cycles, parts = tiled.run(xq, simulator)
    assert np.array_equal(got, want)
    assert np.array_equal(cycles, sum(parts.values()))
    return tiled, full, xq


@pytest.mark.parametrize("seed", range(24))
def test_random_tiled_networks_equal_the_untiled_ones(seed):
    """Kernels 1, 3 and 5, strides 1 and 2, padding, depthwise convs, max pools and FC heads on
    1, 2, 4 and 8 PEs, lane passes and the sweep overlap on some."""
    arch = [with_overrides(SMALL, pes=1, act_depth=160), with_overrides(SMALL, pes=2, lane_passes=1),
            with_overrides(SMALL, sweep_overlap=1),
            with_overrides(SMALL, pes=8, act_depth=32, acc_depth=8, lane_passes=1)][seed % 4]
    layers, x, note = random_tiled_layers(arch, 1000 + seed, batch=3)
    tiled, full, _ = assert_tiling_exact(layers, arch, x)
    assert max(max(l.in_len, l.out_len) for l in full.layers) > arch.max_vector, note
    for program in tiled.parts.values():
        assert max(max(l.in_len, l.out_len) for l in program.layers) <= arch.max_vector, note


@pytest.mark.parametrize("seed", range(9))
def test_random_tiled_binary_conv_nets_equal_the_untiled_ones(seed):
    """Folded binary conv nets (bit planes or bipolar inputs, pools of the signs, binary dense
    heads) on 2, 4 and 8 PEs with 16- and 32-bit lines."""
    arch = [with_overrides(SMALL, pes=2, line_bits=16, act_depth=128),
            with_overrides(SMALL, line_bits=32, sweep_overlap=1),
            with_overrides(SMALL, pes=8, line_bits=16, act_depth=32, acc_depth=8)][seed % 3]
    layers, x, note = random_tiled_layers(arch, 2000 + seed, batch=3, binary=True)
    tiled, full, _ = assert_tiling_exact(layers, arch, x)
    assert any(l.kind == 3 for p in tiled.programs.values() for l in p.layers), note


def test_the_segment_ends_where_the_maps_fit_and_the_tail_runs_whole():
    """conv 3x3 pad 1 → conv 3x3 stride 2 pad 1 → max pool → FC: the first two convs' maps
    exceed the banks, so they are tiled; the pool and the FC layer run once on the stitched map."""
    layers, x = random_conv_layers(SMALL, 3, height=14, width=13, channels=3,
                                   convs=((4, 3, 1, 1), (4, 3, 2, 1)), pool=(2, 2), classes=5,
                                   batch=4)
    tiled, full, xq = assert_tiling_exact(layers, SMALL, x)
    assert tiled.segment == 2 and [l.name for l in tiled.tail.layers] == ["pool", "fc"]
    assert tiled.out_map == (7, 7, 4)
    # the stages chain; in each, every crop starts on the grid of its layers' strides, and the
    # kept outputs cover the stage's output map exactly once
    assert tiled.stages[0].first == 0 and all(
        a.end == b.first for a, b in zip(tiled.stages, tiled.stages[1:]))
    for stage in tiled.stages:
        align = int(np.prod([full.layers[i].stride for i in range(stage.first, stage.end)]))
        covered = np.zeros(stage.out_map[:2], int)
        for t in stage.tiles:
            assert t["rows"]["crop"][0] % align == 0 and t["cols"]["crop"][0] % align == 0
            (r0, r1), (c0, c1) = t["rows"]["keep"], t["cols"]["keep"]
            covered[r0:r1, c0:c1] += 1
        assert np.all(covered == 1)
    # the host writes every crop and the stitched maps, and reads each map position once
    words = tiled.host_words()
    maps = sum(int(np.prod(stage.out_map)) for stage in tiled.stages)
    assert words["out"] == maps + tiled.out_len
    assert words["in"] >= 14 * 13 * 3 + maps
    # every part fits the banks the untiled program overflows
    assert max(full.layers[0].out_len, full.layers[0].in_len) > SMALL.max_vector
    for program in tiled.parts.values():
        assert max(max(l.in_len, l.out_len) for l in program.layers) <= SMALL.max_vector


def test_stages_cut_where_one_stage_would_recompute_its_halo():
    """Tiling conv1 and the stride-2 conv2 together recomputes conv1 under every tile's halo;
    two stages, with the host stitching conv1's map between them, repeat fewer MACs, and the
    planner takes them."""
    layers, _ = random_conv_layers(SMALL, 3, height=14, width=13, channels=3,
                                   convs=((4, 3, 1, 1), (4, 3, 2, 1)), pool=(2, 2), classes=5)
    irs = lower_layers(layers, SMALL, to_ir)
    _, together = plan_tiles(irs[:2], SMALL)
    plan = plan_stages(irs, 2, SMALL)
    assert [(first, end) for first, end, _ in plan] == [(0, 1), (1, 2)]
    assert sum(plan_tiles(irs[a:b], SMALL, a)[1] for a, b, _ in plan) < together


@pytest.mark.parametrize("options", [{"block_pools": True}, {"row_passes": True}])
def test_the_conv_mappings_tile_too(options):
    """A blocked conv and pool (a 4x4 window at stride 2, then the channel max) in the segment;
    row passes in the tail."""
    if "block_pools" in options:
        layers, x = random_conv_layers(SMALL, 5, height=14, width=14, channels=2,
                                       convs=((4, 3, 1, 1),), pool=(2, 2), classes=3)
    else:
        layers, x = random_conv_layers(SMALL, 6, height=13, width=13, channels=2,
                                       convs=((4, 3, 2, 1), (4, 3, 1, 1, 4)), pool=None, classes=3)
    tiled, _, _ = assert_tiling_exact(layers, SMALL, x, **options)
    if "row_passes" in options:
        assert tiled.tail.layers[0].in_width == 1          # the depthwise conv, as row passes
    else:
        tile = next(iter(tiled.programs.values()))
        assert tile.layers[0].kernel == 4 and tile.layers[0].stride == 2


def test_row_passes_inside_the_tiles():
    """With ``row_passes``, a depthwise conv of a tile runs as row passes over the crop's rows
    when they fit the accumulators (docs/conv.md "Row passes"): the formats are the plain
    layer's, the outputs the untiled network's, and fewer cycles than the plain tiles."""
    arch = with_overrides(SMALL, act_depth=48, sweep_overlap=1, ptr_depth=4096)
    layers, x = random_conv_layers(arch, 34, height=10, width=11, channels=3,
                                   convs=((2, 3, 1, 1), (2, 3, 1, 1, 2), (2, 1, 1, 0),
                                          (2, 3, 2, 1, 2)), pool=None, classes=None, batch=2)
    tiled, _, xq = assert_tiling_exact(layers, arch, x, row_passes=True)
    assert any(layer.in_width == 1 for p in tiled.programs.values() for layer in p.layers)
    plain = compile_spatial(layers, arch, calibration=x)
    assert tiled.run(xq, simulator)[1].sum() < plain.run(xq, simulator)[1].sum()


def test_axis_windows_keep_only_the_right_outputs():
    """3x3 pad 1 along an axis of 10: the crop [0, 5) is right up to output 4 (output 4 reads
    input 5, outside the crop); [3, 8) from 4 to 7; the whole axis everywhere. A stride-2 layer
    needs even starts."""
    layers = [(3, 1, 1, 10)]
    assert axis_window(layers, 0, 5).valid == (0, 4)
    assert axis_window(layers, 3, 8).valid == (4, 7)
    assert axis_window(layers, 0, 10).valid == (0, 10)
    assert axis_window(layers, 5, 10).valid == (6, 10)
    assert axis_window([(3, 2, 1, 10)], 3, 8) is None
    tiles = plan_axis(layers + [(3, 2, 1, 10)], 10, 6)
    assert [(t.lo, t.hi, t.keep_lo, t.keep_hi) for t in tiles] == [(0, 6, 0, 2), (2, 8, 2, 3),
                                                                     (4, 10, 3, 5)]
    assert all(t.lo % 2 == 0 for t in tiles)
    assert plan_axis(layers * 3, 10, 3) is None          # no crop of 3 keeps an output right


def test_a_network_that_fits_is_one_program():
    layers, x = random_conv_layers(SMALL, 7, height=5, width=5, channels=2,
                                   convs=((4, 3, 1, 1),), pool=(2, 2), classes=3)
    program = compile_spatial(layers, SMALL, calibration=x)
    assert isinstance(program, Program)
    same = compile_layers(layers, SMALL, calibration=x)
    assert program.descriptors == same.descriptors


def test_what_cannot_be_tiled_is_one_line_naming_the_layer_and_the_memory():
    rng = np.random.default_rng(0)
    fc = [SharedLayer(np.array([0, 0.5], np.float32), rng.integers(0, 2, (20, 300)).astype(np.uint8),
                      np.zeros(20, np.float32), "relu", name="fc1")]
    with pytest.raises(ZeroskipError, match=r"layer 0 \(fc1\): 300 inputs exceed the array's "
                                            r"act_depth x pes = 256.*fully-connected"):
        compile_spatial(fc, SMALL)
    layers, x = random_conv_layers(SMALL, 8, height=12, width=12, channels=3,
                                   convs=((9, 5, 1, 2),), pool=None, classes=None)
    with pytest.raises(ZeroskipError, match=r"layer 0 \(conv1\): no tile of its 12x12 input map "
                                            r"fits the array's act_depth x pes = 256"):
        compile_spatial(layers, SMALL, calibration=x)
    # a part that does not fit another memory: its own layer numbers, and the network's
    layers, x = random_conv_layers(SMALL, 3, height=14, width=13, channels=3,
                                   convs=((4, 3, 1, 1), (4, 3, 2, 1)), pool=(2, 2), classes=5)
    with pytest.raises(ZeroskipError, match=r"^layers 2\.\.3, compiled apart \(tiled over "
                                            r"space; numbered from 0 below\): layer 1 does not "
                                            r"fit: .* 'ptr_depth' is 40"):
        compile_spatial(layers, with_overrides(SMALL, ptr_depth=40), calibration=x)
    flat = [MapInput(4, 4, 20),              # a map flattened into an FC layer too large
            SharedLayer(np.array([0, 0.5], np.float32), np.ones((20, 320), np.uint8),
                        np.zeros(20, np.float32), "relu", name="fc1")]
    with pytest.raises(ZeroskipError, match="fully-connected"):
        compile_spatial(flat, SMALL)


def stem_and_block(rng) -> onnx.ModelProto:
    """[N, 3, 12, 12] → a stem Conv 4@3x3 stride 2 pad 1 → Relu → a residual block on its 6x6
    map (Conv 3x3 pad 1 → Relu → Conv 3x3 pad 1 → Add the stem's output → Relu) → global
    average pool → Gemm 3."""
    from onnx import helper

    node = helper.make_node
    inits = {"w0": f32(rng, 4, 3, 3, 3), "b0": f32(rng, 4), "w1": f32(rng, 4, 4, 3, 3),
             "w2": f32(rng, 4, 4, 3, 3), "wfc": f32(rng, 3, 4), "bfc": f32(rng, 3)}
    nodes = [node("Conv", ["x", "w0", "b0"], ["c0"], name="stem", kernel_shape=[3, 3],
                  strides=[2, 2], pads=[1] * 4),
             node("Relu", ["c0"], ["r0"], name="stem_relu"),
             node("Conv", ["r0", "w1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1] * 4),
             node("Relu", ["c1"], ["r1"], name="relu1"),
             node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1] * 4),
             node("Add", ["c2", "r0"], ["sum"], name="residual"),
             node("Relu", ["sum"], ["r2"], name="relu2"),
             node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
             node("Flatten", ["g"], ["f"], name="flatten", axis=1),
             node("Gemm", ["f", "wfc", "bfc"], ["y"], name="fc", transB=1)]
    return graph_model(nodes, inits, ["N", 3, 12, 12], ["N", 3])


def test_a_graph_tiles_its_plain_first_layers(tmp_path):
    """A graph (zeroskip.compiler.graph) whose stem's input exceeds the banks: the stem is
    tiled, the residual block after it runs whole on the stitched map, and the outputs are the
    untiled graph's; a graph whose too-large map feeds an FC layer is one line."""
    from zeroskip.compiler.flow import compile_file

    rng = np.random.default_rng(4)
    onnx.save(shared(stem_and_block(rng), rng, bits=3), tmp_path / "net.onnx")
    x = rng.uniform(0, 1, (3, 12 * 12 * 3))
    arch = with_overrides(SMALL, act_depth=80)
    tiled = compile_file(str(tmp_path / "net.onnx"), arch, calibration=x)
    assert isinstance(tiled, TiledProgram) and tiled.segment == 1
    assert [l.name for l in tiled.tail.layers] == ["conv1", "residual", "gap", "fc"]
    assert len(tiled.tiles) == 2
    full = compile_file(str(tmp_path / "net.onnx"), with_overrides(arch, act_depth=8192),
                        calibration=x)
    xq = quantize_input(full, x)
    assert np.array_equal(tiled.run(xq, reference)[0], predict_int(full, xq))
    assert np.array_equal(tiled.logical_output(tiled.run(xq, simulator)[0]),
                          full.logical_output(predict_int(full, xq)))
    onnx.save(shared(residual_net(rng, bn=False), rng, bits=3), tmp_path / "res.onnx")
    with pytest.raises(ZeroskipError, match=r"res.onnx: layer \d+ \(\w+\): .*exceed.*"
                                            r"only conv and pool layers"):
        compile_file(str(tmp_path / "res.onnx"), with_overrides(SMALL, act_depth=16))
