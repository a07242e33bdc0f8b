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

import dataclasses

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
from .layers import Conv2D, Dense, FromNCHW, chw_to_hwc
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
        return [dataclasses.replace(layer, name=name) for layer, name in zip(self.layers, self.names)]

    def array_layers(self, source: str = "model") -> list:
        """The layers as the compiler takes them: an FC stack as ``fc_layers``; a conv network
        as its input map (``MapInput``), then ``SharedConv`` (stride, padding), ``Pool`` (max,
        average, global average) and ``SharedLayer``s (docs/conv.md). ReLUs fuse into the layer
        before them; the first FC layer after a channels-first ``Flatten`` (an imported ONNX
        model's) gets its columns moved to the array's (y, x, c) order. Kinds the array does
        not run are an error naming the layer."""
        from .interchange import MapInput, Pool, SharedConv

        kinds = [spec["kind"] for spec in self.network["layers"]]
        if "output" in self.network:
            _check_chain(self.network, source)
        if set(kinds) <= FC_KINDS:
            return self.fc_layers(source)
        specs = [spec for spec in self.network["layers"] if spec["kind"] != "dropout"]
        out, weighted, pools = [], iter(zip(self.layers, self.names)), 0
        shape = None          # (h, w, c) of the current feature map; None once it is rows
        flat_from = None      # (c, h, w) of a channels-first Flatten the next FC layer reads

        def fail(position, kind, problem):
            raise ZeroskipError(f"{source}: layer {position} of model {self.network['name']!r} "
                                f"is a {kind!r} layer {problem}")

        for position, spec in enumerate(specs):
            kind = spec["kind"]
            if position == 0 and kind in ("reshape", FromNCHW.kind) and len(spec["shape"]) == 3:
                dims = [int(v) for v in spec["shape"]]
                shape = tuple(dims) if kind == "reshape" else (dims[1], dims[2], dims[0])
                out.append(MapInput(*shape))
            elif kind == Conv2D.kind:
                if shape is None:
                    fail(position, kind, "reading rows, not a feature map")
                layer, name = next(weighted)
                k, stride, pad = (int(spec["kernel"]), int(spec.get("stride", 1)),
                                  int(spec.get("pad", 0)))
                out.append(SharedConv(layer.codebook, layer.codes, layer.bias, layer.act, k,
                                      stride, pad, name=name, groups=int(spec.get("groups", 1))))
                shape = (_window_out(shape[0], k, stride, pad),
                         _window_out(shape[1], k, stride, pad), int(spec["out_channels"]))
            elif kind in POOL_KINDS:
                if shape is None:
                    fail(position, kind, "pooling rows, not a feature map")
                op, k, stride, pad = _pool_window(spec, shape)
                if kind == "globalavgpool" and shape[0] != shape[1]:
                    fail(position, kind, f"pooling a {shape[0]}x{shape[1]} map, which the array "
                                         "does not run (its pooling windows are square)")
                if kind == "avgpool" and pad and not spec.get("count_include_pad", False):
                    fail(position, kind, "that pads and leaves the padding out of its averages, "
                                         "which the array does not run (it divides by k x k)")
                pools += 1
                out.append(Pool(op, k, stride, pad, name=f"pool{pools}"))
                shape = (_window_out(shape[0], k, stride, pad),
                         _window_out(shape[1], k, stride, pad), shape[2])
            elif kind == Dense.kind:
                layer, name = next(weighted)
                codes = layer.codes
                if flat_from is not None:
                    codes, flat_from = codes[:, chw_to_hwc(flat_from)], None
                out.append(dataclasses.replace(layer, codes=codes, name=name))
                shape = None
            elif kind == "relu" and out and not isinstance(out[-1], MapInput):
                if out[-1].act != "relu":
                    out[-1] = dataclasses.replace(out[-1], act="relu")   # fused into it
            elif kind == "flatten":
                if spec.get("order") == "chw" and shape is not None:
                    flat_from = (shape[2], shape[0], shape[1])
                shape = None
            else:
                fail(position, kind, "which the array does not run")
        return out


def _check_chain(network: dict, source: str) -> None:
    """A graph's spec runs on the array only as a chain: the first node that joins branches,
    reads another than the node before it, or shuffles channels is one line naming it."""
    previous = network.get("input", "input")
    for spec in network["layers"]:
        where = (f"{source}: node {spec.get('node')!r} ({spec['kind']}) of model "
                 f"{network['name']!r}")
        inputs = spec.get("inputs", [])
        if len(inputs) > 1:
            raise ZeroskipError(f"{where} joins {len(inputs)} branches; branching graphs are "
                                "not lowered onto the array yet")
        if inputs != [previous]:
            raise ZeroskipError(f"{where} reads {inputs[0]!r}, not the node before it; "
                                "branching graphs are not lowered onto the array yet")
        if spec["kind"] == "shuffle":
            raise ZeroskipError(f"{where} shuffles channels, which is not lowered onto the "
                                "array yet")
        previous = spec.get("node")


#: pooling kinds of a network spec
POOL_KINDS = ("maxpool2", "maxpool", "avgpool", "globalavgpool")


def _window_out(n: int, k: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - k) // stride + 1


def _pool_window(spec: dict, shape: tuple) -> tuple[str, int, int, int]:
    """(op, kernel, stride, pad) of a pooling spec on an (h, w, c) map."""
    kind = spec["kind"]
    if kind == "maxpool2":
        return "max", 2, 2, 0
    if kind == "globalavgpool":
        return "avg", shape[0], 1, 0
    return (kind[:3], int(spec["kernel"]), int(spec["stride"]), int(spec.get("pad", 0)))


def activations(network: dict) -> list[str]:
    """'relu' or 'none' for each weighted layer: whether a ReLU follows it (dropout skipped);
    in a graph, whether a ReLU is the one node reading it."""
    if "output" in network:
        readers: dict = {}
        for s in network["layers"]:
            inputs = s.get("inputs")
            for name in inputs if isinstance(inputs, list) else []:
                if isinstance(name, str):
                    readers.setdefault(name, []).append(s["kind"])
        return ["relu" if isinstance(s.get("node"), str) and readers.get(s["node"]) == ["relu"]
                else "none"
                for s in network["layers"] if s["kind"] in (Dense.kind, Conv2D.kind)]
    specs = [s for s in network["layers"] if s["kind"] != "dropout"]
    acts = []
    for i, spec in enumerate(specs):
        if spec["kind"] in (Dense.kind, Conv2D.kind):
            following = specs[i + 1]["kind"] if i + 1 < len(specs) else None
            acts.append("relu" if following == "relu" else "none")
    return acts


def from_network(net: Network, codebooks, codes, index_bits,
                 names: list[str] | None = None) -> CompressedModel:
    """Package a weight-shared ``net``: codes in the layers' weight shapes, one codebook each;
    ``names`` of its weighted layers (default ``net.layer_names()``: conv1, ..., fc1, ...)."""
    acts = activations(net.spec())
    layers = []
    for layer, book, code, act in zip(net.weighted(), codebooks, codes, acts, strict=True):
        rows = layer.params["W"].shape[0]
        matrix = np.asarray(code).reshape(rows, -1).astype(code_dtype(len(book)))
        layers.append(SharedLayer(np.asarray(book, np.float32), matrix,
                                  layer.params["b"].astype(np.float32).copy(), act))
    names = list(names) if names is not None else net.layer_names()
    if len(names) != len(layers):
        raise ValueError(f"{len(names)} names for {len(layers)} weighted layers")
    return CompressedModel(net.spec(), tuple(names), tuple(layers),
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


#: largest weighted layer a model file may declare, in weights (rows x cols): 2^27, above
#: VGG-16's fc6 (102M). Zeros are implicit in the file, so its length cannot bound this
MAX_LAYER_WEIGHTS = 1 << 27
#: longest layer name (a program's manifest holds at most this, ``zeroskip.hw.manifest``)
MAX_NAME = 256
#: largest header: the network's layer specs are short
MAX_HEADER_BYTES = 1 << 20


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


#: layer kinds of a network spec (``zeroskip.models.layers.build_layer``): the zoo's, and those
#: an imported ONNX model adds (strided, padded pooling, global average pooling, channels-first
#: input ``nchw``)
SPEC_KINDS = {"dense", "conv2d", "maxpool2", "relu", "flatten", "reshape", "dropout", "maxpool",
              "avgpool", "globalavgpool", "nchw", "concat", "add", "shuffle"}
#: largest kernel, stride or padding a spec may declare (they size no allocation, but a map
#: they shrink to nothing fails later)
MAX_WINDOW = 1 << 16


def _small_int(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_WINDOW


def _window_problem(spec: dict) -> str | None:
    """What is wrong with a conv or pooling spec's kernel, stride and padding, or None."""
    kind = spec["kind"]
    if kind == Conv2D.kind:
        fields = {"stride": spec.get("stride", 1), "pad": spec.get("pad", 0)}
        groups = spec.get("groups", 1)
        if not _small_int(groups, 1) or any(
                _positive_int(spec.get(n)) and spec[n] % groups
                for n in ("in_channels", "out_channels")):
            return "groups must be a positive integer dividing in_channels and out_channels"
    elif kind in ("maxpool", "avgpool"):
        fields = {"kernel": spec.get("kernel"), "stride": spec.get("stride"),
                  "pad": spec.get("pad", 0)}
        if not isinstance(spec.get("count_include_pad", False), bool):
            return "count_include_pad must be true or false"
    else:
        return None
    for name, value in fields.items():
        if not _small_int(value, 0 if name == "pad" else 1):
            return f"{name} must be an integer in {0 if name == 'pad' else 1}..{MAX_WINDOW}"
    if "kernel" in fields and fields["pad"] >= fields["kernel"]:
        return "pad must be less than kernel"
    return None


def check_network_spec(network, file_bytes: int, source: str) -> list[tuple[int, int]]:
    """Check the header's network without building it (a built layer allocates its weights)
    and return each weighted layer's matrix shape (rows, cols): every one within
    ``MAX_LAYER_WEIGHTS``, and its bias (4 bytes per output, stored in the file) within the
    file's length."""
    if not isinstance(network, dict) or not isinstance(network.get("layers"), list) \
            or not isinstance(network.get("name"), str):
        raise ZeroskipError(f"{source}: bad header (the network needs a name and a layer list)")
    shapes = []
    for i, spec in enumerate(network["layers"]):
        if not isinstance(spec, dict) or spec.get("kind") not in SPEC_KINDS:
            kind = spec.get("kind") if isinstance(spec, dict) else spec
            raise ZeroskipError(f"{source}: bad header (network layer {i} has unknown kind "
                                f"{kind!r})")
        kind = spec["kind"]
        problem = _window_problem(spec)
        if problem:
            raise ZeroskipError(f"{source}: bad header (network layer {i} ({kind}): {problem})")
        if kind == Dense.kind:
            sizes, rows = [spec.get("in"), spec.get("out")], spec.get("out")
        elif kind == Conv2D.kind:
            per_group = spec.get("in_channels")
            if _positive_int(per_group):            # groups checked above
                per_group //= spec.get("groups", 1)
            sizes = [per_group, spec.get("out_channels"), spec.get("kernel"), spec.get("kernel")]
            rows = spec.get("out_channels")
        elif kind in ("reshape", FromNCHW.kind):
            shape = spec.get("shape")
            if not isinstance(shape, list) or not all(_positive_int(n) for n in shape) \
                    or math.prod(shape) > MAX_LAYER_WEIGHTS \
                    or (kind == FromNCHW.kind and len(shape) != 3):
                raise ZeroskipError(f"{source}: bad header (network layer {i}: {kind} needs "
                                    "a short list of positive sizes)")
            continue
        elif kind == "flatten":
            if spec.get("order", "hwc") not in ("hwc", "chw"):
                raise ZeroskipError(f"{source}: bad header (network layer {i}: flatten order "
                                    "must be 'hwc' or 'chw')")
            continue
        elif kind == "shuffle":
            if not _small_int(spec.get("groups"), 1):
                raise ZeroskipError(f"{source}: bad header (network layer {i}: shuffle groups "
                                    f"must be an integer in 1..{MAX_WINDOW})")
            continue
        elif kind == "dropout":
            rate = spec.get("rate")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
                raise ZeroskipError(f"{source}: bad header (network layer {i}: dropout rate "
                                    "must be in [0, 1))")
            continue
        else:
            continue
        if not all(_positive_int(n) for n in sizes):
            raise ZeroskipError(f"{source}: bad header (network layer {i} ({kind}) needs "
                                "positive integer sizes)")
        if math.prod(sizes) > MAX_LAYER_WEIGHTS:
            raise ZeroskipError(f"{source}: network layer {i} ({kind}) declares "
                                f"{math.prod(sizes)} weights, more than {MAX_LAYER_WEIGHTS}")
        if 4 * rows > file_bytes:
            raise ZeroskipError(f"{source}: network layer {i} ({kind}) declares {rows} "
                                f"outputs, more than the {file_bytes}-byte file can hold")
        shapes.append((rows, math.prod(sizes) // rows))
    return shapes


def decode(data: bytes, source: str = "model") -> CompressedModel:
    """Parse a ``.zsk`` file's bytes; every problem is a ZeroskipError naming ``source``.

    The checksum is verified before anything else is parsed, and every size the header declares
    is bounded (by the file's length where the file stores it) before anything is allocated."""
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise ZeroskipError(f"{source}: not a zeroskip model file (bad magic)")
    if len(data) < _PREAMBLE.size + _CRC.size:
        raise ZeroskipError(f"{source}: truncated file (no checksum)")
    reader = _Reader(data, source)
    _, version, header_len = _PREAMBLE.unpack(reader.take(_PREAMBLE.size, "the preamble"))
    if version != VERSION:
        raise ZeroskipError(f"{source}: model file version {version} is not supported "
                            f"(this zeroskip reads version {VERSION})")
    body, (crc,) = data[:-_CRC.size], _CRC.unpack(data[-_CRC.size:])
    if zlib.crc32(body) != crc:
        raise ZeroskipError(f"{source}: truncated or corrupt file (checksum mismatch)")
    if header_len > MAX_HEADER_BYTES or reader.pos + header_len > len(body):
        raise ZeroskipError(f"{source}: header length {header_len} exceeds the file")
    raw_header = reader.take(header_len, "the header")
    try:
        header = json.loads(raw_header.decode("utf-8"))
        if not isinstance(header, dict):
            raise TypeError("not a JSON object")
        network, entries = header["network"], header["layers"]
        shapes = check_network_spec(network, len(data), source)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("'layers' is not a list of objects")
    except UnicodeDecodeError:
        raise ZeroskipError(f"{source}: bad header (not UTF-8 text)") from None
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ZeroskipError(f"{source}: bad header ({first})") from None
    if len(entries) != len(shapes):
        raise ZeroskipError(f"{source}: header lists {len(entries)} layers, network has "
                            f"{len(shapes)} weighted layers")
    layers, names, index_bits = [], [], []
    for i, (entry, (rows, cols)) in enumerate(zip(entries, shapes)):
        if (entry.get("rows"), entry.get("cols")) != (rows, cols):
            raise ZeroskipError(f"{source}: layer {i} is {entry.get('rows')}x{entry.get('cols')} "
                                f"in the header but {rows}x{cols} in the network")
        k, r = entry.get("codebook_size"), entry.get("index_bits")
        if not _positive_int(k) or not _positive_int(r) or not k <= 65536 or not r <= 16:
            raise ZeroskipError(f"{source}: layer {i} has a bad codebook size or index width")
        what = f"layer {i} ({entry.get('name')})"
        n, code_bytes, gap_bytes = _SECTION.unpack(reader.take(_SECTION.size, what))
        if n > rows * cols or n > 8 * min(code_bytes, gap_bytes) and n:
            raise ZeroskipError(f"{source}: {what} declares {n} entries, more than its "
                                f"{rows}x{cols} matrix or its streams can hold")
        if 4 * k + 4 * rows + k + 2 ** r + code_bytes + gap_bytes > len(body) - reader.pos:
            raise ZeroskipError(f"{source}: truncated file (ends inside {what})")
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
        name = entry.get("name", f"layer{i}")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise ZeroskipError(f"{source}: layer {i} name must be a string of 1..{MAX_NAME} "
                                "characters")
        names.append(name)
        index_bits.append(r)
    if reader.pos != len(body):
        raise ZeroskipError(f"{source}: {len(body) - reader.pos} unexpected bytes after the "
                            "last layer")
    try:
        Network.from_spec(network)      # the spec builds (sizes bounded above), a graph links
    except (ValueError, KeyError, TypeError) as error:
        raise ZeroskipError(f"{source}: bad header ({error})") from None
    if [layer.act for layer in layers] != activations(network):
        raise ZeroskipError(f"{source}: layer activations disagree with the network")
    return CompressedModel(network, tuple(names), tuple(layers), tuple(index_bits))


def load(path: str | os.PathLike) -> CompressedModel:
    from zeroskip.inputs import read_file

    return decode(read_file(path, "model file"), str(path))
