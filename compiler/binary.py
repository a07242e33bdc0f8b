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
        """|dot| ≤ this for every input."""
        return binary_dot_bound(self.in_len, self.planes)

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


def binary_layer_ir(layer, index: int) -> BinaryLayerIR:
    """A ``FoldedLayer``-like object → checked ``BinaryLayerIR`` (architecture-free checks)."""
    where = f"layer {index}"
    if getattr(layer, "conv", None) is not None:
        raise ZeroskipError(f"{where} ({getattr(layer, 'name', '')}): binary convolutions are "
                            "not lowered onto the array yet (docs/binary.md, \"On the "
                            "array\"); the packed-bit reference runs them")
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

    folded = FoldedLayer(name=str(index), weights=weights, input_bits=int(planes),
                         thresholds=values("thresholds"), flip=values("flip"),
                         scale=values("scale", np.float64), offset=values("offset", np.float64))
    check_layer(folded)                     # the models' own validator of a folded layer
    ir = BinaryLayerIR(name=str(getattr(layer, "name", "") or f"layer{index}"), weights=weights,
                       planes=int(planes), thresholds=None, flip=None)
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
        words = threshold_word(layer.thresholds, layer.flip)
        low, high = signed_range(a.acc_bits)
        if words.min() < low or words.max() > high:
            raise ZeroskipError(f"{where}: thresholds {layer.thresholds.min()}.."
                                f"{layer.thresholds.max()} do not fit {a.acc_bits}-bit threshold words")
    elif layer.dot_bound > signed_range(a.act_bits)[1]:
        raise ZeroskipError(f"{where}: integer outputs up to ±{layer.dot_bound} do not fit "
                            f"{a.act_bits}-bit activations (fan-in {layer.in_len})")


def planes_input(ir) -> tuple[int, np.ndarray]:
    """``in_frac`` and the integer inputs (or their bound) of a first layer reading bit planes."""
    first = ir.layers[0]
    if ir.input_frac not in (None, 0):
        raise ZeroskipError(f"input_frac {ir.input_frac}: the first layer reads {first.planes}-bit "
                            f"unsigned integers from inputs in [0, 1] (input_frac 0)")
    if ir.calibration is not None:
        return 0, quantize_planes(ir.calibration, first.planes)
    return 0, np.full((1, first.in_len), first.input_bound, dtype=np.int64)


def binary_formats(layer: BinaryLayerIR, xq: np.ndarray, in_frac: int, arch: ArchConfig,
                   calibrated: bool) -> tuple[np.ndarray, int]:
    """Fill in the layer's formats and bias words; return the next boundary's integer
    activations (calibrated) or their bound, and its ``frac``."""
    layer.in_frac, layer.w_frac = in_frac, -in_frac
    layer.out_frac = BINARY_OUT_FRAC if layer.binarize else 0
    layer.bias_q = (threshold_word(layer.thresholds, layer.flip) if layer.binarize
                    else np.zeros(layer.out_len, dtype=np.int64))
    if calibrated:
        dot = wrap(binary_dot(xq, layer.weights, layer.planes), arch.acc_bits)
        bias = layer.bias_q[None, :]
        out = (binarize(dot, bias, layer.out_frac) if layer.binarize else
               requantize(dot, bias, layer.shift, False, arch.acc_bits, arch.act_bits))
    else:
        bound = (1 << layer.out_frac) if layer.binarize else layer.dot_bound
        out = np.full((1, layer.out_len), bound, dtype=np.int64)
    return out, layer.out_frac


# -- placement and packing -----------------------------------------------------------------------
def pass_lines(layer: BinaryLayerIR, arch: ArchConfig) -> list[int]:
    """Lines each pass (row tile) of the layer occupies in every PE: chunks × rows."""
    chunks = binary_chunks(layer.in_len, arch)
    return [chunks * rows for rows in layer.tile_rows]


def binary_passes(layer: BinaryLayerIR, index: int, arch: ArchConfig, bias_base: int,
                  line_base: int) -> list[Pass]:
    """The layer's pass descriptors; ``line_base`` counts from the first binary line (the packer
    adds the sparse lines in front)."""
    passes = []
    for tile, (rows, lines) in enumerate(zip(layer.tile_rows, pass_lines(layer, arch))):
        passes.append(Pass(kind=KIND_BINARY, layer=index, in_len=layer.in_len, rows=rows,
                           row_base=tile * arch.acc_depth, ptr_base=0, bias_base=bias_base,
                           shift=layer.out_frac if layer.binarize else layer.shift, relu=0,
                           last=int(tile == len(layer.tile_rows) - 1), planes=layer.planes,
                           binarize=int(layer.binarize), line_base=line_base))
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
        tiles.append(np.stack([pack_binary_lines(per_pe[pe, first: first + rows], rows, arch)
                               for pe in range(pes)]))
    return np.concatenate(tiles, axis=1)


def layer_meta(layer: BinaryLayerIR, arch: ArchConfig) -> dict:
    """``program.meta["layers"]`` entry: the same keys as a sparse layer's where they apply.
    ``weights`` counts weight bits; ``busiest_pe_weights`` the busiest PE's bit-rows × items
    (its ideal cycles for the layer: the tallest PE's rows × planes × chunks)."""
    items = max(layer.planes, 1) * binary_chunks(layer.in_len, arch)
    return {"kind": "binary", "passes": len(layer.tile_rows), "lines": sum(pass_lines(layer, arch)),
            "entries": 0, "padding": 0, "weights": int(layer.weights.size),
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
