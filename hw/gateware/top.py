"""The accelerator's top: N PEs, the broadcast (LNZD) unit, the control unit, and the Wishbone
host bus decoding ``zeroskip.hw.regmap``'s address map.

Bus transfers take three cycles (``regmap.transfer_cycles``; five with ``pe_copies``, the load
port then passing a register per ``GROUP_PES`` PEs and each PE's own): the request's decode is
registered once here into the memories' load ports and the start (no bus logic lies on a path across the die to the PEs'
memories: a write lands the cycle after its request, a start begins the program then), then
``ack`` follows with a read's data from a synchronous read port;
``dat_r`` is driven by registers and read ports only. Writes of entries wider than 32 bits
collect their low words in a staging register; the last word commits the entry. While the
program runs, memory writes are ignored (registers still read).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zeroskip.hw import regmap
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.gateware.broadcast import BroadcastRelay, Broadcaster
from zeroskip.hw.gateware.control import ControlUnit
from zeroskip.hw.gateware import OWN_COPY
from zeroskip.hw.gateware.interfaces import PE_LOAD_TARGETS, pe_load_signature
from zeroskip.hw.gateware.pe import ProcessingElement
from zeroskip.hw.program import Program, memory_images
from zeroskip.hw.gateware.wishbone import bus_signature


#: with ``pe_copies``: PEs per register on the way across the die, between a register one for
#: the array (the pass descriptor's, the bus's load port) and each PE's own copy
GROUP_PES = 4


def _log2(n: int) -> int:
    return n.bit_length() - 1


class Accelerator(wiring.Component):
    """The whole array for ``arch``; ``program`` (optional) initialises every memory and the
    pass count at elaboration, so a run needs only the input written over the bus."""

    def __new__(cls, arch: ArchConfig, program: Program | None = None, **kwargs):
        # a refused program is refused before the object exists (no unused-elaboratable warning)
        if program is not None:
            regmap.check_compatible(program, arch)
        return super().__new__(cls, **kwargs)

    def __init__(self, arch: ArchConfig, program: Program | None = None):
        self.arch = arch
        self.program = program
        self.regions = regmap.regions(arch)
        super().__init__({
            "bus": In(bus_signature(regmap.address_bits(arch))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        a = self.arch
        images = memory_images(self.program) if self.program is not None else {}
        m.submodules.control = control = ControlUnit(a, images.get("descriptors", (None,))[0])
        m.submodules.broadcast = broadcast = Broadcaster(a)
        pes = []
        for p in range(a.pes):
            pe = ProcessingElement(a, p, images)
            m.submodules[f"pe{p}"] = pe
            pes.append(pe)
        # kept for testbenches that watch the array's internals
        self.control_unit, self.broadcaster, self.pes = control, broadcast, pes

        # -- the array ----------------------------------------------------------------------------
        wiring.connect(m, control.run, broadcast.run, *(pe.run for pe in pes))
        # with ``pe_copies``: the PEs' numbers in each group of ``GROUP_PES``
        groups = [range(k, min(k + GROUP_PES, a.pes)) for k in range(0, a.pes, GROUP_PES)]
        if a.pe_copies:     # the descriptor's fields a cycle ahead, a register per group of PEs
            for g, members in enumerate(groups):
                staged = Signal(control.desc_ahead.shape(), name=f"desc_group{g}", attrs={OWN_COPY: 1})
                m.d.sync += staged.eq(control.desc_ahead)
                m.d.comb += [pes[p].desc_ahead.eq(staged) for p in members]
        # each PE's item: the broadcast one, or (lane passes) the broadcaster's item for that PE;
        # with the registered broadcast every PE registers it itself (its own copy of the register)
        sources = list(broadcast.lane_items) if a.lane_passes else [broadcast.items]
        between = Const(1, 1)           # nothing between the broadcaster and the PEs
        if a.broadcast_relay:           # docs/timing.md "Broadcast relay"
            m.submodules.relay = relay = BroadcastRelay(a)
            for source, relayed in zip(sources, relay.inputs):
                wiring.connect(m, source, relayed)
            sources = list(relay.outputs)
            m.d.comb += [broadcast.ready.eq(relay.ready),
                         *(room.eq(pe.room) for room, pe in zip(relay.rooms, pes))]
            between = ~relay.busy
        else:                           # every queue has room: each PE's registered room, picked
            m.d.comb += broadcast.ready.eq(Cat(pe.ready for pe in pes).all())
        if len(sources) > 1:
            for source, pe in zip(sources, pes):
                wiring.connect(m, source, pe.items)
        else:
            wiring.connect(m, sources[0], *(pe.items for pe in pes))
        for lane, pe in zip(broadcast.groups, pes):
            wiring.connect(m, lane, pe.group)
        # the column's end: the broadcaster done, nothing in the relay, every PE free (with
        # ``pe_copies`` each PE's ``free`` is its own register, and so is the broadcaster's part)
        scanned = broadcast.done & between
        if a.pe_copies:
            scanned_registered = Signal(name="column_scanned")
            m.d.sync += scanned_registered.eq(scanned)
            scanned = scanned_registered
        m.d.comb += [control.column_done.eq(scanned & Cat(pe.free for pe in pes).all()),
                     self.done.eq(control.done)]

        # -- the host bus -------------------------------------------------------------------------
        bus = self.bus
        # the transfer's cycle: 0 waiting for (or taking) a request, then its decode in the load
        # ports, then ack. A counter rather than ack's own flip-flop gates the next request:
        # out of context that flip-flop sits by its pin, a trip across the die and back
        cycles = regmap.transfer_cycles(a)
        last = cycles - 1
        step = Signal(range(cycles), name="bus_step")
        access = Signal()
        m.d.comb += [access.eq(bus.cyc & bus.stb & (step == 0)), bus.ack.eq(step == last)]
        with m.If(access | (step != 0)):
            m.d.sync += step.eq(Mux(step == last, 0, step + 1))
        write = access & bus.we
        read = access & ~bus.we
        idle = ~control.run.busy

        max_words = max(r.words for r in self.regions.values())
        word_bits = regmap.DATA_BITS
        stage = Signal(word_bits * max(1, max_words - 1))
        passes = Signal(range(a.max_passes + 1),
                        init=len(self.program.passes) if self.program is not None else 0)
        layers = Signal(word_bits, init=len(self.program.layers) if self.program is not None else 0)

        # the stage's words are written in the transfer's second cycle from a one-hot enable
        # registered in its first (the data is held through the transfer): the request's
        # cycle then drives one register per word, not the enables of every stage bit
        stage_words = max(1, max_words - 1)
        stage_we = Signal(stage_words, name="stage_we")
        m.d.sync += stage_we.eq(0)
        for k in range(stage_words):
            with m.If(stage_we[k]):
                m.d.sync += stage.word_select(k, word_bits).eq(bus.dat_w)
        hits, fields = {}, {}
        for name, r in self.regions.items():
            hit = Signal(name=f"hit_{name}")
            m.d.comb += hit.eq((bus.adr >> _log2(r.size)) == (r.base >> _log2(r.size)))
            word = bus.adr[:_log2(r.stride)] if r.stride > 1 else Const(0, 1)
            index = bus.adr[_log2(r.stride):_log2(r.window if r.per_pe else r.size)]
            pe_sel = (bus.adr[_log2(r.window):_log2(r.size)] if r.per_pe and r.size > r.window
                      else Const(0, 1))
            commit = Signal(name=f"commit_{name}")
            m.d.comb += commit.eq(write & hit & (word == r.words - 1) & idle)
            with m.If(write & hit & (word < r.words - 1)):
                m.d.sync += stage_we.eq(Const(1, stage_words) << word)
            value = Cat(stage[:word_bits * (r.words - 1)], bus.dat_w) if r.words > 1 else bus.dat_w
            hits[name] = hit
            fields[name] = (index, pe_sel, commit, value)

        # load ports, registered: address and data from the region hit, one write enable per
        # memory (the PEs' address and data are alike: one register drives them all; each PE
        # registers the codebook's write again, hw/gateware/pe.py)
        act_hit = hits["act0"] | hits["act1"]
        if a.pe_copies:
            self.load_through_groups(m, groups, hits, fields, read & act_hit & idle)
        else:
            for p, pe in enumerate(pes):
                for name in PE_LOAD_TARGETS:
                    index, pe_sel, commit, value = fields[name]
                    with m.If(hits[name]):
                        m.d.sync += [pe.load.addr.eq(index), pe.load.data.eq(value)]
                    enable = commit if name == "codebook" else commit & (pe_sel == p)
                    m.d.sync += pe.load.we[name].eq(enable)
                m.d.sync += [pe.load.re.eq(read & act_hit & (fields["act0"][1] == p) & idle),
                             pe.load.bank.eq(hits["act1"])]
        index, _, commit, value = fields["descriptors"]
        m.d.sync += [control.load.addr.eq(index), control.load.data.eq(value),
                     control.load.we.descriptors.eq(commit)]

        # registers
        hit_regs = Signal()
        start = Signal(name="start_request")
        m.d.sync += start.eq(0)
        m.d.comb += hit_regs.eq((bus.adr >> _log2(regmap.REGISTER_WORDS)) == 0)
        reg = bus.adr[:_log2(regmap.REGISTER_WORDS)]
        # written in the transfer's second cycle, as the stage is (the decode registered)
        reg_write = Signal()
        reg_written = Signal.like(reg)
        m.d.sync += [reg_write.eq(write & hit_regs), reg_written.eq(reg)]
        with m.If(reg_write):
            with m.Switch(reg_written):
                with m.Case(regmap.REG_CTRL):       # registered as the load ports are
                    m.d.sync += start.eq(bus.dat_w[0] & idle)
                with m.Case(regmap.REG_PASSES):
                    m.d.sync += passes.eq(bus.dat_w)
                with m.Case(regmap.REG_LAYERS):
                    m.d.sync += layers.eq(bus.dat_w)
        m.d.comb += [control.passes.eq(passes), control.start.eq(start)]

        # read data, valid with ack (the address is held through the transfer). The decode is
        # registered (from the transfer's second cycle) and selects among registers and the
        # PEs' read ports in the ack cycle: no combinational path from the bus's inputs to ``dat_r``
        read_regs, read_act = Signal(), Signal()
        read_reg = Signal.like(reg)
        read_pe = Signal.like(fields["act0"][1])
        m.d.sync += [read_regs.eq(hit_regs), read_reg.eq(reg), read_act.eq(hits["act0"] | hits["act1"]),
                     read_pe.eq(fields["act0"][1])]
        with m.If(read_regs):
            with m.Switch(read_reg):
                with m.Case(regmap.REG_ID):
                    m.d.comb += bus.dat_r.eq(regmap.fingerprint(a))
                with m.Case(regmap.REG_STATUS):
                    m.d.comb += bus.dat_r.eq(Cat(control.done, control.run.busy))
                with m.Case(regmap.REG_PASSES):
                    m.d.comb += bus.dat_r.eq(passes)
                with m.Case(regmap.REG_CYCLES):
                    m.d.comb += bus.dat_r.eq(control.cycles)
                with m.Case(regmap.REG_LAYERS):
                    m.d.comb += bus.dat_r.eq(layers)
        with m.Elif(read_act):
            with m.Switch(read_pe):
                for p, pe in enumerate(pes):
                    with m.Case(p):
                        m.d.comb += bus.dat_r.eq(pe.load.rdata)
        return m

    def load_through_groups(self, m: Module, groups, hits, fields, reading) -> None:
        """With ``pe_copies`` (``regmap.LOAD_STAGES``): the request registered once for the
        array beside the bus (the word, a write enable per memory and the PE addressed), then
        once per group of PEs (the enables kept for the group's PEs only), then in each PE's
        own copy (``ProcessingElement.load_port``), its enables decoded from the group's. No
        register decoded per PE sits beside the bus, its net crossing the die to its PE."""
        a, pes = self.arch, self.pes
        staged = pe_load_signature(a).create(path=("load_staged",))
        target = Signal(range(max(a.pes, 2)), name="load_target")
        for name in PE_LOAD_TARGETS:
            index, pe_sel, commit, value = fields[name]
            with m.If(hits[name]):
                m.d.sync += [staged.addr.eq(index), staged.data.eq(value), target.eq(pe_sel)]
            m.d.sync += staged.we[name].eq(commit)
        m.d.sync += [staged.re.eq(reading), staged.bank.eq(hits["act1"])]
        within = _log2(GROUP_PES)
        own = {OWN_COPY: 1}
        for g, members in enumerate(groups):
            ours = (target >> within) == g
            addr = Signal.like(staged.addr, name=f"load_group{g}_addr", attrs=own)
            word = Signal.like(staged.data, name=f"load_group{g}_data", attrs=own)
            we = Signal.like(staged.we, name=f"load_group{g}_we", attrs=own)
            re = Signal(name=f"load_group{g}_re", attrs=own)
            bank = Signal(name=f"load_group{g}_bank", attrs=own)
            member = Signal(within, name=f"load_group{g}_member", attrs=own)
            m.d.sync += [addr.eq(staged.addr), word.eq(staged.data), re.eq(staged.re & ours),
                         bank.eq(staged.bank), member.eq(target[:within]),
                         *(we[name].eq(staged.we[name] if name == "codebook" else staged.we[name] & ours)
                           for name in PE_LOAD_TARGETS)]
            for p in members:
                load, mine = pes[p].load, member == p % GROUP_PES
                m.d.comb += [load.addr.eq(addr), load.data.eq(word), load.bank.eq(bank),
                             load.re.eq(re & mine),
                             *(load.we[name].eq(we[name] if name == "codebook" else we[name] & mine)
                               for name in PE_LOAD_TARGETS)]
