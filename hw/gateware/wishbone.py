"""Wishbone B4 classic, 32-bit data, word addresses: the accelerator's host bus (LiteX speaks it).

``bus_signature(addr_width)`` is the initiator's view; the accelerator takes ``In(...)`` of it,
so its Verilog ports are ``bus__cyc``, ``bus__stb``, ``bus__we``, ``bus__adr``, ``bus__sel``,
``bus__dat_w`` (inputs) and ``bus__dat_r``, ``bus__ack`` (outputs). ``sel`` is accepted but
every transfer is a whole word.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zeroskip.hw.regmap import DATA_BITS


def bus_signature(addr_width: int) -> wiring.Signature:
    """The initiator (host) side of a classic Wishbone bus."""
    return wiring.Signature({
        "cyc": Out(1), "stb": Out(1), "we": Out(1),
        "adr": Out(addr_width), "sel": Out(DATA_BITS // 8),
        "dat_w": Out(DATA_BITS), "dat_r": In(DATA_BITS), "ack": In(1),
    })


class SimBus:
    """Adapter from an Amaranth testbench context to the host driver's ``read``/``write``
    coroutines (``zeroskip.hw.host.Host``): one classic transfer each, waiting for ``ack``."""

    def __init__(self, ctx, bus, timeout: int = 64):
        self.ctx, self.bus, self.timeout = ctx, bus, timeout
        self.ticks = 0          #: clock cycles spent in transfers (benchmarks report it)

    async def _transfer(self, addr: int, data: int | None) -> int:
        ctx, bus = self.ctx, self.bus
        ctx.set(bus.adr, addr)
        ctx.set(bus.we, data is not None)
        ctx.set(bus.dat_w, 0 if data is None else data)
        ctx.set(bus.sel, (1 << (DATA_BITS // 8)) - 1)
        ctx.set(bus.cyc, 1)
        ctx.set(bus.stb, 1)
        for _ in range(self.timeout):
            await ctx.tick()
            self.ticks += 1
            if ctx.get(bus.ack):
                value = ctx.get(bus.dat_r)
                ctx.set(bus.cyc, 0)
                ctx.set(bus.stb, 0)
                ctx.set(bus.we, 0)
                return value
        raise TimeoutError(f"no Wishbone ack at address {addr:#x}")

    async def read(self, addr: int) -> int:
        return await self._transfer(addr, None)

    async def write(self, addr: int, data: int) -> None:
        await self._transfer(addr, data & 0xFFFFFFFF)
