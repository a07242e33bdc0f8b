"""An independent model of the array's arithmetic, written from the specification
(docs/fixed-point.md, docs/binary-mode.md) with Python integers and exact fractions only: no
numpy, nothing shared with ``zeroskip.hw.fixedpoint``. tests/hw/test_fixedpoint.py checks the
package against it (not a test module).

Every function takes and returns plain ints (or floats for the inputs of quantisation), one
value at a time: slow, and obviously right.
"""

from __future__ import annotations

import math
from fractions import Fraction

#: the largest right shift a pass descriptor holds (docs/fixed-point.md: shift 0..63)
MAX_SHIFT = 63


def lowest(bits: int) -> int:
    """The most negative ``bits``-bit two's complement integer: −2^(bits−1)."""
    return -(2 ** (bits - 1))


def highest(bits: int) -> int:
    """The most positive ``bits``-bit two's complement integer: 2^(bits−1) − 1."""
    return 2 ** (bits - 1) - 1


def saturate(value: int, bits: int) -> int:
    return max(lowest(bits), min(highest(bits), value))


def round_half_up(value: Fraction) -> int:
    """The integer nearest ``value``; exact halves go towards +∞ (−2.5 → −2, 2.5 → 3)."""
    return math.floor(value + Fraction(1, 2))


def quantize(x: float, frac: int, bits: int) -> int:
    """A real number → ``bits`` signed with ``frac`` fractional bits: round half up, saturate."""
    return saturate(round_half_up(Fraction(x) * Fraction(2) ** frac), bits)


def wrap(value: int, bits: int) -> int:
    """Two's complement wrap-around: the ``bits``-bit integer congruent to ``value`` mod 2^bits."""
    modulus = 2 ** bits
    return (value - lowest(bits)) % modulus + lowest(bits)


def shift_round(y: int, shift: int) -> int:
    """``y / 2^shift`` rounded half up, as the spec writes it: ``(y + 2^(shift−1)) >> shift``.
    Computed here as ``floor(y / 2^shift + 1/2) = floor((2y + 2^shift) / 2^(shift+1))`` with a
    floor division, not with that shift, so it checks the shift and the rounding constant too."""
    return (2 * y + 2 ** shift) // 2 ** (shift + 1)


def requantize(acc: int, bias: int, shift: int, relu: bool, acc_bits: int, act_bits: int) -> int:
    """End of a layer: ``y = acc + bias`` (the accumulator having wrapped at ``acc_bits``),
    shift right rounding half up, saturate to ``act_bits``, then ReLU."""
    if not 0 <= shift <= MAX_SHIFT:
        raise ValueError(f"shift {shift} outside 0..{MAX_SHIFT}")
    y = saturate(shift_round(wrap(acc, acc_bits) + bias, shift), act_bits)
    return max(y, 0) if relu else y


def frac_for_range(max_abs: float, bits: int, limit: int = 30) -> int:
    """The most fractional bits (at most ``limit``) with which ``max_abs`` still fits ``bits``
    signed after rounding half up; ``limit`` for a zero range. None if even ``−limit`` does not do."""
    for frac in range(limit, -limit - 1, -1):
        if round_half_up(Fraction(max_abs) * Fraction(2) ** frac) <= highest(bits):
            return frac
    return None


def quantize_plane_input(x: float, planes: int) -> int:
    """A first binary layer's input: ``floor(clip(x, 0, 1)·(2^planes − 1) + 0.5)``."""
    clipped = min(max(Fraction(x), Fraction(0)), Fraction(1))
    return round_half_up(clipped * (2 ** planes - 1))


def input_bit(x: int, planes: int, plane: int) -> int:
    """The bit a binary layer reads: bipolar (planes 0) ``x ≥ 0``; else bit ``plane`` of x."""
    if planes == 0:
        return 1 if x >= 0 else 0
    return (x >> plane) & 1


def popcount(bits: list[int]) -> int:
    return sum(1 for b in bits if b)


def binary_dot(x: list[int], w: list[int], planes: int) -> int:
    """One row's dot product, counted with popcounts as the PE does (docs/binary-mode.md):
    bipolar ``2·popcount(xnor(a, w)) − K``; planes ``Σ_p 2^p (2·popcount(a_p & w) − popcount(a_p))``."""
    if planes == 0:
        a = [input_bit(v, 0, 0) for v in x]
        return 2 * popcount([ai == wi for ai, wi in zip(a, w)]) - len(x)
    total = 0
    for p in range(planes):
        a = [input_bit(v, planes, p) for v in x]
        total += 2 ** p * (2 * popcount([ai & wi for ai, wi in zip(a, w)]) - popcount(a))
    return total


def threshold_word(threshold: int, flip: int) -> int:
    return 2 * threshold + flip


def binarize(dot: int, word: int, shift: int) -> int:
    """Threshold word ``2·T + flip`` (so ``word = 2T + flip`` with flip ∈ {0, 1}): the output bit
    is ``dot ≥ T``, or ``dot ≤ T`` when flipped, written as ±2^shift."""
    flip = word % 2
    threshold = (word - flip) // 2
    fires = dot <= threshold if flip else dot >= threshold
    return 2 ** shift if fires else -(2 ** shift)
