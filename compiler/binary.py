"""Binary (XNOR / BWN) layers: a folded binary layer → binary passes on the same PE array.

docs/binary-mode.md is the specification. A ``FoldedLayer`` of ``zeroskip.models.binary_fold`` (weight
bits, ``input_bits``, integer thresholds + flip, or the last layer's float scale/offset) becomes
a ``BinaryLayerIR``; the compiler's passes place it like a sparse layer (row i → PE i mod N, row
tiles of ``acc_depth``) but store its weights as bit lines (``program.pack_binary_lines``) after
every sparse entry in the sparse memory, and its thresholds as bias words
(``fixedpoint.threshold_word``).

Fixed point: a binary layer's dot product is an integer whatever scale its input had, so the
layer takes ``in_frac`` = the previous boundary's ``out_frac`` (the chain stays consistent) and
``w_frac = −in_frac`` (the accumulator is at scale 0). A binarising layer writes ±2^0 = ±1
(``out_frac = 0``); an integer-output layer writes the dot itself (``out_frac = 0``, shift 0),
which must fit ``act_bits``.

Binary convolutions (``zeroskip.compiler.binary_conv``) are binary layers whose passes run per
output pixel; the kind's differences (columns, chunks, lines, descriptor fields, spare rows) are
the methods below that ``BinaryConvLayerIR`` overrides.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from zeroskip.compiler.encode import ceil_div
from zeroskip.compiler.quantize import quantized_input
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.fixedpoint import (binarize, binary_dot, binary_dot_bound, quantize_planes,
                                    requant_shift, requantize, signed_range, threshold_word, wrap)
from zeroskip.models.binary_fold import FoldedLayer
from zeroskip.models.binary_ref import check_layer
from zeroskip.hw.program import (KIND_BINARY, LayerInfo, Pass, binary_chunks, field_max,
                                 pack_binary_lines)

#: output shift of binarising layers: outputs are ±2^BINARY_OUT_FRAC (±1)
BINARY_OUT_FRAC = 0

#: the descriptor's ``planes`` field width bounds the input bit planes
MAX_PLANES = field_max("planes")


@dataclass
class BinaryLayerIR:
    """One binary layer on its way to the array (the counterpart of ``LayerIR``)."""

    name: str
    weights: np.ndarray               #: bool [out, in], True = +1; columns in array order
    planes: int                       #: 0 = bipolar input bits, b = b unsigned bit planes
    thresholds: np.ndarray | None     #: int64 [out] (binarising) or None (integer output)
    flip: np.ndarray | None           #: bool [out]: dot <= T instead of dot >= T
    scale: np.ndarray | None = None   #: float64 [out], integer output only: host-side affine
    offset: np.ndarray | None = None
    relu: bool = False
    kind: int = KIND_BINARY
    #: columns that read a map's spare channels (``spread_columns``): weight bit 1, each adding
    #: +1 to the dot, taken back by the thresholds (or the bias of integer outputs)
    spare_columns: int = 0
    # -- quantize
    in_frac: int | None = None
    w_frac: int | None = None
    out_frac: int | None = None
    bias_q: np.ndarray | None = None  #: int64 [out]: threshold words, or 0 (integer output)
    # -- the passes shared with sparse layers
    row_order: np.ndarray | None = None   #: binary rows stay in order (every row has equal work)
    local_rows: np.ndarray | None = None
    tile_rows: list[int] = field(default_factory=list)
    first_pass: int = 0
    encoded: None = None                  #: binary layers have no sparse entries

    @property
    def binarize(self) -> bool:
        return self.thresholds is not None

    @property
    def out_len(self) -> int:
        return self.weights.shape[0]

    @property
    def in_len(self) -> int:
        return self.weights.shape[1]

    vector_in = in_len          #: the input vector's length (as ``LayerIR.vector_in``)
    vector_out = out_len

    @property
    def shift(self) -> int:
        return requant_shift(self.in_frac, self.w_frac, self.out_frac)

    @property
    def input_bound(self) -> int:
        """Largest input magnitude the arithmetic sees: 1 (bits) or 2^planes − 1."""
        return (1 << self.planes) - 1 if self.planes else 1

    @property
    def dot_bound(self) -> int:
        """|dot| ≤ this for every input (what the accumulator holds, spare columns included)."""
        return binary_dot_bound(self.in_len, self.planes)

    @property
    def output_bound(self) -> int:
        """|integer output| ≤ this: the model's own fan-in (the spare columns' +1s are taken
        back by the bias)."""
        return binary_dot_bound(self.in_len - self.spare_columns, self.planes)

    # -- what differs between binary kinds: columns, chunks, lines, descriptor fields ----------
    @property
    def pass_in_len(self) -> int:
        """The descriptor's ``in_len``: the input vector's length."""
        return self.in_len

    def weight_chunks(self, arch: ArchConfig) -> int:
        """Weight chunks per row of a pass (each ``rows`` lines)."""
        return binary_chunks(self.in_len, arch)

    def pass_fields(self, pes: int) -> dict:
        """Descriptor fields beyond a binary pass's (none)."""
        return {}

    def pack_tile(self, weights: np.ndarray, rows: int, arch: ArchConfig) -> np.ndarray:
        """One PE's weight bits of one pass [local rows, in] → its lines."""
        return pack_binary_lines(weights, rows, arch)

    def threshold_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Thresholds and flips of every row the passes write (binarising layers)."""
        return self.thresholds, self.flip

    def bias_words(self) -> np.ndarray:
        """The bias word of every row the passes write: threshold words, or the integer output's
        correction for the spare columns."""
        if self.binarize:
            return threshold_word(*self.threshold_rows())
        return np.full(self.out_len, -self.spare_columns, dtype=np.int64)

    def outputs(self, xq: np.ndarray, arch: ArchConfig) -> np.ndarray:
        """The next boundary's integer activations for integer inputs ``xq`` (calibration)."""
        dot = wrap(binary_dot(xq, self.weights, self.planes), arch.acc_bits)
        return binary_outputs(self, dot, arch)

    def spread_columns(self, where: np.ndarray, width: int) -> None:
        """Read a map at its stride: column j moves to ``where[j]`` of ``width`` columns. The
        columns left over read the map's spare channels, which hold 0 (a pool's, a sparse
        conv's) or +1 (a binary conv's): bit 1 either way. They get weight bit 1, so each adds
        exactly +1, and the thresholds rise by their number (integer outputs: the bias takes
        it back), so no output changes."""
        weights = np.ones((self.out_len, width), dtype=bool)
        weights[:, where] = self.weights
        spare = width - len(where)
        self.weights, self.spare_columns = weights, self.spare_columns + spare
        if self.thresholds is not None:
            self.thresholds = self.thresholds + spare

    # -- the compiler's half of the binary kind: what each pass asks of a layer ----------------
    def check(self, ir, index: int) -> None:
        check_binary_layer(ir, index)

    def input_activations(self, ir, in_frac: int, x_range: float):
        if self.planes:                                 # unsigned integer inputs
            return planes_input(ir)
        return quantized_input(ir, in_frac, x_range)

    def choose_formats(self, index: int, xq, in_frac: int, arch: ArchConfig, calibrated: bool):
        return binary_formats(self, xq, in_frac, arch, calibrated)

    def row_work(self) -> None:
        """Every row has the same work: rows stay in order."""
        return None

    def encode(self, arch: ArchConfig) -> None:
        """Weight bits, not entries: ``tail_lines`` packs them."""

    def plan_passes(self, index: int, arch: ArchConfig, used) -> list[Pass]:
        passes = binary_passes(self, index, arch, used.bias, used.tail_lines)
        used.bias += sum(self.tile_rows)
        used.tail_lines += sum(pass_lines(self, arch))
        return passes

    def stream_entries(self, pes: int) -> np.ndarray:
        return np.zeros((len(self.tile_rows), pes), dtype=np.int64)

    def write_streams(self, streams, passes: list[Pass], base) -> None:
        """No entries, no pointers."""

    def tail_lines(self, arch: ArchConfig) -> np.ndarray:
        return binary_lines(self, arch)

    def relocate(self, passes: list[Pass], entry_lines: int) -> None:
        """The weight lines follow the entry streams' ``entry_lines`` lines."""
        for p in passes:
            p.line_base += entry_lines

    def codebook_row(self, arch: ArchConfig) -> np.ndarray:
        return np.zeros(arch.codebook_size, dtype=np.int64)     # binary layers have no codebook

    def info(self) -> LayerInfo:
        return LayerInfo(in_len=self.in_len, out_len=self.out_len, relu=False,
                         in_frac=self.in_frac, w_frac=self.w_frac, out_frac=self.out_frac,
                         kind=self.kind, planes=self.planes, binarize=self.binarize,
                         name=self.name)

    def meta(self, arch: ArchConfig) -> dict:
        return layer_meta(self, arch)

    def output_affine(self) -> dict | None:
        """Integer scores: the host ranks ``scale · dot + offset`` per class."""
        return None if self.binarize else output_affine(self)

    def permute(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> None:
        """New column ``j`` = old column ``cols[j]`` (the previous layer's rows were reordered)."""
        if rows is not None:
            raise ZeroskipError(f"layer {self.name}: binary layers keep their row order")
        if cols is not None:
            self.weights = self.weights[:, cols]


def binary_layer_ir(layer, index: int, ir_class=None) -> BinaryLayerIR:
    """A ``FoldedLayer``-like object → checked ``BinaryLayerIR`` (architecture-free checks, by
    the models' own validator). A convolution needs the map it reads, so only
    ``binary_conv.binary_conv_irs`` (``ir_class`` its IR) lowers one."""
    where = f"layer {index}"
    conv, pool = getattr(layer, "conv", None), getattr(layer, "pool", None)
    if conv is not None and ir_class is None:
        raise ZeroskipError(f"{where} ({getattr(layer, 'name', '')}): a binary convolution is "
                            "lowered with the map it reads (compile the whole model)")
    weights = np.asarray(layer.weights)
    if weights.ndim != 2 or weights.size == 0:
        raise ZeroskipError(f"{where}: binary weights must be a non-empty 2-D [out, in] array, "
                            f"got shape {weights.shape}")
    if weights.dtype != bool:
        if weights.dtype.kind not in "iu" or not np.isin(weights, (0, 1)).all():
            raise ZeroskipError(f"{where}: binary weights must be booleans (True = +1)")
        weights = weights.astype(bool)
    planes = layer.input_bits
    if not isinstance(planes, (int, np.integer)) or isinstance(planes, bool) or not 0 <= planes <= MAX_PLANES:
        raise ZeroskipError(f"{where}: input_bits {planes!r}: a binary pass reads 0 (bipolar) to "
                            f"{MAX_PLANES} input bit planes")
    def values(name, dtype=None):
        value = getattr(layer, name, None)
        return None if value is None else np.asarray(value, dtype=dtype)

    label = str(index) if conv is None else f"{index} ({getattr(layer, 'name', '')})"
    folded = FoldedLayer(name=label, weights=weights, input_bits=int(planes),
                         thresholds=values("thresholds"), flip=values("flip"),
                         scale=values("scale", np.float64), offset=values("offset", np.float64),
                         conv=None if conv is None else tuple(conv),
                         pool=None if pool is None else tuple(pool))
    check_layer(folded)                     # the models' own validator of a folded layer
    ir = (ir_class or BinaryLayerIR)(name=str(getattr(layer, "name", "") or f"layer{index}"),
                                     weights=weights, planes=int(planes), thresholds=None,
                                     flip=None)
    if folded.binary_output:
        ir.thresholds, ir.flip = folded.thresholds.astype(np.int64), folded.flip.copy()
    else:
        ir.scale, ir.offset = folded.scale, folded.offset
    return ir


def check_binary_layer(ir, index: int) -> None:
    """Architecture and neighbour checks of binary layer ``index`` (the ``validate`` pass)."""
    a = ir.arch
    layer = ir.layers[index]
    where = f"layer {index}"
    if a.pes > a.line_bits:
        raise ZeroskipError(f"{where}: a binary pass needs pes <= line_bits, but the architecture "
                            f"has {a.pes} PEs and {a.line_bits}-bit lines")
    if layer.planes > a.act_bits - 1:
        raise ZeroskipError(f"{where}: {layer.planes}-bit unsigned inputs do not fit "
                            f"{a.act_bits}-bit signed activations")
    if index and layer.planes:
        raise ZeroskipError(f"{where}: only the first layer reads unsigned bit planes "
                            f"(input_bits {layer.planes}); later binary layers read bipolar bits")
    previous = ir.layers[index - 1] if index else None
    if previous is not None and previous.relu:
        raise ZeroskipError(f"{where}: reads the bits x >= 0 of layer {index - 1}'s ReLU outputs, "
                            f"which are all 1; give layer {index - 1} no activation")
    acc_high = signed_range(a.acc_bits)[1]
    if layer.dot_bound > acc_high:
        raise ZeroskipError(f"{where}: dot products up to ±{layer.dot_bound} overflow the "
                            f"{a.acc_bits}-bit accumulator")
    if layer.binarize:
        thresholds, flip = layer.threshold_rows()
        words = threshold_word(thresholds, flip)
        low, high = signed_range(a.acc_bits)
        if words.min() < low or words.max() > high:
            raise ZeroskipError(f"{where}: thresholds {thresholds.min()}.."
                                f"{thresholds.max()} do not fit {a.acc_bits}-bit threshold words")
    elif layer.output_bound > signed_range(a.act_bits)[1]:
        raise ZeroskipError(f"{where}: integer outputs up to ±{layer.output_bound} do not fit "
                            f"{a.act_bits}-bit activations (fan-in "
                            f"{layer.in_len - layer.spare_columns})")


def planes_input(ir) -> tuple[int, np.ndarray]:
    """``in_frac`` and the integer inputs (or their bound) of a first layer reading bit planes."""
    first = ir.layers[0]
    if ir.input_frac not in (None, 0):
        raise ZeroskipError(f"input_frac {ir.input_frac}: the first layer reads {first.planes}-bit "
                            f"unsigned integers from inputs in [0, 1] (input_frac 0)")
    if ir.calibration is not None:
        return 0, quantize_planes(ir.calibration, first.planes)
    return 0, np.full((1, first.vector_in), first.input_bound, dtype=np.int64)


def binary_formats(layer: BinaryLayerIR, xq: np.ndarray, in_frac: int, arch: ArchConfig,
                   calibrated: bool) -> tuple[np.ndarray, int]:
    """Fill in the layer's formats and bias words; return the next boundary's integer
    activations (calibrated) or their bound, and its ``frac``."""
    layer.in_frac, layer.w_frac = in_frac, -in_frac
    layer.out_frac = BINARY_OUT_FRAC if layer.binarize else 0
    layer.bias_q = layer.bias_words()
    if calibrated:
        out = layer.outputs(xq, arch)
    else:
        bound = (1 << layer.out_frac) if layer.binarize else layer.output_bound
        out = np.full((1, layer.vector_out), bound, dtype=np.int64)
    return out, layer.out_frac


def binary_outputs(layer: BinaryLayerIR, dot: np.ndarray, arch: ArchConfig) -> np.ndarray:
    """Dot products [..., rows] → the rows' outputs: thresholded to ±2^out_frac, or requantised
    with the layer's bias words (as the sweep does)."""
    bias = layer.bias_q[: dot.shape[-1]]
    if layer.binarize:
        return binarize(dot, bias, layer.out_frac)
    return requantize(dot, bias, layer.shift, False, arch.acc_bits, arch.act_bits)


# -- placement and packing -----------------------------------------------------------------------
def pass_lines(layer: BinaryLayerIR, arch: ArchConfig) -> list[int]:
    """Lines each pass (row tile) of the layer occupies in every PE: chunks × rows."""
    chunks = layer.weight_chunks(arch)
    return [chunks * rows for rows in layer.tile_rows]


def binary_passes(layer: BinaryLayerIR, index: int, arch: ArchConfig, bias_base: int,
                  line_base: int) -> list[Pass]:
    """The layer's pass descriptors; ``line_base`` counts from the first binary line (the packer
    adds the sparse lines in front)."""
    passes = []
    for tile, (rows, lines) in enumerate(zip(layer.tile_rows, pass_lines(layer, arch))):
        passes.append(Pass(kind=layer.kind, layer=index, in_len=layer.pass_in_len, rows=rows,
                           row_base=tile * arch.acc_depth, ptr_base=0, bias_base=bias_base,
                           shift=layer.out_frac if layer.binarize else layer.shift, relu=0,
                           last=int(tile == len(layer.tile_rows) - 1), planes=layer.planes,
                           binarize=int(layer.binarize), line_base=line_base,
                           **layer.pass_fields(arch.pes)))
        bias_base += rows
        line_base += lines
    return passes


def binary_lines(layer: BinaryLayerIR, arch: ArchConfig) -> np.ndarray:
    """uint64 [pes, lines]: every pass's weight lines, passes back to back, in every PE."""
    pes = arch.pes
    tallest = ceil_div(layer.out_len, pes)
    padded = np.zeros((tallest * pes, layer.in_len), dtype=bool)
    padded[: layer.out_len] = layer.weights
    per_pe = padded.reshape(tallest, pes, layer.in_len).transpose(1, 0, 2)   # [pe, local row, in]
    tiles = []
    for tile, rows in enumerate(layer.tile_rows):
        first = tile * arch.acc_depth
        tiles.append(np.stack([layer.pack_tile(per_pe[pe, first: first + rows], rows, arch)
                               for pe in range(pes)]))
    return np.concatenate(tiles, axis=1)


def layer_meta(layer: BinaryLayerIR, arch: ArchConfig) -> dict:
    """``program.meta["layers"]`` entry: the same keys as a sparse layer's where they apply.
    ``weights`` counts weight bits; ``busiest_pe_weights`` the busiest PE's bit-rows × items
    (its ideal cycles for the layer: the tallest PE's rows × planes × chunks)."""
    items = max(layer.planes, 1) * layer.weight_chunks(arch)
    return {"kind": "binary", "passes": len(layer.tile_rows), "lines": sum(pass_lines(layer, arch)),
            "entries": 0, "padding": 0,
            "weights": int(layer.out_len * (layer.in_len - layer.spare_columns)),
            "busiest_pe_weights": int(sum(layer.tile_rows) * items), "planes": layer.planes,
            "binarize": layer.binarize,
            "in_frac": layer.in_frac, "w_frac": layer.w_frac, "out_frac": layer.out_frac}


def output_affine(layer: BinaryLayerIR) -> dict:
    """The last layer's host-side float ``scale * dot + offset`` per class (ranks the classes)."""
    return {"scale": [float(v) for v in layer.scale], "offset": [float(v) for v in layer.offset]}


# -- model files -----------------------------------------------------------------------------------
def is_binary_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folded binary model written by ``zeroskip.models.binary_ref.save``."""
    from zeroskip.models.binary_ref import FORMATS

    try:
        with open(path, "rb") as f:
            if f.read(2) != b"PK":
                return False
        with np.load(path, allow_pickle=False) as data:
            return "format" in data.files and str(data["format"]) in FORMATS
    except (OSError, ValueError, zipfile.BadZipFile):
        return False       # the ordinary loader reports unreadable files
