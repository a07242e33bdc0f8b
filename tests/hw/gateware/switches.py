"""What the tests of each timing switch (docs/timing.md: ``bounds_lookahead``,
``padding_merge``, ``registered_broadcast``) check on the whole array under Amaranth's simulator:
outputs == the reference's, and the cycle counter == the literal equations
(``handmade.timing_cycles``) == the cycle simulator."""

import dataclasses

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.compiler.conv import random_conv_program
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.sim import simulate_int

from benches import run_program, tiny
from handmade import timing_cycles
from test_top import folded


def check(program, inputs, results):
    for x, (outputs, cycles) in zip(inputs, results):
        np.testing.assert_array_equal(outputs, predict_int(program, np.asarray(x)[None])[0])
        assert cycles == timing_cycles(program, x)
        assert cycles == simulate_int(program, np.asarray(x)[None]).cycles


def counts_off_and_on(switch: str, arch, sizes, seed: int, density: float,
                      input_density: float) -> tuple[list[int], list[int], int]:
    """One random program of ``sizes`` on ``arch`` with the switch ``switch`` off and on, each
    checked against its own equations: the cycle counts per input, off and on, and the passes."""
    from handmade import encode, random_layers
    from test_top import sparse_inputs
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, arch, sizes, density=density)
    inputs = sparse_inputs(rng, sizes[0], 2, density=input_density)
    counts = []
    for on in (0, 1):
        program = encode(dataclasses.replace(arch, **{switch: on}), layers)
        results = run_program(program, inputs)
        check(program, inputs, results)
        counts.append([cycles for _, cycles in results])
    return counts[0], counts[1], len(program.passes)


def check_binary_passes(switch: dict, sizes, planes: int, pes: int, fifo: int, seed: int):
    """A chain of folded binary layers (the first reading ``planes`` bit planes)."""
    rng = np.random.default_rng(seed)
    arch = tiny(pes=pes, line_bits=16, acc_depth=3, fifo_depth=fifo, sparse_depth=64,
                act_depth=32, bias_depth=64, ptr_depth=128, max_passes=16, **switch)
    layers = [folded(rng, n, k, planes if i == 0 else 0, i < len(sizes) - 2)
              for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:]))]
    program = compile_layers(layers, arch)
    inputs = list(rng.integers(0, 1 << planes, (2, sizes[0])) if planes
                  else rng.integers(-5, 5, (2, sizes[0])))
    check(program, inputs, run_program(program, inputs))


def rungs_agree(program, x):
    """The float inputs ``x`` quantised through the simulator, the gateware (Amaranth) and the
    reference: outputs all equal, the gateware's cycle counter == the simulator's, input by
    input. Returns the cycles."""
    from zeroskip.ladder import run

    xq = quantize_input(program, x)
    sim, gateware, reference = (run(rung, program, xq) for rung in ("sim", "amaranth", "reference"))
    np.testing.assert_array_equal(sim.outputs, reference.outputs)
    np.testing.assert_array_equal(gateware.outputs, reference.outputs)
    np.testing.assert_array_equal(gateware.cycles, sim.cycles)
    return sim.cycles


def check_conv_program(switch: dict):
    """A 3x3 conv, a max pool and an FC head on 4 PEs with two-deep queues: the reference, the
    simulator and the gateware."""
    arch = dataclasses.replace(PRESETS["small"], name="conv-switch", pes=4, fifo_depth=2,
                               act_depth=64, acc_depth=1, sparse_depth=128, ptr_depth=256,
                               bias_depth=64, max_layers=4, max_passes=24, **switch)
    program, x = random_conv_program(arch, 9, density=0.5, batch=2, input_density=0.6, height=4,
                                     width=4, channels=3, convs=((6, 3, 1, 1),), pool=(2, 2),
                                     classes=3)
    rungs_agree(program, x)
