"""Reading input files: one loader for the ``.npy`` inputs of ``sim``, ``verify`` and
``compile --calibration``, and one rule for what such a file means (docs/cli.md, "Input files").

The rule: **an input file holds real values, whatever its dtype.** A ``uint8`` 255 is the real
number 255.0, exactly as a ``float32`` 255.0 would be; it is quantized with the program's input
scale (the first layer's ``in_frac``, or its bit planes for a binary first layer), and a value
the input format cannot represent is an error, never a silent saturation. Integer activations
that are already quantized (what the array reads) are given with an explicit flag,
``--quantized``, and must then be integers within the activation width.

Either way the file is one ``.npy`` array (not an ``.npz`` archive, no pickled objects) of
booleans, integers or floats, shaped ``[in]`` (one input) or ``[batch, in]`` with batch ≥ 1.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib

import numpy as np

from zeroskip.errors import ZeroskipError


def _regular_file(path, what: str, label: str | None = None) -> os.stat_result:
    path_label = label or path
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ZeroskipError(f"{path_label}: no such file") from None
    except (OSError, ValueError) as error:
        raise ZeroskipError(f"{path_label}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ZeroskipError(f"{path_label}: is {kind}, expected a {what}")
    return info


def read_file(path, what: str = "file", limit: int | None = None) -> bytes:
    """A regular file's bytes (never a device, a FIFO or a directory), or one error line;
    ``limit`` bounds the size."""
    info = _regular_file(path, what)
    if limit is not None and info.st_size > limit:
        raise ZeroskipError(f"{path}: {info.st_size} bytes, more than a {what} can have ({limit})")
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except OSError as error:
        raise ZeroskipError(f"{path}: cannot read ({error.strerror})") from None
    if limit is not None and len(data) > limit:
        raise ZeroskipError(f"{path}: more than a {what} can have ({limit} bytes)")
    return data


#: what reading a damaged ``.npy``/``.npz`` can raise besides ZeroskipError
ARRAY_FILE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
                     NotImplementedError, RuntimeError, struct.error, KeyError, UnicodeError,
                     SyntaxError, TypeError, OverflowError, MemoryError)
#: deflate cannot expand data more than this (a zip member claiming more is lying)
DEFLATE_MAX_RATIO = 1032


def npy_header(f, available: int, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read an ``.npy`` header from ``f`` and check the data it declares fits in ``available``
    bytes (the file's or the zip member's size), so nothing is allocated for sizes a damaged
    header invents; numeric or string dtypes only (never objects)."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except ARRAY_FILE_ERRORS as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ZeroskipError(f"{where}: not a readable .npy array ({first})") from None
    if dtype.hasobject or dtype.kind not in "biufcUS" or dtype.itemsize == 0 and dtype.kind != "U":
        raise ZeroskipError(f"{where}: unsupported dtype {dtype}")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize > available:
        raise ZeroskipError(f"{where}: declares shape {shape} of {dtype}, more data than the "
                            f"{available} bytes it holds")
    return shape, dtype


def load_array(path, flag: str = "--input") -> np.ndarray:
    """One numeric ``.npy`` array of 1 to 4 dimensions ([in], [batch, in], or images for a conv
    program: ``map_order``), batch ≥ 1, or one error line naming ``flag`` and the file."""
    where = f"{flag} {path}"
    info = _regular_file(path, "input file", where)
    try:
        with open(path, "rb") as f:
            if f.read(2) == b"PK":
                raise ZeroskipError(f"{where}: an .npz archive; give one .npy array")
            f.seek(0)
            npy_header(f, info.st_size, where)
        x = np.load(path, allow_pickle=False)
    except ARRAY_FILE_ERRORS as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ZeroskipError(f"{where}: not a readable .npy array ({first})") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise ZeroskipError(f"{where}: input must be a numeric array, got dtype "
                            f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim == 0:
        raise ZeroskipError(f"{where}: a single number; inputs are [in] or [batch, in]")
    if x.ndim > 4:
        raise ZeroskipError(f"{where}: shape {x.shape}; inputs are [in] or [batch, in] (a conv "
                            "program's also images [C, H, W] or [n, C, H, W])")
    if x.size == 0:
        raise ZeroskipError(f"{where}: empty batch (shape {x.shape}); nothing to run")
    return x


def load_real(path, flag: str = "--input", in_len: int | None = None) -> np.ndarray:
    """Real values float64 [batch, in] (the rule: whatever the dtype); finite; ``in_len`` checked
    when given."""
    x = load_array(path, flag)
    where = f"{flag} {path}"
    if x.ndim > 2:
        raise ZeroskipError(f"{where}: shape {x.shape}; inputs are [in] or [batch, in]")
    x2 = np.atleast_2d(x).astype(np.float64)
    if in_len is not None and x2.shape[1] != in_len:
        raise ZeroskipError(f"{where}: shape {x.shape}; the program takes [{in_len}] or "
                            f"[batch, {in_len}]")
    if not np.all(np.isfinite(x2)):
        raise ZeroskipError(f"{where}: contains NaN or infinite values")
    return x2


def outside_input_range(program, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Where the real inputs ``x`` [batch, in] fall outside what the program's input format
    represents (bool mask), and that range in words."""
    from zeroskip.hw.fixedpoint import signed_range

    first = program.layers[0]
    if first.kind in (1, 3) and first.planes:     # binary (conv) layer reading unsigned bit planes
        return (x < 0.0) | (x > 1.0), f"[0, 1] ({first.planes}-bit input planes)"
    low, high = signed_range(program.arch.act_bits)
    scaled = np.floor(x * 2.0 ** first.in_frac + 0.5)   # as hw.fixedpoint.quantize, unclipped
    scale = 2.0 ** -first.in_frac
    return ((scaled < low) | (scaled > high),
            f"[{low * scale:g}, {high * scale:g}] ({program.arch.act_bits}-bit, "
            f"{first.in_frac} fractional bits)")


def quantized_range(program) -> tuple[int, int]:
    """The integer activations the array reads."""
    from zeroskip.hw.fixedpoint import signed_range

    first = program.layers[0]
    if first.kind in (1, 3) and first.planes:     # BINARY_KINDS
        return 0, (1 << first.planes) - 1
    return signed_range(program.arch.act_bits)


def program_inputs(path, program, quantized: bool = False, flag: str = "--input",
                   count: int | None = None) -> np.ndarray:
    """The integer activations int64 [batch, in] the array reads for the input file ``path``
    (the rule of this module): real values quantized with the program's input scale, or, with
    ``quantized``, integer activations taken as they are. ``count`` keeps the first inputs.

    ``zeroskip verify`` calls ``program_inputs(args.input, program, args.quantized,
    count=args.count)``; ``zeroskip sim`` calls ``load_array`` then ``activations``."""
    if count is not None and count < 1:
        raise ZeroskipError(f"--count must be at least 1, got {count}")
    x = load_array(path, flag)
    return activations(x[:count] if count and x.ndim in (2, 4) else x, program, quantized,
                       f"{flag} {path}")


def map_order(x: np.ndarray, program, where: str) -> np.ndarray:
    """A conv program's inputs: images NCHW ``[n, C, H, W]`` (or one ``[C, H, W]``, or
    ``[n, C·H·W]`` flattened in that order) → the array's map vectors ``(y·W + x)·C + c``
    (docs/conv.md). Other programs' inputs pass as they are."""
    first = program.layers[0]
    if first.kind not in (2, 3) or x.ndim not in (2, 3, 4):     # WINDOW_KINDS
        return x
    c, h, w = first.in_channels, first.in_height, first.in_width
    images = x[None] if x.ndim == 3 else x
    if images.ndim == 2:
        if images.shape[1] != c * h * w:
            return x                                  # the length check names the problem
        images = images.reshape(len(images), c, h, w)
    if images.shape[1:] != (c, h, w):
        raise ZeroskipError(f"{where}: shape {x.shape}; the program takes images [n, {c}, {h}, "
                            f"{w}] (NCHW) or [n, {c * h * w}]")
    return images.transpose(0, 2, 3, 1).reshape(len(images), -1)


def activations(x: np.ndarray, program, quantized: bool, where: str) -> np.ndarray:
    """``program_inputs`` for an array already loaded (``load_array``): int64 [batch, in]."""
    from zeroskip.hw.reference import quantize_input

    x = np.atleast_2d(map_order(x, program, where))
    if x.ndim > 2 or x.shape[1] != program.in_len:
        raise ZeroskipError(f"{where}: shape {x.shape}; the program takes [{program.in_len}] "
                            f"or [batch, {program.in_len}]")
    if quantized:
        if x.dtype.kind not in "biu":
            raise ZeroskipError(f"{where}: --quantized takes integer activations, got dtype "
                                f"{x.dtype}")
        x = x.astype(np.int64)
        low, high = quantized_range(program)
        if x.min() < low or x.max() > high:
            raise ZeroskipError(f"{where}: integer activations {x.min()}..{x.max()} outside "
                                f"the array's {low}..{high}")
        return x
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ZeroskipError(f"{where}: contains NaN or infinite values")
    outside, described = outside_input_range(program, x)
    if np.any(outside):
        index = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ZeroskipError(f"{where}: value {x[index]:g} at {list(index)} is outside the "
                            f"program's input range {described}; inputs are real values "
                            "(scale them, or give integer activations with --quantized)")
    return quantize_input(program, x)
