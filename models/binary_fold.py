"""FINN folding: a trained binary network (eval mode) → integer thresholds on the popcount.
Batch norm + sign becomes ``dot >= T`` (or ``dot <= T`` when the BN scale is negative); a max
pool of the signs is an OR of the bits. The exact semantics are in docs/binary.md."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError

from .binary_layers import BinaryConv2D, BinaryDense, Sign
from .layers import BatchNorm, Flatten, MaxPool2, MaxPool2D, Reshape
from .network import Network


@dataclass(frozen=True, eq=False)
class FoldedLayer:
    """One layer of the integer network (semantics in docs/binary.md).

    ``weights`` bool [out, in] (True = +1). Input: ``input_bits = 0`` means bipolar bits (±1),
    ``b > 0`` unsigned b-bit integers. Output: ``thresholds`` int64 [out] with ``flip`` bool [out]
    (bit = dot >= T, or dot <= T where flip) for a binarised output; otherwise ``scale``/``offset``
    float64 [out] (value = scale * dot + offset).

    A convolution has ``conv`` = (height, width, channels, kernel, stride, pad) of its input map
    and window; its ``weights`` are [out, k·k·channels] in the array's window order
    ``(ky·k + kx)·channels + c``, its output the map [oh, ow, out] (y, x, c). The padding
    contributes nothing to ``dot``. ``pool`` = (kernel, stride): the binarised output bits
    max-pooled (an OR: the bit 1 is +1).
    """

    name: str
    weights: np.ndarray
    input_bits: int
    thresholds: np.ndarray | None = None
    flip: np.ndarray | None = None
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None
    conv: tuple | None = None
    pool: tuple | None = None

    @property
    def binary_output(self) -> bool:
        return self.thresholds is not None

    @property
    def in_features(self) -> int:
        """The input vector's length: the input map's h·w·c for a convolution."""
        if self.conv is None:
            return self.fan_in
        h, w, c = self.conv[:3]
        return h * w * c

    @property
    def conv_size(self) -> tuple[int, int]:
        """A convolution's output map (height, width) before its pool."""
        h, w, _, k, stride, pad = self.conv
        return (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1

    @property
    def out_shape(self) -> tuple:
        """(features,), or a convolution's output map (h, w, channels) after its pool."""
        out = int(self.weights.shape[0])
        if self.conv is None:
            return (out,)
        oh, ow = self.conv_size
        if self.pool is not None:
            pk, ps = self.pool
            oh, ow = (oh - pk) // ps + 1, (ow - pk) // ps + 1
        return (oh, ow, out)

    @property
    def fan_in(self) -> int:
        return int(self.weights.shape[1])

    def dot_bound(self) -> int:
        """|dot| <= this: fan-in times the largest input magnitude."""
        return self.fan_in * (1 if self.input_bits == 0 else 2 ** self.input_bits - 1)


def threshold_from_affine(a: np.ndarray, c: np.ndarray, bound: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Integer thresholds for ``a * dot + c >= 0`` over integer ``dot`` in [-bound, bound].

    a > 0: dot >= ceil(-c / a); a < 0: dot <= floor(-c / a) (flipped); a == 0: always (c >= 0)
    or never. Thresholds are clipped to [-bound - 1, bound + 1], which keeps every decision.
    """
    a = np.asarray(a, np.float64)
    c = np.asarray(c, np.float64)
    flip = a < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = -c / a
    t = np.where(flip, np.floor(cut), np.ceil(cut))
    t = np.where(a == 0, np.where(c >= 0, -bound - 1, bound + 1), t)
    t = np.clip(np.nan_to_num(t, posinf=bound + 1, neginf=-bound - 1), -bound - 1, bound + 1)
    return t.astype(np.int64), flip


def fold(net: Network) -> list[FoldedLayer]:
    """The integer form of a binary network made of binary dense and conv layers, each followed
    by a batch norm (then a ``Sign``, or the next layer binarising its input, except after the
    last), max pools of the signs and flattens between them; a first ``Reshape`` gives the
    input map's shape."""
    layers = list(net.layers)
    shape: tuple | None = None
    if layers and isinstance(layers[0], Reshape):
        shape = layers.pop(0).shape
    folded = []
    i, dense_index, conv_index = 0, 0, 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Flatten) and folded and folded[-1].conv is not None:
            if layer.channels_first:
                raise ZeroskipError(f"layer {folded[-1].name}: flattened channels first; the "
                                    "packed bits are in (y, x, c) order")
            shape = (int(np.prod(shape)),)
            i += 1
            continue
        is_conv = isinstance(layer, BinaryConv2D)
        if is_conv:
            conv_index += 1
            name = f"conv{conv_index}"
        else:
            dense_index += 1
            name = f"fc{dense_index}"
        if not isinstance(layer, (BinaryDense, BinaryConv2D)):
            raise ZeroskipError(f"layer {name}: {layer.kind} has no packed-bit form "
                                "(full-precision layers cannot be folded)")
        if i + 1 >= len(layers) or not isinstance(layers[i + 1], BatchNorm):
            raise ZeroskipError(f"layer {name}: a binary layer must be followed by a batch norm")
        g, h = layers[i + 1].affine()
        # y = alpha * s * dot, BN(y) = g * y + h = (g * alpha * s) * dot + h
        a = g * layer.alpha().astype(np.float64) * layer.input_scale()
        bits = int(np.ceil(np.log2(layer.input_levels + 1))) if layer.input_levels else 0
        if bits and 2 ** bits - 1 != layer.input_levels:
            raise ZeroskipError(f"layer {name}: input levels {layer.input_levels} is not 2**b - 1")
        geometry = None
        if is_conv:
            w = layer.params["W"]                                  # [out, c, k, k]
            if shape is None or len(shape) != 3 or shape[2] != w.shape[1]:
                raise ZeroskipError(f"layer {name}: reads {w.shape[1]} channels, but its input "
                                    f"is {shape} (start the network with a Reshape to the map)")
            weights = (w >= 0).transpose(0, 2, 3, 1).reshape(len(w), -1)   # (ky, kx, c)
            geometry = (*shape, layer.kernel, layer.stride, layer.pad)
        else:
            weights = layer.params["W"] >= 0
        j = i + 2
        binarised = j < len(layers) and (isinstance(layers[j], Sign) or (
            isinstance(layers[j], (BinaryDense, BinaryConv2D)) and layers[j].binarize_input))
        if isinstance(layers[j] if j < len(layers) else None, Sign):
            j += 1
        pool = None
        if j < len(layers) and isinstance(layers[j], (MaxPool2, MaxPool2D)):
            pooling = layers[j]
            if not (is_conv and isinstance(layers[j - 1], Sign)):
                raise ZeroskipError(f"layer {name}: a max pool must follow a Sign after a binary "
                                    "conv (it pools the bits)")
            k, s = (2, 2) if isinstance(pooling, MaxPool2) else (pooling.kernel, pooling.stride)
            if isinstance(pooling, MaxPool2D) and pooling.pad:
                raise ZeroskipError(f"layer {name}: its max pool pads; bit pools do not")
            pool = (k, s)
            j += 1
        common = dict(conv=geometry, pool=pool)
        if binarised:
            bound = weights.shape[1] * (2 ** bits - 1 if bits else 1)
            t, flip = threshold_from_affine(a, h, bound)
            folded.append(FoldedLayer(name, weights, bits, thresholds=t, flip=flip, **common))
        elif j >= len(layers):
            folded.append(FoldedLayer(name, weights, bits, scale=a, offset=h, **common))
        else:
            raise ZeroskipError(f"layer {name}: only the last layer may have a non-binary output")
        shape = folded[-1].out_shape
        i = j
    return folded
