"""Choosing fixed-point formats (docs/fixed-point.md is the user-facing version of these rules).

Per layer boundary, activations are ``act_bits`` signed with ``frac`` fractional bits; per layer,
the codebook has ``w_frac`` and the bias ``in_frac + w_frac``. The scales come from a range:

- *with calibration inputs*: the observed ranges, propagated through the **fixed-point**
  network (so each layer sees the rounding of the layers before it);
- *without*: a guaranteed bound assuming inputs in [-1, 1], propagated by interval arithmetic
  (``|y_i| <= sum_j |w_ij|·bound_j + |b_i|``): no saturation and no accumulator wrap-around for
  any such input, at the cost of precision.

``w_frac`` is the most the largest codebook value allows, lowered when the accumulator (or the
bias at the accumulator's scale) would exceed ``acc_bits`` on that range. ``out_frac`` is the
most the output range allows, capped so that the shift ``in_frac + w_frac − out_frac`` is in
0..63 (the descriptor's field).

Binary layers (``zeroskip.compiler.binary``) produce integer dot products at scale 0 whatever
their input's scale: ``binary_formats`` sets their formats and carries the activations (or
their bound) through them.
"""

from __future__ import annotations

import math

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.fixedpoint import frac_for_range, quantize, requantize, signed_range
from zeroskip.hw.program import field_max
from zeroskip.hw.reference import ActivationBanks

#: the largest right shift a pass descriptor can hold
MAX_SHIFT = field_max("shift")

#: inputs are assumed to lie in [-DEFAULT_INPUT_RANGE, DEFAULT_INPUT_RANGE] without calibration
DEFAULT_INPUT_RANGE = 1.0

#: weight entries materialised at once when multiplying (bounds the memory of big layers)
_CHUNK = 1 << 24


def int_matmul(x: np.ndarray, codes: np.ndarray, table: np.ndarray,
               nonzero: tuple | None = None) -> np.ndarray:
    """Exact ``x @ table[codes].T`` for integer ``x`` [batch, in].

    Float64 (BLAS over row chunks of the weights, or a sparse sum for a single vector) when every
    partial sum is provably below 2**53, so exact; int64 otherwise.
    """
    x = np.asarray(x, dtype=np.int64)
    table = np.asarray(table, dtype=np.int64)
    out_len, in_len = codes.shape
    peak = float(np.abs(x).max(initial=0)) * float(np.abs(table).max(initial=0)) * max(in_len, 1)
    dtype = np.float64 if peak < 2.0 ** 53 else np.int64
    if x.shape[0] == 1 and dtype is np.float64:     # one vector (a bound): sparse, no dense copy
        if nonzero is None:
            flat = np.flatnonzero(codes)
            rows = flat // in_len
            nonzero = (rows, flat - rows * in_len, codes.reshape(-1)[flat])
        rows, cols, values = nonzero
        products = table.astype(np.float64)[values] * x[0, cols].astype(np.float64)
        return np.bincount(rows, weights=products, minlength=out_len).astype(np.int64)[None, :]
    xs = x.astype(dtype)
    result = np.empty((x.shape[0], out_len), dtype=np.int64)
    step = max(1, _CHUNK // max(in_len, 1))
    for start in range(0, out_len, step):
        weights = table.astype(dtype)[codes[start:start + step]]
        result[:, start:start + step] = (xs @ weights.T).astype(np.int64)
    return result


def choose_formats(ir) -> None:
    """Fill in every layer's formats, boundary by boundary: each layer's kind chooses its own
    (``LayerIR.choose_formats``, ``BinaryLayerIR.choose_formats``) from the activations (or
    their bound) its input carries."""
    a = ir.arch
    first = ir.layers[0]
    calibrated = ir.calibration is not None
    if calibrated:
        x_range = float(np.abs(ir.calibration).max(initial=0.0))
    else:
        x_range = DEFAULT_INPUT_RANGE
    in_frac = ir.input_frac if ir.input_frac is not None else frac_for_range(x_range, a.act_bits)
    in_frac, xq = first.input_activations(ir, in_frac, x_range)
    for layer in ir.layers:
        layer.out_frac_cap = None
    for _ in range(len(ir.layers) + 1):
        _formats_through_banks(ir, xq, in_frac, calibrated)
        unequal = False
        for group in ir.shared_fracs:
            fracs = [ir.layers[i].out_frac for i in group]
            if len(set(fracs)) > 1:
                unequal = True
                for i in group:
                    ir.layers[i].out_frac_cap = min(fracs)
        if not unequal:
            return
    raise ZeroskipError("layers whose outputs share a feature map found no common scale")


def _formats_through_banks(ir, xq: np.ndarray, in_frac: int, calibrated: bool) -> None:
    """Every layer's formats from the activations it reads: its source bank, which holds what
    the layer before wrote and, where that layer did not write, what earlier layers left (a value
    resting in its bank, ``zeroskip.compiler.graph``)."""
    a = ir.arch
    length = max(max(layer.vector_in, layer.vector_out) for layer in ir.layers)
    banks = ActivationBanks(xq, length)
    for index, layer in enumerate(ir.layers):
        out, in_frac = layer.choose_formats(index, banks.source(index, layer.vector_in),
                                            in_frac, a, calibrated)
        # binary layers have no ``written``: their whole output vector
        banks.write(index, out, layer.written(a.pes) if hasattr(layer, "written") else None)


def quantized_input(ir, in_frac: int, x_range: float) -> tuple[int, np.ndarray]:
    """The first boundary's integer activations: the calibration inputs quantized, or (without
    calibration) a vector of the bound on their magnitude."""
    a = ir.arch
    if ir.calibration is not None:
        return in_frac, quantize(ir.calibration, in_frac, a.act_bits)
    bound_q = min(int(quantize(x_range, in_frac, a.act_bits)), signed_range(a.act_bits)[1])
    return in_frac, np.full((1, ir.layers[0].vector_in), bound_q, dtype=np.int64)


def sparse_formats(layer, index: int, xq: np.ndarray, in_frac: int, arch, calibrated: bool):
    """A sparse layer's ``w_frac``, ``out_frac``, quantized codebook and bias (see the module's
    docstring); returns the next boundary's integer activations (or their bound) and ``frac``."""
    a = arch
    act_high = signed_range(a.act_bits)[1]
    acc_high = signed_range(a.acc_bits)[1]
    w_frac = frac_for_range(float(np.abs(layer.codebook).max()), a.weight_bits)
    max_bias = float(np.abs(layer.bias).max(initial=0.0))
    while True:
        codebook_q = quantize(layer.codebook, w_frac, a.weight_bits)
        codebook_q[0] = 0
        bias_q = quantize(layer.bias, in_frac + w_frac, a.acc_bits)
        if calibrated:
            acc = int_matmul(xq, layer.codes, codebook_q, layer.nonzero())
            y = acc + bias_q[None, :]
            peak = max(int(np.abs(acc).max(initial=0)), int(np.abs(y).max(initial=0)))
        else:
            acc = int_matmul(xq, layer.codes, np.abs(codebook_q), layer.nonzero())
            y = acc + np.abs(bias_q)[None, :]
            peak = int(y.max(initial=0))
        peak = max(peak, math.ceil(max_bias * 2.0 ** (in_frac + w_frac)))
        if peak <= acc_high:
            break
        if w_frac <= -30:
            raise ZeroskipError(
                f"layer {index}: its sums exceed the {a.acc_bits}-bit accumulator at any weight "
                f"scale (input frac {in_frac}); raise acc_bits or scale the inputs down")
        w_frac -= max(1, math.ceil(math.log2(peak / acc_high)))
    scale = in_frac + w_frac
    if calibrated and layer.relu:
        y_range = float(np.maximum(y, 0).max(initial=0)) * 2.0 ** -scale
    else:
        y_range = float(np.abs(y).max(initial=0)) * 2.0 ** -scale
    out_frac = min(max(frac_for_range(y_range, a.act_bits), scale - MAX_SHIFT), scale)
    if layer.out_frac_cap is not None:
        out_frac = max(min(out_frac, layer.out_frac_cap), scale - MAX_SHIFT)
    layer.in_frac, layer.w_frac, layer.out_frac = in_frac, w_frac, out_frac
    layer.codebook_q, layer.bias_q = codebook_q, bias_q
    shift = scale - out_frac
    if calibrated:
        xq = requantize(acc, bias_q[None, :], shift, layer.relu, a.acc_bits, a.act_bits)
    else:   # round half up never exceeds ceil(y / 2**shift); saturation caps it
        xq = np.minimum(-np.right_shift(-y, shift), act_high)
    return xq, out_frac
