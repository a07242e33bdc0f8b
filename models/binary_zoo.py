"""The zoo's binary MLP and its full-precision twin (baseline and distillation teacher)."""

from __future__ import annotations

import numpy as np

from zeroskip.errors import ZeroskipError

from .binary_layers import MODES, PIXEL_LEVELS, BinaryDense, Sign
from .layers import BatchNorm, Dense, Layer, ReLU
from .network import Network


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ZeroskipError(f"--mode {mode!r}: unknown binary mode (one of {', '.join(MODES)})")
    return mode


def binary_mlp(mode: str = "bwn", sizes: tuple[int, ...] = (784, 256, 256, 10), seed: int = 0,
               first_full_precision: bool = False, last_full_precision: bool = False) -> Network:
    """784-256-256-10 by default: every layer binary-weight, hidden activations binarised.

    Each layer is followed by a batch norm; hidden layers then by ``Sign`` (BWN) or by an XNOR
    layer that binarises its input itself. The first layer reads 8-bit pixels (binary weights on
    quantised inputs); the last layer's output is the integer dot product, scaled (its batch norm
    is an affine map). ``*_full_precision`` swap the first / last layer for a float ``Dense``.
    """
    check_mode(mode)
    if len(sizes) < 3:
        raise ZeroskipError(f"binary MLP sizes {sizes}: need an input, a hidden and an output size")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    count = len(sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        first, last = i == 0, i == count - 1
        if (first and first_full_precision) or (last and last_full_precision):
            layers.append(Dense(n_in, n_out, rng))
        elif first:
            layers.append(BinaryDense(n_in, n_out, rng, input_levels=PIXEL_LEVELS))
        else:
            layers.append(BinaryDense(n_in, n_out, rng, binarize_input=(mode == "xnor")))
        layers.append(BatchNorm(n_out))
        if not last and mode == "bwn":
            layers.append(Sign())
    return Network(f"binary-mlp-{mode}", layers)


def float_mlp(sizes: tuple[int, ...] = (784, 256, 256, 10), seed: int = 0) -> Network:
    """The full-precision baseline and distillation teacher: the same sizes with ReLU."""
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    pairs = list(zip(sizes[:-1], sizes[1:]))
    for i, (n_in, n_out) in enumerate(pairs):
        layers.append(Dense(n_in, n_out, rng))
        if i < len(pairs) - 1:
            layers.append(ReLU())
    return Network("float-mlp", layers)
