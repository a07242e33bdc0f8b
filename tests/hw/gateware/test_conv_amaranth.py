"""Conv programs (docs/conv.md) on the whole array under Amaranth's simulator, loaded over the
bus by the host driver: outputs == the reference's == the cycle simulator's, and the cycle
counter == the simulator's count, input by input. Kernels 1, 3 and 5, strides 1 and 2, padding,
max pooling, a host input whose C is not a multiple of N, and output channels in row tiles."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_program
from zeroskip.compiler.flow import compile_layers
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.program import KIND_CONV, OP_MAX
from zeroskip.hw.reference import quantize_input
from zeroskip.ladder import compare, run
from zeroskip.models.interchange import MapInput, Pool, SharedConv

#: 4 PEs, small memories (the Python simulator is slow); one accumulator row per PE, so every
#: conv layer with more than N output channels runs as several descriptors over every pixel
ARCH = dataclasses.replace(PRESETS["small"], name="conv-tiny", pes=4, fifo_depth=2, act_depth=64,
                           acc_depth=1, sparse_depth=128, ptr_depth=256, bias_depth=64,
                           max_layers=4, max_passes=24)

CASES = {
    # name: random_conv_program arguments (height, width, channels, convs, pool, classes)
    "3x3-pad1-then-maxpool": dict(height=4, width=4, channels=3, convs=((6, 3, 1, 1),),
                                  pool=(2, 2), classes=3),
    "5x5-stride2-pad2-then-1x1": dict(height=5, width=5, channels=2,
                                      convs=((5, 5, 2, 2), (4, 1, 1, 0)), pool=None, classes=None),
    "3x3-stride2-no-pad-then-overlapping-maxpool": dict(height=7, width=5, channels=5,
                                                        convs=((6, 3, 2, 0),), pool=(2, 1),
                                                        classes=None, relu=False),
    "1x1-stride2-on-the-host-input": dict(height=3, width=4, channels=3, convs=((5, 1, 2, 0),),
                                          pool=None, classes=2),
}


@pytest.mark.parametrize("name", CASES)
def test_conv_program_matches_reference_and_simulator(name):
    program, x = random_conv_program(ARCH, 7 + len(name), density=0.5, batch=2,
                                     input_density=0.6, **CASES[name])
    program.check_fits()
    conv = [index for index, layer in enumerate(program.layers) if layer.kind == KIND_CONV]
    tiles = [sum(p.layer == index for p in program.passes) for index in conv]
    assert tiles[0] > 1                         # the first conv's output channels in row tiles
    xq = quantize_input(program, x)
    xq[-1] = 0                                  # an all-zero input: every window empty (MAC)
    check(program, xq)
    if CASES[name]["pool"]:
        assert program.layers[conv[-1]].op == OP_MAX


def check(program, xq, reference=True):
    """The gateware's outputs and cycles == the simulator's (and its outputs == the reference's)."""
    sim = run("sim", program, xq)
    gateware = run("amaranth", program, xq)
    expected = sim
    if reference:
        expected = run("reference", program, xq)
        np.testing.assert_array_equal(sim.outputs, expected.outputs)
    for result in compare(expected, gateware, sim):
        assert result.first_difference is None, result
        assert result.rtl_cycles == result.sim_cycles, result


def test_max_pool_with_padding_over_negative_values():
    """A padded 3x3 max pool (stride 2) after a conv with negative outputs: padding positions
    broadcast nothing (docs/conv.md), so a window's maximum is over its inside activations
    only, even when they are all negative. Checked against the simulator only: the reference
    (hw/kinds.py) takes the padding as zeros in the maximum."""
    rng = np.random.default_rng(3)
    k = ARCH.codebook_size
    codes = rng.integers(1, k, size=(4, 3 * 9))
    codes[rng.random(codes.shape) > 0.5] = 0
    book = np.concatenate([[0.0], rng.uniform(-1, 1, k - 1)]).astype(np.float32)
    layers = [MapInput(4, 4, 3),
              SharedConv(book, codes.astype(np.uint8), np.full(4, -0.8, np.float32), "none",
                         3, 1, 1, name="conv"),
              Pool("max", 3, 2, pad=1, name="pool")]
    x = rng.uniform(-1, 1, (2, 48))
    program = compile_layers(layers, ARCH, calibration=x)
    assert program.layers[-1].op == OP_MAX and program.layers[-1].pad == 1
    xq = quantize_input(program, x)
    assert (run("sim", program, xq).outputs < 0).any()       # negative window maxima
    check(program, xq, reference=False)
