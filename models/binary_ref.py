"""Packed-bit reference inference of a folded binary network: integers and bits only.

This is what the accelerator will compute bit-exactly (docs/binary.md defines it). Bit ``j`` of a
K-bit vector lives in word ``j // 64`` at bit ``j % 64`` (LSB first) of a uint64 array of
``ceil(K / 64)`` words; padding bits of the last word are zero and are masked off anyway.

Per output row with weight bits ``w`` (1 = +1, 0 = -1):

- bipolar input bits ``a`` (1 = +1): ``P = popcount(xnor(a, w) & mask)``, ``dot = 2P - K``;
- unsigned b-bit input ``x`` as bit planes ``a_p`` (p = 0 .. b-1):
  ``dot = sum_p 2**p * (2 * popcount(a_p & w) - popcount(a_p))``.

A binarised output is ``dot >= T`` (``dot <= T`` when flipped), as a bit; the last layer's output
is the integer ``dot`` itself, and ``scale * dot + offset`` (float64) only ranks the classes.
"""

from __future__ import annotations

import io
import os

import numpy as np

from zeroskip.errors import ZeroskipError

from .binary_fold import FoldedLayer

from .binary_layers import quantize_input
from .layers import windows
from .interchange import atomic_write

WORD_BITS = 64
BATCH = 256  # samples per block: bounds the [batch, out, words] temporaries


def words_for(bits: int) -> int:
    return -(-int(bits) // WORD_BITS)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """bool [..., K] → uint64 [..., ceil(K/64)], bit j at word j//64, position j%64."""
    bits = np.asarray(bits, bool)
    k = bits.shape[-1]
    padded = np.zeros(bits.shape[:-1] + (words_for(k) * WORD_BITS,), bool)
    padded[..., :k] = bits
    as_bytes = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(as_bytes).view("<u8").astype(np.uint64)


def unpack_bits(words: np.ndarray, k: int) -> np.ndarray:
    """The inverse of ``pack_bits``: bool [..., k]."""
    as_bytes = np.ascontiguousarray(np.asarray(words, "<u8")).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :k].astype(bool)


def tail_mask(k: int) -> np.ndarray:
    """uint64 [words]: all ones except the padding bits beyond ``k`` in the last word."""
    mask = np.full(words_for(k), np.uint64(0xFFFF_FFFF_FFFF_FFFF), np.uint64)
    if k % WORD_BITS:
        mask[-1] = np.uint64((1 << (k % WORD_BITS)) - 1)
    return mask


def popcount(words: np.ndarray) -> np.ndarray:
    """Set bits summed over the last axis (int64)."""
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


def bipolar_dot(a: np.ndarray, w: np.ndarray, k: int, valid: np.ndarray | None = None
                ) -> np.ndarray:
    """``2 * popcount(xnor(a, w)) - k``: a uint64 [n, words], w uint64 [out, words] → [n, out].
    ``valid`` uint64 [n, words]: only these bits count (a window's taps inside the map), and
    ``k`` is then their number per row."""
    mask = tail_mask(k)
    out = np.empty((len(a), len(w)), np.int64)
    for s in range(0, len(a), BATCH):
        rows = mask if valid is None else valid[s:s + BATCH, None, :]
        xnor = ~(a[s:s + BATCH, None, :] ^ w[None, :, :]) & rows
        ones = k if valid is None else popcount(valid[s:s + BATCH])[:, None]
        out[s:s + BATCH] = 2 * popcount(xnor) - ones
    return out


def unsigned_dot(planes: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """``sum_p 2**p (2 popcount(a_p & w) - popcount(a_p))``: planes uint64 [bits, n, words]."""
    mask = tail_mask(k)
    n = planes.shape[1]
    out = np.zeros((n, len(w)), np.int64)
    for p, plane in enumerate(planes):
        plane = plane & mask
        ones = popcount(plane)
        for s in range(0, n, BATCH):
            hits = popcount(plane[s:s + BATCH, None, :] & w[None, :, :])
            out[s:s + BATCH] += (2 * hits - ones[s:s + BATCH, None]) << p
    return out


def input_planes(x: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned integers [n, K] → packed bit planes uint64 [bits, n, words] (plane 0 = LSB)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise ZeroskipError(f"input: expected integers, got {x.dtype}")
    if x.size and (x.min() < 0 or x.max() >= 2 ** bits):
        raise ZeroskipError(f"input: values must lie in 0..{2 ** bits - 1} ({bits}-bit unsigned), "
                            f"got {x.min()}..{x.max()}")
    return np.stack([pack_bits((x >> p) & 1) for p in range(bits)])


def quantize_pixels(x: np.ndarray, bits: int = 8) -> np.ndarray:
    """Float images in [0, 1] → the first layer's unsigned ``bits``-bit integers (round half up)."""
    return quantize_input(x, 2 ** bits - 1)


def _check_geometry(layer: FoldedLayer) -> None:
    name, w = layer.name, np.asarray(layer.weights)
    if layer.conv is not None:
        conv = tuple(layer.conv)
        if len(conv) != 6 or not all(isinstance(v, (int, np.integer)) for v in conv):
            raise ZeroskipError(f"layer {name}: conv must be six integers (height, width, "
                                "channels, kernel, stride, pad)")
        h, wd, c, k, stride, pad = conv
        if min(h, wd, c, k, stride) < 1 or not 0 <= pad < k or min(h, wd) + 2 * pad < k:
            raise ZeroskipError(f"layer {name}: conv geometry {conv} is not a valid window")
        if w.shape[1] != k * k * c:
            raise ZeroskipError(f"layer {name}: {w.shape[1]} weight columns, a {k}x{k} window "
                                f"over {c} channels has {k * k * c}")
    if layer.pool is not None:
        pool = tuple(layer.pool)
        if layer.conv is None or not layer.binary_output:
            raise ZeroskipError(f"layer {name}: only a binary conv's output bits are pooled")
        if len(pool) != 2 or min(pool) < 1:
            raise ZeroskipError(f"layer {name}: pool must be two positive integers (kernel, "
                                "stride)")
        if min(layer.conv_size) < pool[0]:
            raise ZeroskipError(f"layer {name}: a {pool[0]}x{pool[0]} pool is larger than its map")


def check_layer(layer: FoldedLayer) -> None:
    """ZeroskipError naming the layer and field for anything outside the integer contract."""
    name = layer.name
    w = np.asarray(layer.weights)
    if w.ndim != 2 or w.dtype != bool or w.shape[1] == 0:
        raise ZeroskipError(f"layer {name}: weights must be a non-empty bool [out, in] matrix")
    _check_geometry(layer)
    if not 0 <= layer.input_bits <= 16:
        raise ZeroskipError(f"layer {name}: input_bits {layer.input_bits} outside 0..16")
    out = w.shape[0]
    bound = layer.dot_bound()
    if layer.binary_output:
        t, flip = np.asarray(layer.thresholds), np.asarray(layer.flip)
        if t.shape != (out,) or not np.issubdtype(t.dtype, np.integer):
            raise ZeroskipError(f"layer {name}: thresholds must be {out} integers")
        if flip.shape != (out,) or flip.dtype != bool:
            raise ZeroskipError(f"layer {name}: flip must be {out} booleans")
        if t.size and (t.min() < -bound - 1 or t.max() > bound + 1):
            raise ZeroskipError(f"layer {name}: thresholds {t.min()}..{t.max()} out of range "
                                f"{-bound - 1}..{bound + 1} (fan-in {w.shape[1]})")
    else:
        for field in ("scale", "offset"):
            v = getattr(layer, field)
            if v is None or np.shape(v) != (out,) or not np.all(np.isfinite(v)):
                raise ZeroskipError(f"layer {name}: {field} must be {out} finite numbers")


def check_network(layers: list[FoldedLayer]) -> None:
    if not layers:
        raise ZeroskipError("folded network: no layers")
    for i, layer in enumerate(layers):
        check_layer(layer)
        last = i == len(layers) - 1
        if last == layer.binary_output:
            raise ZeroskipError(f"layer {layer.name}: only the last layer has a non-binary output")
        if i and layer.input_bits != 0:
            raise ZeroskipError(f"layer {layer.name}: hidden layers read bipolar bits "
                                "(input_bits 0)")
        if last and layer.conv is not None:
            raise ZeroskipError(f"layer {layer.name}: the last layer must be fully connected")
        if not i:
            continue
        before = layers[i - 1].out_shape
        if layer.conv is not None and tuple(layer.conv[:3]) != before:
            raise ZeroskipError(f"layer {layer.name}: reads a {tuple(layer.conv[:3])} map, "
                                f"{layers[i - 1].name} writes {before}")
        if layer.in_features != int(np.prod(before)):
            raise ZeroskipError(f"layer {layer.name}: fan-in {layer.fan_in} does not match "
                                f"the {int(np.prod(before))} outputs of "
                                f"{layers[i - 1].name}")


def layer_dot(layer: FoldedLayer, x) -> np.ndarray:
    """The integer dot products [n, out] of one layer; ``x`` is packed bits (bipolar input,
    uint64 [n, words]) or unsigned integers [n, K]."""
    k = layer.fan_in
    w = pack_bits(layer.weights)
    if layer.input_bits:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != k:
            raise ZeroskipError(f"layer {layer.name}: input has {x.shape[-1]} features, "
                                f"fan-in is {k}")
        return unsigned_dot(input_planes(x, layer.input_bits), w, k)
    if x.ndim != 2 or x.shape[1] != words_for(k):
        raise ZeroskipError(f"layer {layer.name}: input has {x.shape[-1]} words, "
                            f"fan-in {k} needs {words_for(k)}")
    return bipolar_dot(x, w, k)


def _window_columns(layer: FoldedLayer, x: np.ndarray) -> np.ndarray:
    """[n, h·w·c] maps → every output pixel's window [n·oh·ow, k·k·c] in the array's order
    (ky, kx, c); the padding reads as 0."""
    h, w, c, k, stride, pad = layer.conv
    view = windows(x.reshape(len(x), h, w, c), k, stride, pad)       # [n, oh, ow, c, k, k]
    return view.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * c)


def conv_dot(layer: FoldedLayer, x: np.ndarray) -> np.ndarray:
    """A binary conv's integer dot products [n, oh·ow·out] ((y, x, c) order): ``x`` [n, h·w·c]
    holds the input map's bits (bool, bipolar) or unsigned integers (``input_bits``). A padded
    tap contributes nothing: 0 to the unsigned planes, and no bit to the bipolar popcount."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != layer.in_features:
        raise ZeroskipError(f"layer {layer.name}: input has {x.shape[-1]} features, its map "
                            f"has {layer.in_features}")
    k = layer.fan_in
    w = pack_bits(layer.weights)
    if layer.input_bits:
        dot = unsigned_dot(input_planes(_window_columns(layer, x), layer.input_bits), w, k)
    else:
        inside = _window_columns(layer, np.ones(x.shape, bool))
        dot = bipolar_dot(pack_bits(_window_columns(layer, x.astype(bool))), w, k,
                          pack_bits(inside))
    return dot.reshape(len(x), -1)


def pool_bits(layer: FoldedLayer, bits: np.ndarray) -> np.ndarray:
    """A conv's output bits [n, oh·ow·out] max-pooled by ``layer.pool`` (an OR of each window)."""
    oh, ow = layer.conv_size
    pk, ps = layer.pool
    view = windows(bits.reshape(len(bits), oh, ow, -1), pk, ps)       # [n, ph, pw, out, pk, pk]
    return view.any(axis=(4, 5)).reshape(len(bits), -1)


def layer_output_bits(layer: FoldedLayer, dot: np.ndarray) -> np.ndarray:
    """bool [n, out]: ``dot >= T``, or ``dot <= T`` where the layer's ``flip`` is set (a conv's
    [n, oh·ow·out], channel last)."""
    if layer.conv is not None:
        shaped = dot.reshape(len(dot), -1, len(layer.thresholds))
        return np.where(layer.flip, shaped <= layer.thresholds,
                        shaped >= layer.thresholds).reshape(dot.shape)
    return np.where(layer.flip, dot <= layer.thresholds, dot >= layer.thresholds)


def trace(layers: list[FoldedLayer], x_int: np.ndarray) -> list[np.ndarray]:
    """Every layer's integer dot products, in order (the first layer reads ``x_int``; a conv's
    are [n, oh·ow·out], before its pool)."""
    check_network(layers)
    dots, x, as_given = [], np.asarray(x_int), True
    for layer in layers:
        if layer.conv is not None:
            dot = conv_dot(layer, x)
        else:                    # the first layer's input as given; later ones' bits packed
            dot = layer_dot(layer, x if as_given else pack_bits(x))
        dots.append(dot)
        if layer.binary_output:
            x = layer_output_bits(layer, dot)
            if layer.pool is not None:
                x = pool_bits(layer, x)
            as_given = False
    return dots


def last_dots(layers: list[FoldedLayer], x_int: np.ndarray) -> np.ndarray:
    """The last layer's integer dot products [n, classes]."""
    return trace(layers, x_int)[-1]


def scores(layers: list[FoldedLayer], x_int: np.ndarray) -> np.ndarray:
    """``scale * dot + offset`` of the last layer (float64): the logits up to rounding."""
    last = layers[-1]
    return last_dots(layers, x_int) * last.scale + last.offset


def predict(layers: list[FoldedLayer], x_int: np.ndarray) -> np.ndarray:
    """Class indices (ties: the lowest index, as ``argmax``)."""
    return scores(layers, x_int).argmax(axis=1)


def accuracy(layers: list[FoldedLayer], x_int: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(layers, x_int) == np.asarray(y)))


# ---------------------------------------------------------------------------------------------
# The folded model file: an .npz the compiler will lower onto the accelerator
# ---------------------------------------------------------------------------------------------

FORMAT = "zeroskip-binary-1"
#: a model with convolutions: ``layer{i}_conv`` and ``layer{i}_pool`` as well (older readers
#: would take a conv for a dense layer, so the format says it)
FORMAT_CONV = "zeroskip-binary-2"
FORMATS = (FORMAT, FORMAT_CONV)


def save(path: str | os.PathLike, layers: list[FoldedLayer]) -> None:
    """Atomic write: ``layer{i}_weights`` packed uint64, thresholds/flip or scale/offset, and a
    conv's geometry (``layer{i}_conv``: height, width, channels, kernel, stride, pad) and pool
    (``layer{i}_pool``: kernel, stride)."""
    check_network(layers)
    convs = any(layer.conv is not None for layer in layers)
    arrays = {"format": np.array(FORMAT_CONV if convs else FORMAT), "layers": np.array(len(layers))}
    for i, layer in enumerate(layers):
        if layer.conv is not None:
            arrays[f"layer{i}_conv"] = np.array(layer.conv, np.int64)
        if layer.pool is not None:
            arrays[f"layer{i}_pool"] = np.array(layer.pool, np.int64)
        arrays[f"layer{i}_name"] = np.array(layer.name)
        arrays[f"layer{i}_weights"] = pack_bits(layer.weights)
        arrays[f"layer{i}_shape"] = np.array(layer.weights.shape, np.int64)
        arrays[f"layer{i}_input_bits"] = np.array(layer.input_bits)
        if layer.binary_output:
            arrays[f"layer{i}_thresholds"] = np.asarray(layer.thresholds, np.int64)
            arrays[f"layer{i}_flip"] = np.asarray(layer.flip, bool)
        else:
            arrays[f"layer{i}_scale"] = np.asarray(layer.scale, np.float64)
            arrays[f"layer{i}_offset"] = np.asarray(layer.offset, np.float64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


#: most layers a folded model may declare (the accelerator holds at most 1024 codebooks)
MAX_LAYERS = 1024


def load(path: str | os.PathLike) -> list[FoldedLayer]:
    """Read a folded binary model; every problem is one ZeroskipError line naming the file."""
    from .interchange import npz_member, open_npz

    data = open_npz(path, ".npz file")
    with data:
        def array(key):
            if key not in data.files:
                raise ZeroskipError(f"{path}: missing array '{key}'")
            return npz_member(data, key, path)

        def scalar_int(key):
            value = array(key)
            if value.shape != () or value.dtype.kind not in "iu":
                raise ZeroskipError(f"{path}: '{key}' must be one integer")
            return int(value)

        if "format" not in data.files or str(array("format")) not in FORMATS:
            raise ZeroskipError(f"{path}: not a zeroskip binary model (format {FORMAT} or "
                                f"{FORMAT_CONV} expected)")
        with_conv = str(array("format")) == FORMAT_CONV

        def geometry(key, count):
            if not with_conv or key not in data.files:
                return None
            value = array(key)
            if value.shape != (count,) or value.dtype.kind not in "iu":
                raise ZeroskipError(f"{path}: '{key}' must be {count} integers")
            return tuple(int(v) for v in value)
        count = scalar_int("layers")
        if not 1 <= count <= MAX_LAYERS:
            raise ZeroskipError(f"{path}: 'layers' {count} outside 1..{MAX_LAYERS}")
        layers = []
        for i in range(count):
            shape = array(f"layer{i}_shape")
            if shape.shape != (2,) or shape.dtype.kind not in "iu" or shape.min() < 1:
                raise ZeroskipError(f"{path}: layer{i}_shape must be two positive integers")
            out, k = (int(v) for v in shape)
            words = array(f"layer{i}_weights")
            if words.dtype != np.uint64 or words.shape != (out, words_for(k)):
                raise ZeroskipError(f"{path}: layer {i} weights do not match shape {out}x{k}")
            weights = unpack_bits(words, k)
            name = array(f"layer{i}_name")
            if name.shape != () or name.dtype.kind != "U" or not 0 < len(str(name)) <= 256:
                raise ZeroskipError(f"{path}: layer{i}_name must be a string of 1..256 characters")
            common = dict(name=str(name), weights=weights,
                          input_bits=scalar_int(f"layer{i}_input_bits"),
                          conv=geometry(f"layer{i}_conv", 6), pool=geometry(f"layer{i}_pool", 2))
            if f"layer{i}_thresholds" in data.files:
                layers.append(FoldedLayer(**common, thresholds=array(f"layer{i}_thresholds"),
                                          flip=array(f"layer{i}_flip")))
            else:
                scale, offset = array(f"layer{i}_scale"), array(f"layer{i}_offset")
                for key, value in (("scale", scale), ("offset", offset)):
                    if value.dtype.kind not in "iuf":
                        raise ZeroskipError(f"{path}: layer{i}_{key} must be numbers")
                layers.append(FoldedLayer(**common, scale=scale.astype(np.float64),
                                          offset=offset.astype(np.float64)))
    try:
        check_network(layers)
    except ZeroskipError as error:
        raise ZeroskipError(f"{path}: {error}") from None
    return layers
