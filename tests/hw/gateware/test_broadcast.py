"""The broadcast unit with real activation memories: group reads, one broadcast per cycle in
index order, one cycle per empty group, stalls while a queue is full, and ``done``."""


import numpy as np
import pytest
from amaranth.sim import Simulator


from benches import BroadcastHarness as Harness, tiny, watch_broadcast


def broadcast(arch, vector, in_len, ready_pattern=None, cycles=80):
    top = Harness(arch, vector)
    unit = top.unit
    log = {"push": [], "done": None}

    async def bench(ctx):
        ctx.set(unit.run.desc.in_len, in_len)
        ctx.set(unit.run.start, 1)
        log.update(await watch_broadcast(ctx, unit, cycles, ready_pattern))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return log


def equations(arch, vector, in_len):
    """b_k and done_b of docs/timing.md with no stall, the pass starting at T = 0."""
    n = arch.pes
    nonzero = [j for j in range(in_len) if vector[j] != 0]
    b, prev_b, prev_g = [], 0, -1
    for j in nonzero:
        g = j // n
        prev_b = prev_b + 1 + max(0, g - prev_g - 1)
        prev_g = g
        b.append(prev_b)
    groups = -(-in_len // n)
    done = b[-1] + 1 + (groups - 1 - nonzero[-1] // n) if nonzero else groups + 1
    return nonzero, b, done


@pytest.mark.parametrize("pes,seed", [(4, 0), (5, 1), (2, 2)])
def test_broadcast_order_and_timing(pes, seed):
    arch = tiny(pes=pes)
    rng = np.random.default_rng(seed)
    in_len = 3 * pes + 2
    vector = rng.integers(-9, 9, size=in_len + 3) * (rng.random(in_len + 3) < 0.4)
    vector[in_len:] = 5                                       # beyond in_len: masked
    vector[pes:2 * pes] = 0                                   # an empty group
    log = broadcast(arch, vector, in_len)
    nonzero, b, done = equations(arch, vector, in_len)
    assert [i for _, i, _ in log["push"]] == nonzero
    assert [v for _, _, v in log["push"]] == [int(vector[j]) for j in nonzero]
    assert [c for c, _, _ in log["push"]] == b
    assert log["done"] == done


def test_all_zero_vector_takes_one_cycle_per_group():
    arch = tiny(pes=4)
    log = broadcast(arch, np.zeros(10, np.int64), 10)
    assert log["push"] == []
    assert log["done"] == 3 + 1                               # T + G + 1


def test_stall_holds_the_broadcast():
    arch = tiny(pes=4)
    vector = np.arange(1, 11)
    log = broadcast(arch, vector, 10, ready_pattern=lambda c: int(c % 3 != 1))
    assert [i for _, i, _ in log["push"]] == list(range(10))
    assert all(c % 3 != 1 for c, _, _ in log["push"])
