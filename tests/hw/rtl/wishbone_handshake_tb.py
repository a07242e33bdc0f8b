"""A cocotb test of the accelerator's Wishbone slave at the signal level (run by
``test_rtl_bus.py``, never by hand): back-to-back classic transfers with ``cyc``/``stb`` held
high throughout, each request presented after the clock edge that completed the previous one.

The handshake docs/hardware.md promises: ``ack`` is low in a request's first
``regmap.transfer_cycles(arch)`` − 1 cycles and high in its last, with a read's data valid in that
cycle. The host driver's adapter (``zeroskip.hw.rtl.cocotb_tb.WishboneBus``) drops
``cyc`` after every ack and samples only after edges, so it cannot tell an ack held over
back-to-back requests, or one given in the request's own cycle, from a correct one; a real
master can (it completes the next transfer with the previous one's data).

``$ZEROSKIP_BUS_TB`` names the transfers: ``[[address, data to write or null, expected read
value or null], ...]``; ``$ZEROSKIP_BUS_CYCLES`` the configuration's cycles per transfer.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

CLOCK_NS = 10


@cocotb.test(timeout_time=50, timeout_unit="us")
async def back_to_back_transfers(dut):
    transfers = json.loads(os.environ["ZEROSKIP_BUS_TB"])
    transfer_cycles = int(os.environ["ZEROSKIP_BUS_CYCLES"])
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    for name in ("cyc", "stb", "we", "adr", "dat_w"):
        getattr(dut, f"bus__{name}").value = 0
    dut.bus__sel.value = 0xF
    dut.rst.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)

    for k, (address, data, expected) in enumerate(transfers):
        what = f"transfer {k} ({'write' if data is not None else 'read'} of {address:#x})"
        dut.bus__cyc.value = 1
        dut.bus__stb.value = 1
        dut.bus__adr.value = address
        dut.bus__we.value = int(data is not None)
        dut.bus__dat_w.value = data or 0
        for cycle in range(1, transfer_cycles):
            await ReadOnly()                    # the request's first cycles: no ack
            assert int(dut.bus__ack.value) == 0, f"{what}: ack in the request's cycle {cycle}"
            await RisingEdge(dut.clk)
        await ReadOnly()                        # its last cycle: ack, and a read's data
        assert int(dut.bus__ack.value) == 1, f"{what}: no ack in the request's cycle {transfer_cycles}"
        if expected is not None:
            assert dut.bus__dat_r.value.is_resolvable, f"{what}: dat_r is {dut.bus__dat_r.value}"
            got = int(dut.bus__dat_r.value)
            assert got == expected, f"{what}: read {got:#x}, expected {expected:#x}"
        await RisingEdge(dut.clk)               # the edge that completes the transfer
        await FallingEdge(dut.clk)

    dut.bus__cyc.value = 0
    dut.bus__stb.value = 0
    await RisingEdge(dut.clk)
    await ReadOnly()
    assert int(dut.bus__ack.value) == 0, "ack without a request"
