"""The accumulator files' collisions (a read and a write of one row in one cycle): the MAC's and
the sweep's forwarding take the written sum there, so the data read is never taken, and the
FPGA flow lets the block RAM return anything (``FORWARDED_FILES``). Under Amaranth's simulator
with ``ProcessingElement.scramble_collisions`` the complement is returned at every collision:
the outputs must stay the reference's and the cycles the simulator's, on programs where
collisions happen (counted). The activation banks' are scrambled alike (``BANK_FILES``: the
group read may meet the sweep's writes in the destination bank, whose data it does not take).
The memories
the host alone writes and a run alone reads (``RUN_READ_FILES``, marked alike) are scrambled
too, and see none."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.compiler.conv import random_conv_program
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.gateware.pe import ProcessingElement
from zeroskip.hw.gateware.top import Accelerator
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.sim import simulate_int

from benches import simulate, tiny
from handmade import encode, random_layers
from test_top import folded, sparse_inputs

#: the switches the FPGA builds take (docs/fpga.md)
FPGA_SWITCHES = dict(registered_broadcast=1, group_feed=1, bounds_lookahead=1, broadcast_relay=1)


@pytest.fixture(autouse=True)
def scrambled(monkeypatch):
    monkeypatch.setattr(ProcessingElement, "scramble_collisions", True)


def run_scrambled(program, inputs) -> int:
    """Every input through the array with the collisions scrambled, checked against the
    reference and the simulator, no collision in a ``RUN_READ_FILES`` memory (the program
    loaded over the bus, then run); returns the collisions counted over all PEs."""
    top = Accelerator(program.arch, None)
    results, seen, host_seen = [], [], []

    async def bench(ctx, host):
        await host.load_program(program, write_images=True)
        for x in inputs:
            results.append(await host.run(x))
        seen.extend(ctx.get(pe.collisions_seen) for pe in top.pes)
        host_seen.extend(ctx.get(pe.host_collisions_seen) for pe in top.pes)

    simulate(top, bench)
    for x, (outputs, cycles) in zip(inputs, results):
        np.testing.assert_array_equal(outputs, predict_int(program, np.asarray(x)[None])[0])
        assert cycles == simulate_int(program, np.asarray(x)[None]).cycles
    assert host_seen == [0] * len(top.pes)
    return sum(seen)


@pytest.mark.parametrize("switches", [{}, FPGA_SWITCHES], ids=["plain", "fpga"])
def test_dense_columns_back_to_back(switches):
    """Dense columns over four rows a PE: entries two apart in a PE's stream meet one row, the
    later one's read colliding with the earlier one's write."""
    rng = np.random.default_rng(3)
    arch = tiny(**switches)
    program = encode(arch, random_layers(rng, arch, [12, 8, 6], density=0.9))
    assert run_scrambled(program, sparse_inputs(rng, 12, 2, density=0.9)) > 0


@pytest.mark.parametrize("switches", [{}, FPGA_SWITCHES], ids=["plain", "fpga"])
def test_conv_max_pool_with_the_sweep_overlap(switches):
    """A conv, a max pool and an FC head with the two accumulator files: the MAC's collisions,
    and the sweep's (its first row read as the last entry writes it)."""
    arch = dataclasses.replace(PRESETS["small"], name="collide", pes=4, fifo_depth=2,
                               act_depth=256, acc_depth=4, sparse_depth=256, ptr_depth=512,
                               bias_depth=128, max_layers=8, max_passes=32, sweep_overlap=1,
                               **switches)
    program, x = random_conv_program(arch, 5, height=6, width=6, channels=3,
                                     convs=((8, 3, 1, 1),), pool=(2, 2), classes=4, density=0.7,
                                     batch=2, input_density=0.8)
    assert run_scrambled(program, list(quantize_input(program, x))) > 0


def test_binary_passes():
    """Folded binary layers, one line an entry and one row a PE: each line's read meets the
    write of the line two before."""
    rng = np.random.default_rng(5)
    arch = tiny(pes=2, line_bits=16, acc_depth=3, fifo_depth=2, sparse_depth=64, act_depth=32,
                bias_depth=64, ptr_depth=128, max_passes=16)
    layers = [folded(rng, 2, 40, 2, True), folded(rng, 4, 2, 0, False)]
    program = compile_layers(layers, arch)
    assert run_scrambled(program, list(rng.integers(0, 4, (2, 40)))) > 0
