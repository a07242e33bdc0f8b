"""Mutation benchmark of the gateware (issue 9): do the default suite's quick RTL tests, or
``zeroskip verify`` on a small program, notice a realistic bug in ``hw/gateware/``?

Each mutant is one text substitution ``(file, old snippet, new snippet, description)`` on a
gateware source; the old snippet must occur exactly once, so the benchmark stops (naming the
mutant) when the code it mutates has changed. Mutants run one at a time through these checks,
cheapest first, until one fails (the mutant is *killed*, by that check):

``quick``   pytest -x on the default suite's quick co-simulation tests on Icarus
            (``tests/hw/rtl/test_rtl_cosim.py``: ``test_quick_programs_bus_loaded``,
            ``test_quick_binary_programs_bus_loaded``, ``test_program_in_memory_init``;
            ``tests/hw/rtl/test_rtl_bus.py``: the Wishbone handshake)
``verify``  ``zeroskip verify`` (Icarus, 4 seeded inputs) on a small sparse program from its
            hex images, then on a small binary program loaded over the bus
``sample``  pytest -x on the default suite's regression samples on Icarus
            (``test_regression_sample``: six architectures; ``test_regression_binary_sample``:
            those and the two binary extras of 8- and 16-bit lines;
            ``test_regression_conv_sample``: conv programs on four;
            ``test_regression_binary_conv_sample``: binary conv programs;
            ``test_regression_graph_sample``: branching graphs, depthwise lane passes on two)

A kill is by ``outputs`` (an output differs from ``predict_int``), ``cycles`` (the cycle
counter differs from ``simulate_int``), ``timeout`` (``RtlTimeout``: the run's cycle or
wall-clock limit, hw/rtl/run.py) or ``error`` (anything else, e.g. the ID register). Every
check also runs under an outer wall-clock limit (``--stage-timeout``); reaching it is reported
as ``HUNG`` — a finding, since every RTL run is supposed to be bounded by its own limits.

Isolation (other people edit ``hw/gateware/`` in the working tree meanwhile): the benchmark
never touches the repository. It exports the committed tree (``git archive <ref>``, default
``HEAD``) into a temporary directory, adds the symlinks ``zeroskip/{hw,sim,compiler,models}
-> ../{hw,...}`` there (the layout pyproject's ``package-dir`` maps), and runs every check with
this interpreter (the project's venv: Amaranth, cocotb, pytest), ``cwd`` = the copy and
``PYTHONPATH`` = the copy. Plain path lookup finds the copy's ``zeroskip`` package and its
subpackages before the editable install's finder (setuptools appends that to
``sys.meta_path``, after the path finder), and cocotb's runner hands its ``sys.path`` to the
simulator's embedded Python, so the testbench imports the copy too; the benchmark checks this
(every module's file is inside the copy) before it starts. ``PYTHONDONTWRITEBYTECODE=1``: no
bytecode can outlive a mutation. ``ZEROSKIP_RTL_CACHE`` points into the copy, one cache per
mutant (removed after it), so mutated builds never reach the user's cache. The copy is reused
across mutants (apply, run, restore, check restored) and removed at the end (``--keep`` keeps
it). First the unmutated copy runs every check (``baseline``): all must pass, or the kills
would mean nothing.

    .venv/bin/python benchmarks/mutants.py [--only NAME,...] [--stages quick,verify,sample]
                                           [--json FILE] [--ref HEAD] [--list] [--keep]

Prints the kill table (mutant, file, description, killed?, by what, seconds); exit 1 when a
mutant survives or hangs. Results: docs/verification.md, *Mutation benchmark of the gateware*.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: the subpackages pyproject's package-dir maps into ``zeroskip``
SUBPACKAGES = ("hw", "sim", "compiler", "models")


@dataclass(frozen=True)
class Mutant:
    name: str
    category: str
    file: str           #: relative to the repository
    old: str
    new: str
    description: str


PE, TOP, BROADCAST, LNZD, CONTROL, QUEUE = (f"hw/gateware/{name}.py" for name in
                                            ("pe", "top", "broadcast", "lnzd", "control", "queue"))

MUTANTS = [
    # conv passes (docs/conv.md)
    Mutant("conv-line-ix0", "conv", CONTROL,
           "pixel.iy0.eq(pixel.iy0 + desc.stride), pixel.ix0.eq(-desc.pad)]",
           "pixel.iy0.eq(pixel.iy0 + desc.stride), pixel.ix0.eq(0)]",
           "a new output row's window starts at input column 0, not -pad"),
    Mutant("conv-out-step", "conv", CONTROL,
           "pixel.out_offset.eq(pixel.out_offset + desc.out_step)",
           "pixel.out_offset.eq(pixel.out_offset + 1)",
           "output pixels one local address apart, not out_step"),
    Mutant("conv-first-inside", "conv", BROADCAST,
           "inside = ~conv | walk.in_map(pixel.iy0, pixel.ix0)", "inside = 1",
           "the window's first kernel position always taken as inside the map (padding read)"),
    # -- the group read ahead and lane passes (2026-12-06) ----------------------------------------
    Mutant("readahead-boundary", "read ahead", BROADCAST,
           "next_address.eq(Mux(more, index + 1, first_group(walk.next_base)))",
           "next_address.eq(index + 1)",
           "the group read ahead ignores the kernel position's end (reads the next address)"),
    Mutant("readahead-first-group", "read ahead", BROADCAST,
           "next_address))\n                m.d.comb += fresh_next.eq(start | (running & advance))",
           "next_address))\n                m.d.comb += fresh_next.eq(running & advance)",
           "a pass's first group taken from the held copy, not the read port"),
    Mutant("readahead-held-port", "read ahead", BROADCAST,
           "m.d.sync += held.eq(group)",
           "m.d.sync += held.eq(Cat(port.data for port in self.groups))",
           "the group register's copy taken from the read port, which already holds the next group"),
    Mutant("lane-index", "lane pass", BROADCAST,
           "own.index.eq(column_base + lane)", "own.index.eq(column_base)",
           "every lane's item names lane 0's column"),
    Mutant("lane-push-zeros", "lane pass", BROADCAST,
           "port.valid.eq(push & (~lane_pass | remaining[lane]))", "port.valid.eq(push)",
           "a lane pass pushes every lane, zeros and lanes outside the position too"),
    Mutant("lane-one-per-cycle", "lane pass", BROADCAST,
           "advance.eq(lane_pass | ((remaining & (remaining - 1)) == 0))",
           "advance.eq((remaining & (remaining - 1)) == 0)",
           "a lane pass stays on a group until its candidates went out one a cycle"),
    # -- the sweep overlap (2026-12-06) -------------------------------------------------------------
    Mutant("overlap-no-hold", "sweep overlap", CONTROL,
           "previous_swept.eq(~in_pes[0] | (in_pes[1] == half) | in_pes[2])",
           "previous_swept.eq(1)",
           "the next pixel-pass does not wait for the sweep emptying its accumulator file"),
    Mutant("overlap-sweeps-collide", "sweep overlap", CONTROL,
           "(pending_count == 0) & (~sweeping | ending)", "(pending_count == 0)",
           "a sweep starts while the one before it still reads rows"),
    Mutant("overlap-file-not-carried", "sweep overlap", PE,
           "s4_half.eq(s3_half)", "s4_half.eq(self.run.half)",
           "a pixel-pass's last sums are written into the next pixel-pass's file"),
    Mutant("overlap-sweep-offset", "sweep overlap", PE,
           "offset = sweeper.offset if a.sweep_overlap else self.run.pixel.out_offset",
           "offset = self.run.pixel.out_offset",
           "the sweep writes at the running pixel's output offset, not its own pixel's"),
    Mutant("max-skips-zeros", "conv", BROADCAST,
           "maximum.eq((desc.kind == KIND_CONV) & (desc.op == OP_MAX))",
           "maximum.eq(0)",
           "max pooling skips zero activations like a MAC pass"),
    Mutant("max-no-offset", "conv", PE,
           "s4_offered.eq(s3_act + max_offset(a.act_bits))",
           "s4_offered.eq(s3_act)",
           "max pooling without the offset: a window of negative values pools to 0"),
    # -- the registers of "Every failing endpoint" (docs/fpga.md, 2026-12-07) -----------------
    Mutant("queue-writes-when-full", "queue", QUEUE,
           "write.en.eq(self.w_rdy)", "write.en.eq(1)",
           "the queue's storage written in every cycle: a full queue loses the oldest item behind its head"),
    Mutant("queue-head-skipped", "queue", QUEUE,
           "empty_after = (self.level == 0) | (popped & (self.level == 1))",
           "empty_after = self.level == 0",
           "a push meeting the pop of the queue's only item goes to the storage, not the head"),
    Mutant("fetch-same-pass", "control", CONTROL,
           "fetch.eq(index + 2)", "fetch.eq(index + 1)",
           "the descriptor read ahead is the running pass's, latched again as the next"),
    Mutant("walker-groups-early", "group feed", BROADCAST,
           "more_groups.eq(base + 2 * n < end)", "more_groups.eq(base + n < end)",
           "the walker's outlook one group short: a position's last group not read"),
    Mutant("stage-word-late", "bus", TOP,
           "stage_we.eq(Const(1, stage_words) << word)", "stage_we.eq(Const(2, stage_words) << word)",
           "a wide word's parts staged one word too far up"),
    # -- pointers and addresses --------------------------------------------------------------
    # EIE's order (no bounds lookahead): the path the quick tests' architectures take
    Mutant("ptr-even-addr", "pointer", PE,
           "ptr_addr.eq(desc.ptr_base + item.sparse.index),\n"
           "                     even_rd.addr.eq((ptr_addr + 1) >> 1)",
           "ptr_addr.eq(desc.ptr_base + item.sparse.index),\n"
           "                     even_rd.addr.eq(ptr_addr >> 1)",
           "even pointer bank read at a>>1, not (a+1)>>1 (off by one for odd a)"),
    Mutant("ptr-odd-addr", "pointer", PE,
           "even_rd.addr.eq((ptr_addr + 1) >> 1), odd_rd.addr.eq(ptr_addr >> 1),\n"
           "                     even_rd.en.eq(pop)",
           "even_rd.addr.eq((ptr_addr + 1) >> 1), odd_rd.addr.eq((ptr_addr + 1) >> 1),\n"
           "                     even_rd.en.eq(pop)",
           "odd pointer bank read at (a+1)>>1, not a>>1"),
    Mutant("ptr-parity-column", "bank select", PE,
           "m.d.sync += [odd.eq(ptr_addr[0]), column_act",
           "m.d.sync += [odd.eq(item.sparse.index[0]), column_act",
           "bounds' bank order from the column's parity, not the pointer address's (ptr_base)"),
    Mutant("row-run-off-by-one", "pointer", PE,
           "m.d.comb += row.eq(Mux(row_first, run, row_prev + run + 1))",
           "m.d.comb += row.eq(Mux(row_first, run, row_prev + run))",
           "local row = previous + run (the +1 forgotten)"),
    # -- bank select ----------------------------------------------------------------------------
    Mutant("act-dest-bank", "bank select", PE,
           "bank_writes = [q2_valid & (source != bank) for bank", "bank_writes = [q2_valid & (source == bank) for bank",
           "sweep writes the layer's source bank, not the other one"),
    Mutant("act-source-bank", "bank select", PE,
           "group_data = Mux(source, banks[1], banks[0])",
           "group_data = Mux(source, banks[0], banks[1])",
           "broadcaster reads the destination bank"),
    Mutant("requant-bank-late", "bank select", PE,
           "bank_writes = registered_writes",
           "bank_writes = [(registered_writes[0] | registered_writes[1]) & (source != bank)\n"
           "                           for bank in range(len(BANK_FILES))]",
           "with group_feed, the sweep's last write (in the next pass's first cycle) picks its "
           "bank from the next pass's layer"),
    Mutant("host-read-bank", "bank select", TOP,
           'pe.load.bank.eq(hits["act1"])', 'pe.load.bank.eq(hits["act0"])',
           "host reads of act1 return act0 (and back)"),
    # -- slices and bit ranges ------------------------------------------------------------------
    Mutant("entry-slot-bits", "slice", PE,
           "word_select(slot, a.entry_bits)", "bit_select(slot, a.entry_bits)",
           "entry sliced at bit slot, not at slot x entry_bits (bit_select for word_select)"),
    Mutant("source-bank-bit", "slice", PE,
           "source = desc.layer[0]", "source = desc.layer[1]",
           "source bank from bit 1 of the layer number, not its parity"),
    Mutant("weight-unsigned", "slice", PE,
           "product = codebook_rd.data.as_signed() * s3_act",
           "product = codebook_rd.data * s3_act",
           "codebook weight multiplied as unsigned (sign bit as magnitude)"),
    Mutant("chunk-carry-offset", "slice", BROADCAST,
           "offset_next.eq(base + n - start - w)", "offset_next.eq(base + n - start)",
           "the group's bits carried into the next chunk placed as in the current one"),
    Mutant("plane-bit", "slice", BROADCAST,
           "bit_select(plane, 1)", "bit_select(plane + 1, 1)",
           "binary item of plane p takes bit p+1 of the activations"),
    Mutant("lnzd-index-bits", "slice", LNZD,
           "Cat(group[child][1], Const(child, 2))", "Cat(Const(child, 2), group[child][1])",
           "LNZD node puts the child number below the child's index (wrong above 4 PEs)"),
    Mutant("codebook-address", "slice", PE,
           "codebook_rd.addr.eq(Cat(code, desc.layer))",
           "codebook_rd.addr.eq(Cat(desc.layer, code))",
           "codebook address fields swapped (layer in the low bits)"),
    Mutant("sweep-bias-from-zero", "slice", CONTROL,
           "sweep_bias.eq(desc.bias_base)]", "sweep_bias.eq(0)]",
           "the sweep's bias address counted from 0, not the pass's bias_base"),
    # -- rounding -------------------------------------------------------------------------------
    Mutant("round-truncate", "rounding", PE,
           "total.eq(q1_acc + q1_bias.as_signed() + half)",
           "total.eq(q1_acc + q1_bias.as_signed())",
           "requantisation truncates (floor) instead of rounding half up"),
    Mutant("round-half-down", "rounding", PE,
           "total.eq(q1_acc + q1_bias.as_signed() + half)",
           "total.eq(q1_acc + q1_bias.as_signed() + half - (shift != 0))",
           "ties round down (differs from half up on exact ties only)"),
    # -- saturation -----------------------------------------------------------------------------
    Mutant("sat-high-value", "saturation", PE,
           "m.d.comb += result.eq(high)", "m.d.comb += result.eq(high - 1)",
           "positive saturation to max - 1"),
    Mutant("sat-low-value", "saturation", PE,
           "m.d.comb += result.eq(low)", "m.d.comb += result.eq(low + 1)",
           "negative saturation to min + 1"),
    Mutant("sat-width", "saturation", PE,
           "low, high = signed_range(a.act_bits)", "low, high = signed_range(a.act_bits + 1)",
           "clamp one bit too wide: out-of-range values wrap instead of saturating"),
    # -- queue ----------------------------------------------------------------------------------
    Mutant("fifo-deeper", "queue", PE,
           "Queue(width=layout.size, depth=a.fifo_depth)",
           "Queue(width=layout.size, depth=a.fifo_depth + 1)",
           "activation queue one entry deeper than fifo_depth"),
    Mutant("fifo-full-early", "queue", PE,
           "room.eq(later < a.fifo_depth)", "room.eq(later + 1 < a.fifo_depth)",
           "full flag one entry early (a one-deep queue is never ready)"),
    Mutant("room-ignores-push", "queue", PE,
           "room_after_push.eq(later + 1 < a.fifo_depth)", "room_after_push.eq(later < a.fifo_depth)",
           "the registered room forgets the item pushed meanwhile (a full queue is pushed)"),
    Mutant("ready-ignores-push", "queue", PE,
           "self.ready.eq(Mux(self.pushed, room_after_push, room))", "self.ready.eq(room)",
           "a PE's ready forgets the item that arrived last cycle (a full queue is pushed)"),
    # -- LNZD -----------------------------------------------------------------------------------
    Mutant("lnzd-priority", "LNZD", LNZD,
           "for child in (2, 1, 0):", "for child in (0, 1, 2):",
           "LNZD priority reversed inside a node (highest valid child first)"),
    Mutant("lnzd-refire", "LNZD", BROADCAST,
           "remaining.eq(lanes & ~fired)", "remaining.eq(lanes)",
           "lanes already broadcast not masked"),
    # -- stall logic ----------------------------------------------------------------------------
    Mutant("stall-ignored", "stall", BROADCAST,
           "with m.Elif(self.ready):", "with m.Else():",
           "broadcaster pushes while a queue is full"),
    Mutant("stall-any-pe", "stall", TOP,
           "broadcast.ready.eq(Cat(pe.ready for pe in pes).all())",
           "broadcast.ready.eq(Cat(pe.ready for pe in pes).any())",
           "broadcast stalls only when every queue is full"),
    Mutant("copies-descriptor-late", "pe copies", PE,
           'return SimpleNamespace(**{name: self.own_copy(m, f"pass_{name}", getattr(group, name))',
           'return SimpleNamespace(**{name: self.own_copy(m, f"pass_{name}",\n'
           '                                                    self.own_copy(m, f"late_{name}", getattr(group, name)))',
           "the PE's copy of the pass descriptor a cycle later than the control unit's"),
    Mutant("copies-sweep-in-step", "pe copies", CONTROL,
           "lead = timing.SWEEP_COPY_STAGES * a.pe_copies", "lead = 0",
           "the control unit sweeps as if the PEs' copies of its sweep were not a cycle later"),
    Mutant("copies-overlap-not-in-pes", "pe copies", CONTROL,
           "m.d.sync += [copy.eq(value) for copy, value in zip(in_pes, (sweeping, sweep_half, ending))]",
           "in_pes = (sweeping, sweep_half, ending)",
           "the next pixel-pass takes the other file when this unit's sweep of it ends, a cycle "
           "before the PEs'"),
    Mutant("copies-column-end-unseen", "pe copies", CONTROL,
           "seen = 1 + timing.COLUMN_END_STAGES * a.pe_copies", "seen = 1",
           "the control unit drains as if each PE's free were not registered"),
    Mutant("relay-forgets-held", "stall", BROADCAST,
           "return Mux(pushing[lane], Mux(mine, room[2], room[1]), Mux(mine, room[1], room[0]))",
           "return Mux(pushing[lane], room[1], room[0])",
           "the broadcast relay forgets the push in its register (a full queue is pushed)"),
    # the lane passes' per-PE rooms: the RTL sample's conv architecture with the relay has lane
    # passes
    Mutant("relay-lanes-any-room", "stall", BROADCAST,
           "m.d.comb += ready.eq(Cat(fitting).all())", "m.d.comb += ready.eq(Cat(fitting).any())",
           "the broadcast relay's ready in a lane pass: one PE with room, not every PE"),
    Mutant("pop-late", "stall", PE,
           "pop.eq((~issue | last) & queue.r_rdy)", "pop.eq(~issue & queue.r_rdy)",
           "next item popped the cycle after the column's last entry (a bubble per column)"),
    Mutant("free-early", "stall", PE,
           "free = (~issue | last) & ~queue.r_rdy", "free = ~queue.r_rdy",
           "PE reported free while its column still issues"),
    # -- the clock's exact steps (2026-12-06, late): registered outlooks, the item's line -------
    Mutant("binary-line-step", "binary", BROADCAST,
           "m.d.sync += line.eq(line + desc.rows)", "m.d.sync += line.eq(line + desc.rows + 1)",
           "a binary item's first weight line steps by rows + 1"),
    Mutant("binary-tap-lines", "binary", BROADCAST,
           "m.d.sync += line.eq(line + tap_lines)", "m.d.sync += line.eq(line + tap_lines + desc.rows)",
           "a padding position skips one chunk's weight lines too many"),
    Mutant("chunk-next-reads", "binary", BROADCAST,
           "next_reads.eq(below(lead, 2 * w, in_len))]", "next_reads.eq(below(lead, w, in_len))]",
           "entering a position, the second chunk is taken to need no read of its own"),
    Mutant("window-column-right", "conv", BROADCAST,
           "self.column_right.eq(self.column_in_map(self.ix + 2))]",
           "self.column_right.eq(self.column_in_map(self.ix + 1))]",
           "the window walk tests the next column one column short"),
    Mutant("sweep-state-held", "control", CONTROL,
           "m.d.sync += sweep_state.eq(0)", "m.d.sync += sweep_state.eq(1)",
           "the sweep goes on after the SWEEP state"),
    Mutant("binary-stall-drop", "stall", BROADCAST,
           "m.d.sync += [full.eq(1), arrive.eq(0)]",
           "m.d.sync += arrive.eq(0)",
           "a stalled binary item is not marked complete (lost)"),
    # -- cycle counter --------------------------------------------------------------------------
    Mutant("cycles-start-zero", "cycle counter", CONTROL,
           "m.d.comb += self.done.eq(0)\n                with m.If(self.start):\n"
           "                    m.d.sync += [self.cycles.eq(1),",
           "m.d.comb += self.done.eq(0)\n                with m.If(self.start):\n"
           "                    m.d.sync += [self.cycles.eq(0),",
           "counter starts at 0 on the first run after reset"),
    Mutant("cycles-not-cleared", "cycle counter", CONTROL,
           "m.d.comb += self.done.eq(1)\n                with m.If(self.start):\n"
           "                    m.d.sync += [self.cycles.eq(1),",
           "m.d.comb += self.done.eq(1)\n                with m.If(self.start):\n"
           "                    m.d.sync += [self.cycles.eq(self.cycles + 1),",
           "counter not cleared when a finished program is started again"),
    Mutant("cycles-after-done", "cycle counter", CONTROL,
           "with m.If(run.busy):", "with m.If(run.busy | self.done):",
           "counter keeps counting after done"),
    # -- control --------------------------------------------------------------------------------
    Mutant("drain-short", "control", CONTROL,
           "drain) - 2 - seen), row.eq(0)", "drain) - 3 - seen), row.eq(0)",
           "MAC drain one cycle short"),
    Mutant("last-pass-early", "control", CONTROL,
           "last_pass.eq(index + 1 >= self.passes)", "last_pass.eq(index + 2 >= self.passes)",
           "program ends one pass early"),
    Mutant("sweep-extra-row", "control", CONTROL,
           "with m.If(row + 1 == run.desc.rows):", "with m.If(row == run.desc.rows):",
           "sweep one row too many"),
    # -- MAC ------------------------------------------------------------------------------------
    Mutant("no-bypass", "MAC", PE,
           "m.d.comb += mac_data[bits].eq(Mux(after_previous, w1_sum[bits], s4_acc[bits]))",
           "m.d.comb += mac_data[bits].eq(s4_acc[bits])",
           "accumulator read without the forwarding: back-to-back entries to one row lose a sum"),
    Mutant("term-no-carry-in", "binary", PE,
           "operands[0] = operands[0] | 1", "operands[0] = operands[0]",
           "the binary term with two popcount chunks or more loses the + 1 of −Y"),
    Mutant("no-second-bypass", "MAC", PE,
           "m.d.sync += s4_acc.eq(Mux(second_row, w1_sum, read_data(s3_half)))",
           "m.d.sync += s4_acc.eq(read_data(s3_half))",
           "the second predecessor's sum not forwarded: entries two apart to one row lose a sum"),
    Mutant("no-third-bypass", "MAC", PE,
           "m.d.sync += s4_acc.eq(Mux(second_row | third_row, forwarded, read_data(s3_half)))",
           "m.d.sync += s4_acc.eq(Mux(second_row, forwarded, read_data(s3_half)))",
           "with pe_copies (the sum written from w1), entries three apart to one row lose a sum"),
    Mutant("sweep-forward-early", "MAC", PE,
           "            written_sum = w2_sum\n",
           "            written_sum = w1_sum\n",
           "with pe_copies, the sweep's first read takes the last entry's sum from the wrong register"),
    # -- binary datapath ------------------------------------------------------------------------
    Mutant("xnor-mask", "binary", PE,
           "Mux(bipolar, ~(s2_bits ^ weights) & mask,", "Mux(bipolar, ~(s2_bits ^ weights),",
           "bipolar popcount counts the chunk's padding bits"),
    Mutant("threshold-strict", "binary", PE,
           "q1_acc <= threshold, q1_acc >= threshold)",
           "q1_acc <= threshold, q1_acc > threshold)",
           "binarising threshold compares dot > T, not dot >= T"),
    # -- host bus -------------------------------------------------------------------------------
    Mutant("ack-held", "bus", TOP,
           "bus.ack.eq(step == last)]", "bus.ack.eq((step == last) | (step == 0))]",
           "ack held after the transfer, into the next request's first cycle"),
    Mutant("ack-early", "bus", TOP,
           "bus.ack.eq(step == last)]", "bus.ack.eq(access)]",
           "ack combinational: read data not yet valid with it"),
    Mutant("ack-before-decode", "bus", TOP,
           "bus.ack.eq(step == last)]", "bus.ack.eq(step == last - 1)]",
           "ack a cycle early: a read's data not yet out of its registered decode"),
    Mutant("commit-first-word", "bus", TOP,
           "(word == r.words - 1) & idle", "(word == 0) & idle",
           "a wide entry is written at its first word, not its last"),
    Mutant("pe-select-decode", "bus", TOP,
           "bus.adr[_log2(r.window):_log2(r.size)]", "bus.adr[_log2(r.window) + 1:_log2(r.size)]",
           "PE-select address bits one too high"),
    Mutant("region-decode", "bus", TOP,
           "hit.eq((bus.adr >> _log2(r.size)) == (r.base >> _log2(r.size)))",
           "hit.eq((bus.adr >> (_log2(r.size) - 1)) == (r.base >> (_log2(r.size) - 1)))",
           "region decode one bit too wide: a region's upper half misses"),
]

#: the checks, cheapest first; a ``pytest`` stage is killed by its first failing test
QUICK_TESTS = ["tests/hw/rtl/test_rtl_cosim.py::test_quick_programs_bus_loaded[icarus]",
               "tests/hw/rtl/test_rtl_cosim.py::test_quick_binary_programs_bus_loaded[icarus]",
               "tests/hw/rtl/test_rtl_cosim.py::test_program_in_memory_init[icarus]",
               "tests/hw/rtl/test_rtl_bus.py::test_back_to_back_transfers_take_their_cycles_each[icarus]"]
SAMPLE_TESTS = ["tests/hw/rtl/test_rtl_cosim.py::test_regression_sample",
                "tests/hw/rtl/test_rtl_cosim.py::test_regression_binary_sample",
                "tests/hw/rtl/test_rtl_cosim.py::test_regression_conv_sample",
                "tests/hw/rtl/test_rtl_cosim.py::test_regression_binary_conv_sample",
                "tests/hw/rtl/test_rtl_cosim.py::test_regression_graph_sample"]
STAGES = ("quick", "verify", "sample")
#: the small programs ``zeroskip verify`` checks: (name, regression case, verify's extra flags)
VERIFY_PROGRAMS = [("sparse", "random_case(21, QUICK, max_size=24)", []),
                   ("binary", "random_binary_case(201, QUICK, max_size=32)", ["--bus-load"])]

TIMEOUT_WORDS = ("not done within", "wall-clock limit", "RtlTimeout")


@dataclass
class Outcome:
    """What the checks said about one mutant (or the baseline)."""

    name: str
    file: str = ""
    category: str = ""
    description: str = ""
    killed: bool = False
    by: str = ""            #: the check that failed first (stage: test)
    kind: str = ""          #: outputs, cycles, timeout, error, HUNG
    detail: str = ""        #: the first line saying why
    seconds: float = 0.0
    stages: dict = field(default_factory=dict)   #: stage -> seconds


class Copy:
    """A private copy of the committed tree that imports as ``zeroskip``."""

    def __init__(self, root: Path, ref: str):
        self.root = root
        self.tree = root / "tree"
        self.tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(self.tree)], input=archive, check=True)
        for name in SUBPACKAGES:
            (self.tree / "zeroskip" / name).symlink_to(Path("..") / name)
        self.commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", ref], check=True,
                                     capture_output=True, text=True).stdout.strip()

    def env(self, cache: Path) -> dict:
        env = dict(os.environ)
        env.pop("PYTEST_ADDOPTS", None)
        env.update(PYTHONPATH=str(self.tree), PYTHONDONTWRITEBYTECODE="1",
                   ZEROSKIP_RTL_CACHE=str(cache))
        return env

    def check_isolated(self) -> None:
        """Every module a check imports comes from the copy, not from the editable install."""
        modules = ["zeroskip", "zeroskip.cli", "zeroskip.hw.gateware.pe", "zeroskip.hw.rtl.run",
                   "zeroskip.hw.rtl.cocotb_tb", "zeroskip.sim", "zeroskip.compiler",
                   "zeroskip.models"]
        code = ("import importlib, json; print(json.dumps([importlib.import_module(m).__file__ "
                f"for m in {modules!r}]))")
        out = subprocess.run([sys.executable, "-c", code], cwd=self.tree, env=self.env(self.root / "cache"),
                             check=True, capture_output=True, text=True).stdout
        outside = [f for f in json.loads(out.splitlines()[-1])
                   if not Path(f).resolve().is_relative_to(self.tree.resolve())]
        if outside:
            raise SystemExit(f"mutants: the copy does not import in isolation: {outside[0]}")

    def make_programs(self) -> dict[str, Path]:
        """The small programs ``zeroskip verify`` checks, compiled once (no gateware needed)."""
        paths = {name: self.root / f"program-{name}" for name, _, _ in VERIFY_PROGRAMS}
        lines = ["import sys", "sys.path.insert(0, 'tests/hw')",
                 "from regression import QUICK, random_case, random_binary_case"]
        lines += [f"{case}.program.save({str(paths[name])!r})" for name, case, _ in VERIFY_PROGRAMS]
        subprocess.run([sys.executable, "-c", "\n".join(lines)], cwd=self.tree,
                       env=self.env(self.root / "cache"), check=True)
        return paths

    def apply(self, mutant: Mutant) -> str:
        """Write the mutation; returns the file's original text."""
        path = self.tree / mutant.file
        text = path.read_text()
        found = text.count(mutant.old)
        if found != 1:
            raise SystemExit(f"mutants: {mutant.name}: the snippet occurs {found} times in "
                             f"{mutant.file} (the gateware changed: update the mutant)")
        path.write_text(text.replace(mutant.old, mutant.new))
        return text

    def restore(self, mutant: Mutant, original: str) -> None:
        path = self.tree / mutant.file
        path.write_text(original)
        if path.read_text() != original:
            raise SystemExit(f"mutants: {mutant.file} not restored after {mutant.name}")


def stale_mutants(tree: Path, mutants: list[Mutant]) -> list[str]:
    """Mutants whose snippet does not occur exactly once (or whose mutation changes nothing)."""
    out = []
    for mutant in mutants:
        found = (tree / mutant.file).read_text().count(mutant.old)
        if found != 1 or mutant.old == mutant.new:
            out.append(f"{mutant.name}: {found} occurrences in {mutant.file}")
    return out


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the simulator runs under ``timeout``, in a process group
    of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop(process: subprocess.Popen) -> None:
    """Kill a check we started, its process group and everything below it."""
    below = _descendants(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _run(command: list[str], cwd: Path, env: dict, timeout: float) -> tuple[int | None, str]:
    """Run ``command`` in its own process group; ``(returncode, output)``, returncode None when
    the outer wall-clock limit was reached (the check is then killed, simulators included)."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out
    except subprocess.TimeoutExpired:
        _stop(process)
        out, _ = process.communicate()
        return None, out
    except BaseException:           # interrupted: leave nothing running
        _stop(process)
        raise


def _kind(text: str) -> str:
    if "outputs differ" in text:
        return "outputs"
    if "cycle counts differ" in text:
        return "cycles"
    if any(word in text for word in TIMEOUT_WORDS):
        return "timeout"
    return "error"


#: the words that find the line saying why, by kind of kill
DETAIL_WORDS = {"outputs": ("outputs differ",), "cycles": ("cycle counts differ",),
                "timeout": TIMEOUT_WORDS, "error": ("Error", "error", "FAIL", "assert")}


def _detail(text: str, kind: str) -> str:
    """The first line of ``text`` saying why (the mismatch, the limit, the error)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if any(word in line for word in DETAIL_WORDS[kind]):
            line = line.removeprefix("E").strip()
            if "first extra item: '" in line:       # pytest's view of a list of mismatches
                line = re.sub(r"^.*first extra item: '", "", line).removesuffix("'")
            return line[:240]
    return lines[-1][:240] if lines else ""


def _short(nodeid: str) -> str:
    return nodeid.split("::")[-1].removeprefix("test_")


def pytest_stage(copy: Copy, env: dict, tests: list[str], timeout: float, work: Path):
    """(failed check, kind, detail) of the first failing test, or None when all pass."""
    report = work / "junit.xml"
    report.unlink(missing_ok=True)
    code, out = _run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                      f"--junitxml={report}", *tests], copy.tree, env, timeout)
    if code is None:
        return "pytest", "HUNG", f"still running after {timeout:.0f} s (killed)"
    if code == 0:
        return None
    if report.exists():
        for case in ElementTree.parse(report).iter("testcase"):
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            if failure is not None:
                # the exception's lines only (pytest's "E" lines): the traceback's source
                # lines name RtlTimeout whatever was raised
                raised = [line.strip()[1:] for line in (failure.text or "").splitlines()
                          if line.strip().startswith("E ")]
                text = "\n".join([failure.get("message") or "", *raised])
                kind = _kind(text)
                return _short(case.get("name", "?")), kind, _detail(text, kind)
    return "pytest", "error", _detail(out, "error")


def verify_stage(copy: Copy, env: dict, programs: dict[str, Path], timeout: float, work: Path):
    for name, _, flags in VERIFY_PROGRAMS:
        report = work / f"verify-{name}.json"
        report.unlink(missing_ok=True)
        code, out = _run([sys.executable, "-m", "zeroskip.cli", "verify", str(programs[name]),
                          "--simulator", "icarus", "--count", "4", "--json", str(report), *flags],
                         copy.tree, env, timeout)
        check = f"verify {name}"
        if code is None:
            return check, "HUNG", f"still running after {timeout:.0f} s (killed)"
        if code != 0:
            kind = _kind(out)
            return check, kind, _detail(out, kind)
    return None


def run_checks(copy: Copy, outcome: Outcome, stages: list[str], programs: dict[str, Path],
               stage_timeout: float, log) -> Outcome:
    cache = copy.root / "cache" / outcome.name
    work = copy.root / "work"
    work.mkdir(exist_ok=True)
    env = copy.env(cache)
    start = time.perf_counter()
    try:
        for stage in stages:
            t0 = time.perf_counter()
            if stage == "quick":
                got = pytest_stage(copy, env, QUICK_TESTS, stage_timeout, work)
            elif stage == "sample":
                got = pytest_stage(copy, env, SAMPLE_TESTS, 2 * stage_timeout, work)
            else:
                got = verify_stage(copy, env, programs, stage_timeout, work)
            outcome.stages[stage] = round(time.perf_counter() - t0, 1)
            if got is not None:
                check, outcome.kind, outcome.detail = got
                outcome.killed, outcome.by = outcome.kind != "HUNG", f"{stage}: {check}"
                break
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    outcome.seconds = round(time.perf_counter() - start, 1)
    verdict = ("killed" if outcome.killed else "HUNG" if outcome.kind == "HUNG" else
               "every check passes" if outcome.name == "baseline" else "survived")
    log(f"  {outcome.name}: {verdict}"
        f"{' by ' + outcome.by + ' (' + outcome.kind + ')' if outcome.by else ''} in {outcome.seconds:.0f} s"
        f"{'; ' + outcome.detail if outcome.detail else ''}")
    return outcome


def table(outcomes: list[Outcome]) -> str:
    rows = [("mutant", "file", "description", "killed?", "by", "s")]
    for o in outcomes:
        verdict = "yes" if o.killed else "HUNG" if o.kind == "HUNG" else "NO"
        by = f"{o.by} ({o.kind})" if o.by else "-"
        rows.append((o.name, o.file.removeprefix("hw/gateware/"), o.description, verdict, by,
                     f"{o.seconds:.0f}"))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated mutant names (default: all)")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"checks to try, in order (default {','.join(STAGES)})")
    parser.add_argument("--ref", default="HEAD", help="the commit to copy (default HEAD)")
    parser.add_argument("--stage-timeout", type=float, default=600.0,
                        help="outer wall-clock limit of a check in seconds (sample: twice it)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the unmutated run (development only)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args(argv)

    mutants = MUTANTS
    if args.only:
        wanted = args.only.split(",")
        unknown = [name for name in wanted if name not in {m.name for m in MUTANTS}]
        if unknown:
            parser.error(f"--only: no mutant named {unknown[0]}")
        mutants = [m for m in MUTANTS if m.name in wanted]
    stages = args.stages.split(",")
    if not stages or any(stage not in STAGES for stage in stages):
        parser.error(f"--stages: a list of {', '.join(STAGES)}")
    if args.list:
        for m in mutants:
            print(f"{m.name:20} {m.category:14} {m.file:26} {m.description}")
        return 0

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="zeroskip-mutants-"))
    try:
        copy = Copy(root, args.ref)
        stale = stale_mutants(copy.tree, mutants)
        if stale:
            raise SystemExit("mutants: stale mutants (update them):\n  " + "\n  ".join(stale))
        copy.check_isolated()
        log(f"copy of {copy.commit[:10]} in {copy.tree}; {len(mutants)} mutants; checks {','.join(stages)}")
        programs = copy.make_programs()
        baseline = None
        if not args.no_baseline:
            log("baseline (no mutation):")
            baseline = run_checks(copy, Outcome("baseline"), stages, programs, args.stage_timeout, log)
            if baseline.by:
                raise SystemExit(f"mutants: the unmutated copy fails {baseline.by}: {baseline.detail}")
        outcomes = []
        for mutant in mutants:
            original = copy.apply(mutant)
            try:
                outcome = Outcome(mutant.name, mutant.file, mutant.category, mutant.description)
                outcomes.append(run_checks(copy, outcome, stages, programs, args.stage_timeout, log))
            finally:
                copy.restore(mutant, original)
        total = time.perf_counter() - started
        print(table(outcomes))
        killed = sum(o.killed for o in outcomes)
        print(f"\n{killed}/{len(outcomes)} mutants killed; total {total / 60:.1f} min "
              f"(baseline {baseline.seconds if baseline else 0:.0f} s); commit {copy.commit[:10]}; "
              f"{os.cpu_count()} cores")
        if args.json:
            report = {"date": datetime.date.today().isoformat(), "commit": copy.commit,
                      "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                                  "load_average": os.getloadavg()},
                      "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
                      "stages": stages, "quick_tests": QUICK_TESTS, "sample_tests": SAMPLE_TESTS,
                      "baseline": asdict(baseline) if baseline else None,
                      "mutants": [asdict(o) for o in outcomes], "killed": killed,
                      "total_seconds": round(total, 1)}
            Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        return 0 if killed == len(outcomes) else 1
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
