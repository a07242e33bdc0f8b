"""The registered broadcast (``ArchConfig.registered_broadcast``, docs/timing.md "Registered
broadcast") on the whole array under Amaranth's simulator: outputs == the reference's, and the
cycle counter == the literal timing equations (``handmade.timing_cycles``) == the cycle simulator,
for sparse, binary, conv and binary conv programs, with one-deep queues (the register's item
takes the queue's only place) and long columns."""

import numpy as np
import pytest


from benches import run_program, tiny
from handmade import encode, random_layers
from switches import check, check_binary_passes, check_conv_program, counts_off_and_on
from test_top import sparse_inputs


def test_the_switch_changes_the_timing():
    """Same program, switch off and on: with the register an item reaches the queues a cycle
    later, so a PE that waits for it starts a cycle later; each count matches its equations."""
    arch = tiny(pes=2, fifo_depth=2, acc_depth=8, act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64)
    off, on, _ = counts_off_and_on("registered_broadcast", arch, [16, 12, 5], 12, 0.3, 0.5)
    assert all(b > a for a, b in zip(off, on))


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
    check_binary_passes({"registered_broadcast": 1}, sizes, planes, pes, fifo, seed=sum(sizes) + 1)


def test_conv_program():
    check_conv_program({"registered_broadcast": 1})


@pytest.mark.parametrize("seed", range(4))
def test_with_the_bounds_lookahead(seed):
    """docs/timing.md "Bounds lookahead": the item registered, then its bounds registered out of
    the pointer block RAM, then the stage: three cycles before the queue, empty items included."""
    rng = np.random.default_rng(480 + seed)
    arch = tiny(pes=int(rng.integers(1, 5)), fifo_depth=[1, 2, 4, 8][seed],
                acc_depth=int(rng.integers(2, 6)), act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64, max_passes=32, registered_broadcast=1, bounds_lookahead=1,
                padding_merge=seed % 2, group_feed=int(seed >= 2))
    sizes = [int(v) for v in rng.integers(3, 24, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.05, 0.6))))
    inputs = sparse_inputs(rng, sizes[0], 2, density=float(rng.uniform(0.3, 1.0)))
    inputs.append(np.zeros(sizes[0], np.int64))
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


@pytest.mark.parametrize("fifo", [1, 3])
def test_binary_passes_with_the_bounds_lookahead(fifo):
    check_binary_passes({"registered_broadcast": 1, "bounds_lookahead": 1}, [30, 9, 5], 2, 3, fifo,
                        seed=55 + fifo)


@pytest.mark.parametrize("switches", [{}, {"lane_passes": 1, "group_feed": 1}])
def test_conv_program_with_the_bounds_lookahead(switches):
    check_conv_program({"registered_broadcast": 1, "bounds_lookahead": 1, **switches})
