"""Conv pixel-passes (docs/conv.md): the window's group sequence, written here with plain loops
from the doc, drives the plain cycle-by-cycle model; the simulator's vectorised schedule over
``ConvGeometry.windows`` must agree with it cycle for cycle."""

import numpy as np
import pytest

from zeroskip.hw.conv import ConvGeometry, fm_stride
from zeroskip.hw.program import OP_MAC, OP_MAX
from zeroskip.sim.schedule import schedule_pass

from sim_helpers import cycle_by_cycle


def plain_sequence(g: ConvGeometry, pes: int, fm, oy: int, ox: int, dense: bool):
    """Groups of pixel (oy, ox): per kernel position, the inside groups' candidate columns, or
    one empty group for a position in the padding."""
    sequence = []
    for ky in range(g.kernel):
        for kx in range(g.kernel):
            iy, ix = oy * g.stride - g.pad + ky, ox * g.stride - g.pad + kx
            if not (0 <= iy < g.in_height and 0 <= ix < g.in_width):
                sequence.append([])
                continue
            base = (iy * g.in_width + ix) * g.in_stride
            for group in range(base // pes, (base + g.in_channels - 1) // pes + 1):
                columns = []
                for lane in range(pes):
                    i = group * pes + lane
                    if base <= i < base + g.in_channels and (dense or fm[i] != 0):
                        columns.append((ky * g.kernel + kx) * g.in_channels + i - base)
                sequence.append(columns)
    return sequence


def random_geometry(rng, pes):
    k = int(rng.choice([1, 2, 3, 5]))
    channels = int(rng.integers(1, 2 * pes + 2))
    stride = channels if rng.random() < 0.5 else fm_stride(channels, pes)
    return ConvGeometry(int(rng.integers(k, k + 5)), int(rng.integers(k, k + 5)), channels, stride,
                        k, int(rng.integers(1, 3)), int(rng.integers(0, k)), 3,
                        fm_stride(3, pes), int(rng.choice([OP_MAC, OP_MAX])))


@pytest.mark.parametrize("seed", range(4))
def test_windows_agree_with_cycle_by_cycle_model(seed):
    rng = np.random.default_rng(seed)
    for _ in range(12):
        pes = int(rng.choice([1, 2, 4, 8]))
        g = random_geometry(rng, pes)
        depth = int(rng.choice([1, 2, 8]))
        fm = rng.integers(-3, 4, g.in_len) * (rng.random(g.in_len) < 0.6)
        counts = rng.integers(0, 5, (pes, g.columns)) * (rng.random((pes, g.columns)) < 0.7)
        w = g.windows(pes)
        padded = np.append(fm, 0)
        values = padded[np.where(w.index >= 0, w.index, len(fm))]
        active = (w.index >= 0) if g.op == OP_MAX else values != 0
        s = schedule_pass(active, counts, depth, keep_trace=True, groups=w.group,
                          group_count=w.groups)
        for pixel in range(g.pixels):
            oy, ox = divmod(pixel, g.out_width)
            sequence = plain_sequence(g, pes, fm, oy, ox, g.op == OP_MAX)
            assert w.groups[pixel] == len(sequence)
            flat = [j for group in sequence for j in group]
            assert np.flatnonzero(active[pixel]).tolist() == sorted(flat)
            end, broadcasts, pops, busy, stall, idle = cycle_by_cycle(
                np.zeros(g.columns, bool), counts, depth, sequence)
            k = len(broadcasts)
            assert s.column_end[pixel] == end, (g, pixel)
            assert s.broadcasts[pixel, :k].tolist() == broadcasts
            assert s.pops[pixel, :k].T.tolist() == pops
            assert s.pe_busy[pixel].tolist() == busy
            assert s.pe_stall[pixel].tolist() == stall


def test_padding_positions_cost_one_cycle_each():
    """A 3x3 window at a 1x1 map's corner with pad 1: eight positions in the padding (one cycle
    each, nothing read), one inside group holding the one non-zero."""
    g = ConvGeometry(1, 1, 1, 1, 3, 1, 1, 1, 1, OP_MAC)
    w = g.windows(1)
    assert w.groups.tolist() == [9] and w.reads.tolist() == [1] and w.padding.tolist() == [8]
    active = np.zeros((1, 9), bool)
    active[0, 4] = True                                    # the centre: (ky, kx) = (1, 1)
    s = schedule_pass(active, np.ones((1, 9), np.int64), 8, keep_trace=True, groups=w.group,
                      group_count=w.groups)
    # groups 0..3 empty (cycles 1..4), the centre's group examined at 5: broadcast at 5
    assert s.broadcasts[0, 0] == 5
    assert s.broadcast_done[0] == 5 + 1 + (9 - 1 - 4)
