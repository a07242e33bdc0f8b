"""The simulator's half of each layer kind: the timing of a pass (docs/timing.md,
docs/binary-mode.md), the actions it performs, and its datapath. ``SIM_KINDS`` maps the
descriptor's kind code to one; the simulator never branches on a kind.

Every method works on a decoded pass (``zeroskip.hw.kinds.PassImage``) and a batch of source
activations [batch, in_len]. ``run`` returns a ``PassRun``: the pass's schedule, the MACs each PE
did, and its action counts; ``datapath`` the requantised outputs [batch, rows · pes].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.hw import timing
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.conv import gather
from zeroskip.hw.fixedpoint import (binarize, binary_dot, binary_window_dot, clipped,
                                    max_accumulate, requantize, wrap)
from zeroskip.hw.kinds import PassImage, column_lanes
from zeroskip.hw.program import KIND_BINARY, KIND_BINARY_CONV, KIND_CONV, KIND_SPARSE, OP_MAX, Program
from zeroskip.sim.schedule import (PassSchedule, binary_window_items, schedule_binary_items,
                                   schedule_binary_pass, schedule_lanes, schedule_pass)

#: elements of one dense weight block in the datapath (float64), bounding its memory
_BLOCK_ELEMENTS = 1 << 22


@dataclass
class PassRun:
    """What one pass did for a batch."""

    schedule: PassSchedule
    macs: np.ndarray              #: int64 [batch, pes] non-padding MACs (binary: row-items)
    cycles: np.ndarray | None = None    #: int64 [batch] the pass's cycles, T to T_next
    ideal: np.ndarray | None = None     #: int64 [batch] its ideal cycles (busiest PE's MACs)
    padding: np.ndarray | None = None   #: int64 [batch] cycles examining window padding

    def __post_init__(self):
        if self.ideal is None:
            self.ideal = self.macs.max(axis=1)


def pass_cycles(column_end: np.ndarray, rows: int, drain: int) -> np.ndarray:
    """T_next − T of a pass (or pixel-pass) whose column phase ends at ``column_end``; ``drain``:
    ``ArchConfig.mac_drain``."""
    return column_end + drain + rows + timing.REQUANT_TAIL


def pixel_pass_cycles(column_end: np.ndarray, rows: int, overlap: bool, drain: int,
                      restart: int) -> np.ndarray:
    """[batch] cycles of a conv descriptor's pixel-passes, the first's T to the next pass's,
    from each pixel-pass's column phase end ``column_end`` [batch, P] (relative to its own T).
    With ``overlap`` (``ArchConfig.sweep_overlap``, docs/timing.md "Sweep overlap") a pixel's
    sweep runs while the next pixel-pass scans: the sweep of pixel p begins at
    ``X_p = max(C_p + drain, X_{p-1} + R)`` and pixel-pass p + 1 at
    ``max(C_p + restart, X_{p-1} + R)`` (its accumulator file is the one pixel p − 1's
    sweep empties; ``restart``: ``ArchConfig.pixel_restart``)."""
    column_end = np.asarray(column_end, np.int64)
    if not overlap or rows == 0:
        return pass_cycles(column_end, rows, drain).sum(axis=1)
    batch, pixels = column_end.shape
    start = np.zeros(batch, np.int64)                  # T_p, from the first pixel-pass's T
    swept = np.full(batch, np.iinfo(np.int64).min // 2, np.int64)    # X_{p-1} + R
    for p in range(pixels):
        column = start + column_end[:, p]
        start = np.maximum(column + restart, swept)
        swept = np.maximum(column + drain, swept) + rows
    return swept + timing.REQUANT_TAIL


class SimKind:
    code: int

    def run(self, a: ArchConfig, image: PassImage, source: np.ndarray, actions: dict) -> PassRun:
        """Time the pass and add its action counts (batch totals) to ``actions``."""
        raise NotImplementedError

    def datapath(self, program: Program, image: PassImage,
                 source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pass's outputs [batch, rows · pes] and, per input, how many saturated [batch]."""
        raise NotImplementedError

    def place(self, out: np.ndarray, image: PassImage, values: np.ndarray) -> None:
        """Write a pass's outputs where its sweep puts them in the layer's output vector."""
        end = min(out.shape[1], image.out_start + values.shape[1])
        out[:, image.out_start:end] = values[:, :end - image.out_start]


def pipeline(a: ArchConfig) -> dict:
    """The clock's pipeline switches as the schedules take them (docs/timing.md)."""
    return dict(registered=bool(a.registered_broadcast), relay=bool(a.broadcast_relay),
                delay=a.scan_delay)


def _per_pe(active: np.ndarray, per_column: np.ndarray) -> np.ndarray:
    """[batch, pes] sums of a per-column figure over each sample's non-zero columns (exact:
    float64 holds these integer sums)."""
    return np.rint(active.astype(np.float64) @ per_column.T.astype(np.float64)).astype(np.int64)


def _inside(counts: np.ndarray, acc: np.ndarray, image: PassImage, program: Program) -> np.ndarray:
    """Saturations counted only in the slots that hold rows of the layer (the tallest PE's
    spare slots compute bias-only values no one reads)."""
    rows = image.row_start + np.arange(acc.shape[1])
    spare = rows >= program.layers[image.layer].rows
    if not spare.any():
        return counts
    a = program.arch
    extra = clipped(acc[:, spare], image.bias[None, spare], image.shift, image.relu,
                    a.acc_bits, a.act_bits)
    return counts - extra


#: batch rows per chunk in ``line_reads`` (bounds its [rows, columns] index arrays)
_LINE_CHUNK = 1 << 22


def line_reads(active: np.ndarray, image: PassImage) -> int:
    """Sparse lines read over a batch of inputs [batch, in_len], each PE keeping the line it
    read last: a non-empty column costs its lines, less one when its first line is the line the
    PE's previous non-empty column (in broadcast order, which is column order) ended on. EIE's
    "eight entries are fetched on each SRAM read" (docs/simulator.md, "Actions")."""
    reads = int(np.rint(active.astype(np.float64) @ image.lines.sum(axis=0).astype(np.float64)).sum())
    saved = 0
    for first, last in zip(image.first_line, image.last_line):
        columns = np.flatnonzero(first >= 0)
        if len(columns) < 2:
            continue
        first, last = first[columns], last[columns]
        step = max(1, _LINE_CHUNK // len(columns))
        order = np.arange(len(columns), dtype=np.int32)
        for begin in range(0, active.shape[0], step):
            on = active[begin:begin + step, columns]
            before = np.maximum.accumulate(np.where(on, order, -1), axis=1)[:, :-1]   # of 1..
            saved += int(np.count_nonzero(on[:, 1:] & (before >= 0) & (first[1:] == last[before])))
    return reads - saved


class SparsePasses(SimKind):
    """Zero activations skipped by the LNZD; one entry (padding included) per PE per cycle."""

    code = KIND_SPARSE

    def run(self, a, image, source, actions):
        active = source != 0
        sched = schedule_pass(active, image.issues, a.fifo_depth, lookahead=bool(a.bounds_lookahead),
                              tails=image.merged_last, **pipeline(a))
        macs = _per_pe(active, image.macs)                          # [batch, pes]
        self.count_actions(actions, image, active, sched, macs, a.pes)
        return PassRun(sched, macs, pass_cycles(sched.column_end, image.rows, a.mac_drain))

    @staticmethod
    def count_actions(into: dict, image: PassImage, active: np.ndarray, sched, macs, pes: int,
                      reads: int | None = None, skipped: int | None = None) -> None:
        """Add one pass's action counts (summed over the batch) to a layer's; ``reads`` and
        ``skipped``: the group reads and zero activations skipped of the whole batch (default:
        every group of every input, every zero of the vector)."""
        batch = active.shape[0]
        k = int(sched.nonzeros.sum())
        entries = int(sched.pe_busy.sum())
        mac = int(macs.sum())
        rows = image.rows * pes * batch                          # the sweep runs in every PE
        if reads is None:
            reads = -(-image.in_len // pes) * batch
        pushes = k * pes if sched.pe_items is None else int(sched.pe_items.sum())
        into["act_read"] += reads * pes
        into["lnzd_select"] += k
        into["queue_push"] += pushes
        into["queue_pop"] += pushes
        into["ptr_read"] += 2 * pushes
        into["sparse_line_read"] += line_reads(active, image)
        into["codebook_read"] += entries
        into["mac"] += mac
        into["padding_entry"] += entries - mac
        into["acc_read"] += entries + rows
        into["acc_write"] += entries + rows
        into["bias_read"] += rows
        into["act_write"] += rows
        into["skipped_zero"] += image.in_len * batch - k if skipped is None else skipped
        into["idle_cycle"] += int(sched.pe_idle.sum())
        into["stall_cycle"] += int(sched.pe_stall.sum())

    def datapath(self, program, image, source):
        """One pass's requantised outputs [batch, rows · pes] (accumulator-slot order = array order).

        Products are summed exactly (float64 holds them when the widths allow, else int64), then
        wrapped to ``acc_bits`` — the same value a wrapping accumulator reaches in any order."""
        a = program.arch
        batch = source.shape[0]
        slots = image.rows * a.pes
        values = program.codebook[image.layer][image.code]
        used = np.flatnonzero(source.any(axis=0))                 # columns some sample broadcasts
        position = np.full(image.in_len, -1, np.int64)
        position[used] = np.arange(len(used))
        where = position[image.column]
        keep = where >= 0
        where, target, values = where[keep], image.target[keep], values[keep]
        exact_bits = (a.act_bits - 1) + (a.weight_bits - 1) + max(1, int(image.in_len).bit_length())
        dtype = np.float64 if exact_bits <= 52 else np.int64
        acc = np.zeros((batch, slots), dtype)
        width = max(1, _BLOCK_ELEMENTS // max(1, slots))
        for first in range(0, len(used), width):
            lo, hi = np.searchsorted(where, [first, first + width])
            block = np.zeros((slots, min(width, len(used) - first)), dtype)
            block[target[lo:hi], where[lo:hi] - first] = values[lo:hi]
            acc += source[:, used[first:first + width]].astype(dtype) @ block.T
        acc = wrap(np.rint(acc).astype(np.int64) if dtype is np.float64 else acc, a.acc_bits)
        args = (acc, image.bias[None, :], image.shift, image.relu, a.acc_bits, a.act_bits)
        return requantize(*args), _inside(clipped(*args), acc, image, program)


class BinaryPasses(SimKind):
    """Every input chunk broadcast (no zero skipping): the timing does not depend on the data."""

    code = KIND_BINARY

    def run(self, a, image, source, actions):
        batch = source.shape[0]
        sched, reads = self.schedule(a, image, batch)
        macs = np.broadcast_to(image.valid_rows * sched.nonzeros[:1, None], (batch, a.pes))
        self.count_actions(actions, image, sched, reads, a.pes, batch)
        return PassRun(sched, macs, pass_cycles(sched.column_end, image.rows, a.mac_drain))

    @staticmethod
    def schedule(a, image: PassImage, batch: int) -> tuple[PassSchedule, int]:
        """A binary pass's timing (the same for every input), repeated over the batch."""
        one, reads = schedule_binary_pass(image.in_len, a.pes, a.line_bits, image.planes, image.rows,
                                          a.fifo_depth, lookahead=bool(a.bounds_lookahead),
                                          **pipeline(a))
        tile = lambda v: np.repeat(v, batch, axis=0)                      # noqa: E731
        return PassSchedule(column_end=tile(one.column_end), broadcast_done=tile(one.broadcast_done),
                            broadcast_stalls=tile(one.broadcast_stalls), nonzeros=tile(one.nonzeros),
                            pe_busy=tile(one.pe_busy), pe_stall=tile(one.pe_stall),
                            pe_idle=tile(one.pe_idle)), reads

    @staticmethod
    def count_actions(into: dict, image: PassImage, sched, reads: int, pes: int, batch: int) -> None:
        """docs/binary-mode.md: per item N pushes and pops; per row per item a line read, an
        xnor/popcount and an accumulator read and write; the sweep as in sparse passes."""
        items = int(sched.nonzeros[0])
        swept = image.rows * pes * batch
        row_items = image.rows * items * pes * batch
        into["act_read"] += reads * pes * batch
        into["queue_push"] += items * pes * batch
        into["queue_pop"] += items * pes * batch
        into["sparse_line_read"] += row_items
        into["xnor_popcount"] += row_items
        into["acc_read"] += row_items + swept
        into["acc_write"] += row_items + swept
        into["bias_read"] += swept
        into["act_write"] += swept
        into["idle_cycle"] += int(sched.pe_idle.sum())
        into["stall_cycle"] += int(sched.pe_stall.sum())

    def datapath(self, program, image, source):
        """One binary pass's outputs [batch, rows · pes]: the integer dot of the input bits with the
        weight bits, wrapped to ``acc_bits``, then thresholded or requantised (docs/binary-mode.md)."""
        a = program.arch
        dot = wrap(binary_dot(source, image.weights.astype(np.int64), image.planes), a.acc_bits)
        if image.binarize:
            return (binarize(dot, image.bias[None, :], image.shift),
                    np.zeros(len(dot), np.int64))              # ±2^shift: nothing to saturate
        args = (dot, image.bias[None, :], image.shift, False, a.acc_bits, a.act_bits)
        return requantize(*args), _inside(clipped(*args), dot, image, program)


class ConvPasses(SparsePasses):
    """A sparse pass run once per output pixel over its window (docs/conv.md): every pixel-pass
    has the timing of a sparse pass whose groups are the window's group sequence."""

    code = KIND_CONV

    @staticmethod
    def windows(image: PassImage, source: np.ndarray):
        """[batch · P, columns] window activations and which columns lie inside the map."""
        w = image.windows
        batch, pixels, columns = source.shape[0], w.index.shape[0], w.index.shape[1]
        patches = gather(source, w).reshape(batch * pixels, columns)
        inside = np.broadcast_to(w.index >= 0, (batch, pixels, columns)).reshape(-1, columns)
        return patches, inside

    def run(self, a, image, source, actions):
        w, g = image.windows, image.geometry
        batch, pixels = source.shape[0], g.pixels
        patches, inside = self.windows(image, source)
        active = inside if g.op == OP_MAX else patches != 0           # OP_MAX: zeros broadcast too
        groups = np.broadcast_to(w.group, (batch,) + w.group.shape).reshape(batch * pixels, -1)
        switches = dict(lookahead=bool(a.bounds_lookahead), tails=image.merged_last, **pipeline(a))
        if image.lanes:         # docs/timing.md "Lane passes": each lane into its own PE's queue
            sched = schedule_lanes(active, image.issues, column_lanes(g, a.pes), groups,
                                   np.tile(w.groups, batch), a.fifo_depth, **switches)
        else:
            sched = schedule_pass(active, image.issues, a.fifo_depth, groups=groups,
                                  group_count=np.tile(w.groups, batch), **switches)
        macs = _per_pe(active, image.macs)                            # [batch · P, pes]
        self.count_actions(actions, image, active, sched, macs, a.pes,
                           reads=int(w.reads.sum()) * batch,
                           skipped=int(inside.sum() - active.sum()))
        per_pixel = lambda v: v.reshape((batch, pixels) + v.shape[1:]).sum(axis=1)   # noqa: E731
        summed = PassSchedule(**{name: per_pixel(getattr(sched, name)) for name in (
            "column_end", "broadcast_done", "broadcast_stalls", "nonzeros", "pe_busy",
            "pe_stall", "pe_idle")})
        cycles = pixel_pass_cycles(sched.column_end.reshape(batch, pixels), image.rows,
                                   bool(a.sweep_overlap), a.mac_drain, a.pixel_restart)
        return PassRun(summed, per_pixel(macs), cycles, per_pixel(macs.max(axis=1)),
                       np.full(batch, int(w.padding.sum()), np.int64))

    def datapath(self, program, image, source):
        """Every pixel's outputs [batch, P, rows · pes] and saturations [batch]."""
        a = program.arch
        batch, pixels = source.shape[0], image.geometry.pixels
        patches, inside = self.windows(image, source)
        if image.geometry.op == OP_MAX:
            acc = np.zeros((len(patches), image.slots), np.int64)
            for column, target in zip(image.column, image.target):
                seen = np.where(inside[:, column], max_accumulate(0, patches[:, column], a.act_bits), 0)
                acc[:, target] = np.maximum(acc[:, target], seen)
            args = (acc, image.bias[None, :], image.shift, image.relu, a.acc_bits, a.act_bits)
            values, saturated = requantize(*args), _inside(clipped(*args), acc, image, program)
        else:
            values, saturated = super().datapath(program, image, patches)
        return (values.reshape(batch, pixels, -1),
                saturated.reshape(batch, pixels).sum(axis=1))

    def place(self, out, image, values):
        stride = image.geometry.out_stride
        maps = out.reshape(out.shape[0], -1, stride)
        end = min(stride, image.out_start + values.shape[2])
        maps[:, :, image.out_start:end] = values[:, :, :end - image.out_start]


_SCHEDULE_FIELDS = ("column_end", "broadcast_done", "broadcast_stalls", "nonzeros", "pe_busy",
                    "pe_stall", "pe_idle")


class BinaryConvPasses(BinaryPasses):
    """A binary pass run once per output pixel over its window (docs/binary-mode.md, "Binary
    conv passes"): every pixel-pass has a binary pass's timing over the window's items, which
    depend on the geometry only, not on the data."""

    code = KIND_BINARY_CONV

    def run(self, a, image, source, actions):
        batch, pes = source.shape[0], a.pes
        pixels = self.pixel_schedules(a, image)
        total = {name: sum(getattr(sched, name) for sched, _, _ in pixels) for name in _SCHEDULE_FIELDS}
        tile = lambda v: np.repeat(np.asarray(v).reshape(1, *np.shape(v)[1:]), batch, axis=0)   # noqa: E731
        summed = PassSchedule(**{name: tile(value) for name, value in total.items()})
        items = np.array([int(sched.nonzeros[0]) for sched, _, _ in pixels], np.int64)
        reads = sum(r for _, r, _ in pixels)
        padding = sum(p for _, _, p in pixels)
        macs = np.broadcast_to(image.valid_rows * int(items.sum()), (batch, pes))
        ideal = np.full(batch, int(image.valid_rows.max()) * int(items.sum()), np.int64)
        ends = np.array([[int(sched.column_end[0]) for sched, _, _ in pixels]], np.int64)
        cycles = int(pixel_pass_cycles(ends, image.rows, bool(a.sweep_overlap), a.mac_drain,
                                       a.pixel_restart)[0])
        self.count_actions(actions, image, summed, 0, pes, batch)
        actions["act_read"] += reads * pes * batch
        # count_actions priced one sweep per pass; a pixel-pass sweeps once per pixel
        swept = image.rows * pes * batch * (len(pixels) - 1)
        for name in ("acc_read", "acc_write"):
            actions[name] += swept
        actions["bias_read"] += swept
        actions["act_write"] += swept
        return PassRun(summed, macs, np.full(batch, cycles, np.int64), ideal,
                       np.full(batch, padding, np.int64))

    @staticmethod
    def pixel_schedules(a, image: PassImage):
        """Per output pixel: (its schedule, its group reads, its padding positions)."""
        cache, out = {}, []
        for gaps, trailing, reads, padding in binary_window_items(image.geometry, a.pes,
                                                                  a.line_bits, image.planes):
            key = (gaps.tobytes(), trailing)
            if key not in cache:
                cache[key] = schedule_binary_items(gaps, a.pes, image.rows, a.fifo_depth,
                                                   lookahead=bool(a.bounds_lookahead),
                                                   trailing=trailing, **pipeline(a))
            out.append((cache[key], reads, padding))
        return out

    def datapath(self, program, image, source):
        """Every pixel's outputs [batch, P, rows · pes] and saturations [batch]."""
        a = program.arch
        w = image.windows
        patches = gather(np.asarray(source, np.int64), w)                   # [batch, P, columns]
        dot = wrap(binary_window_dot(patches, w.index >= 0, image.weights.astype(np.int64),
                                     image.planes), a.acc_bits)
        batch, pixels = source.shape[0], w.index.shape[0]
        if image.binarize:
            return binarize(dot, image.bias, image.shift), np.zeros(batch, np.int64)
        args = (dot, image.bias, image.shift, False, a.acc_bits, a.act_bits)
        saturated = clipped(*args).reshape(batch * pixels)
        return requantize(*args), saturated.reshape(batch, pixels).sum(axis=1)

    place = ConvPasses.place


#: the simulator's half of every kind, by descriptor code
SIM_KINDS: dict[int, SimKind] = {kind.code: kind for kind in (SparsePasses(), BinaryPasses(),
                                                               ConvPasses(), BinaryConvPasses())}
