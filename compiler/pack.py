"""Packing: encoded entry streams → the program's memory images and pass descriptors.

Per PE, the entries of consecutive passes (and layers) are concatenated in one sparse memory;
each pass has ``in_len + 1`` pointers (absolute entry indices) at its ``ptr_base`` and ``rows``
bias words at its ``bias_base``, in local row order. Lines come from ``program.pack_lines``.
Binary passes (``zeroskip.compiler.binary``) store weight-bit lines after every sparse entry's
line, so the sparse pointers are unaffected; they use no pointers.
"""

from __future__ import annotations

import numpy as np

from zeroskip.compiler.binary import binary_lines, binary_passes, is_binary, pass_lines
from zeroskip.compiler.encode import ceil_div
from zeroskip.errors import ZeroskipError
from zeroskip.hw.program import KIND_SPARSE, Pass, pack_lines


def pack(ir) -> None:
    """Fill in ``ir.sparse``, ``ir.ptr``, ``ir.bias``, ``ir.codebook`` and ``ir.passes``."""
    a = ir.arch
    pes = a.pes
    n_passes = sum(len(layer.tile_rows) for layer in ir.layers)
    if len(ir.layers) > a.max_layers:
        raise ZeroskipError(f"the model has {len(ir.layers)} layers but the architecture's "
                            f"'max_layers' is {a.max_layers}")

    # per (pass, PE) entry totals → where each pass's entries start in its PE's stream
    totals = np.zeros((n_passes, pes), dtype=np.int64)
    ptr_used = bias_used = binary_used = 0
    passes: list[Pass] = []
    for index, layer in enumerate(ir.layers):
        layer.first_pass = len(passes)
        if is_binary(layer):       # line_base counted from the first binary line for now
            passes += binary_passes(layer, index, a, bias_used, binary_used)
            bias_used += sum(layer.tile_rows)
            binary_used += sum(pass_lines(layer, a))
        else:
            totals[len(passes): len(passes) + len(layer.tile_rows)] = layer.encoded.stream_entries
            for tile, rows in enumerate(layer.tile_rows):
                passes.append(Pass(kind=KIND_SPARSE, layer=index, in_len=layer.in_len, rows=rows,
                                   row_base=tile * a.acc_depth, ptr_base=ptr_used,
                                   bias_base=bias_used, shift=layer.shift, relu=int(layer.relu),
                                   last=int(tile == len(layer.tile_rows) - 1)))
                ptr_used += layer.in_len + 1
                bias_used += rows
        used = totals[: len(passes)].sum(axis=0)
        lines = ceil_div(int(used.max()), a.entries_per_line) + binary_used
        for what, need, depth, name in (("sparse lines", lines, a.sparse_depth, "sparse_depth"),
                                        ("pointers", ptr_used, a.ptr_depth, "ptr_depth"),
                                        ("bias words", bias_used, a.bias_depth, "bias_depth"),
                                        ("passes", len(passes), a.max_passes, "max_passes")):
            if need > depth:
                where = f" (PE {int(used.argmax())})" if what == "sparse lines" else ""
                who = "it needs" if index == 0 else f"layers 0..{index} need"
                raise ZeroskipError(f"layer {index} does not fit: {who} {need} {what}{where} "
                                    f"but the architecture's '{name}' is {depth}")
    base = np.cumsum(totals, axis=0) - totals              # [pass, pe] first entry index

    width = max(1, ceil_div(int(totals.sum(axis=0).max()), a.entries_per_line)) * a.entries_per_line
    stream_code = np.zeros((pes, width), dtype=np.uint16)
    stream_run = np.zeros((pes, width), dtype=np.uint16)
    ptr = np.zeros((pes, ptr_used), dtype=np.int64)
    bias = np.zeros((pes, max(bias_used, 1)), dtype=np.int64)
    for layer in ir.layers:
        enc = layer.encoded
        tiles = len(layer.tile_rows)
        for tile in range(tiles if enc is not None else 0):
            sizes, starts = enc.stream_entries, enc.stream_starts
            for pe in range(pes):
                n, src = int(sizes[tile, pe]), int(starts[tile, pe])
                dst = int(base[layer.first_pass + tile, pe])
                stream_code[pe, dst:dst + n] = enc.code[src:src + n]
                stream_run[pe, dst:dst + n] = enc.run[src:src + n]
        for tile in range(tiles):
            p = passes[layer.first_pass + tile]
            if enc is not None:
                start = base[layer.first_pass + tile][:, None]
                bounds = np.concatenate([np.zeros((pes, 1), np.int64),
                                         np.cumsum(enc.counts[tile], axis=1)], axis=1)
                ptr[:, p.ptr_base: p.ptr_base + p.in_len + 1] = start + bounds
            local = p.row_base + np.arange(p.rows)
            rows = local[None, :] * pes + np.arange(pes)[:, None]     # [pe, row] array row
            inside = rows < layer.out_len
            bias[:, p.bias_base: p.bias_base + p.rows] = np.where(
                inside, layer.bias_q[np.minimum(rows, layer.out_len - 1)], 0)

    ir.sparse = pack_lines(stream_code.reshape(-1), stream_run.reshape(-1), a).reshape(pes, -1)
    if binary_used:
        sparse_lines = ceil_div(int(totals.sum(axis=0).max()), a.entries_per_line)
        for p in passes:
            if p.kind != KIND_SPARSE:
                p.line_base += sparse_lines
        ir.sparse = np.concatenate([ir.sparse[:, :sparse_lines]] +
                                   [binary_lines(l, a) for l in ir.layers if is_binary(l)], axis=1)
    ir.ptr = ptr
    ir.bias = bias
    ir.codebook = np.zeros((len(ir.layers), a.codebook_size), dtype=np.int64)
    for index, layer in enumerate(ir.layers):
        if not is_binary(layer):                     # binary layers have no codebook
            ir.codebook[index, : len(layer.codebook_q)] = layer.codebook_q
    ir.passes = passes
