"""The zoo's binary MLP and its full-precision twin (baseline and distillation teacher), and a
binary conv net (XNOR-Net / BWN convolutions, max pools of the signs)."""

from __future__ import annotations

import numpy as np

from zeroskip.errors import ZeroskipError

from .binary_layers import MODES, PIXEL_LEVELS, BinaryConv2D, BinaryDense, Sign
from .layers import BatchNorm, Conv2D, Dense, Flatten, Layer, MaxPool2, ReLU, Reshape
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


def binary_cnn(mode: str = "bwn", channels: tuple[int, int] = (16, 32), hidden: int = 128,
               seed: int = 0, image: int = 28) -> Network:
    """Two binary 3x3 convs (zero padding 1), each followed by a batch norm, ``Sign`` and a
    2x2 max pool of the signs, then a binary hidden layer and a binary output layer. The first
    conv reads 8-bit pixels; in ``xnor`` mode the later layers binarise their inputs themselves
    (with XNOR-Net's ``beta``). The padding contributes nothing to a dot product (as the array's
    window skips it): ``BinaryConv2D``."""
    check_mode(mode)
    rng = np.random.default_rng(seed)
    xnor = mode == "xnor"
    c1, c2 = channels
    side = image // 4
    layers: list[Layer] = [
        Reshape((image, image, 1)),
        BinaryConv2D(1, c1, 3, rng, input_levels=PIXEL_LEVELS, pad=1), BatchNorm(c1), Sign(),
        MaxPool2(),
        BinaryConv2D(c1, c2, 3, rng, binarize_input=xnor, pad=1), BatchNorm(c2), Sign(),
        MaxPool2(),
        Flatten(),
        BinaryDense(side * side * c2, hidden, rng, binarize_input=xnor), BatchNorm(hidden),
        *([] if xnor else [Sign()]),
        BinaryDense(hidden, 10, rng, binarize_input=xnor), BatchNorm(10),
    ]
    return Network(f"binary-cnn-{mode}", layers)


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


def float_cnn(channels: tuple[int, int] = (16, 32), hidden: int = 128, seed: int = 0,
              image: int = 28) -> Network:
    """``binary_cnn``'s full-precision twin (baseline and distillation teacher): the same convs,
    pools and sizes with ReLU."""
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    side = image // 4
    return Network("float-cnn", [
        Reshape((image, image, 1)),
        Conv2D(1, c1, 3, rng, input_grad=False, pad=1), ReLU(), MaxPool2(),
        Conv2D(c1, c2, 3, rng, pad=1), ReLU(), MaxPool2(),
        Flatten(), Dense(side * side * c2, hidden, rng), ReLU(), Dense(hidden, 10, rng),
    ])


#: the binary zoo: model name → (binary student, full-precision twin)
MODELS = {"binary-mlp": (binary_mlp, float_mlp), "binary-cnn": (binary_cnn, float_cnn)}
