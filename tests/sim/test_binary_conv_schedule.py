"""Binary conv pixel-passes (docs/binary-mode.md, "Binary conv passes"): the items' gaps per
output pixel, written here with plain loops from the doc, against the simulator's
``binary_window_items``; and a whole binary conv program's cycles on the simulator against the
literal equations (``handmade.timing_cycles``), over random geometries."""

import dataclasses
import os
import sys

import numpy as np
import pytest

from zeroskip.hw.arch import PRESETS
from zeroskip.hw.conv import ConvGeometry, fm_stride
from zeroskip.hw.reference import predict_int
from zeroskip.sim import simulate_int
from zeroskip.sim.schedule import binary_window_items

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "hw"))
from handmade import binary_conv_program, timing_cycles  # noqa: E402


def plain_gaps(g: ConvGeometry, pes: int, width: int, planes: int, oy: int, ox: int):
    """The doc's rule: per plane, per kernel position; padding positions are π, inside ones
    chunk by chunk with the reads they need."""
    gaps, pending, reads = [], 0, 0
    for _ in range(max(planes, 1)):
        for ky in range(g.kernel):
            for kx in range(g.kernel):
                iy, ix = oy * g.stride - g.pad + ky, ox * g.stride - g.pad + kx
                if not (0 <= iy < g.in_height and 0 <= ix < g.in_width):
                    pending += 1
                    continue
                base = (iy * g.in_width + ix) * g.in_stride
                held = None                     # the group in the group register
                for start in range(base, base + g.in_channels, width):
                    last = (min(start + width, base + g.in_channels) - 1) // pes
                    r = last - start // pes + 1 if held is None else last - held
                    gaps.append(pending + max(r, 1))
                    pending, held, reads = 0, last, reads + r
    return gaps, pending, reads


@pytest.mark.parametrize("seed", range(40))
def test_window_items_follow_the_doc(seed):
    rng = np.random.default_rng(seed)
    pes = int(rng.choice([1, 2, 4, 8]))
    width = int(rng.choice([8, 16, 64]))
    k = int(rng.choice([1, 3, 5]))
    c = int(rng.integers(1, 40))
    dense = bool(rng.integers(2))
    g = ConvGeometry(int(rng.integers(k, 9)), int(rng.integers(k, 9)), c,
                     c if dense else fm_stride(c, pes), k, int(rng.integers(1, 3)),
                     int(rng.integers(0, k)), 3, fm_stride(3, pes))
    planes = int(rng.integers(0, 4))
    items = binary_window_items(g, pes, width, planes)
    assert len(items) == g.pixels
    for pixel, (gaps, trailing, reads, padding) in enumerate(items):
        oy, ox = divmod(pixel, g.out_width)
        want_gaps, want_trailing, want_reads = plain_gaps(g, pes, width, planes, oy, ox)
        assert list(gaps) == want_gaps
        assert (trailing, reads) == (want_trailing, want_reads)
        inside = sum(1 for ky in range(g.kernel) for kx in range(g.kernel)
                     if 0 <= oy * g.stride - g.pad + ky < g.in_height
                     and 0 <= ox * g.stride - g.pad + kx < g.in_width)
        assert padding == (g.kernel ** 2 - inside) * max(planes, 1)


@pytest.mark.parametrize("seed", range(12))
def test_simulated_cycles_are_the_literal_equations(seed):
    rng = np.random.default_rng(100 + seed)
    pes = int(rng.choice([2, 4]))
    arch = dataclasses.replace(PRESETS["small"], name="binary-conv", pes=pes, line_bits=16,
                               sparse_depth=2048, act_depth=256, acc_depth=int(rng.integers(1, 4)),
                               bias_depth=256, fifo_depth=int(rng.integers(1, 9)),
                               bounds_lookahead=int(rng.integers(2)), max_passes=32)
    c, k = int(rng.integers(1, 24)), int(rng.choice([1, 3, 5]))
    h = w = int(rng.integers(k, 7))
    planes = int(rng.integers(0, 9))
    specs = [dict(height=h, width=w, channels=c, kernel=k, stride=int(rng.integers(1, 3)),
                  pad=int(rng.integers(0, k)), out=int(rng.integers(1, 10)), planes=planes,
                  binarize=bool(rng.integers(2)))]
    program = binary_conv_program(arch, rng, specs)
    size = h * w * c
    x = rng.integers(0, 1 << planes, (3, size)) if planes else rng.integers(-2, 2, (3, size))
    result = simulate_int(program, x)
    np.testing.assert_array_equal(result.outputs_int, predict_int(program, x))
    for row, cycles in zip(x, result.cycles):
        assert cycles == timing_cycles(program, row)
