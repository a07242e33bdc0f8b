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


def requant_shift(in_frac: int, w_frac: int, out_frac: int) -> int:
    """The requantisation's right shift: accumulator scale ``in_frac + w_frac`` down to the
    output's ``out_frac`` (the one definition every layer kind and the program use)."""
    return in_frac + w_frac - out_frac


def quantize(x: np.ndarray, frac: int, bits: int) -> np.ndarray:
    """Round half up to ``frac`` fractional bits, saturate to ``bits`` signed (int64 result)."""
    low, high = signed_range(bits)
    scaled = np.asarray(x, dtype=np.float64) * (2.0 ** frac)    # exact: a power-of-two scale
    whole = np.floor(scaled)
    rounded = whole + (scaled - whole >= 0.5)   # not floor(scaled + 0.5): that sum can round up
    return np.clip(rounded, low, high).astype(np.int64)


def max_offset(act_bits: int) -> int:
    """Max pooling (OP_MAX conv passes) keeps ``acc = max(acc, a + max_offset)`` per entry, so a
    cleared accumulator (0) is below every activation; the pass's bias is ``-max_offset`` and its
    shift 0, so the sweep writes the window's maximum (docs/conv.md)."""
    return 1 << (act_bits - 1)


def max_accumulate(acc, activation, act_bits: int):
    """One OP_MAX entry: the accumulator after seeing ``activation``."""
    return np.maximum(acc, np.asarray(activation, dtype=np.int64) + max_offset(act_bits))


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
    low, high = signed_range(act_bits)
    y = np.clip(_shifted(acc, bias, shift, acc_bits), low, high)
    return np.maximum(y, 0) if relu else y


def clipped(acc: np.ndarray, bias: np.ndarray, shift: int, relu: bool, acc_bits: int,
            act_bits: int) -> np.ndarray:
    """Per row of ``acc`` [batch, n]: how many of ``requantize``'s outputs saturated (a value
    beyond ``act_bits``; below the range only counts without ReLU, which zeroes it anyway)."""
    low, high = signed_range(act_bits)
    y = _shifted(acc, bias, shift, acc_bits)
    return ((y > high) | ((y < low) & (not relu))).sum(axis=-1)


def _shifted(acc, bias, shift: int, acc_bits: int) -> np.ndarray:
    """``acc + bias`` rounded half up by the right shift, before saturation."""
    if shift < 0:
        raise ZeroskipError(f"requantisation shift {shift} is negative")
    y = wrap(acc, acc_bits) + np.asarray(bias, dtype=np.int64)
    if shift:
        y = (y + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    return y


def frac_for_range(max_abs: float, bits: int, limit: int = 30) -> int:
    """The most fractional bits with which ``max_abs`` still fits ``bits`` signed after rounding."""
    high = (1 << (bits - 1)) - 1
    if not np.isfinite(max_abs):
        raise ZeroskipError("cannot choose a fixed-point scale for a non-finite range")
    if max_abs <= 0 or max_abs * 2.0 ** limit <= high:      # tiny ranges: the cap
        return limit

    def fits(f: int) -> bool:
        return int(quantize(max_abs, f, 64)) <= high

    frac = int(np.floor(np.log2(high / max_abs)))
    while frac > -limit and not fits(frac):
        frac -= 1
    while frac < limit and fits(frac + 1):     # the estimate can be one short: rounding down
        frac += 1
    return max(min(frac, limit), -limit)


# -- binary layers (docs/binary-mode.md) ---------------------------------------------------------
def input_bits(values: np.ndarray, planes: int) -> np.ndarray:
    """The bits a binary layer reads from activations: bipolar (planes 0): value ≥ 0;
    plane p of an unsigned input: bit p of the value. Result [planes or 1, ...] of 0/1."""
    values = np.asarray(values, dtype=np.int64)
    if planes == 0:
        return (values >= 0)[None].astype(np.int64)
    return np.stack([(values >> p) & 1 for p in range(planes)])


def binary_dot_bound(in_len: int, planes: int) -> int:
    """|binary_dot| never exceeds this: fan-in × the largest input (1 for bipolar bits,
    2^planes − 1 for unsigned planes)."""
    return in_len * ((1 << planes) - 1 if planes else 1)


def quantize_planes(x: np.ndarray, planes: int) -> np.ndarray:
    """Float inputs → unsigned ``planes``-bit integers ``floor(clip(x, 0, 1)·(2^planes − 1) + 0.5)``
    (the input of a first binary layer reading bit planes)."""
    levels = (1 << planes) - 1
    return np.floor(np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * levels + 0.5).astype(np.int64)


def binary_dot(values: np.ndarray, weights: np.ndarray, planes: int) -> np.ndarray:
    """Integer dot products [batch, out] of activations [batch, in] with weight bits [out, in]:
    bipolar ``2·popcount(xnor(a, w)) − K``; planes ``Σ_p 2^p (2·popcount(a_p & w) − popcount(a_p))``."""
    bits = input_bits(values, planes)                     # [planes, batch, in]
    w = np.asarray(weights, dtype=np.int64)               # [out, in]
    if planes == 0:
        a = bits[0]
        agree = a @ w.T + (1 - a) @ (1 - w).T             # popcount(xnor)
        return 2 * agree - a.shape[-1]
    total = 0
    for p in range(planes):
        a = bits[p]
        total = total + ((2 * (a @ w.T) - a.sum(axis=-1, keepdims=True)) << p)
    return total


def binary_window_dot(patches: np.ndarray, inside: np.ndarray, weights: np.ndarray,
                      planes: int) -> np.ndarray:
    """``binary_dot`` over conv windows: patches [..., columns] (0 in the padding), ``inside``
    [..., columns] which columns lie inside the map, weight bits [out, columns]. A column in the
    padding adds nothing (docs/binary-mode.md, "Binary conv passes"): bipolar, it is not among the
    K bits (the ``+1``/``−1`` its zero's bit would give is taken back); planes, its 0 adds 0."""
    shape = patches.shape
    flat = np.asarray(patches, np.int64).reshape(-1, shape[-1])
    dot = binary_dot(flat, weights, planes)
    if planes == 0:
        outside = 1 - np.broadcast_to(inside, shape).reshape(-1, shape[-1]).astype(np.int64)
        dot = dot - outside @ (2 * np.asarray(weights, np.int64) - 1).T
    return dot.reshape(shape[:-1] + (dot.shape[-1],))


def threshold_word(threshold: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """A binarising row's bias word: ``2·T + flip`` (so T = word >> 1, flip = word & 1)."""
    return 2 * np.asarray(threshold, dtype=np.int64) + np.asarray(flip, dtype=np.int64)


def binarize(dot: np.ndarray, word: np.ndarray, shift: int) -> np.ndarray:
    """``dot ≥ T`` (``dot ≤ T`` when flipped) → +2^shift, else −2^shift."""
    word = np.asarray(word, dtype=np.int64)
    threshold, flip = word >> 1, (word & 1).astype(bool)
    bit = np.where(flip, dot <= threshold, dot >= threshold)
    return np.where(bit, 1 << shift, -(1 << shift)).astype(np.int64)
