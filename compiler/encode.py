"""The vectorised encoder: a layer's code matrix → per-PE, per-tile, column-wise entry streams.

Placement follows docs/timing.md: row ``i`` lives in PE ``i mod N`` at local row ``i div N``;
tile ``t`` covers local rows ``[t·acc_depth, (t+1)·acc_depth)``; within a tile each PE stores its
rows column by column as ``(code, run)`` entries, ``run`` = zero rows of *this PE in this tile*
since the previous entry of the column, and a gap longer than ``max_run`` becomes padding
entries ``(0, max_run)``, each standing for ``max_run + 1`` rows. EIE's example, one PE:
column ``[0,0,1,2,0×18,3]`` → codes ``[1,2,0,3]``, runs ``[2,0,15,2]``.

No Python loop touches a column or a weight: one ``nonzero``, one sort by
(tile, PE, column, row), and the padding expansion by ``repeat``.
"""

from __future__ import annotations

import numpy as np

from zeroskip.compiler.ir import Encoded


def tile_count(out_len: int, pes: int, acc_depth: int) -> int:
    """Passes a layer of ``out_len`` rows needs: the tallest PE's local rows in tiles."""
    return max(1, -(-(-(-out_len // pes)) // acc_depth))


def encode_layer(codes: np.ndarray, pes: int, acc_depth: int, max_run: int) -> Encoded:
    """Encode ``codes`` [out, in] (0 = no weight) for ``pes`` PEs and ``acc_depth``-row tiles."""
    codes = np.asarray(codes)
    out_len, in_len = codes.shape
    tiles = tile_count(out_len, pes, acc_depth)
    rows, cols = np.nonzero(codes)
    values = codes[rows, cols]
    local = rows // pes
    group = ((local // acc_depth) * pes + rows % pes) * in_len + cols   # (tile, PE, column)
    key = group * acc_depth + local % acc_depth
    order = np.argsort(key, kind="stable")
    key, group, values = key[order], group[order], values[order]
    tile_row = key % acc_depth

    first = np.ones(len(key), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    previous = np.empty_like(tile_row)
    previous[0:1] = -1
    previous[1:] = tile_row[:-1]
    previous[first] = -1
    gap = tile_row - previous - 1                       # zero rows before the entry
    span = max_run + 1                                  # rows one padding entry stands for
    per_entry = gap // span + 1                         # padding entries + the entry itself

    position = np.cumsum(per_entry) - 1                 # where each real entry lands
    total = int(position[-1]) + 1 if len(position) else 0
    out_code = np.zeros(total, dtype=np.int64)
    out_run = np.full(total, max_run, dtype=np.int64)
    out_code[position] = values
    out_run[position] = gap % span
    owner = group // in_len                             # tile * pes + pe
    out_owner = np.repeat(owner, per_entry)

    counts = np.bincount(group, weights=per_entry, minlength=tiles * pes * in_len)
    counts = counts.astype(np.int64).reshape(tiles, pes, in_len)
    useful = np.bincount(owner, minlength=tiles * pes).reshape(tiles, pes)
    return Encoded(code=out_code, run=out_run, tile=out_owner // pes, pe=out_owner % pes,
                   counts=counts, useful=useful)


def encode_column(column: np.ndarray, max_run: int) -> tuple[np.ndarray, np.ndarray]:
    """One PE's column as (codes, runs): the textbook case, for documentation and tests."""
    column = np.asarray(column)
    encoded = encode_layer(column[:, None], pes=1, acc_depth=max(1, len(column)), max_run=max_run)
    return encoded.code, encoded.run
