"""hw/fixedpoint.py against an independent oracle (tests/hw/fixedpoint_oracle.py: Python ints
and exact fractions, written from docs/fixed-point.md and docs/binary-mode.md).

Three kinds of check for every function: exhaustive at small widths (acc 6 bits, act 4 bits,
every shift 0..63), seeded random values at the real widths (acc 32, act 16, weights 8 / 16),
and hand-worked tables for the corners (rounding ties of both signs, saturation at exactly
−2^(b−1) and 2^(b−1) − 1, accumulator wrap-around, the shift range, input quantisation ties).
The mutations these tests kill are listed in docs/verification.md.
"""

import itertools
import random

import numpy as np
import pytest

import fixedpoint_oracle as oracle
from zeroskip.errors import ZeroskipError
from zeroskip.hw import fixedpoint as fp


def package_requantize(acc, bias, shift, relu, acc_bits, act_bits):
    return fp.requantize(np.asarray(acc, np.int64), np.asarray(bias, np.int64), shift, relu,
                         acc_bits, act_bits).tolist()


def oracle_requantize(acc, bias, shift, relu, acc_bits, act_bits):
    return [oracle.requantize(a, b, shift, relu, acc_bits, act_bits) for a, b in zip(acc, bias)]


# -- signed ranges, quantisation ------------------------------------------------------------------
@pytest.mark.parametrize("bits", [2, 4, 8, 16, 32])
def test_signed_range(bits):
    assert fp.signed_range(bits) == (oracle.lowest(bits), oracle.highest(bits))


@pytest.mark.parametrize("bits", [2, 4, 6])
def test_quantize_exhaustive_small(bits):
    """Every multiple of 2^-(frac+2) over twice the representable range, every frac −3..6:
    exact ties of both signs and saturation at both ends included."""
    for frac in range(-3, 7):
        step = 2.0 ** -(frac + 2)
        reach = 2 ** (bits + 2)
        xs = [k * step for k in range(-reach, reach + 1)]
        assert fp.quantize(np.array(xs), frac, bits).tolist() == \
            [oracle.quantize(x, frac, bits) for x in xs], (bits, frac)


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_quantize_random_real_widths(bits):
    rng = random.Random(bits)
    for _ in range(20):
        frac = rng.randint(-8, 30)
        scale = 2.0 ** (bits - 1 - frac)
        xs = [rng.uniform(-1.5, 1.5) * scale for _ in range(200)]
        xs += [rng.randint(-2 ** bits, 2 ** bits) / 2 * 2.0 ** -frac for _ in range(50)]   # ties
        assert fp.quantize(np.array(xs), frac, bits).tolist() == \
            [oracle.quantize(x, frac, bits) for x in xs], (bits, frac)


#: (x, frac, bits, expected): worked by hand from the rule "round half up, saturate"
QUANTIZE_TABLE = [
    (0.5, 0, 16, 1), (-0.5, 0, 16, 0), (1.5, 0, 16, 2), (-1.5, 0, 16, -1),
    (2.5, 0, 16, 3), (-2.5, 0, 16, -2), (0.375, 2, 16, 2), (-0.375, 2, 16, -1),
    (3.0, -1, 16, 2), (-3.0, -1, 16, -1), (-5.0, -1, 16, -2), (0.4, 0, 16, 0), (-0.6, 0, 16, -1),
    (32767.0, 0, 16, 32767), (32767.5, 0, 16, 32767), (1e9, 0, 16, 32767),
    (-32768.0, 0, 16, -32768), (-32768.5, 0, 16, -32768), (-32769.0, 0, 16, -32768),
    (-1e9, 0, 16, -32768), (-1.0, 15, 16, -32768), (1.0, 15, 16, 32767), (-1.0, 7, 8, -128),
    (127.5, 0, 8, 127), (-128.5, 0, 8, -128), (-127.5, 0, 8, -127), (-200.0, 0, 8, -128),
    (0.99999, 14, 16, 16384), (-2.0, 14, 16, -32768), (2.0, 14, 16, 32767),
    (-(2.0 ** 31), 0, 32, -(2 ** 31)), (2.0 ** 31, 0, 32, 2 ** 31 - 1), (-(2.0 ** 31) - 0.5, 0, 32, -(2 ** 31)),
]


@pytest.mark.parametrize("x,frac,bits,expected", QUANTIZE_TABLE)
def test_quantize_table(x, frac, bits, expected):
    assert oracle.quantize(x, frac, bits) == expected
    assert fp.quantize(np.array([x]), frac, bits).tolist() == [expected]


#: the largest double below 0.5: by the spec it rounds to 0
BELOW_A_HALF = 0.49999999999999994


def test_just_below_a_half_by_the_spec():
    assert BELOW_A_HALF < 0.5 and oracle.quantize(BELOW_A_HALF, 0, 16) == 0
    assert oracle.quantize(-BELOW_A_HALF, 0, 16) == 0
    assert fp.quantize(np.array([-BELOW_A_HALF]), 0, 16).tolist() == [0]


def test_quantize_just_below_a_half_rounds_down():
    """Fixed: floor(x·2^frac + 0.5) rounded 0.5 − 2^-54 up (the sum rounds to 1.0 first)."""
    assert fp.quantize(np.array([BELOW_A_HALF]), 0, 16).tolist() == [0]


def test_dequantize_is_the_inverse_on_the_grid():
    q = np.arange(-40, 41)
    for frac in (-3, 0, 5, 14):
        assert fp.quantize(fp.dequantize(q, frac), frac, 16).tolist() == q.tolist()


# -- wrap-around ------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", range(1, 9))
def test_wrap_exhaustive_small(bits):
    values = list(range(-2 ** (bits + 1), 2 ** (bits + 1)))
    assert fp.wrap(np.array(values), bits).tolist() == [oracle.wrap(v, bits) for v in values]


def test_wrap_random_32_bits():
    rng = random.Random(32)
    values = [rng.randint(-2 ** 40, 2 ** 40) for _ in range(2000)]
    values += [rng.choice([-1, 1]) * 2 ** 31 + rng.randint(-3, 3) for _ in range(100)]
    assert fp.wrap(np.array(values), 32).tolist() == [oracle.wrap(v, 32) for v in values]


WRAP_TABLE = [
    (2 ** 31 - 1, 2 ** 31 - 1), (2 ** 31, -(2 ** 31)), (2 ** 31 + 5, -(2 ** 31) + 5),
    (-(2 ** 31), -(2 ** 31)), (-(2 ** 31) - 1, 2 ** 31 - 1), (2 ** 32, 0), (3 * 2 ** 31, -(2 ** 31)),
    (-(2 ** 32) - 7, -7), (0, 0), (-1, -1),
]


@pytest.mark.parametrize("value,expected", WRAP_TABLE)
def test_wrap_table(value, expected):
    assert oracle.wrap(value, 32) == expected
    assert fp.wrap(np.array([value]), 32).tolist() == [expected]


# -- requantisation ---------------------------------------------------------------------------
def test_requantize_exhaustive_small():
    """acc_bits 6, act_bits 4: every accumulator value over three wrap periods (−96..95), every
    shift 0..63 with and without ReLU; every bias −32..31 up to shift 8 (beyond it |y| < 2^(shift−1)
    and everything rounds to 0), the extreme and smallest biases above."""
    every = list(zip(*itertools.product(range(-96, 96), range(-32, 32))))
    some = list(zip(*itertools.product(range(-96, 96), [-32, -1, 0, 1, 31])))
    for shift in range(64):
        accs, biases = every if shift <= 8 else some
        for relu in (False, True):
            assert package_requantize(accs, biases, shift, relu, 6, 4) == \
                oracle_requantize(accs, biases, shift, relu, 6, 4), (shift, relu)


@pytest.mark.parametrize("act_bits,weight_bits", [(16, 16), (16, 8), (8, 8)])
def test_requantize_random_real_widths(act_bits, weight_bits):
    """acc 32 bits; accumulators of products of act × weight values, some wrapping; biases at the
    accumulator's scale; every shift 0..63 (most in the range layers use)."""
    rng = random.Random(act_bits * 100 + weight_bits)
    low, high = oracle.lowest(act_bits), oracle.highest(act_bits)
    wlow, whigh = oracle.lowest(weight_bits), oracle.highest(weight_bits)
    for shift in range(64):
        n = 300 if shift <= 34 else 40
        accs = [sum(rng.randint(low, high) * rng.randint(wlow, whigh) for _ in range(rng.choice([1, 4, 64])))
                for _ in range(n)]
        biases = [rng.randint(-2 ** 31, 2 ** 31 - 1) >> rng.randint(0, 31) for _ in range(n)]
        # exact ties and near-ties at this shift, both signs
        if shift:
            for _ in range(40):
                y = (rng.randint(-2 ** 20, 2 ** 20) * 2 + 1) * 2 ** (shift - 1) + rng.choice([-1, 0, 0, 1])
                if -(2 ** 31) <= y < 2 ** 31:
                    accs.append(y)
                    biases.append(0)
        for relu in (False, True):
            assert package_requantize(accs, biases, shift, relu, 32, act_bits) == \
                oracle_requantize(accs, biases, shift, relu, 32, act_bits), (shift, relu)


#: (acc, bias, shift, relu, expected) at acc_bits 32, act_bits 16, worked by hand
REQUANTIZE_TABLE = [
    # rounding ties: half up, so positive ties go away from zero and negative ones towards it
    (1, 0, 1, False, 1), (-1, 0, 1, False, 0), (3, 0, 1, False, 2), (-3, 0, 1, False, -1),
    (5, 1, 2, False, 2), (-6, 0, 2, False, -1), (-10, 0, 2, False, -2), (10, 0, 2, False, 3),
    (3 << 20, 0, 21, False, 2), (-(3 << 20), 0, 21, False, -1), (1 << 19, 1 << 19, 21, False, 1),
    (-(1 << 20), 0, 21, False, 0), (-(1 << 20) - 1, 0, 21, False, -1), ((1 << 20) - 1, 0, 21, False, 0),
    # saturation at exactly the ends of act_bits, both ways
    (32767, 0, 0, False, 32767), (32768, 0, 0, False, 32767), (-32768, 0, 0, False, -32768),
    (-32769, 0, 0, False, -32768), ((32767 << 4) + 7, 0, 4, False, 32767),
    ((32767 << 4) + 8, 0, 4, False, 32767), (-(32768 << 4) - 8, 0, 4, False, -32768),
    (-(32768 << 4) - 9, 0, 4, False, -32768), (-(32767 << 4) - 8, 0, 4, False, -32767),
    (2 ** 31 - 1, 0, 0, False, 32767), (-(2 ** 31), 0, 0, False, -32768),
    (-(2 ** 31), 0, 0, True, 0), (2 ** 31 - 1, 0, 0, True, 32767), (-(32768 << 4), 0, 4, False, -32768),
    # the bias is added to the (wrapped) accumulator exactly, at acc_bits + 1
    (2 ** 31 - 1, 1, 16, False, 32767), (-(2 ** 31), -1, 16, False, -32768),
    (2 ** 31 - 1, 2 ** 31 - 1, 32, False, 1), (2 ** 31 - 1, 2 ** 31 - 1, 33, False, 0),
    (-(2 ** 31), -(2 ** 31), 32, False, -1), (-(2 ** 31), -(2 ** 31), 33, False, 0),
    # the accumulator wraps at acc_bits before the bias is added
    (2 ** 31, 0, 16, False, -32768), (2 ** 32 + 5, 0, 0, False, 5), (-(2 ** 31) - 1, 0, 16, False, 32767),
    (2 ** 31 + (1 << 15), 0, 16, False, -32767), (3 * 2 ** 31, 1 << 16, 16, False, -32767),
    # ReLU after saturation and rounding
    (-1, 0, 1, True, 0), (-3, 0, 1, True, 0), (3, 0, 1, True, 2), (-(2 ** 40) + 2 ** 31 - 1, 0, 0, True, 32767),
    # the shift range 0..63
    (12345, 0, 0, False, 12345), (-12345, 0, 0, False, -12345), (2 ** 31 - 1, 0, 63, False, 0),
    (-(2 ** 31), 0, 63, False, 0), (2 ** 31 - 1, 0, 31, False, 1), (-(2 ** 31), 0, 31, False, -1),
    (-(2 ** 30), 0, 31, False, 0), (2 ** 30, 0, 31, False, 1), (2 ** 30 - 1, 0, 31, False, 0),
]


@pytest.mark.parametrize("acc,bias,shift,relu,expected", REQUANTIZE_TABLE)
def test_requantize_table(acc, bias, shift, relu, expected):
    assert oracle.requantize(acc, bias, shift, relu, 32, 16) == expected
    assert package_requantize([acc], [bias], shift, relu, 32, 16) == [expected]


def test_requantize_table_covers_every_corner():
    """The table above has ties of both signs, saturation both ways and wrap-around."""
    ties = {np.sign(oracle.wrap(a, 32) + b) for a, b, s, _, _ in REQUANTIZE_TABLE
            if s and (oracle.wrap(a, 32) + b) % (1 << s) == 1 << (s - 1)}
    assert ties == {-1, 1}
    shifted = [oracle.shift_round(oracle.wrap(a, 32) + b, s) for a, b, s, _, _ in REQUANTIZE_TABLE]
    assert max(shifted) > 32767 and min(shifted) < -32768
    assert 32767 in shifted and -32768 in shifted
    assert any(oracle.wrap(a, 32) != a for a, *_ in REQUANTIZE_TABLE)


def test_requantize_refuses_a_negative_shift():
    with pytest.raises(ZeroskipError, match="shift -1"):
        fp.requantize(np.array([1]), np.array([0]), -1, False, 32, 16)
    with pytest.raises(ValueError):
        oracle.requantize(1, 0, -1, False, 32, 16)


# -- choosing scales ----------------------------------------------------------------------------
FRAC_TABLE = [(1.0, 16, 14), (2.0, 16, 13), (10.56, 16, 11), (0.0, 16, 30), (0.5, 16, 15),
              (32767.0, 16, 0), (32767.5, 16, -1), (1e-12, 16, 30), (65534.0, 16, -1),
              (65535.0, 16, -2), (1.0, 8, 6), (127.0, 8, 0), (127.5, 8, -1), (1.0, 32, 30),
              (2.0 ** 20, 32, 10)]

#: ranges that exceed the largest value at the spec's answer but round down into it: the
#: package answers one fractional bit fewer (see ``package_frac_agrees``)
FRAC_ROUNDING_BAND = [(32767.49, 16, 0), (127.25, 8, 0), (4071.739562464373, 8, -5),
                      (65534.9, 16, -1), (7.4, 4, 0)]


def above_largest_before_rounding(max_abs: float, bits: int, frac: int) -> bool:
    """``max_abs · 2^frac`` exceeds 2^(bits−1) − 1 before rounding (but not after)."""
    return max_abs * 2.0 ** frac > oracle.highest(bits)


def package_frac_agrees(max_abs: float, bits: int) -> bool:
    """The package's ``frac_for_range`` equals the spec's, except in the rounding band where it
    starts from ``floor(log2(high / max_abs))`` and never goes up: there it is one less."""
    expected = oracle.frac_for_range(max_abs, bits)
    got = fp.frac_for_range(max_abs, bits)
    if above_largest_before_rounding(max_abs, bits, expected):
        return got in (expected, expected - 1)
    return got == expected


@pytest.mark.parametrize("max_abs,bits,expected", FRAC_TABLE)
def test_frac_for_range_table(max_abs, bits, expected):
    assert oracle.frac_for_range(max_abs, bits) == expected
    assert fp.frac_for_range(max_abs, bits) == expected


@pytest.mark.parametrize("max_abs,bits,expected", FRAC_ROUNDING_BAND)
def test_frac_for_range_rounding_band_by_the_spec(max_abs, bits, expected):
    assert oracle.frac_for_range(max_abs, bits) == expected
    assert above_largest_before_rounding(max_abs, bits, expected)
    assert package_frac_agrees(max_abs, bits)


@pytest.mark.parametrize("max_abs,bits,expected", FRAC_ROUNDING_BAND)
def test_frac_for_range_rounding_band(max_abs, bits, expected):
    """Fixed: the first estimate floor(log2(high / max_abs)) is one bit short when
    max_abs · 2^frac rounds down to the largest value; it is now raised while it fits."""
    assert fp.frac_for_range(max_abs, bits) == expected


def test_frac_for_range_exhaustive_small():
    """Every multiple of 1/16 up to 100 at 4 and 6 bits (many exactly on a rounding boundary)."""
    for bits in (4, 6):
        for k in range(0, 100 * 16):
            assert package_frac_agrees(k / 16, bits), (k / 16, bits)


def test_frac_for_range_random():
    rng = random.Random(7)
    for _ in range(1500):
        bits = rng.choice([8, 16, 32])
        r = 2.0 ** rng.uniform(-25, 25)
        if rng.random() < 0.3:   # exactly on a rounding boundary: (high + 1/2) · 2^-f
            r = (oracle.highest(bits) + 0.5) * 2.0 ** -rng.randint(-20, 20)
        if oracle.frac_for_range(r, bits) is not None:
            assert package_frac_agrees(r, bits), (r, bits)


def test_frac_for_range_refuses_non_finite():
    with pytest.raises(ZeroskipError, match="non-finite"):
        fp.frac_for_range(float("inf"), 16)


# -- binary layers: input bits and planes -------------------------------------------------------
@pytest.mark.parametrize("planes", range(0, 9))
def test_input_bits_exhaustive(planes):
    values = list(range(-300, 300))
    got = fp.input_bits(np.array(values), planes).tolist()
    assert len(got) == max(planes, 1)
    for p, row in enumerate(got):
        assert row == [oracle.input_bit(v, planes, p) for v in values]


@pytest.mark.parametrize("planes", range(1, 9))
def test_quantize_planes_exhaustive(planes):
    """Every multiple of 1/1024 in [−0.5, 1.5] (products with 2^b − 1 exact in floats, so the
    ties are exact ties) and the clipping at both ends."""
    xs = [k / 1024 for k in range(-512, 1537)]
    assert fp.quantize_planes(np.array(xs), planes).tolist() == \
        [oracle.quantize_plane_input(x, planes) for x in xs]


#: (x, planes, expected): ties round up (1 plane: 0.5 → 1; 8 planes: 127.5 → 128)
PLANES_TABLE = [(0.5, 1, 1), (0.5, 2, 2), (0.5, 8, 128), (0.25, 1, 0), (0.75, 1, 1),
                (0.5, 3, 4), (1.0, 8, 255), (1.7, 8, 255), (-0.3, 8, 0), (0.0, 3, 0),
                (0.5 / 255 * 0.999, 8, 0), (0.1875, 2, 1), (0.75, 2, 2), (0.625, 2, 2)]


@pytest.mark.parametrize("x,planes,expected", PLANES_TABLE)
def test_quantize_planes_table(x, planes, expected):
    assert oracle.quantize_plane_input(x, planes) == expected
    assert fp.quantize_planes(np.array([x]), planes).tolist() == [expected]


# -- binary layers: dot products, thresholds ----------------------------------------------------
def test_binary_dot_bipolar_exhaustive():
    """Every sign pattern of 1..5 inputs (values −2..1, zero counting as +1) against every weight
    row of that length."""
    for k in range(1, 6):
        xs = np.array(list(itertools.product([-2, -1, 0, 1], repeat=k)))
        ws = np.array(list(itertools.product([0, 1], repeat=k)))
        got = fp.binary_dot(xs, ws, 0).tolist()
        assert got == [[oracle.binary_dot(list(x), list(w), 0) for w in ws.tolist()] for x in xs.tolist()]


@pytest.mark.parametrize("planes", [1, 2, 3])
def test_binary_dot_planes_exhaustive(planes):
    """Every unsigned input vector of 1..3 values against every weight row; equals the bipolar
    weight times the unsigned input, Σ x_j (2 w_j − 1)."""
    for k in range(1, 4):
        xs = np.array(list(itertools.product(range(1 << planes), repeat=k)))
        ws = np.array(list(itertools.product([0, 1], repeat=k)))
        got = fp.binary_dot(xs, ws, planes).tolist()
        want = [[oracle.binary_dot(list(x), list(w), planes) for w in ws.tolist()] for x in xs.tolist()]
        assert got == want
        assert want == [[sum(xj * (2 * wj - 1) for xj, wj in zip(x, w)) for w in ws.tolist()]
                        for x in xs.tolist()]


@pytest.mark.parametrize("planes", [0, 1, 8])
def test_binary_dot_random_real_sizes(planes):
    rng = random.Random(planes)
    for k in (1, 63, 64, 65, 300, 784):
        top = (1 << planes) - 1 if planes else 1
        xs = [[rng.randint(0, top) if planes else rng.randint(-32768, 32767) for _ in range(k)]
              for _ in range(3)]
        ws = [[rng.randint(0, 1) for _ in range(k)] for _ in range(5)]
        got = fp.binary_dot(np.array(xs), np.array(ws), planes).tolist()
        assert got == [[oracle.binary_dot(x, w, planes) for w in ws] for x in xs], k


#: (dot, threshold, flip, shift, expected)
BINARIZE_TABLE = [(5, 5, 0, 0, 1), (4, 5, 0, 0, -1), (5, 5, 1, 0, 1), (6, 5, 1, 0, -1),
                  (-3, -3, 0, 3, 8), (-4, -3, 0, 3, -8), (-3, -3, 1, 14, 16384), (-2, -3, 1, 14, -16384),
                  (0, 0, 0, 0, 1), (-1, 0, 1, 0, 1), (-1, -1, 1, 1, 2), (0, -1, 1, 1, -2),
                  (-785, -785, 0, 0, 1), (785, 785, 1, 0, 1)]


@pytest.mark.parametrize("dot,threshold,flip,shift,expected", BINARIZE_TABLE)
def test_binarize_table(dot, threshold, flip, shift, expected):
    word = oracle.threshold_word(threshold, flip)
    assert fp.threshold_word(np.array([threshold]), np.array([flip])).tolist() == [word]
    assert oracle.binarize(dot, word, shift) == expected
    assert fp.binarize(np.array([dot]), np.array([word]), shift).tolist() == [expected]


def test_threshold_word_and_binarize_exhaustive():
    thresholds, flips, dots = range(-9, 10), (0, 1), range(-12, 13)
    for shift in (0, 1, 5, 14):
        cases = list(itertools.product(thresholds, flips, dots))
        t, f, d = (np.array(column) for column in zip(*cases))
        words = fp.threshold_word(t, f)
        assert words.tolist() == [oracle.threshold_word(*c[:2]) for c in cases]
        assert fp.binarize(d, words, shift).tolist() == \
            [oracle.binarize(c[2], oracle.threshold_word(c[0], c[1]), shift) for c in cases]
