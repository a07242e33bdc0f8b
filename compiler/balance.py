"""Row load balancing: permute a layer's rows so every PE gets about the same work per pass.

Row ``h`` of the array lives in PE ``h mod N`` at local row ``h div N``, and a pass (row tile)
ends when its busiest PE does. The heuristic is greedy by rounds: rows sorted by work (non-zero
weights), heaviest first; round ``r`` fills local row ``r`` of every PE, giving the heaviest rows
of the round to the PEs with the least work so far in the current tile. One loop iteration per
local row, vectorised across PEs.
"""

from __future__ import annotations

import numpy as np

from zeroskip.compiler.encode import ceil_div, tile_count


def balanced_row_order(work: np.ndarray, pes: int, acc_depth: int) -> np.ndarray:
    """A permutation ``order``: array row ``h`` holds the model's row ``order[h]``."""
    work = np.asarray(work, dtype=np.int64)
    out_len = len(work)
    by_work = np.argsort(-work, kind="stable")
    order = np.empty(out_len, dtype=np.int64)
    load = np.zeros(pes, dtype=np.int64)
    for local in range(ceil_div(out_len, pes)):
        if local % acc_depth == 0:
            load[:] = 0                                  # a new tile: passes run one by one
        start = local * pes
        rows = by_work[start:start + pes]                # this round's rows, heaviest first
        lightest = np.argsort(load[:len(rows)], kind="stable")
        order[start + lightest] = rows
        load[lightest] += work[rows]
    return order


def pass_work(codes: np.ndarray, pes: int, acc_depth: int) -> np.ndarray:
    """Non-zero weights per (tile, PE) for the rows in their current order: [tiles, pes]."""
    out_len = codes.shape[0]
    per_row = np.count_nonzero(codes, axis=1)
    rows = np.arange(out_len)
    tiles = tile_count(out_len, pes, acc_depth)
    slot = (rows // pes // acc_depth) * pes + rows % pes
    return np.bincount(slot, weights=per_row, minlength=tiles * pes).astype(np.int64).reshape(tiles, pes)
