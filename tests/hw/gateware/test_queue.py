"""The PE's activation queue (hw/gateware/queue.py, its oldest item a register) against
amaranth.lib.fifo.SyncFIFO, the FIFO it replaces: driven alike by random pushes and pops (full
and empty included), cycle by cycle the same readiness, level and oldest item."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib.fifo import SyncFIFO
from amaranth.sim import Simulator

from zeroskip.hw.gateware.queue import Queue


@pytest.mark.parametrize("depth", [1, 2, 3, 8])
def test_the_queue_behaves_as_syncfifo(depth):
    m = Module()
    m.submodules.ours = ours = Queue(width=12, depth=depth)
    m.submodules.theirs = theirs = SyncFIFO(width=12, depth=depth)
    rng = random.Random(depth)
    seen = {"full": 0, "empty": 0, "popped": 0}

    async def bench(ctx):
        for cycle in range(600):
            # phases that fill the queue and phases that drain it
            push_rate = 0.8 if (cycle // 50) % 2 == 0 else 0.2
            w_en, r_en, word = rng.random() < push_rate, rng.random() < 1 - push_rate, rng.getrandbits(12)
            for fifo in (ours, theirs):
                ctx.set(fifo.w_en, w_en)
                ctx.set(fifo.r_en, r_en)
                ctx.set(fifo.w_data, word)
            state = [(ctx.get(f.w_rdy), ctx.get(f.r_rdy), ctx.get(f.level)) for f in (ours, theirs)]
            assert state[0] == state[1], f"cycle {cycle}: (w_rdy, r_rdy, level) {state}"
            w_rdy, r_rdy, level = state[0]
            if r_rdy:
                assert ctx.get(ours.r_data) == ctx.get(theirs.r_data), f"cycle {cycle}"
                seen["popped"] += r_en
            seen["full"] += level == depth
            seen["empty"] += level == 0
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert all(count > 10 for count in seen.values()), seen
