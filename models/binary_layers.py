"""Binary network layers: BWN and XNOR-Net layers and batch normalisation (the binary MLP is in
``binary_zoo``, FINN folding in ``binary_fold``, storage accounting in ``binary_storage``).

Training follows XNOR-Net (Rastegari et al. 2016) and BinaryNet: every binary layer keeps
real-valued *latent* weights, clipped to [-1, 1] after each update; the forward and backward
passes use ``sign(W)`` (sign(0) = +1) scaled by ``alpha`` = mean |W| per output row (BWN). The
straight-through estimator passes a gradient through ``sign`` where the argument lies in
[-1, 1]. An XNOR layer also binarises its *input* and scales it by ``beta`` = mean |I| of the
real input per sample while training; at inference ``beta`` is the running mean of those values
(a constant, like batch norm's running statistics) so it folds into integer thresholds.

Every binary dot product is computed as an exact integer (``sign(x) @ sign(W).T`` is a sum of
±1 in float32, exact below 2**24) and only then scaled, so the float forward and the packed-bit
reference (``zeroskip.models.binary_ref``) see the same integers.

``fold(net)`` turns a trained network (eval mode) into integer thresholds on the popcount, as
FINN does: batch norm + sign becomes ``dot >= T`` (or ``dot <= T`` when the BN scale is
negative). The exact semantics are in docs/binary.md.
"""

from __future__ import annotations

import numpy as np

from .layers import Layer, col2im, windows
from .network import Network
from .train import WeightParam

MODES = ("bwn", "xnor")
PIXEL_LEVELS = 255  # MNIST pixels are k/255: the first layer sees them as 8-bit integers


def sign(x: np.ndarray) -> np.ndarray:
    """±1 with sign(0) = +1 (the bit 1): the one binarisation rule everywhere."""
    return np.where(x >= 0, np.float32(1.0), np.float32(-1.0))


def quantize_input(x: np.ndarray, levels: int) -> np.ndarray:
    """Images in [0, 1] → integers 0..levels, rounded half up (in float64, as the hardware's
    ``hw/reference.quantize_input``): ``floor(clip(x, 0, 1) * levels + 0.5)``."""
    x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
    return np.floor(x * levels + 0.5).astype(np.int64)


class Sign(Layer):
    """Binary activation (BinaryNet): forward ``sign``, backward straight-through where |x| <= 1."""

    kind = "sign"

    def forward(self, x, training=False):
        self._pass = np.abs(x) <= 1.0
        return sign(x)

    def backward(self, dy):
        return dy * self._pass


class BinaryInput(Layer):
    """What binary dense and conv layers share: how the input becomes ``x'`` and its scale
    (``input_levels``, ``binarize_input`` with XNOR-Net's ``beta``, or as given)."""

    def _set_input(self, binarize_input: bool, input_levels: int, beta_momentum: float):
        if binarize_input and input_levels:
            raise ValueError("a layer binarises its input or quantises it, not both")
        self.binarize_input = bool(binarize_input)
        self.input_levels = int(input_levels)
        self.beta_momentum = float(beta_momentum)
        self.running_beta = np.float32(1.0)

    def input_scale(self) -> float:
        """The factor between the integer dot product and ``y / alpha`` at inference."""
        if self.input_levels:
            return 1.0 / self.input_levels
        return float(self.running_beta) if self.binarize_input else 1.0

    def _prepare_input(self, x, training, columns=lambda v: v):
        """(``x'`` [rows, K], its scale, the gradient's pass-through mask or None): ``columns``
        maps a value shaped as ``x`` to its [rows, K] product rows (a conv's windows, padded
        with zeros *after* the quantisation or the sign); ``beta`` is per row."""
        if self.input_levels:
            xq = quantize_input(x, self.input_levels).astype(np.float32)
            return columns(xq), np.float32(1.0 / self.input_levels), None
        if self.binarize_input:
            if training:
                beta = columns(np.abs(x)).mean(axis=1, keepdims=True).astype(np.float32)
                m = np.float32(self.beta_momentum)
                self.running_beta = np.float32(m * self.running_beta + (1 - m) * beta.mean())
            else:
                beta = self.running_beta
            return columns(sign(x)), beta, columns(np.abs(x) <= 1.0)
        return columns(x), np.float32(1.0), None


class BinaryDense(BinaryInput):
    """``y = beta * alpha * (x' @ sign(W).T)``, with no bias (a batch norm follows).

    ``W`` [out, in] holds the latent real weights; ``alpha`` = mean |W| per row. The input ``x'``
    is, by configuration:

    - ``input_levels = L``: ``quantize_input(x, L)``, unsigned integers (the first layer on
      8-bit pixels), and the product is divided by ``L`` (so ``y`` is in the input's units);
    - ``binarize_input`` (XNOR-Net): ``sign(x)``, scaled by ``beta`` (per sample while training,
      the running mean at inference);
    - otherwise ``x`` as given (BWN; in the binary MLP the previous ``Sign`` already made it ±1).
    """

    kind = "binary_dense"

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator | None = None,
                 binarize_input: bool = False, input_levels: int = 0,
                 beta_momentum: float = 0.9):
        self._set_input(binarize_input, input_levels, beta_momentum)
        rng = rng if rng is not None else np.random.default_rng(0)
        limit = np.float32(np.sqrt(6.0 / (n_in + n_out)))  # Glorot: well inside [-1, 1]
        self.params = {"W": rng.uniform(-limit, limit, (n_out, n_in)).astype(np.float32)}
        self.grads = {"W": np.zeros_like(self.params["W"])}
        self._cache = None

    def alpha(self) -> np.ndarray:
        return np.abs(self.params["W"]).mean(axis=1).astype(np.float32)

    def weight_signs(self) -> np.ndarray:
        return sign(self.params["W"])

    def forward(self, x, training=False):
        return self.product(*self._prepare_input(x, training))

    def product(self, xin, scale, passthrough):
        """``y`` for prepared input rows (``_prepare_input``; ``BinaryConv2D`` prepares its
        windows and multiplies them here); ``passthrough`` masks the input gradient."""
        wb = self.weight_signs()
        alpha = self.alpha()
        self._cache = (xin, scale, passthrough, wb, alpha)
        return ((xin @ wb.T) * alpha * scale).astype(np.float32)

    def backward(self, dy):
        xin, scale, passthrough, wb, alpha = self._cache
        dscaled = dy * alpha * scale  # alpha, beta treated as constants (straight-through)
        latent = self.params["W"]
        self.grads["W"][...] = (dscaled.T @ xin) * (np.abs(latent) <= 1.0)
        if self.input_levels:
            return None  # the first layer: no gradient w.r.t. the image
        dx = dscaled @ wb
        return dx if passthrough is None else dx * passthrough

    def spec(self):
        n_out, n_in = self.params["W"].shape
        return {"kind": self.kind, "in": int(n_in), "out": int(n_out),
                "binarize_input": self.binarize_input, "input_levels": self.input_levels}


class BinaryConv2D(BinaryInput):
    """Binary convolution (im2col, like ``layers.Conv2D``), NHWC: ``stride``, and zero padding
    ``pad`` added *after* the input is quantised or binarised, so a padded position contributes
    nothing to the dot product (not the +1 that sign(0) would make it): what the array's window
    does, which never stores or reads the padding (docs/conv.md).

    ``W`` [out, in_channels, k, k] latent weights, ``alpha`` = mean |W| per output filter. The
    input as in ``BinaryDense``: ``input_levels`` (unsigned integers, the first layer),
    ``binarize_input`` (XNOR-Net: every patch ``sign``-ed and scaled by its own ``beta`` = mean
    |patch|, the paper's K = A * k, while training; by the running mean at inference), or as
    given (BWN).
    """

    kind = "binary_conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel: int,
                 rng: np.random.Generator | None = None, binarize_input: bool = False,
                 beta_momentum: float = 0.9, input_levels: int = 0, stride: int = 1,
                 pad: int = 0):
        self._set_input(binarize_input, input_levels, beta_momentum)
        if stride < 1 or pad < 0 or kernel < 1:
            raise ValueError(f"binary_conv2d: kernel {kernel}, stride {stride}, pad {pad} "
                             "out of range")
        self._dense = BinaryDense(in_channels * kernel * kernel, out_channels, rng)
        self.params = {"W": self._dense.params["W"].reshape(out_channels, in_channels, kernel,
                                                            kernel)}
        self.grads = {"W": self._dense.grads["W"].reshape(self.params["W"].shape)}
        self.kernel, self.stride, self.pad = int(kernel), int(stride), int(pad)
        self._x_shape = None

    def alpha(self) -> np.ndarray:
        return self._dense.alpha()

    def _cols(self, x):
        """Every window of ``x`` [n, h, w, c] as a row [n·oh·ow, c·k·k], zero-padded."""
        view = windows(x, self.kernel, self.stride, self.pad)
        return view.reshape(-1, view[0, 0, 0].size)

    def forward(self, x, training=False):
        self._x_shape = x.shape
        k, s, p = self.kernel, self.stride, self.pad
        oh, ow = (x.shape[1] + 2 * p - k) // s + 1, (x.shape[2] + 2 * p - k) // s + 1
        y = self._dense.product(*self._prepare_input(x, training, self._cols))
        return y.reshape(len(x), oh, ow, -1)

    def backward(self, dy):
        dcols = self._dense.backward(dy.reshape(-1, dy.shape[-1]))
        if self.input_levels:
            return None          # the first layer: no gradient w.r.t. the image
        return col2im(dcols, self._x_shape, self.kernel, self.stride, self.pad)

    def spec(self):
        out, c, k, _ = self.params["W"].shape
        spec = {"kind": self.kind, "in_channels": int(c), "out_channels": int(out),
                "kernel": int(k), "binarize_input": self.binarize_input}
        if self.input_levels:
            spec["input_levels"] = self.input_levels
        if (self.stride, self.pad) != (1, 0):
            spec.update(stride=self.stride, pad=self.pad)
        return spec


class ClippedParam(WeightParam):
    """Latent binary weights: updated as reals, then clipped to [-1, 1] (BinaryNet)."""

    def __init__(self, layer, key: str = "W"):
        super().__init__(layer, key)
        self.decay = False

    def sync(self) -> None:
        np.clip(self.layer.params[self.key], -1.0, 1.0, out=self.layer.params[self.key])


def trainable_params(net: Network) -> list:
    """What the optimizer updates in any network made of these layers and ``layers.py``'s."""
    params = []
    for layer in net.layers:
        for key in layer.params:
            if isinstance(layer, (BinaryDense, BinaryConv2D)):
                params.append(ClippedParam(layer, key))
            else:
                params.append(WeightParam(layer, key))
    return params
