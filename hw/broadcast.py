"""The broadcast unit: reads the input vector in groups of N activations (one per PE, from each
PE's source bank), finds the lowest-indexed non-zero with the LNZD tree and broadcasts
``(a_j, j)`` to every PE's queue, stalling while any queue is full (docs/timing.md):

- the read of group 0 is issued at the pass's first cycle; a group's data is examined from the
  cycle after its read (the read port holds it: that is the group register);
- the next group's read is issued in the cycle the group's last non-zero is broadcast, or in the
  cycle an empty group is examined; ``done`` rises the cycle after the last group is finished.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from zeroskip.hw.arch import ArchConfig, _bits_for
from zeroskip.hw.lnzd import LeadingNonZero


class Broadcaster(wiring.Component):
    def __init__(self, arch: ArchConfig):
        self.arch = arch
        a = arch
        super().__init__({
            "start": In(1),                               # the pass's first cycle
            "in_len": In(_bits_for(a.max_vector)),
            "group_en": Out(1), "group_addr": Out(range(a.act_depth)),
            "group": In(data.ArrayLayout(signed(a.act_bits), a.pes)),   # one activation per PE
            "ready": In(1),                               # no PE's queue is full
            "push": Out(1), "push_value": Out(signed(a.act_bits)), "push_index": Out(a.act_index_bits),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        a = self.arch
        n = a.pes
        m.submodules.lnzd = lnzd = LeadingNonZero(n)

        running = Signal()        # a group is in the group register
        finished = Signal()
        group = Signal(range(a.act_depth + 1))
        group_base = Signal(_bits_for(a.max_vector + n))     # group * N
        fired = Signal(n)         # lanes of this group already broadcast

        lanes = Cat((self.group[lane] != 0) & (group_base + lane < self.in_len) for lane in range(n))
        remaining = Signal(n)
        m.d.comb += [remaining.eq(lanes & ~fired), lnzd.mask.eq(remaining)]
        chosen = Signal(n)
        m.d.comb += chosen.eq(1 << lnzd.index)
        m.d.comb += [self.push_value.eq(self.group[lnzd.index]),
                     self.push_index.eq(group_base + lnzd.index),
                     self.done.eq(finished & ~self.start)]

        advance = Signal()
        with m.If(self.start):
            m.d.comb += [self.group_en.eq(1), self.group_addr.eq(0)]
            m.d.sync += [running.eq(1), finished.eq(0), group.eq(0), group_base.eq(0), fired.eq(0)]
        with m.Elif(running):
            with m.If(~lnzd.valid):
                m.d.comb += advance.eq(1)
            with m.Elif(self.ready):
                m.d.comb += [self.push.eq(1), advance.eq((remaining & ~chosen) == 0)]
                m.d.sync += fired.eq(fired | chosen)
            with m.If(advance):
                m.d.sync += [fired.eq(0), group.eq(group + 1), group_base.eq(group_base + n)]
                with m.If(group_base + n >= self.in_len):
                    m.d.sync += [running.eq(0), finished.eq(1)]
                with m.Else():
                    m.d.comb += [self.group_en.eq(1), self.group_addr.eq(group + 1)]
        return m
