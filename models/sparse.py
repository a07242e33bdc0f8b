"""Sparse storage with relative indices (Deep Compression sec. 2, EIE sec. III).

A layer's code matrix ``[rows, cols]`` (0 = pruned) is stored row by row (one row per output).
Each stored entry is ``(code, z)`` where ``z`` counts the zeros before it since the previous
entry of the row (or the row start). With ``index_bits`` = r, ``z`` fits ``0 .. 2**r - 1``; a
longer gap inserts filler entries ``(0, 2**r - 1)`` that stand for ``2**r - 1`` zeros plus one
zero-valued entry (EIE's padding: column ``[0,0,1,2,0×18,3]`` → codes ``[1,2,0,3]``,
z ``[2,0,15,2]``). ``row_ends[i]`` is the number of entries in rows ``0..i``: the row pointers.
Zeros after a row's last entry are implied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseRows:
    codes: np.ndarray     # int64 [entries]: weight code per entry, 0 for fillers
    gaps: np.ndarray      # int64 [entries]: zeros before the entry (z)
    row_ends: np.ndarray  # int64 [rows]: cumulative entry count at the end of each row
    shape: tuple[int, int]
    index_bits: int

    @property
    def entries(self) -> int:
        return len(self.codes)

    @property
    def fillers(self) -> int:
        return int(np.count_nonzero(self.codes == 0))


def encode_rows(codes: np.ndarray, index_bits: int) -> SparseRows:
    """Relative-index encoding of a 2-D code matrix."""
    if not 1 <= index_bits <= 16:
        raise ValueError(f"index bits must be in 1..16, got {index_bits}")
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"expected a 2-D code matrix, got shape {codes.shape}")
    rows, cols = codes.shape
    span = 2 ** index_bits  # a filler covers 2**r - 1 zeros and itself
    r, c = np.nonzero(codes)
    first_in_row = np.ones(len(r), bool)
    first_in_row[1:] = r[1:] != r[:-1]
    previous = np.where(first_in_row, -1, np.concatenate([[-1], c[:-1]]))
    gap = c - previous - 1
    fills = gap // span
    per_entry = fills + 1
    ends = np.cumsum(per_entry)
    total = int(ends[-1]) if len(ends) else 0
    out_codes = np.zeros(total, np.int64)
    out_gaps = np.full(total, span - 1, np.int64)
    out_codes[ends - 1] = codes[r, c]
    out_gaps[ends - 1] = gap - fills * span
    row_counts = np.bincount(r, weights=per_entry, minlength=rows).astype(np.int64)
    return SparseRows(out_codes, out_gaps, np.cumsum(row_counts), (rows, cols), index_bits)


def decode_rows(sparse: SparseRows, dtype=np.uint16) -> np.ndarray:
    """The code matrix back; raises ValueError when the entries do not fit the shape."""
    rows, cols = sparse.shape
    ends = np.asarray(sparse.row_ends, np.int64)
    if len(ends) != rows or np.any(np.diff(ends) < 0) or (rows and ends[-1] != sparse.entries) \
            or (rows and ends[0] < 0):
        raise ValueError("row pointers do not match the entries")
    out = np.zeros((rows, cols), dtype)
    if sparse.entries == 0:
        return out
    row_of = np.repeat(np.arange(rows), np.diff(np.concatenate([[0], ends])))
    advance = np.asarray(sparse.gaps, np.int64) + 1
    running = np.cumsum(advance)
    starts = np.concatenate([[0], ends[:-1]])            # first entry index of each row
    before_row = np.concatenate([[0], running])[starts]  # positions consumed by earlier rows
    col = running - before_row[row_of] - 1
    if col.max() >= cols:
        raise ValueError("an entry lies beyond the end of its row")
    out[row_of, col] = sparse.codes
    return out
