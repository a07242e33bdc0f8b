"""What the simulator reads from a program's memory images, per pass and PE, decoded once.

Everything is read through the contract's layouts (``zeroskip.hw.program``): the pointer image
gives each column's entry range per PE, the sparse lines its ``(code, run)`` entries. From them
come the per-column figures the timing needs (entries, padding entries, lines touched) and the
non-padding entries the datapath multiplies (column, accumulator row, code).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.program import KIND_BINARY, KIND_SPARSE, Program, unpack_binary_lines, unpack_lines


@dataclass
class PassImage:
    """One pass as the array sees it."""

    index: int
    layer: int
    in_len: int
    rows: int                  #: R: rows swept by the requantisation
    out_start: int             #: array-order index of the pass's first output (row_base · pes)
    shift: int
    relu: bool
    counts: np.ndarray         #: int64 [pes, in_len] entries per column, padding included
    padding: np.ndarray        #: int64 [pes, in_len] padding entries per column
    lines: np.ndarray          #: int64 [pes, in_len] sparse lines a column touches
    column: np.ndarray         #: int64 [E] non-padding entries' input column, ascending
    target: np.ndarray         #: int64 [E] accumulator slot: local row r of PE p is r · pes + p
    code: np.ndarray           #: int64 [E] codebook index (1 ..)
    bias: np.ndarray           #: int64 [rows · pes] bias (binary: threshold word) per slot
    kind: int = KIND_SPARSE
    planes: int = 0            #: binary passes (docs/binary-mode.md): input bit planes
    binarize: bool = False     #: binary passes: threshold to ±2^shift
    weights: np.ndarray | None = None    #: binary passes: bool [rows · pes, in_len], True = +1
    valid_rows: np.ndarray | None = None  #: binary passes: int64 [pes] rows inside the layer

    @property
    def macs(self) -> np.ndarray:
        """int64 [pes, in_len] non-padding entries per column."""
        return self.counts - self.padding


def program_images(program: Program) -> list[PassImage]:
    """Decode every pass of a program (cached on the program object)."""
    cache = program.__dict__.get("_sim_images")
    if cache is None:
        cache = _decode(program)
        program.__dict__["_sim_images"] = cache
    return cache


def _decode(program: Program) -> list[PassImage]:
    a = program.arch
    pes, per_line = a.pes, a.entries_per_line
    if program.sparse.shape[0] != pes or program.ptr.shape[0] != pes:
        raise ZeroskipError(f"program images are for {program.sparse.shape[0]} PEs, "
                            f"the architecture has {pes}")
    codes_all, runs_all = unpack_lines(program.sparse.reshape(-1), a)
    per_pe = program.sparse.shape[1] * per_line
    is_padding = np.concatenate([[0], np.cumsum(codes_all == 0)])
    images = []
    for index, p in enumerate(program.passes):
        if p.kind not in (KIND_SPARSE, KIND_BINARY):
            raise ZeroskipError(f"program pass {index}: kind {p.kind} is not supported by the simulator")
        if not 0 <= p.layer < len(program.layers):
            raise ZeroskipError(f"program pass {index}: layer {p.layer} does not exist")
        layer = program.layers[p.layer]
        if p.kind == KIND_BINARY:
            images.append(_binary_pass(program, index))
            continue
        bounds = program.ptr[:, p.ptr_base: p.ptr_base + p.in_len + 1].astype(np.int64)
        if bounds.shape[1] != p.in_len + 1:
            raise ZeroskipError(f"program pass {index}: column pointers beyond the pointer image")
        start, end = bounds[:, :-1], bounds[:, 1:]
        counts = end - start
        if np.any(counts < 0) or np.any(end > per_pe) or np.any(start < 0):
            raise ZeroskipError(f"program pass {index}: column pointers out of order or beyond "
                                f"the sparse image")
        flat_start = start + (np.arange(pes) * per_pe)[:, None]        # into the flat entry array
        flat_end = flat_start + counts
        padding = is_padding[flat_end] - is_padding[flat_start]
        lines = np.where(counts > 0, (end - 1) // per_line - start // per_line + 1, 0)

        # every entry of the pass, PE by PE, column by column
        n = counts.reshape(-1)
        segment = np.repeat(np.arange(pes * p.in_len, dtype=np.int32), n)   # (pe, column) of each
        if np.array_equal(start[:, 1:], end[:, :-1]):                     # columns back to back
            entry = _ranges(flat_start[:, 0], flat_end[:, -1])
        else:
            entry = _ranges(flat_start.reshape(-1), flat_end.reshape(-1))
        code, run = codes_all[entry], runs_all[entry]
        steps = run.astype(np.int32) + 1
        total = np.cumsum(steps, dtype=np.int64)
        first = np.cumsum(n) - n                                          # segment's first entry
        before = np.append(total - steps, 0)[first]                       # rows consumed before it
        row = total - before[segment] - 1
        keep = code != 0
        segment, row, code = segment[keep], row[keep], code[keep]
        column, pe = segment % p.in_len, segment // p.in_len
        if np.any(row >= p.rows) or np.any((p.row_base + row) * pes + pe >= layer.out_len):
            raise ZeroskipError(f"program pass {index}: entries beyond the pass's rows")
        # stable sort by column (a radix sort when the columns fit 16 bits)
        order = np.argsort(column.astype(np.uint16) if p.in_len <= 1 << 16 else column, kind="stable")
        bias = program.bias[:, p.bias_base: p.bias_base + p.rows]
        if bias.shape[1] != p.rows:
            raise ZeroskipError(f"program pass {index}: bias words beyond the bias image")
        images.append(PassImage(
            index=index, layer=p.layer, in_len=p.in_len, rows=p.rows, out_start=p.row_base * pes,
            shift=p.shift, relu=bool(p.relu), counts=counts, padding=padding, lines=lines,
            column=column[order], target=(row * pes + pe)[order], code=code[order],
            bias=bias.T.reshape(-1).astype(np.int64)))
    return images


def _ranges(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, e) for every pair, without a Python loop."""
    counts = (end - start).astype(np.int64)
    first = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(first - start, counts)


def _binary_pass(program: Program, index: int) -> PassImage:
    """A binary pass: weight bits per accumulator slot from its chunk-major lines."""
    a = program.arch
    p = program.passes[index]
    layer = program.layers[p.layer]
    chunks = -(-p.in_len // a.line_bits)
    n_lines = chunks * p.rows
    if p.line_base + n_lines > program.sparse.shape[1]:
        raise ZeroskipError(f"program pass {index}: binary weight lines beyond the sparse image")
    weights = np.zeros((p.rows, a.pes, p.in_len), dtype=bool)
    for pe in range(a.pes):
        weights[:, pe] = unpack_binary_lines(program.sparse[pe, p.line_base: p.line_base + n_lines],
                                             p.rows, p.in_len, a)
    bias = program.bias[:, p.bias_base: p.bias_base + p.rows]
    if bias.shape[1] != p.rows:
        raise ZeroskipError(f"program pass {index}: bias words beyond the bias image")
    rows_inside = (p.row_base + np.arange(p.rows))[:, None] * a.pes + np.arange(a.pes) < layer.out_len
    empty = np.zeros((a.pes, p.in_len), np.int64)
    return PassImage(
        index=index, layer=p.layer, in_len=p.in_len, rows=p.rows, out_start=p.row_base * a.pes,
        shift=p.shift, relu=bool(p.relu), counts=empty, padding=empty, lines=empty,
        column=np.zeros(0, np.int64), target=np.zeros(0, np.int64), code=np.zeros(0, np.int64),
        bias=bias.T.reshape(-1).astype(np.int64), kind=KIND_BINARY, planes=p.planes,
        binarize=bool(p.binarize), weights=weights.reshape(p.rows * a.pes, p.in_len),
        valid_rows=rows_inside.sum(axis=0).astype(np.int64))
