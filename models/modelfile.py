"""The compressed model file (``.zsk``): a Deep-Compressed network, Huffman-coded, bit-exact.

Layout (little-endian; see docs/model-format.md):

    magic      8 bytes  b"ZSKMODEL"
    version    u16      1
    json_len   u32      length of the JSON header
    header     JSON     {"network": layer specs, "layers": [{"name", "rows", "cols",
                         "codebook_size", "index_bits"}, ...]}  (one per weighted layer)
    sections   one per weighted layer, in order:
        entries u32, code_bytes u32, gap_bytes u32
        codebook    float32 [codebook_size]          (entry 0 is 0.0)
        bias        float32 [rows]
        row_ends    rows × ptr_bits, packed MSB first, ptr_bits = bit_length(entries)
        code_lens   u8 [codebook_size]               Huffman code length of each weight code
        gap_lens    u8 [2**index_bits]               Huffman code length of each relative index
        code_stream code_bytes bytes                 Huffman-coded weight codes (0 = filler)
        gap_stream  gap_bytes bytes                  Huffman-coded relative indices (z)
    crc32      u32      of every byte before it

The sparse entries are those of ``zeroskip.models.sparse`` (row-wise, relative indices, fillers).
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError

from . import huffman
from .interchange import SharedLayer, atomic_write, code_dtype, layer_problem
from .layers import Conv2D, Dense
from .network import Network
from .sparse import SparseRows, decode_rows, encode_rows

MAGIC = b"ZSKMODEL"
VERSION = 1
_PREAMBLE = struct.Struct("<8sHI")
_SECTION = struct.Struct("<III")
_CRC = struct.Struct("<I")
FC_KINDS = {"dense", "relu", "dropout"}


@dataclass(frozen=True, eq=False)
class CompressedModel:
    """A network spec plus one ``SharedLayer`` per weighted layer (codes as [rows, cols])."""

    network: dict            # Network.spec(): the layers, weighted or not
    names: tuple[str, ...]   # conv1, fc1, ... per weighted layer
    layers: tuple[SharedLayer, ...]
    index_bits: tuple[int, ...]

    def to_network(self) -> Network:
        """A ``Network`` whose weights are ``codebook[codes]`` (float32), ready to evaluate."""
        net = Network.from_spec(self.network)
        for layer, shared in zip(net.weighted(), self.layers, strict=True):
            layer.params["W"][...] = shared.weights().reshape(layer.params["W"].shape)
            layer.params["b"][...] = shared.bias
        return net

    def fc_layers(self, source: str = "model") -> list[SharedLayer]:
        """The layers as a fully-connected stack; an error when the network has others."""
        kinds = [spec["kind"] for spec in self.network["layers"]]
        other = sorted(set(kinds) - FC_KINDS)
        if other:
            raise ZeroskipError(f"{source}: model {self.network['name']!r} has {', '.join(other)} "
                                "layers; only fully-connected models can be used here")
        return list(self.layers)


def activations(network: dict) -> list[str]:
    """'relu' or 'none' for each weighted layer: whether a ReLU follows it (dropout skipped)."""
    specs = [s for s in network["layers"] if s["kind"] != "dropout"]
    acts = []
    for i, spec in enumerate(specs):
        if spec["kind"] in (Dense.kind, Conv2D.kind):
            following = specs[i + 1]["kind"] if i + 1 < len(specs) else None
            acts.append("relu" if following == "relu" else "none")
    return acts


def from_network(net: Network, codebooks, codes, index_bits) -> CompressedModel:
    """Package a weight-shared ``net``: codes in the layers' weight shapes, one codebook each."""
    acts = activations(net.spec())
    layers = []
    for layer, book, code, act in zip(net.weighted(), codebooks, codes, acts, strict=True):
        rows = layer.params["W"].shape[0]
        matrix = np.asarray(code).reshape(rows, -1).astype(code_dtype(len(book)))
        layers.append(SharedLayer(np.asarray(book, np.float32), matrix,
                                  layer.params["b"].astype(np.float32).copy(), act))
    return CompressedModel(net.spec(), tuple(net.layer_names()), tuple(layers),
                           tuple(int(b) for b in index_bits))


# --- bit packing of fixed-width integers (row pointers) ---

def pack_uints(values: np.ndarray, width: int) -> bytes:
    values = np.asarray(values, np.int64)
    if width == 0 or values.size == 0:
        return b""
    bits = (values[:, None] >> np.arange(width - 1, -1, -1)[None, :]) & 1
    return np.packbits(bits.astype(np.uint8).ravel()).tobytes()


def unpack_uints(data: bytes, width: int, count: int) -> np.ndarray:
    if width == 0 or count == 0:
        return np.zeros(count, np.int64)
    bits = np.unpackbits(np.frombuffer(data, np.uint8))[:count * width].astype(np.int64)
    return (bits.reshape(count, width) << np.arange(width - 1, -1, -1)[None, :]).sum(axis=1)


def packed_bytes(count: int, width: int) -> int:
    return math.ceil(count * width / 8)


# --- one layer section ---

@dataclass(frozen=True)
class Section:
    """A layer's encoded bytes and what went into them (for the storage accounting)."""

    data: bytes
    sparse: SparseRows
    ptr_bits: int
    code_stream_bits: int
    gap_stream_bits: int


def encode_section(layer: SharedLayer, index_bits: int) -> Section:
    sparse = encode_rows(layer.codes, index_bits)
    k = len(layer.codebook)
    code_lens = huffman.code_lengths(np.bincount(sparse.codes, minlength=k))
    gap_lens = huffman.code_lengths(np.bincount(sparse.gaps, minlength=2 ** index_bits))
    if max(code_lens.max(initial=0), gap_lens.max(initial=0)) > 255:
        raise ValueError("Huffman code longer than 255 bits")
    code_stream = huffman.encode(sparse.codes, code_lens)
    gap_stream = huffman.encode(sparse.gaps, gap_lens)
    ptr_bits = int(sparse.entries).bit_length()
    data = b"".join([
        _SECTION.pack(sparse.entries, len(code_stream), len(gap_stream)),
        layer.codebook.astype("<f4").tobytes(),
        layer.bias.astype("<f4").tobytes(),
        pack_uints(sparse.row_ends, ptr_bits),
        code_lens.astype(np.uint8).tobytes(),
        gap_lens.astype(np.uint8).tobytes(),
        code_stream,
        gap_stream,
    ])
    return Section(data, sparse, ptr_bits, huffman.encoded_bits(sparse.codes, code_lens),
                   huffman.encoded_bits(sparse.gaps, gap_lens))


def _header(model: CompressedModel) -> bytes:
    layers = [{"name": name, "rows": layer.shape[0], "cols": layer.shape[1],
               "codebook_size": len(layer.codebook), "index_bits": bits, "act": layer.act}
              for name, layer, bits in zip(model.names, model.layers, model.index_bits,
                                           strict=True)]
    return json.dumps({"network": model.network, "layers": layers},
                      separators=(",", ":")).encode()


def encode(model: CompressedModel) -> tuple[bytes, list[Section]]:
    """The file's bytes and the per-layer sections inside them."""
    header = _header(model)
    sections = [encode_section(layer, bits)
                for layer, bits in zip(model.layers, model.index_bits, strict=True)]
    body = _PREAMBLE.pack(MAGIC, VERSION, len(header)) + header + b"".join(s.data for s in sections)
    return body + _CRC.pack(zlib.crc32(body)), sections


def overhead_bytes(model: CompressedModel) -> int:
    """File bytes outside the layer sections: magic, version, JSON header, CRC."""
    return _PREAMBLE.size + len(_header(model)) + _CRC.size


def save(path: str | os.PathLike, model: CompressedModel) -> list[Section]:
    """Write ``model`` to ``path`` atomically; returns the sections (for accounting)."""
    data, sections = encode(model)
    atomic_write(path, data)
    return sections


# --- reading ---

class _Reader:
    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ZeroskipError(f"{self.source}: truncated file (ends inside {what})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk


def decode(data: bytes, source: str = "model") -> CompressedModel:
    """Parse a ``.zsk`` file's bytes; every problem is a ZeroskipError naming ``source``."""
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise ZeroskipError(f"{source}: not a zeroskip model file (bad magic)")
    reader = _Reader(data, source)
    _, version, header_len = _PREAMBLE.unpack(reader.take(_PREAMBLE.size, "the preamble"))
    if version != VERSION:
        raise ZeroskipError(f"{source}: model file version {version} is not supported "
                            f"(this zeroskip reads version {VERSION})")
    raw_header = reader.take(header_len, "the header")
    if len(data) < reader.pos + _CRC.size:
        raise ZeroskipError(f"{source}: truncated file (no checksum)")
    body, (crc,) = data[:-_CRC.size], _CRC.unpack(data[-_CRC.size:])
    try:
        header = json.loads(raw_header)
        network, entries = header["network"], header["layers"]
        net = Network.from_spec(network)
    except (ValueError, KeyError, TypeError) as error:
        if zlib.crc32(body) != crc:
            raise ZeroskipError(f"{source}: truncated or corrupt file "
                                "(checksum mismatch)") from None
        raise ZeroskipError(f"{source}: bad header ({error})") from None
    weighted = net.weighted()
    if len(entries) != len(weighted):
        raise ZeroskipError(f"{source}: header lists {len(entries)} layers, network has "
                            f"{len(weighted)} weighted layers")
    layers, names, index_bits = [], [], []
    for i, (entry, layer) in enumerate(zip(entries, weighted)):
        rows, cols = layer.params["W"].shape[0], layer.params["W"][0].size
        if (entry.get("rows"), entry.get("cols")) != (rows, cols):
            raise ZeroskipError(f"{source}: layer {i} is {entry.get('rows')}x{entry.get('cols')} "
                                f"in the header but {rows}x{cols} in the network")
        k, r = int(entry["codebook_size"]), int(entry["index_bits"])
        if not 1 <= k <= 65536 or not 1 <= r <= 16:
            raise ZeroskipError(f"{source}: layer {i} has a bad codebook size or index width")
        what = f"layer {i} ({entry.get('name')})"
        n, code_bytes, gap_bytes = _SECTION.unpack(reader.take(_SECTION.size, what))
        book = np.frombuffer(reader.take(4 * k, what), "<f4").astype(np.float32)
        bias = np.frombuffer(reader.take(4 * rows, what), "<f4").astype(np.float32)
        ptr_bits = int(n).bit_length()
        row_ends = unpack_uints(reader.take(packed_bytes(rows, ptr_bits), what), ptr_bits, rows)
        code_lens = np.frombuffer(reader.take(k, what), np.uint8)
        gap_lens = np.frombuffer(reader.take(2 ** r, what), np.uint8)
        code_stream = reader.take(code_bytes, what)
        gap_stream = reader.take(gap_bytes, what)
        if reader.pos > len(body):
            raise ZeroskipError(f"{source}: truncated file (ends inside {what})")
        try:
            codes = huffman.decode(code_stream, code_lens, n)
            gaps = huffman.decode(gap_stream, gap_lens, n)
            matrix = decode_rows(SparseRows(codes, gaps, row_ends, (rows, cols), r),
                                 dtype=code_dtype(k))
        except ValueError as error:
            raise ZeroskipError(f"{source}: {what} is corrupt ({error})") from None
        act = entry.get("act")
        problem = layer_problem(book, matrix, bias, act)
        if problem:
            raise ZeroskipError(f"{source}: {what} {problem[0]} {problem[1]}")
        layers.append(SharedLayer(book, matrix, bias, act))
        names.append(str(entry.get("name", f"layer{i}")))
        index_bits.append(r)
    if reader.pos != len(body):
        raise ZeroskipError(f"{source}: {len(body) - reader.pos} unexpected bytes after the "
                            "last layer")
    if zlib.crc32(body) != crc:
        raise ZeroskipError(f"{source}: corrupt file (checksum mismatch)")
    if [layer.act for layer in layers] != activations(network):
        raise ZeroskipError(f"{source}: layer activations disagree with the network")
    return CompressedModel(network, tuple(names), tuple(layers), tuple(index_bits))


def load(path: str | os.PathLike) -> CompressedModel:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ZeroskipError(f"{path}: no such file") from None
    except OSError as error:
        raise ZeroskipError(f"{path}: cannot read ({error.strerror})") from None
    return decode(data, str(path))
