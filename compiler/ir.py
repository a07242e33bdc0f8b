"""The compiler's intermediate representation: what the passes read and fill in.

A ``CompileIR`` holds the architecture, the options and one ``LayerIR`` per layer. Passes
(``zeroskip.compiler.passes``) are functions ``CompileIR -> CompileIR`` that each fill in one
concern: fixed-point formats, the row order, the partition and tiles, the encoded entry streams,
the memory images, and finally the ``Program``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zeroskip.compiler.encode import Encoded, encode_layer
from zeroskip.compiler.quantize import quantized_input, sparse_formats
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.fixedpoint import requant_shift
from zeroskip.hw.placement import slot_rows
from zeroskip.hw.program import KIND_SPARSE, LayerInfo, Pass, Program


@dataclass
class LayerIR:
    """One fully-connected layer on its way to the array."""

    codes: np.ndarray            #: int [out, in], 0 = pruned; rows/columns in array order once balanced
    codebook: np.ndarray         #: float64 [K], entry 0 == 0.0
    bias: np.ndarray             #: float64 [out], same row order as ``codes``
    relu: bool
    name: str = ""               #: the model's name for the layer (``fc1``, ...)
    # -- quantize
    in_frac: int | None = None
    w_frac: int | None = None
    out_frac: int | None = None
    codebook_q: np.ndarray | None = None   #: int64 [K] at ``w_frac``
    bias_q: np.ndarray | None = None       #: int64 [out] at ``in_frac + w_frac``
    # -- balance: array row h holds the model's row ``row_order[h]`` (None: identity)
    row_order: np.ndarray | None = None
    # -- partition / tile
    local_rows: np.ndarray | None = None   #: int [pes]: rows PE p holds
    tile_rows: list[int] = field(default_factory=list)   #: rows swept per pass (tallest PE)
    # -- encode
    encoded: Encoded | None = None
    # -- pack: index of this layer's first pass in the program
    first_pass: int = 0

    # -- the non-zero weights as (rows, cols, codes), computed once and kept through permutations
    _nonzero: tuple | None = field(default=None, repr=False)

    def nonzero(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and code of every non-zero weight (in no particular order)."""
        if self._nonzero is None:
            flat = np.flatnonzero(self.codes)
            values = self.codes.reshape(-1)[flat]
            if self.codes.size < 2 ** 31:                 # half the memory traffic downstream
                flat = flat.astype(np.int32)
            rows = flat // self.in_len
            self._nonzero = (rows, flat - rows * self.in_len, values)
        return self._nonzero

    def permute(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> None:
        """New row ``h`` = old row ``rows[h]``, new column ``j`` = old column ``cols[j]``."""
        if self._nonzero is not None:
            r, c, v = self._nonzero
            if rows is not None:
                r = np.argsort(rows)[r]
            if cols is not None:
                c = np.argsort(cols)[c]
            self._nonzero = (r, c, v)
        if rows is not None:
            self.codes = self.codes[rows]
            self.bias = self.bias[rows]
            if self.bias_q is not None:
                self.bias_q = self.bias_q[rows]
        if cols is not None:
            self.codes = self.codes[:, cols]

    @property
    def out_len(self) -> int:
        return self.codes.shape[0]

    @property
    def in_len(self) -> int:
        return self.codes.shape[1]

    @property
    def shift(self) -> int:
        return requant_shift(self.in_frac, self.w_frac, self.out_frac)

    @property
    def vector_in(self) -> int:
        """Length of the input vector the layer reads (a conv layer's: its feature map)."""
        return self.in_len

    @property
    def vector_out(self) -> int:
        """Length of the output vector the layer writes."""
        return self.out_len

    # -- the compiler's half of the sparse kind: what each pass asks of a layer ----------------
    kind = KIND_SPARSE
    #: the output map's channel where row 0 lands (a windowed layer writing beside a value that
    #: rests in its bank, zeroskip.compiler.graph); a vector's rows start at 0
    channel_base = 0
    #: ``quantize``: an upper bound on ``out_frac`` (layers whose outputs share a map share
    #: one scale, zeroskip.compiler.graph); None: the output range alone decides
    out_frac_cap: int | None = None

    def written(self, pes: int) -> np.ndarray:
        """``quantize``: bool [vector_out], the output positions the layer writes (the rest of
        its destination bank keeps what it held, hw/reference.py)."""
        return np.ones(self.vector_out, bool)

    def check(self, ir: "CompileIR", index: int) -> None:
        """``validate``: codes within the architecture's codebook (a longer codebook whose
        upper codes are unused is trimmed)."""
        a = ir.arch
        if len(self.codebook) > a.codebook_size:
            used = int(self.codes.max())
            if used >= a.codebook_size:
                need = int(used).bit_length()
                raise ZeroskipError(f"layer {index} ({self.name}): code {used} needs code_bits "
                                    f"{need} but the architecture's is {a.code_bits}; try "
                                    f"--code-bits {need} (with --run-bits or --line-bits so "
                                    f"that line_bits stays a multiple of code_bits + run_bits)")
            self.codebook = self.codebook[: a.codebook_size]

    def input_activations(self, ir: "CompileIR", in_frac: int, x_range: float):
        """``quantize``, first layer: the integer inputs (or their bound) and their frac."""
        return quantized_input(ir, in_frac, x_range)

    def choose_formats(self, index: int, xq: np.ndarray, in_frac: int, arch: ArchConfig,
                       calibrated: bool):
        """``quantize``: this layer's formats; the next boundary's activations and frac."""
        return sparse_formats(self, index, xq, in_frac, arch, calibrated)

    def row_work(self) -> np.ndarray | None:
        """``balance``: the work of each row (its non-zero weights)."""
        return np.bincount(self.nonzero()[0], minlength=self.out_len)

    def encode(self, arch: ArchConfig) -> None:
        """``encode``: the (tile, PE) column streams of (code, run) entries."""
        self.encoded = encode_layer(self.codes, arch.pes, arch.acc_depth, arch.max_run,
                                    self.nonzero())

    def plan_passes(self, index: int, arch: ArchConfig, used: "Allocation") -> list[Pass]:
        """``pack``: one pass per row tile, with ``in_len + 1`` pointers and ``rows`` bias words."""
        passes = []
        for tile, rows in enumerate(self.tile_rows):
            passes.append(Pass(kind=self.kind, layer=index, in_len=self.in_len, rows=rows,
                               row_base=tile * arch.acc_depth + self.channel_base // arch.pes,
                               ptr_base=used.pointers,
                               bias_base=used.bias, shift=self.shift, relu=int(self.relu),
                               last=int(tile == len(self.tile_rows) - 1)))
            used.pointers += self.in_len + 1
            used.bias += rows
        return passes

    def stream_entries(self, pes: int) -> np.ndarray:
        """int [tiles, pes]: entries each pass puts in each PE's entry stream."""
        return self.encoded.stream_entries

    def write_streams(self, streams: "Streams", passes: list[Pass], base: np.ndarray) -> None:
        """``pack``: copy the entries to their streams (``base`` [tiles, pes]: where each pass's
        entries start) and write each pass's column pointers."""
        enc, pes = self.encoded, streams.code.shape[0]
        sizes, starts = enc.stream_entries, enc.stream_starts
        for tile, p in enumerate(passes):
            for pe in range(pes):
                n, src, dst = int(sizes[tile, pe]), int(starts[tile, pe]), int(base[tile, pe])
                streams.code[pe, dst:dst + n] = enc.code[src:src + n]
                streams.run[pe, dst:dst + n] = enc.run[src:src + n]
            bounds = np.concatenate([np.zeros((pes, 1), np.int64),
                                     np.cumsum(enc.counts[tile], axis=1)], axis=1)
            streams.ptr[:, p.ptr_base: p.ptr_base + self.in_len + 1] = base[tile][:, None] + bounds

    def spread_columns(self, where: np.ndarray, width: int) -> None:
        """Read a map at its stride: column j moves to ``where[j]`` of ``width`` columns; the
        columns left over (the map's spare channels) have no weight."""
        codes = np.zeros((self.out_len, width), dtype=self.codes.dtype)
        codes[:, where] = self.codes
        self.codes, self._nonzero = codes, None

    def tail_lines(self, arch: ArchConfig) -> np.ndarray | None:
        """Lines stored after every entry stream (binary weight bits); sparse layers have none."""
        return None

    def codebook_row(self, arch: ArchConfig) -> np.ndarray:
        row = np.zeros(arch.codebook_size, dtype=np.int64)
        row[: len(self.codebook_q)] = self.codebook_q
        return row

    def info(self) -> LayerInfo:
        """``emit``: the layer as the program records it."""
        return LayerInfo(in_len=self.in_len, out_len=self.out_len, relu=self.relu,
                         in_frac=self.in_frac, w_frac=self.w_frac, out_frac=self.out_frac,
                         kind=self.kind, name=self.name)

    def meta(self, arch: ArchConfig) -> dict:
        """``emit``: ``program.meta["layers"]``: per pass the busiest PE's weights, summed (the
        ideal cycles for a dense input vector)."""
        enc = self.encoded
        return {"kind": "sparse", "passes": len(self.tile_rows), "entries": enc.entries,
                "padding": enc.padding, "weights": int(enc.useful.sum()),
                "busiest_pe_weights": int(enc.useful.max(axis=1).sum()),
                "in_frac": self.in_frac, "w_frac": self.w_frac, "out_frac": self.out_frac}

    def output_affine(self) -> dict | None:
        """The host-side float affine of the last layer's outputs, if the layer needs one."""
        return None


@dataclass
class Allocation:
    """What the passes packed so far use of the memories shared by all layers."""

    pointers: int = 0
    bias: int = 0
    tail_lines: int = 0       #: lines after the entry streams (binary weight bits)


@dataclass
class Streams:
    """The images ``pack`` fills in: per PE entry streams and pointers."""

    code: np.ndarray          #: uint16 [pes, entries]
    run: np.ndarray           #: uint16 [pes, entries]
    ptr: np.ndarray           #: int64 [pes, pointers]


def write_bias(bias: np.ndarray, layer, passes: list[Pass], pes: int) -> None:
    """Every pass's bias words (binary: threshold words), local row order, zero past the rows
    ``bias_q`` gives (the layer's rows; a binary conv's spare rows too)."""
    words = len(layer.bias_q)
    for p in passes:
        base = p.row_base - getattr(layer, "channel_base", 0) // pes
        rows = slot_rows(pes, base, p.rows).T                          # [pe, row] layer row
        inside = rows < words
        bias[:, p.bias_base: p.bias_base + p.rows] = np.where(
            inside, layer.bias_q[np.minimum(rows, words - 1)], 0)


@dataclass
class CompileIR:
    """Everything a compilation knows; passes fill it in step by step."""

    arch: ArchConfig
    layers: list[LayerIR]
    calibration: np.ndarray | None = None   #: float64 [batch, in] or None
    input_frac: int | None = None
    balance: bool = False
    meta: dict = field(default_factory=dict)
    #: where the model's output i lies in the last layer's output vector (a graph's output is
    #: some channels of its last map: ``zeroskip.compiler.graph``); None: output i is row i
    output_positions: np.ndarray | None = None
    #: groups of layer indices whose outputs share a feature map, so one ``out_frac``
    #: (``zeroskip.compiler.graph``: a value resting in its bank beside a later layer's output)
    shared_fracs: list = field(default_factory=list)
    # -- pack
    sparse: np.ndarray | None = None
    ptr: np.ndarray | None = None
    bias: np.ndarray | None = None
    codebook: np.ndarray | None = None
    passes: list = field(default_factory=list)
    # -- emit
    program: Program | None = None

    @property
    def output_index(self) -> np.ndarray | None:
        """Where the array leaves logical output i (the inverse of the last row order)."""
        order = self.layers[-1].row_order
        rows = None if order is None else np.argsort(order).astype(np.int64)
        if self.output_positions is None:
            return rows
        positions = np.asarray(self.output_positions, np.int64)
        return positions if rows is None else rows[positions]
