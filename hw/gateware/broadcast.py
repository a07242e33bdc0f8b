"""The broadcast unit: reads the input vector in groups of N activations (one per PE, from each
PE's source bank), finds the lowest-indexed non-zero with the LNZD tree and broadcasts
``(a_j, j)`` to every PE's queue, stalling while any queue is full (docs/timing.md):

- the read of group 0 is issued at the pass's first cycle; a group's data is examined from the
  cycle after its read (the read port holds it: that is the group register);
- the next group's read is issued in the cycle the group's last non-zero is broadcast, or in the
  cycle an empty group is examined; ``done`` rises the cycle after the last group is finished.

Binary passes (docs/binary-mode.md) broadcast every (plane, chunk) item instead: a chunk's
``line_bits`` input bits are assembled from the groups covering it (the group still in the
group register first), reads start in the cycle the previous item is pushed, one per cycle,
and the item is pushed in the cycle its last group arrives.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from zeroskip.hw.arch import ArchConfig, _bits_for
from zeroskip.hw.gateware.lnzd import LeadingNonZero
from zeroskip.hw.gateware.pe import PLANE_BITS, chunk_bits
from zeroskip.hw.program import KIND_BINARY


class Broadcaster(wiring.Component):
    def __init__(self, arch: ArchConfig):
        self.arch = arch
        a = arch
        super().__init__({
            "start": In(1),                               # the pass's first cycle
            "in_len": In(_bits_for(a.max_vector)),
            "kind": In(1), "planes": In(PLANE_BITS),
            "group_en": Out(1), "group_addr": Out(range(a.act_depth)),
            "group": In(data.ArrayLayout(signed(a.act_bits), a.pes)),   # one activation per PE
            "ready": In(1),                               # no PE's queue is full
            "push": Out(1), "push_value": Out(signed(a.act_bits)), "push_index": Out(a.act_index_bits),
            "push_bits": Out(a.line_bits), "push_plane": Out(PLANE_BITS), "push_chunk": Out(chunk_bits(a)),
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
        binary = self.kind == KIND_BINARY
        with m.If(binary):
            self.elaborate_binary(m, finished)
        with m.Elif(self.start):
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

    def elaborate_binary(self, m: Module, finished: Signal) -> None:
        a = self.arch
        n, w = a.pes, a.line_bits
        span = _bits_for(a.max_vector + w + n)
        running = Signal()
        plane = Signal(PLANE_BITS)
        chunk = Signal(chunk_bits(a))
        chunk_start = Signal(span)              # chunk · line_bits
        chunk_end = Signal(span)                # min(chunk_start + line_bits, in_len)
        read_group = Signal(range(a.act_depth + 1))
        read_base = Signal(span)                # read_group · N
        port_base = Signal(span)                # first index of the group in the group register
        arrive = Signal()                       # the group register was just loaded
        full = Signal()                         # the item is assembled, waiting to be pushed
        assembled = Signal(w)

        def bits_of(base):
            return Cat(Mux(self.planes == 0, self.group[lane] >= 0,
                           self.group[lane].as_unsigned().bit_select(plane, 1)) &
                       (base + lane < self.in_len) for lane in range(n))

        def placed(base, start):
            """The group register's bits at their places in the chunk starting at ``start``."""
            offset = Signal(_bits_for(w + n), name="offset")
            m.d.comb += offset.eq(base + n - start)
            return ((bits_of(base) << offset) >> n)[:w]

        def begin(new_start, new_end, first_group):
            """Set up an item; issue its first read now if it needs one."""
            m.d.sync += [chunk_start.eq(new_start), chunk_end.eq(new_end)]
            with m.If(first_group < new_end):
                m.d.comb += [self.group_en.eq(1), self.group_addr.eq(Mux(first_group == 0, 0, read_group))]
                m.d.sync += [arrive.eq(1), full.eq(0), port_base.eq(first_group)]
            with m.Else():
                m.d.sync += [arrive.eq(0), full.eq(1)]

        contribution = Signal(w)
        m.d.comb += contribution.eq(Mux(arrive, placed(port_base, chunk_start), 0))
        current = assembled | contribution
        complete = full | (arrive & (port_base + n >= chunk_end))
        m.d.comb += [self.push_bits.eq(current), self.push_plane.eq(plane), self.push_chunk.eq(chunk),
                     self.done.eq(finished & ~self.start)]
        first_end = Mux(self.in_len > w, w, self.in_len)

        with m.If(self.start):
            m.d.sync += [running.eq(1), finished.eq(0), plane.eq(0), chunk.eq(0), assembled.eq(0),
                         read_group.eq(1), read_base.eq(n)]
            begin(0, first_end, 0)
        with m.Elif(running & complete & self.ready):
            m.d.comb += self.push.eq(1)
            next_start = chunk_start + w
            with m.If(next_start < self.in_len):             # next chunk, same plane
                next_end = Mux(self.in_len > next_start + w, next_start + w, self.in_len)
                m.d.sync += [chunk.eq(chunk + 1), assembled.eq(placed(port_base, next_start))]
                with m.If(read_base < next_end):
                    m.d.sync += [read_group.eq(read_group + 1), read_base.eq(read_base + n)]
                begin(next_start, next_end, read_base)
            with m.Elif(plane + 1 < Mux(self.planes == 0, 1, self.planes)):   # next plane
                m.d.sync += [plane.eq(plane + 1), chunk.eq(0), assembled.eq(0),
                             read_group.eq(1), read_base.eq(n)]
                begin(0, first_end, 0)
            with m.Else():
                m.d.sync += [running.eq(0), finished.eq(1), arrive.eq(0)]
        with m.Elif(running & complete):                       # stalled: hold the item
            m.d.sync += [assembled.eq(current), full.eq(1), arrive.eq(0)]
        with m.Elif(running):                                  # assembling: next read
            m.d.sync += assembled.eq(current)
            with m.If(read_base < chunk_end):
                m.d.comb += [self.group_en.eq(1), self.group_addr.eq(read_group)]
                m.d.sync += [arrive.eq(1), port_base.eq(read_base),
                             read_group.eq(read_group + 1), read_base.eq(read_base + n)]
            with m.Else():
                m.d.sync += arrive.eq(0)
