"""The registered broadcast (``ArchConfig.registered_broadcast``, docs/timing.md "Registered
broadcast") on the whole array under Amaranth's simulator: outputs == the reference's, and the
cycle counter == the literal timing equations (``handmade.timing_cycles``) == the cycle simulator,
for sparse, binary, conv and binary conv programs, with one-deep queues (the register's item
takes the queue's only place) and long columns."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.compiler.conv import random_conv_program
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.sim import simulate_int

from benches import run_program, tiny
from handmade import encode, random_layers, timing_cycles
from test_top import folded, sparse_inputs


def check(program, inputs, results):
    for x, (outputs, cycles) in zip(inputs, results):
        np.testing.assert_array_equal(outputs, predict_int(program, np.asarray(x)[None])[0])
        assert cycles == timing_cycles(program, x)
        assert cycles == simulate_int(program, np.asarray(x)[None]).cycles


def test_the_switch_changes_the_timing():
    """Same program, switch off and on: with the register an item reaches the queues a cycle
    later, so a PE that waits for it starts a cycle later; each count matches its equations."""
    rng = np.random.default_rng(12)
    arch = tiny(pes=2, fifo_depth=2, acc_depth=8, act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64)
    layers = random_layers(rng, arch, [16, 12, 5], density=0.3)
    inputs = sparse_inputs(rng, 16, 2, density=0.5)
    counts = []
    for switch in (0, 1):
        program = encode(dataclasses.replace(arch, registered_broadcast=switch), layers)
        results = run_program(program, inputs)
        check(program, inputs, results)
        counts.append([cycles for _, cycles in results])
    assert all(on > off for off, on in zip(*counts))


@pytest.mark.parametrize("seed", range(4))
def test_random_sparse_programs(seed):
    rng = np.random.default_rng(400 + seed)
    arch = tiny(pes=int(rng.integers(1, 5)), fifo_depth=[1, 2, 3, 8][seed],
                acc_depth=int(rng.integers(2, 6)), act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64, registered_broadcast=1, padding_merge=seed % 2)
    sizes = [int(v) for v in rng.integers(3, 20, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.1, 0.7))))
    inputs = sparse_inputs(rng, sizes[0], 2, density=float(rng.uniform(0.3, 1.0)))
    inputs.append(np.zeros(sizes[0], np.int64))
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


@pytest.mark.parametrize("sizes,planes,pes,fifo", [([20, 9, 5], 2, 3, 2), ([40, 12, 4], 0, 2, 1)])
def test_binary_passes(sizes, planes, pes, fifo):
    rng = np.random.default_rng(sum(sizes) + 1)
    arch = tiny(pes=pes, line_bits=16, acc_depth=3, fifo_depth=fifo, sparse_depth=64,
                act_depth=32, bias_depth=64, ptr_depth=128, max_passes=16, registered_broadcast=1)
    layers = [folded(rng, n, k, planes if i == 0 else 0, i < len(sizes) - 2)
              for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:]))]
    program = compile_layers(layers, arch)
    inputs = list(rng.integers(0, 1 << planes, (2, sizes[0])) if planes
                  else rng.integers(-5, 5, (2, sizes[0])))
    check(program, inputs, run_program(program, inputs))


def test_conv_program():
    from zeroskip.ladder import run
    arch = dataclasses.replace(PRESETS["small"], name="conv-registered", pes=4, fifo_depth=2,
                               act_depth=64, acc_depth=1, sparse_depth=128, ptr_depth=256,
                               bias_depth=64, max_layers=4, max_passes=24, registered_broadcast=1)
    program, x = random_conv_program(arch, 9, density=0.5, batch=2, input_density=0.6, height=4,
                                     width=4, channels=3, convs=((6, 3, 1, 1),), pool=(2, 2),
                                     classes=3)
    xq = quantize_input(program, x)
    sim, gateware, reference = (run(rung, program, xq) for rung in ("sim", "amaranth", "reference"))
    np.testing.assert_array_equal(sim.outputs, reference.outputs)
    np.testing.assert_array_equal(gateware.outputs, reference.outputs)
    np.testing.assert_array_equal(gateware.cycles, sim.cycles)


def test_not_with_the_bounds_lookahead():
    with pytest.raises(ZeroskipError, match="'registered_broadcast' and 'bounds_lookahead' are "
                                            "not supported together"):
        dataclasses.replace(PRESETS["zs64"], registered_broadcast=1)
