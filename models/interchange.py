"""The interchange between ``zeroskip.models`` and the compiler: weight-shared layer stacks.

A ``SharedLayer`` is one fully-connected layer after Deep Compression: ``W = codebook[codes]``,
code 0 always meaning the pruned weight 0.0. The interchange ``.npz`` holds, for layer
``i = 0..L-1``: ``codebook_{i}`` float32 [K] (entry 0 is 0.0), ``codes_{i}`` integer [out, in]
(0 = pruned, k → ``codebook_{i}[k]``), ``bias_{i}`` float32 [out] and ``act_{i}`` ('relu' or
'none'). ``load_array_layers`` also reads the compressed model file (``zeroskip.models.modelfile``).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.files import write_atomic as atomic_write  # noqa: F401  (re-exported)
from zeroskip.inputs import ARRAY_FILE_ERRORS, DEFLATE_MAX_RATIO, npy_header

ACTIVATIONS = ("relu", "none")


@dataclass(frozen=True, eq=False)
class SharedLayer:
    """One weight-shared layer: ``y = codebook[codes] @ x + bias``, then ``act``."""

    codebook: np.ndarray  # float32 [K], codebook[0] == 0.0
    codes: np.ndarray     # unsigned integer [out, in], values < K, 0 = pruned
    bias: np.ndarray      # float32 [out]
    act: str              # 'relu' or 'none'
    name: str = ""        # the model's name for the layer (fc1, ...); shown by ``zeroskip sim``

    def __post_init__(self):
        problem = layer_problem(self.codebook, self.codes, self.bias, self.act)
        if problem:
            key, message = problem
            raise ZeroskipError(f"SharedLayer {key}: {message}")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)

    def weights(self) -> np.ndarray:
        """The float32 weight matrix ``codebook[codes]``."""
        return self.codebook[self.codes]


@dataclass(frozen=True, eq=False)
class SharedConv:
    """One weight-shared convolution: ``codes`` [out, in_channels / groups · k · k] in the
    models' (c, ky, kx) column order, ``W = codebook[codes]``, then ``act`` (docs/conv.md).
    With ``groups`` > 1 output channel o reads only its group's input channels (depthwise when
    ``groups`` equals the channels); the compiler lowers it block-diagonally."""

    codebook: np.ndarray
    codes: np.ndarray
    bias: np.ndarray
    act: str
    kernel: int
    stride: int = 1
    pad: int = 0
    name: str = ""
    groups: int = 1

    def __post_init__(self):
        problem = layer_problem(self.codebook, self.codes, self.bias, self.act)
        if problem is None and (self.kernel < 1 or self.codes.shape[1] % (self.kernel ** 2)):
            problem = ("codes", f"has {self.codes.shape[1]} columns, not in_channels x "
                                f"{self.kernel} x {self.kernel}")
        if problem is None and (isinstance(self.groups, bool) or not isinstance(self.groups, int)
                                or self.groups < 1 or self.codes.shape[0] % self.groups):
            problem = ("groups", f"{self.groups!r} must be a positive integer dividing the "
                                 f"{self.codes.shape[0]} output channels")
        if problem:
            key, message = problem
            raise ZeroskipError(f"SharedConv {key}: {message}")

    @property
    def in_channels(self) -> int:
        return self.codes.shape[1] // (self.kernel * self.kernel) * self.groups


@dataclass(frozen=True)
class Pool:
    """A pooling layer: ``op`` 'max' or 'avg' over ``kernel`` × ``kernel`` windows."""

    op: str
    kernel: int
    stride: int
    pad: int = 0
    act: str = "none"
    name: str = ""


@dataclass(frozen=True)
class MapInput:
    """A conv model's input: a [height, width, channels] feature map (the flat input vector is
    ``(y·width + x)·channels + c``)."""

    height: int
    width: int
    channels: int


def layer_problem(book, codes, bias, act, exact_dtypes: bool = True) -> tuple[str, str] | None:
    """``(field, what is wrong)`` for the first invalid field of a layer, or None. The one
    validator of a weight-shared layer: files, ``SharedLayer`` and the compiler all use it (the
    compiler takes any float and integer dtypes: ``exact_dtypes=False``)."""
    if not isinstance(book, np.ndarray) or book.ndim != 1 or len(book) == 0:
        return "codebook", "must be a non-empty 1-D array"
    if exact_dtypes and book.dtype != np.float32:
        return "codebook", f"must be float32, got {book.dtype}"
    if not np.all(np.isfinite(book)):
        return "codebook", "contains NaN or infinity"
    if book[0] != 0.0:
        return "codebook", f"entry 0 must be 0.0 (pruned), got {book[0]}"
    if not isinstance(codes, np.ndarray) or codes.ndim != 2:
        return "codes", "must be a 2-D [out, in] array"
    if codes.dtype.kind not in "ui":
        return "codes", f"must be integers, got {codes.dtype}"
    if codes.size and (codes.min() < 0 or codes.max() >= len(book)):
        return "codes", f"values must be in 0..{len(book) - 1} (codebook size {len(book)})"
    if not isinstance(bias, np.ndarray) or bias.shape != (codes.shape[0],):
        got = getattr(bias, "shape", None)
        return "bias", f"must have shape ({codes.shape[0]},) to match codes, got {got}"
    if exact_dtypes and bias.dtype != np.float32:
        return "bias", f"must be float32, got {bias.dtype}"
    if not np.all(np.isfinite(bias)):
        return "bias", "contains NaN or infinity"
    if act not in ACTIVATIONS:
        return "act", f"must be 'relu' or 'none', got {act!r}"
    return None


def code_dtype(codebook_size: int) -> np.dtype:
    return np.dtype(np.uint8 if codebook_size <= 256 else np.uint16)


def float_forward(layers: list[SharedLayer], x: np.ndarray) -> np.ndarray:
    """The float64 reference: logits of ``x`` ([in] or [batch, in]) through ``layers``."""
    h = np.asarray(x, dtype=np.float64)
    single = h.ndim == 1
    h = h[None, :] if single else h
    for layer in layers:
        h = h @ layer.weights().astype(np.float64).T + layer.bias.astype(np.float64)
        if layer.act == "relu":
            h = np.maximum(h, 0.0)
    return h[0] if single else h


def check_stack(layers: list[SharedLayer], source: str) -> None:
    """Consecutive layers must chain: layer i's outputs are layer i+1's inputs."""
    for i in range(1, len(layers)):
        if layers[i].shape[1] != layers[i - 1].shape[0]:
            raise ZeroskipError(
                f"{source}: codes_{i} has {layers[i].shape[1]} inputs but layer {i - 1} "
                f"has {layers[i - 1].shape[0]} outputs")


def save_interchange(path: str | os.PathLike, layers: list[SharedLayer]) -> None:
    """Write ``layers`` as an interchange ``.npz`` (atomically)."""
    if not layers:
        raise ZeroskipError(f"{path}: no layers to write")
    check_stack(layers, str(path))
    arrays = {}
    for i, layer in enumerate(layers):
        arrays[f"codebook_{i}"] = layer.codebook
        arrays[f"codes_{i}"] = layer.codes.astype(code_dtype(len(layer.codebook)))
        arrays[f"bias_{i}"] = layer.bias
        arrays[f"act_{i}"] = np.array(layer.act)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def open_npz(path: str | os.PathLike, what: str = ".npz") -> np.lib.npyio.NpzFile:
    """An ``.npz`` archive opened for ``npz_member``; a regular file only (never a device or a
    FIFO); every problem one ZeroskipError line."""
    from zeroskip.inputs import _regular_file

    _regular_file(path, what)
    try:
        archive = np.load(path, allow_pickle=False)
    except ARRAY_FILE_ERRORS as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ZeroskipError(f"{path}: not a readable {what} ({first})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ZeroskipError(f"{path}: not an .npz archive")
    return archive


def npz_member(archive: np.lib.npyio.NpzFile, key: str, path) -> np.ndarray:
    """One array of an archive, after checking that its header declares no more data than the
    member holds (and the member no more than its compressed bytes can expand to)."""
    where = f"{path}: key {key}"
    try:
        name = key + ".npy" if key + ".npy" in archive.zip.namelist() else key
        info = archive.zip.getinfo(name)
        if info.file_size > DEFLATE_MAX_RATIO * max(info.compress_size, 1):
            raise ZeroskipError(f"{where}: damaged archive member (impossible size)")
        with archive.zip.open(name) as f:
            npy_header(f, info.file_size, where)
        return archive[key]
    except ZeroskipError:
        raise
    except ARRAY_FILE_ERRORS as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ZeroskipError(f"{where} is unreadable ({first})") from None


def load_interchange(path: str | os.PathLike) -> list[SharedLayer]:
    """Read an interchange ``.npz``; every problem is a ZeroskipError naming the file and key."""
    archive = open_npz(path)
    with archive:
        keys = set(archive.files)
        if "codebook_0" not in keys:
            raise ZeroskipError(f"{path}: missing key codebook_0 (not an interchange file?)")
        layers, i = [], 0
        while f"codebook_{i}" in keys:
            fields = {}
            for name in ("codebook", "codes", "bias", "act"):
                key = f"{name}_{i}"
                if key not in keys:
                    raise ZeroskipError(f"{path}: missing key {key}")
                fields[name] = npz_member(archive, key, path)
            layers.append(_layer_from_arrays(path, i, fields))
            i += 1
        # other arrays (e.g. a sample input ``x``) may ride along; stray layer keys may not
        extra = sorted(k for k in keys - {f"{n}_{j}" for j in range(i)
                                          for n in ("codebook", "codes", "bias", "act")}
                       if k.split("_")[0] in ("codebook", "codes", "bias", "act"))
        if extra:
            raise ZeroskipError(f"{path}: unexpected key {extra[0]} (layers are numbered "
                                f"0..{i - 1} without gaps)")
    check_stack(layers, str(path))
    return layers


def _layer_from_arrays(path, i: int, fields: dict) -> SharedLayer:
    act = fields["act"]
    if act.shape != () or act.dtype.kind != "U":
        raise ZeroskipError(f"{path}: act_{i} must be a string")
    book = fields["codebook"]
    if book.dtype.kind != "f":
        raise ZeroskipError(f"{path}: codebook_{i} must be float32, got {book.dtype}")
    bias = fields["bias"]
    if bias.dtype.kind != "f":
        raise ZeroskipError(f"{path}: bias_{i} must be float32, got {bias.dtype}")
    codes = fields["codes"]
    if codes.dtype.kind not in "ui":
        raise ZeroskipError(f"{path}: codes_{i} must be integers, got {codes.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):   # out-of-range values become inf: rejected
        book, bias, act = book.astype(np.float32), bias.astype(np.float32), str(act)
    problem = layer_problem(book, codes, bias, act)
    if problem:
        field, message = problem
        raise ZeroskipError(f"{path}: {field}_{i} {message}")
    return SharedLayer(book, codes.astype(code_dtype(len(book))), bias, act)


def load_array_layers(path: str | os.PathLike) -> list:
    """The layers of a compressed model file (``CompressedModel.array_layers``: a conv network
    starts with its ``MapInput``), an interchange ``.npz`` (fully-connected layers) or a
    weight-shared ONNX model (``zeroskip.models.onnx``).

    The file type is sniffed from its first bytes.
    """
    from . import modelfile

    head = _head(path, len(modelfile.MAGIC))
    if head == modelfile.MAGIC:
        return modelfile.load(path).array_layers(str(path))
    if head.startswith(b"PK"):
        return load_interchange(path)
    if is_onnx(path, head):
        from . import onnx

        return onnx.load_array_layers(path)
    raise ZeroskipError(f"{path}: neither a zeroskip model file, an interchange .npz nor an "
                        "ONNX model")


def is_onnx(path: str | os.PathLike, head: bytes) -> bool:
    """Whether a file is meant as ONNX: its name ends in ``.onnx``, or it starts like a
    serialised ``ModelProto`` (field 1, ``ir_version``, a small varint: bytes 0x08, 1..127).
    The ONNX reader then says what is wrong with it, if anything."""
    return str(path).lower().endswith(".onnx") or (len(head) >= 2 and head[0] == 0x08
                                                  and 0 < head[1] < 0x80)


def _head(path, n: int) -> bytes:
    from zeroskip.inputs import _regular_file

    _regular_file(path, "model file")
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as error:
        raise ZeroskipError(f"{path}: cannot read ({error.strerror})") from None


def is_folded_binary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folded binary model (``zeroskip.models.binary_ref.save``): a zip
    archive whose ``format`` array names that format. Unreadable files are not (the loader
    that runs next reports them)."""
    from .binary_ref import FORMATS

    try:
        if _head(path, 2) != b"PK":
            return False
        with open_npz(path) as archive:
            return ("format" in archive.files
                    and str(npz_member(archive, "format", path)) in FORMATS)
    except ZeroskipError:
        return False


def load_model(path: str | os.PathLike) -> list:
    """The layers of any model file the compiler reads: a folded binary model
    (``FoldedLayer``s), a compressed model file, an interchange ``.npz`` or a weight-shared
    ONNX model (``SharedLayer``s; a conv model as ``MapInput``, ``SharedConv``, ``Pool``...)."""
    from . import binary_ref

    return binary_ref.load(path) if is_folded_binary(path) else load_array_layers(path)
