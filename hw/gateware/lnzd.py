"""Leading-non-zero detection: a tree of 4-input nodes finding the lowest set bit of a mask.

EIE's LNZD is a quadtree with one node per 4 PEs; here it is combinational: each node passes up
"any child valid" and the index of its lowest valid child, extended by two bits per level.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def tree_levels(n: int) -> int:
    """Levels of 4-input nodes over ``n`` inputs."""
    levels, span = 0, 1
    while span < n:
        span *= 4
        levels += 1
    return levels


class LeadingNonZero(wiring.Component):
    """``valid`` ← any bit of ``mask``; ``index`` ← the lowest set bit (0 when none)."""

    def __init__(self, n: int):
        self.n = n
        self.levels = tree_levels(n)
        super().__init__({
            "mask": In(n),
            "valid": Out(1),
            "index": Out(max(1, 2 * self.levels)),
        })

    def elaborate(self, platform):
        m = Module()
        # level 0: one (valid, index) per input, padded to a power of four
        nodes = [(self.mask[i], Const(0, 0)) for i in range(self.n)]
        nodes += [(Const(0, 1), Const(0, 0))] * (4 ** self.levels - self.n)
        for level in range(self.levels):
            parents = []
            for base in range(0, len(nodes), 4):
                group = nodes[base:base + 4]
                valid = Signal(name=f"l{level}_n{base // 4}_valid")
                index = Signal(2 * (level + 1), name=f"l{level}_n{base // 4}_index")
                m.d.comb += valid.eq(group[0][0] | group[1][0] | group[2][0] | group[3][0])
                # lowest valid child wins; the child number is the index's top two bits
                choice = Cat(group[3][1], Const(3, 2))
                for child in (2, 1, 0):
                    choice = Mux(group[child][0], Cat(group[child][1], Const(child, 2)), choice)
                m.d.comb += index.eq(choice)
                parents.append((valid, index))
            nodes = parents
        if self.levels:
            m.d.comb += [self.valid.eq(nodes[0][0]), self.index.eq(nodes[0][1])]
        else:
            m.d.comb += [self.valid.eq(self.mask[0]), self.index.eq(0)]
        return m
