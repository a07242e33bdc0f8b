"""Binary conv passes (docs/binary-mode.md, "Binary conv passes") on the whole array under
Amaranth's simulator: outputs == the reference's, and the cycle counter == the literal timing
equations (``handmade.timing_cycles``) == the cycle simulator. The programs are made by hand
(``handmade.binary_conv_program``) so that every corner is met on purpose: bit-plane and bipolar
inputs, padding on every side, strides 1 and 2, kernels 1, 3 and 5, several chunks per kernel
position (C > line_bits), spare output channels, row tiles, integer outputs, full queues, and
the bounds lookahead."""

import dataclasses

import numpy as np
import pytest

from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import predict_int
from zeroskip.sim import simulate_int

from benches import run_program
from handmade import binary_conv_program, timing_cycles

CASES = {
    "planes, pad 1, then stride 2 integer": (
        dict(pes=2), [dict(height=5, width=5, channels=3, kernel=3, stride=1, pad=1, out=5, planes=3),
                      dict(height=5, width=5, channels=5, kernel=3, stride=2, pad=1, out=3,
                           binarize=False)]),
    "two chunks per position, full queues, 1x1": (
        dict(pes=4, fifo_depth=2), [dict(height=4, width=4, channels=20, kernel=3, stride=1, pad=1, out=6),
                                    dict(height=4, width=4, channels=6, kernel=1, stride=1, pad=0, out=5,
                                         binarize=False)]),
    "5x5 stride 2 on 8-bit pixels, lookahead": (
        dict(pes=2, bounds_lookahead=1), [dict(height=6, width=6, channels=1, kernel=5, stride=2, pad=2,
                                               out=3, planes=8),
                                          dict(height=3, width=3, channels=3, kernel=3, stride=1, pad=0, out=4)]),
    "two chunks per position, registered broadcast": (
        dict(pes=4, fifo_depth=2, registered_broadcast=1),
        [dict(height=4, width=4, channels=20, kernel=3, stride=1, pad=1, out=6),
         dict(height=4, width=4, channels=6, kernel=1, stride=1, pad=0, out=5, binarize=False)]),
    "one-deep queues, one-row tiles, pad 2": (
        dict(pes=4, fifo_depth=1, acc_depth=1), [dict(height=5, width=4, channels=2, kernel=3, stride=2, pad=1,
                                                      out=7, planes=2),
                                                 dict(height=3, width=2, channels=7, kernel=3, stride=1, pad=2,
                                                      out=3, binarize=False)]),
}


def _arch(**changes):
    fields = dict(name="binary-conv", pes=2, line_bits=16, sparse_depth=512, ptr_depth=64, act_depth=128,
                  acc_depth=2, bias_depth=64, max_layers=3, max_passes=16)
    fields.update(changes)
    return dataclasses.replace(PRESETS["small"], **fields)


@pytest.mark.parametrize("name", list(CASES))
def test_binary_conv_program_on_the_gateware(name):
    changes, specs = CASES[name]
    arch = _arch(**changes)
    rng = np.random.default_rng(len(name))
    program = binary_conv_program(arch, rng, specs)
    first = specs[0]
    size = first["height"] * first["width"] * first["channels"]
    planes = first.get("planes", 0)
    inputs = (rng.integers(0, 1 << planes, (2, size)) if planes else rng.integers(-3, 3, (2, size)))
    results = run_program(program, inputs)
    simulated = simulate_int(program, inputs)
    for x, (outputs, cycles), expected in zip(inputs, results, simulated.cycles):
        np.testing.assert_array_equal(outputs, predict_int(program, x[None])[0])
        assert cycles == timing_cycles(program, x) == expected
    np.testing.assert_array_equal(simulated.outputs_int, predict_int(program, inputs))


def test_the_padding_adds_nothing():
    """A window in the padding does not count its zeros' bits: the reference and the hardware
    agree with a dot product over the inside positions alone, computed here without the
    contract's functions."""
    arch = _arch(pes=2)
    rng = np.random.default_rng(5)
    spec = dict(height=3, width=3, channels=2, kernel=3, stride=1, pad=1, out=2, binarize=False)
    program = binary_conv_program(arch, rng, [spec])
    x = rng.integers(-2, 3, (1, 18))
    (outputs, _), = run_program(program, x)
    from zeroskip.hw.program import unpack_binary_window_lines
    bits = np.where(x[0].reshape(3, 3, 2) >= 0, 1, -1)
    weights = np.zeros((2, 18), bool)
    for pe in range(2):
        lines = program.sparse[pe, :program.passes[0].rows * 9]
        weights[pe] = unpack_binary_window_lines(lines, 1, 3, 2, arch)[0]
    for oy in range(3):
        for ox in range(3):
            for o in range(2):
                dot = 0
                for ky in range(3):
                    for kx in range(3):
                        iy, ix = oy - 1 + ky, ox - 1 + kx
                        if 0 <= iy < 3 and 0 <= ix < 3:
                            w = np.where(weights[o, (ky * 3 + kx) * 2:(ky * 3 + kx + 1) * 2], 1, -1)
                            dot += int(bits[iy, ix] @ w)
                bias = int(program.bias[o, 0])
                assert outputs[(oy * 3 + ox) * 2 + o] == dot + bias
