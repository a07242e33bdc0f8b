"""The broadcast unit on conv pixel-passes (docs/conv.md): the window's group sequence (kernel
positions row-major, the groups of [B, B + C), one empty cycle per padding position), items
``(a_i, j = (ky·k + kx)·C + i − B)`` in column order, OP_MAX broadcasting zeros too, and the
timing equations of docs/timing.md with G and g_k taken from ``ConvGeometry.windows``."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from zeroskip.hw.conv import ConvGeometry
from zeroskip.hw.program import KIND_CONV, OP_MAC, OP_MAX

from benches import BroadcastHarness as Harness, tiny, watch_broadcast


def pixel_fields(g: ConvGeometry, pes: int, pixel: int) -> dict:
    """What the control unit registers for pixel P (interfaces.pixel_layout)."""
    f = g.pass_fields(pes)
    oy, ox = divmod(pixel, g.out_width)
    return {"origin": oy * f["line_step"] + ox * f["pixel_step"] - f["origin"],
            "iy0": oy * g.stride - g.pad, "ix0": ox * g.stride - g.pad,
            "out_offset": pixel * f["out_step"]}


def run_pixels(arch, g, vector, ready_pattern=None, limit=400):
    """Every pixel-pass of ``g`` in turn, each started when the previous one is done; per pixel
    the pushes (cycle from its start, j, value) and the done cycle."""
    top = Harness(arch, vector)
    unit = top.unit
    desc = {"kind": KIND_CONV, "in_len": g.in_channels, **g.pass_fields(arch.pes)}
    logs = []

    async def bench(ctx):
        ctx.set(unit.run.desc, desc)
        for pixel in range(g.pixels):
            ctx.set(unit.run.pixel, pixel_fields(g, arch.pes, pixel))
            ctx.set(unit.run.start, 1)
            logs.append(await watch_broadcast(ctx, unit, limit, ready_pattern, stop_at_done=True))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return logs


def expected(g, pes, vector, pixel):
    """Columns broadcast, their values, b_k (no stall, T = 0) and done_b of docs/timing.md."""
    w = g.windows(pes)
    index, group, groups = w.index[pixel], w.group[pixel], int(w.groups[pixel])
    columns = [j for j in range(g.columns)
               if index[j] >= 0 and (g.op == OP_MAX or vector[index[j]] != 0)]
    b, prev_b, prev_g = [], 0, -1
    for j in columns:
        prev_b = prev_b + 1 + max(0, int(group[j]) - prev_g - 1)
        prev_g = int(group[j])
        b.append(prev_b)
    done = b[-1] + 1 + (groups - 1 - prev_g) if columns else groups + 1
    return columns, [int(vector[index[j]]) for j in columns], b, done


GEOMETRIES = {
    # name: (pes, in_height, in_width, channels, stride S, kernel, stride, pad, op)
    "3x3-pad1-host-input": (4, 4, 5, 3, 3, 3, 1, 1, OP_MAC),
    "5x5-stride2-pad2-spare-channels": (4, 5, 5, 6, 8, 5, 2, 2, OP_MAC),
    "1x1": (4, 3, 4, 4, 4, 1, 1, 0, OP_MAC),
    "3x3-stride2-pad1-wide-channels": (2, 4, 4, 5, 6, 3, 2, 1, OP_MAC),
    "max-2x2-stride2": (4, 4, 4, 4, 4, 2, 2, 0, OP_MAX),
    "max-3x3-pad1": (4, 3, 3, 2, 4, 3, 2, 1, OP_MAX),
    "one-pe": (1, 3, 3, 2, 2, 3, 1, 1, OP_MAC),
    "eight-pes": (8, 3, 3, 3, 3, 3, 1, 1, OP_MAC),
}


@pytest.mark.parametrize("name", GEOMETRIES)
def test_window_order_and_timing(name):
    pes, h, w, c, s, k, stride, pad, op = GEOMETRIES[name]
    arch = tiny(pes=pes, act_depth=64)
    g = ConvGeometry(h, w, c, s, k, stride, pad, out_channels=pes, out_stride=pes, op=op)
    assert g.problem(pes) is None
    rng = np.random.default_rng(len(name))
    vector = rng.integers(-9, 9, size=arch.max_vector) * (rng.random(arch.max_vector) < 0.6)
    logs = run_pixels(arch, g, vector)
    for pixel, log in enumerate(logs):
        columns, values, b, done = expected(g, pes, vector, pixel)
        assert [j for _, j, _ in log["push"]] == columns, f"pixel {pixel}"
        assert [v for _, _, v in log["push"]] == values, f"pixel {pixel}"
        assert [c for c, _, _ in log["push"]] == b, f"pixel {pixel}"
        assert log["done"] == done, f"pixel {pixel}"


def test_stalls_hold_the_window():
    arch = tiny(pes=4, act_depth=64)
    g = ConvGeometry(3, 3, 3, 3, 3, 1, 1, out_channels=4, out_stride=4)
    vector = np.arange(1, arch.max_vector + 1)
    logs = run_pixels(arch, g, vector, ready_pattern=lambda c: int(c % 3 != 1))
    for pixel, log in enumerate(logs):
        columns, values, _, _ = expected(g, 4, vector, pixel)
        assert [j for _, j, _ in log["push"]] == columns
        assert [v for _, _, v in log["push"]] == values
        assert all(c % 3 != 1 for c, _, _ in log["push"])


@pytest.mark.parametrize("op,channels", [(OP_MAC, 8), (OP_MAC, 6), (OP_MAX, 8)])
def test_lane_pass_pushes_each_candidate_into_its_own_pe_only(op, channels):
    """A lane pass (docs/timing.md "Lane passes"), 4 PEs, input stride 8: in each group's one
    cycle, PE p's item port carries lane p's candidate alone — a zero (OP_MAC) or a lane outside
    the position (6 channels: lanes 2, 3 of the second group) is not pushed — as
    ``(a_i, group·N + p + delta)``, the column of that activation."""
    arch = tiny(pes=4, act_depth=64, lane_passes=1)
    g = ConvGeometry(3, 3, channels, 8, 3, 1, 1, channels, 8, op)
    rng = np.random.default_rng(3)
    vector = np.where(rng.random(g.in_len) < 0.6, rng.integers(-40, 40, g.in_len), 0)
    top = Harness(arch, vector)
    unit = top.unit
    desc = {"kind": KIND_CONV, "in_len": g.in_channels, "lanes": 1, **g.pass_fields(arch.pes)}
    pixel = 4                                                  # the centre: every tap inside
    pushed = []

    async def bench(ctx):
        ctx.set(unit.run.desc, desc)
        ctx.set(unit.run.pixel, pixel_fields(g, arch.pes, pixel))
        ctx.set(unit.run.start, 1)
        ctx.set(unit.ready, 1)
        for cycle in range(200):
            if cycle == 1:
                ctx.set(unit.run.start, 0)
            for pe, port in enumerate(unit.lane_items):
                if ctx.get(port.valid):
                    item = ctx.get(port.payload.sparse)
                    pushed.append((cycle, pe, item.index, item.value))
            if ctx.get(unit.done):
                break
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    w = g.windows(arch.pes)
    index = w.index[pixel]
    want = sorted((int(index[j]) % arch.pes, j, int(vector[index[j]])) for j in range(g.columns)
                  if op == OP_MAX or vector[index[j]] != 0)
    assert sorted((pe, j, v) for _, pe, j, v in pushed) == want
    # one cycle per group: the pushes of a group share their cycle
    cycles = {}
    for cycle, pe, j, _ in pushed:
        cycles.setdefault(int(w.group[pixel][j]), set()).add(cycle)
    assert all(len(c) == 1 for c in cycles.values())
