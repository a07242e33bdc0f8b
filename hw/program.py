"""The program format: memory images and pass descriptors, defined once.

The compiler writes a ``Program``; the simulator and the reference read it; the gateware
initialises its memories from it and the testbenches load it through the host bus. Every bit
layout here derives from ``ArchConfig``.

A program directory holds ``manifest.json`` (the configuration, the layers, the passes, and for
every image its file, dtype, shape and SHA-256), the raw little-endian images (``*.bin``), and
``hex/`` with one ``$readmemh`` file per memory instance (``sparse_pe3.hex`` ...), words in the
memory's own width, two's complement for signed memories.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig, _bits_for
from zeroskip.hw.fixedpoint import requant_shift

FORMAT = "zeroskip-program"
VERSION = 1

KIND_SPARSE = 0
KIND_BINARY = 1
KIND_CONV = 2       #: a sparse pass run once per output pixel over a sliding window (docs/conv.md)
KIND_BINARY_CONV = 3    #: a binary pass run once per output pixel over a sliding window (docs/binary-mode.md)

#: kinds run once per output pixel over a window (the conv descriptor fields apply)
WINDOW_KINDS = (KIND_CONV, KIND_BINARY_CONV)
#: kinds whose weights are bit lines and whose items are (plane, chunk) bit vectors
BINARY_KINDS = (KIND_BINARY, KIND_BINARY_CONV)

OP_MAC = 0          #: conv passes: accumulate codebook value × activation, zero activations skipped
OP_MAX = 1          #: conv passes: max pooling, every activation of the window broadcast

#: the conv-only descriptor fields (zero in the other kinds' passes), in layout order
CONV_FIELDS = ("op", "lanes", "kernel", "stride", "pad", "in_height", "in_width", "out_height", "out_width",
               "col_step", "row_step", "pixel_step", "line_step", "origin", "out_step")


# -- bit layouts -------------------------------------------------------------------------------
def entry_layout(arch: ArchConfig) -> list[tuple[str, int]]:
    """One sparse entry, LSB first: codebook index, then zero run."""
    return [("code", arch.code_bits), ("run", arch.run_bits)]


def descriptor_layout(arch: ArchConfig) -> list[tuple[str, int]]:
    """One pass descriptor, LSB first. The gateware builds its ``data.StructLayout`` from this."""
    vector = _bits_for(arch.max_vector)
    return [
        ("kind", 2),                                   # KIND_SPARSE, KIND_BINARY, KIND_CONV, KIND_BINARY_CONV
        ("layer", _bits_for(arch.max_layers - 1)),     # codebook slot; parity picks the source bank
        ("in_len", _bits_for(arch.max_vector)),        # activations scanned
        ("rows", _bits_for(arch.acc_depth)),           # local rows swept at the end (tallest PE)
        ("row_base", _bits_for(arch.act_depth)),       # destination local address of row 0
        ("ptr_base", _bits_for(arch.ptr_depth)),       # pointer address of column 0
        ("bias_base", _bits_for(arch.bias_depth)),     # bias address of row 0
        ("shift", 6),                                  # requantisation right shift (binary: output ±2^shift)
        ("relu", 1),
        ("last", 1),                                   # last pass of its layer: banks swap after it
        # binary passes only (docs/binary-mode.md); zero in sparse passes
        ("planes", 4),                                 # 0: bipolar input bits; b: b unsigned bit planes
        ("binarize", 1),                               # outputs ±2^shift by threshold, else requantised dot
        ("line_base", _bits_for(arch.sparse_depth)),   # first weight line of the pass
        # conv passes only (docs/conv.md); zero in the others. Addresses are global activation
        # indices: (y·in_width + x)·col_step + channel
        ("op", 1),                                     # OP_MAC or OP_MAX
        *([("lanes", 1)] if arch.lane_passes else []), # a lane pass (docs/timing.md "Lane passes")
        ("kernel", 4),                                 # k: the window is k × k
        ("stride", 4),
        ("pad", 4),
        ("in_height", vector), ("in_width", vector),
        ("out_height", vector), ("out_width", vector),
        ("col_step", vector),                          # S: activations per input pixel
        ("row_step", vector),                          # in_width · S
        ("pixel_step", vector),                        # stride · S
        ("line_step", vector),                         # stride · in_width · S
        ("origin", vector),                            # pad · (in_width + 1) · S: the window of
                                                       # pixel 0 starts this far before index 0
        ("out_step", _bits_for(arch.act_depth)),       # local addresses per output pixel
    ]


def descriptor_values(p: "Pass", arch: ArchConfig) -> dict[str, int]:
    """A pass's descriptor fields as ``arch``'s layout holds them; a field the layout leaves out
    (``lanes`` on an array without lane passes) must be 0."""
    layout = dict(descriptor_layout(arch))
    values = dataclasses.asdict(p)
    stray = [name for name, value in values.items() if name not in layout and value]
    if stray:
        raise ZeroskipError(f"pass of layer {p.layer}: field '{stray[0]}' = {values[stray[0]]}, but "
                            f"the architecture's descriptors have no such field")
    return {name: values[name] for name in layout}


def column_count(kind: int, in_len: int, kernel: int) -> int:
    """Columns of a pass (a sparse pass's pointers less one): ``in_len``, or a window's
    ``kernel · kernel · in_len`` (docs/conv.md)."""
    return in_len * kernel * kernel if kind in WINDOW_KINDS else in_len


def field_max(name: str, arch: ArchConfig | None = None) -> int:
    """The largest value a descriptor field holds (e.g. ``shift``, ``planes``)."""
    return (1 << dict(descriptor_layout(arch or ArchConfig()))[name]) - 1


def layout_width(layout: list[tuple[str, int]]) -> int:
    return sum(width for _, width in layout)


def pack_fields(layout, values: dict[str, int]) -> int:
    """Pack named integer fields into one word (a Python int: layouts may exceed 64 bits).
    Fields left out are 0 (e.g. the binary-only fields of a sparse pass)."""
    word, offset = 0, 0
    for name, width in layout:
        value = int(values.get(name, 0))
        if not 0 <= value < (1 << width):
            raise ZeroskipError(f"field '{name}' = {value} does not fit in {width} bits")
        word |= value << offset
        offset += width
    return word


def unpack_fields(layout, word: int) -> dict[str, int]:
    out, offset, word = {}, 0, int(word)
    for name, width in layout:
        out[name] = (word >> offset) & ((1 << width) - 1)
        offset += width
    return out


def split_words(values, bits: int, word_bits: int = 64) -> np.ndarray:
    """Wide unsigned ints → uint64 [n, ceil(bits / word_bits)] pieces, least significant first
    (how wide words are stored in ``.bin`` images and written over a narrower bus)."""
    pieces = -(-bits // word_bits)
    mask = (1 << word_bits) - 1
    return np.array([[(int(v) >> (word_bits * i)) & mask for i in range(pieces)] for v in values],
                    dtype=np.uint64).reshape(-1, pieces)


def join_words(pieces: np.ndarray, word_bits: int = 64) -> list[int]:
    return [sum(int(w) << (word_bits * i) for i, w in enumerate(row)) for row in np.atleast_2d(pieces)]


# -- sparse lines --------------------------------------------------------------------------------
def pack_lines(codes: np.ndarray, runs: np.ndarray, arch: ArchConfig) -> np.ndarray:
    """Pack a PE's entry stream into lines (uint64), padding the last line with zero entries."""
    codes = np.asarray(codes, dtype=np.uint64)
    runs = np.asarray(runs, dtype=np.uint64)
    per_line = arch.entries_per_line
    n_lines = -(-len(codes) // per_line)
    entries = np.zeros(n_lines * per_line, dtype=np.uint64)
    entries[: len(codes)] = codes | (runs << np.uint64(arch.code_bits))
    slots = entries.reshape(n_lines, per_line)
    shifts = (np.arange(per_line, dtype=np.uint64) * np.uint64(arch.entry_bits))
    return np.bitwise_or.reduce(slots << shifts, axis=1) if n_lines else np.zeros(0, np.uint64)


def unpack_lines(lines: np.ndarray, arch: ArchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Lines → flat (codes, runs) entry arrays, ``entries_per_line`` per line."""
    lines = np.asarray(lines, dtype=np.uint64)
    shifts = (np.arange(arch.entries_per_line, dtype=np.uint64) * np.uint64(arch.entry_bits))
    entries = ((lines[:, None] >> shifts) & np.uint64((1 << arch.entry_bits) - 1)).reshape(-1)
    codes = (entries & np.uint64(arch.codebook_size - 1)).astype(np.int64)
    runs = (entries >> np.uint64(arch.code_bits)).astype(np.int64)
    return codes, runs


# -- the program -------------------------------------------------------------------------------
@dataclass
class LayerInfo:
    """A layer as the array runs it, with its fixed-point formats (see docs/fixed-point.md)."""

    in_len: int
    out_len: int
    relu: bool
    in_frac: int        #: fractional bits of the input activations
    w_frac: int         #: fractional bits of the codebook values
    out_frac: int       #: fractional bits of the output activations
    kind: int = KIND_SPARSE
    planes: int = 0     #: binary layers: 0 = bipolar input bits, b = b-bit unsigned input planes
    binarize: bool = False  #: binary layers: thresholded ±1 outputs (else the integer dot product)
    name: str = ""      #: the model's name for the layer (``fc1``, ...), shown by ``zeroskip sim``
    #: conv layers (docs/conv.md): the input feature map [in_height, in_width, in_channels] at
    #: ``in_stride`` activations per pixel, the window, and the output's channels and stride.
    #: ``in_len`` / ``out_len`` are then the feature maps' vector lengths. Zero for other kinds.
    in_height: int = 0
    in_width: int = 0
    in_channels: int = 0
    in_stride: int = 0
    kernel: int = 0
    stride: int = 0
    pad: int = 0
    out_channels: int = 0
    out_stride: int = 0
    op: int = 0
    channel_base: int = 0     #: the output map's channel of row 0 (``ConvGeometry.channel_base``)

    @property
    def shift(self) -> int:
        return requant_shift(self.in_frac, self.w_frac, self.out_frac)

    @property
    def rows(self) -> int:
        """Rows of the layer's weight matrix: its outputs, or a conv layer's output channels."""
        return self.out_channels if self.kind in WINDOW_KINDS else self.out_len

    @property
    def columns(self) -> int:
        """Columns of the layer's weight matrix: its inputs, or a conv layer's k·k·C."""
        return column_count(self.kind, self.in_channels if self.kind in WINDOW_KINDS else self.in_len,
                            self.kernel)

    @property
    def geometry(self):
        """A windowed layer's ``ConvGeometry`` (None for the other kinds)."""
        if self.kind not in WINDOW_KINDS:
            return None
        from zeroskip.hw.conv import ConvGeometry

        return ConvGeometry(self.in_height, self.in_width, self.in_channels, self.in_stride,
                            self.kernel, self.stride, self.pad, self.out_channels, self.out_stride,
                            self.op, self.channel_base)


@dataclass
class Pass:
    """One row tile of one layer: what the control unit runs from one descriptor."""

    kind: int
    layer: int
    in_len: int
    rows: int
    row_base: int
    ptr_base: int
    bias_base: int
    shift: int
    relu: int
    last: int
    planes: int = 0
    binarize: int = 0
    line_base: int = 0
    # conv passes (CONV_FIELDS)
    op: int = 0
    #: 1: a lane pass (``ArchConfig.lane_passes``, docs/timing.md "Lane passes"): every column's
    #: entries lie in the PE of its activation's lane, which alone takes it, a group per cycle
    lanes: int = 0
    kernel: int = 0
    stride: int = 0
    pad: int = 0
    in_height: int = 0
    in_width: int = 0
    out_height: int = 0
    out_width: int = 0
    col_step: int = 0
    row_step: int = 0
    pixel_step: int = 0
    line_step: int = 0
    origin: int = 0
    out_step: int = 0


@dataclass
class Program:
    """A compiled network: every memory image the array needs, plus what the host needs to know."""

    arch: ArchConfig
    layers: list[LayerInfo]
    passes: list[Pass]
    sparse: np.ndarray      #: uint64 [pes, lines]   sparse-matrix lines
    ptr: np.ndarray         #: int64 [pes, pointers] column pointers (flat; banks = even/odd addresses)
    bias: np.ndarray        #: int64 [pes, words]    biases at the accumulator's scale
    codebook: np.ndarray    #: int64 [layers, codebook_size] codebook values at weight scale
    #: int64 [out]: where the array leaves logical output i (row balancing permutes rows);
    #: None means identity. Hosts read ``hw_out[..., output_index]``.
    output_index: np.ndarray | None = None
    meta: dict = field(default_factory=dict)   #: free-form provenance (source model, compiler flags)
    #: integer scores of a last binary layer: the host ranks ``scale · out + offset`` per class
    #: (``{"scale": [...], "offset": [...]}``, logical order); None when outputs are values
    output_affine: dict | None = None

    @functools.cached_property
    def decoded(self):
        """Every pass decoded once (``zeroskip.hw.kinds.DecodedProgram``), for the reference and
        the simulator alike; the images must not change after this is first read."""
        from zeroskip.hw.kinds import DecodedProgram

        return DecodedProgram(self)

    def class_scores(self, outputs: np.ndarray) -> np.ndarray:
        """Logical-order outputs [..., out] → the scores a classifier ranks: the outputs
        themselves, or ``scale · out + offset`` for a last binary layer's integer dots."""
        if self.output_affine is None:
            return np.asarray(outputs)
        return (np.asarray(outputs) * np.asarray(self.output_affine["scale"])
                + np.asarray(self.output_affine["offset"]))

    def logical_output(self, hw_out: np.ndarray) -> np.ndarray:
        """Array-order outputs [..., out] → the model's order."""
        return hw_out if self.output_index is None else hw_out[..., self.output_index]

    # derived views -------------------------------------------------------------------------
    @property
    def ptr_even(self) -> np.ndarray:
        return self.ptr[:, 0::2]

    @property
    def ptr_odd(self) -> np.ndarray:
        return self.ptr[:, 1::2]

    @property
    def descriptors(self) -> list[int]:
        """Packed pass descriptors (Python ints: the layout can be wider than 64 bits)."""
        layout = descriptor_layout(self.arch)
        return [pack_fields(layout, descriptor_values(p, self.arch)) for p in self.passes]

    @property
    def in_len(self) -> int:
        return self.layers[0].in_len

    @property
    def out_len(self) -> int:
        return self.layers[-1].out_len

    def check_fits(self) -> None:
        """Every image within the memory it loads into, every value within its width."""
        a = self.arch
        def need(what, used, depth, field_name):
            if used > depth:
                raise ZeroskipError(f"program needs {used} {what} per PE but the architecture's "
                                    f"'{field_name}' is {depth}")
        need("sparse lines", self.sparse.shape[1], a.sparse_depth, "sparse_depth")
        need("pointers", self.ptr.shape[1], a.ptr_depth, "ptr_depth")
        need("bias words", self.bias.shape[1], a.bias_depth, "bias_depth")
        need("layers", len(self.layers), a.max_layers, "max_layers")
        need("passes", len(self.passes), a.max_passes, "max_passes")
        for shape_name, arr in (("sparse", self.sparse), ("ptr", self.ptr), ("bias", self.bias)):
            if arr.shape[0] != a.pes:
                raise ZeroskipError(f"program image '{shape_name}' is for {arr.shape[0]} PEs, "
                                    f"the architecture has {a.pes}")
        if self.codebook.shape != (len(self.layers), a.codebook_size):
            raise ZeroskipError(f"program codebook shape {self.codebook.shape} does not match "
                                f"{len(self.layers)} layers x {a.codebook_size} codes")
        for layer in self.layers:
            for what, n in (("input", layer.in_len), ("output", layer.out_len)):
                if n > a.max_vector:
                    raise ZeroskipError(f"a layer's {what} of {n} exceeds the array's "
                                        f"act_depth x pes = {a.max_vector}")
        _check_signed(self.codebook, a.weight_bits, "codebook")
        _check_signed(self.bias, a.acc_bits, "bias")
        if self.ptr.size and (self.ptr.min() < 0 or self.ptr.max() > a.sparse_entries):
            raise ZeroskipError("program pointers outside the sparse memory")
        self.descriptors  # packing checks every descriptor field's width

    # files ----------------------------------------------------------------------------------
    def save(self, directory: str) -> None:
        """Write the program directory atomically: a hidden temporary directory next to it,
        then swapped in (``zeroskip.files.write_directory_atomic``). An existing directory is
        replaced only when it is a previous program directory."""
        from zeroskip.files import write_directory_atomic
        from zeroskip.hw.manifest import is_compiled_directory

        self.check_fits()
        write_directory_atomic(directory, self._write, replaceable=is_compiled_directory,
                               what="zeroskip program directory")

    def images(self) -> dict[str, np.ndarray]:
        return {"sparse": self.sparse.astype(np.uint64), "ptr": self.ptr.astype(np.int64),
                "bias": self.bias.astype(np.int64), "codebook": self.codebook.astype(np.int64),
                "descriptors": split_words(self.descriptors, layout_width(descriptor_layout(self.arch)))}

    def _write(self, tmp: str) -> None:
        manifest = {
            "format": FORMAT, "version": VERSION, "arch": self.arch.to_dict(),
            "layers": [dataclasses.asdict(l) for l in self.layers],
            "passes": [dataclasses.asdict(p) for p in self.passes],
            "meta": self.meta, "images": {},
            "output_index": None if self.output_index is None else [int(i) for i in self.output_index],
        }
        if getattr(self, "output_affine", None) is not None:
            manifest["output_affine"] = self.output_affine
        for name, array in self.images().items():
            data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            with open(os.path.join(tmp, f"{name}.bin"), "wb") as f:
                f.write(data)
            manifest["images"][name] = {"file": f"{name}.bin", "dtype": array.dtype.newbyteorder("<").str,
                                        "shape": list(array.shape),
                                        "sha256": hashlib.sha256(data).hexdigest()}
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        write_hex_images(self, os.path.join(tmp, "hex"))


def _check_signed(values: np.ndarray, bits: int, what: str) -> None:
    if values.size and (values.min() < -(1 << (bits - 1)) or values.max() >= (1 << (bits - 1))):
        raise ZeroskipError(f"program {what} values do not fit {bits}-bit signed words")


def to_unsigned(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement words of ``bits`` width (as uint64)."""
    words = np.asarray(values).astype(np.uint64)   # int64 -> uint64 keeps the bit pattern
    return words & np.uint64((1 << bits) - 1) if bits < 64 else words


def hex_words(values: np.ndarray, bits: int) -> str:
    digits = -(-bits // 4)
    words = values if bits > 64 else to_unsigned(values, bits)   # wider words are Python ints
    return "".join(f"{int(v):0{digits}x}\n" for v in words)


#: the memories a program initialises: one of each per PE, then the global ones (the codebook
#: is one image written into every PE's copy)
PROGRAM_PE_MEMORIES = ("sparse", "ptr_even", "ptr_odd", "bias")
PROGRAM_GLOBAL_MEMORIES = ("codebook", "descriptors")


def image_name(memory: str, pe: int | None = None) -> str:
    """The name of one memory instance's image: ``memory_images``' key, the ``hex/<name>.hex``
    file, the gateware's memory instance and the Verilog's ``+zs_<name>`` plusarg."""
    return memory if pe is None else f"{memory}_pe{pe}"


def image_names(arch: ArchConfig) -> list[str]:
    """Every program-initialised memory instance of the array, in ``memory_images`` order."""
    return ([image_name(m, p) for p in range(arch.pes) for m in PROGRAM_PE_MEMORIES]
            + [image_name(m) for m in PROGRAM_GLOBAL_MEMORIES])


def memory_images(program: Program) -> dict[str, tuple[np.ndarray, int]]:
    """Every memory instance's initial contents as (unsigned words, width), keyed by
    ``image_name``: the ``hex/`` files and the bus loads both come from here."""
    a = program.arch
    per_pe = {"sparse": (program.sparse, a.line_bits), "ptr_even": (program.ptr_even, a.ptr_bits),
              "ptr_odd": (program.ptr_odd, a.ptr_bits), "bias": (program.bias, a.acc_bits)}
    out: dict[str, tuple[np.ndarray, int]] = {}
    for p in range(a.pes):
        for memory in PROGRAM_PE_MEMORIES:
            values, bits = per_pe[memory]
            out[image_name(memory, p)] = (to_unsigned(values[p], bits), bits)
    out[image_name("codebook")] = (to_unsigned(program.codebook.reshape(-1), a.weight_bits),
                                   a.weight_bits)
    out[image_name("descriptors")] = (np.array(program.descriptors, dtype=object),
                                      layout_width(descriptor_layout(a)))
    return out


def write_hex_images(program: Program, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for name, (words, bits) in memory_images(program).items():
        with open(os.path.join(directory, f"{name}.hex"), "w") as f:
            f.write(hex_words(words, bits))


def load_program(directory: str) -> Program:
    """Read and check a program directory (the schema of ``zeroskip.hw.manifest``); any problem
    is one ``ZeroskipError`` line."""
    from zeroskip.hw.manifest import check_pointers, read_image, read_manifest

    manifest = read_manifest(directory)
    path = manifest.path
    arrays = {}
    for name, entry in manifest.images.items():
        dtype = np.dtype(entry.dtype)
        arrays[name] = np.frombuffer(read_image(entry), dtype=dtype).reshape(entry.shape) \
            .astype(dtype.newbyteorder("="))
    program = Program(arch=manifest.arch, layers=[LayerInfo(**l) for l in manifest.layers],
                      passes=[Pass(**p) for p in manifest.passes], sparse=arrays["sparse"],
                      ptr=arrays["ptr"], bias=arrays["bias"], codebook=arrays["codebook"],
                      meta=manifest.meta)
    if manifest.output_index is not None:
        program.output_index = np.asarray(manifest.output_index, dtype=np.int64)
    if manifest.output_affine is not None and hasattr(program, "output_affine"):
        program.output_affine = manifest.output_affine
    try:
        program.check_fits()
    except ZeroskipError as error:
        raise ZeroskipError(f"{path}: {error}") from None
    check_pointers(program.ptr, manifest.passes, path)
    if program.descriptors != join_words(arrays["descriptors"]):
        raise ZeroskipError(f"{path}: pass descriptors disagree with descriptors.bin")
    return program


# -- pointers --------------------------------------------------------------------------------
def pass_columns(program: Program, pass_index: int, pe: int) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds of one PE in one pass: (start, end) entry indices, one per input column."""
    p = program.passes[pass_index]
    ptr = program.ptr[pe, p.ptr_base: p.ptr_base + column_count(p.kind, p.in_len, p.kernel) + 1]
    return ptr[:-1], ptr[1:]


# -- binary passes (docs/binary-mode.md) ---------------------------------------------------------
def binary_chunks(in_len: int, arch: ArchConfig) -> int:
    """Input chunks of ``line_bits`` bits a binary pass broadcasts per plane."""
    return -(-in_len // arch.line_bits)


def binary_pass_chunks(in_len: int, kernel: int, arch: ArchConfig) -> int:
    """Weight chunks per row of a binary pass: its input's chunks, or for a binary conv pass
    (``kernel`` ≥ 1) every kernel position's ``ceil(C / line_bits)`` chunks, tap-major
    (docs/binary-mode.md, "Binary conv passes")."""
    return max(1, kernel) ** 2 * binary_chunks(in_len, arch)


def pack_binary_window_lines(weights: np.ndarray, rows: int, kernel: int, channels: int,
                             arch: ArchConfig) -> np.ndarray:
    """One PE's weight bits of one binary conv pass → lines: kernel position t's chunk c is
    chunk ``t·ceil(C / line_bits) + c``, each chunk ``rows`` lines as ``pack_binary_lines``.
    ``weights`` bool [local rows, k·k·C], columns ``(ky·k + kx)·C + c``."""
    weights = np.asarray(weights, dtype=bool).reshape(len(weights), kernel * kernel, channels)
    return np.concatenate([pack_binary_lines(weights[:, t], rows, arch)
                           for t in range(kernel * kernel)])


def unpack_binary_window_lines(lines: np.ndarray, rows: int, kernel: int, channels: int,
                               arch: ArchConfig) -> np.ndarray:
    """The inverse of ``pack_binary_window_lines``: bool [rows, k·k·C]."""
    per_tap = binary_chunks(channels, arch) * rows
    taps = [unpack_binary_lines(lines[t * per_tap:(t + 1) * per_tap], rows, channels, arch)
            for t in range(kernel * kernel)]
    return np.concatenate(taps, axis=1)


def pack_binary_lines(weights: np.ndarray, rows: int, arch: ArchConfig) -> np.ndarray:
    """One PE's weight bits of one binary pass → lines, chunk-major: line ``c * rows + r`` holds
    bits ``c*line_bits .. (c+1)*line_bits - 1`` of local row r (bit b at position b; 1 = +1).
    ``weights`` bool [local rows ≤ rows, in_len]; missing rows and bits beyond in_len are 0."""
    weights = np.asarray(weights, dtype=bool)
    width = arch.line_bits
    chunks = binary_chunks(weights.shape[1], arch)
    padded = np.zeros((rows, chunks * width), dtype=bool)
    padded[: weights.shape[0], : weights.shape[1]] = weights
    as_bytes = np.packbits(padded.reshape(rows, chunks, width), axis=-1, bitorder="little")
    words = np.zeros((rows, chunks, 8), dtype=np.uint8)
    words[..., : as_bytes.shape[-1]] = as_bytes
    lines = words.view("<u8")[..., 0].astype(np.uint64)          # [rows, chunks]
    return np.ascontiguousarray(lines.T).reshape(-1)              # chunk-major


def unpack_binary_lines(lines: np.ndarray, rows: int, in_len: int, arch: ArchConfig) -> np.ndarray:
    """The inverse of ``pack_binary_lines``: bool [rows, in_len]."""
    chunks = binary_chunks(in_len, arch)
    grid = np.asarray(lines, dtype="<u8").reshape(chunks, rows).T.copy()   # [rows, chunks]
    bits = np.unpackbits(grid.view(np.uint8).reshape(rows, chunks, 8), axis=-1, bitorder="little")
    return bits[..., : arch.line_bits].reshape(rows, -1)[:, :in_len].astype(bool)
