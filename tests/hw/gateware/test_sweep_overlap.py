"""The sweep overlap (``ArchConfig.sweep_overlap``, docs/timing.md "Sweep overlap") on the whole
array under Amaranth's simulator: a conv pixel-pass's sweep runs while the next pixel-pass scans
into the other accumulator file. Outputs == the reference's and the cycle counter == the cycle
simulator's (and, for binary conv, == the literal equations), alone and with each other switch,
with the next pixel-pass held back by the sweep and with descriptors of row tiles; and the row
passes it pays best with (``compile_layers(row_passes=True)``)."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_program
from zeroskip.compiler.graph import random_graph_program
from zeroskip.hw import timing
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.sim import simulate_int
from zeroskip.sim.kinds import pixel_pass_cycles

from benches import run_program
from handmade import binary_conv_program, timing_cycles
from switches import rungs_agree


def arch(pes: int = 4, fifo: int = 2, acc_depth: int = 4, **fields):
    values = dict(name="overlap", pes=pes, fifo_depth=fifo, act_depth=256, acc_depth=acc_depth,
                  sparse_depth=256, ptr_depth=512, bias_depth=128, max_layers=8, max_passes=32)
    return dataclasses.replace(PRESETS["small"], **{**values, **fields})



def test_the_switch_saves_each_pixel_its_sweep():
    """A conv, a max pool and an FC head, switch off and on: the same outputs, fewer cycles on
    every input, each count the gateware's."""
    cycles = []
    for switch in (0, 1):
        program, x = random_conv_program(arch(sweep_overlap=switch), 5, height=6, width=6,
                                         channels=3, convs=((8, 3, 1, 1),), pool=(2, 2),
                                         classes=4, density=0.5, batch=2, input_density=0.6)
        cycles.append(rungs_agree(program, x))
    assert (cycles[1] < cycles[0]).all()


def test_back_to_back_sweeps():
    """A 1x1 conv of one input channel to 64 outputs on 4 PEs: 16 rows to sweep per pixel and
    a column phase of about 8 issues, so each pixel-pass waits for the sweep two pixels back
    (its accumulator file) and the sweeps run back to back, one row a cycle: the pass takes R
    cycles a pixel, and each sweep's last rows are written while the next sweep reads (its
    output offset must travel with its rows). Three inputs in a row on one array: a row left
    unwritten would keep the previous input's value."""
    program, x = random_conv_program(arch(acc_depth=16, sweep_overlap=1), 2, height=3, width=3,
                                     channels=1, convs=((64, 1, 1, 0),), pool=None, classes=None,
                                     density=0.5, batch=3, input_density=1.0, relu=False)
    first = program.passes[0]
    assert first.rows == 16
    sim = simulate_int(program, quantize_input(program, x))
    # bound by the sweeps: the first pixel's column phase (< R), then nine sweeps back to back
    assert (sim.pass_cycles[:, 0] >= 9 * first.rows).all()
    assert (sim.pass_cycles[:, 0] < 10 * first.rows + timing.MAC_DRAIN + timing.REQUANT_TAIL).all()
    rungs_agree(program, x)


@pytest.mark.parametrize("switches", [
    {"lane_passes": 1},
    {"registered_broadcast": 1},
    {"bounds_lookahead": 1, "padding_merge": 1},
])
def test_with_each_other_switch(switches):
    """A ShuffleNet unit (group convs, a depthwise conv as lane passes where the array has
    them, the shortcut) with one-row tiles (acc_depth 1: several descriptors per layer)."""
    program, x, _ = random_graph_program(arch(acc_depth=1, ptr_depth=2048, max_passes=64,
                                              sweep_overlap=1, **switches), 4, "shuffle", batch=2)
    rungs_agree(program, x)


def test_binary_conv_passes_follow_the_literal_equations():
    """Two binary conv layers (bit planes, padding, stride 2, integer outputs): the gateware's
    count == the literal equations (``handmade.timing_cycles``) == the simulator."""
    a = dataclasses.replace(PRESETS["small"], name="binary-overlap", pes=2, line_bits=16,
                            sparse_depth=512, ptr_depth=64, act_depth=128, acc_depth=4,
                            bias_depth=64, max_layers=3, max_passes=16, fifo_depth=2,
                            sweep_overlap=1)
    rng = np.random.default_rng(31)
    program = binary_conv_program(a, rng, [
        dict(height=5, width=5, channels=3, kernel=3, stride=1, pad=1, out=5, planes=3),
        dict(height=5, width=5, channels=5, kernel=3, stride=2, pad=1, out=3, binarize=False)])
    inputs = rng.integers(0, 8, (2, 75))
    simulated = simulate_int(program, inputs)
    for x, (outputs, cycles), expected in zip(inputs, run_program(program, inputs),
                                              simulated.cycles):
        np.testing.assert_array_equal(outputs, predict_int(program, x[None])[0])
        assert cycles == timing_cycles(program, x) == expected


def test_the_recurrence():
    """``pixel_pass_cycles`` by hand: C = 10 and 2 for three pixels, R = 5. Pixel 0 sweeps at
    14..18; pixel 1 starts at 12, ends its column phase at 14, sweeps at 19..23 (after pixel
    0's); pixel 2 starts at max(16, 19) = 19 (its file is pixel 0's), C at 21, sweeps at
    25..29 (C + the drain, 4); the pass ends at 30 + REQUANT_TAIL. Without the switch: 3 sweeps
    and tails. With a drain of 5 (``entry_stage``) pixel 0 sweeps at 15..19, pixel 1 at 20..24,
    pixel 2 starts at 20, ends its column phase at 22 and sweeps at 27..31. With one row the
    restart decides: pixel 1 starts at 12 (C = 14, sweeps at 18), pixel 2 at 16 (C = 18, sweeps
    at 22); restarting a cycle later (``pe_copies``), at 13 and 18 (sweeps at 19 and 24)."""
    ends = np.array([[10, 2, 2]])
    assert timing.PIXEL_RESTART == 2
    assert pixel_pass_cycles(ends, 5, True, 4, timing.PIXEL_RESTART)[0] == 30 + timing.REQUANT_TAIL
    assert pixel_pass_cycles(ends, 5, False, 4, timing.PIXEL_RESTART)[0] == 14 + 3 * (4 + 5 + timing.REQUANT_TAIL)
    assert pixel_pass_cycles(ends, 0, True, 4, timing.PIXEL_RESTART)[0] == 14 + 3 * (4 + timing.REQUANT_TAIL)
    assert pixel_pass_cycles(ends, 5, True, 5, timing.PIXEL_RESTART)[0] == 32 + timing.REQUANT_TAIL
    assert pixel_pass_cycles(ends, 1, True, 4, 2)[0] == 23 + timing.REQUANT_TAIL
    assert pixel_pass_cycles(ends, 1, True, 4, 3)[0] == 25 + timing.REQUANT_TAIL


@pytest.mark.parametrize("stride", [1, 2])
def test_row_passes_on_the_array(stride):
    """A depthwise 3x3 conv as row passes (``compile_layers(row_passes=True)``: a one-pixel-wide
    map whose every row has padding on both sides), lane passes and the overlap, then a max
    pool and an FC head: the rungs agree, input by input."""
    a = arch(lane_passes=1, sweep_overlap=1, acc_depth=16, ptr_depth=1024)
    program, x = random_conv_program(a, 20 + stride, height=6, width=6, channels=8,
                                     convs=((8, 3, stride, 1, 8),), pool=(2, 2), classes=3,
                                     density=0.6, batch=2, input_density=0.6, row_passes=True)
    assert program.layers[0].geometry.in_width == 1 and program.passes[0].lanes
    rungs_agree(program, x)
