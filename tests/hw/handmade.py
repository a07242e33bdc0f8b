"""Tiny programs built by hand (the compiler's job, done naively) and the timing equations of
docs/timing.md written out directly, for the gateware tests."""

from __future__ import annotations

import numpy as np

from zeroskip.hw import timing
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import LayerInfo, Pass, Program, pack_lines, pass_columns


def encode(arch: ArchConfig, layers: list[dict]) -> Program:
    """``layers``: dicts with ``codes`` int [out, in], ``codebook`` int [K], ``bias`` int [out],
    ``shift``, ``relu``. Rows interleaved over PEs, row tiles of ``acc_depth``, EIE padding."""
    n = arch.pes
    codes_pe = [[] for _ in range(n)]
    runs_pe = [[] for _ in range(n)]
    ptr = [[] for _ in range(n)]
    bias = [[] for _ in range(n)]
    passes, infos = [], []
    for index, layer in enumerate(layers):
        codes = np.asarray(layer["codes"])
        out_len, in_len = codes.shape
        local_rows = -(-out_len // n)
        tiles = -(-local_rows // arch.acc_depth)
        for tile in range(tiles):
            rows = min(arch.acc_depth, local_rows - tile * arch.acc_depth)
            passes.append(Pass(kind=0, layer=index, in_len=in_len, rows=rows,
                               row_base=tile * arch.acc_depth, ptr_base=len(ptr[0]),
                               bias_base=len(bias[0]), shift=layer["shift"], relu=int(layer["relu"]),
                               last=int(tile == tiles - 1)))
            for p in range(n):
                global_rows = (tile * arch.acc_depth + np.arange(rows)) * n + p
                for j in range(in_len):
                    ptr[p].append(len(codes_pe[p]))
                    prev = -1
                    for r, i in enumerate(global_rows):
                        if i >= out_len or codes[i, j] == 0:
                            continue
                        while r - prev - 1 > arch.max_run:
                            codes_pe[p].append(0)
                            runs_pe[p].append(arch.max_run)
                            prev += arch.max_run + 1
                        codes_pe[p].append(int(codes[i, j]))
                        runs_pe[p].append(r - prev - 1)
                        prev = r
                ptr[p].append(len(codes_pe[p]))
                bias[p].extend(int(layer["bias"][i]) if i < out_len else 0 for i in global_rows)
        infos.append(LayerInfo(in_len=in_len, out_len=out_len, relu=bool(layer["relu"]),
                               in_frac=0, w_frac=layer["shift"], out_frac=0))
    lines = [pack_lines(codes_pe[p], runs_pe[p], arch) for p in range(n)]
    width = max(1, max(len(l) for l in lines))
    sparse = np.zeros((n, width), np.uint64)
    for p, l in enumerate(lines):
        sparse[p, :len(l)] = l
    ptr_words = max(len(x) for x in ptr)
    ptr_words += ptr_words % 2
    ptr_arr = np.zeros((n, ptr_words), np.int64)
    for p in range(n):
        ptr_arr[p, :len(ptr[p])] = ptr[p]
    codebook = np.array([layer["codebook"] for layer in layers], dtype=np.int64)
    program = Program(arch=arch, layers=infos, passes=passes, sparse=sparse, ptr=ptr_arr,
                      bias=np.array(bias, dtype=np.int64), codebook=codebook)
    program.check_fits()
    return program


def random_layers(rng, arch: ArchConfig, sizes: list[int], density: float = 0.3,
                  relu_last: bool = False) -> list[dict]:
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        codes = rng.integers(1, arch.codebook_size, size=(n_out, n_in))
        codes[rng.random((n_out, n_in)) > density] = 0
        codebook = rng.integers(-200, 200, size=arch.codebook_size)
        codebook[0] = 0
        last = k == len(sizes) - 2
        layers.append({"codes": codes, "codebook": codebook,
                       "bias": rng.integers(-3000, 3000, size=n_out),
                       "shift": int(rng.integers(0, 8)), "relu": (not last) or relu_last})
    return layers


def timing_cycles(program: Program, xq: np.ndarray) -> int:
    """docs/timing.md's equations, written out literally (the gateware must match them)."""
    from zeroskip.hw.reference import trace_int
    a = program.arch
    n, depth = a.pes, a.fifo_depth
    acts = trace_int(program, np.asarray(xq)[None, :])
    t = timing.PROGRAM_HEAD
    delay = a.scan_delay            # "Group feed": every group scan starts at T + delay
    drain = (timing.MAC_DRAIN + timing.ENTRY_STAGES * a.entry_stage      # "Entry stage"
             + timing.SWEEP_COPY_STAGES * a.pe_copies)                   # "PE copies"
    for index, p in enumerate(program.passes):
        if p.kind == 1:
            t = _binary_pass_end(program, p, t + delay) + drain + p.rows + timing.REQUANT_TAIL
            continue
        if p.kind == 3:
            swept = None                  # "Sweep overlap": the previous pixel's X + R
            for gaps, trailing in _binary_window_gaps(program, p):
                column = _binary_items_end(a, gaps, p.rows, t + delay, trailing)
                if a.sweep_overlap and p.rows:
                    x = column + drain
                    t = column + a.pixel_restart
                    if swept is not None:
                        x, t = max(x, swept), max(t, swept)
                    swept = x + p.rows
                else:
                    t = column + drain + p.rows + timing.REQUANT_TAIL
            if swept is not None:         # the last pixel-pass's sweep, then the tail
                t = swept + timing.REQUANT_TAIL
            continue
        x = acts[p.layer][0]
        groups = -(-p.in_len // n)
        nonzero = [j for j in range(p.in_len) if x[j] != 0]
        counts = np.zeros((n, p.in_len), np.int64)
        tails = np.zeros((n, p.in_len), np.int64)
        for pe in range(n):
            start, end = pass_columns(program, index, pe)
            counts[pe] = end - start
            if a.padding_merge:
                for j in range(p.in_len):
                    counts[pe][j], tails[pe][j] = merged_issues(program, pe, start[j], end[j])
        if a.bounds_lookahead:
            scan, prev_g = [], -1
            for j in nonzero:
                scan.append(1 + max(0, j // n - prev_g - 1))
                prev_g = j // n
            work = [[int(counts[pe][j]) for pe in range(n)] for j in nonzero]
            tail = [[int(tails[pe][j]) for pe in range(n)] for j in nonzero]
            b_last, end = lookahead_column_phase(t + delay, scan, work, depth, tail, stages(a), lag(a))
            done_b = b_last + 1 + (groups - 1 - nonzero[-1] // n) if nonzero else t + delay + groups + 1
            t = max(done_b, end) + drain + p.rows + timing.REQUANT_TAIL
            continue
        b, s = [], [[] for _ in range(n)]
        prev_b, prev_g = t + delay, -1
        for k, j in enumerate(nonzero):
            g = j // n
            bk = prev_b + 1 + max(0, g - prev_g - 1)
            if k >= depth:
                bk = max(bk, max(s[pe][k - depth] for pe in range(n)) + 1 + lag(a))
            b.append(bk)
            for pe in range(n):
                w_prev = max(counts[pe][nonzero[k - 1]], 1) + tails[pe][nonzero[k - 1]] if k else 0
                first = bk + latency(a)      # "Registered broadcast": b + 2, "Broadcast relay": b + 3
                s[pe].append(max(first, s[pe][k - 1] + w_prev) if k else first)
            prev_b, prev_g = bk, g
        if nonzero:
            done_b = b[-1] + 1 + (groups - 1 - nonzero[-1] // n)
            free = [s[pe][-1] + max(counts[pe][nonzero[-1]], 1) + tails[pe][nonzero[-1]]
                    for pe in range(n)]
        else:
            done_b, free = t + delay + groups + 1, [t] * n
        column_end = max(done_b, max(free))
        t = column_end + drain + p.rows + timing.REQUANT_TAIL
    return t + timing.PROGRAM_TAIL


def merged_issues(program: Program, pe: int, start: int, end: int) -> tuple[int, int]:
    """docs/timing.md "Padding merge", literally: walk the column's entries; an issued entry
    with code 0 takes the next one along when it is in the same line. Returns the issue cycles
    and whether the last entry was taken along."""
    a = program.arch
    per_line, mask = a.entries_per_line, (1 << a.code_bits) - 1
    def code(e):
        return (int(program.sparse[pe][e // per_line]) >> (a.entry_bits * (e % per_line))) & mask
    e, issues, tail = start, 0, 0
    while e < end:
        issues += 1
        if code(e) == 0 and e + 1 < end and (e + 1) // per_line == e // per_line:
            tail = int(e + 2 == end)
            e += 2
        else:
            tail = 0
            e += 1
    return issues, tail


def stages(a: ArchConfig) -> int:
    """"Bounds lookahead": the cycles an item spends in a PE before its queue (its bounds stage;
    with the registered broadcast also the item's register and the bounds' register)."""
    return ((timing.REGISTERED_BOUNDS_STAGES if a.registered_broadcast else timing.BOUNDS_STAGES)
            + a.broadcast_relay)


def latency(a: ArchConfig) -> int:
    """The cycles from a push to the earliest pop: one, plus the PEs' broadcast register
    ("Registered broadcast"), plus the relay's ("Broadcast relay")."""
    return 1 + a.registered_broadcast + a.broadcast_relay


def lag(a: ArchConfig) -> int:
    """"Broadcast relay": the broadcaster sees the queues' room a cycle late."""
    return a.broadcast_relay


def lookahead_column_phase(t: int, scan: list[int], work: list[list[int]], depth: int,
                           tail: list[list[int]] | None = None, stages: int = 1, lag: int = 0):
    """docs/timing.md "Bounds lookahead", literally: item k (``scan[k]`` cycles of group scan
    after the previous one, ``work[k][p]`` entries in PE p) is pushed at the first cycle b from
    ``b_{k-1} + scan[k]`` on at which every PE holds fewer than ``depth`` items (an item is held
    from the cycle after its push until its pop, an empty one for the ``stages`` cycles after its
    push only); a non-empty item is popped at max(b + stages + 1, the previous pop + its
    entries). Returns b_{K-1} (t if none) and the cycle the last PE became free after the last
    item left the bounds stage (a cycle after its last issue if its last column's last entry was
    taken along: ``tail``). With ``lag`` the broadcaster sees each PE as it was ``lag`` cycles
    earlier, plus the pushes since: an item counts until ``lag`` cycles after its pop or its
    stages."""
    pes = len(work[0]) if work else 0
    pushes, pops = [], [[None] * len(work) for _ in range(pes)]
    previous, free, done = t, [0] * pes, [0] * pes
    for k, scan_k in enumerate(scan):
        b = previous + scan_k
        while any(sum(1 for j in range(k) if pushes[j] < b <=
                      (pops[p][j] if work[j][p] else pushes[j] + stages) + lag) >= depth
                  for p in range(pes)):
            b += 1
        pushes.append(b)
        for p in range(pes):
            if work[k][p]:
                pops[p][k] = max(b + stages + 1, free[p])
                free[p] = pops[p][k] + work[k][p]
                done[p] = free[p] - 1 + (tail[k][p] if tail else 0)
        previous = b
    if not scan:
        return t, t
    return pushes[-1], max([pushes[-1] + stages + 1] + done)


def _binary_pass_end(program: Program, p, t: int) -> int:
    """C of a binary pass beginning at t (docs/binary-mode.md): every PE has the same work."""
    a = program.arch
    n, width, depth = a.pes, a.line_bits, a.fifo_depth
    chunks = -(-p.in_len // width)
    last = [(min((c + 1) * width, p.in_len) - 1) // n for c in range(chunks)]
    reads = [last[0] + 1] + [last[c] - last[c - 1] for c in range(1, chunks)]
    if a.bounds_lookahead:
        items = max(p.planes, 1) * chunks
        b_last, end = lookahead_column_phase(t, [max(reads[k % chunks], 1) for k in range(items)],
                                             [[p.rows]] * items, depth, stages=stages(a), lag=lag(a))
        return max(b_last + 1, end)
    b, s = [], []
    for k in range(max(p.planes, 1) * chunks):
        bk = (b[-1] if b else t) + max(reads[k % chunks], 1)
        if k >= depth:
            bk = max(bk, s[k - depth] + 1 + lag(a))
        b.append(bk)
        first = bk + latency(a)
        s.append(first if k == 0 else max(first, s[-1] + p.rows))
    return max(b[-1] + 1, s[-1] + p.rows)


def _binary_window_gaps(program: Program, p):
    """docs/binary-mode.md "Binary conv passes", literally, per output pixel in raster order:
    for every plane, every kernel position row-major; an inside one's chunks each wait for the
    groups they need (a position's first group read anew), a padding one costs one cycle.
    Yields (the items' gaps, the padding positions after the last item)."""
    a = program.arch
    n, width = a.pes, a.line_bits
    c, k = p.in_len, p.kernel
    for oy in range(p.out_height):
        for ox in range(p.out_width):
            gaps, pending = [], 0
            for _plane in range(max(p.planes, 1)):
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = oy * p.stride - p.pad + ky, ox * p.stride - p.pad + kx
                        if not (0 <= iy < p.in_height and 0 <= ix < p.in_width):
                            pending += 1
                            continue
                        base = (iy * p.in_width + ix) * p.col_step
                        last = None
                        for start in range(base, base + c, width):
                            end = min(base + c, start + width)
                            reads = ((end - 1) // n - start // n + 1 if last is None
                                     else (end - 1) // n - last)
                            gaps.append(pending + max(reads, 1))
                            pending, last = 0, (end - 1) // n
            yield gaps, pending


def _binary_items_end(a: ArchConfig, gaps: list[int], rows: int, t: int, trailing: int) -> int:
    """C of a binary (pixel-)pass beginning at t whose items come ``gaps`` cycles apart."""
    depth = a.fifo_depth
    if a.bounds_lookahead:
        b_last, end = lookahead_column_phase(t, gaps, [[rows]] * len(gaps), depth, stages=stages(a),
                                             lag=lag(a))
        return max(b_last + 1 + trailing, end)
    b, s = [], []
    for k, gap in enumerate(gaps):
        bk = (b[-1] if b else t) + gap
        if k >= depth:
            bk = max(bk, s[k - depth] + 1 + lag(a))
        b.append(bk)
        first = bk + latency(a)
        s.append(first if k == 0 else max(first, s[-1] + rows))
    return max(b[-1] + 1 + trailing, s[-1] + rows)


def binary_conv_program(arch: ArchConfig, rng, specs: list[dict]) -> Program:
    """A chain of binary conv layers by hand (docs/binary-mode.md, "Binary conv passes"):
    ``specs`` dicts with ``height``, ``width``, ``channels``, ``kernel``, ``stride``, ``pad``,
    ``out`` and optionally ``planes`` (first layer) and ``binarize`` (default True). The first
    layer reads the host's dense map, the others the previous layer's map at its stride.
    Random weight bits and thresholds; rows interleaved over the PEs, row tiles of acc_depth."""
    from zeroskip.hw.conv import ConvGeometry, fm_stride
    from zeroskip.hw.fixedpoint import binary_dot_bound, threshold_word
    from zeroskip.hw.program import KIND_BINARY_CONV, pack_binary_window_lines

    n = arch.pes
    lines, bias = [[] for _ in range(n)], [[] for _ in range(n)]
    passes, infos = [], []
    stride_in = None
    for index, spec in enumerate(specs):
        c, k = spec["channels"], spec["kernel"]
        g = ConvGeometry(spec["height"], spec["width"], c, stride_in or c, k, spec["stride"],
                         spec["pad"], spec["out"], fm_stride(spec["out"], n))
        planes, binarize = spec.get("planes", 0), spec.get("binarize", True)
        weights = rng.random((g.out_stride, g.columns)) < 0.5
        weights[g.out_channels:] = False
        bound = binary_dot_bound(g.columns, planes)
        if binarize:
            words = threshold_word(rng.integers(-bound // 3 - 1, bound // 3 + 2, g.out_stride),
                                   rng.random(g.out_stride) < 0.3)
        else:
            words = rng.integers(-8, 8, g.out_stride)
        local = g.out_stride // n
        tiles = -(-local // arch.acc_depth)
        for tile in range(tiles):
            rows = min(arch.acc_depth, local - tile * arch.acc_depth)
            passes.append(Pass(kind=KIND_BINARY_CONV, layer=index, in_len=c, rows=rows,
                               row_base=tile * arch.acc_depth, ptr_base=0, bias_base=len(bias[0]),
                               shift=0, relu=0, last=int(tile == tiles - 1), planes=planes,
                               binarize=int(binarize), line_base=len(lines[0]),
                               **g.pass_fields(n)))
            for p in range(n):
                slots = (tile * arch.acc_depth + np.arange(rows)) * n + p
                lines[p].extend(pack_binary_window_lines(weights[slots], rows, k, c, arch))
                bias[p].extend(int(v) for v in words[slots])
        infos.append(LayerInfo(in_len=g.in_len, out_len=g.out_len, relu=False, in_frac=0,
                               w_frac=0, out_frac=0, kind=KIND_BINARY_CONV, planes=planes,
                               binarize=binarize, **g.layer_fields()))
        stride_in = g.out_stride
    program = Program(arch=arch, layers=infos, passes=passes,
                      sparse=np.array(lines, dtype=np.uint64), ptr=np.zeros((n, 2), np.int64),
                      bias=np.array(bias, dtype=np.int64),
                      codebook=np.zeros((len(specs), arch.codebook_size), np.int64))
    program.check_fits()
    return program
