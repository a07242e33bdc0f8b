"""Binary passes (docs/binary-mode.md): hand-computed timing, a cycle-by-cycle model of the chunk
broadcaster, and bit-exact outputs against the reference on hand-built binary programs."""

from collections import deque

import numpy as np
import pytest

from zeroskip.hw import timing
from zeroskip.hw.arch import PRESETS, with_overrides
from zeroskip.hw.fixedpoint import threshold_word
from zeroskip.hw.program import KIND_BINARY, LayerInfo, Pass, Program, pack_binary_lines
from zeroskip.hw.reference import predict_int
from zeroskip.sim import simulate_int
from zeroskip.sim.schedule import schedule_binary_pass


def cycle_by_cycle(in_len, pes, width, planes, rows, depth):
    """The broadcaster reads one group per cycle from the cycle the previous item was pushed,
    pushes an item in the cycle its last group arrives (if no queue is full); PEs as sparse with
    ``rows`` entries per item. Returns (C, pushes, pops of PE 0)."""
    chunks = -(-in_len // width)
    last = [(min((c + 1) * width, in_len) - 1) // pes for c in range(chunks)]
    needed = [max(last[c] - (last[c - 1] if c else -1), 1) for c in range(chunks)] * max(planes, 1)
    queue, pushes, pops = deque(), [], []
    remaining, bounds_due = 0, False
    item, reads_done, reading_since = 0, 0, 0
    cycle = 0
    while True:
        full = len(queue) >= depth
        if bounds_due:
            remaining, bounds_due = rows, False
        if remaining:
            remaining -= 1
        if remaining == 0 and queue and queue[0] < cycle:
            queue.popleft()
            pops.append(cycle)
            bounds_due = True
        if item < len(needed):
            arrived = cycle - reading_since          # groups whose data is in by this cycle
            if arrived >= needed[item] and not full:
                queue.append(cycle)
                pushes.append(cycle)
                item += 1
                reading_since = cycle
        done = item == len(needed) and cycle >= pushes[-1] + 1
        if done and remaining == 0 and not bounds_due and not queue:
            return cycle, pushes, pops
        cycle += 1


def test_hand_computed_binary_pass():
    # 2 PEs, 8-bit chunks, 20 inputs: chunks end in groups 3, 7, 9 -> reads 4, 4, 2
    s, reads = schedule_binary_pass(20, 2, 8, planes=0, rows=3, fifo_depth=8, keep_trace=True)
    assert s.broadcasts.tolist() == [[4, 8, 10]] and s.pops[0, :, 0].tolist() == [5, 9, 12]
    assert s.column_end.tolist() == [15] and reads == 10
    s, _ = schedule_binary_pass(20, 2, 8, planes=0, rows=6, fifo_depth=1, keep_trace=True)
    assert s.broadcasts.tolist() == [[4, 8, 12]]      # the third waits for the second's pop
    assert s.column_end.tolist() == [23] and s.broadcast_stalls.tolist() == [2]


@pytest.mark.parametrize("seed", range(4))
def test_binary_timing_agrees_with_cycle_by_cycle_model(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        width = int(rng.choice([8, 16, 64]))
        pes = int(rng.integers(1, width + 1))
        in_len, planes = int(rng.integers(1, 150)), int(rng.choice([0, 1, 3]))
        rows, depth = int(rng.integers(1, 9)), int(rng.choice([1, 2, 8]))
        end, pushes, pops = cycle_by_cycle(in_len, pes, width, planes, rows, depth)
        s, _ = schedule_binary_pass(in_len, pes, width, planes, rows, depth, keep_trace=True)
        assert s.broadcasts[0].tolist() == pushes and s.pops[0, :, 0].tolist() == pops
        assert s.column_end[0] == end


def binary_program(arch, rng, sizes, planes):
    """Hand-built binary layers (weights random ±1, random thresholds): the compiler does not
    lower binary layers yet."""
    layers, passes, lines, bias = [], [], [[] for _ in range(arch.pes)], [[] for _ in range(arch.pes)]
    for index, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        last = index == len(sizes) - 2
        weights = rng.random((n_out, n_in)) < 0.5
        local = -(-n_out // arch.pes)
        line_base, bias_base = len(lines[0]), len(bias[0])
        words = threshold_word(rng.integers(-4, 5, n_out), rng.random(n_out) < 0.3) if not last \
            else rng.integers(-3, 4, n_out)
        for pe in range(arch.pes):
            mine = weights[pe::arch.pes]
            lines[pe].extend(pack_binary_lines(mine, local, arch).tolist())
            b = np.zeros(local, np.int64)
            b[: len(mine)] = words[pe::arch.pes]
            bias[pe].extend(b.tolist())
        layer_planes = planes if index == 0 else 0
        layers.append(LayerInfo(in_len=n_in, out_len=n_out, relu=False, in_frac=2 if index else 0,
                                w_frac=0, out_frac=2, kind=KIND_BINARY, planes=layer_planes,
                                binarize=not last))
        passes.append(Pass(kind=KIND_BINARY, layer=index, in_len=n_in, rows=local, row_base=0,
                           ptr_base=0, bias_base=bias_base, shift=2 if not last else layers[-1].shift,
                           relu=0, last=1, planes=layer_planes, binarize=int(not last),
                           line_base=line_base))
    return Program(arch=arch, layers=layers, passes=passes,
                   sparse=np.array(lines, dtype=np.uint64), ptr=np.zeros((arch.pes, 2), np.int64),
                   bias=np.array(bias, dtype=np.int64),
                   codebook=np.zeros((len(layers), arch.codebook_size), np.int64))


@pytest.mark.parametrize("pes, planes, fifo", [(1, 0, 8), (3, 3, 1), (4, 8, 2), (5, 0, 8)])
def test_binary_outputs_bit_exact_and_cycles(pes, planes, fifo):
    arch = with_overrides(PRESETS["small"], pes=pes, fifo_depth=fifo)
    rng = np.random.default_rng(pes * 10 + planes)
    program = binary_program(arch, rng, [70, 23, 9], planes)
    high = (1 << planes) if planes else 200
    xq = rng.integers(0 if planes else -200, high, (5, 70))
    result = simulate_int(program, xq)
    assert np.array_equal(result.outputs_int, predict_int(program, xq))
    expected = timing.PROGRAM_HEAD + timing.PROGRAM_TAIL
    for p in program.passes:
        s, _ = schedule_binary_pass(p.in_len, pes, arch.line_bits, p.planes, p.rows, fifo)
        expected += int(s.column_end[0]) + timing.MAC_DRAIN + p.rows + timing.REQUANT_TAIL
    assert result.cycles.tolist() == [expected] * 5
    assert result.actions["xnor_popcount"] > 0 and result.actions["mac"] == 0
    assert np.all(result.ideal_cycles < result.cycles)
