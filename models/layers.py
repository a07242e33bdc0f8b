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


def col2im(dcols: np.ndarray, x_shape: tuple[int, ...], k: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Gradient of im2col: patch gradients [n·oh·ow, c·k·k] summed back onto the image
    [n, h, w, c] (zero padding ``pad``, stride ``stride``); one slice-add per kernel tap."""
    n, h, w, c = x_shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    patches = dcols.reshape(n, oh, ow, c, k, k)
    dx = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :] \
                += patches[..., i, j]
    return dx[:, pad:pad + h, pad:pad + w, :] if pad else dx


def windows(x: np.ndarray, k: int, stride: int = 1, pad: int = 0,
            fill: float = 0.0) -> np.ndarray:
    """Every k x k window of ``x`` [n, h, w, c] padded by ``pad`` (with ``fill``), ``stride``
    apart: a view [n, oh, ow, c, k, k] (the (c, kh, kw) order of ``W.reshape(out, -1)``)."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=fill)
    view = sliding_window_view(x, (k, k), axis=(1, 2))
    return view[:, ::stride, ::stride] if stride > 1 else view


class Conv2D(Layer):
    """Convolution by im2col (one matrix product per batch): zero padding ``pad`` on every side,
    ``stride`` in both directions (default: valid, stride 1). With ``groups`` > 1 the channels
    split into that many groups, output group g reading input group g only (depthwise when
    ``groups`` = in_channels); ``W`` is then ``[out, in_channels / groups, k, k]`` and each
    group's im2col columns meet its block of rows in one batched product."""

    kind = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel: int,
                 rng: np.random.Generator | None = None, input_grad: bool = True,
                 stride: int = 1, pad: int = 0, groups: int = 1):
        if stride < 1 or pad < 0 or kernel < 1:
            raise ValueError(f"conv2d: kernel {kernel}, stride {stride}, pad {pad} out of range")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"conv2d: {groups} groups do not divide {in_channels} input and "
                             f"{out_channels} output channels")
        rng = rng if rng is not None else np.random.default_rng(0)
        per_group = in_channels // groups
        fan_in = per_group * kernel * kernel
        self.params = {"W": _he_normal(rng, (out_channels, per_group, kernel, kernel), fan_in),
                       "b": np.zeros(out_channels, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.kernel = kernel
        self.stride, self.pad, self.groups = int(stride), int(pad), int(groups)
        self.input_grad = input_grad  # the first layer needs no gradient w.r.t. the image
        self._cols = None
        self._x_shape = None

    def _grouped_weights(self) -> np.ndarray:
        """W as [groups, out / groups, in / groups · k · k]."""
        out = len(self.params["b"])
        return self.params["W"].reshape(self.groups, out // self.groups, -1)

    def forward(self, x, training=False):
        n = x.shape[0]
        view = windows(x, self.kernel, self.stride, self.pad)
        oh, ow = view.shape[1:3]
        cols = view.reshape(n * oh * ow, -1)     # columns (c, ky, kx): group g's are a block
        self._cols, self._x_shape = cols, x.shape
        if self.groups == 1:
            w_mat = self.params["W"].reshape(len(self.params["b"]), -1)
            y = cols @ w_mat.T + self.params["b"]
        else:
            g_cols = cols.reshape(len(cols), self.groups, -1).transpose(1, 0, 2)   # [G, M, I]
            y = np.matmul(g_cols, self._grouped_weights().transpose(0, 2, 1))    # [G, M, O/G]
            y = y.transpose(1, 0, 2).reshape(len(cols), -1) + self.params["b"]
        return y.reshape(n, oh, ow, -1)

    def backward(self, dy):
        k = self.kernel
        out = dy.shape[-1]
        dy2 = dy.reshape(-1, out)
        self.grads["b"][...] = dy2.sum(axis=0)
        if self.groups == 1:
            self.grads["W"][...] = (dy2.T @ self._cols).reshape(self.params["W"].shape)
            if not self.input_grad:
                return None
            dcols = dy2 @ self.params["W"].reshape(out, -1)
        else:
            g_dy = dy2.reshape(len(dy2), self.groups, -1).transpose(1, 0, 2)        # [G, M, O/G]
            g_cols = self._cols.reshape(len(dy2), self.groups, -1).transpose(1, 0, 2)
            self.grads["W"][...] = np.matmul(g_dy.transpose(0, 2, 1), g_cols).reshape(
                self.params["W"].shape)
            if not self.input_grad:
                return None
            dcols = np.matmul(g_dy, self._grouped_weights())                        # [G, M, I]
            dcols = dcols.transpose(1, 0, 2).reshape(len(dy2), -1)
        return col2im(dcols, self._x_shape, k, self.stride, self.pad)

    @property
    def in_channels(self) -> int:
        return self.params["W"].shape[1] * self.groups

    def spec(self):
        out, _, k, _ = self.params["W"].shape
        spec = {"kind": self.kind, "in_channels": int(self.in_channels),
                "out_channels": int(out), "kernel": int(k), "input_grad": bool(self.input_grad)}
        if (self.stride, self.pad) != (1, 0):     # older files have neither: valid, stride 1
            spec.update(stride=self.stride, pad=self.pad)
        if self.groups != 1:                      # older files have none: one group
            spec["groups"] = self.groups
        return spec


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


class MaxPool2D(Layer):
    """k x k max pooling, ``stride`` apart, padding ``pad`` (padded cells never win)."""

    kind = "maxpool"

    def __init__(self, kernel: int, stride: int, pad: int = 0):
        if kernel < 1 or stride < 1 or not 0 <= pad < kernel:
            raise ValueError(f"maxpool: kernel {kernel}, stride {stride}, pad {pad} out of range")
        self.kernel, self.stride, self.pad = int(kernel), int(stride), int(pad)

    def forward(self, x, training=False):
        k = self.kernel
        view = windows(x, k, self.stride, self.pad, fill=-np.inf)
        flat = view.reshape(*view.shape[:4], k * k)
        self._argmax, self._x_shape = flat.argmax(axis=-1), x.shape
        return np.take_along_axis(flat, self._argmax[..., None], axis=-1)[..., 0]

    def backward(self, dy):
        k = self.kernel
        dwin = np.zeros((*dy.shape, k * k), dtype=dy.dtype)
        np.put_along_axis(dwin, self._argmax[..., None], dy[..., None], axis=-1)
        return col2im(dwin.reshape(-1, dy.shape[-1] * k * k), self._x_shape, k, self.stride,
                      self.pad)

    def spec(self):
        return {"kind": self.kind, "kernel": self.kernel, "stride": self.stride, "pad": self.pad}


class AvgPool2D(Layer):
    """k x k average pooling, ``stride`` apart, zero padding ``pad``; with
    ``count_include_pad`` false (ONNX's default) a window averages only its cells inside the
    map."""

    kind = "avgpool"

    def __init__(self, kernel: int, stride: int, pad: int = 0, count_include_pad: bool = False):
        if kernel < 1 or stride < 1 or not 0 <= pad < kernel:
            raise ValueError(f"avgpool: kernel {kernel}, stride {stride}, pad {pad} out of range")
        self.kernel, self.stride, self.pad = int(kernel), int(stride), int(pad)
        self.count_include_pad = bool(count_include_pad)

    def _divisor(self, h: int, w: int) -> np.ndarray:
        """[oh, ow, 1]: how many cells each window averages."""
        if self.count_include_pad or not self.pad:
            return np.float32(self.kernel ** 2)
        ones = np.ones((1, h, w, 1), np.float32)
        return windows(ones, self.kernel, self.stride, self.pad).sum(axis=(-2, -1))[0]

    def forward(self, x, training=False):
        self._x_shape = x.shape
        view = windows(x, self.kernel, self.stride, self.pad)
        return (view.sum(axis=(-2, -1)) / self._divisor(*x.shape[1:3])).astype(x.dtype)

    def backward(self, dy):
        k = self.kernel
        share = dy / self._divisor(*self._x_shape[1:3])
        dwin = np.broadcast_to(share[..., None], (*dy.shape, k * k))
        return col2im(np.ascontiguousarray(dwin).reshape(-1, dy.shape[-1] * k * k),
                      self._x_shape, k, self.stride, self.pad)

    def spec(self):
        return {"kind": self.kind, "kernel": self.kernel, "stride": self.stride, "pad": self.pad,
                "count_include_pad": self.count_include_pad}


class GlobalAvgPool(Layer):
    """The mean of each channel over the whole map: [n, h, w, c] → [n, 1, 1, c]."""

    kind = "globalavgpool"

    def forward(self, x, training=False):
        self._x_shape = x.shape
        return x.mean(axis=(1, 2), keepdims=True)

    def backward(self, dy):
        n, h, w, c = self._x_shape
        return np.broadcast_to(dy / (h * w), self._x_shape).copy()


class FromNCHW(Layer):
    """Channels-first input (``[n, c, h, w]``, or rows ``[n, c·h·w]`` in that order, as ONNX
    and PyTorch give images) → the layers' NHWC maps ``[n, h, w, c]``."""

    kind = "nchw"

    def __init__(self, shape: tuple[int, int, int]):
        self.shape = tuple(int(s) for s in shape)          # (c, h, w)

    def forward(self, x, training=False):
        self._in_shape = x.shape
        return x.reshape(len(x), *self.shape).transpose(0, 2, 3, 1)

    def backward(self, dy):
        return dy.transpose(0, 3, 1, 2).reshape(self._in_shape)

    def spec(self):
        return {"kind": self.kind, "shape": list(self.shape)}


def chw_to_hwc(shape: tuple) -> np.ndarray:
    """For a [C, H, W] map: index i of the (y, x, c)-ordered rows holds (c, y, x) row
    ``perm[i]`` (so ``columns_hwc = columns_chw[:, perm]``): what a fully-connected layer after
    a channels-first ``Flatten`` needs to read the array's map vectors."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


class ReLU(Layer):
    kind = "relu"

    def forward(self, x, training=False):
        self._mask = x > 0
        return x * self._mask

    def backward(self, dy):
        return dy * self._mask


class Flatten(Layer):
    """[n, h, w, c] → [n, h·w·c] in (y, x, c) order; ``channels_first``: in (c, y, x) order,
    as ONNX and PyTorch flatten their NCHW maps (so the next layer's columns stay theirs)."""

    kind = "flatten"

    def __init__(self, channels_first: bool = False):
        self.channels_first = bool(channels_first)

    def forward(self, x, training=False):
        self._shape = x.shape
        if self.channels_first and x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        return x.reshape(len(x), -1)

    def backward(self, dy):
        if self.channels_first and len(self._shape) == 4:
            n, h, w, c = self._shape
            return dy.reshape(n, c, h, w).transpose(0, 2, 3, 1)
        return dy.reshape(self._shape)

    def spec(self):
        if self.channels_first:
            return {"kind": self.kind, "order": "chw"}
        return {"kind": self.kind}


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


class ChannelShuffle(Layer):
    """ShuffleNet's channel shuffle on NHWC maps: the channels as [groups, C / groups],
    transposed: output channel ``i·groups + g`` is input channel ``g·(C / groups) + i`` (ONNX's
    Reshape [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], Reshape [N, C, H, W])."""

    kind = "shuffle"

    def __init__(self, groups: int):
        if groups < 1:
            raise ValueError(f"shuffle: {groups} groups")
        self.groups = int(groups)

    def forward(self, x, training=False):
        *rest, c = x.shape
        if c % self.groups:
            raise ValueError(f"shuffle: {self.groups} groups do not divide {c} channels")
        return x.reshape(*rest, self.groups, c // self.groups).swapaxes(-1, -2).reshape(x.shape)

    def backward(self, dy):
        *rest, c = dy.shape
        return dy.reshape(*rest, c // self.groups, self.groups).swapaxes(-1, -2).reshape(dy.shape)

    def spec(self):
        return {"kind": self.kind, "groups": self.groups}


class Join(Layer):
    """A layer of several inputs (a graph's branches meeting): ``forward`` takes the list of
    their activations, ``backward`` returns the list of their gradients."""


class Concat(Join):
    """Concatenation along the last axis: the channels of NHWC maps (ONNX's Concat on axis 1
    of NCHW maps), or the features of rows."""

    kind = "concat"

    def forward(self, xs, training=False):
        self._ends = np.cumsum([x.shape[-1] for x in xs])[:-1]
        return np.concatenate(xs, axis=-1)

    def backward(self, dy):
        return np.split(dy, self._ends, axis=-1)


class Add(Join):
    """The elementwise sum of its inputs (a residual connection)."""

    kind = "add"

    def forward(self, xs, training=False):
        self._count = len(xs)
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total

    def backward(self, dy):
        return [dy] * self._count


class BatchNorm(Layer):
    """Batch normalisation over every axis but the last (features / NHWC channels).

    Training mode normalises with the batch statistics and updates running ones
    (``running = momentum * running + (1 - momentum) * batch``); eval mode uses the running ones.
    Binary networks fold it into thresholds (``binary_fold``); other networks use it only while
    they train dense: ``network.fold_batchnorm`` merges it into the conv or dense layer before
    it, so no compressed model, compiler pass or rung ever sees one.
    """

    kind = "batchnorm"

    def __init__(self, features: int, momentum: float = 0.9, eps: float = 1e-5):
        self.params = {"gamma": np.ones(features, np.float32),
                       "beta": np.zeros(features, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = np.zeros(features, np.float32)
        self.running_var = np.ones(features, np.float32)
        self.momentum, self.eps = float(momentum), float(eps)
        self._cache = None

    def forward(self, x, training=False):
        flat = x.reshape(-1, x.shape[-1])
        if training:
            mean, var = flat.mean(axis=0), flat.var(axis=0)
            m = np.float32(self.momentum)
            self.running_mean = m * self.running_mean + (1 - m) * mean
            self.running_var = m * self.running_var + (1 - m) * var
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = (1.0 / np.sqrt(var + np.float32(self.eps))).astype(np.float32)
        xhat = (flat - mean) * inv_std
        self._cache = (xhat, inv_std) if training else None
        y = xhat * self.params["gamma"] + self.params["beta"]
        return y.reshape(x.shape).astype(np.float32)

    def backward(self, dy):
        xhat, inv_std = self._cache
        flat = dy.reshape(-1, dy.shape[-1])
        n = len(flat)
        self.grads["gamma"][...] = (flat * xhat).sum(axis=0)
        self.grads["beta"][...] = flat.sum(axis=0)
        dxhat = flat * self.params["gamma"]
        dx = inv_std / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
        return dx.reshape(dy.shape).astype(np.float32)

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """Eval mode as ``BN(y) = g * y + h``, in float64."""
        inv_std = 1.0 / np.sqrt(self.running_var.astype(np.float64) + self.eps)
        g = self.params["gamma"].astype(np.float64) * inv_std
        return g, self.params["beta"].astype(np.float64) - g * self.running_mean.astype(np.float64)

    def fold_into(self, layer: "Dense | Conv2D") -> None:
        """Merge this normalisation into ``layer`` (whose output it normalises), in place."""
        g, h = self.affine()
        w = layer.params["W"]
        w[...] = w * g.reshape(-1, *([1] * (w.ndim - 1)))
        layer.params["b"][...] = layer.params["b"] * g + h

    def spec(self):
        return {"kind": self.kind, "features": len(self.params["gamma"]),
                "momentum": self.momentum, "eps": self.eps}


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
                      input_grad=spec.get("input_grad", True), stride=spec.get("stride", 1),
                      pad=spec.get("pad", 0), groups=spec.get("groups", 1))
    if kind == Reshape.kind:
        return Reshape(tuple(spec["shape"]))
    if kind == Dropout.kind:
        return Dropout(spec["rate"])
    if kind == BatchNorm.kind:
        return BatchNorm(spec["features"], spec.get("momentum", 0.9), spec.get("eps", 1e-5))
    if kind == MaxPool2D.kind:
        return MaxPool2D(spec["kernel"], spec["stride"], spec.get("pad", 0))
    if kind == AvgPool2D.kind:
        return AvgPool2D(spec["kernel"], spec["stride"], spec.get("pad", 0),
                         spec.get("count_include_pad", False))
    if kind == FromNCHW.kind:
        return FromNCHW(tuple(spec["shape"]))
    if kind == Flatten.kind:
        order = spec.get("order", "hwc")
        if order not in ("hwc", "chw"):
            raise ValueError(f"flatten order {order!r} (one of 'hwc', 'chw')")
        return Flatten(channels_first=order == "chw")
    if kind == ChannelShuffle.kind:
        return ChannelShuffle(spec["groups"])
    simple = {cls.kind: cls for cls in (MaxPool2, ReLU, GlobalAvgPool, Concat, Add)}
    if kind in simple:
        return simple[kind]()
    raise ValueError(f"unknown layer kind {kind!r}")
