"""FINN folding: a trained binary MLP (eval mode) → integer thresholds on the popcount. Batch
norm + sign becomes ``dot >= T`` (or ``dot <= T`` when the BN scale is negative); the exact
semantics are in docs/binary.md."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError

from .binary_layers import BinaryDense, Sign
from .layers import BatchNorm
from .network import Network


@dataclass(frozen=True, eq=False)
class FoldedLayer:
    """One layer of the integer network (semantics in docs/binary.md).

    ``weights`` bool [out, in] (True = +1). Input: ``input_bits = 0`` means bipolar bits (±1),
    ``b > 0`` unsigned b-bit integers. Output: ``thresholds`` int64 [out] with ``flip`` bool [out]
    (bit = dot >= T, or dot <= T where flip) for a binarised output; otherwise ``scale``/``offset``
    float64 [out] (value = scale * dot + offset).
    """

    name: str
    weights: np.ndarray
    input_bits: int
    thresholds: np.ndarray | None = None
    flip: np.ndarray | None = None
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None

    @property
    def binary_output(self) -> bool:
        return self.thresholds is not None

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
    """The integer form of a binary MLP built by ``binary_mlp`` (binary layers only)."""
    layers = net.layers
    folded = []
    i = 0
    index = 0
    while i < len(layers):
        layer = layers[i]
        index += 1
        name = f"fc{index}"
        if not isinstance(layer, BinaryDense):
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
        weights = layer.params["W"] >= 0
        nxt = layers[i + 2] if i + 2 < len(layers) else None
        binarised = isinstance(nxt, Sign) or (
            isinstance(nxt, BinaryDense) and nxt.binarize_input)
        if binarised:
            bound = weights.shape[1] * (2 ** bits - 1 if bits else 1)
            t, flip = threshold_from_affine(a, h, bound)
            folded.append(FoldedLayer(name, weights, bits, thresholds=t, flip=flip))
        elif nxt is None:
            folded.append(FoldedLayer(name, weights, bits, scale=a, offset=h))
        else:
            raise ZeroskipError(f"layer {name}: only the last layer may have a non-binary output")
        i += 3 if isinstance(nxt, Sign) else 2
    return folded
