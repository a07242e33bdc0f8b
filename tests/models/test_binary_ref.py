import numpy as np
import pytest

from zeroskip.errors import ZeroskipError
from zeroskip.models import binary_ref as ref
from zeroskip.models.binary_fold import FoldedLayer


@pytest.mark.parametrize("k", [1, 63, 64, 65, 130, 784])
def test_pack_unpack_round_trip_and_zero_padding(k):
    rng = np.random.default_rng(k)
    bits = rng.random((3, k)) < 0.5
    words = ref.pack_bits(bits)
    assert words.dtype == np.uint64 and words.shape == (3, ref.words_for(k))
    assert np.array_equal(ref.unpack_bits(words, k), bits)
    padding = ref.unpack_bits(words, ref.words_for(k) * 64)[:, k:]
    assert not padding.any()


def test_bit_order_is_lsb_first_within_64_bit_words():
    bits = np.zeros(70, bool)
    bits[[0, 3, 64, 69]] = True
    assert ref.pack_bits(bits).tolist() == [0b1001, (1 << 0) | (1 << 5)]


@pytest.mark.parametrize("k", [1, 5, 64, 100, 256])
def test_bipolar_dot_is_the_plus_minus_one_dot_product(k):
    rng = np.random.default_rng(k)
    a = rng.random((7, k)) < 0.5
    w = rng.random((5, k)) < 0.5
    expected = (2 * a.astype(np.int64) - 1) @ (2 * w.astype(np.int64) - 1).T
    assert np.array_equal(ref.bipolar_dot(ref.pack_bits(a), ref.pack_bits(w), k), expected)


def test_bipolar_dot_masks_padding_bits_of_the_last_word():
    k = 70
    rng = np.random.default_rng(1)
    a, w = rng.random((4, k)) < 0.5, rng.random((3, k)) < 0.5
    pa, pw = ref.pack_bits(a), ref.pack_bits(w)
    garbage = np.uint64(0xFFFF_FFFF_FFFF_FFC0)  # every padding bit of the last word set
    pa[:, -1] |= garbage
    clean = ref.bipolar_dot(ref.pack_bits(a), pw, k)
    assert np.array_equal(ref.bipolar_dot(pa, pw, k), clean)


@pytest.mark.parametrize("bits,k", [(1, 9), (8, 784), (3, 65)])
def test_unsigned_dot_by_bit_planes_is_the_integer_dot_product(bits, k):
    rng = np.random.default_rng(bits * k)
    x = rng.integers(0, 2 ** bits, (6, k))
    w = rng.random((4, k)) < 0.5
    expected = x @ (2 * w.astype(np.int64) - 1).T
    got = ref.unsigned_dot(ref.input_planes(x, bits), ref.pack_bits(w), k)
    assert np.array_equal(got, expected)


def _net(rng, k=20, hidden=6, classes=3):
    w1 = rng.random((hidden, k)) < 0.5
    w2 = rng.random((classes, hidden)) < 0.5
    first = FoldedLayer("fc1", w1, 8, thresholds=rng.integers(-200, 200, hidden),
                        flip=rng.random(hidden) < 0.5)
    last = FoldedLayer("fc2", w2, 0, scale=rng.random(classes) + 0.1, offset=np.zeros(classes))
    return [first, last]


def test_trace_follows_the_documented_integer_semantics():
    rng = np.random.default_rng(0)
    layers = _net(rng)
    x = rng.integers(0, 256, (10, 20))
    w1 = 2 * layers[0].weights.astype(np.int64) - 1
    dot1 = x @ w1.T
    t, flip = layers[0].thresholds, layers[0].flip
    h = np.where(flip, dot1 <= t, dot1 >= t)
    dot2 = (2 * h.astype(np.int64) - 1) @ (2 * layers[1].weights.astype(np.int64) - 1).T
    dots = ref.trace(layers, x)
    assert np.array_equal(dots[0], dot1) and np.array_equal(dots[1], dot2)
    assert np.array_equal(ref.predict(layers, x), (dot2 * layers[1].scale).argmax(axis=1))


def test_thresholds_out_of_range_are_rejected():
    rng = np.random.default_rng(0)
    layers = _net(rng)
    bound = 20 * 255
    bad = FoldedLayer("fc1", layers[0].weights, 8,
                      thresholds=np.full(6, bound + 2), flip=np.zeros(6, bool))
    with pytest.raises(ZeroskipError, match=r"fc1: thresholds .* out of range"):
        ref.trace([bad, layers[1]], np.zeros((1, 20), np.int64))
    edge = FoldedLayer("fc1", layers[0].weights, 8,
                       thresholds=np.full(6, bound + 1), flip=np.zeros(6, bool))
    ref.trace([edge, layers[1]], np.zeros((1, 20), np.int64))  # the edge itself is allowed


def test_fan_in_mismatches_and_bad_inputs_are_one_line_errors():
    rng = np.random.default_rng(0)
    layers = _net(rng)
    with pytest.raises(ZeroskipError, match="input has 21 features, fan-in is 20"):
        ref.trace(layers, np.zeros((1, 21), np.int64))
    with pytest.raises(ZeroskipError, match=r"values must lie in 0\.\.255"):
        ref.trace(layers, np.full((1, 20), 256))
    wrong = FoldedLayer("fc2", layers[1].weights[:, :5], 0, scale=layers[1].scale,
                        offset=layers[1].offset)
    with pytest.raises(ZeroskipError, match="fc2: fan-in 5 does not match the 6 outputs of fc1"):
        ref.trace([layers[0], wrong], np.zeros((1, 20), np.int64))


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    layers = _net(rng)
    path = tmp_path / "m.npz"
    ref.save(path, layers)
    back = ref.load(path)
    x = rng.integers(0, 256, (5, 20))
    for a, b in zip(layers, back, strict=True):
        assert a.name == b.name and np.array_equal(a.weights, b.weights)
    assert np.array_equal(ref.trace(layers, x)[-1], ref.trace(back, x)[-1])
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ZeroskipError, match="x.npz"):
        ref.load(path)
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ZeroskipError, match="not a zeroskip binary model"):
        ref.load(path)
