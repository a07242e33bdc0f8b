"""Amaranth-simulator harness shared by the gateware tests: the whole accelerator driven through
its Wishbone bus by the same host driver a board or cocotb uses."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from zeroskip.hw.arch import PRESETS, ArchConfig
from zeroskip.hw.gateware.broadcast import Broadcaster
from zeroskip.hw.host import Host
from zeroskip.hw.gateware.top import Accelerator
from zeroskip.hw.gateware.wishbone import SimBus

#: a tiny array: Amaranth's Python simulator is slow, keep the memories small
TINY = dataclasses.replace(PRESETS["small"], name="tiny", pes=2, sparse_depth=32, ptr_depth=64,
                           act_depth=16, acc_depth=4, bias_depth=32, max_layers=3, max_passes=8)


def tiny(**changes) -> ArchConfig:
    return dataclasses.replace(TINY, **changes)


def simulate(top: Accelerator, bench, vcd: str | None = None) -> None:
    """Run ``bench(ctx, host)``; a VCD only when ``ZEROSKIP_VCD`` names a directory."""
    sim = Simulator(top)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        bus = SimBus(ctx, top.bus)
        await bench(ctx, Host(top.arch, bus.read, bus.write))

    sim.add_testbench(testbench)
    directory = os.environ.get("ZEROSKIP_VCD")
    if directory and vcd:
        with sim.write_vcd(os.path.join(directory, f"{vcd}.vcd")):
            sim.run()
    else:
        sim.run()


def run_program(program, inputs, load_over_bus: bool = True) -> list[tuple[np.ndarray, int]]:
    """Every input row through the accelerator: [(outputs_int, cycles), ...]."""
    top = Accelerator(program.arch, None if load_over_bus else program)
    results = []

    async def bench(ctx, host):
        await host.load_program(program, write_images=load_over_bus)
        for x in inputs:
            results.append(await host.run(x))

    simulate(top, bench, vcd="run_program")
    return results


class BroadcastHarness(wiring.Component):
    """The broadcaster alone, reading one memory per lane (each PE's source bank) that holds
    ``vector`` in the array's layout (index i in lane i mod N at address i div N)."""

    def __init__(self, arch, vector):
        self.arch = arch
        self.vector = np.asarray(vector)
        self.unit = Broadcaster(arch)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        a = self.arch
        m.submodules.unit = unit = self.unit
        padded = np.zeros(a.pes * a.act_depth, np.int64)
        padded[:len(self.vector)] = self.vector
        for lane in range(a.pes):
            init = [int(v) & ((1 << a.act_bits) - 1) for v in padded[lane::a.pes]]
            memory = m.submodules[f"lane{lane}"] = Memory(shape=a.act_bits, depth=a.act_depth,
                                                          init=init)
            port = memory.read_port()
            m.d.comb += [port.addr.eq(unit.groups[lane].addr), port.en.eq(unit.groups[lane].en),
                         unit.groups[lane].data.eq(port.data)]
        return m


async def watch_broadcast(ctx, unit, cycles: int, ready_pattern=None,
                          stop_at_done: bool = False) -> dict:
    """Run a pass already started (``unit.run.start`` high in this cycle) for up to ``cycles``
    cycles: drop ``start`` after the first, drive ``ready`` by ``ready_pattern(cycle)``, log each
    push ``(cycle, index, value)`` and the cycle ``done`` first rises."""
    log = {"push": [], "done": None}
    for cycle in range(cycles):
        ready = 1 if ready_pattern is None else ready_pattern(cycle)
        ctx.set(unit.ready, ready)
        if cycle == 1:
            ctx.set(unit.run.start, 0)
        if ctx.get(unit.items.valid):
            assert ready
            item = ctx.get(unit.items.payload.sparse)
            log["push"].append((cycle, item.index, item.value))
        if ctx.get(unit.done) and log["done"] is None:
            log["done"] = cycle
            if stop_at_done:
                break
        await ctx.tick()
    return log
