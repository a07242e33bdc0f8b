"""The networks of the Deep Compression paper's MNIST experiments."""

from __future__ import annotations

import numpy as np

from .layers import Conv2D, Dense, Dropout, Flatten, MaxPool2, ReLU, Reshape
from .network import Network

MODELS = ("lenet300", "lenet5")


def lenet300(seed: int = 0, dropout: float = 0.0) -> Network:
    """LeNet-300-100: 784-300-100-10, ReLU between layers."""
    rng = np.random.default_rng(seed)
    drop = (lambda: [Dropout(dropout, rng)]) if dropout else (lambda: [])
    return Network("lenet300", [
        Dense(784, 300, rng), ReLU(), *drop(),
        Dense(300, 100, rng), ReLU(), *drop(),
        Dense(100, 10, rng),
    ])


def lenet5(seed: int = 0, dropout: float = 0.0) -> Network:
    """Caffe's LeNet-5: conv 20@5x5, pool, conv 50@5x5, pool, fc 500 + ReLU, fc 10."""
    rng = np.random.default_rng(seed)
    drop = [Dropout(dropout, rng)] if dropout else []
    return Network("lenet5", [
        Reshape((28, 28, 1)),
        Conv2D(1, 20, 5, rng, input_grad=False), MaxPool2(),
        Conv2D(20, 50, 5, rng), MaxPool2(),
        Flatten(),
        Dense(800, 500, rng), ReLU(), *drop,
        Dense(500, 10, rng),
    ])


def build(name: str, seed: int = 0, dropout: float = 0.0) -> Network:
    if name == "lenet300":
        return lenet300(seed, dropout)
    if name == "lenet5":
        return lenet5(seed, dropout)
    raise ValueError(f"unknown model {name!r} (one of {', '.join(MODELS)})")
