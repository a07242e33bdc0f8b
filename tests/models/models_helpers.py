"""Small compressed models for the file-format tests."""

from __future__ import annotations

import numpy as np

from zeroskip.models import modelfile
from zeroskip.models.layers import Conv2D, Dense, Flatten, ReLU, Reshape
from zeroskip.models.network import Network
from zeroskip.models.share import share_weights


def shared_model(net: Network, k: int = 7, density: float = 0.3, seed: int = 0,
                 index_bits: int = 3) -> modelfile.CompressedModel:
    rng = np.random.default_rng(seed)
    books, codes = [], []
    for layer in net.weighted():
        w = rng.standard_normal(layer.params["W"].shape).astype(np.float32)
        layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
        book, code = share_weights(w, rng.random(w.shape) < density, k)
        books.append(book)
        codes.append(code)
    return modelfile.from_network(net, books, codes, [index_bits] * len(books))


def tiny_fc(**kwargs) -> modelfile.CompressedModel:
    rng = np.random.default_rng(1)
    net = Network("tiny", [Dense(40, 30, rng), ReLU(), Dense(30, 5, rng)])
    return shared_model(net, **kwargs)


def tiny_conv(**kwargs) -> modelfile.CompressedModel:
    rng = np.random.default_rng(2)
    net = Network("tinyconv", [Reshape((6, 6, 1)), Conv2D(1, 2, 3, rng, input_grad=False),
                               Flatten(), Dense(32, 3, rng)])
    return shared_model(net, **kwargs)
