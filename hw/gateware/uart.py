"""A UART (8N1) and the UART-to-Wishbone bridge the host reaches the accelerator through.

The framing (commands, bursts, CRC-8, the answer codes) is ``zeroskip.hw.link``'s; this is its
hardware half. The bridge drives the bus by its handshake: it holds ``cyc``/``stb`` until ``ack``,
whatever the slave's latency. A write burst is buffered in a block RAM and reaches the bus only
after its checksum checked out.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, memory, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from zeroskip.hw import link
from zeroskip.hw.gateware.wishbone import bus_signature

#: bytes the receive FIFO holds while the bridge is busy on the bus or answering
RX_FIFO_DEPTH = 32


def crc8_next(crc, byte):
    """``link.crc8`` of one more byte, as logic (eight unrolled shift/XOR steps)."""
    c = crc ^ byte
    for _ in range(8):
        c = Mux(c[7], (c << 1) ^ link.CRC_POLY, c << 1)[:8]
    return c


class UARTReceiver(wiring.Component):
    """``rx`` (asynchronous pin) to a byte stream; a byte arriving while the last one is still
    unaccepted is dropped (``overrun`` pulses)."""

    def __init__(self, clocks_per_bit: int):
        if clocks_per_bit < link.MIN_CLOCKS_PER_BIT:
            raise ValueError(f"clocks_per_bit {clocks_per_bit} < {link.MIN_CLOCKS_PER_BIT}")
        self.clocks_per_bit = clocks_per_bit
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8)),
                          "overrun": Out(1)})

    def elaborate(self, platform):
        m = Module()
        n = self.clocks_per_bit
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(n))
        bits = Signal(range(8))
        shift = Signal(8)
        out = self.data
        m.d.sync += self.overrun.eq(0)
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)
        with m.FSM():
            with m.State("idle"):
                with m.If(~rx):
                    m.d.sync += timer.eq(n // 2 - 1)
                    m.next = "start"
            with m.State("start"):          # the middle of the start bit
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    m.next = "idle"           # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(n - 1), bits.eq(0)]
                    m.next = "data"
            with m.State("data"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), bits.eq(bits + 1),
                                 timer.eq(n - 1)]
                    with m.If(bits == 7):
                        m.next = "stop"
            with m.State("stop"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(rx):            # a framing error drops the byte
                        with m.If(~out.valid | out.ready):
                            m.d.sync += [out.valid.eq(1), out.payload.eq(shift)]
                        with m.Else():
                            m.d.sync += self.overrun.eq(1)
                    m.next = "idle"
        return m


class UARTTransmitter(wiring.Component):
    """A byte stream to ``tx``: start bit, eight data bits least significant first, stop bit."""

    def __init__(self, clocks_per_bit: int):
        self.clocks_per_bit = clocks_per_bit
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        n = self.clocks_per_bit
        line = Signal(init=1)
        shift = Signal(9, init=0x1FF)           # data bits then the stop bit, ones shifted in
        periods = Signal(range(11))               # bit periods left of the byte on the line
        timer = Signal(range(n))
        m.d.comb += [self.tx.eq(line), self.data.ready.eq(periods == 0)]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [line.eq(0), shift.eq(Cat(self.data.payload, 1)), periods.eq(10),
                         timer.eq(n - 1)]
        with m.Elif(periods != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [line.eq(shift[0]), shift.eq(Cat(shift[1:], 1)),
                             periods.eq(periods - 1), timer.eq(n - 1)]
        return m


class WishboneBridge(wiring.Component):
    """Requests in (a byte stream), answers out, transfers on the bus (``link``'s framing)."""

    def __init__(self, addr_width: int, clocks_per_bit: int):
        self.addr_width = addr_width
        #: clocks a request may stall mid-frame before it is dropped
        self.frame_timeout = clocks_per_bit * link.BITS_PER_BYTE * link.FRAME_TIMEOUT_BYTES
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
                          "bus": Out(bus_signature(addr_width))})

    def elaborate(self, platform):
        m = Module()
        rx, tx, bus = self.rx, self.tx, self.bus
        m.submodules.burst = burst = memory.Memory(shape=32, depth=link.MAX_BURST, init=[])
        store, fetch = burst.write_port(), burst.read_port()

        command = Signal(8)
        last = Signal(8)                          # words - 1
        address = Signal(8 * link.ADDRESS_BYTES)
        word = Signal(32)
        index = Signal(range(link.MAX_BURST + 1))
        byte = Signal(2)
        rx_crc = Signal(8)
        tx_crc = Signal(8)
        status = Signal(8)
        stalled = Signal(range(self.frame_timeout + 1))

        take = Signal()
        m.d.comb += [take.eq(rx.valid & rx.ready), fetch.addr.eq(index), store.addr.eq(index),
                     store.data.eq(Cat(word[8:], rx.payload)),
                     bus.adr.eq(address + index), bus.sel.eq(0xF), bus.dat_w.eq(fetch.data)]
        with m.If(take):
            m.d.sync += rx_crc.eq(crc8_next(rx_crc, rx.payload))

        def send(value, then):
            """Offer ``value`` to the transmitter; on acceptance fold it into the answer's crc."""
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
            with m.If(tx.ready):
                then()

        expired = Signal()
        with m.FSM() as fsm:
            with m.State("idle"):
                m.d.comb += rx.ready.eq(1)
                with m.If(take):
                    m.d.sync += [command.eq(rx.payload), byte.eq(0), index.eq(0)]
                    with m.If((rx.payload == link.CMD_WRITE) | (rx.payload == link.CMD_READ)):
                        m.next = "count"
                    with m.Else():
                        m.d.sync += status.eq(link.NAK_COMMAND)
                        m.next = "status"
            with m.State("count"):
                m.d.comb += rx.ready.eq(1)
                with m.If(expired):
                    m.next = "idle"
                with m.If(take):
                    m.d.sync += last.eq(rx.payload)
                    m.next = "address"
            with m.State("address"):
                m.d.comb += rx.ready.eq(1)
                with m.If(expired):
                    m.next = "idle"
                with m.If(take):
                    m.d.sync += [address.eq(Cat(address[8:], rx.payload)), byte.eq(byte + 1)]
                    with m.If(byte == link.ADDRESS_BYTES - 1):
                        with m.If(command == link.CMD_WRITE):
                            m.next = "data"
                        with m.Else():
                            m.next = "crc"
            with m.State("data"):
                m.d.comb += rx.ready.eq(1)
                with m.If(expired):
                    m.next = "idle"
                with m.If(take):
                    m.d.sync += [word.eq(Cat(word[8:], rx.payload)), byte.eq(byte + 1)]
                    with m.If(byte == link.WORD_BYTES - 1):
                        m.d.comb += store.en.eq(1)
                        m.d.sync += index.eq(index + 1)
                        with m.If(index == last):
                            m.next = "crc"
            with m.State("crc"):
                m.d.comb += rx.ready.eq(1)
                with m.If(expired):
                    m.next = "idle"
                with m.If(take):
                    m.d.sync += index.eq(0)
                    with m.If(rx.payload != rx_crc):
                        m.d.sync += status.eq(link.NAK_CHECKSUM)
                        m.next = "status"
                    with m.Elif(command == link.CMD_WRITE):
                        m.next = "fetch"
                    with m.Else():
                        m.d.sync += status.eq(link.ACK_READ)
                        m.next = "status"
            with m.State("fetch"):                # the burst buffer's synchronous read
                m.next = "write"
            with m.State("write"):
                m.d.comb += [bus.cyc.eq(1), bus.stb.eq(1), bus.we.eq(1)]
                with m.If(bus.ack):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == last):
                        m.d.sync += status.eq(link.ACK_WRITE)
                        m.next = "status"
                    with m.Else():
                        m.next = "fetch"
            with m.State("status"):
                def after_status():
                    m.d.sync += [tx_crc.eq(crc8_next(Const(0, 8), status)), index.eq(0)]
                    with m.If(status == link.ACK_READ):
                        m.next = "read"
                    with m.Else():
                        m.next = "crc_out"
                send(status, after_status)
            with m.State("read"):
                m.d.comb += [bus.cyc.eq(1), bus.stb.eq(1)]
                with m.If(bus.ack):
                    m.d.sync += [word.eq(bus.dat_r), byte.eq(0)]
                    m.next = "word"
            with m.State("word"):
                def after_byte():
                    m.d.sync += [word.eq(word >> 8), byte.eq(byte + 1),
                                 tx_crc.eq(crc8_next(tx_crc, word[:8]))]
                    with m.If(byte == link.WORD_BYTES - 1):
                        m.d.sync += index.eq(index + 1)
                        m.next = "read"
                        with m.If(index == last):
                            m.next = "crc_out"
                send(word[:8], after_byte)
            with m.State("crc_out"):
                def after_crc():
                    m.d.sync += rx_crc.eq(0)
                    m.next = "idle"
                send(tx_crc, after_crc)

        # a request stalled mid-frame is dropped (the host gave up or died)
        receiving = (fsm.ongoing("count") | fsm.ongoing("address") | fsm.ongoing("data")
                     | fsm.ongoing("crc"))
        with m.If(receiving & ~take):
            m.d.sync += stalled.eq(stalled + 1)
        with m.Else():
            m.d.sync += stalled.eq(0)
        m.d.comb += expired.eq(stalled == self.frame_timeout)
        # a fresh request's crc starts from zero
        with m.If(fsm.ongoing("idle") & ~take):
            m.d.sync += rx_crc.eq(0)
        return m


class UARTWishbone(wiring.Component):
    """The two pins to a Wishbone initiator: receiver, a receive FIFO, the bridge, transmitter."""

    def __init__(self, addr_width: int, clocks_per_bit: int):
        self.addr_width = addr_width
        self.clocks_per_bit = clocks_per_bit
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1),
                          "bus": Out(bus_signature(addr_width))})

    def elaborate(self, platform):
        m = Module()
        n = self.clocks_per_bit
        m.submodules.receiver = receiver = UARTReceiver(n)
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=RX_FIFO_DEPTH)
        m.submodules.bridge = bridge = WishboneBridge(self.addr_width, n)
        m.submodules.transmitter = transmitter = UARTTransmitter(n)
        m.d.comb += [receiver.rx.eq(self.rx), self.tx.eq(transmitter.tx)]
        wiring.connect(m, receiver.data, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, bridge.rx)
        wiring.connect(m, bridge.tx, transmitter.data)
        wiring.connect(m, bridge.bus, wiring.flipped(self.bus))
        return m
