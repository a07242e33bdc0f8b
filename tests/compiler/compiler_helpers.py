"""Small layer builders shared by the compiler tests (not a test module)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from zeroskip.hw.arch import PRESETS


@dataclass
class Layer:
    """A duck-typed compressed layer, as the compiler takes it."""

    codebook: np.ndarray
    codes: np.ndarray
    bias: np.ndarray
    act: str = "relu"


def random_layer(rng, out_len, in_len, density=0.3, act="relu", codes=None, scale=0.3):
    codebook = np.concatenate([[0.0], rng.normal(0, scale, 15)]).astype(np.float32)
    if codes is None:
        mask = rng.random((out_len, in_len)) < density
        codes = np.where(mask, rng.integers(1, 16, (out_len, in_len)), 0).astype(np.uint8)
    bias = rng.normal(0, 0.1, out_len).astype(np.float32)
    return Layer(codebook, codes, bias, act)


def arch(**changes):
    return dataclasses.replace(PRESETS["small"], **changes)


def float_forward(layers, x):
    """The model in float64: codebook[codes] @ x + bias, then the activation."""
    x = np.asarray(x, dtype=np.float64)
    for layer in layers:
        x = x @ np.asarray(layer.codebook, np.float64)[layer.codes].T + layer.bias
        if layer.act == "relu":
            x = np.maximum(x, 0)
    return x


def write_interchange(path, layers):
    """An interchange .npz as documented: codebook_i, codes_i, bias_i, act_i per layer."""
    arrays = {}
    for i, layer in enumerate(layers):
        arrays.update({f"codebook_{i}": layer.codebook, f"codes_{i}": layer.codes,
                       f"bias_{i}": layer.bias, f"act_{i}": np.array(layer.act)})
    np.savez(path, **arrays)


def check_one_line_error(layers, a, message) -> None:
    """``compile_layers`` refuses ``layers`` on ``a`` with one line starting with ``message``;
    ``message`` None is the control case: the same layers compile."""
    import pytest

    from zeroskip.compiler import compile_layers
    from zeroskip.errors import ZeroskipError

    if message is None:
        compile_layers(layers, a)
        return
    with pytest.raises(ZeroskipError) as error:
        compile_layers(layers, a)
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)
