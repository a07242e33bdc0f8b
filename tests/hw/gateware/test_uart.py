"""The UART and the UART-to-Wishbone bridge (hw/gateware/uart.py) in Amaranth simulation, in front
of the real accelerator: frames built by ``zeroskip.hw.link`` (the host transport's framing),
bits driven on ``rx`` and decoded from ``tx`` at four clocks per bit."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from zeroskip.hw import link, regmap
from zeroskip.hw.fpga.board import BoardCore
from zeroskip.hw.fpga.flow import TINY_ARCH
from zeroskip.hw.gateware.uart import UARTReceiver, UARTTransmitter, crc8_next

N = 4   # clocks per bit


def simulate(core, requests, max_cycles=40_000):
    """Send each request (bytes, or a list of raw bytes) on ``rx`` and collect ``tx``'s bytes;
    returns the bytes received after each request settled."""
    answers = []
    received = bytearray()

    async def receiver(ctx):
        while True:
            await ctx.tick()
            while ctx.get(core.tx):          # (no `until` in a background bench: it is
                await ctx.tick()             # left suspended when the simulation ends)
            await ctx.tick().repeat(N // 2)
            assert ctx.get(core.tx) == 0, "start bit too short"
            value = 0
            for bit in range(8):
                await ctx.tick().repeat(N)
                value |= ctx.get(core.tx) << bit
            await ctx.tick().repeat(N)
            assert ctx.get(core.tx) == 1, "no stop bit"
            received.append(value)

    async def sender(ctx):
        ctx.set(core.rx, 1)
        await ctx.tick().repeat(8)
        for request in requests:
            start = len(received)
            for byte in request:
                for level in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                    ctx.set(core.rx, level)
                    await ctx.tick().repeat(N)
            waited = 0
            while True:         # the answer is complete when tx stays idle for two byte times
                await ctx.tick().repeat(N * 20)
                waited += N * 20
                if len(received) > start and ctx.get(core.tx) == 1:
                    before = len(received)
                    await ctx.tick().repeat(N * 24)
                    if len(received) == before:
                        break
                assert waited < max_cycles, "no answer"
            answers.append(bytes(received[start:]))

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(receiver, background=True)
    sim.add_testbench(sender)
    sim.run()
    return answers


def check_answer(answer: bytes, status: int, words: int = 0) -> list[int]:
    assert answer[0] == status, f"status {answer[0]:#x}, expected {status:#x}"
    assert len(answer) == link.answer_bytes(status, words)
    assert link.crc8(answer[:-1]) == answer[-1]
    return link.words_of(answer[1:-1])


def test_crc8_logic_matches_the_host():
    """The bridge's one-byte CRC step is the host's ``link.crc8``: every byte from three states."""
    crc, byte = Signal(8), Signal(8)
    m = Module()
    out = Signal(8)
    m.d.comb += out.eq(crc8_next(crc, byte))

    async def bench(ctx):
        for start in (0x00, 0x5A, 0xFF):
            for value in range(256):
                ctx.set(crc, start)
                ctx.set(byte, value)
                assert ctx.get(out) == link.crc8(bytes([value]), start)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_bridge_reads_writes_and_refuses_bad_frames():
    core = BoardCore(TINY_ARCH, N)
    r = regmap.regions(TINY_ARCH)["act0"]
    requests = [
        link.read_request(regmap.REG_ID, 1),
        link.write_request(regmap.REG_LAYERS, [0xCAFE1234]),
        link.write_request(r.base, [5, 0xFFFF, 3]),             # three activations, one burst
        link.read_request(r.base, 3),
        link.read_request(regmap.REG_LAYERS, 1),
        link.write_request(regmap.REG_LAYERS, [7])[:-1] + b"\x00",  # corrupted checksum
        link.read_request(regmap.REG_LAYERS, 1),                    # ... wrote nothing
        b"\x55",                                                    # not a command
        link.read_request(regmap.REG_ID, 1),                        # still in step
    ]
    answers = simulate(core, requests)
    assert check_answer(answers[0], link.ACK_READ, 1) == [regmap.fingerprint(TINY_ARCH)]
    check_answer(answers[1], link.ACK_WRITE)
    check_answer(answers[2], link.ACK_WRITE)
    mask = (1 << TINY_ARCH.act_bits) - 1
    assert check_answer(answers[3], link.ACK_READ, 3) == [5, 0xFFFF & mask, 3]
    assert check_answer(answers[4], link.ACK_READ, 1) == [0xCAFE1234]
    check_answer(answers[5], link.NAK_CHECKSUM)
    assert check_answer(answers[6], link.ACK_READ, 1) == [0xCAFE1234]
    check_answer(answers[7], link.NAK_COMMAND)
    assert check_answer(answers[8], link.ACK_READ, 1) == [regmap.fingerprint(TINY_ARCH)]


def test_uart_loopback_every_byte_value():
    """Transmitter into receiver: every byte value, back to back, arrives intact."""
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(5)
    m.submodules.rx = rx = UARTReceiver(5)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def bench(ctx):
        ctx.set(rx.data.ready, 1)
        for value in range(256):
            ctx.set(tx.data.payload, value)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)
        await ctx.tick().repeat(5 * 12)

    async def collect(ctx):
        while True:
            await ctx.tick()
            while not ctx.get(rx.data.valid):
                await ctx.tick()
            got.append(ctx.get(rx.data.payload))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(collect, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert got == list(range(256))


@pytest.mark.parametrize("clock_hz, baud", [(100e6, 115200), (25e6, 3e6), (1e6, 1e6)])
def test_clocks_per_bit_refuses_what_the_uart_cannot_do(clock_hz, baud):
    if clock_hz / baud >= link.MIN_CLOCKS_PER_BIT and abs(clock_hz / round(clock_hz / baud) - baud) <= 0.02 * baud:
        assert link.clocks_per_bit(clock_hz, baud) == round(clock_hz / baud)
    else:
        with pytest.raises(ValueError):
            link.clocks_per_bit(clock_hz, baud)
