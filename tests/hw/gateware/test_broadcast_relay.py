"""The broadcast relay (``ArchConfig.broadcast_relay``, docs/timing.md "Broadcast relay") on the
whole array under Amaranth's simulator: outputs == the reference's, and the cycle counter == the
literal timing equations (``handmade.timing_cycles``) == the cycle simulator, for sparse, binary,
conv, binary conv and lane programs, alone and with the other pipeline switches, with one-deep
queues (the relay's register and the PE's take the queue's only place) and long columns."""

import numpy as np
import pytest

from benches import run_program, tiny
from handmade import encode, random_layers
from switches import check, check_binary_passes, check_conv_program, counts_off_and_on
from test_top import sparse_inputs


@pytest.mark.parametrize("registered", [0, 1])
def test_the_switch_changes_the_timing(registered):
    """Same program, relay off and on: an item reaches the queues a cycle later and a full queue
    frees a cycle later, so every input takes longer; each count matches its equations."""
    arch = tiny(pes=2, fifo_depth=2, acc_depth=8, act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64, registered_broadcast=registered)
    off, on, _ = counts_off_and_on("broadcast_relay", arch, [16, 12, 5], 12, 0.3, 0.5)
    assert all(b > a for a, b in zip(off, on))


@pytest.mark.parametrize("seed", range(6))
def test_random_sparse_programs(seed):
    rng = np.random.default_rng(700 + seed)
    arch = tiny(pes=int(rng.integers(1, 5)), fifo_depth=[1, 2, 3, 8, 1, 2][seed],
                acc_depth=int(rng.integers(2, 6)), act_depth=32, sparse_depth=128, ptr_depth=256,
                bias_depth=64, max_passes=32, broadcast_relay=1, registered_broadcast=int(seed < 4),
                bounds_lookahead=int(seed >= 2), padding_merge=seed % 2, group_feed=int(seed == 3))
    sizes = [int(v) for v in rng.integers(3, 24, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.05, 0.7))))
    inputs = sparse_inputs(rng, sizes[0], 2, density=float(rng.uniform(0.3, 1.0)))
    inputs.append(np.zeros(sizes[0], np.int64))
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


@pytest.mark.parametrize("switches,fifo", [({"registered_broadcast": 1}, 1), ({}, 2),
                                           ({"registered_broadcast": 1, "bounds_lookahead": 1}, 1),
                                           ({"bounds_lookahead": 1, "group_feed": 1}, 3)])
def test_binary_passes(switches, fifo):
    check_binary_passes({"broadcast_relay": 1, **switches}, [30, 9, 5], 2, 3, fifo, seed=77 + fifo)


@pytest.mark.parametrize("switches", [
    {"registered_broadcast": 1},
    {"registered_broadcast": 1, "bounds_lookahead": 1, "group_feed": 1},
    {"bounds_lookahead": 1, "lane_passes": 1, "sweep_overlap": 1},
    {"registered_broadcast": 1, "lane_passes": 1}])
def test_conv_program(switches):
    check_conv_program({"broadcast_relay": 1, **switches})
