"""The control unit: runs the pass descriptors and counts cycles exactly as docs/timing.md.

Cycle 0 is the cycle ``start`` is asserted (the FSM sees it at the edge closing it). Per pass,
beginning at T: COLUMN (from T to C, the first cycle the broadcaster is done and every PE is
free, seen at C + 1 through a register; with ``pe_copies`` at C + 2, each PE's ``free``
registered first) → DRAIN → SWEEP (from X = C + mac_drain, R cycles,
one accumulator row each) → TAIL (``REQUANT_TAIL`` cycles) → the next pass at
``T_next = C + mac_drain + R + REQUANT_TAIL`` (``ArchConfig.mac_drain``: ``MAC_DRAIN``, a cycle
more with ``entry_stage``). The descriptor read port reads in every cycle:
descriptor 0 between programs (latched after the ``PROGRAM_HEAD`` cycles), the next pass's from
the cycle after a pass begins (latched in its last tail cycle). After the last pass, ``PROGRAM_TAIL`` cycles, then
``done``; the counter then holds the program's cycle count. Banks need no swap state: a pass's
source bank is its layer's parity.

A conv or binary conv descriptor (docs/conv.md, docs/binary-mode.md) runs one such pass per output pixel P = 0 .. OH·OW − 1 in
raster order, the next pixel-pass starting where the next pass would (the same descriptor, none
read). The pixel's window origin O, its top-left input pixel (iy0, ix0) and its output offset
P·out_step (``interfaces.pixel_layout``) are stepped with adders in the last tail cycle, so they
are registered at the pixel-pass's first cycle; a new descriptor starts them at pixel 0.

With ``sweep_overlap`` (docs/timing.md "Sweep overlap") a sweep unit beside the FSM sweeps: a
pass requests its sweep at C + 1, and a pixel-pass followed by another of its descriptor lets
the next one begin at C + 2 in the other accumulator file (``HOLD`` while that file's sweep
still reads), while any other pass waits for its sweep (``FLUSH``) and then ``TAIL``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from zeroskip.hw import timing
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.gateware.interfaces import descriptor_load_signature, pass_signature, pe_descriptor
from zeroskip.hw.gateware.layouts import descriptor_struct
from zeroskip.hw.program import KIND_BINARY_CONV, KIND_CONV, image_name
from zeroskip.hw.regmap import DATA_BITS, memory_shapes

CYCLE_BITS = DATA_BITS      #: the cycle counter is the CYCLES register, one bus word

# what the PE's pipeline needs of the constants (docs/timing.md, hw/gateware/pe.py): the sweep
# may read a row the last MAC writes (transparent port) in that very cycle; the last activation
# lands before the next pass's first group read; pass 0's descriptor needs a read and a latch
assert timing.REQUANT_TAIL >= timing.REQUANT_WRITE_LATENCY, \
    f"the sweep writes its last activation {timing.REQUANT_WRITE_LATENCY} cycles after the read"
assert timing.MAC_DRAIN >= 3 + timing.COLUMN_END_STAGES, \
    "column_done is registered (with pe_copies twice): C is seen at C + 1 (C + 2), then a drain cycle"
assert timing.PROGRAM_HEAD >= 2, "the first descriptor takes a read and a latch"
assert timing.PIXEL_RESTART == 2, "sweep_overlap: C is seen at C + 1, the next pixel-pass begins at C + 2"
assert timing.PROGRAM_TAIL >= 0
assert timing.REQUANT_TAIL >= 2, "the descriptor's latch is decided in the tail's last cycle but one"


class ControlUnit(wiring.Component):
    def __init__(self, arch: ArchConfig, descriptors=None):
        assert arch.mac_drain >= arch.mac_write_latency, \
            f"the MAC pipeline writes its last sum at C + {arch.mac_write_latency}"
        assert timing.REQUANT_TAIL + arch.first_group_read >= arch.requant_write_latency, \
            f"the sweep writes its last activation {arch.requant_write_latency} cycles after the " \
            f"read, the next pass reads its first group {arch.first_group_read} cycle(s) after T"
        self.arch = arch
        self.descriptors = descriptors
        # with ``pe_copies``: the PEs' fields of the next pass's descriptor, loaded the cycle
        # before ``run.desc`` (docs/timing.md "PE copies")
        ahead = {"desc_ahead": Out(pe_descriptor(arch))} if arch.pe_copies else {}
        super().__init__({
            **ahead,
            "start": In(1), "passes": In(range(arch.max_passes + 1)),
            "column_done": In(1),                  # broadcaster done and every PE free
            "run": Out(pass_signature(arch)),      # to the broadcaster and every PE
            "done": Out(1),
            "cycles": Out(CYCLE_BITS),
            "load": In(descriptor_load_signature(arch)),    # the host bus writes descriptors
        })

    def elaborate(self, platform):
        m = Module()
        a = self.arch
        run, load = self.run, self.load
        width, depth = memory_shapes(a)["descriptors"]
        init = [] if self.descriptors is None else [int(v) for v in self.descriptors]
        memory = self.memory = Memory(shape=width, depth=depth, init=init)
        m.submodules[image_name("descriptors")] = memory      # named as its image (see pe.py)
        wr, rd = memory.write_port(), memory.read_port()
        index = Signal(range(a.max_passes + 1))
        # the read port reads in every cycle the descriptor ``fetch`` names: the next pass's
        # (0 between programs), set as a pass begins, two cycles or more before the next one
        # is latched. An enable decoded from the state fanned out to every bit of the read
        # port's register, and an address from ``index + 1`` lay before its block of LUT RAM
        # (docs/fpga.md, "Every failing endpoint")
        fetch = Signal.like(index, name="fetch")
        if a.pe_copies:
            # the bus's write registered again here, beside the LUT RAM its address drives
            # (every cell of it): the top's register sits by the bus. It lands a cycle later,
            # still within the transfer (``regmap.transfer_cycles``)
            staged = descriptor_load_signature(a).create(path=("descriptor_write",))
            m.d.sync += [staged.addr.eq(load.addr), staged.data.eq(load.data), staged.we.eq(load.we)]
            load = staged
        m.d.comb += [wr.addr.eq(load.addr), wr.data.eq(load.data), wr.en.eq(load.we.descriptors),
                     rd.addr.eq(fetch), rd.en.eq(1)]

        count = Signal(range(max(a.mac_drain, timing.REQUANT_TAIL, timing.PROGRAM_HEAD,
                                 timing.PROGRAM_TAIL) + 1))
        row = Signal(range(a.acc_depth + 1))
        first = Signal()
        m.d.comb += run.start.eq(first)
        m.d.sync += first.eq(0)

        # conv passes: the output pixel (oy, ox) and its window, stepped with adders
        desc, pixel = run.desc, run.pixel
        # the sweep's bias address ``bias_base + row``, counted beside the row: every PE reads its
        # bias block RAM from this flip-flop, with no adder after it (docs/fpga.md: one adder
        # shared by every PE was the 16-PE worst path, its sum crossing the die)
        sweep_bias = Signal.like(desc.bias_base, name="sweep_bias")
        m.d.comb += run.sweep_bias.eq(sweep_bias)
        oy, ox = Signal.like(desc.out_height, name="oy"), Signal.like(desc.out_width, name="ox")
        line = Signal.like(pixel.origin, name="line")     # oy·line_step − origin: O at ox = 0
        # the FSM's decisions on the pass's registers are compared a cycle ahead: each is taken
        # two cycles or more after its operands last changed (a pixel-pass, a pass or a program
        # begins with ``first``, a cycle in which the FSM decides nothing), so the comparisons
        # lie on no path to the descriptor's register and its fan-out across the array
        last_pixel = Signal()                     # this pass's last pixel-pass runs
        last_pass = Signal()                      # this pass is the program's last
        no_rows = Signal()                        # the pass sweeps no row
        row_end = Signal()                        # this pixel is its output row's last
        m.d.sync += [row_end.eq(ox + 1 == desc.out_width),
                     last_pixel.eq(((desc.kind != KIND_CONV) & (desc.kind != KIND_BINARY_CONV)) |
                                   ((oy + 1 == desc.out_height) & (ox + 1 == desc.out_width))),
                     last_pass.eq(index + 1 >= self.passes), no_rows.eq(desc.rows == 0)]

        # the descriptor's register loads in the cycle ``latch`` is called, its enable a register
        # set the cycle before: the FSM's decision fanned out to the enables of every bit of it
        # (docs/fpga.md, "The PEs' own copies")
        latching = Signal(name="desc_latching")
        latching_next = Signal(name="desc_latching_next")         # the FSM's decisions below
        m.d.sync += latching.eq(latching_next)
        with m.If(latching):
            m.d.sync += desc.eq(rd.data)
        if a.pe_copies:
            # the PEs' fields a cycle ahead: the read port holds the next descriptor then already
            # (fetched as the pass before began; the bus writes none while a program runs, and
            # a write lands cycles before a start)
            word = data.View(descriptor_struct(a), rd.data)
            with m.If(latching_next):
                m.d.sync += [getattr(self.desc_ahead, name).eq(getattr(word, name))
                             for name in self.desc_ahead.shape().members]

        def latch(word):
            """Begin the pass of the descriptor ``word`` (the read port's data) at pixel 0 (its
            register loads it: ``latching``)."""
            new = data.View(descriptor_struct(a), word)
            m.d.sync += [first.eq(1), oy.eq(0), ox.eq(0),
                         line.eq(-new.origin), pixel.origin.eq(-new.origin),
                         pixel.iy0.eq(-new.pad), pixel.ix0.eq(-new.pad), pixel.out_offset.eq(0)]

        def next_pixel():
            """The next pixel-pass of the same descriptor, in raster order."""
            m.d.sync += [first.eq(1), pixel.out_offset.eq(pixel.out_offset + desc.out_step)]
            with m.If(row_end):
                m.d.sync += [ox.eq(0), oy.eq(oy + 1), line.eq(line + desc.line_step),
                             pixel.origin.eq(line + desc.line_step),
                             pixel.iy0.eq(pixel.iy0 + desc.stride), pixel.ix0.eq(-desc.pad)]
            with m.Else():
                m.d.sync += [ox.eq(ox + 1), pixel.origin.eq(pixel.origin + desc.pixel_step),
                             pixel.ix0.eq(pixel.ix0 + desc.stride)]

        with m.If(run.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        # ``column_done`` (every PE's pointer compare and the broadcaster, ANDed across the
        # array) is registered: the FSM sees C at C + 1 and drains one cycle less, so the sweep
        # still begins at C + mac_drain. At a pass's first cycle the register still holds the
        # previous pass's level; ``first`` masks it (the input is low then: start clears it).
        column_done = Signal()
        m.d.sync += column_done.eq(self.column_done)
        # with ``pe_copies`` every PE's ``free`` is registered before the AND (the top): C is
        # seen at C + 2, and at a pass's second cycle the register still holds the previous
        # pass's level too (``settling`` masks it). And each PE registers the sweep (``lead``):
        # the sweep here runs a cycle ahead of the PEs', X − 1 (docs/timing.md "PE copies")
        seen = 1 + timing.COLUMN_END_STAGES * a.pe_copies          # C is seen at C + seen
        lead = timing.SWEEP_COPY_STAGES * a.pe_copies
        drain = a.mac_drain - lead                                   # to this unit's sweep
        assert drain >= 2 + seen
        ended = column_done & ~first
        if a.pe_copies:
            settling = Signal(name="column_settling")
            m.d.sync += settling.eq(first)
            ended = ended & ~settling

        # the sweep unit (``sweep_overlap``, docs/timing.md "Sweep overlap"): a pass's sweep is
        # requested at C + 1 and begins at X = max(C + mac_drain, the previous sweep's end), one
        # row a cycle; meanwhile the next pixel-pass of a conv pass may scan into the other
        # accumulator file. Without the switch the FSM's SWEEP state sweeps, as EIE's order
        overlap = bool(a.sweep_overlap)
        if overlap:
            half = Signal(name="acc_half")            # the running pass's accumulator file
            pending, pending_half = Signal(name="sweep_pending"), Signal(name="pending_half")
            pending_count = Signal(range(a.mac_drain + 1), name="pending_count")
            pending_offset = Signal.like(pixel.out_offset, name="pending_offset")
            sweeping, sweep_half = Signal(name="sweeping"), Signal(name="sweep_half")
            sweep_offset = Signal.like(pixel.out_offset, name="sweep_offset")
            rows = run.desc.rows
            ending = Signal()                         # the sweep reads its last row now
            m.d.comb += [ending.eq(sweeping & (row + 1 == rows)),
                         run.half.eq(half), run.sweep.eq(sweeping), run.sweep_row.eq(row),
                         run.sweep_half.eq(sweep_half), run.sweep_offset.eq(sweep_offset)]
            with m.If(sweeping):
                m.d.sync += [row.eq(row + 1), sweep_bias.eq(sweep_bias + 1)]
                with m.If(ending):
                    m.d.sync += sweeping.eq(0)
            with m.If(pending & (pending_count != 0)):
                m.d.sync += pending_count.eq(pending_count - 1)
            with m.If(pending & (pending_count == 0) & (~sweeping | ending)):    # X − 1
                m.d.sync += [pending.eq(0), sweeping.eq(1), row.eq(0), sweep_bias.eq(desc.bias_base),
                             sweep_half.eq(pending_half), sweep_offset.eq(pending_offset)]
            # the previous pixel-pass's sweep (the other file's) reads no row after this cycle,
            # in the PEs (with ``pe_copies`` the sweep's registers a cycle later, as the PEs')
            in_pes = (sweeping, sweep_half, ending)
            if lead:
                in_pes = [Signal(name=f"{value.name}_in_pes") for value in in_pes]
                m.d.sync += [copy.eq(value) for copy, value in zip(in_pes, (sweeping, sweep_half, ending))]
            previous_swept = Signal()
            m.d.comb += previous_swept.eq(~in_pes[0] | (in_pes[1] == half) | in_pes[2])
            # a pixel-pass whose next one may begin before its sweep: same descriptor, rows to sweep
            overlapping = Signal()
            m.d.comb += overlapping.eq(~last_pixel & ~no_rows)

            def request_sweep():
                m.d.sync += [pending.eq(1), pending_count.eq(drain - 2 - seen),
                             pending_half.eq(half), pending_offset.eq(pixel.out_offset)]

            def next_overlapped():
                next_pixel()
                m.d.sync += half.eq(~half)

        if not overlap:
            # the SWEEP state as a register of its own, set and cleared with the state: the sweep
            # reaches every PE from a flip-flop, not through the state's decoding
            sweep_state = Signal(name="sweep_state")
            m.d.comb += [run.sweep.eq(sweep_state), run.sweep_row.eq(row)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.done.eq(0)
                with m.If(self.start):
                    m.d.sync += [self.cycles.eq(1), index.eq(0), count.eq(timing.PROGRAM_HEAD - 2)]
                    m.d.comb += latching_next.eq(timing.PROGRAM_HEAD == 2)
                    m.next = "HEAD"
            with m.State("HEAD"):
                m.d.comb += [run.busy.eq(1), latching_next.eq(count == 1)]
                with m.If(count == 0):
                    latch(rd.data)
                    m.d.sync += fetch.eq(1)
                    m.next = "COLUMN"
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            with m.State("COLUMN"):
                m.d.comb += run.busy.eq(1)
                with m.If(ended):
                    if overlap:
                        with m.If(no_rows):
                            m.d.sync += count.eq(a.mac_drain - 2 - seen)
                            m.next = "DRAIN"
                        with m.Else():
                            request_sweep()
                            with m.If(overlapping & previous_swept):
                                next_overlapped()
                            with m.Elif(overlapping):
                                m.next = "HOLD"
                            with m.Else():
                                m.next = "FLUSH"
                    else:
                        m.d.sync += [count.eq(Mux(no_rows, a.mac_drain, drain) - 2 - seen), row.eq(0),
                                     sweep_bias.eq(desc.bias_base)]
                        m.next = "DRAIN"
            if overlap:
                with m.State("HOLD"):         # the next pixel-pass waits for its file's sweep
                    m.d.comb += run.busy.eq(1)
                    with m.If(previous_swept):
                        next_overlapped()
                        m.next = "COLUMN"
                with m.State("FLUSH"):        # the pass's own sweep, then the tail
                    m.d.comb += run.busy.eq(1)
                    with m.If(~pending & ending):
                        m.d.sync += count.eq(timing.REQUANT_TAIL - 1 + lead)
                        m.next = "TAIL"
            with m.State("DRAIN"):           # with the sweep unit: passes with no rows only
                m.d.comb += run.busy.eq(1)
                with m.If(count == 0):
                    with m.If(no_rows | overlap):
                        m.d.sync += count.eq(timing.REQUANT_TAIL - 1)
                        m.next = "TAIL"
                    if not overlap:
                        with m.Else():
                            m.d.sync += sweep_state.eq(1)
                            m.next = "SWEEP"
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            if not overlap:
                with m.State("SWEEP"):
                    m.d.comb += run.busy.eq(1)
                    m.d.sync += [row.eq(row + 1), sweep_bias.eq(sweep_bias + 1)]
                    with m.If(row + 1 == run.desc.rows):
                        m.d.sync += sweep_state.eq(0)
                        m.d.sync += count.eq(timing.REQUANT_TAIL - 1 + lead)
                        m.next = "TAIL"
            with m.State("TAIL"):
                m.d.comb += run.busy.eq(1)
                m.d.comb += latching_next.eq((count == 1) & last_pixel & ~last_pass)
                with m.If(count == 0):
                    with m.If(~last_pixel):
                        next_pixel()
                        m.next = "COLUMN"
                    with m.Elif(last_pass):
                        m.d.sync += fetch.eq(0)
                        if timing.PROGRAM_TAIL:
                            m.d.sync += count.eq(timing.PROGRAM_TAIL - 1)
                            m.next = "END"
                        else:
                            m.next = "DONE"
                    with m.Else():
                        latch(rd.data)
                        m.d.sync += [index.eq(index + 1), fetch.eq(index + 2)]
                        m.next = "COLUMN"
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            with m.State("END"):
                m.d.comb += run.busy.eq(1)
                with m.If(count == 0):
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                with m.If(self.start):
                    m.d.sync += [self.cycles.eq(1), index.eq(0), count.eq(timing.PROGRAM_HEAD - 2)]
                    m.d.comb += latching_next.eq(timing.PROGRAM_HEAD == 2)
                    m.next = "HEAD"
        return m
