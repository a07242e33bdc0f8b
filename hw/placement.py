"""Where a row lives on the array, defined once: layer row i belongs to PE i mod N as its local
row i div N (EIE's interleaving), so a layer's outputs land where the next layer reads them.
Inside a pass, accumulator slot s = local row r · N + PE p holds layer row (row_base + r) · N + p."""

from __future__ import annotations

import numpy as np


def pe_of(row, pes: int):
    """The PE holding layer row(s) ``row``."""
    return np.asarray(row) % pes


def local_row(row, pes: int):
    """The local row index of layer row(s) ``row`` in its PE."""
    return np.asarray(row) // pes


def layer_row(local, pe, pes: int):
    """The layer row of local row ``local`` of PE ``pe``."""
    return np.asarray(local) * pes + np.asarray(pe)


def local_rows(out_len: int, pes: int) -> np.ndarray:
    """int64 [pes]: how many rows of an ``out_len``-row layer each PE holds."""
    return (out_len - np.arange(pes) + pes - 1) // pes


def slot_rows(pes: int, row_base: int, rows: int) -> np.ndarray:
    """int64 [rows, pes]: the layer row of every accumulator slot of a pass."""
    return layer_row((row_base + np.arange(rows))[:, None], np.arange(pes)[None, :], pes)
