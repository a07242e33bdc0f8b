"""The Wishbone slave of the top: three-cycle transfers (``regmap.transfer_cycles``, five with
``pe_copies``), registers, activation banks read back,
memory writes locked out while the program runs."""

import dataclasses

import numpy as np
import pytest

from zeroskip.hw import regmap
from zeroskip.hw.gateware.top import Accelerator

from benches import simulate, tiny
from handmade import encode, random_layers


@pytest.mark.parametrize("pe_copies", [0, 1])
def test_ack_timing_and_registers(pe_copies):
    arch = dataclasses.replace(tiny(), pe_copies=pe_copies)
    top = Accelerator(arch)
    bus = top.bus
    log = {}

    async def bench(ctx, host):
        # a raw read: ack exactly transfer_cycles - 1 cycles after the request, for one cycle
        ctx.set(bus.adr, regmap.REG_ID)
        ctx.set(bus.cyc, 1)
        ctx.set(bus.stb, 1)
        for _ in range(regmap.transfer_cycles(arch) - 1):
            assert not ctx.get(bus.ack)
            await ctx.tick()
        assert ctx.get(bus.ack)
        log["id"] = ctx.get(bus.dat_r)
        await ctx.tick()                                     # master holds stb: no second ack
        assert not ctx.get(bus.ack)
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        await ctx.tick()
        await host.write(regmap.REG_PASSES, 5)
        log["passes"] = await host.read(regmap.REG_PASSES)
        log["status"] = await host.read(regmap.REG_STATUS)

    simulate(top, bench)
    assert log == {"id": regmap.fingerprint(arch), "passes": 5, "status": 0}


@pytest.mark.parametrize("pe_copies", [0, 1])
def test_activation_banks_round_trip(pe_copies):
    arch = dataclasses.replace(tiny(pes=3), pe_copies=pe_copies)
    top = Accelerator(arch)
    regions = regmap.regions(arch)
    values = {(bank, pe, i): (bank * 1000 + pe * 100 + i * 7 - 300) & 0xFFFF
              for bank in (0, 1) for pe in range(3) for i in (0, 5, arch.act_depth - 1)}
    read = {}

    async def bench(ctx, host):
        for (bank, pe, i), v in values.items():
            await host.write(regions[f"act{bank}"].address(i, pe), v)
        for (bank, pe, i) in values:
            read[bank, pe, i] = await host.read(regions[f"act{bank}"].address(i, pe))

    simulate(top, bench)
    assert read == values


@pytest.mark.parametrize("pe_copies", [0, 1])
def test_memory_writes_ignored_while_running(pe_copies):
    arch = dataclasses.replace(tiny(), pe_copies=pe_copies)
    rng = np.random.default_rng(0)
    program = encode(arch, random_layers(rng, arch, [16, 16], density=1.0))
    top = Accelerator(arch, program)
    address = regmap.regions(arch)["act0"].address(0, 0)
    log = {}

    async def bench(ctx, host):
        await host.load_program(program, write_images=False)
        await host.write_input(np.arange(1, 17))
        await host.start()
        await host.write(address, 99)                        # ignored: busy
        log["status"] = await host.read(regmap.REG_STATUS)
        await host.wait_done()
        log["after"] = await host.read(address)

    simulate(top, bench)
    assert log["status"] & regmap.STATUS_BUSY
    assert log["after"] == 1
