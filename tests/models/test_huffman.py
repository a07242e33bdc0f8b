import numpy as np
import pytest

from zeroskip.models import huffman


def test_known_code_lengths():
    # frequencies 1, 1, 2, 4 -> lengths 3, 3, 2, 1; absent symbols get 0
    np.testing.assert_array_equal(huffman.code_lengths([1, 1, 2, 4, 0]), [3, 3, 2, 1, 0])
    np.testing.assert_array_equal(huffman.code_lengths([0, 5, 0]), [0, 1, 0])


def test_canonical_codes_are_prefix_free_and_ordered():
    lengths = np.array([3, 3, 2, 1])
    codes = huffman.canonical_codes(lengths)
    np.testing.assert_array_equal(codes, [0b110, 0b111, 0b10, 0b0])


def test_known_bit_stream():
    # symbols 3, 2, 0, 1 -> 0 10 110 111 -> 0101 1011 1(000 pad)
    assert huffman.encode([3, 2, 0, 1], [3, 3, 2, 1]) == bytes([0b01011011, 0b10000000])


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_random_streams(seed):
    rng = np.random.default_rng(seed)
    alphabet = rng.integers(2, 300)
    p = rng.dirichlet(np.full(alphabet, 0.3))
    symbols = rng.choice(alphabet, size=5000, p=p)
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet))
    data = huffman.encode(symbols, lengths)
    assert len(data) == -(-huffman.encoded_bits(symbols, lengths) // 8)
    np.testing.assert_array_equal(huffman.decode(data, lengths, len(symbols)), symbols)


@pytest.mark.parametrize("seed", range(4))
def test_average_length_within_one_bit_of_entropy(seed):
    rng = np.random.default_rng(10 + seed)
    symbols = rng.geometric(0.15, size=20000).clip(max=31)
    lengths = huffman.code_lengths(np.bincount(symbols))
    average = huffman.encoded_bits(symbols, lengths) / len(symbols)
    entropy = huffman.entropy_bits(symbols)
    assert entropy <= average < entropy + 1


def test_long_codes_use_the_bitwise_decoder():
    # Fibonacci frequencies give the most skewed tree: 24 symbols -> a 23-bit code
    fib = [1, 1]
    while len(fib) < 24:
        fib.append(fib[-1] + fib[-2])
    freqs = np.array(fib)
    lengths = huffman.code_lengths(freqs)
    assert lengths.max() > huffman.TABLE_BITS
    symbols = np.repeat(np.arange(24), 1)[::-1]
    data = huffman.encode(symbols, lengths)
    np.testing.assert_array_equal(huffman.decode(data, lengths, len(symbols)), symbols)


def test_single_symbol_and_empty_streams():
    lengths = huffman.code_lengths([0, 0, 9])
    data = huffman.encode([2] * 9, lengths)
    assert len(data) == 2
    np.testing.assert_array_equal(huffman.decode(data, lengths, 9), [2] * 9)
    assert huffman.encode([], lengths) == b""
    assert huffman.decode(b"", lengths, 0).size == 0


def test_bad_streams_raise():
    lengths = huffman.code_lengths([1, 1, 2, 4])
    data = huffman.encode([0, 1, 2, 3] * 10, lengths)
    with pytest.raises(ValueError, match="ends early"):
        huffman.decode(data[:3], lengths, 40)
    with pytest.raises(ValueError, match="Kraft"):
        huffman.decode(data, [1, 1, 1, 0], 4)
    with pytest.raises(ValueError):
        huffman.encode([4], lengths)  # symbol outside the alphabet
    with pytest.raises(ValueError):
        huffman.encode([0], [0, 1, 1, 1])  # symbol without a code


def test_incomplete_code_rejects_unused_codewords():
    lengths = np.array([1, 2])  # codewords 0 and 10; 11 is unused
    with pytest.raises(ValueError, match="invalid"):
        huffman.decode(bytes([0b11000000]), lengths, 1)
