"""Storage of a binary network as deployed: 1 bit per binary weight plus the per-output
thresholds (or the last layer's float scale and offset)."""

from __future__ import annotations

from dataclasses import dataclass

from .binary_layers import BinaryConv2D, BinaryDense
from .layers import Dense
from .network import Network


FLOAT_BITS = 32


def signed_bits(bound: int) -> int:
    """Two's-complement width holding every integer in [-bound, bound]."""
    return int(bound).bit_length() + 1


@dataclass(frozen=True)
class BinaryLayerStorage:
    """One layer as deployed. ``bits`` per weight (1 binary, 32 full precision); ``extra_bits``
    the per-output parameters: a threshold of ``signed_bits(bound + 1)`` plus a flip bit for a
    binarised output (alpha, beta and batch norm are folded into it), float32 scale + offset for
    the last layer, float32 bias + threshold for a full-precision layer."""

    name: str
    weights: int
    outputs: int
    bits: int
    extra_bits: int
    dense_bits: int  # the float32 baseline: (weights + biases) x 32

    @property
    def total_bits(self) -> int:
        return self.weights * self.bits + self.extra_bits

    @property
    def bytes(self) -> int:
        return -(-self.total_bits // 8)

    def to_json(self) -> dict:
        return {"name": self.name, "weights": self.weights, "bits": self.bits,
                "extra_bits": self.extra_bits, "bytes": self.bytes,
                "float32_bytes": self.dense_bits // 8}


def storage(net: Network) -> list[BinaryLayerStorage]:
    """Per weighted layer of a ``binary_mlp`` or ``binary_cnn`` network (binary or
    full-precision layers); a conv's fan-in is its window's k·k·channels, its outputs its
    output channels (one threshold each)."""
    weighted = [layer for layer in net.layers
                if isinstance(layer, (BinaryDense, BinaryConv2D, Dense))]
    report = []
    convs = 0
    for i, layer in enumerate(weighted):
        n_out = layer.params["W"].shape[0]
        n_in = layer.params["W"][0].size
        last = i == len(weighted) - 1
        if isinstance(layer, BinaryConv2D):
            convs += 1
        name = f"conv{convs}" if isinstance(layer, BinaryConv2D) else f"fc{i + 1 - convs}"
        if isinstance(layer, (BinaryDense, BinaryConv2D)):
            bits = 1
            if last:
                extra = n_out * 2 * FLOAT_BITS
            else:
                levels = layer.input_levels or 1
                extra = n_out * (signed_bits(n_in * levels + 1) + 1)
        else:
            bits = FLOAT_BITS
            extra = n_out * FLOAT_BITS * (1 if last else 2)
        report.append(BinaryLayerStorage(name, int(n_in * n_out), int(n_out), bits,
                                         int(extra), int((n_in + 1) * n_out * FLOAT_BITS)))
    return report


def compression_ratio(report: list[BinaryLayerStorage]) -> float:
    """float32 storage (weights + biases) ÷ deployed storage, both in whole bytes per layer."""
    return sum(r.dense_bits // 8 for r in report) / sum(r.bytes for r in report)
