"""Numpy layers with explicit forward/backward passes.

Activations are float32, images NHWC (batch, height, width, channels). Weighted layers keep
their parameters in ``params`` (``W``, ``b``) and the gradients of the last backward pass in
``grads`` under the same keys. Dense weights are ``[out, in]`` and conv weights
``[out, in_channels, kh, kw]``, so both flatten to the ``[rows, cols]`` matrix that compression
and the interchange format use: one row per output.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Layer:
    """A stateless layer: no parameters, forward caches what backward needs."""

    params: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    kind = "layer"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def spec(self) -> dict:
        """What rebuilds this layer (without its weights): stored in the compressed model file."""
        return {"kind": self.kind}


def _he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


class Dense(Layer):
    """``y = x @ W.T + b`` with ``W`` of shape ``[out, in]``."""

    kind = "dense"

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator | None = None):
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params = {"W": _he_normal(rng, (n_out, n_in), n_in),
                       "b": np.zeros(n_out, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x = None

    def forward(self, x, training=False):
        self._x = x
        return x @ self.params["W"].T + self.params["b"]

    def backward(self, dy):
        self.grads["W"][...] = dy.T @ self._x
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.params["W"]

    def spec(self):
        n_out, n_in = self.params["W"].shape
        return {"kind": self.kind, "in": int(n_in), "out": int(n_out)}


def col2im(dcols: np.ndarray, x_shape: tuple[int, ...], k: int) -> np.ndarray:
    """Gradient of im2col: patch gradients [n·oh·ow, c·k·k] summed back onto the image
    [n, h, w, c] (valid, stride 1); one slice-add per kernel tap."""
    n, h, w, c = x_shape
    oh, ow = h - k + 1, w - k + 1
    patches = dcols.reshape(n, oh, ow, c, k, k)
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, i:i + oh, j:j + ow, :] += patches[..., i, j]
    return dx


class Conv2D(Layer):
    """Valid, stride-1 convolution by im2col: one matrix product per batch."""

    kind = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel: int,
                 rng: np.random.Generator | None = None, input_grad: bool = True):
        rng = rng if rng is not None else np.random.default_rng(0)
        fan_in = in_channels * kernel * kernel
        self.params = {"W": _he_normal(rng, (out_channels, in_channels, kernel, kernel), fan_in),
                       "b": np.zeros(out_channels, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.kernel = kernel
        self.input_grad = input_grad  # the first layer needs no gradient w.r.t. the image
        self._cols = None
        self._x_shape = None

    def forward(self, x, training=False):
        n, h, w, c = x.shape
        k = self.kernel
        oh, ow = h - k + 1, w - k + 1
        # [n, oh, ow, c, k, k]: (c, kh, kw) order matches W.reshape(out, -1)
        cols = sliding_window_view(x, (k, k), axis=(1, 2)).reshape(n * oh * ow, c * k * k)
        self._cols, self._x_shape = cols, x.shape
        w_mat = self.params["W"].reshape(len(self.params["b"]), -1)
        y = cols @ w_mat.T + self.params["b"]
        return y.reshape(n, oh, ow, -1)

    def backward(self, dy):
        k = self.kernel
        out = dy.shape[-1]
        dy2 = dy.reshape(-1, out)
        self.grads["W"][...] = (dy2.T @ self._cols).reshape(self.params["W"].shape)
        self.grads["b"][...] = dy2.sum(axis=0)
        if not self.input_grad:
            return None
        dcols = dy2 @ self.params["W"].reshape(out, -1)
        return col2im(dcols, self._x_shape, k)

    def spec(self):
        out, c, k, _ = self.params["W"].shape
        return {"kind": self.kind, "in_channels": int(c), "out_channels": int(out),
                "kernel": int(k), "input_grad": bool(self.input_grad)}


class MaxPool2(Layer):
    """2x2 max pooling, stride 2 (height and width must be even)."""

    kind = "maxpool2"

    def forward(self, x, training=False):
        n, h, w, c = x.shape
        windows = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
        windows = windows.reshape(n, h // 2, w // 2, c, 4)
        self._argmax = windows.argmax(axis=-1)
        self._x_shape = x.shape
        return np.take_along_axis(windows, self._argmax[..., None], axis=-1)[..., 0]

    def backward(self, dy):
        n, h, w, c = self._x_shape
        dwin = np.zeros((n, h // 2, w // 2, c, 4), dtype=dy.dtype)
        np.put_along_axis(dwin, self._argmax[..., None], dy[..., None], axis=-1)
        dwin = dwin.reshape(n, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
        return dwin.reshape(n, h, w, c)


class ReLU(Layer):
    kind = "relu"

    def forward(self, x, training=False):
        self._mask = x > 0
        return x * self._mask

    def backward(self, dy):
        return dy * self._mask


class Flatten(Layer):
    kind = "flatten"

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self._shape)


class Reshape(Layer):
    """``[n, prod(shape)]`` → ``[n, *shape]`` (e.g. flat MNIST rows into 28x28x1 images)."""

    kind = "reshape"

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(len(x), *self.shape)

    def backward(self, dy):
        return dy.reshape(self._shape)

    def spec(self):
        return {"kind": self.kind, "shape": list(self.shape)}


class Dropout(Layer):
    """Inverted dropout: active only while training, identity at inference."""

    kind = "dropout"

    def __init__(self, rate: float, rng: np.random.Generator | None = None):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate {rate} outside [0, 1)")
        self.rate = float(rate)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._mask = None

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        self._mask = (self.rng.random(x.shape, dtype=np.float32) < keep) / np.float32(keep)
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def spec(self):
        return {"kind": self.kind, "rate": self.rate}


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(logits)`` against integer labels, and its gradient."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probs = exp / exp.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = float(-np.mean(np.log(probs[np.arange(n), labels] + 1e-12)))
    grad = probs
    grad[np.arange(n), labels] -= 1.0
    return loss, (grad / n).astype(logits.dtype)


def build_layer(spec: dict) -> Layer:
    """The inverse of ``Layer.spec()`` (weights are zero until loaded)."""
    kind = spec.get("kind")
    if kind == Dense.kind:
        return Dense(spec["in"], spec["out"])
    if kind == Conv2D.kind:
        return Conv2D(spec["in_channels"], spec["out_channels"], spec["kernel"],
                      input_grad=spec.get("input_grad", True))
    if kind == Reshape.kind:
        return Reshape(tuple(spec["shape"]))
    if kind == Dropout.kind:
        return Dropout(spec["rate"])
    simple = {cls.kind: cls for cls in (MaxPool2, ReLU, Flatten)}
    if kind in simple:
        return simple[kind]()
    raise ValueError(f"unknown layer kind {kind!r}")
