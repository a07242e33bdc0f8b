"""Packing: encoded entry streams → the program's memory images and pass descriptors.

Per PE, the entries of consecutive passes (and layers) are concatenated in one sparse memory;
each pass has ``in_len + 1`` pointers (absolute entry indices) at its ``ptr_base`` and ``rows``
bias words at its ``bias_base``, in local row order. Lines come from ``program.pack_lines``.
Binary passes (``zeroskip.compiler.binary``) store weight-bit lines after every sparse entry's
line, so the sparse pointers are unaffected; they use no pointers.
"""

from __future__ import annotations

import numpy as np

from zeroskip.compiler.encode import ceil_div
from zeroskip.compiler.ir import Allocation, Streams, write_bias
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import CLI_OVERRIDES
from zeroskip.hw.program import Pass, pack_lines


def override_hint(field: str, need: int) -> str:
    """How to make a program fit: the override flag of the field (or more PEs)."""
    flag = next((f for f, name in CLI_OVERRIDES.items() if name == field), None)
    more = "" if field in ("max_passes", "max_layers") else " or more PEs (--pes)"
    how = f"{flag} {need} or larger" if flag else f"'{field}': {need} or larger in an architecture file"
    return f"try {how}{more}"


def pack(ir) -> None:
    """Fill in ``ir.sparse``, ``ir.ptr``, ``ir.bias``, ``ir.codebook`` and ``ir.passes``: each
    layer plans its passes and writes its entries (``LayerIR`` / ``BinaryLayerIR``); the
    memories they share are allocated here, in layer order."""
    a = ir.arch
    pes = a.pes
    n_passes = sum(len(layer.tile_rows) for layer in ir.layers)
    if len(ir.layers) > a.max_layers:
        raise ZeroskipError(f"the model has {len(ir.layers)} layers but the architecture's "
                            f"'max_layers' is {a.max_layers}")

    # per (pass, PE) entry totals → where each pass's entries start in its PE's stream
    totals = np.zeros((n_passes, pes), dtype=np.int64)
    used = Allocation()
    passes: list[Pass] = []
    for index, layer in enumerate(ir.layers):
        layer.first_pass = len(passes)
        planned = layer.plan_passes(index, a, used)
        totals[len(passes): len(passes) + len(planned)] = layer.stream_entries(pes)
        passes += planned
        entries = totals[: len(passes)].sum(axis=0)
        lines = ceil_div(int(entries.max()), a.entries_per_line) + used.tail_lines
        for what, need, depth, name in (("sparse lines", lines, a.sparse_depth, "sparse_depth"),
                                        ("pointers", used.pointers, a.ptr_depth, "ptr_depth"),
                                        ("bias words", used.bias, a.bias_depth, "bias_depth"),
                                        ("passes", len(passes), a.max_passes, "max_passes")):
            if need > depth:
                where = f" (PE {int(entries.argmax())})" if what == "sparse lines" else ""
                who = "it needs" if index == 0 else f"layers 0..{index} need"
                raise ZeroskipError(f"layer {index} does not fit: {who} {need} {what}{where} "
                                    f"but the architecture's '{name}' is {depth}; "
                                    f"{override_hint(name, need)}")
    base = np.cumsum(totals, axis=0) - totals              # [pass, pe] first entry index

    width = max(1, ceil_div(int(totals.sum(axis=0).max()), a.entries_per_line)) * a.entries_per_line
    streams = Streams(code=np.zeros((pes, width), dtype=np.uint16),
                      run=np.zeros((pes, width), dtype=np.uint16),
                      ptr=np.zeros((pes, used.pointers), dtype=np.int64))
    bias = np.zeros((pes, max(used.bias, 1)), dtype=np.int64)
    for layer in ir.layers:
        mine = slice(layer.first_pass, layer.first_pass + len(layer.tile_rows))
        layer.write_streams(streams, passes[mine], base[mine])
        write_bias(bias, layer, passes[mine], pes)

    ir.sparse = pack_lines(streams.code.reshape(-1), streams.run.reshape(-1), a).reshape(pes, -1)
    tails = [(layer, layer.tail_lines(a)) for layer in ir.layers]
    tails = [(layer, lines) for layer, lines in tails if lines is not None]
    if tails:                           # weight-bit lines follow the entry streams' lines
        entry_lines = ceil_div(int(totals.sum(axis=0).max()), a.entries_per_line)
        for layer, _ in tails:
            layer.relocate(passes[layer.first_pass: layer.first_pass + len(layer.tile_rows)],
                           entry_lines)
        ir.sparse = np.concatenate([ir.sparse[:, :entry_lines]] + [lines for _, lines in tails],
                                   axis=1)
    ir.ptr = streams.ptr
    ir.bias = bias
    ir.codebook = np.stack([layer.codebook_row(a) for layer in ir.layers])
    ir.passes = passes
