"""The compiler's intermediate representation: what the passes read and fill in.

A ``CompileIR`` holds the architecture, the options and one ``LayerIR`` per layer. Passes
(``zeroskip.compiler.passes``) are functions ``CompileIR -> CompileIR`` that each fill in one
concern: fixed-point formats, the row order, the partition and tiles, the encoded entry streams,
the memory images, and finally the ``Program``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import Program


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


@dataclass
class LayerIR:
    """One fully-connected layer on its way to the array."""

    codes: np.ndarray            #: int [out, in], 0 = pruned; rows/columns in array order once balanced
    codebook: np.ndarray         #: float64 [K], entry 0 == 0.0
    bias: np.ndarray             #: float64 [out], same row order as ``codes``
    relu: bool
    # -- quantize
    in_frac: int | None = None
    w_frac: int | None = None
    out_frac: int | None = None
    codebook_q: np.ndarray | None = None   #: int64 [K] at ``w_frac``
    bias_q: np.ndarray | None = None       #: int64 [out] at ``in_frac + w_frac``
    # -- balance: array row h holds the model's row ``row_order[h]`` (None: identity)
    row_order: np.ndarray | None = None
    # -- partition / tile
    local_rows: np.ndarray | None = None   #: int [pes]: rows PE p holds
    tile_rows: list[int] = field(default_factory=list)   #: rows swept per pass (tallest PE)
    # -- encode
    encoded: Encoded | None = None
    # -- pack: index of this layer's first pass in the program
    first_pass: int = 0

    # -- the non-zero weights as (rows, cols, codes), computed once and kept through permutations
    _nonzero: tuple | None = field(default=None, repr=False)

    def nonzero(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and code of every non-zero weight (in no particular order)."""
        if self._nonzero is None:
            flat = np.flatnonzero(self.codes)
            values = self.codes.reshape(-1)[flat]
            if self.codes.size < 2 ** 31:                 # half the memory traffic downstream
                flat = flat.astype(np.int32)
            rows = flat // self.in_len
            self._nonzero = (rows, flat - rows * self.in_len, values)
        return self._nonzero

    def permute(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> None:
        """New row ``h`` = old row ``rows[h]``, new column ``j`` = old column ``cols[j]``."""
        if self._nonzero is not None:
            r, c, v = self._nonzero
            if rows is not None:
                r = np.argsort(rows)[r]
            if cols is not None:
                c = np.argsort(cols)[c]
            self._nonzero = (r, c, v)
        if rows is not None:
            self.codes = self.codes[rows]
            self.bias = self.bias[rows]
            if self.bias_q is not None:
                self.bias_q = self.bias_q[rows]
        if cols is not None:
            self.codes = self.codes[:, cols]

    @property
    def out_len(self) -> int:
        return self.codes.shape[0]

    @property
    def in_len(self) -> int:
        return self.codes.shape[1]

    @property
    def shift(self) -> int:
        return self.in_frac + self.w_frac - self.out_frac


@dataclass
class CompileIR:
    """Everything a compilation knows; passes fill it in step by step."""

    arch: ArchConfig
    layers: list[LayerIR]
    calibration: np.ndarray | None = None   #: float64 [batch, in] or None
    input_frac: int | None = None
    balance: bool = False
    meta: dict = field(default_factory=dict)
    # -- pack
    sparse: np.ndarray | None = None
    ptr: np.ndarray | None = None
    bias: np.ndarray | None = None
    codebook: np.ndarray | None = None
    passes: list = field(default_factory=list)
    # -- emit
    program: Program | None = None

    @property
    def output_index(self) -> np.ndarray | None:
        """Where the array leaves logical output i (the inverse of the last row order)."""
        order = self.layers[-1].row_order
        return None if order is None else np.argsort(order).astype(np.int64)
