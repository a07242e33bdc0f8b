"""The control unit on conv descriptors (docs/conv.md): one pixel-pass per output pixel in raster
order, each beginning at T_next = C + MAC_DRAIN + R + REQUANT_TAIL of the previous one, with the
pixel's window (O, iy0, ix0) and output offset P·out_step registered at its first cycle; the
next descriptor only after the last pixel."""

from amaranth.sim import Simulator

from zeroskip.hw import timing
from zeroskip.hw.conv import ConvGeometry
from zeroskip.hw.gateware.control import ControlUnit
from zeroskip.hw.program import KIND_CONV, KIND_SPARSE, descriptor_layout, pack_fields

from benches import tiny


def test_pixel_passes_then_the_next_descriptor():
    arch = tiny(pes=2, acc_depth=4, act_depth=64)
    g = ConvGeometry(5, 6, 3, 3, 3, 2, 1, out_channels=4, out_stride=4)     # 3 × 3 pixels
    layout = descriptor_layout(arch)
    conv = {"kind": KIND_CONV, "layer": 0, "in_len": 3, "rows": 2, "row_base": 1, "bias_base": 3,
            **g.pass_fields(arch.pes)}
    words = [int(pack_fields(layout, conv)),
             int(pack_fields(layout, {"kind": KIND_SPARSE, "layer": 1, "in_len": 4, "rows": 3,
                                      "bias_base": 5}))]
    passes = [(0, p) for p in range(g.pixels)] + [(1, 0)]
    column = [3 + (7 * k) % 5 for k in range(len(passes))]          # C − T of every pixel-pass
    dut = ControlUnit(arch, words)
    log = {"start": [], "pixel": [], "sweep": [], "done": None, "cycles": None}

    async def bench(ctx):
        ctx.set(dut.passes, 2)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycle, current = 1, -1
        while not ctx.get(dut.done):
            if ctx.get(dut.run.start):
                current += 1
                log["start"].append(cycle)
                pixel = ctx.get(dut.run.pixel)
                log["pixel"].append((ctx.get(dut.run.desc.layer), pixel.origin, pixel.iy0,
                                     pixel.ix0, pixel.out_offset))
            ctx.set(dut.column_done, current >= 0 and cycle >= log["start"][-1] + column[current])
            if ctx.get(dut.run.sweep):
                log["sweep"].append((cycle, ctx.get(dut.run.sweep_row), ctx.get(dut.run.sweep_bias)))
            await ctx.tick()
            cycle += 1
            assert cycle < 2000
        log["done"], log["cycles"] = cycle, ctx.get(dut.cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()

    f = g.pass_fields(arch.pes)
    t, starts, sweeps, pixels = timing.PROGRAM_HEAD, [], [], []
    for (layer, p), c in zip(passes, column):
        rows, bias_base = (2, 3) if layer == 0 else (3, 5)
        starts.append(t)
        sweeps += [(t + c + timing.MAC_DRAIN + i, i, bias_base + i) for i in range(rows)]
        t += c + timing.MAC_DRAIN + rows + timing.REQUANT_TAIL
        if layer == 0:
            oy, ox = divmod(p, g.out_width)
            pixels.append((0, oy * f["line_step"] + ox * f["pixel_step"] - f["origin"],
                           oy * g.stride - g.pad, ox * g.stride - g.pad, p * f["out_step"]))
        else:
            pixels.append((1, 0, 0, 0, 0))
    assert log["start"] == starts
    assert log["pixel"] == pixels
    assert log["sweep"] == sweeps
    assert log["done"] == t + timing.PROGRAM_TAIL == log["cycles"]
