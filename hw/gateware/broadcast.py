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

Conv pixel-passes (docs/conv.md) walk the window instead of the vector: kernel positions
(ky, kx) row-major, an inside one contributing the groups ``B div N .. (B + C − 1) div N`` with
the lanes of ``[B, B + C)`` as candidates (every one of them for ``OP_MAX``, zeros too) and
items ``(a_i, (ky·k + kx)·C + i − B)``, a padding one a single group examined in one cycle with
nothing read. B, (iy, ix) and (ky·k + kx)·C are stepped with adders from the pixel's window
(``interfaces.pixel_layout``); the timing rule above is unchanged. B div N and B mod N are bit
slices: arrays whose N is not a power of two run no conv pass (the compiler refuses them).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from zeroskip.hw.arch import ArchConfig, _bits_for
from zeroskip.hw.gateware.interfaces import (binary_item, broadcast_signature, chunk_bits,
                                             group_read_signature, pass_signature, plane_bits,
                                             sparse_item)
from zeroskip.hw.gateware.lnzd import LeadingNonZero
from zeroskip.hw.program import KIND_BINARY, KIND_CONV, OP_MAX


class Broadcaster(wiring.Component):
    """The broadcast unit of an array built for ``arch``: ``groups[p]`` reads PE p's source
    bank, ``items`` goes to every PE's queue while ``ready`` (every queue has room)."""

    def __init__(self, arch: ArchConfig):
        self.arch = arch
        super().__init__({
            "run": In(pass_signature(arch)),              # the pass: start, in_len, kind, planes
            "groups": Out(group_read_signature(arch)).array(arch.pes),   # one lane per PE
            "ready": In(1),                               # no PE's queue is full
            "items": Out(broadcast_signature(arch)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        a = self.arch
        n = a.pes
        m.submodules.lnzd = lnzd = LeadingNonZero(n)
        in_len = self.run.desc.in_len

        # every lane reads the same local address; the lanes' read data is the group register
        read = Signal(name="group_en")
        address = Signal(range(a.act_depth), name="group_addr")
        group = Signal(data.ArrayLayout(signed(a.act_bits), n))
        for lane, port in enumerate(self.groups):
            m.d.comb += [port.en.eq(read), port.addr.eq(address), group[lane].eq(port.data)]
        push = Signal()                 # the item enters every queue this cycle
        finished = Signal()
        m.d.comb += [self.items.valid.eq(push), self.done.eq(finished & ~self.run.start)]

        # sparse and conv passes: the lowest-indexed candidate of the group not yet broadcast.
        # The group sequence is made of *positions*: a sparse pass is one position, the
        # activations [0, in_len); a conv pass's kernel positions (ky, kx), row-major, are each
        # either inside the map, the activations [B, B + C), or in the padding, one group with no
        # candidates, examined in one cycle with nothing read (docs/conv.md).
        desc, pixel = self.run.desc, self.run.pixel
        shift = n.bit_length() - 1 if n & (n - 1) == 0 else None
        conv, maximum = Signal(), Signal()
        if shift is not None:     # B div N, B mod N are bit slices; other arrays run no conv pass
            m.d.comb += conv.eq(desc.kind == KIND_CONV)
        m.d.comb += maximum.eq(conv & (desc.op == OP_MAX))    # every activation is a candidate

        running = Signal()        # a group is in the group register
        index = Signal(range(a.act_depth + 1), name="group_index")
        group_base = Signal(_bits_for(a.max_vector + n))     # group * N
        fired = Signal(n)         # lanes of this group already broadcast
        # the position: its activations [base, end), the lane of ``base`` in its first group (0
        # in the others), whether it lies in the padding, and j − i for its items (the column of
        # activation i is ``delta + i``: for conv passes (ky·k + kx)·C − B, for sparse passes 0).
        # Addresses wrap at their widths: exact for every inside position, unused in the padding
        base = Signal(pixel.origin.shape(), name="position_base")
        end = Signal(pixel.origin.shape(), name="position_end")
        low = Signal(max(1, shift or 0), name="position_low")
        padding = Signal(name="position_padding")
        delta = Signal(a.act_index_bits, name="position_delta")
        # conv passes: the kernel position (ky, kx), its input pixel (iy, ix), its row's B at
        # kx = 0 and its first column (ky·k + kx)·C, all stepped with adders
        ky, kx = Signal.like(desc.kernel, name="ky"), Signal.like(desc.kernel, name="kx")
        iy = Signal(signed(len(pixel.iy0) + 1), name="iy")
        ix = Signal(signed(len(pixel.ix0) + 1), name="ix")
        row_origin = Signal.like(base, name="row_origin")
        columns = Signal(a.act_index_bits, name="position_columns")

        lanes = Cat((maximum | (group[lane] != 0)) & (lane >= low) & (group_base + lane < end)
                    & ~padding for lane in range(n))
        remaining = Signal(n)
        m.d.comb += [remaining.eq(lanes & ~fired), lnzd.mask.eq(remaining)]
        chosen = Signal(n)
        m.d.comb += chosen.eq(1 << lnzd.index)

        # the item of either kind; the pass's kind picks which one is pushed
        sparse, binary = Signal(sparse_item(a)), Signal(binary_item(a))
        m.d.comb += [sparse.value.eq(group[lnzd.index]),
                     sparse.index.eq(group_base + lnzd.index + delta)]
        kind_binary = desc.kind == KIND_BINARY
        m.d.comb += self.items.payload.eq(Mux(kind_binary, binary.as_value(), sparse.as_value()))

        def in_map(y, x):
            return (y >= 0) & (y < desc.in_height) & (x >= 0) & (x < desc.in_width)

        def enter(start, inside):
            """Make the position of activations [start, start + C) current: issue the read of
            its first group now unless it lies in the padding."""
            b = Signal.like(base, name="next_base")
            m.d.comb += b.eq(start)
            if shift is None:          # sparse passes only: the position starts at 0
                first, first_base, first_lane = 0, 0, 0
            else:
                first, first_base, first_lane = b[shift:], Cat(Const(0, shift), b[shift:]), b[:shift]
            m.d.comb += [read.eq(inside), address.eq(first)]
            m.d.sync += [index.eq(first), group_base.eq(first_base), low.eq(first_lane),
                         base.eq(b), end.eq(b + in_len), padding.eq(~inside)]
            return b

        advance = Signal()
        with m.If(kind_binary):
            self.elaborate_binary(m, group, read, address, push, finished, binary)
        with m.Else():
            with m.If(self.run.start):
                origin = Mux(conv, pixel.origin, 0)
                enter(origin, ~conv | in_map(pixel.iy0, pixel.ix0))
                m.d.sync += [running.eq(1), finished.eq(0), fired.eq(0), delta.eq(-origin),
                             ky.eq(0), kx.eq(0), iy.eq(pixel.iy0), ix.eq(pixel.ix0),
                             row_origin.eq(origin), columns.eq(0)]
            with m.Elif(running):
                with m.If(~lnzd.valid):
                    m.d.comb += advance.eq(1)
                with m.Elif(self.ready):
                    # the group's last candidate: at most one bit left, found beside the LNZD
                    # tree rather than after it (the read of the next group hangs on it)
                    m.d.comb += [push.eq(1), advance.eq((remaining & (remaining - 1)) == 0)]
                    m.d.sync += fired.eq(fired | chosen)
                with m.If(advance):
                    m.d.sync += fired.eq(0)
                    with m.If(~padding & (group_base + n < end)):     # the position's next group
                        m.d.comb += [read.eq(1), address.eq(index + 1)]
                        m.d.sync += [index.eq(index + 1), group_base.eq(group_base + n), low.eq(0)]
                    with m.Elif(~conv | ((ky + 1 == desc.kernel) & (kx + 1 == desc.kernel))):
                        m.d.sync += [running.eq(0), finished.eq(1)]
                    with m.Else():                                    # the next kernel position
                        wrap = kx + 1 == desc.kernel
                        next_row = row_origin + desc.row_step
                        next_y = Mux(wrap, iy + 1, iy)
                        next_x = Mux(wrap, pixel.ix0, ix + 1)
                        b = enter(Mux(wrap, next_row, base + desc.col_step), in_map(next_y, next_x))
                        m.d.sync += [ky.eq(Mux(wrap, ky + 1, ky)), kx.eq(Mux(wrap, 0, kx + 1)),
                                     iy.eq(next_y), ix.eq(next_x),
                                     row_origin.eq(Mux(wrap, next_row, row_origin)),
                                     columns.eq(columns + in_len),
                                     delta.eq(columns + in_len - b)]
        return m

    def elaborate_binary(self, m: Module, group, read: Signal, address: Signal, push: Signal,
                         finished: Signal, item) -> None:
        """Every (plane, chunk) item, assembled from the groups covering the chunk."""
        a = self.arch
        n, w = a.pes, a.line_bits
        in_len, planes = self.run.desc.in_len, self.run.desc.planes
        span = _bits_for(a.max_vector + w + n)
        running = Signal()
        plane = Signal(plane_bits(a))
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
            return Cat(Mux(planes == 0, group[lane] >= 0,
                           group[lane].as_unsigned().bit_select(plane, 1)) &
                       (base + lane < in_len) for lane in range(n))

        def placed(base, start):
            """The group register's bits at their places in the chunk starting at ``start``."""
            offset = Signal(_bits_for(w + n), name="offset")
            m.d.comb += offset.eq(base + n - start)
            return ((bits_of(base) << offset) >> n)[:w]

        def begin(new_start, new_end, first_group):
            """Set up an item; issue its first read now if it needs one."""
            m.d.sync += [chunk_start.eq(new_start), chunk_end.eq(new_end)]
            with m.If(first_group < new_end):
                m.d.comb += [read.eq(1), address.eq(Mux(first_group == 0, 0, read_group))]
                m.d.sync += [arrive.eq(1), full.eq(0), port_base.eq(first_group)]
            with m.Else():
                m.d.sync += [arrive.eq(0), full.eq(1)]

        contribution = Signal(w)
        m.d.comb += contribution.eq(Mux(arrive, placed(port_base, chunk_start), 0))
        current = assembled | contribution
        complete = full | (arrive & (port_base + n >= chunk_end))
        m.d.comb += [item.bits.eq(current), item.plane.eq(plane), item.chunk.eq(chunk)]
        first_end = Mux(in_len > w, w, in_len)

        with m.If(self.run.start):
            m.d.sync += [running.eq(1), finished.eq(0), plane.eq(0), chunk.eq(0), assembled.eq(0),
                         read_group.eq(1), read_base.eq(n)]
            begin(0, first_end, 0)
        with m.Elif(running & complete & self.ready):
            m.d.comb += push.eq(1)
            next_start = chunk_start + w
            with m.If(next_start < in_len):             # next chunk, same plane
                next_end = Mux(in_len > next_start + w, next_start + w, in_len)
                m.d.sync += [chunk.eq(chunk + 1), assembled.eq(placed(port_base, next_start))]
                with m.If(read_base < next_end):
                    m.d.sync += [read_group.eq(read_group + 1), read_base.eq(read_base + n)]
                begin(next_start, next_end, read_base)
            with m.Elif(plane + 1 < Mux(planes == 0, 1, planes)):   # next plane
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
                m.d.comb += [read.eq(1), address.eq(read_group)]
                m.d.sync += [arrive.eq(1), port_base.eq(read_base),
                             read_group.eq(read_group + 1), read_base.eq(read_base + n)]
            with m.Else():
                m.d.sync += arrive.eq(0)
