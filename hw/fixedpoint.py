"""Fixed-point rules of the array (see docs/fixed-point.md), as numpy: the single definition the
compiler quantizes with, the reference executes and the gateware implements.

- Activations: ``act_bits`` signed, ``frac`` fractional bits chosen per layer boundary.
- Codebook values: ``weight_bits`` signed, ``w_frac`` fractional bits per layer.
- Products and sums: exact integers, kept in ``acc_bits`` two's complement (wrapping, so the
  order of accumulation never matters).
- Bias: at the accumulator's scale (``in_frac + w_frac``), saturated to ``acc_bits`` when quantized.
- Requantisation: ``y = acc + bias`` (exact), then round half up by an arithmetic right shift of
  ``shift = in_frac + w_frac - out_frac`` (≥ 0), saturate to ``act_bits``, then ReLU.
"""

from __future__ import annotations

import numpy as np

from zeroskip.errors import ZeroskipError


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def quantize(x: np.ndarray, frac: int, bits: int) -> np.ndarray:
    """Round half up to ``frac`` fractional bits, saturate to ``bits`` signed (int64 result)."""
    low, high = signed_range(bits)
    scaled = np.floor(np.asarray(x, dtype=np.float64) * (2.0 ** frac) + 0.5)
    return np.clip(scaled, low, high).astype(np.int64)


def dequantize(q: np.ndarray, frac: int) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * (2.0 ** -frac)


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement wrap-around to ``bits`` (the accumulator's overflow behaviour)."""
    values = np.asarray(values, dtype=np.int64)
    if bits >= 64:
        return values
    half = np.int64(1 << (bits - 1))
    return ((values + half) & np.int64((1 << bits) - 1)) - half


def requantize(acc: np.ndarray, bias: np.ndarray, shift: int, relu: bool,
               acc_bits: int, act_bits: int) -> np.ndarray:
    """Accumulator + bias → next activation, exactly as the gateware's requantisation sweep."""
    if shift < 0:
        raise ZeroskipError(f"requantisation shift {shift} is negative")
    y = wrap(acc, acc_bits) + np.asarray(bias, dtype=np.int64)
    if shift:
        y = (y + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    low, high = signed_range(act_bits)
    y = np.clip(y, low, high)
    return np.maximum(y, 0) if relu else y


def frac_for_range(max_abs: float, bits: int, limit: int = 30) -> int:
    """The most fractional bits with which ``max_abs`` still fits ``bits`` signed after rounding."""
    high = (1 << (bits - 1)) - 1
    if not np.isfinite(max_abs):
        raise ZeroskipError("cannot choose a fixed-point scale for a non-finite range")
    if max_abs <= 0:
        return limit
    frac = int(np.floor(np.log2(high / max_abs)))
    while frac > -limit and np.floor(max_abs * 2.0 ** frac + 0.5) > high:
        frac -= 1
    return min(frac, limit)
