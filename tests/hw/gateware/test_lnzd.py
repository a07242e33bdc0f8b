"""The leading-non-zero tree: lowest set bit of the mask, for sizes that are and are not powers
of four."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from zeroskip.hw.gateware.lnzd import LeadingNonZero, tree_levels


def test_levels():
    assert [tree_levels(n) for n in (1, 2, 4, 5, 16, 17, 64)] == [0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("n", [1, 3, 4, 5, 16, 64])
def test_lowest_set_bit(n):
    rng = np.random.default_rng(n)
    masks = [0, 1, (1 << n) - 1, 1 << (n - 1)] + [int(v) for v in rng.integers(0, 1 << min(n, 62), 60)]
    masks += [1 << int(b) for b in rng.integers(0, n, 10)]
    dut = LeadingNonZero(n)
    seen = []

    async def bench(ctx):
        for mask in masks:
            ctx.set(dut.mask, mask)
            seen.append((ctx.get(dut.valid), ctx.get(dut.index)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for mask, (valid, index) in zip(masks, seen):
        assert valid == (mask != 0)
        if mask:
            assert index == (mask & -mask).bit_length() - 1
