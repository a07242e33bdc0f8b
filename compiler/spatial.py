"""Spatial tiling (docs/conv.md "Spatial tiling"): a conv network whose leading feature maps
exceed the activation banks runs those layers (the *segment*) tile by tile, in stages.

Each tile is a crop of its stage's input map, halo included, run through the stage's layers as
an ordinary program: the same weights, the same fixed-point formats, only the maps' heights and
widths change. A layer of a tile pads its crop as it pads the whole map, so near a crop's edge
that is not the image's edge its outputs are wrong; the wrong band grows by the receptive field
layer by layer, and the host keeps only the outputs it knows are right, which by construction
tile the stage's output map exactly. The host stitches them; the next stage crops the stitched
map, and the rest of the network (the *tail*) runs on the last one as one program. Every rung
runs the tile programs and the tail as it runs any program (``hw/tiled.py``: the artifact); the
stitched outputs equal the untiled network's bit for bit.

Crops start at multiples of their stage's strides' product, so every layer's pixel grid lines up
with the whole map's; tiles of one shape share one program. The planning here: ``axis_window``
and ``plan_axis`` along one axis, ``plan_tiles`` for a stage, ``plan_stages`` for the cuts.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np

from zeroskip.compiler.conv import WindowedIR, lower_layers, with_row_passes
from zeroskip.compiler.ir import CompileIR
from zeroskip.compiler import passes
from zeroskip.compiler.passes import bank_problem, check_inputs, check_layers, to_ir
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig, load_arch
from zeroskip.hw.conv import fm_stride
from zeroskip.hw.program import Program
from zeroskip.hw.tiled import Stage, TiledProgram


# -- one axis -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AxisWindow:
    """What a crop ``[lo, hi)`` of the input along one axis becomes through the segment."""

    sizes: tuple            #: the crop's length at every layer's input, then at the output
    out_lo: int             #: the output coordinate of the crop's first output
    valid: tuple            #: (start, end): the outputs that equal the whole map's


def axis_window(layers, lo: int, hi: int) -> AxisWindow | None:
    """Follow the crop ``[lo, hi)`` through ``layers`` (kernel, stride, pad, full input length)
    along one axis; None when a layer's grid does not line up with the whole map's or nothing
    of the crop stays right. An output is right when every input its window reads is right or
    the whole map's own padding: a crop pads where the image goes on."""
    valid_lo, valid_hi, sizes = lo, hi, [hi - lo]
    for kernel, stride, pad, length in layers:
        count = (hi - lo + 2 * pad - kernel) // stride + 1
        if lo % stride or count < 1:
            return None
        start = lo + np.arange(count) * stride - pad
        ok = ((valid_lo == 0) | (start >= valid_lo)) & ((valid_hi == length) |
                                                         (start + kernel <= valid_hi))
        right = np.flatnonzero(ok)
        if not len(right):
            return None
        lo = lo // stride
        hi = lo + count
        valid_lo, valid_hi = lo + int(right[0]), lo + int(right[-1]) + 1
        sizes.append(count)
    return AxisWindow(tuple(sizes), lo, (valid_lo, valid_hi))


@dataclass(frozen=True)
class AxisTile:
    """One crop along an axis: input ``[lo, hi)``; it supplies the segment's outputs
    ``[keep_lo, keep_hi)`` (its own outputs from ``keep_lo − window.out_lo``)."""

    lo: int
    hi: int
    keep_lo: int
    keep_hi: int
    window: AxisWindow


def plan_axis(layers, length: int, size: int) -> list[AxisTile] | None:
    """Crops of at most ``size`` inputs covering one axis of the segment's output, each
    starting as late as the outputs before it allow (so the halos overlap no more than they
    must); None when crops of this size cannot cover it."""
    align = int(np.prod([stride for _, stride, _, _ in layers]))
    whole = axis_window(layers, 0, length)
    total = whole.valid[1]
    tiles, covered, lo = [], 0, 0
    while covered < total:
        window = axis_window(layers, lo, min(lo + size, length))
        if window is None or window.valid[0] > covered or window.valid[1] <= covered:
            return None
        tiles.append(AxisTile(lo, min(lo + size, length), covered, window.valid[1], window))
        covered = window.valid[1]
        if covered >= total:
            break
        # the latest aligned start whose right outputs still begin at or before ``covered``
        candidates = np.arange(lo + align, length, align)
        best = None
        low, high = 0, len(candidates) - 1
        while low <= high:
            middle = (low + high) // 2
            w = axis_window(layers, int(candidates[middle]),
                            min(int(candidates[middle]) + size, length))
            if w is not None and w.valid[0] <= covered:
                best, low = int(candidates[middle]), middle + 1
            else:
                high = middle - 1
        if best is None:
            return None
        lo = best
    return tiles


# -- the plan -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tile:
    """One tile: the crop of the input map, and where its right outputs go."""

    rows: AxisTile
    cols: AxisTile

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.hi - self.rows.lo, self.cols.hi - self.cols.lo

    def to_json(self, program: str) -> dict:
        def axis(t: AxisTile) -> dict:
            return {"crop": [t.lo, t.hi], "keep": [t.keep_lo, t.keep_hi],
                    "from": t.keep_lo - t.window.out_lo, "out": t.window.sizes[-1]}
        return {"program": program, "rows": axis(self.rows), "cols": axis(self.cols)}


def segment_end(irs: list, arch: ArchConfig) -> int:
    """How many leading layers must run tile by tile: up to the last whose input or output does
    not fit the activation banks (0: none). Only the windowed layers of a plain chain can."""
    over = [i for i, ir in enumerate(irs) if bank_problem(ir, arch)]
    if not over:
        return 0
    end = over[-1] + 1
    for index, ir in enumerate(irs[:end]):
        problem = bank_problem(ir, arch) or bank_problem(irs[over[0]], arch)
        if not isinstance(ir, WindowedIR):
            kind = "fully-connected" if getattr(ir, "geometry", None) is None else type(ir).__name__
            raise ZeroskipError(f"layer {index} ({ir.name}): {problem}; only conv and pool layers "
                                f"can be tiled over space, and this is a {kind} layer")
        g = ir.geometry
        if g.channel_base or g.out_stride != fm_stride(g.out_channels, arch.pes):
            raise ZeroskipError(f"layer {index} ({ir.name}): {problem}; it writes beside a value "
                                "resting in its bank (a graph's concat or shortcut), which is "
                                "not tiled over space")
    return end


def plan_tiles(segment: list, arch: ArchConfig, first_index: int = 0) -> tuple[list[Tile], float]:
    """The tiles of one stage's layers (their full geometries; layer ``first_index`` first): the
    crop shape that fits the activation banks at every layer and costs the fewest MACs with its
    halos, then the crops; and those MACs (an output pixel's non-zero weights, summed)."""
    first = segment[0].geometry
    rows = [(ir.geometry.kernel, ir.geometry.stride, ir.geometry.pad, ir.geometry.in_height)
            for ir in segment]
    cols = [(ir.geometry.kernel, ir.geometry.stride, ir.geometry.pad, ir.geometry.in_width)
            for ir in segment]
    in_strides = [ir.geometry.in_stride for ir in segment]
    out_stride = segment[-1].geometry.out_stride
    # the work of one output pixel: its non-zero weights (a binary conv: its weight bits)
    weights = np.array([np.count_nonzero(ir.codes) if hasattr(ir, "codes") else ir.weights.size
                        for ir in segment], np.float64)

    def plans(layers, length):
        return {size: plan_axis(layers, length, size) for size in range(1, length + 1)}

    row_plans, col_plans = plans(rows, first.in_height), plans(cols, first.in_width)

    def largest(tiles):      # the crop's lengths at every layer (the first tile is the longest)
        return np.array([max(t.window.sizes[i] for t in tiles)
                         for i in range(len(segment) + 1)])

    def fits(height, width):
        vectors = height[:-1] * width[:-1] * np.array(in_strides)
        return bool(np.all(vectors <= arch.max_vector)) and \
            height[-1] * width[-1] * out_stride <= arch.max_vector

    best, best_cost = None, None
    for h_size, h_tiles in row_plans.items():
        if h_tiles is None:
            continue
        height = largest(h_tiles)
        fitting = [w for w, t in col_plans.items() if t is not None and fits(height, largest(t))]
        if not fitting:
            continue
        w_tiles = col_plans[max(fitting)]
        out_h = np.sum([t.window.sizes[1:] for t in h_tiles], axis=0)
        out_w = np.sum([t.window.sizes[1:] for t in w_tiles], axis=0)
        cost = (float(np.sum(weights * out_h * out_w)), len(h_tiles) * len(w_tiles))
        if best_cost is None or cost < best_cost:
            best, best_cost = (h_tiles, w_tiles), cost
    if best is None:
        raise ZeroskipError(f"layer {first_index} ({segment[0].name}): no tile of its "
                            f"{first.in_height}x{first.in_width} input map fits the array's "
                            f"act_depth x pes = {arch.max_vector} at every layer up to layer "
                            f"{first_index + len(segment) - 1}; raise --act-depth or use more "
                            "PEs (--pes)")
    return [Tile(r, c) for r in best[0] for c in best[1]], best_cost[0]


def plan_stages(irs: list, end: int, arch: ArchConfig) -> list[tuple[int, int, list[Tile]]]:
    """Layers ``0 .. end − 1`` cut into stages, each tiled on its own with the host stitching
    its output map whole before the next: the cuts that cost the fewest MACs, halos included
    (then the fewest stages). A stage's crops recompute its halo through every one of its
    layers, so a deep stage can cost more than two shallow ones. Returns (first, end, tiles)
    per stage."""
    best: dict[int, tuple] = {0: (0.0, 0, [])}
    failure = None            # the shortest stage ending at ``end`` that no crop fits
    for stop in range(1, end + 1):
        for begin in range(stop):
            if begin not in best:
                continue
            try:
                tiles, cost = plan_tiles(irs[begin:stop], arch, begin)
            except ZeroskipError as error:
                failure = error
                continue
            macs, stages, plan = best[begin]
            candidate = (macs + cost, stages + 1, plan + [(begin, stop, tiles)])
            if stop not in best or candidate[:2] < best[stop][:2]:
                best[stop] = candidate
    if end not in best:
        raise failure
    return best[end][2]


# -- compiling ----------------------------------------------------------------------------------

def compile_spatial(layers, arch: ArchConfig, calibration: np.ndarray | None = None,
                    balance: bool = False, input_frac: int | None = None,
                    block_pools: bool = False, row_passes: bool = False):
    """``compile_layers``, tiling over space where a map does not fit the activation banks:
    a ``Program`` when nothing needs tiling, else a ``TiledProgram``. The formats are the
    untiled network's (chosen on its calibration inputs), so the outputs are its own."""
    from zeroskip.compiler.flow import compile_layers

    arch = load_arch(arch)
    layers = list(layers)
    irs = lower_layers(layers, arch, to_ir, block_pools, row_passes=False)
    end = segment_end(irs, arch)
    if not end:
        return compile_layers(layers, arch, calibration=calibration, balance=balance,
                              input_frac=input_frac, block_pools=block_pools,
                              row_passes=row_passes)
    options = {"balance": bool(balance), "block_pools": bool(block_pools),
               "row_passes": bool(row_passes)}
    return tile_network(irs, end, arch, options, calibration=calibration, input_frac=input_frac)


def tile_network(irs: list, end: int, arch: ArchConfig, options: dict,
                 calibration: np.ndarray | None = None, input_frac: int | None = None,
                 output_positions=None, shared_fracs=()) -> "TiledProgram":
    """The layers ``irs`` (lowered, before the flow; the first ``end`` tiled over space, the
    rest the tail) → a ``TiledProgram``: ``validate`` without the bank check and ``quantize``
    on the whole, then the rest of the flow per stage's crop shape and for the tail.
    ``options``: the compile's (``balance``, ``row_passes``, ...); ``output_positions`` and
    ``shared_fracs`` a graph's (``zeroskip.compiler.graph``)."""
    import time

    start = time.perf_counter()
    balance = bool(options.get("balance"))
    segment, rest = irs[:end], irs[end:]
    if options.get("row_passes"):
        rest = with_row_passes(rest, arch)
    whole = CompileIR(arch=arch, layers=segment + rest, calibration=calibration,
                      input_frac=input_frac, balance=balance, shared_fracs=list(shared_fracs))
    check_inputs(check_layers(whole, banks=False))
    if rest:
        check_layers(CompileIR(arch=arch, layers=rest))
    passes.quantize(whole)
    options = dict(options, input_frac=None if input_frac is None else int(input_frac),
                   calibration=None if calibration is None
                   else int(np.atleast_2d(calibration).shape[0]))
    plan = plan_stages(segment, end, arch)
    stages = []
    for number, (first, stop, tiles) in enumerate(plan):
        prefix = f"stage{number + 1}-" if len(plan) > 1 else ""
        programs, names = {}, []
        for t in tiles:
            name = prefix + "tile-%dx%d" % t.shape
            if name not in programs:
                programs[name] = _numbered(first, stop, lambda: _tile_program(
                    segment[first:stop], t, arch, options))
            names.append(name)
        g_in, g_out = segment[first].geometry, segment[stop - 1].geometry
        stages.append(Stage(first, stop, (g_in.in_height, g_in.in_width, g_in.in_stride),
                            (g_out.out_height, g_out.out_width, g_out.out_stride),
                            [t.to_json(name) for t, name in zip(tiles, names)], programs))
    tail = None
    if rest:
        tail = _numbered(end, len(irs), lambda: _program(
            copy.deepcopy(rest), arch, options, balance=balance, output_positions=output_positions))
        _check_tail_reads(tail, end)
    elif output_positions is not None:
        raise ZeroskipError(f"layer {end - 1} ({segment[-1].name}): the network's output is part "
                            "of a map tiled over space; only a whole last map can be")
    return TiledProgram(arch, [ir.info() for ir in whole.layers], stages, tail,
                        {"compiler": dict(options, spatial_tiles=sum(len(s.tiles) for s in stages),
                                          stages=len(stages),
                                          seconds=round(time.perf_counter() - start, 3))})


def _numbered(first: int, end: int, make):
    """``make()``, a part of a tiled program; its one-line error says which of the network's
    layers the part's own numbers (from 0) are."""
    try:
        return make()
    except ZeroskipError as error:
        if not first:
            raise
        raise ZeroskipError(f"layers {first}..{end - 1}, compiled apart (tiled over space; "
                            f"numbered from 0 below): {error}") from None


def _check_tail_reads(tail: Program, end: int) -> None:
    """The tail runs on the stitched map alone: a layer of it that reads a value the tiled
    layers left resting in a bank (a graph's shortcut) cannot (hw/reference.py names it)."""
    from zeroskip.hw.reference import predict_int

    try:
        predict_int(tail, np.zeros((1, tail.in_len), np.int64))
    except ZeroskipError as error:
        raise ZeroskipError(f"layer {end} and after, tiled over space: {error} (a value the "
                            "tiled layers leave resting in a bank cannot cross into the rest)") \
            from None


def _tile_program(layers: list, t: Tile, arch: ArchConfig, options: dict) -> Program:
    """A stage's layers over one crop shape: each geometry's map shrunk to the crop's; with
    ``row_passes``, a depthwise conv of the crop as row passes where it applies."""
    irs = copy.deepcopy(layers)
    for index, ir in enumerate(irs):
        ir.geometry = dataclasses.replace(ir.geometry,
                                          in_height=t.rows.window.sizes[index],
                                          in_width=t.cols.window.sizes[index])
        if options.get("row_passes"):
            irs[index] = _as_row_passes(ir, arch) or ir
    program = _program(irs, arch, options)
    program.meta["spatial_tile"] = {"shape": list(t.shape)}
    return program


def _as_row_passes(ir, arch: ArchConfig):
    """``conv.row_conv`` of a layer whose formats are chosen: the same formats, its bias at
    the accumulator's scale laid out as ``row_conv`` lays out the bias (one copy per output
    column); None where row passes do not apply."""
    from zeroskip.compiler.conv import _per_channel, row_conv

    if not _per_channel(ir):
        return None
    rows = row_conv(ir, arch)
    if rows is None:
        return None
    g = ir.geometry
    bias_q = np.zeros((g.out_width, g.out_stride), np.int64)
    bias_q[:, :g.out_channels] = ir.bias_q
    rows.in_frac, rows.w_frac, rows.out_frac = ir.in_frac, ir.w_frac, ir.out_frac
    rows.codebook_q, rows.bias_q = ir.codebook_q, bias_q.reshape(-1)
    return rows


def _program(irs: list, arch: ArchConfig, options: dict, balance: bool = False,
             output_positions=None) -> Program:
    """The flow after ``quantize`` for layers whose formats are chosen."""
    ir = CompileIR(arch=arch, layers=irs, balance=balance, output_positions=output_positions)
    ir.meta["compiler"] = dict(options)
    for step in (check_layers, passes.balance, passes.partition, passes.tile,
                 passes.encode, passes.pack_images, passes.emit):
        ir = step(ir)
    return ir.program


def random_tiled_layers(arch: ArchConfig, seed: int, batch: int = 2, binary: bool = False):
    """A seeded random conv network whose first maps exceed ``arch``'s activation banks but whose
    tiles fit, and float inputs. Sparse (``random_conv_layers``: kernels 1, 3 and 5, strides 1
    and 2, padding, a depthwise conv, a max pool, an FC head, each at random) or, with
    ``binary``, a folded binary conv net (``binary_conv_net``: bit planes or bipolar inputs,
    pools of the signs, a binary dense head). Returns ``(layers, x, note)``. For tests and
    benchmarks."""
    rng = np.random.default_rng([seed, 17])
    for _ in range(50):
        channels = int(rng.integers(1, 5))
        side = int(np.ceil(np.sqrt(arch.max_vector / channels)))
        height, width = side + int(rng.integers(1, 6)), side + int(rng.integers(1, 6))
        draw = _random_binary_net if binary else _random_sparse_net
        try:
            layers, x, what = draw(rng, arch, seed, height, width, channels, batch)
            if isinstance(compile_spatial(layers, arch, calibration=x), TiledProgram):
                return layers, x, f"seed {seed} {arch.name} tiled {height}x{width}x{channels} {what}"
        except (ZeroskipError, ValueError):      # a map smaller than a later window or pool
            continue
    raise ZeroskipError(f"seed {seed}: no tiled conv network fits {arch.name}")


def _random_sparse_net(rng, arch, seed, height, width, channels, batch):
    from zeroskip.compiler.conv import random_conv_layers

    convs, c = [], channels
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.choice([1, 3, 5]))
        pad = int(rng.integers(0, k // 2 + 1)) if k > 1 else 0
        if rng.random() < 0.3:
            convs.append((c, k, int(rng.choice([1, 2])), pad, c))     # depthwise
        else:
            c = int(rng.integers(1, 2 * arch.pes + 2))
            convs.append((c, k, int(rng.choice([1, 2])), pad))
    pool = (2, 2) if rng.random() < 0.5 else None
    classes = int(rng.integers(2, 8)) if rng.random() < 0.7 else None
    density = float(rng.choice([0.3, 0.7, 1.0]))
    layers, x = random_conv_layers(arch, seed, height, width, channels, tuple(convs), pool,
                                   classes, density, batch, float(rng.uniform(0.3, 1.0)),
                                   bool(rng.random() < 0.8))
    return layers, x, f"{convs} pool {pool} fc {classes} density {density}"


def _random_binary_net(rng, arch, seed, height, width, channels, batch):
    from zeroskip.compiler.binary_conv import binary_conv_net, centre_thresholds
    from zeroskip.hw.fixedpoint import quantize_planes

    convs = []
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.choice([1, 3, 5]))
        pool = (2, 2) if rng.random() < 0.4 else None
        convs.append((int(rng.integers(1, 2 * arch.pes + 2)), k, int(rng.choice([1, 2])),
                      int(rng.integers(0, k)), pool))
    planes = min(int(rng.choice([0, 1, 4, 8])), arch.act_bits - 1)
    layers = binary_conv_net(rng, height, width, channels, convs,
                             dense=[int(rng.integers(2, 8))], planes=planes)
    x = rng.uniform(0.0 if planes else -1.0, 1.0, (batch, height * width * channels))
    x[rng.random(x.shape) < 0.3] = 0.0
    layers = centre_thresholds(rng, layers, quantize_planes(x, planes) if planes else x)
    return layers, x, f"binary {convs} planes {planes}"
