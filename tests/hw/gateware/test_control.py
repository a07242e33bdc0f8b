"""The control unit alone: pass sequencing and the cycle counter against docs/timing.md."""

from amaranth.sim import Simulator

from zeroskip.hw import timing
from zeroskip.hw.gateware.control import ControlUnit
from zeroskip.hw.program import descriptor_layout, pack_fields

from benches import tiny


def descriptors(arch, rows, bias_bases=None):
    layout = descriptor_layout(arch)
    bias_bases = bias_bases or [0] * len(rows)
    return [int(pack_fields(layout, {"kind": 0, "layer": k, "in_len": 4, "rows": r, "row_base": 0,
                                    "ptr_base": 0, "bias_base": b, "shift": 0, "relu": 0, "last": 1}))
            for k, (r, b) in enumerate(zip(rows, bias_bases))]


def test_pass_sequence_and_cycle_count():
    arch = tiny(acc_depth=4)
    rows = [3, 1, 4]
    bias_bases = [2, 5, 1]          # each sweep row's bias address is bias_base + row
    column = [5, 1, 9]              # cycles from T until the column phase ends (C - T)
    dut = ControlUnit(arch, descriptors(arch, rows, bias_bases))
    log = {"start": [], "sweep": [], "done": None, "cycles": None, "layer": []}

    async def bench(ctx):
        ctx.set(dut.passes, len(rows))
        ctx.set(dut.start, 1)
        await ctx.tick()                                     # cycle 0: start seen
        ctx.set(dut.start, 0)
        cycle, current = 1, -1
        while not ctx.get(dut.done):
            if ctx.get(dut.run.start):
                current += 1
                log["start"].append(cycle)
                log["layer"].append(ctx.get(dut.run.desc.layer))
            ctx.set(dut.column_done, current >= 0 and cycle >= log["start"][-1] + column[current])
            if ctx.get(dut.run.sweep):
                log["sweep"].append((cycle, ctx.get(dut.run.sweep_row), ctx.get(dut.run.sweep_bias)))
            assert ctx.get(dut.run.busy)
            await ctx.tick()
            cycle += 1
        log["done"], log["cycles"] = cycle, ctx.get(dut.cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()

    t, starts, sweeps = timing.PROGRAM_HEAD, [], []
    for r, b, c in zip(rows, bias_bases, column):
        starts.append(t)
        end = t + c
        sweeps += [(end + timing.MAC_DRAIN + i, i, b + i) for i in range(r)]
        t = end + timing.MAC_DRAIN + r + timing.REQUANT_TAIL
    assert log["start"] == starts
    assert log["layer"] == [0, 1, 2]
    assert log["sweep"] == sweeps
    assert log["done"] == t + timing.PROGRAM_TAIL == log["cycles"]
