"""Layer kinds as the array sees them: how each kind's passes are decoded from the program's
images, and its reference arithmetic. The one program decoder (``decode_program``) serves the
reference and the cycle simulator alike.

A kind is a class with a ``code`` (the descriptor's ``kind`` field); ``KINDS`` maps codes to
kinds. Generic code never branches on a kind: it asks ``kind_of(code)`` and calls the method.
The compiler's half of a kind (IR, checks, formats, encoding) is its IR class
(``zeroskip.compiler``: ``ir.LayerIR``, ``conv.ConvLayerIR``, ``binary.BinaryLayerIR``,
``binary_conv.BinaryConvLayerIR``); the simulator's half (timing, actions, datapath) is in
``zeroskip.sim.kinds``. docs/architecture.md says where a new kind plugs in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.fixedpoint import (binarize, binary_dot, binary_window_dot, quantize, quantize_planes,
                                    requantize, wrap)
from zeroskip.hw.placement import slot_rows
from zeroskip.hw.conv import ConvGeometry, Windows, gather
from zeroskip.hw.fixedpoint import max_offset
from zeroskip.hw.program import (CONV_FIELDS, KIND_BINARY, KIND_BINARY_CONV, KIND_CONV, KIND_SPARSE,
                                 OP_MAC, OP_MAX, LayerInfo, Program, binary_chunks,
                                 binary_pass_chunks, column_count, unpack_binary_lines,
                                 unpack_binary_window_lines, unpack_lines)


@dataclass
class PassImage:
    """One pass as the array sees it, decoded from the images."""

    index: int
    layer: int
    kind: int
    in_len: int                #: the pass's columns (a conv pass: k·k·C)
    rows: int                  #: R: rows swept by the requantisation
    out_start: int             #: array-order index of the pass's first output (row_base · pes)
    row_start: int             #: the layer row of its first slot (out_start less channel_base)
    shift: int
    relu: bool
    bias: np.ndarray           #: int64 [rows · pes] bias (binary: threshold word) per slot
    valid_rows: np.ndarray     #: int64 [pes] rows of this pass inside the layer, per PE
    # sparse passes
    counts: np.ndarray | None = None     #: int64 [pes, in_len] entries per column, padding included
    padding: np.ndarray | None = None    #: int64 [pes, in_len] padding entries per column
    first_line: np.ndarray | None = None  #: int64 [pes, in_len] a column's first and last sparse
    last_line: np.ndarray | None = None   #: line (−1 for an empty column)
    column: np.ndarray | None = None     #: int64 [E] non-padding entries' input column, ascending
    target: np.ndarray | None = None     #: int64 [E] accumulator slot: local row r of PE p is r·pes+p
    code: np.ndarray | None = None       #: int64 [E] codebook index (1 ..)
    #: with ``padding_merge`` (docs/timing.md "Padding merge"): entries issued together with the
    #: entry before them, per column, and whether a column's last entry is one of them
    merged: np.ndarray | None = None     #: int64 [pes, in_len]
    merged_last: np.ndarray | None = None   #: int64 [pes, in_len] 0 or 1
    # binary passes (docs/binary-mode.md)
    planes: int = 0                      #: input bit planes (0: bipolar bits)
    binarize: bool = False               #: threshold to ±2^shift
    weights: np.ndarray | None = None    #: bool [rows · pes, in_len], True = +1
    # conv passes (docs/conv.md)
    geometry: ConvGeometry | None = None
    windows: Windows | None = None       #: the window of every output pixel
    out_step: int = 0                    #: local addresses per output pixel
    lanes: bool = False                  #: a lane pass (docs/timing.md "Lane passes")

    @property
    def lines(self) -> np.ndarray:
        """int64 [pes, in_len] sparse lines a column touches (0 for an empty one)."""
        return np.where(self.first_line >= 0, self.last_line - self.first_line + 1, 0)

    @property
    def macs(self) -> np.ndarray:
        """int64 [pes, in_len] non-padding entries per column."""
        return self.counts - self.padding

    @property
    def issues(self) -> np.ndarray:
        """int64 [pes, in_len] the cycles each column's entries take to issue."""
        return self.counts if self.merged is None else self.counts - self.merged

    @property
    def slots(self) -> int:
        return len(self.bias)


class LayerKind:
    """What every kind provides to the decoder and the reference."""

    code: int
    name: str

    def decode_pass(self, program: Program, index: int, entries) -> PassImage:
        raise NotImplementedError

    def layer_weights(self, program: Program, layer: int, images: list[PassImage]) -> np.ndarray:
        """The layer's weights [out, in] in array order, rebuilt from its pass images."""
        raise NotImplementedError

    def forward(self, program: Program, layer: LayerInfo, weights: np.ndarray, bias: np.ndarray,
                acts: np.ndarray) -> np.ndarray:
        """Reference arithmetic: integer activations [batch, in] → [batch, out]."""
        raise NotImplementedError

    def quantize_input(self, layer: LayerInfo, x: np.ndarray, act_bits: int) -> np.ndarray:
        """Float inputs → the integer activations a first layer of this kind reads."""
        return quantize(x, layer.in_frac, act_bits)

    def slots(self, layer: LayerInfo) -> int:
        """Rows whose weights and bias the reference needs: the layer's rows (kinds whose spare
        rows write data-dependent values say more)."""
        return layer.rows

    def written(self, program: Program, layer: LayerInfo) -> np.ndarray:
        """bool [out_len]: the output positions the layer writes into its destination bank
        (the others keep what earlier layers left there): all of them, or a windowed layer's
        channels from its ``channel_base``."""
        geometry = layer.geometry
        return geometry.written(program.arch.pes) if geometry else np.ones(layer.out_len, bool)


def _pass_bias(program: Program, index: int) -> np.ndarray:
    p = program.passes[index]
    bias = program.bias[:, p.bias_base: p.bias_base + p.rows]
    if bias.shape[1] != p.rows:
        raise ZeroskipError(f"program pass {index}: bias words beyond the bias image")
    return bias.T.reshape(-1).astype(np.int64)


def _row_base(program: Program, index: int) -> int:
    """The local row of the layer a pass's row 0 is: its ``row_base`` less the layer's output
    channel base (docs/conv.md, "Graphs"), which every pass of the layer adds."""
    p = program.passes[index]
    base = p.row_base - program.layers[p.layer].channel_base // program.arch.pes
    if base < 0:
        raise ZeroskipError(f"program pass {index}: row_base {p.row_base} is below its layer's "
                            f"output channel base")
    return base


def _valid_rows(program: Program, index: int) -> np.ndarray:
    p = program.passes[index]
    rows = slot_rows(program.arch.pes, _row_base(program, index), p.rows)   # [rows, pes] layer rows
    return (rows < program.layers[p.layer].rows).sum(axis=0).astype(np.int64)


def _out_place(program: Program, index: int) -> dict:
    """A pass image's ``out_start`` and ``row_start``."""
    pes = program.arch.pes
    return {"out_start": program.passes[index].row_base * pes,
            "row_start": _row_base(program, index) * pes}


def _ranges(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, e) for every pair, without a Python loop."""
    counts = (end - start).astype(np.int64)
    first = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(first - start, counts)


def _merges(entry: np.ndarray, segment: np.ndarray, code: np.ndarray, per_line: int,
             shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """docs/timing.md "Padding merge": walking a column's entries in order, an issued entry with
    code 0 takes the next entry with it when that one is in the same column and sparse line.
    ``entry``, ``segment``, ``code``: every entry of the pass (flat index, its (pe, column),
    its code), column by column. Returns per column the merged entries and whether the last
    entry is merged."""
    same = (segment[1:] == segment[:-1]) & (entry[1:] // per_line == entry[:-1] // per_line)
    candidate = np.append((code[:-1] == 0) & same, False)          # may take the next entry
    index = np.arange(len(entry))
    starts = candidate & ~np.concatenate([[False], candidate[:-1]])
    run_start = np.maximum.accumulate(np.where(starts, index, 0)) if len(entry) else index
    taker = candidate & ((index - run_start) % 2 == 0)             # issued, takes the next
    merged = np.concatenate([[False], taker[:-1]])
    cells = shape[0] * shape[1]
    per_column = np.bincount(segment, merged, minlength=cells).astype(np.int64)
    last = np.append(segment[1:] != segment[:-1], True) if len(entry) else index.astype(bool)
    tail = np.bincount(segment[last], merged[last], minlength=cells).astype(np.int64)
    return per_column.reshape(shape), tail.reshape(shape)


class SparseFC(LayerKind):
    """A pruned, weight-shared fully-connected layer: relative-index CSC entries per PE
    (docs/compiler.md), codebook × activation MACs, requantised (docs/fixed-point.md)."""

    code = KIND_SPARSE
    name = "sparse"

    def decode_pass(self, program: Program, index: int, entries) -> PassImage:
        a = program.arch
        pes, per_line = a.pes, a.entries_per_line
        codes_all, runs_all, is_padding, per_pe = entries
        p = program.passes[index]
        layer = program.layers[p.layer]
        columns = self.columns(p)
        bounds = program.ptr[:, p.ptr_base: p.ptr_base + columns + 1].astype(np.int64)
        if bounds.shape[1] != columns + 1:
            raise ZeroskipError(f"program pass {index}: column pointers beyond the pointer image")
        start, end = bounds[:, :-1], bounds[:, 1:]
        counts = end - start
        if np.any(counts < 0) or np.any(end > per_pe) or np.any(start < 0):
            raise ZeroskipError(f"program pass {index}: column pointers out of order or beyond "
                                f"the sparse image")
        flat_start = start + (np.arange(pes) * per_pe)[:, None]        # into the flat entry array
        flat_end = flat_start + counts
        padding = is_padding[flat_end] - is_padding[flat_start]
        first_line = np.where(counts > 0, start // per_line, -1)
        last_line = np.where(counts > 0, (end - 1) // per_line, -1)

        # every entry of the pass, PE by PE, column by column
        n = counts.reshape(-1)
        segment = np.repeat(np.arange(pes * columns, dtype=np.int32), n)   # (pe, column) of each
        if np.array_equal(start[:, 1:], end[:, :-1]):                     # columns back to back
            entry = _ranges(flat_start[:, 0], flat_end[:, -1])
        else:
            entry = _ranges(flat_start.reshape(-1), flat_end.reshape(-1))
        code, run = codes_all[entry], runs_all[entry]
        merged = merged_last = None
        if a.padding_merge:
            merged, merged_last = _merges(entry, segment, code, per_line, counts.shape)
        steps = run.astype(np.int32) + 1
        total = np.cumsum(steps, dtype=np.int64)
        first = np.cumsum(n) - n                                          # segment's first entry
        before = np.append(total - steps, 0)[first]                       # rows consumed before it
        row = total - before[segment] - 1
        keep = code != 0
        segment, row, code = segment[keep], row[keep], code[keep]
        column, pe = segment % columns, segment // columns
        if np.any(row >= p.rows) or np.any((_row_base(program, index) + row) * pes + pe >= layer.rows):
            raise ZeroskipError(f"program pass {index}: entries beyond the pass's rows")
        # stable sort by column (a radix sort when the columns fit 16 bits)
        order = np.argsort(column.astype(np.uint16) if columns <= 1 << 16 else column, kind="stable")
        return PassImage(
            index=index, layer=p.layer, kind=self.code, in_len=columns, rows=p.rows,
            **_out_place(program, index), shift=p.shift, relu=bool(p.relu),
            bias=_pass_bias(program, index), valid_rows=_valid_rows(program, index),
            counts=counts, padding=padding, first_line=first_line, last_line=last_line,
            column=column[order],
            target=(row * pes + pe)[order], code=code[order], merged=merged, merged_last=merged_last)

    def columns(self, p) -> int:
        """The pass's columns (and pointers less one)."""
        return column_count(p.kind, p.in_len, p.kernel)

    def layer_codes(self, program: Program, layer: int, images: list[PassImage]) -> np.ndarray:
        """The code matrix [rows, columns] (0 = no weight)."""
        info = program.layers[layer]
        codes = np.zeros((info.rows, info.columns), dtype=np.int64)
        for image in images:
            codes[image.row_start + image.target, image.column] = image.code
        return codes

    def layer_weights(self, program: Program, layer: int, images: list[PassImage]) -> np.ndarray:
        return program.codebook[layer][self.layer_codes(program, layer, images)]

    def forward(self, program, layer, weights, bias, acts):
        a = program.arch
        acc = wrap(acts @ weights.T, a.acc_bits)
        return requantize(acc, bias, layer.shift, layer.relu, a.acc_bits, a.act_bits)


class BinaryFC(LayerKind):
    """A binary (XNOR / BWN) fully-connected layer: weight bits in chunk-major lines, an
    xnor/and-popcount dot product, thresholded or requantised (docs/binary-mode.md)."""

    code = KIND_BINARY
    name = "binary"

    def decode_pass(self, program: Program, index: int, entries) -> PassImage:
        a = program.arch
        p = program.passes[index]
        n_lines = binary_chunks(p.in_len, a) * p.rows
        if p.line_base + n_lines > program.sparse.shape[1]:
            raise ZeroskipError(f"program pass {index}: binary weight lines beyond the sparse image")
        weights = np.zeros((p.rows, a.pes, p.in_len), dtype=bool)
        for pe in range(a.pes):
            weights[:, pe] = unpack_binary_lines(program.sparse[pe, p.line_base: p.line_base + n_lines],
                                                 p.rows, p.in_len, a)
        return PassImage(
            index=index, layer=p.layer, kind=self.code, in_len=p.in_len, rows=p.rows,
            **_out_place(program, index), shift=p.shift, relu=bool(p.relu),
            bias=_pass_bias(program, index), valid_rows=_valid_rows(program, index),
            planes=p.planes, binarize=bool(p.binarize),
            weights=weights.reshape(p.rows * a.pes, p.in_len))

    def layer_weights(self, program: Program, layer: int, images: list[PassImage]) -> np.ndarray:
        """The weight bits [slots, columns] (True = +1): [out, in], or a binary conv's
        [out_stride, k·k·C] with its spare rows."""
        info = program.layers[layer]
        rows = self.slots(info)
        weights = np.zeros((rows, info.columns), dtype=bool)
        for image in images:
            end = min(rows, image.row_start + image.slots)
            weights[image.row_start:end] = image.weights[: end - image.row_start]
        return weights

    def quantize_input(self, layer, x, act_bits):
        if layer.planes:                                # unsigned b-bit input planes
            return quantize_planes(x, layer.planes)
        return super().quantize_input(layer, x, act_bits)

    def forward(self, program, layer, weights, bias, acts):
        a = program.arch
        dot = wrap(binary_dot(acts, weights, layer.planes), a.acc_bits)
        if layer.binarize:
            return binarize(dot, bias, layer.out_frac)
        return requantize(dot, bias, layer.shift, False, a.acc_bits, a.act_bits)


class SparseConv(SparseFC):
    """A pruned, weight-shared convolution (or pooling) layer: the FC kind's entries over the
    k·k·C columns of the window, run once per output pixel (docs/conv.md)."""

    code = KIND_CONV
    name = "conv"

    def decode_pass(self, program: Program, index: int, entries) -> PassImage:
        p = program.passes[index]
        geometry = window_geometry(program, index)
        image = super().decode_pass(program, index, entries)
        image.geometry, image.out_step = geometry, p.out_step
        image.windows = geometry.windows(program.arch.pes)
        image.lanes = bool(p.lanes)
        if p.lanes:
            problem = lane_problem(program.arch, geometry, image.counts)
            if problem:
                raise ZeroskipError(f"program pass {index}: a lane pass, but {problem}")
        return image

    def forward(self, program, layer, weights, bias, acts):
        """Every output pixel's window times the weights (OP_MAX: the window's maximum per
        channel), requantised, written at its place in the output map; spare channels are 0."""
        a = program.arch
        g = layer.geometry
        windows = g.windows(a.pes)
        patches = gather(np.asarray(acts, np.int64), windows)               # [batch, P, columns]
        if g.op == OP_MAX:        # the window's activations inside the map; padding is no candidate
            seen = np.where(windows.index >= 0, patches + max_offset(a.act_bits), 0)
            acc = np.zeros(patches.shape[:2] + (g.out_channels,), np.int64)
            for row in range(g.out_channels):
                used = np.flatnonzero(weights[row] != 0)
                if len(used):
                    acc[..., row] = seen[..., used].max(axis=-1)
        else:
            acc = wrap(patches @ weights.T, a.acc_bits)
        y = requantize(acc, bias, layer.shift, layer.relu, a.acc_bits, a.act_bits)
        out = np.zeros((y.shape[0], g.pixels, g.out_stride), np.int64)
        out[..., g.channel_base: g.channel_base + g.out_channels] = y
        return out.reshape(y.shape[0], -1)


def column_lanes(geometry: ConvGeometry, pes: int) -> np.ndarray:
    """int64 [columns]: the lane (PE) of each window column's activation, ``c mod N``, the same
    for every output pixel when the input stride is a multiple of N (docs/timing.md "Lane
    passes")."""
    return np.tile(np.arange(geometry.in_channels) % pes, geometry.kernel ** 2)


def lane_problem(arch: ArchConfig, geometry: ConvGeometry, counts: np.ndarray) -> str | None:
    """Why a conv pass with these entries per PE and column [pes, columns] cannot run as a lane
    pass on ``arch``, or None."""
    if not arch.lane_passes:
        return "the architecture has no lane passes (lane_passes is 0)"
    if geometry.in_stride % arch.pes:
        return (f"its input stride {geometry.in_stride} is not a multiple of {arch.pes} PEs, so a "
                "channel's lane changes from pixel to pixel")
    lanes = column_lanes(geometry, arch.pes)
    stray = (counts > 0) & (np.arange(arch.pes)[:, None] != lanes[None, :])
    if stray.any():
        pe, column = (int(v[0]) for v in np.nonzero(stray))
        return f"column {column} has entries in PE {pe}, not in its lane's PE {int(lanes[column])}"
    return None


def window_geometry(program: Program, index: int) -> ConvGeometry:
    """A windowed pass's geometry, checked against its descriptor and its layer's."""
    p = program.passes[index]
    layer = program.layers[p.layer]
    fields = {name: getattr(p, name) for name in CONV_FIELDS}
    try:
        geometry = ConvGeometry.from_pass(fields, p.in_len, layer.rows, program.arch.pes,
                                          layer.channel_base)
    except ZeroskipError as error:
        raise ZeroskipError(f"program pass {index}: {error}") from None
    if geometry != layer.geometry:
        raise ZeroskipError(f"program pass {index}: its window disagrees with layer {p.layer}'s")
    return geometry


class BinaryConv(BinaryFC):
    """A binary convolution: a binary pass run once per output pixel over its window, each
    kernel position inside the map its ``ceil(C / line_bits)`` chunks, a position in the padding
    adding nothing (docs/binary-mode.md, "Binary conv passes")."""

    code = KIND_BINARY_CONV
    name = "binary-conv"

    def decode_pass(self, program: Program, index: int, entries) -> PassImage:
        a = program.arch
        p = program.passes[index]
        geometry = window_geometry(program, index)
        if geometry.op != OP_MAC:
            raise ZeroskipError(f"program pass {index}: a binary conv pass has no max pooling (op 0)")
        if p.lanes:
            raise ZeroskipError(f"program pass {index}: a binary conv pass is no lane pass (lanes 0)")
        if geometry.channel_base:
            raise ZeroskipError(f"program pass {index}: a binary conv pass writes its whole output "
                                f"stride (channel base 0)")
        n_lines = binary_pass_chunks(p.in_len, p.kernel, a) * p.rows
        if p.line_base + n_lines > program.sparse.shape[1]:
            raise ZeroskipError(f"program pass {index}: binary weight lines beyond the sparse image")
        columns = geometry.columns
        weights = np.zeros((p.rows, a.pes, columns), dtype=bool)
        for pe in range(a.pes):
            weights[:, pe] = unpack_binary_window_lines(
                program.sparse[pe, p.line_base: p.line_base + n_lines], p.rows, p.kernel, p.in_len, a)
        return PassImage(
            index=index, layer=p.layer, kind=self.code, in_len=columns, rows=p.rows,
            **_out_place(program, index), shift=p.shift, relu=bool(p.relu),
            bias=_pass_bias(program, index), valid_rows=_valid_rows(program, index),
            planes=p.planes, binarize=bool(p.binarize),
            weights=weights.reshape(p.rows * a.pes, columns),
            geometry=geometry, windows=geometry.windows(a.pes), out_step=p.out_step)

    def slots(self, layer: LayerInfo) -> int:
        """Every channel of the output stride: a spare row's zero weight bits still make a dot
        product of the window's bits, thresholded or requantised like any row."""
        return layer.out_stride

    def forward(self, program, layer, weights, bias, acts):
        """Every output pixel's window against the weight bits, thresholded or requantised, at
        its place in the output map (every channel of the stride)."""
        a = program.arch
        g = layer.geometry
        windows = g.windows(a.pes)
        patches = gather(np.asarray(acts, np.int64), windows)               # [batch, P, columns]
        dot = wrap(binary_window_dot(patches, windows.index >= 0, weights, layer.planes), a.acc_bits)
        if layer.binarize:
            y = binarize(dot, bias, layer.out_frac)
        else:
            y = requantize(dot, bias, layer.shift, False, a.acc_bits, a.act_bits)
        return y.reshape(y.shape[0], -1)


#: every kind, by its descriptor code
KINDS: dict[int, LayerKind] = {kind.code: kind for kind in (SparseFC(), BinaryFC(), SparseConv(),
                                                            BinaryConv())}


def kind_of(code: int, where: str = "program") -> LayerKind:
    try:
        return KINDS[int(code)]
    except (KeyError, TypeError, ValueError):
        raise ZeroskipError(f"{where}: layer kind {code!r} is unknown (known: "
                            f"{', '.join(f'{c} {k.name}' for c, k in KINDS.items())})") from None


class DecodedProgram:
    """Every pass of a program decoded once, and each layer's weights and biases rebuilt from
    them on first use. ``Program.decoded`` holds one (the program's images never change after
    compilation or loading)."""

    def __init__(self, program: Program):
        a = program.arch
        if program.sparse.shape[0] != a.pes or program.ptr.shape[0] != a.pes:
            raise ZeroskipError(f"program images are for {program.sparse.shape[0]} PEs, "
                                f"the architecture has {a.pes}")
        self.program = program
        codes, runs = unpack_lines(program.sparse.reshape(-1), a)
        entries = (codes, runs, np.concatenate([[0], np.cumsum(codes == 0)]),
                   program.sparse.shape[1] * a.entries_per_line)
        self.passes: list[PassImage] = []
        for index, p in enumerate(program.passes):
            if not 0 <= p.layer < len(program.layers):
                raise ZeroskipError(f"program pass {index}: layer {p.layer} does not exist")
            kind = kind_of(p.kind, where=f"program pass {index}")
            if kind.code != program.layers[p.layer].kind:
                raise ZeroskipError(f"program pass {index}: kind {p.kind} but its layer {p.layer} "
                                    f"is of kind {program.layers[p.layer].kind}")
            self.passes.append(kind.decode_pass(program, index, entries))
        self._weights: dict[int, np.ndarray] = {}
        self._bias: dict[int, np.ndarray] = {}

    def layer_passes(self, layer: int) -> list[PassImage]:
        return [image for image in self.passes if image.layer == layer]

    def kind(self, layer: int) -> LayerKind:
        return kind_of(self.program.layers[layer].kind)

    def weights(self, layer: int) -> np.ndarray:
        if layer not in self._weights:
            self._weights[layer] = self.kind(layer).layer_weights(self.program, layer,
                                                                  self.layer_passes(layer))
        return self._weights[layer]

    def bias(self, layer: int) -> np.ndarray:
        """Bias (binary: threshold words) [out] of a layer, in array order."""
        if layer not in self._bias:
            out_len = self.kind(layer).slots(self.program.layers[layer])
            bias = np.zeros(out_len, dtype=np.int64)
            for image in self.layer_passes(layer):
                end = min(out_len, image.row_start + image.slots)
                bias[image.row_start:end] = image.bias[: end - image.row_start]
            self._bias[layer] = bias
        return self._bias[layer]


def decode_layer(program: Program, layer: int) -> np.ndarray:
    """A sparse layer's code matrix [out, in] (0 = no weight), rebuilt from the images."""
    decoded = program.decoded
    return SparseFC().layer_codes(program, layer, decoded.layer_passes(layer))


def decode_binary_layer(program: Program, layer: int) -> np.ndarray:
    """A binary layer's weight bits [out, in] (True = +1), rebuilt from the images."""
    return program.decoded.weights(layer)
