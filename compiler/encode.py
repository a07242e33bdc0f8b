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

from dataclasses import dataclass

import numpy as np



@dataclass
class Encoded:
    """One layer's sparse entries, all tiles and PEs, ordered by (tile, PE, column, row).

    ``code``/``run`` are the entries (padding included); ``counts[t, p, j]`` is the number of
    entries of column ``j`` for PE ``p`` in tile ``t`` (so each (tile, PE) stream is a
    contiguous slice); ``useful[t, p]`` counts non-padding entries (the PE's MACs).
    """

    code: np.ndarray
    run: np.ndarray
    counts: np.ndarray
    useful: np.ndarray

    @property
    def entries(self) -> int:
        return len(self.code)

    @property
    def padding(self) -> int:
        return int(self.entries - self.useful.sum())

    @property
    def stream_entries(self) -> np.ndarray:
        """Entries per (tile, PE) stream: [tiles, pes]."""
        return self.counts.sum(axis=2)

    @property
    def stream_starts(self) -> np.ndarray:
        """Index of each (tile, PE) stream's first entry in ``code``/``run``: [tiles, pes]."""
        sizes = self.stream_entries.reshape(-1)
        return (np.cumsum(sizes) - sizes).reshape(self.stream_entries.shape)

    @property
    def tile(self) -> np.ndarray:
        """Tile of every entry (for inspection; the packer uses slices)."""
        sizes = self.stream_entries
        return np.repeat(np.arange(sizes.size) // sizes.shape[1], sizes.reshape(-1))

    @property
    def pe(self) -> np.ndarray:
        """PE of every entry (for inspection; the packer uses slices)."""
        sizes = self.stream_entries
        return np.repeat(np.arange(sizes.size) % sizes.shape[1], sizes.reshape(-1))


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tile_count(out_len: int, pes: int, acc_depth: int) -> int:
    """Passes a layer of ``out_len`` rows needs: the tallest PE's local rows in tiles."""
    return max(1, ceil_div(ceil_div(out_len, pes), acc_depth))


def encode_layer(codes: np.ndarray, pes: int, acc_depth: int, max_run: int,
                 nonzero: tuple | None = None) -> Encoded:
    """Encode ``codes`` [out, in] (0 = no weight) for ``pes`` PEs and ``acc_depth``-row tiles.

    ``nonzero``: the weights as (rows, cols, codes) in any order, when already known.
    """
    codes = np.asarray(codes)
    out_len, in_len = codes.shape
    tiles = tile_count(out_len, pes, acc_depth)
    groups = tiles * pes * in_len                               # (tile, PE, column) streams
    if nonzero is None:
        flat = np.flatnonzero(codes)
        rows = flat // in_len
        nonzero = (rows, flat - rows * in_len, codes.reshape(-1)[flat])
    rows, cols, values = nonzero
    # per array row: its (tile, PE) stream's offset in the key, plus its row within the tile
    index = np.int32 if groups * acc_depth < 2 ** 31 else np.int64   # keys: smaller is faster
    row = np.arange(out_len, dtype=np.int64)
    local = row // pes
    row_key = ((local // acc_depth) * pes + row % pes) * (in_len * acc_depth) + local % acc_depth
    key = row_key.astype(index)[rows] + cols.astype(index, copy=False) * index(acc_depth)
    order = np.argsort(key)
    key = key[order]
    values = values[order]
    del order
    group = key // acc_depth
    tile_row = key - group * acc_depth

    # zero rows before each entry: since the previous entry of its stream, or from row 0
    gap = np.empty_like(key)
    gap[:1] = tile_row[:1]
    gap[1:] = key[1:] - key[:-1] - 1
    first = np.empty(len(key), dtype=bool)
    first[:1] = True
    np.not_equal(group[1:], group[:-1], out=first[1:])
    gap[first] = tile_row[first]
    del key, tile_row, first
    span = max_run + 1                                          # rows one padding entry stands for
    per_entry = gap // span + 1                                 # padding entries + the entry itself

    position = np.cumsum(per_entry) - 1                         # where each real entry lands
    total = int(position[-1]) + 1 if len(position) else 0
    entry_type = np.uint8 if max(int(values.max(initial=0)), max_run) < 256 else np.uint16
    out_code = np.zeros(total, dtype=entry_type)
    out_run = np.full(total, max_run, dtype=entry_type)
    out_code[position] = values
    out_run[position] = gap % span
    counts = np.bincount(group, weights=per_entry, minlength=groups)
    counts = counts.astype(np.int64).reshape(tiles, pes, in_len)
    useful = np.bincount(group, minlength=groups).reshape(tiles, pes, in_len).sum(axis=2)
    return Encoded(code=out_code, run=out_run, counts=counts, useful=useful)


def encode_column(column: np.ndarray, max_run: int) -> tuple[np.ndarray, np.ndarray]:
    """One PE's column as (codes, runs): the textbook case, for documentation and tests."""
    column = np.asarray(column)
    encoded = encode_layer(column[:, None], pes=1, acc_depth=max(1, len(column)), max_run=max_run)
    return encoded.code, encoded.run
