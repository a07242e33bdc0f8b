"""The group feed (``ArchConfig.group_feed``, docs/timing.md "Group feed") on the whole array under
Amaranth's simulator: outputs == the reference's, and the cycle counter == the literal timing
equations (``handmade.timing_cycles``) == the cycle simulator, for sparse, binary, conv and binary
conv programs, with one-deep queues, long and empty inputs, and with the other switches."""

import numpy as np
import pytest

from zeroskip.hw import timing

from benches import run_program, tiny
from handmade import binary_conv_program, encode, random_layers
from switches import check, check_binary_passes, check_conv_program, counts_off_and_on
from test_binary_conv import _arch
from test_top import sparse_inputs


def test_the_switch_delays_every_group_scan():
    """Same program, switch off and on: every pass's group scan starts GROUP_FEED_LATENCY cycles
    later and nothing else moves, so the counts differ by that per pass."""
    arch = tiny(pes=2, fifo_depth=2, acc_depth=8, act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64)
    off, on, passes = counts_off_and_on("group_feed", arch, [16, 12, 5], 21, 0.3, 0.5)
    assert [b - a for a, b in zip(off, on)] == [timing.GROUP_FEED_LATENCY * passes] * len(off)


@pytest.mark.parametrize("seed", range(4))
def test_random_sparse_programs(seed):
    rng = np.random.default_rng(700 + seed)
    arch = tiny(pes=int(rng.integers(1, 6)), fifo_depth=[1, 2, 3, 8][seed],
                acc_depth=int(rng.integers(2, 6)), act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64, max_passes=32, group_feed=1, padding_merge=seed % 2,
                registered_broadcast=int(seed >= 2), bounds_lookahead=int(seed == 1))
    sizes = [int(v) for v in rng.integers(3, 30, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.1, 0.7))))
    inputs = sparse_inputs(rng, sizes[0], 2, density=float(rng.uniform(0.3, 1.0)))
    inputs.append(np.zeros(sizes[0], np.int64))
    inputs.append(np.ones(sizes[0], np.int64))           # every group full: one pop a cycle
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


@pytest.mark.parametrize("sizes,planes,pes,fifo", [([20, 9, 5], 2, 3, 2), ([40, 12, 4], 0, 2, 1),
                                                    ([70, 6, 3], 0, 4, 8)])
def test_binary_passes(sizes, planes, pes, fifo):
    check_binary_passes({"group_feed": 1, "registered_broadcast": int(pes != 3)}, sizes, planes,
                        pes, fifo, seed=sum(sizes) + 5)


@pytest.mark.parametrize("switches", [{}, {"registered_broadcast": 1}, {"lane_passes": 1},
                                      {"sweep_overlap": 1, "registered_broadcast": 1}])
def test_conv_program(switches):
    check_conv_program({"group_feed": 1, **switches})


@pytest.mark.parametrize("lookahead", [0, 1])
def test_binary_conv_program(lookahead):
    """Padding on every side, strides 1 and 2, two chunks per kernel position, planes."""
    arch = _arch(pes=4, fifo_depth=2, group_feed=1, registered_broadcast=1, bounds_lookahead=lookahead)
    rng = np.random.default_rng(33)
    specs = [dict(height=5, width=5, channels=20, kernel=3, stride=1, pad=1, out=6, planes=2),
             dict(height=5, width=5, channels=6, kernel=3, stride=2, pad=1, out=5, binarize=False)]
    program = binary_conv_program(arch, rng, specs)
    inputs = list(rng.integers(0, 4, (2, 5 * 5 * 20)))
    check(program, inputs, run_program(program, inputs))


def test_binary_passes_with_the_bounds_lookahead():
    check_binary_passes({"group_feed": 1, "bounds_lookahead": 1}, [36, 10, 4], 3, 4, 2, seed=77)
