import numpy as np
import pytest

from zeroskip.models.sparse import SparseRows, decode_rows, encode_rows


def test_eie_padding_example():
    # EIE: column [0,0,1,2,0x18,3] -> v = [1,2,0,3], z = [2,0,15,2]
    codes = np.array([[0, 0, 1, 2] + [0] * 18 + [3]])
    sparse = encode_rows(codes, 4)
    np.testing.assert_array_equal(sparse.codes, [1, 2, 0, 3])
    np.testing.assert_array_equal(sparse.gaps, [2, 0, 15, 2])
    np.testing.assert_array_equal(sparse.row_ends, [4])
    assert sparse.entries == 4 and sparse.fillers == 1


def test_fillers_per_gap():
    # r = 2: a filler covers 3 zeros and itself; gap 8 -> 2 fillers + z = 0; gap 3 -> z = 3
    codes = np.zeros((3, 12), int)
    codes[0, 8] = 5
    codes[1, 3] = 6
    codes[1, 11] = 7  # gap 7 -> 1 filler (4 positions) + z = 3
    sparse = encode_rows(codes, 2)
    np.testing.assert_array_equal(sparse.codes, [0, 0, 5, 6, 0, 7])
    np.testing.assert_array_equal(sparse.gaps, [3, 3, 0, 3, 3, 3])
    np.testing.assert_array_equal(sparse.row_ends, [3, 6, 6])  # row 2 is empty


@pytest.mark.parametrize("index_bits", [1, 2, 3, 4, 5, 8])
def test_round_trip(index_bits):
    rng = np.random.default_rng(index_bits)
    codes = (rng.random((40, 300)) < 0.07) * rng.integers(1, 16, (40, 300))
    codes[5] = 0
    codes[9, -1] = 3
    sparse = encode_rows(codes, index_bits)
    assert sparse.entries - sparse.fillers == np.count_nonzero(codes)
    assert sparse.gaps.max() < 2 ** index_bits
    np.testing.assert_array_equal(decode_rows(sparse), codes)


def test_all_zero_matrix():
    sparse = encode_rows(np.zeros((3, 4), int), 4)
    assert sparse.entries == 0
    np.testing.assert_array_equal(decode_rows(sparse), np.zeros((3, 4)))


def test_decode_rejects_inconsistent_entries():
    good = encode_rows(np.array([[1, 0, 2], [0, 3, 0]]), 4)
    with pytest.raises(ValueError, match="beyond"):
        decode_rows(SparseRows(good.codes, good.gaps + 2, good.row_ends, (2, 3), 4))
    with pytest.raises(ValueError, match="pointers"):
        decode_rows(SparseRows(good.codes, good.gaps, good.row_ends[::-1], (2, 3), 4))
    with pytest.raises(ValueError):
        encode_rows(np.zeros(5, int), 4)
