"""The padding merge (``ArchConfig.padding_merge``, docs/timing.md "Padding merge") on the whole
array under Amaranth's simulator, with and without the bounds lookahead: outputs == the
reference's, the cycle counter == the literal equations (``handmade``) == the simulator. Short
runs (2 bits) and short lines (4 entries) make padding entries, pairs of them, padding at the
end of a line and merged last entries common."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_program
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import quantize_input
from zeroskip.ladder import run

from benches import run_program, tiny
from handmade import encode, random_layers
from switches import check
from test_top import sparse_inputs


@pytest.mark.parametrize("lookahead", [0, 1])
@pytest.mark.parametrize("seed,fifo,line_bits", [(401, 2, 16), (402, 1, 16), (402, 4, 24)])
def test_random_programs(seed, fifo, line_bits, lookahead):
    """4 entries per line, and 6 (the slot is not a bit slice)."""
    rng = np.random.default_rng(seed)
    arch = tiny(pes=int(rng.integers(1, 4)), fifo_depth=fifo, run_bits=2, code_bits=2,
                line_bits=line_bits, acc_depth=int(rng.integers(4, 9)), act_depth=32, sparse_depth=64,
                ptr_depth=128, bias_depth=64, bounds_lookahead=lookahead, padding_merge=1)
    sizes = [int(v) for v in rng.integers(3, 20, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.05, 0.3))))
    assert sum(int(image.merged.sum()) for image in program.decoded.passes) > 0
    inputs = sparse_inputs(rng, sizes[0], 2, density=0.8)
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


def test_merging_saves_cycles():
    rng = np.random.default_rng(12)
    arch = tiny(pes=2, fifo_depth=8, run_bits=2, code_bits=2, line_bits=16, acc_depth=16,
                act_depth=32, sparse_depth=64, ptr_depth=128, bias_depth=64, bounds_lookahead=1)
    layers = random_layers(rng, arch, [12, 32], density=0.1)
    inputs = sparse_inputs(rng, 12, 2, density=1.0)
    counts = []
    for switch in (0, 1):
        program = encode(dataclasses.replace(arch, padding_merge=switch), layers)
        results = run_program(program, inputs)
        check(program, inputs, results)
        counts.append([cycles for _, cycles in results])
    assert all(on < off for off, on in zip(*counts))


def test_conv_program():
    arch = dataclasses.replace(PRESETS["small"], name="conv-merge", pes=4, fifo_depth=2,
                               run_bits=2, code_bits=2, line_bits=16, act_depth=64, acc_depth=4,
                               sparse_depth=128, ptr_depth=256, bias_depth=64, max_layers=4,
                               max_passes=24, bounds_lookahead=1, padding_merge=1)
    program, x = random_conv_program(arch, 5, density=0.3, batch=2, input_density=0.7, height=4,
                                     width=4, channels=3, convs=((16, 3, 1, 1),), pool=None,
                                     classes=None)
    xq = quantize_input(program, x)
    sim, gateware, reference = (run(rung, program, xq) for rung in ("sim", "amaranth", "reference"))
    np.testing.assert_array_equal(sim.outputs, reference.outputs)
    np.testing.assert_array_equal(gateware.outputs, reference.outputs)
    np.testing.assert_array_equal(gateware.cycles, sim.cycles)
