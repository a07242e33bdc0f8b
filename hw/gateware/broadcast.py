"""The broadcast unit: reads the input vector in groups of N activations (one per PE, from each
PE's source bank), finds the lowest-indexed non-zero with the LNZD tree and broadcasts
``(a_j, j)`` to every PE's queue, stalling while any queue is full (docs/timing.md):

- the read of group 0 is issued at the pass's first cycle and group 0 is examined from the cycle
  after (the read port's data, then a copy of it: that is the group register);
- the next group is examined from the cycle after the group's last non-zero is broadcast, or
  after an empty group is examined; ``done`` rises the cycle after the last group is finished.
  Its read is issued in the current group's first cycle, from the walk's registers alone, so
  neither the banks' data nor the queues' room reach a bank's address or enable.

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

With ``group_feed`` (docs/timing.md "Group feed", ``elaborate_feed``) a walker reads the pass's
groups ahead into a feed of registers, finding on the way what the scan needs of each (its
candidates: the non-zero lanes inside the position, a binary pass's bits, its column, whether it is the
last); the scan runs ``GROUP_FEED_LATENCY`` cycles behind ``start`` and reads only the feed.

Binary conv pixel-passes walk the same window for every plane: each inside kernel position's
``ceil(C / line_bits)`` chunks are items as a binary pass's (the position's first group read
anew), a padding position takes one cycle and moves the item's first weight line past its
``ceil(C / line_bits)·rows`` lines without an item. They also need ``line_bits`` a power of two.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from zeroskip.hw import timing
from zeroskip.hw.arch import ArchConfig, _bits_for
from zeroskip.hw.gateware import OWN_COPY
from zeroskip.hw.gateware.interfaces import (binary_item, broadcast_signature, group_read_signature,
                                             line_index, pass_signature, plane_bits, sparse_item)
from zeroskip.hw.gateware.lnzd import LeadingNonZero
from zeroskip.hw.program import KIND_BINARY, KIND_BINARY_CONV, KIND_CONV, OP_MAX


class Broadcaster(wiring.Component):
    """The broadcast unit of an array built for ``arch``: ``groups[p]`` reads PE p's source
    bank, ``items`` goes to every PE's queue while ``ready`` (every queue has room)."""

    def __init__(self, arch: ArchConfig):
        self.arch = arch
        members = {
            "run": In(pass_signature(arch)),              # the pass: start, in_len, kind, planes
            "groups": Out(group_read_signature(arch)).array(arch.pes),   # one lane per PE
            "ready": In(1),                               # no PE's queue is full
            "items": Out(broadcast_signature(arch)),
            "done": Out(1),
        }
        if arch.lane_passes:      # each PE's own item: the broadcast one, or in a lane pass its lane's
            members["lane_items"] = Out(broadcast_signature(arch)).array(arch.pes)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        a = self.arch
        n = a.pes
        m.submodules.lnzd = lnzd = LeadingNonZero(n)
        in_len = self.run.desc.in_len

        # every lane reads the same local address. The group register is the read port's data
        # in the cycle a group becomes current (``fresh``) and a copy of it (``held``) after, so
        # a sparse or conv pass can read the next group while the current one is examined
        read = Signal(name="group_en")
        address = Signal(range(a.act_depth), name="group_addr")
        group = Signal(data.ArrayLayout(signed(a.act_bits), n))
        held = Signal(data.ArrayLayout(signed(a.act_bits), n), name="group_held")
        fresh = Signal(name="group_fresh", attrs={OWN_COPY: 1})
        # and ``fresh`` again in a register per lane (``OWN_COPY``), each selecting its lane's
        # group: one register had fanned out to every lane's bits (docs/fpga.md, "The PEs' own copies")
        fresh_next = Signal(name="group_fresh_next")
        lane_fresh = [Signal(name=f"group_fresh_{lane}", attrs={OWN_COPY: 1}) for lane in range(n)]
        m.d.sync += [register.eq(fresh_next) for register in (fresh, *lane_fresh)]
        finished = Signal()
        # the pass's kind, as the scan needs it (``maximum``: every activation is a candidate).
        # With the feed the scan starts GROUP_FEED_LATENCY cycles after the descriptor, so these
        # are registered beside it
        desc, pixel = self.run.desc, self.run.pixel
        shift = n.bit_length() - 1 if n & (n - 1) == 0 else None
        # (registered, each kept as the broadcaster's own, ``OWN_COPY``: alike a PE's registers
        # of the pass's kind, Yosys had merged it into one of them, across the die)
        own = {OWN_COPY: 1} if a.group_feed else {}
        conv, maximum, kind_binary = (Signal(name=name, attrs=own) for name in
                                      ("scan_conv", "scan_maximum", "scan_binary"))
        constant = m.d.sync if a.group_feed else m.d.comb
        if shift is not None:     # B div N, B mod N are bit slices; other arrays run no conv pass
            constant += [conv.eq(desc.kind == KIND_CONV),
                         maximum.eq((desc.kind == KIND_CONV) & (desc.op == OP_MAX))]
        constant += kind_binary.eq((desc.kind == KIND_BINARY) | (desc.kind == KIND_BINARY_CONV))
        if a.group_feed:
            # docs/timing.md "Group feed": a walker reads the pass's groups ahead into the feed,
            # and the scan below runs GROUP_FEED_LATENCY cycles behind ``start``, taking each
            # group from the feed where it would have read the bank (``read``: the next one)
            start = Signal(name="scan_start")
            delays = [Signal(name=f"scan_start_{k}") for k in range(timing.GROUP_FEED_LATENCY)]
            m.d.sync += [delays[0].eq(self.run.start),
                         *(later.eq(sooner) for sooner, later in zip(delays, delays[1:]))]
            m.d.comb += start.eq(delays[-1])
            with m.If(self.run.start):                 # not done while the scan waits
                m.d.sync += finished.eq(0)
            # a sparse or conv pass's pop, decided without ``ready``: the only pop that loads the
            # feed's head with what the scan takes of a group (a binary pass takes its bits)
            scan_pop = Signal(name="scan_pop")
            sources, fed_padding, heads = self.elaborate_feed(m, read, scan_pop, maximum)
            # what the feed found of the group as it entered: its candidates, the column of its
            # lane 0, whether it is the pass's last (the group register's, held as it is: a
            # sparse pass pops the next group in the current one's first cycle). A binary pass
            # takes its bits from the head itself: it pops a group only in the cycle it takes
            # the last bits it needs of the one before, so the head holds the group register's
            fed = {}
            fed_bits = heads.pop("bits")
            for name, head in heads.items():
                now, held_now = Signal.like(head, name=f"group_{name}"), Signal.like(head, name=f"group_{name}_held")
                m.d.comb += now.eq(Mux(fresh, head, held_now))
                m.d.sync += held_now.eq(now)
                fed[name] = now
            fed_candidates = fed["candidates"]
        else:
            start = self.run.start
            for port in self.groups:
                m.d.comb += [port.en.eq(read), port.addr.eq(address)]
            sources = [port.data for port in self.groups]
            fed_padding = fed_bits = fed_candidates = None
            fed = {}
        for lane, source in enumerate(sources):
            m.d.comb += group[lane].eq(Mux(lane_fresh[lane], source, held[lane]))
        m.d.sync += held.eq(group)
        push = Signal()                 # the item enters every queue this cycle
        m.d.comb += [self.items.valid.eq(push), self.done.eq(finished & ~self.run.start)]

        # sparse and conv passes: the lowest-indexed candidate of the group not yet broadcast.
        # The group sequence is made of *positions*: a sparse pass is one position, the
        # activations [0, in_len); a conv pass's kernel positions (ky, kx), row-major, are each
        # either inside the map, the activations [B, B + C), or in the padding, one group with no
        # candidates, examined in one cycle with nothing read (docs/conv.md).

        running = Signal()        # a group is in the group register
        index = Signal(range(a.act_depth + 1), name="group_index")
        group_base = Signal(_bits_for(a.max_vector + n))     # group * N
        fired = Signal(n)         # lanes of this group already broadcast
        # the position: its activations [B, end), the lane of B in its first group (0 in the
        # others), whether it lies in the padding, and j − i for its items (the column of
        # activation i is ``delta + i``: for conv passes (ky·k + kx)·C − B, for sparse passes 0).
        # Addresses wrap at their widths: exact for every inside position, unused in the padding
        end = Signal(pixel.origin.shape(), name="position_end")
        low = Signal(max(1, shift or 0), name="position_low")
        padding = Signal(name="position_padding")
        delta = Signal(a.act_index_bits, name="position_delta")
        # the window walk (conv and binary conv passes): the kernel position (ky, kx), its input
        # pixel (iy, ix), its row's B at kx = 0, all stepped with adders
        walk = _Window(m, desc, pixel)
        columns = Signal(a.act_index_bits, name="position_columns")   # (ky·k + kx)·C

        if fed_candidates is None:
            lanes = Cat((maximum | (group[lane] != 0)) & (lane >= low) & (group_base + lane < end)
                        & ~padding for lane in range(n))
        else:                   # from flip-flops: the feed found them as the group arrived
            lanes = fed_candidates
        remaining = Signal(n)
        m.d.comb += [remaining.eq(lanes & ~fired), lnzd.mask.eq(remaining)]
        chosen = Signal(n)
        m.d.comb += chosen.eq(1 << lnzd.index)

        # the item of either kind; the pass's kind picks which one is pushed
        sparse, binary = Signal(sparse_item(a)), Signal(binary_item(a))
        column_base = group_base + delta if not fed else fed["columns"]   # lane 0's column
        m.d.comb += [sparse.value.eq(group[lnzd.index]),
                     sparse.index.eq(column_base + lnzd.index)]
        m.d.comb += self.items.payload.eq(Mux(kind_binary, binary.as_value(), sparse.as_value()))

        # lane passes (docs/timing.md "Lane passes"): every candidate lane p of the group goes,
        # in the same cycle, into PE p's queue alone, as (a_i, group·N + p + delta)
        lane_pass = Signal()
        if a.lane_passes:
            m.d.comb += lane_pass.eq(conv & desc.lanes)
            for lane, port in enumerate(self.lane_items):
                own = Signal(sparse_item(a), name=f"lane{lane}_item")
                m.d.comb += [own.value.eq(group[lane]), own.index.eq(column_base + lane),
                             port.valid.eq(push & (~lane_pass | remaining[lane])),
                             port.payload.eq(Mux(lane_pass, own.as_value(), self.items.payload))]

        def first_group(b):
            """The local address of the group holding activation b (sparse passes: 0)."""
            return 0 if shift is None else b[shift:]

        def enter(start, inside):
            """Make the position of activations [start, start + C) current (its first group,
            unless it lies in the padding, read before it becomes current)."""
            b = Signal(pixel.origin.shape(), name="next_base")
            m.d.comb += b.eq(start)
            if shift is None:          # sparse passes only: the position starts at 0
                first_base, first_lane = 0, 0
            else:
                first_base, first_lane = Cat(Const(0, shift), b[shift:]), b[:shift]
            m.d.sync += [index.eq(first_group(b)), group_base.eq(first_base), low.eq(first_lane),
                         end.eq(b + in_len), padding.eq(~inside)]
            return b

        # the group after the current one in the sequence, read in the current one's first cycle
        # (a prefetch: the sequence depends on the geometry only): the position's next group, or
        # the next kernel position's first unless it lies in the padding (a padding position,
        # one cycle, reads the group after it). The read's address and enable come from the
        # walk's registers alone, so no path runs from a bank's data or the queues' room to a
        # bank; the timing is the model's, each group current the cycle after the last
        more = Signal(name="position_more")          # the position has groups after this one
        successor = Signal(name="group_successor")   # the next group in the sequence is read
        next_address = Signal.like(address, name="next_group_addr")
        m.d.comb += [more.eq(~padding & (group_base + n < end)),
                     successor.eq(more | (conv & ~walk.last & walk.next_inside)),
                     next_address.eq(Mux(more, index + 1, first_group(walk.next_base)))]

        advance = Signal()
        # the binary walk runs in every pass, its registers enabled by its own decisions alone
        # (it restarts at every ``start``); the pass's kind picks only what leaves it: its read,
        # push and end. Under the kind, the kind's register fanned out into every enable of the
        # walk, and its own window's: the scan's had its steps multiplexed by the kind in
        # front of them (docs/fpga.md)
        binary_read, binary_push, binary_end = (Signal(name=f"binary_{name}")
                                                for name in ("read", "pushes", "end"))
        binary_address = Signal.like(address, name="binary_addr")
        self.elaborate_binary(m, start, group, binary_read, binary_address, binary_push,
                              binary_end, binary, _Window(m, desc, pixel, prefix="binary_"), shift,
                              fed_padding, fed_bits)
        with m.If(kind_binary):
            m.d.comb += [read.eq(binary_read), address.eq(binary_address), push.eq(binary_push),
                         fresh_next.eq(binary_read)]     # the port holds a group until the next read
            with m.If(start):
                m.d.sync += finished.eq(0)
            with m.Elif(binary_end):
                m.d.sync += finished.eq(1)
        if fed:
            with m.Else():
                # the feed: each group says what the scan needs (its candidates' lanes, its columns,
                # whether it is the pass's last); the next one is popped in a group's first cycle
                m.d.comb += fresh_next.eq(start | (running & advance))
                last = fed["last"]
                m.d.comb += read.eq(scan_pop)
                with m.If(start):
                    m.d.comb += scan_pop.eq(1)
                    m.d.sync += [running.eq(1), finished.eq(0), fired.eq(0)]
                with m.Elif(running):
                    m.d.comb += scan_pop.eq(fresh & ~last)
                    self.scan_step(m, lnzd, remaining, chosen, push, advance, fired, lane_pass)
                    with m.If(advance & last):
                        m.d.sync += [running.eq(0), finished.eq(1)]
        else:
            with m.Else():
                m.d.comb += address.eq(Mux(start, first_group(Mux(conv, pixel.origin, 0)),
                                           next_address))
                m.d.comb += fresh_next.eq(start | (running & advance))
                with m.If(start):
                    origin = Mux(conv, pixel.origin, 0)
                    inside = ~conv | walk.in_map(pixel.iy0, pixel.ix0)
                    m.d.comb += read.eq(inside)
                    enter(origin, inside)
                    walk.restart()
                    m.d.sync += [running.eq(1), finished.eq(0), fired.eq(0), delta.eq(-origin),
                                 columns.eq(0)]
                with m.Elif(running):
                    m.d.comb += read.eq(fresh & successor)
                    self.scan_step(m, lnzd, remaining, chosen, push, advance, fired, lane_pass)
                    with m.If(advance):
                        with m.If(more):                                  # the position's next group
                            m.d.sync += [index.eq(index + 1), group_base.eq(group_base + n), low.eq(0)]
                        with m.Elif(~conv | walk.last):
                            m.d.sync += [running.eq(0), finished.eq(1)]
                        with m.Else():                                    # the next kernel position
                            b = enter(*walk.step())
                            m.d.sync += [columns.eq(columns + in_len), delta.eq(columns + in_len - b)]
        return m

    def scan_step(self, m: Module, lnzd, remaining, chosen, push, advance, fired, lane_pass) -> None:
        """One cycle of a sparse or conv pass's group scan: push the lowest candidate left when
        every queue has room; advance past the group when nothing is left after this cycle."""
        with m.If(~lnzd.valid):
            m.d.comb += advance.eq(1)
        with m.Elif(self.ready):
            # the group's last candidate: at most one bit left, found beside the LNZD tree rather
            # than after it (the advance to the next group hangs on it); a lane pass pushes every
            # candidate at once
            m.d.comb += [push.eq(1), advance.eq(lane_pass | ((remaining & (remaining - 1)) == 0))]
            m.d.sync += fired.eq(fired | chosen)
        with m.If(advance):
            m.d.sync += fired.eq(0)

    def elaborate_binary(self, m: Module, start, group, read: Signal, address: Signal, push: Signal,
                         done: Signal, item, walk: "_Window", shift, fed_padding=None,
                         fed_bits=None) -> None:
        """Every (plane, position, chunk) item: a binary pass's one position [0, in_len), a binary
        conv pass's kernel positions [B, B + C) (a padding one examined in one cycle, with no item);
        each position's chunks of ``line_bits`` bits assembled from the groups covering them (a
        position's first group read anew, then the group still in the group register first).

        The chunk walk is geometry: whether a group of the chunk is still to be read, whether a
        chunk follows in the position, whether the next one needs a read, whether the position is
        the pass's last are registered as the walk moves (every outcome's computed beside the
        others from the registers, the taken one kept), so the read (a feed's pop) is decided from
        flip-flops and the queues' room alone."""
        a = self.arch
        n, w = a.pes, a.line_bits
        desc, pixel = self.run.desc, self.run.pixel
        in_len, planes = desc.in_len, desc.planes
        window = Signal()         # a binary conv pass: needs N and line_bits powers of two
        tap_lines = Signal(line_index(a), name="binary_tap_lines")    # a position's weight lines
        # as the scan's pass constants: registered with the feed (the scan starts
        # GROUP_FEED_LATENCY cycles after the descriptor), the lines per position in two steps
        # (the chunks and the rows, then their product), no descriptor field before the multiplier
        constant = m.d.sync if a.group_feed else m.d.comb
        if shift is not None and w & (w - 1) == 0:
            per_tap = (in_len + (w - 1)) >> (w.bit_length() - 1)      # chunks per position
            constant += window.eq(desc.kind == KIND_BINARY_CONV)
            if a.group_feed:
                assert timing.GROUP_FEED_LATENCY >= 2
                chunks = Signal.like(per_tap, name="binary_tap_chunks")
                rows = Signal.like(desc.rows, name="binary_tap_rows")
                m.d.sync += [chunks.eq(per_tap), rows.eq(desc.rows), tap_lines.eq(chunks * rows)]
            else:
                m.d.comb += tap_lines.eq(per_tap * desc.rows)
        # a position's first chunk: its width, and whether chunks follow it
        first_width = Signal(range(w + 1), name="binary_first_width")
        spans_chunks = Signal(name="binary_spans_chunks")
        constant += [first_width.eq(Mux(in_len > w, w, in_len)), spans_chunks.eq(in_len > w)]
        span = _bits_for(a.max_vector + w + n)
        running = Signal()
        plane = Signal(plane_bits(a))
        last_plane = Signal(name="binary_last_plane")   # plane + 1 ≥ the pass's planes
        line = Signal(line_index(a), name="binary_line")   # the item's first weight line:
        # line_base + chunk·rows, chunk = position·per_tap + c, stepped with adders
        padding = Signal()                      # the position lies in the padding
        chunk_start = Signal(span)              # the chunk's activations [start, end)
        chunk_end = Signal(span)
        position_end = Signal(span)             # B + C (in_len for a binary pass)
        read_group = Signal(range(a.act_depth + 1))
        read_base = Signal(span)                # read_group · N
        port_base = Signal(span)                # first index of the group in the group register
        arrive = Signal()                       # the group register was just loaded
        full = Signal()                         # the item is assembled, waiting to be pushed
        assembled = Signal(w)
        # the walk's outlook, registered with it: read_base < chunk_end (the group register's
        # group, when it has just arrived, does not complete the chunk: read_base is its end),
        # chunk_start + w < position_end, read_base < the next chunk's end
        reads_left = Signal(name="chunk_reads_left")
        chunk_follows = Signal(name="chunk_follows")
        next_reads = Signal(name="chunk_next_reads")

        def bits_of(base):
            if fed_bits is not None:      # the feed chose them (``elaborate_feed``)
                return fed_bits
            return Cat(Mux(planes == 0, group[lane] >= 0,
                           group[lane].as_unsigned().bit_select(plane, 1)) &
                       (base + lane < position_end) for lane in range(n))

        # where the group register's bits go in the chunk: port_base + n − chunk_start, and the
        # same for the next chunk (− w), registered as the walk moves rather than subtracted
        # before the shift (docs/fpga.md, "The host bus registered, ...": the chunk offset)
        offset = Signal(_bits_for(w + n), name="chunk_offset")
        offset_next = Signal.like(offset, name="chunk_offset_next")

        def aim(base, start):
            """The group register's group will start at ``base``, the chunk at ``start``."""
            m.d.sync += [offset.eq(base + n - start), offset_next.eq(base + n - start - w)]

        def placed(at):
            """The group register's bits at their places in the chunk, ``at`` = the offset."""
            return ((bits_of(port_base) << at) >> n)[:w]

        def below(value, limit, end):
            """value < min(limit, end)."""
            return (value < limit) & (value < end)

        # entering a position: its B and whether it is inside, the same at every call site
        # whether or not a position is entered (the window's next kernel position after the
        # first, else a plane's first), so the adders and comparisons below start from the
        # walk's registers and not from the decision to enter, which waits for ``ready``
        entering, enter_base, enter_inside = Signal(), Signal(span, name="binary_base"), Signal()
        stepping = ~start & window & ~walk.last
        m.d.comb += [enter_base.eq(Mux(stepping, walk.next_base, Mux(window, pixel.origin, 0))),
                     enter_inside.eq(Mux(stepping, walk.next_inside,
                                         ~window | walk.in_map(pixel.iy0, pixel.ix0)))]

        def enter():
            """Make the position [B, B + C) current: read its first group now, or, in the
            padding, spend the next cycle on it."""
            m.d.comb += entering.eq(1)

        def restart_window():
            """Position 0 of a plane: the window's first kernel position, or [0, in_len)."""
            enter()
            walk.restart()

        def next_position():
            """After a position: the next kernel position, the next plane, or the end."""
            with m.If(window & ~walk.last):
                walk.step()
                enter()
            with m.Elif(~last_plane):
                m.d.sync += [plane.eq(plane + 1), line.eq(desc.line_base),
                             last_plane.eq(plane + 2 >= planes)]
                restart_window()
            with m.Else():
                m.d.comb += done.eq(1)
                m.d.sync += [running.eq(0), arrive.eq(0), padding.eq(0)]

        contribution = Signal(w)
        m.d.comb += contribution.eq(Mux(arrive, placed(offset), 0))
        current = assembled | contribution
        # with the feed every position's first group is read (a padding one's is a token saying
        # so, examined in the cycle it arrives)
        in_padding = padding if fed_padding is None else padding | (arrive & fed_padding)
        complete = ~in_padding & (full | (arrive & ~reads_left))
        m.d.comb += [item.bits.eq(current), item.plane.eq(plane), item.line.eq(line),
                     item.valid.eq(chunk_end - chunk_start)]

        def read_next(start):
            """Read the next group (the one at read_base) of the chunk starting at ``start``."""
            m.d.comb += [read.eq(1), address.eq(read_group)]
            m.d.sync += [arrive.eq(1), port_base.eq(read_base),
                         read_group.eq(read_group + 1), read_base.eq(after), after.eq(after + n)]
            aim(read_base, start)

        # the walk's sums, registered as it moves (no adder before the comparisons that decide
        # the next step): the next chunks' starts and read_base once the next group is read
        next_start, start_2, start_3 = (Signal(span + 2, name=f"chunk_start_{k}") for k in (1, 2, 3))
        after = Signal(span + 1, name="read_after")

        def chunk_at(start):
            """The chunk starts at ``start`` (its followers one, two, three chunks on)."""
            m.d.sync += [chunk_start.eq(start), next_start.eq(start + w), start_2.eq(start + 2 * w),
                         start_3.eq(start + 3 * w)]

        next_end = Mux(position_end > start_2, start_2, position_end)
        # the push first: of the cases below only it waits for ``ready``, so ``ready`` takes the
        # outermost multiplexers and every value beside it is made from registers
        # (the assembly below takes this pass's own push, not the array's ``push``, which a
        # sparse pass's scan drives too: the scan's logic lay before the chunk's bits)
        pushing = Signal(name="binary_push")
        m.d.comb += pushing.eq(running & ~start & complete & self.ready)
        with m.If(pushing):
            m.d.comb += push.eq(1)
            m.d.sync += line.eq(line + desc.rows)
            with m.If(chunk_follows):                          # the position's next chunk
                m.d.sync += [chunk_start.eq(next_start), next_start.eq(start_2),
                             start_2.eq(start_3), start_3.eq(start_3 + w), chunk_end.eq(next_end),
                             chunk_follows.eq(start_2 < position_end)]
                with m.If(next_reads):
                    read_next(next_start)
                    m.d.sync += [full.eq(0), reads_left.eq(below(after, start_2, position_end)),
                                 next_reads.eq(below(after, start_3, position_end))]
                with m.Else():
                    m.d.sync += [arrive.eq(0), full.eq(1), reads_left.eq(0),
                                 next_reads.eq(below(read_base, start_3, position_end))]
                    aim(port_base, next_start)
            with m.Else():
                next_position()
        with m.Elif(start):
            m.d.sync += [running.eq(1), plane.eq(0), line.eq(desc.line_base),
                         last_plane.eq(planes <= 1)]
            restart_window()
        with m.Elif(running & in_padding):                     # a padding position: one cycle
            m.d.sync += line.eq(line + tap_lines)
            next_position()
        with m.Elif(running & complete):                       # stalled: hold the item
            m.d.sync += [full.eq(1), arrive.eq(0)]
        with m.Elif(running):                                  # assembling: next read
            with m.If(reads_left):
                read_next(chunk_start)
                m.d.sync += [reads_left.eq(after < chunk_end),
                             next_reads.eq(below(after, start_2, position_end))]
            with m.Else():
                m.d.sync += arrive.eq(0)
        # the chunk's bits so far, in every cycle: the next chunk's first bits after a push that
        # leaves the position's chunks to follow, none after a position ends (at a pass's start,
        # a padding position, a position's last push: the next position starts from none, and
        # after the pass's last the bits are not read), else what has arrived. No enable: a
        # multiplexer after the push, not an enable fanned out to the chunk's bits; the push (it
        # waits for ``ready``) takes the last one, its two outcomes made beside it
        clears = start | (running & in_padding)
        m.d.sync += assembled.eq(Mux(pushing, Mux(chunk_follows, placed(offset_next), 0),
                                     Mux(clears, 0, current)))

        # a position's first group holds its activations from B's lane on: ``lead`` of them
        b = enter_base
        if shift is None:
            first, first_base, lead = 0, 0, n
        else:
            first, first_base, lead = b[shift:], Cat(Const(0, shift), b[shift:]), n - b[:shift]
        with m.If(entering & (enter_inside if fed_padding is None else 1)):
            m.d.comb += [read.eq(1), address.eq(first)]
            m.d.sync += [arrive.eq(1), full.eq(0), padding.eq(0),
                         port_base.eq(first_base), read_group.eq(first + 1),
                         read_base.eq(first_base + n), after.eq(first_base + 2 * n),
                         chunk_end.eq(b + first_width), position_end.eq(b + in_len),
                         reads_left.eq(below(lead, w, in_len)), chunk_follows.eq(spans_chunks),
                         next_reads.eq(below(lead, 2 * w, in_len))]
            aim(first_base, b)
            chunk_at(b)
        with m.Elif(entering):
            m.d.sync += [arrive.eq(0), full.eq(0), padding.eq(1)]


    def elaborate_feed(self, m: Module, pop: Signal, scan_pop: Signal, maximum) -> list:
        """docs/timing.md "Group feed": the walker issues the reads of the pass's group sequence
        from ``start`` on, one a cycle while the feed has room; each group reaches a slot of the
        feed GROUP_FEED_LATENCY cycles after its read (the bank's output is registered in its
        PE), and ``pop`` (the scan's read) makes the oldest the scan's group in the next cycle,
        from flip-flops. The sequence is the scan's reads in order, which depend on the geometry
        alone: per plane (binary passes) and position (conv and binary conv: the window's kernel
        positions; otherwise [0, in_len)), the groups covering an inside position, and for one in
        the padding a token without a read, saying so (the scan learns the padding from the feed,
        not from the map's bounds). A binary pass's bits of the group (the sign, or the pass's
        plane, of each lane inside the position) and its candidates (its non-zero lanes inside
        the position, every lane inside with ``maximum``) are found as it enters its slot, and
        the walker adds the column of its lane 0 and whether it is the pass's last. Returns the
        popped group's lanes, its padding flag and the rest by name. ``scan_pop``: the pops of
        sparse and conv passes, the only ones that load the head's group, candidates, column and
        last (a binary pass's pop waits for ``ready``, and takes the bits and the padding only)."""
        a = self.arch
        n, w = a.pes, a.line_bits
        desc, pixel = self.run.desc, self.run.pixel
        shift = n.bit_length() - 1 if n & (n - 1) == 0 else None
        kind_binary = (desc.kind == KIND_BINARY) | (desc.kind == KIND_BINARY_CONV)
        windowed = Signal(name="walker_windowed")
        if shift is not None:       # as the scan: windows need N (binary: and line_bits) a power of 2
            binary_window = (desc.kind == KIND_BINARY_CONV) if w & (w - 1) == 0 else Const(0, 1)
            m.d.comb += windowed.eq((desc.kind == KIND_CONV) | binary_window)
        # the pass's planes, registered: first needed the cycle after ``start`` (at the first
        # token's end), so no descriptor field lies on the walker's step
        planes = Signal.like(desc.planes, name="walker_planes")
        m.d.sync += planes.eq(Mux(kind_binary & (desc.planes != 0), desc.planes, 1))
        walk = _Window(m, desc, pixel, prefix="walker_")

        running = Signal(name="walker_running")
        plane = Signal(plane_bits(a), name="walker_plane")
        index = Signal(range(a.act_depth + 1), name="walker_index")      # the group last read
        base = Signal(_bits_for(a.max_vector + n), name="walker_base")   # its first activation
        end = Signal(pixel.origin.shape(), name="walker_end")            # the position's B + C
        inside = Signal(name="walker_inside")                            # not in the padding
        low = Signal(max(1, shift or 0), name="walker_low")              # the position's first lane
        columns = Signal(a.act_index_bits, name="walker_columns")          # (ky·k + kx)·C
        delta = Signal(a.act_index_bits, name="walker_delta")              # column − activation
        emit = Signal(name="walker_emit")                              # the next token
        read = Signal(name="walker_read")                              # ... reads its group
        address = Signal(range(a.act_depth), name="walker_addr")
        slots = FEED_SLOTS
        outstanding = Signal(range(slots + 1), name="feed_outstanding")  # issued, not yet popped
        # the token is registered before its read goes out to the banks: neither the walk's
        # arithmetic nor the map's bounds lie on a path to a block RAM across the chip
        bank_read = Signal(name="walker_bank_read")
        bank_address = Signal.like(address, name="walker_bank_addr")
        m.d.sync += [bank_read.eq(read), bank_address.eq(address)]
        for port in self.groups:
            m.d.comb += [port.en.eq(bank_read), port.addr.eq(bank_address)]

        def first_group(b):
            return 0 if shift is None else b[shift:]

        # the walk's outlook, registered as it moves (no adder before the decisions that steer
        # the walker and enable its registers): the position has a group after the one read
        # (inside & base + N < end), and a plane follows the current one (plane + 1 < planes)
        more_groups = Signal(name="walker_more_groups")
        more_planes = Signal(name="walker_more_planes")

        def enter(b, is_inside):
            """Make the position [b, b + C) current: its first group's token, read unless the
            position lies in the padding."""
            # base + N < end, base = B less its lanes before B in the group (B itself without
            # groups aligned to N, where base is 0)
            ahead = b if shift is None else b[:shift]
            m.d.sync += [index.eq(first_group(b)), end.eq(b + desc.in_len), inside.eq(is_inside),
                         base.eq(0 if shift is None else Cat(Const(0, shift), b[shift:])),
                         low.eq(0 if shift is None else b[:shift]),
                         more_groups.eq(is_inside & (desc.in_len + ahead > n))]
            m.d.comb += [emit.eq(1), read.eq(is_inside), address.eq(first_group(b))]

        origin = Mux(windowed, pixel.origin, 0)
        origin_inside = ~windowed | walk.in_map(pixel.iy0, pixel.ix0)
        # a token is issued while fewer than ``slots`` are outstanding (the count is one cycle
        # behind the pops): just enough for one three cycles ahead of its pop, and no slot is
        # written before it is popped
        with m.If(self.run.start):
            m.d.sync += [running.eq(1), plane.eq(0), columns.eq(0), delta.eq(-origin),
                         more_planes.eq(kind_binary & (desc.planes > 1))]   # ``planes`` is not yet
            walk.restart()
            enter(origin, origin_inside)
        with m.Elif(running & (outstanding < slots)):
            with m.If(more_groups):                               # the position's next group
                m.d.comb += [emit.eq(1), read.eq(1), address.eq(index + 1)]
                m.d.sync += [index.eq(index + 1), base.eq(base + n), low.eq(0),
                             more_groups.eq(base + 2 * n < end)]
            with m.Elif(windowed & ~walk.last):                   # the next kernel position
                b, next_inside = walk.step()
                enter(b, next_inside)
                m.d.sync += [columns.eq(columns + desc.in_len), delta.eq(columns + desc.in_len - b)]
            with m.Elif(more_planes):                             # the next plane's first
                m.d.sync += [plane.eq(plane + 1), columns.eq(0), delta.eq(-origin),
                             more_planes.eq(plane + 2 < planes)]
                walk.restart()
                enter(origin, origin_inside)
            with m.Else():
                m.d.sync += running.eq(0)

        # the tokens in flight: read from the banks at + 1, the bank's data at + 2, its PE's
        # register at + 3, into a slot
        arriving = [Signal(name=f"feed_arriving_{k}") for k in range(timing.GROUP_FEED_LATENCY)]
        padded = [Signal(name=f"feed_padding_{k}") for k in range(timing.GROUP_FEED_LATENCY)]
        m.d.sync += [arriving[0].eq(emit), padded[0].eq(emit & ~read),
                     *(later.eq(sooner) for sooner, later in zip(arriving, arriving[1:])),
                     *(later.eq(sooner) for sooner, later in zip(padded, padded[1:]))]
        # the lanes inside the position and (binary passes) the plane, from the walker's registers
        # in the cycle after the token's issue (they still describe it), carried to the slot
        # (sparse and conv passes: the column of the group's lane 0, and whether the token is the
        # pass's last, with no group, position or plane after it)
        stages = range(1, timing.GROUP_FEED_LATENCY)
        lanes = [Signal(n, name=f"feed_lanes_{k}") for k in stages]
        planes_at = [Signal(plane_bits(a), name=f"feed_plane_{k}") for k in stages]
        column_bases = [Signal(a.act_index_bits, name=f"feed_columns_{k}") for k in stages]
        lasts = [Signal(name=f"feed_last_{k}") for k in stages]
        final = ~more_groups & ~(windowed & ~walk.last) & ~more_planes
        m.d.sync += [lanes[0].eq(Cat((lane >= low) & (base + lane < end) & inside for lane in range(n))),
                     planes_at[0].eq(plane), column_bases[0].eq(base + delta), lasts[0].eq(final)]
        for carried in (lanes, planes_at, column_bases, lasts):
            m.d.sync += [later.eq(sooner) for sooner, later in zip(carried, carried[1:])]
        # what a slot (and the head) holds of a group
        shapes = {"group": data.ArrayLayout(signed(a.act_bits), n), "padding": 1, "bits": n,
                  "candidates": n, "columns": a.act_index_bits, "last": 1}
        slotted = {name: [Signal(shape, name=f"feed_slot{k}_{name}") for k in range(slots)]
                   for name, shape in shapes.items()}
        arrived = [port.data for port in self.groups]
        bits = Cat(Mux(desc.planes == 0, arrived[lane] >= 0,
                       arrived[lane].as_unsigned().bit_select(planes_at[-1], 1)) & lanes[-1][lane]
                   for lane in range(n))
        write_at = Signal(range(slots), name="feed_write")
        read_at = Signal(range(slots), name="feed_read")

        def following(at):
            return Mux(at == slots - 1, 0, at + 1)

        # what a group brings into its slot, found as it arrives
        arriving_values = {"group": Cat(arrived), "padding": padded[-1], "bits": bits,
                           "candidates": (Cat(value != 0 for value in arrived) | maximum.replicate(n))
                                         & lanes[-1],
                           "columns": column_bases[-1], "last": lasts[-1]}
        with m.If(arriving[-1]):
            m.d.sync += write_at.eq(following(write_at))
        # the slot an arriving group lands in, decided a cycle ahead into an enable per slot and
        # lane (``OWN_COPY``): the lanes' values come from their PEs across the die, and one
        # decoded enable per slot fanned out to all of them (docs/fpga.md, "Every failing
        # endpoint"). ``landing_at[k][lane]`` = arriving[-1] & (write_at == k) in this cycle
        assert timing.GROUP_FEED_LATENCY >= 2
        write_next = Mux(self.run.start, 0, Mux(arriving[-1], following(write_at), write_at))
        landing_at = [[Signal(name=f"feed_slot{k}_lands_{lane}", attrs={OWN_COPY: 1})
                       for lane in range(n)] for k in range(slots)]
        for k in range(slots):
            m.d.sync += [we.eq(arriving[-2] & (write_next == k)) for we in landing_at[k]]
            for lane in range(n):
                with m.If(landing_at[k][lane]):
                    m.d.sync += [slotted["group"][k][lane].eq(arriving_values["group"].word_select(lane, a.act_bits)),
                                 *(slotted[name][k][lane].eq(arriving_values[name][lane])
                                   for name in ("bits", "candidates"))]
                    if lane == 0:
                        m.d.sync += [slotted[name][k].eq(arriving_values[name])
                                     for name in ("padding", "columns", "last")]
        # the popped group is registered as it leaves its slot (the scan's ``head`` in the next
        # cycle, from flip-flops): the oldest slot's, or the arriving group's when it lands in
        # that very slot (every older one popped)
        # A lane's fields leave their slot by the lane's own copy of the read pointer
        # (``OWN_COPY``), as the slots' enables are decided per lane: one pointer's net selected
        # every lane's multiplexers across the die (docs/fpga.md, "The entry stage ...")
        heads = {name: Signal(shape, name=f"feed_head_{name}") for name, shape in shapes.items()}
        lane_read_at = [Signal.like(read_at, name=f"feed_read_{lane}", attrs={OWN_COPY: 1})
                        for lane in range(n)]
        with m.If(pop):
            m.d.sync += [at.eq(following(at)) for at in (read_at, *lane_read_at)]

        def leave(parts, popped, at):
            """Load ``parts`` (head, the arriving value, each slot's) when ``popped``, from the
            slot ``at`` points to, or the arriving group's when it lands in that very slot."""
            with m.If(popped):
                with m.If(arriving[-1] & (write_at == at)):
                    m.d.sync += [head.eq(value) for head, value, _ in parts]
                with m.Else():
                    with m.Switch(at):
                        for k in range(slots):
                            with m.Case(k):
                                m.d.sync += [head.eq(values[k]) for head, _, values in parts]

        def scalar(name):
            return heads[name], arriving_values[name], slotted[name]

        leave([scalar("padding")], pop, read_at)
        leave([scalar("columns"), scalar("last")], scan_pop, read_at)
        for lane, at in enumerate(lane_read_at):
            def part(name):
                arrived_part = (arriving_values[name].word_select(lane, a.act_bits) if name == "group"
                                else arriving_values[name][lane])
                return heads[name][lane], arrived_part, [values[lane] for values in slotted[name]]
            leave([part("bits")], pop, at)
            leave([part("group"), part("candidates")], scan_pop, at)
        m.d.sync += outstanding.eq(outstanding + emit - pop)
        with m.If(self.run.start):                                # every slot is free at a pass
            m.d.sync += [write_at.eq(0), read_at.eq(0), outstanding.eq(emit),
                         *(at.eq(0) for at in lane_read_at)]
        head, head_padding = heads.pop("group"), heads.pop("padding")
        return [head[lane] for lane in range(n)], head_padding, heads


#: the feed's slots (docs/timing.md "Group feed"): a token issued GROUP_FEED_LATENCY cycles ahead
#: of its pop, one pop a cycle, the count of outstanding tokens a cycle late (so at most
#: GROUP_FEED_LATENCY + 1 of them); the popped group leaves its slot into the head register
FEED_SLOTS = timing.GROUP_FEED_LATENCY + 1


class _Window:
    """The sliding window's walk over the kernel positions of one output pixel (docs/conv.md),
    shared by conv and binary conv passes: (ky, kx) row-major, the input pixel (iy, ix) and the
    row's B at kx = 0 stepped with adders from the pixel's window (``interfaces.pixel_layout``).

    What a step needs is registered as the walk moves, a position ahead: whether the position is
    the pixel's last and ends its kernel row (``last``, ``wrap``), the next position's B (the
    next row's, or this one's + col_step) and whether the rows iy, iy + 1 and the columns ix0,
    ix + 1 lie in the map; so a step's B and its ``next_inside`` are a multiplexer from flip-flops
    and no descriptor field lies on a walker's step."""

    def __init__(self, m: Module, desc, pixel, prefix: str = ""):
        self.m, self.desc, self.pixel = m, desc, pixel
        self.ky = Signal.like(desc.kernel, name=f"{prefix}ky")
        self.kx = Signal.like(desc.kernel, name=f"{prefix}kx")
        self.iy = Signal(signed(len(pixel.iy0) + 1), name=f"{prefix}iy")
        self.ix = Signal(signed(len(pixel.ix0) + 1), name=f"{prefix}ix")
        self.row_origin = Signal(pixel.origin.shape(), name=f"{prefix}row_origin")
        self.base = Signal(pixel.origin.shape(), name=f"{prefix}window_base")     # the position's B
        self.last = Signal(name=f"{prefix}window_last")      # the pixel's last kernel position
        self.wrap = Signal(name=f"{prefix}window_wrap")      # the kernel row's last position
        self.next_row = Signal.like(self.row_origin, name=f"{prefix}window_next_row")  # + row_step
        self.right = Signal.like(self.base, name=f"{prefix}window_right")              # B + col_step
        self.row_here = Signal(name=f"{prefix}window_row_here")       # iy in the map
        self.row_below = Signal(name=f"{prefix}window_row_below")     # iy + 1
        self.column_first = Signal(name=f"{prefix}window_column_first")   # ix0
        self.column_right = Signal(name=f"{prefix}window_column_right")   # ix + 1
        self.next_base = Signal.like(self.base, name=f"{prefix}window_next_base")
        self.next_inside = Signal(name=f"{prefix}window_next_inside")
        m.d.comb += [self.next_base.eq(Mux(self.wrap, self.next_row, self.right)),
                     self.next_inside.eq(Mux(self.wrap, self.row_below & self.column_first,
                                             self.row_here & self.column_right))]

    def in_map(self, y, x):
        return self.row_in_map(y) & self.column_in_map(x)

    def row_in_map(self, y):
        return (y >= 0) & (y < self.desc.in_height)

    def column_in_map(self, x):
        return (x >= 0) & (x < self.desc.in_width)

    def restart(self):
        """The pixel's first kernel position (0, 0)."""
        p, d = self.pixel, self.desc
        self.m.d.sync += [self.ky.eq(0), self.kx.eq(0), self.iy.eq(p.iy0), self.ix.eq(p.ix0),
                          self.row_origin.eq(p.origin), self.base.eq(p.origin),
                          self.last.eq(d.kernel == 1), self.wrap.eq(d.kernel == 1),
                          self.next_row.eq(p.origin + d.row_step), self.right.eq(p.origin + d.col_step),
                          self.row_here.eq(self.row_in_map(p.iy0)),
                          self.row_below.eq(self.row_in_map(p.iy0 + 1)),
                          self.column_first.eq(self.column_in_map(p.ix0)),
                          self.column_right.eq(self.column_in_map(p.ix0 + 1))]

    def step(self):
        """Move to the next kernel position; returns its B and whether it lies inside the map."""
        d, wrap, kernel = self.desc, self.wrap, self.desc.kernel
        ky, kx = Mux(wrap, self.ky + 1, self.ky), Mux(wrap, 0, self.kx + 1)
        sync = self.m.d.sync
        # the next position is the last: (ky' + 1 == k) & (kx' + 1 == k), each outcome of
        # ``wrap`` compared from the registers rather than after the multiplexer
        sync += [self.ky.eq(ky), self.kx.eq(kx), self.base.eq(self.next_base),
                 self.last.eq(Mux(wrap, (self.ky + 2 == kernel) & (kernel == 1),
                                  (self.ky + 1 == kernel) & (self.kx + 2 == kernel))),
                 self.wrap.eq(Mux(wrap, kernel == 1, self.kx + 2 == kernel))]
        with self.m.If(wrap):           # the next kernel row, from its first column
            sync += [self.iy.eq(self.iy + 1), self.ix.eq(self.pixel.ix0),
                     self.row_origin.eq(self.next_row), self.next_row.eq(self.next_row + d.row_step),
                     self.right.eq(self.next_row + d.col_step),
                     self.row_here.eq(self.row_below), self.row_below.eq(self.row_in_map(self.iy + 2)),
                     self.column_right.eq(self.column_in_map(self.pixel.ix0 + 1))]
        with self.m.Else():             # the next column of the row
            sync += [self.ix.eq(self.ix + 1), self.right.eq(self.right + d.col_step),
                     self.column_right.eq(self.column_in_map(self.ix + 2))]
        return self.next_base, self.next_inside


class BroadcastRelay(wiring.Component):
    """The broadcast relay (docs/timing.md "Broadcast relay", ``ArchConfig.broadcast_relay``):
    registers beside the broadcaster through which the broadcast crosses the die, so neither
    direction of it is a path from one side of the array to the other within a cycle.

    - ``inputs`` (the broadcaster's item, or with ``lane_passes`` each lane's) are registered and
      leave as ``outputs``: an item pushed at b reaches the PEs at b + 1;
    - each PE's ``rooms`` (``ProcessingElement.room``: room for 1, 2, 3 more items beside what it
      holds) reach ``ready``, a register, through the pick of the bit for the pushes that will
      be in flight in the next cycle (this cycle's and the one in the relay's register, which
      that room does not count), ANDed across the PEs when every PE takes the one item: the
      broadcaster sees a pop a cycle late, and never overfills a queue;
    - ``busy``: an item is in the register (the column phase is not over)."""

    def __init__(self, arch: ArchConfig):
        from zeroskip.hw.gateware.pe import relay_room_bits
        assert timing.RELAY_ITEM_STAGES == 1 and timing.RELAY_ROOM_LAG == 1   # the registers below
        self.arch = arch
        lanes = arch.pes if arch.lane_passes else 1
        super().__init__({
            "inputs": In(broadcast_signature(arch)).array(lanes),
            "outputs": Out(broadcast_signature(arch)).array(lanes),
            "rooms": In(relay_room_bits()).array(arch.pes),
            "ready": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # the valid bit in the register twice (each copy kept, ``OWN_COPY``): one copy drives
        # every PE across the die, the other only the count of pushes in flight here
        held, pushing = [], []        # per lane: the push in the register, and this cycle's
        for lane, (source, sink) in enumerate(zip(self.inputs, self.outputs)):
            sent = Signal(name=f"relay_valid_{lane}", attrs={OWN_COPY: 1})
            mine = Signal(name=f"relay_held_{lane}", attrs={OWN_COPY: 1})
            m.d.sync += [sent.eq(source.valid), mine.eq(source.valid),
                         sink.payload.eq(source.payload)]
            m.d.comb += sink.valid.eq(sent)
            held.append(mine)
            pushing.append(source.valid)

        def fits(room, lane):
            """Room, in the next cycle, for the pushes in flight then (this cycle's and the
            register's, which the room registered now does not count) and one more: ``room``'s
            bit ``pushes + mine``, the push taking the last multiplexer."""
            mine = held[lane]
            return Mux(pushing[lane], Mux(mine, room[2], room[1]), Mux(mine, room[1], room[0]))

        # ``ready`` is a register of its own, the room picked by the pushes in flight a cycle
        # ahead: the broadcaster's decisions after it start from a flip-flop beside them, not
        # from a pick of the registered room by the relay's count (docs/fpga.md, "The entry
        # stage ..."). Exact: at b it is what the room registered at b − 1 allows for the pushes
        # of b − 1 and b − 2
        ready = Signal(name="relay_ready")
        m.d.comb += self.ready.eq(ready)
        if len(self.outputs) == 1:
            # one item for every PE, so one count in flight: the rooms ANDed across the array
            bits = len(self.rooms[0])
            everywhere = Signal(bits, name="relay_room_all")
            m.d.comb += everywhere.eq(Cat(Cat(room[k] for room in self.rooms).all() for k in range(bits)))
            m.d.sync += ready.eq(fits(everywhere, 0))
        else:                      # lane passes: each PE counts its own lane's pushes
            fitting = []
            for p, room in enumerate(self.rooms):
                fit = Signal(name=f"relay_fits_{p}")
                m.d.sync += fit.eq(fits(room, p))
                fitting.append(fit)
            m.d.comb += ready.eq(Cat(fitting).all())
        m.d.comb += self.busy.eq(Cat(held).any())
        return m
