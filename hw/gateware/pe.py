"""One processing element (PE): activation queue, pointer banks, sparse-matrix read unit,
codebook, MAC into the accumulators, the two activation banks and the requantisation sweep.

Timing (docs/timing.md), for a column popped from the queue at cycle ``s``:

- ``s``: pop; issue the reads of ``ptr[base + j]`` and ``ptr[base + j + 1]`` (even/odd banks).
- ``s + 1 .. s + n``: issue entry ``e`` (stage 0): read its sparse line, only at the column's
  first entry or at slot 0 of a line (the read port holds its data otherwise). The next item is
  popped in the cycle the column's last entry issues (or when the bounds show an empty column).
- stage 1 (``e``'s issue + 1): the line is registered out of the block RAM.
- stage 2 (+ 2): slice the entry from the line, local row = previous + run + 1 (from −1 per
  column), read the codebook and the accumulator row (binary: xnor/and, popcount per chunk,
  registered; the item's ones were counted per chunk at stage 1).
- stage 3 (+ 3): weight × activation and the binary popcount term, each registered; the
  accumulator row registered out of its block RAM.
- stage 4 (+ 4 = ``MAC_WRITE_LATENCY``): accumulator + the pass's term, written back. Where one
  of the two entries before wrote the same row after this one's read, its sum is taken instead:
  back-to-back entries to one row cost no cycle.

With ``bounds_lookahead`` (docs/timing.md "Bounds lookahead") the bounds are read in the push
cycle b instead; at b + 1 a bounds stage writes the item with its bounds into the queue (an
empty column is dropped there), and the pop at ``s`` is the first entry's issue (stage 0), the
entries issuing at ``s .. s + n − 1``; the stages after stage 0 are the same.

These stages fit inside ``MAC_DRAIN`` (docs/timing.md): the pipelining for the clock
(docs/fpga.md) adds no cycle to any program. With ``entry_stage`` (docs/timing.md "Entry
stage") the entry is sliced out of the line at + 2 into registers of its own, and stages 2 to
4 follow a cycle later (the write at + 5, ``ArchConfig.mac_write_latency``), inside
``ArchConfig.mac_drain``, a cycle longer. With ``pe_copies`` the sum is written from registers
a cycle after stage 4, in the cycle the drain gained for the PEs' copies of the sweep.

The requantisation sweep reads accumulator row ``i`` and bias ``bias_base + i`` (the control
unit's ``sweep_bias``) in one cycle X; both leave their block RAMs into registers at X + 1 (the
row is cleared then), their sum with the rounding's half is registered at X + 2, and at X + 3
(``REQUANT_WRITE_LATENCY``) it is shifted, saturated and ``requantize(...)`` written to the
destination bank at ``row_base + i`` (``zeroskip.hw.fixedpoint.requantize``, bit for bit).
With ``group_feed`` the activation is registered at X + 3 and written at X + 4
(``ArchConfig.requant_write_latency``), in time for the next pass's first group read at T + 1.

Conv passes (docs/conv.md) are sparse passes run once per output pixel P: the sweep writes
``row_base + P·out_step + i``; with ``op = OP_MAX`` stage 4 keeps
``max(acc, activation + max_offset(act_bits))`` instead of the MAC (code 0 still writes nothing).

Binary passes (docs/binary-mode.md) pop (bits, plane, line, valid) items instead, read lines
``line + r`` (``line = line_base + chunk·rows``, stepped by the broadcaster) one per cycle
(``rows`` cycles per item) and add the line's xnor/and popcount term over the item's ``valid``
bits to row r through the same stages; the sweep then binarises by the threshold word or
requantises. Binary conv passes are binary passes run once per output pixel, written like conv
passes.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from zeroskip.hw import timing
from zeroskip.hw.arch import ArchConfig, _bits_for
from zeroskip.hw.gateware import OWN_COPY
from zeroskip.hw.fixedpoint import max_offset, signed_range
from zeroskip.hw.gateware.interfaces import (DESCRIPTOR_FIELDS, broadcast_item, broadcast_signature,
                                             group_read_signature, pass_signature, pe_descriptor,
                                             pe_load_signature, plane_bits)
from zeroskip.hw.gateware.layouts import entry_struct
from zeroskip.hw.gateware.queue import Queue
from zeroskip.hw.program import (KIND_BINARY, KIND_BINARY_CONV, KIND_CONV, OP_MAX, PROGRAM_GLOBAL_MEMORIES, field_max,
                                 image_name)
from zeroskip.hw.regmap import LOAD_STAGES, memory_shapes


#: bits per popcount chunk: the chunks' counts are registered, their sum is the next stage's
POPCOUNT_CHUNK = 32

#: a nibble's popcount: each of its three bits a function of four inputs (one LUT4), so a count
#: starts with no adder
NIBBLE_COUNTS = [bin(v).count("1") for v in range(16)]

#: accumulator bits per copy of the MAC forwarding's selects (docs/fpga.md)
FORWARD_SLICE = 8

#: the memories whose read data at a collision (a read and a write of one address in one cycle)
#: is never taken, the forwarding taking the written value (``ProcessingElement.collided``): the
#: FPGA flow marks their read ports ``COLLISION_X_MASK`` (hw/fpga/flow.py)
FORWARDED_FILES = ("acc", "acc1")
#: the memories the host alone writes and a run alone reads (each PE's, named ``ptr_even_pe3``
#: ...): the bus commits a write only while the array is idle, and the write lands
#: ``regmap.LOAD_STAGES`` cycles later, before a run's first read, so no read meets a write
#: (``host_collisions_seen`` counts them in tests) and the FPGA flow marks their read ports
#: ``COLLISION_X_MASK`` too: no address comparison after the pointer's adders
RUN_READ_FILES = ("sparse", "ptr_even", "ptr_odd", "bias")
#: the activation banks: while the array runs, the group read reads both at one address and
#: takes the source bank's data while the sweep writes the destination, so a read meets a write
#: only in the destination, whose data is not taken (``collided``); the bus reads and writes
#: them only while the array is idle. The FPGA flow marks them as ``FORWARDED_FILES``
BANK_FILES = ("act0", "act1")


def tree_sum(terms):
    """Sum of ``terms`` (a balanced adder tree)."""
    terms = list(terms)
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
    return terms[0] if terms else Const(0, 1)


def carry_save_sum(operands, width: int):
    """The sum of ``operands`` modulo 2^width: carry-save steps (three operands into two, one
    LUT each bit) down to two, then one carry chain."""
    operands = [Value.cast(operand)[:width] for operand in operands]
    while len(operands) > 2:
        x, y, z = operands[:3]
        carries = ((x & y) | (x & z) | (y & z))[:width - 1]
        operands = operands[3:] + [x ^ y ^ z, Cat(Const(0, 1), carries)]
    return (operands[0] + operands[1])[:width] if len(operands) == 2 else operands[0]


def nibble_counts(value):
    """The popcounts of ``value``'s nibbles, each from a table (a short tail's bits summed)."""
    counts = Array(Const(count, 3) for count in NIBBLE_COUNTS)
    return [counts[value[k:k + 4]] if k + 4 <= len(value) else
            tree_sum(value[i] for i in range(k, len(value)))
            for k in range(0, len(value), 4)]


def popcount(value):
    """Sum of the bits of ``value``: each nibble's count from a table, then an adder tree."""
    return tree_sum(nibble_counts(value))


def popcount_parts(value, chunk: int = POPCOUNT_CHUNK):
    """The popcounts of ``value``'s ``chunk``-bit slices (their sum is its popcount)."""
    return [popcount(value[k:k + chunk]) for k in range(0, len(value), chunk)]


def _registered(m: Module, name: str, values) -> list[Signal]:
    """``values`` registered (one cycle later), named ``name_0``, ``name_1`` ..."""
    registers = []
    for k, value in enumerate(values):
        register = Signal(len(value), name=f"{name}_{k}")
        m.d.sync += register.eq(value)
        registers.append(register)
    return registers


def binary_term_bits(a: ArchConfig) -> int:
    """A binary entry's term 2·X − Y << plane, signed."""
    return _bits_for(a.line_bits) + 2 + field_max("planes", a) + 1


def addend_bits(a: ArchConfig) -> int:
    """What stage 4 adds to a row (a weight × activation product or a binary term), signed."""
    weight_bits = memory_shapes(a)["codebook"][0]
    return max(weight_bits + a.act_bits, binary_term_bits(a)) + 1


def relay_room_bits() -> int:
    """The room a PE reports to the broadcast relay: for the relay's next push and for the ones
    it has in flight (docs/timing.md "Broadcast relay")."""
    return 1 + timing.RELAY_ITEM_STAGES + timing.RELAY_ROOM_LAG


def _memory(m: Module, name: str, width: int, depth: int, init) -> Memory:
    words = [] if init is None else [int(v) for v in init]
    memory = Memory(shape=unsigned(width), depth=depth, init=words)
    m.submodules[name] = memory
    return memory


class ProcessingElement(wiring.Component):
    """PE ``index`` of an array built for ``arch``; ``images`` (from ``program.memory_images``)
    initialises its memories at elaboration."""

    def __init__(self, arch: ArchConfig, index: int = 0, images: dict | None = None):
        self.arch = arch
        self.index = index
        self.images = images or {}
        self.memories: dict[str, Memory] = {}     # filled at elaboration (testbenches inspect them)
        if arch.broadcast_relay:
            # docs/timing.md "Broadcast relay": room for 1, 2 .. ``relay_room_bits`` more items
            # beside what this PE holds now, which the relay registers and picks from by the
            # pushes it has in flight (``queue_room``)
            room = {"room": Out(relay_room_bits())}
        else:
            # the queue has room for the broadcaster's next item: its room, registered
            # (``queue_room``), picked by whether an item arrived last cycle (a register here
            # too), so a path from a PE to the broadcaster begins at this PE's flip-flops
            room = {"ready": Out(1)}
        if arch.pe_copies:      # the descriptor's fields from the PE's group register (top.py)
            room["desc_ahead"] = In(pe_descriptor(arch))
        super().__init__({
            # from the broadcaster (pushed only while every PE's queue has room); with
            # ``registered_broadcast`` each PE holds its own copy of the broadcast register
            "items": In(broadcast_signature(arch)),
            **room,
            # the broadcaster's group reads of the source bank (layer parity)
            "group": In(group_read_signature(arch)),
            # the running pass, from the control unit
            "run": In(pass_signature(arch)),
            "free": Out(1),             # queue empty and no column left to issue after this cycle
            # the host bus (memory writes, activation reads)
            "load": In(pe_load_signature(arch)),
        })

    #: tests only: complement an accumulator file's read data after a collision, and count the
    #: collisions in ``collisions_seen`` (see ``collided``; a ``RUN_READ_FILES`` memory's in
    #: ``host_collisions_seen``)
    scramble_collisions = False

    def collided(self, m: Module, write, read, seen=None):
        """An accumulator file's read data. Where a read meets a write of the same row in one
        cycle (a collision), the MAC's and the sweep's forwarding take the written sum instead
        (``after_previous``, ``second_row``, ``swept_written``), so the data read there is never
        taken: the FPGA flow lets the block RAM return anything (``FORWARDED_FILES``), which
        spares Yosys the logic that keeps the old row. An activation bank's alike
        (``BANK_FILES``: only the destination's reads meet writes, and are not taken), and a
        ``RUN_READ_FILES`` memory's, counted in ``seen`` (none meets a write).
        ``scramble_collisions`` shows it in simulation: the complement is returned there, and
        every output must stay the same."""
        if not self.scramble_collisions:
            return read.data
        collision = Signal()
        m.d.sync += collision.eq(write.en & read.en & (write.addr == read.addr))
        seen = self.collisions_seen if seen is None else seen
        with m.If(collision):
            m.d.sync += seen.eq(seen + 1)
        return Mux(collision, ~read.data, read.data)

    def run_read_port(self, m: Module, name: str):
        """A read port of the ``RUN_READ_FILES`` memory ``name`` and its data (scrambled at a
        collision in tests, which never happens: ``host_collisions_seen`` stays 0)."""
        read = self.memories[name].read_port()
        return read, self.collided(m, self.host_writes[name], read, self.host_collisions_seen)

    def own_copy(self, m: Module, name: str, value):
        """``value`` registered in this PE's own flip-flop (``OWN_COPY``), named ``name``: the
        array's one register would cross the die into every PE (docs/fpga.md, "The PEs' own
        copies"). The copy's shape is ``value``'s (``Signal.like`` would copy its attributes
        too)."""
        shape = value.shape() if isinstance(value, data.View) else Value.cast(value).shape()
        copy = Signal(shape, name=name, attrs={OWN_COPY: 1})
        m.d.sync += copy.eq(value)
        return copy

    def pass_descriptor(self, m: Module):
        """The running pass's descriptor, the fields a PE reads (``DESCRIPTOR_FIELDS``).

        With ``pe_copies`` each PE reads its own registers, loaded from its group's register
        (``desc_ahead``, hw/gateware/top.py), which the control unit loads a cycle before it
        latches a pass: the PE's copy changes a cycle after the control unit's. No PE reads the
        descriptor in a pass's first cycle T: the pass's first group read, at T, goes to both
        banks, and its bank is picked from the data at T + 1; the first item reaches a PE at
        T + 2 or later; the previous pass's last activation is written before T
        (``REQUANT_TAIL``). A cycle later still, the copy picks the wrong bank (the mutant
        ``copies-descriptor-late``)."""
        if not self.arch.pe_copies:
            return self.run.desc
        group = self.desc_ahead
        return SimpleNamespace(**{name: self.own_copy(m, f"pass_{name}", getattr(group, name))
                                  for name in DESCRIPTOR_FIELDS})

    def sweep_registers(self, m: Module):
        """The sweep: its flag, row, bias address and, with ``sweep_overlap``, its accumulator
        file and output offset; with ``pe_copies`` this PE's own copies of the control unit's
        registers, a cycle later (the control unit sweeps a cycle ahead, docs/timing.md "PE
        copies")."""
        a, run = self.arch, self.run
        sweep = {"sweep": run.sweep, "row": run.sweep_row, "bias": run.sweep_bias}
        if a.sweep_overlap:
            sweep.update(half=run.sweep_half, offset=run.sweep_offset)
        if a.pe_copies:
            sweep = {name: self.own_copy(m, f"sweep_{name}_copy", value) for name, value in sweep.items()}
        return SimpleNamespace(**sweep)

    def load_port(self, m: Module):
        """The host bus's load port: the top's registers, or with ``pe_copies`` this PE's own
        copies of them, after a register per group of PEs in the top: ``regmap.LOAD_STAGES``
        cycles later (a transfer takes that much longer, ``regmap.transfer_cycles``)."""
        load = self.load
        if not self.arch.pe_copies:
            return load
        assert LOAD_STAGES == 2          # the top's group register, then the PE's own
        return SimpleNamespace(**{name: self.own_copy(m, f"load_{name}", getattr(load, name))
                                  for name in ("addr", "data", "we", "re", "bank")}, rdata=load.rdata)

    def report_free(self, m: Module, free) -> None:
        """``free`` to the column's end, the array's AND into the control unit: with
        ``pe_copies`` registered here first (``timing.COLUMN_END_STAGES``), so the AND's inputs
        are flip-flops, not this PE's queue and issue logic across the die."""
        if self.arch.pe_copies:
            m.d.sync += self.free.eq(free)
        else:
            m.d.comb += self.free.eq(free)

    def elaborate(self, platform):
        m = Module()
        a = self.arch
        i = self.index
        self.collisions_seen = Signal(32)       # with ``scramble_collisions``
        self.host_collisions_seen = Signal(32)
        self.host_writes = {}
        self.desc = desc = self.pass_descriptor(m)
        load = self.load_port(m)
        self.sweep = sweeper = self.sweep_registers(m)      # (testbenches watch it)

        shapes = memory_shapes(a)

        def host_written(name):
            # the instance is named as its image (``sparse_pe3``, ``codebook``): the Verilog's
            # $readmemh hooks (hw/gateware/verilog.py) find the memory and its file by it
            image = image_name(name, None if name in PROGRAM_GLOBAL_MEMORIES else i)
            memory = self.memories[name] = _memory(m, image, *shapes[name],
                                                   self.images.get(image, (None,))[0])
            port = memory.write_port()
            if name == "codebook" and not a.pe_copies:     # (the load port is the PE's own then)
                # the codebook (LUT RAM, alike in every PE) is written from the PE's own copy of
                # the load port's registers (``OWN_COPY``), a cycle later: one register for the
                # array fanned out into every PE's LUT RAM across the die (docs/fpga.md, "Every
                # failing endpoint"). Nothing reads it while the bus writes
                m.d.comb += [
                    port.addr.eq(self.own_copy(m, "codebook_load_addr", load.addr[:len(port.addr)])),
                    port.data.eq(self.own_copy(m, "codebook_load_data", load.data[:len(port.data)])),
                    port.en.eq(self.own_copy(m, "codebook_load_we", load.we[name]))]
            else:
                m.d.comb += [port.addr.eq(load.addr), port.data.eq(load.data),
                             port.en.eq(load.we[name])]
            self.host_writes[name] = port
            return memory

        for name in RUN_READ_FILES + ("codebook",):
            host_written(name)
        codebook = self.memories["codebook"]
        # the accumulators: one file, or with ``sweep_overlap`` two that the pixel-passes of a
        # conv pass alternate between (``run.half``), so one's sweep runs while the next scans
        files = []
        for name in FORWARDED_FILES[:2 if a.sweep_overlap else 1]:
            files.append(_memory(m, name, a.acc_bits, a.acc_depth, None))
            self.memories[name] = files[-1]

        # -- the broadcast item as it enters this PE: with ``registered_broadcast`` (docs/timing.md
        # "Registered broadcast") through the PE's own copy of the broadcast register, so the
        # item's fan-out inside the PE starts from a flip-flop placed beside it, not from one
        # register driving every PE across the die; ``pushed``: an item arrived last cycle
        if a.registered_broadcast:
            # kept one per PE (``OWN_COPY``) only behind the relay's register: fed by the
            # broadcaster's push directly, 16 kept copies make that push cross the die in its
            # cycle (docs/fpga.md: 43.1 against 59.2 MHz at 16 PEs), one merged copy does not
            own = {OWN_COPY: 1} if a.broadcast_relay else {}
            self.arrived = Signal(name="broadcast_valid", attrs=own)
            self.arrived_item = Signal(broadcast_item(a), name="broadcast_item", attrs=own)
            m.d.sync += [self.arrived.eq(self.items.valid), self.arrived_item.eq(self.items.payload)]
            self.pushed = self.arrived
        else:
            self.arrived, self.arrived_item = self.items.valid, self.items.payload
            if not a.broadcast_relay:
                self.pushed = Signal(name="pushed_last")
                m.d.sync += self.pushed.eq(self.items.valid)

        # -- activation queue, pointer read unit, column issue ---------------------------------------
        binary = Signal()
        m.d.comb += binary.eq((desc.kind == KIND_BINARY) | (desc.kind == KIND_BINARY_CONV))
        column = self.column_issue_lookahead if a.bounds_lookahead else self.column_issue
        skip = Signal()       # padding merge: the entry issued last cycle took the next one along
        issue, entry, first, last, column_act, column_bits, column_plane, column_valid = column(
            m, binary, skip)

        per_line = a.entries_per_line
        if per_line & (per_line - 1) == 0:        # a power of two: slice the entry index
            shift = per_line.bit_length() - 1
            line, slot = entry[shift:], entry[:shift] if shift else Const(0, 1)
        else:                                       # general case: divide by a constant
            line, slot = entry // per_line, entry % per_line
        sparse_rd, sparse_data = self.run_read_port(m, "sparse")
        with m.If(binary):                       # a binary pass reads one whole line per row
            m.d.comb += [sparse_rd.addr.eq(entry), sparse_rd.en.eq(issue)]
        with m.Else():
            m.d.comb += [sparse_rd.addr.eq(line), sparse_rd.en.eq(issue & (first | (slot == 0)))]
        merging = Signal()                       # stage 1's entry took the next one along
        if a.padding_merge and per_line > 1:
            # docs/timing.md "Padding merge": the line of the entry issued last cycle is on the
            # read port now; if that entry is padding (code 0) and its column's next entry is in
            # the same line, the next entry goes with it and the column skips it
            mergeable = Signal()
            last_slot = Signal.like(slot, name="merge_slot")
            m.d.sync += [mergeable.eq(issue & ~binary & ~last & (slot != per_line - 1)),
                         last_slot.eq(slot)]
            issued = data.View(entry_struct(a), sparse_data.word_select(last_slot, a.entry_bits))
            m.d.comb += [skip.eq(mergeable & (issued.code == 0)), merging.eq(skip)]

        # -- stage 1: the line leaves the block RAM into a register (nothing else in this cycle) ---
        s1_valid, s1_first = Signal(), Signal()
        s1_slot = Signal(range(per_line))
        s1_act = Signal(signed(a.act_bits))
        s1_bits = Signal(a.line_bits)
        s1_plane = Signal(plane_bits(a))
        s1_valid_bits = Signal(range(a.line_bits + 1))
        # the accumulator file of the issuing pass, carried along the stages (a pixel-pass's last
        # entries are still in them when the next pixel-pass begins)
        s1_half, s2_half, s3_half, s4_half = (Signal(name=f"s{k}_half") for k in range(1, 5))
        if a.sweep_overlap:
            m.d.sync += [s1_half.eq(self.run.half), s2_half.eq(s1_half)]
        m.d.sync += [s1_valid.eq(issue), s1_first.eq(first), s1_slot.eq(slot), s1_act.eq(column_act),
                     s1_bits.eq(column_bits), s1_plane.eq(column_plane),
                     s1_valid_bits.eq(column_valid)]
        s2_valid, s2_first, s2_merge = Signal(), Signal(), Signal()
        m.d.sync += s2_merge.eq(merging)
        s2_act = Signal.like(s1_act)
        s2_bits, s2_plane, s2_valid_bits = Signal.like(s1_bits), Signal.like(s1_plane), Signal.like(s1_valid_bits)
        s2_line = Signal(a.line_bits)            # the read port holds its data between reads
        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first),
                     s2_act.eq(s1_act), s2_bits.eq(s1_bits), s2_plane.eq(s1_plane),
                     s2_valid_bits.eq(s1_valid_bits), s2_line.eq(sparse_data)]

        # -- stage 2 (with ``entry_stage`` its own stage first): slice the entry --------------------------
        def entry_at(slot):
            return data.View(entry_struct(a), s2_line.word_select(slot, a.entry_bits))

        def slot_copies(use):
            """The slot (and the next one, a merged pair's second entry) in registers of their
            own for one ``use`` (``OWN_COPY``): the run's (the row into the accumulator's
            address) and the code's (the codebook's address); one register's net fanned out to
            both slices' multiplexers across the MAC (docs/fpga.md, "Every failing endpoint")."""
            slot = Signal.like(s1_slot, name=f"s2_slot_{use}", attrs={OWN_COPY: 1})
            m.d.sync += slot.eq(s1_slot)
            if not merge:
                return entry_at(slot), None
            following = Signal.like(s1_slot, name=f"s2_next_slot_{use}", attrs={OWN_COPY: 1})
            m.d.sync += following.eq(s1_slot + 1)
            return entry_at(slot), entry_at(following)

        merge = a.padding_merge and per_line > 1
        (fields, taken), (coded, coded_taken) = slot_copies("run"), slot_copies("code")
        # the pass's kind at stage 2 and after from the PE's own register (``OWN_COPY``; an entry
        # reaches stage 2 two cycles or more after its pass began, when ``binary`` last changed):
        # the descriptor's kind fanned out through the comparison to the row, the addend's
        # multiplexer and on into the accumulator's ports (docs/fpga.md, "Every failing endpoint")
        s2_binary = Signal(name="s2_binary", attrs={OWN_COPY: 1})
        m.d.sync += s2_binary.eq(binary)
        # the pass's constant, registered off the counts' paths in each PE's own flip-flop
        # (``OWN_COPY``): merged into one for the array, its net crossed to the other PEs' counts
        # (docs/fpga.md, "Every failing endpoint")
        bipolar = Signal(name="bipolar", attrs={OWN_COPY: 1})
        m.d.sync += bipolar.eq(desc.planes == 0)
        mask = Signal(a.line_bits, name="s2_valid_mask")    # the valid bits, made at stage 1
        # bit i: i < the valid bits, each bit its own comparison with a constant (a short carry
        # chain each on the ECP5; a shift and a line-wide subtraction made one chain of the
        # line's width, and a table's LUTs measured slower: docs/fpga.md)
        m.d.sync += mask.eq(Cat(s1_valid_bits > i for i in range(a.line_bits)))
        # the item's ones (Y of bit planes) counted per chunk at stage 1; with ``entry_stage`` per
        # byte, the bytes summed in the entry's cycle, so neither cycle holds the whole count
        ones_parts = _registered(m, "ones", popcount_parts(s1_bits, 8 if a.entry_stage else POPCOUNT_CHUNK))
        # what stage 2 takes of the entry: its run (binary: one row per line), the run of a merged
        # pair's second entry, the code that reads the codebook; binary: the bits where line and
        # item agree (bipolar: the valid bits where they are equal; bit planes: the bits set in
        # both), counted per nibble (a table), and the term's Y and shift s, which depend on the
        # item alone (Y: the valid bits, or the item's ones). With ``entry_stage`` (docs/timing.md
        # "Entry stage") all of it is registered first, and every later stage is a cycle later:
        # the nibbles' counts then, so the popcount's tree alone follows in the next cycle
        weights = s2_line[:a.line_bits]
        agree = Mux(bipolar, ~(s2_bits ^ weights) & mask, s2_bits & weights)
        entry = {"valid": s2_valid, "first": s2_first, "merge": s2_merge, "act": s2_act,
                 "half": s2_half, "run": Mux(s2_binary, 0, fields.run),
                 "code": Mux(s2_merge, coded_taken.code, coded.code) if merge else coded.code,
                 "agree": [nibble_counts(agree[k:k + POPCOUNT_CHUNK])
                           for k in range(0, a.line_bits, POPCOUNT_CHUNK)],
                 "excess": Mux(bipolar, s2_valid_bits, tree_sum(ones_parts)),
                 "shift": Mux(bipolar, 0, s2_plane)}
        if merge:
            entry["taken_run"] = taken.run
        if a.entry_stage:
            def staged(name, value):
                if isinstance(value, list):
                    return [staged(f"{name}_{k}", part) for k, part in enumerate(value)]
                register = Signal(Value.cast(value).shape(), name=f"entry_{name}")
                m.d.sync += register.eq(value)
                return register
            entry = {name: staged(name, value) for name, value in entry.items()}
        row_valid, row_first, row_half = entry["valid"], entry["first"], entry["half"]
        if a.sweep_overlap:
            m.d.sync += [s3_half.eq(row_half), s4_half.eq(s3_half)]

        # -- stage 2: local row = previous + run + 1, the codebook read, the popcount per chunk ------
        row_bits = _bits_for(a.acc_depth + (2 if merge else 1) * (a.max_run + 1))
        row, row_prev = Signal(row_bits), Signal(row_bits)
        run, code = entry["run"], entry["code"]
        if merge:
            # a merged pair: the padding entry's rows, then the next entry's (docs/timing.md)
            after = Signal(row_bits)
            m.d.comb += after.eq(Mux(row_first, run, row_prev + run + 1))
            m.d.comb += row.eq(Mux(entry["merge"], after + entry["taken_run"] + 1, after))
        else:
            m.d.comb += row.eq(Mux(row_first, run, row_prev + run + 1))
        with m.If(row_valid):
            m.d.sync += row_prev.eq(row)
        codebook_rd = codebook.read_port()
        m.d.comb += [codebook_rd.addr.eq(Cat(code, desc.layer)), codebook_rd.en.eq(row_valid)]
        s2_writes = Signal()                      # the entry writes its row (code 0 writes nothing)
        m.d.comb += s2_writes.eq(row_valid & (s2_binary | (code != 0)))
        s3_valid = Signal()
        s3_row = Signal(range(a.acc_depth))
        s3_act = Signal(signed(a.act_bits))
        m.d.sync += [s3_valid.eq(s2_writes), s3_row.eq(row), s3_act.eq(entry["act"])]

        # binary: the popcount term is 2·X − Y << s, X the agreeing bits' popcount, registered
        # per chunk; Y and s registered whole
        count_parts = _registered(m, "count", [tree_sum(nibbles) for nibbles in entry["agree"]])
        dot_bits = binary_term_bits(a)
        # with two chunks or more, Y << s (the carry-save sum below); with one, Y
        carry_save = len(count_parts) > 1
        s3_excess = Signal(dot_bits if carry_save else range(a.line_bits + 1), name="s3_excess")
        # s: with two chunks or more, each count's shifter its own copy (``OWN_COPY``), one
        # register's net fanned out to every bit of both shifters (docs/fpga.md)
        s3_shifts = [Signal.like(s2_plane, name=f"s3_shift_{k}", attrs={OWN_COPY: 1} if carry_save else {})
                     for k in range(len(count_parts))]
        m.d.sync += [s3_excess.eq(entry["excess"] << entry["shift"] if carry_save else entry["excess"]),
                     *(shift.eq(entry["shift"]) for shift in s3_shifts)]

        # -- stage 3: product and popcount term, each registered (stage 4 takes the pass's); the
        # accumulator row leaves its block RAM -----------------------------------------------------
        # the term (2·X − Y) << s. With two chunks or more, the sum of 2·(c_k << s) over the
        # chunks' counts c_k and of −(Y << s) = ~(Y << s) + 1, the + 1 in the first operand's
        # bit 0 (0 after the doubling): the counts shifted from their registers, then one
        # carry-save step and one carry chain, modulo 2^dot_bits (the term fits), rather than two
        # chains and then the shift. With one chunk, one chain and then the shift (as deep, and
        # one shifter fewer: the iCEBreaker's PE fits)
        dot = Signal(signed(dot_bits))
        if carry_save:
            operands = [((count << shift) << 1)[:dot_bits] for count, shift in zip(count_parts, s3_shifts)]
            operands[0] = operands[0] | 1
            m.d.comb += dot.eq(carry_save_sum(operands + [~s3_excess], dot_bits))
        else:
            m.d.comb += dot.eq((2 * count_parts[0] - s3_excess) << s3_shifts[0])
        product = codebook_rd.data.as_signed() * s3_act
        s4_valid = Signal()
        s4_row = Signal.like(s3_row)
        s4_dot, s4_product = Signal.like(dot, name="s4_dot"), Signal(signed(len(product)))
        # max pooling (OP_MAX conv passes): the accumulator keeps the largest activation + offset
        s4_offered = Signal(signed(a.act_bits + 1))
        m.d.sync += [s4_valid.eq(s3_valid), s4_row.eq(s3_row), s4_dot.eq(dot), s4_product.eq(product),
                     s4_offered.eq(s3_act + max_offset(a.act_bits))]

        bias_rd, bias_data = self.run_read_port(m, "bias")
        ports = [(memory.write_port(), memory.read_port()) for memory in files]
        file_data = [self.collided(m, write, read) for write, read in ports]

        def read_data(number):
            """The read data of the accumulator file ``number`` selects."""
            return file_data[0] if len(ports) == 1 else Mux(number, file_data[1], file_data[0])

        # the row read at stage 2 arrives now and is registered. That read did not see the sums
        # its two predecessors write at stage 4 (in its own cycle and the next): where one of
        # them wrote its row, stage 4 takes that sum instead (the latest), so back-to-back
        # entries to one row still cost no cycle. ``w1``: the write of a cycle ago, here the
        # second predecessor's, taken into the register instead of the read data (its sum is
        # known now), so stage 4 picks between two values, the previous entry's sum or this one
        s4_acc = Signal(a.acc_bits)
        w1_valid, w1_half = Signal(), Signal()
        w1_row = Signal.like(s4_row)
        w1_sum = Signal(a.acc_bits)
        previous_row = s4_valid & (s4_row == s3_row) & (s4_half == s3_half)
        second_row = w1_valid & (w1_row == s3_row) & (w1_half == s3_half)
        if a.pe_copies:
            # docs/timing.md "PE copies": the sum is written from ``w1``, a cycle after stage 4
            # (``MAC_OUTPUT_STAGES``), so the read misses a third predecessor's sum, written in
            # its own cycle: ``w2`` holds it now. The newer of the two forwarded sums is picked
            # among registers, and the block RAM's data passes one multiplexer
            w2_valid, w2_half = Signal(name="w2_valid"), Signal(name="w2_half")
            w2_row, w2_sum = Signal.like(s4_row, name="w2_row"), Signal(a.acc_bits, name="w2_sum")
            m.d.sync += [w2_valid.eq(w1_valid), w2_row.eq(w1_row), w2_half.eq(w1_half), w2_sum.eq(w1_sum)]
            third_row = w2_valid & (w2_row == s3_row) & (w2_half == s3_half)
            forwarded = Signal(a.acc_bits, name="forwarded_sum")
            m.d.comb += forwarded.eq(Mux(second_row, w1_sum, w2_sum))
            m.d.sync += s4_acc.eq(Mux(second_row | third_row, forwarded, read_data(s3_half)))
        else:
            m.d.sync += s4_acc.eq(Mux(second_row, w1_sum, read_data(s3_half)))

        # -- stage 4: accumulate ----------------------------------------------------------------------
        # the pass's constant, registered in each PE's own flip-flop (``OWN_COPY``): from the
        # descriptor's one register for the array, its net crossed the die into the MAC's last
        # multiplexer (docs/fpga.md). A pass's first cycle writes no sum
        maximum = Signal(name="maximum", attrs={OWN_COPY: 1})
        m.d.sync += maximum.eq((desc.kind == KIND_CONV) & (desc.op == OP_MAX))
        # the forwarding's select drives every bit of the sum: registered in a copy per
        # ``FORWARD_SLICE`` bits (kept apart by ``OWN_COPY``), so no copy's net spans the MAC
        mac_data = Signal(a.acc_bits)            # the row's sum before this entry
        for low in range(0, a.acc_bits, FORWARD_SLICE):
            bits = slice(low, min(low + FORWARD_SLICE, a.acc_bits))
            after_previous = Signal(name=f"after_previous_{low}", attrs={OWN_COPY: 1})
            m.d.sync += after_previous.eq(previous_row)
            m.d.comb += mac_data[bits].eq(Mux(after_previous, w1_sum[bits], s4_acc[bits]))
        # max pooling: a pass's rows start cleared (0) and keep an activation + offset, both in
        # [0, 2^act_bits) (``max_offset``), so the comparison and the kept value take act_bits
        # bits and the bits above stay 0
        pooled = slice(0, a.act_bits)
        kept = Mux(mac_data[pooled] >= s4_offered[pooled], mac_data[pooled], s4_offered[pooled])
        written = Signal(a.acc_bits)
        s4_addend = Signal(signed(addend_bits(a)))
        assert len(s4_addend) > max(len(s4_product), dot_bits)
        # the addend's select registered in a copy per ``FORWARD_SLICE`` bits, as the
        # forwarding's are
        dot_wide, product_wide = Signal.like(s4_addend), Signal.like(s4_addend)
        m.d.comb += [dot_wide.eq(s4_dot), product_wide.eq(s4_product)]
        for low in range(0, len(s4_addend), FORWARD_SLICE):
            bits = slice(low, min(low + FORWARD_SLICE, len(s4_addend)))
            adds_dot = Signal(name=f"adds_dot_{low}", attrs={OWN_COPY: 1})
            m.d.sync += adds_dot.eq(binary)
            m.d.comb += s4_addend[bits].eq(Mux(adds_dot, dot_wide[bits], product_wide[bits]))
        m.d.comb += written.eq(Mux(maximum, kept, mac_data + s4_addend))
        m.d.sync += [w1_valid.eq(s4_valid), w1_row.eq(s4_row), w1_half.eq(s4_half), w1_sum.eq(written)]

        # -- requantisation sweep: read (cycle X), then three stages, the activation written at X + 3
        r_valid, r_half = Signal(), Signal()
        r_row = Signal(range(a.acc_depth))
        sweep_half = sweeper.half if a.sweep_overlap else Const(0, 1)
        m.d.sync += [r_valid.eq(sweeper.sweep), r_row.eq(sweeper.row), r_half.eq(sweep_half)]
        m.d.comb += bias_rd.en.eq(0)            # read ports are enabled unless driven
        with m.If(sweeper.sweep):
            m.d.comb += [bias_rd.addr.eq(sweeper.bias), bias_rd.en.eq(1)]   # bias_base + row
        # each file serves the sweep of its pass or the MAC of its pass (never both at once:
        # docs/timing.md "Sweep overlap"); the MAC writes at stage 4, or with ``pe_copies`` from
        # ``w1``'s registers; ``written_sum``: the written sum in the register after the write
        if a.pe_copies:
            mac_write = SimpleNamespace(valid=w1_valid, row=w1_row, half=w1_half, sum=w1_sum)
            written_sum = w2_sum
        else:
            mac_write = SimpleNamespace(valid=s4_valid, row=s4_row, half=s4_half, sum=written)
            written_sum = w1_sum
        for number, (acc_wr, acc_rd) in enumerate(ports):
            swept, cleared = sweeper.sweep & (sweep_half == number), r_valid & (r_half == number)
            with m.If(swept):
                m.d.comb += [acc_rd.addr.eq(sweeper.row), acc_rd.en.eq(1)]
            with m.Else():
                # read at every entry, code 0 too (its data is never taken: it writes nothing), so
                # the enable comes from a flip-flop, not from the entry's code
                m.d.comb += [acc_rd.addr.eq(row), acc_rd.en.eq(row_valid & (row_half == number))]
            with m.If(cleared):
                m.d.comb += [acc_wr.addr.eq(r_row), acc_wr.data.eq(0), acc_wr.en.eq(1)]
            with m.Else():
                m.d.comb += [acc_wr.addr.eq(mac_write.row), acc_wr.data.eq(mac_write.sum),
                             acc_wr.en.eq(mac_write.valid & (mac_write.half == number))]

        # X + 1: the row and its bias leave their block RAMs into registers (the sweep's first
        # row may be the one the last MAC writes as it is read, at C + MAC_DRAIN)
        q1_valid, q2_valid = Signal(), Signal()
        q1_row, q2_row = Signal.like(r_row), Signal(Value.cast(desc.row_base).shape())
        # (with ``pe_copies``, the row ``w1`` writes as it is read, taken from ``w2`` at X + 1:
        # the drain is a cycle longer, and stage 4 holds no entry at X)
        swept_written = Signal()
        m.d.sync += swept_written.eq(mac_write.valid & (mac_write.row == sweeper.row)
                                     & (mac_write.half == sweep_half))
        q1_acc, q1_bias = Signal(signed(a.acc_bits)), Signal.like(bias_rd.data)
        m.d.sync += [q1_valid.eq(r_valid), q1_row.eq(r_row), q1_bias.eq(bias_data),
                     q1_acc.eq(Mux(swept_written, written_sum, read_data(r_half)))]
        # X + 2: bias added with the rounding's half, floor((y + 2^(s-1)) / 2^s) being round half
        # up; a shift of ``whole`` bits or more leaves 0 (and needs no more than 2^(whole-1));
        # the binarising comparison (the bias word is 2·T + flip)
        whole = a.acc_bits + 1                              # y = acc + bias fits signed(whole)
        # the pass's shift in each PE's own register (``OWN_COPY``), as the constants below made
        # from it: alike in every PE, Yosys had merged them into one register for the array, its
        # net crossing the die into every PE's last stage (docs/fpga.md, "The entry stage ...")
        clamped_shift = Mux(desc.shift > whole, whole, desc.shift)
        shift = self.own_copy(m, "requant_shift", clamped_shift)
        half = Signal(whole, name="requant_half")           # 2^(shift-1), 0 for shift 0
        total = Signal(signed(whole + 1))
        above = Signal()
        threshold = q1_bias.as_signed() >> 1
        # saturation decided here, beside the sum, rather than after it: y + half >= (high + 1) << s
        # is y + (half − ((high + 1) << s)) >= 0, and y + half < low << s is y + (half −
        # (low << s)) < 0, each the sign of three operands' sum: one carry-save step and one
        # carry chain, beside the sum's. The offsets are the pass's constants, made from the
        # shift in registered steps (shifted, less from the half, clamped to what y's range can
        # tell apart), so the last stage selects among registered outcomes
        low, high = signed_range(a.act_bits)
        ceiling = Signal(signed(whole + a.act_bits + 2), name="requant_ceiling")    # (high + 1) << s
        floor = Signal(signed(whole + a.act_bits + 2), name="requant_floor")        # low << s
        # (from a copy of the shift of their own, ``OWN_COPY``: the shift's one register fanned
        # out to every constant made from it)
        bounds_shift = self.own_copy(m, "requant_bounds_shift", clamped_shift)
        m.d.sync += [half.eq((Const(1, whole + 1) << bounds_shift) >> 1),
                     ceiling.eq(Const(high + 1, signed(a.act_bits + 1)) << bounds_shift),
                     floor.eq(Const(low, signed(a.act_bits + 1)) << bounds_shift)]
        reach = 1 << (whole - 1)                # y lies in [−reach, reach): offsets past ±reach
        offsets = []                            # decide as ±reach do
        for name, scale, bound in (("high", high + 1, ceiling), ("low", low, floor)):
            # which shifts put the offset past ±reach: a table of the shift, registered beside
            # the bound, so the clamp's decision is a flip-flop and not a wide comparison
            values = [((1 << s) >> 1) - (scale << s) for s in range(whole + 1)]
            past_above = Signal(name=f"requant_{name}_above")
            past_below = Signal(name=f"requant_{name}_below")
            m.d.sync += [past_above.eq(Const(sum(1 << s for s, v in enumerate(values) if v > reach),
                                        whole + 1).bit_select(shift, 1)),
                         past_below.eq(Const(sum(1 << s for s, v in enumerate(values) if v < -reach),
                                        whole + 1).bit_select(shift, 1))]
            offset = Signal(signed(whole + 1), name=f"requant_{name}_offset")
            m.d.sync += offset.eq(Mux(past_above, reach, Mux(past_below, -reach, half - bound)))
            offsets.append(offset)
        sign_bit = whole                        # y + offset lies in [−2·reach, 2·reach)
        signs = []
        for offset in offsets:
            operands = []
            for operand in (q1_acc, q1_bias.as_signed(), offset):
                extended = Signal(signed(sign_bit + 1))
                m.d.comb += extended.eq(operand)
                operands.append(extended)
            signs.append(carry_save_sum(operands, sign_bit + 1)[sign_bit])
        saturate_high, saturate_low = Signal(name="requant_saturate_high"), Signal(name="requant_saturate_low")
        m.d.sync += [total.eq(q1_acc + q1_bias.as_signed() + half), saturate_high.eq(~signs[0]),
                     saturate_low.eq(signs[1]),
                     above.eq(Mux(q1_bias[0], q1_acc <= threshold, q1_acc >= threshold))]
        # the sweep's first row goes to row_base + P·out_step (conv passes; row_base otherwise):
        # the sum is registered with the row's read and travels with it (with ``sweep_overlap``
        # the next sweep, another pixel's, may begin the cycle after this one's last read)
        r_base, q1_base = (Signal(Value.cast(desc.row_base).shape()) for _ in range(2))
        offset = sweeper.offset if a.sweep_overlap else self.run.pixel.out_offset
        if a.pe_copies and not a.sweep_overlap:
            # the pixel's offset in the PE's own register, a cycle after the control unit's (it
            # changes as a pixel-pass begins, cycles before its sweep): the control unit's
            # register, stepped by its FSM, had its adder here in every PE across the die
            offset = self.own_copy(m, "pixel_offset_copy", offset)
        m.d.sync += [r_base.eq(desc.row_base + offset), q1_base.eq(r_base)]
        m.d.sync += [q2_valid.eq(q1_valid), q2_row.eq(q1_base + q1_row)]
        # X + 3: shift, saturate, ReLU or binarise (±2^shift by the threshold), write. The
        # shifter has its own copy of the shift (``OWN_COPY``): the shift's one register drove
        # every multiplexer of it besides the pass's constants
        shifter = self.own_copy(m, "requant_shifter", clamped_shift)
        result = Signal(signed(a.act_bits))
        with m.If(saturate_high):
            m.d.comb += result.eq(high)
        with m.Elif(saturate_low):
            m.d.comb += result.eq(low)
        with m.Else():
            m.d.comb += result.eq(total >> shifter)
        # the pass's constants registered in each PE's own flip-flops, as the shift is: the
        # descriptor's fields crossed the die into the last multiplexers before the bank's port
        own = {OWN_COPY: 1}
        relu, binarizing = Signal(name="requant_relu", attrs=own), Signal(name="requant_binarize", attrs=own)
        magnitude = Signal(signed(a.act_bits), name="requant_magnitude", attrs=own)   # ±2^shift
        negative = Signal.like(magnitude, name="requant_negative", attrs=own)
        # (±2^shift from the PE's own shift register a cycle later, not from the descriptor
        # across the die: the same values, 0 for every shift of act_bits or more)
        m.d.sync += [relu.eq(desc.relu), binarizing.eq(binary & desc.binarize),
                     magnitude.eq(Const(1, a.act_bits + 1) << shift),
                     negative.eq(-(Const(1, a.act_bits + 1) << shift))]
        # the result is negative exactly when the sum is (saturation keeps the sign), so ReLU's
        # select is the sum's sign register, not the result's after the shifter
        requantised = Mux(relu & total[-1], 0, result)
        activation = Signal(signed(a.act_bits))
        m.d.comb += activation.eq(Mux(binarizing, Mux(above, magnitude, negative), requantised))

        # -- activation banks: source = layer parity, destination = the other -----------------------
        source = desc.layer[0]
        # the write: at X + 3, or with ``group_feed`` from registers at X + 4
        # (``REQUANT_OUTPUT_STAGES``): the shifter and the saturation's picks end in a flip-flop,
        # not at a block RAM's data pins across the PE. The bank is picked at X + 3 as before,
        # from the pass's layer: a pass's last activation may be written in the next pass's
        # first cycle, whose descriptor is another layer's
        bank_writes = [q2_valid & (source != bank) for bank in range(len(BANK_FILES))]
        write_row, write_data = q2_row, activation
        if a.group_feed:
            registered_writes = [Signal(name=f"requant_write_{bank}") for bank in range(len(bank_writes))]
            write_row = Signal.like(q2_row, name="requant_row")
            write_data = Signal.like(activation, name="requant_out")
            m.d.sync += [*(late.eq(now) for late, now in zip(registered_writes, bank_writes)),
                         write_row.eq(q2_row), write_data.eq(activation)]
            bank_writes = registered_writes
        banks = []
        # the banks serve the array while it runs, the bus otherwise: switched from the PE's own
        # register (``OWN_COPY``), a cycle after the control unit's state. The array touches no
        # bank in a program's first cycle or after its last, and the bus none while it runs
        # (its writes wait for ``idle``); the state's decoding fanned out across the die into
        # every bank's ports (docs/fpga.md, "Every failing endpoint")
        array_owns = Signal(name="banks_busy", attrs={OWN_COPY: 1})
        m.d.sync += array_owns.eq(self.run.busy)
        for bank, name in enumerate(BANK_FILES):
            memory = self.memories[name] = _memory(m, name, a.act_bits, a.act_depth, None)
            wr, rd = memory.write_port(), memory.read_port()
            with m.If(array_owns):
                m.d.comb += [wr.addr.eq(write_row), wr.data.eq(write_data), wr.en.eq(bank_writes[bank]),
                             rd.addr.eq(self.group.addr), rd.en.eq(self.group.en)]
            with m.Else():
                m.d.comb += [wr.addr.eq(load.addr), wr.data.eq(load.data), wr.en.eq(load.we[name]),
                             rd.addr.eq(load.addr), rd.en.eq(load.re)]
            banks.append(self.collided(m, wr, rd))
        read_bank = Signal()        # registered with the read: rdata depends on no bus input
        m.d.sync += read_bank.eq(load.bank)
        group_data = Mux(source, banks[1], banks[0])
        if a.group_feed:            # docs/timing.md "Group feed": the bank's output registered
            registered = Signal.like(self.group.data, name="group_out")
            m.d.sync += registered.eq(group_data)
            group_data = registered
        m.d.comb += [self.group.data.eq(group_data),
                     load.rdata.eq(Mux(read_bank, banks[1], banks[0]))]
        return m

    def queue_room(self, m: Module, queue, flight: list) -> None:
        """The queue has room when the PE holds fewer than ``fifo_depth`` items, counting its
        queue and the items in ``flight`` (newest first: the broadcast register, the bounds
        stages), which enter the queue (or vanish) one stage a cycle; with nothing in flight a
        pushed item goes straight into the queue. The count is made a cycle ahead and
        registered, without the item the broadcaster pushes meanwhile (the PE sees it only as it
        arrives): ``room`` holds if that push does not come, ``room_after_push`` if it does;
        ``ready`` picks one by the push. Exact, so no cycle changes; what reaches the broadcaster
        is one LUT after this PE's flip-flops.

        With ``broadcast_relay`` the relay registers the room instead and counts the pushes it
        has in flight itself: ``room`` bit k says the PE holds at most ``fifo_depth − k − 1``
        items now (its queue and ``flight``), from this PE's flip-flops alone."""
        a = self.arch
        if a.broadcast_relay:
            held = Signal(range(a.fifo_depth + len(flight) + 1), name="room_held")
            m.d.comb += [held.eq(queue.level + sum(flight, Const(0, 1))),
                         self.room.eq(Cat(held + k + 1 <= a.fifo_depth for k in range(len(self.room))))]
            return
        written, taken = queue.w_en & queue.w_rdy, queue.r_en & queue.r_rdy
        later = Signal(range(a.fifo_depth + len(flight) + 1), name="room_count")   # held next cycle
        m.d.comb += later.eq(queue.level + written - taken + sum(flight[:-1], Const(0, 1))
                             - (0 if flight else written))
        room = Signal(name="room_reg", init=1)                                # empty at reset
        room_after_push = Signal(name="room_after_push_reg", init=int(a.fifo_depth > 1))
        m.d.sync += [room.eq(later < a.fifo_depth), room_after_push.eq(later + 1 < a.fifo_depth)]
        m.d.comb += self.ready.eq(Mux(self.pushed, room_after_push, room))

    def column_issue(self, m: Module, binary, skip):
        """EIE's order (docs/timing.md "PE p"): the queue holds the broadcaster's items; popping
        one at s reads its column's bounds, its entries issue at s + 1 .. s + n, and the next item
        is popped as the last entry issues (or when the bounds show an empty column).
        ``skip``: the entry issued last cycle took the next one along (padding merge): the column
        continues one entry further on, or is finished if that was its last.
        Returns (issue, entry, first, last, act, bits, plane, valid bits) of the entry issued now."""
        a = self.arch
        desc = self.desc
        # -- activation queue -----------------------------------------------------------------
        layout = broadcast_item(a)      # the queue holds the broadcaster's items, bit for bit
        queue = self.queue = m.submodules.queue = Queue(width=layout.size, depth=a.fifo_depth)
        m.d.comb += [queue.w_en.eq(self.arrived), queue.w_data.eq(self.arrived_item)]
        # the item in the broadcast register takes a place too; without the register the item
        # pushed now goes straight into the queue
        self.queue_room(m, queue, [self.arrived] if a.registered_broadcast else [])
        item = data.View(layout, queue.r_data)

        # -- pointer read unit: both bounds in one cycle ------------------------------------------
        (even_rd, even_data), (odd_rd, odd_data) = (self.run_read_port(m, name)
                                                    for name in ("ptr_even", "ptr_odd"))
        pop = Signal()
        ptr_addr = Signal(_bits_for(a.ptr_depth + a.max_vector))
        m.d.comb += [ptr_addr.eq(desc.ptr_base + item.sparse.index),
                     even_rd.addr.eq((ptr_addr + 1) >> 1), odd_rd.addr.eq(ptr_addr >> 1),
                     even_rd.en.eq(pop), odd_rd.en.eq(pop), queue.r_en.eq(pop)]
        bounds = Signal()                        # the bounds of the popped column arrive
        odd = Signal()                           # the column's pointer address was odd
        column_act = Signal(signed(a.act_bits))
        m.d.sync += bounds.eq(pop)
        with m.If(pop):
            m.d.sync += [odd.eq(ptr_addr[0]), column_act.eq(item.sparse.value)]
        # binary item: lines line + r, r < rows (line = line_base + chunk·rows); its valid bits
        column_bits = Signal(a.line_bits)
        column_plane = Signal(item.binary.plane.shape())
        column_valid = Signal(range(a.line_bits + 1))
        first_line = Signal(a.ptr_bits)
        with m.If(pop):
            m.d.sync += [column_bits.eq(item.binary.bits), column_plane.eq(item.binary.plane),
                         first_line.eq(item.binary.line),
                         column_valid.eq(item.binary.valid)]

        # -- sparse-matrix read unit (stage 0) -----------------------------------------------------
        active = Signal()                        # a column has entries left after this cycle
        current = Signal(a.ptr_bits)
        end = Signal(a.ptr_bits)
        entry = Signal(a.ptr_bits)
        stop = Signal(a.ptr_bits)
        issue = Signal()
        first = Signal()
        with m.If(bounds & binary):
            m.d.comb += [entry.eq(first_line), stop.eq(first_line + desc.rows),
                         issue.eq(desc.rows != 0), first.eq(1)]
        with m.Elif(bounds):
            m.d.comb += [entry.eq(Mux(odd, odd_data, even_data)),
                         stop.eq(Mux(odd, even_data, odd_data)),
                         issue.eq(entry != stop), first.eq(1)]
        with m.Elif(active & ~(skip & (current + 1 == end))):
            m.d.comb += [entry.eq(current + skip), stop.eq(end), issue.eq(1)]
        last = Signal()
        free = (~issue | last) & ~queue.r_rdy
        if a.registered_broadcast:      # not free while an item is in the broadcast register
            free = free & ~self.arrived
        m.d.comb += [last.eq(issue & (entry + 1 == stop)),
                     pop.eq((~issue | last) & queue.r_rdy)]
        self.report_free(m, free)
        m.d.sync += [active.eq(issue & ~last), current.eq(entry + 1), end.eq(stop)]
        return issue, entry, first, last, column_act, column_bits, column_plane, column_valid

    def column_issue_lookahead(self, m: Module, binary, skip):
        """The bounds lookahead (docs/timing.md "Bounds lookahead"): an item's column bounds are
        read in the cycle it is pushed (b); at b + 1 the bounds stage writes the item with its
        bounds into the queue, unless the column is empty (then it vanishes); popping an item
        issues its first entry in the same cycle, the next item is popped the cycle after the
        last entry. The queue holds at most ``fifo_depth`` items together with the stage.
        Returns what ``column_issue`` returns."""
        a = self.arch
        desc = self.desc
        layout = broadcast_item(a)
        queued = data.StructLayout({"item": layout, "start": a.ptr_bits, "stop": a.ptr_bits})
        queue = self.queue = m.submodules.queue = Queue(width=queued.size, depth=a.fifo_depth)

        # -- push cycle b: both bounds read at the pushed item's column (with the registered
        # broadcast at b + 1, from the broadcast register) ---------------------------------------
        pushed = data.View(layout, self.arrived_item)
        (even_rd, even_data), (odd_rd, odd_data) = (self.run_read_port(m, name)
                                                    for name in ("ptr_even", "ptr_odd"))
        ptr_addr = Signal(_bits_for(a.ptr_depth + a.max_vector))
        m.d.comb += [ptr_addr.eq(desc.ptr_base + pushed.sparse.index),
                     even_rd.addr.eq((ptr_addr + 1) >> 1), odd_rd.addr.eq(ptr_addr >> 1),
                     even_rd.en.eq(self.arrived), odd_rd.en.eq(self.arrived)]
        staged = Signal()                         # the bounds stage holds an item (pushed at b - 1)
        staged_item = Signal(layout)
        odd = Signal()
        m.d.sync += [staged.eq(self.arrived), staged_item.eq(self.arrived_item),
                     odd.eq(ptr_addr[0])]
        # -- b + 1: the bounds (binary: the item's lines line + r, r < rows) -------------------------
        start, stop_at = Signal(a.ptr_bits), Signal(a.ptr_bits)
        with m.If(binary):
            m.d.comb += [start.eq(staged_item.binary.line),       # the sum from the item alone,
                         stop_at.eq(staged_item.binary.line + desc.rows)]   # not the bounds' mux
        with m.Else():
            m.d.comb += [start.eq(Mux(odd, odd_data, even_data)),
                         stop_at.eq(Mux(odd, even_data, odd_data))]
        # the items a PE holds outside its queue (docs/timing.md "Bounds lookahead": ``stages``)
        flight = [staged]
        if a.registered_broadcast:
            # the bounds leave the block RAM into registers, and the stage that drops an empty
            # column or queues the item works from those a cycle later: the item spends b + 1
            # in the broadcast register, b + 2 on the pointer read port, b + 3 in the stage
            bounded = Signal(name="bounds_valid")
            bounded_item = Signal(layout, name="bounds_item")
            bounded_start, bounded_stop = Signal.like(start, name="bounds_start"), Signal.like(stop_at, name="bounds_stop")
            m.d.sync += [bounded.eq(staged), bounded_item.eq(staged_item), bounded_start.eq(start),
                         bounded_stop.eq(stop_at)]
            flight = [self.arrived, staged, bounded]
            staged, staged_item, start, stop_at = bounded, bounded_item, bounded_start, bounded_stop
        assert len(flight) == (timing.REGISTERED_BOUNDS_STAGES if a.registered_broadcast
                               else timing.BOUNDS_STAGES)
        holding = Signal(range(len(flight) + 1), name="bounds_holding")
        m.d.comb += [holding.eq(sum(flight)),
                     queue.w_en.eq(staged & (start != stop_at)),
                     queue.w_data.eq(Cat(staged_item.as_value(), start, stop_at))]
        self.queue_room(m, queue, flight)

        # -- pop = the first entry's issue -------------------------------------------------------------
        head = data.View(queued, queue.r_data)
        active = Signal()                        # a column has entries left after this cycle
        current, end = Signal(a.ptr_bits), Signal(a.ptr_bits)
        entry, stop = Signal(a.ptr_bits), Signal(a.ptr_bits)
        issue, first, pop = Signal(), Signal(), Signal()
        with m.If(active & ~(skip & (current + 1 == end))):
            m.d.comb += [entry.eq(current + skip), stop.eq(end), issue.eq(1)]
        with m.Elif(queue.r_rdy):
            m.d.comb += [entry.eq(head.start), stop.eq(head.stop), issue.eq(1), first.eq(1),
                         pop.eq(1)]
        last = Signal()
        m.d.comb += [last.eq(issue & (entry + 1 == stop)), queue.r_en.eq(pop)]
        # free: nothing left after this cycle (the popped item is issuing now)
        self.report_free(m, (~issue | last) & (holding == 0) & (queue.level == pop))
        m.d.sync += [active.eq(issue & ~last), current.eq(entry + 1), end.eq(stop)]

        # the column's activation (binary: its bits, plane and valid bits), held after the pop
        item = head.item
        values = [(signed(a.act_bits), item.sparse.value), (a.line_bits, item.binary.bits),
                  (plane_bits(a), item.binary.plane), (range(a.line_bits + 1), item.binary.valid)]
        columns = []
        for shape, value in values:
            held, now = Signal(shape), Signal(shape)
            m.d.comb += now.eq(Mux(pop, value, held))
            m.d.sync += held.eq(now)
            columns.append(now)
        return (issue, entry, first, last, *columns)
