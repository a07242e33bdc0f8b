"""Canonical Huffman coding of small integer alphabets (weight codes, relative indices).

A code is fully described by its per-symbol code lengths (0 = symbol absent), which is all a
file has to store: codes are assigned canonically (shorter first, then by symbol). Bits are
packed most-significant first; the last byte is padded with zeros.
"""

from __future__ import annotations

import heapq

import numpy as np

#: decode through a lookup table when the longest code is at most this long
TABLE_BITS = 16


def code_lengths(frequencies: np.ndarray) -> np.ndarray:
    """Huffman code length of each symbol (0 for symbols that never occur)."""
    freqs = np.asarray(frequencies, dtype=np.int64)
    lengths = np.zeros(len(freqs), np.int64)
    present = np.flatnonzero(freqs > 0)
    if len(present) == 1:
        lengths[present] = 1
        return lengths
    # heap of (weight, tie-breaker, symbols in the subtree)
    heap = [(int(freqs[s]), int(s), [int(s)]) for s in present]
    heapq.heapify(heap)
    while len(heap) > 1:
        w1, t1, s1 = heapq.heappop(heap)
        w2, t2, s2 = heapq.heappop(heap)
        lengths[s1] += 1
        lengths[s2] += 1
        heapq.heappush(heap, (w1 + w2, min(t1, t2), s1 + s2))
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """The canonical codeword of each symbol, as an integer (valid for its length)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), np.int64)
    code, previous = 0, 0
    for symbol in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[symbol]) - previous
        codes[symbol] = code
        previous = int(lengths[symbol])
        code += 1
    return codes


def check_lengths(lengths: np.ndarray) -> None:
    """Reject length tables that no prefix code has (Kraft sum above 1)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if np.any(lengths < 0) or np.any(lengths > 63):
        raise ValueError("Huffman code lengths must be in 0..63")
    used = lengths[lengths > 0]
    if used.size and sum(2.0 ** -float(n) for n in used) > 1.0 + 1e-12:
        raise ValueError("Huffman code lengths violate the Kraft inequality")


def encode(symbols: np.ndarray, lengths: np.ndarray) -> bytes:
    """Pack ``symbols`` with the canonical code of ``lengths``."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    lengths = np.asarray(lengths, dtype=np.int64)
    if symbols.size == 0:
        return b""
    if symbols.min() < 0 or symbols.max() >= len(lengths) or np.any(lengths[symbols] == 0):
        raise ValueError("symbol without a Huffman code")
    codes = canonical_codes(lengths)
    n = lengths[symbols]
    width = int(n.max())
    shifts = n[:, None] - 1 - np.arange(width)[None, :]  # bit j of each codeword, MSB first
    bits = (codes[symbols][:, None] >> np.maximum(shifts, 0)) & 1
    return np.packbits(bits[shifts >= 0].astype(np.uint8)).tobytes()


def encoded_bits(symbols: np.ndarray, lengths: np.ndarray) -> int:
    """Bits ``encode`` produces before padding to a byte."""
    return int(np.asarray(lengths, np.int64)[np.asarray(symbols, np.int64).ravel()].sum())


def decode(data: bytes, lengths: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` symbols of ``data`` (raises ValueError when the stream runs out)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    check_lengths(lengths)
    if count == 0:
        return np.zeros(0, np.int64)
    if not np.any(lengths):
        raise ValueError("empty Huffman code for a non-empty stream")
    codes = canonical_codes(lengths)
    width = int(lengths.max())
    bits = np.unpackbits(np.frombuffer(data, np.uint8)).astype(np.int64)
    total = len(bits)
    if width <= TABLE_BITS:
        # table[window] = (symbol, length) for every width-bit window starting with a codeword
        table_symbol = np.full(1 << width, -1, np.int64)
        table_length = np.zeros(1 << width, np.int64)
        for symbol in np.flatnonzero(lengths):
            span = width - int(lengths[symbol])
            start = int(codes[symbol]) << span
            table_symbol[start:start + (1 << span)] = symbol
            table_length[start:start + (1 << span)] = lengths[symbol]
        padded = np.concatenate([bits, np.zeros(width, np.int64)])
        windows = np.zeros(total + 1, np.int64)
        for j in range(width):  # windows[p] = the width bits starting at bit p
            windows |= padded[j:j + total + 1] << (width - 1 - j)
        windows, sym_of, len_of = windows.tolist(), table_symbol.tolist(), table_length.tolist()
        out, pos = [], 0
        for _ in range(count):
            if pos >= total:
                raise ValueError("Huffman stream ends early")
            w = windows[pos]
            if sym_of[w] < 0:
                raise ValueError("invalid Huffman codeword")
            out.append(sym_of[w])
            pos += len_of[w]
        if pos > total:
            raise ValueError("Huffman stream ends early")
        return np.array(out, np.int64)
    # long codes: walk bit by bit through a dict of codewords
    lookup = {(int(lengths[s]), int(codes[s])): int(s) for s in np.flatnonzero(lengths)}
    bit_list = bits.tolist()
    out, pos = [], 0
    for _ in range(count):
        code, n = 0, 0
        while True:
            if pos >= total or n >= width:
                raise ValueError("Huffman stream ends early" if pos >= total
                                 else "invalid Huffman codeword")
            code = (code << 1) | bit_list[pos]
            pos += 1
            n += 1
            if (n, code) in lookup:
                out.append(lookup[(n, code)])
                break
    return np.array(out, np.int64)


def entropy_bits(symbols: np.ndarray) -> float:
    """Shannon entropy of the symbols' empirical distribution, in bits per symbol."""
    counts = np.bincount(np.asarray(symbols, np.int64).ravel())
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())
