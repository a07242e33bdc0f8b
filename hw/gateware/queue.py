"""A PE's activation queue: a synchronous FIFO whose storage is written whenever it has room.

It has ``amaranth.lib.fifo.SyncFIFO``'s ports (those the PE uses) and its cycle behaviour: a
pushed item can be popped from the next cycle, ``r_data`` is the oldest item as a
combinational read, ``level`` counts the items. While the queue is not full the slot after the
newest item holds none, so the storage is written there in every such cycle, pushed or not, and
a push only moves the write pointer. The LUT RAM's write enable is then the room (a function of
the ``level`` register): with SyncFIFO it was the push's logic (the bounds stage's comparison)
fanned out to every slice of the queue, and at 16 PEs the largest group of failing endpoints on
the ECP5 (docs/fpga.md, "Every failing endpoint").
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


class Queue(wiring.Component):
    def __init__(self, width: int, depth: int):
        assert depth >= 1
        self.width, self.depth = width, depth
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
            "r_data": Out(width), "r_en": In(1), "r_rdy": Out(1),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = storage = Memory(shape=self.width, depth=self.depth, init=[])
        write, read = storage.write_port(), storage.read_port(domain="comb")
        produce = Signal(range(self.depth), name="produce")     # after the newest item
        consume = Signal(range(self.depth), name="consume")     # the oldest item

        def following(pointer):
            return Mux(pointer == self.depth - 1, 0, pointer + 1)

        pushed = self.w_en & self.w_rdy
        popped = self.r_en & self.r_rdy
        m.d.comb += [self.w_rdy.eq(self.level != self.depth), self.r_rdy.eq(self.level != 0),
                     write.addr.eq(produce), write.data.eq(self.w_data), write.en.eq(self.w_rdy),
                     read.addr.eq(consume), self.r_data.eq(read.data)]
        with m.If(pushed):
            m.d.sync += produce.eq(following(produce))
        with m.If(popped):
            m.d.sync += consume.eq(following(consume))
        with m.If(pushed & ~popped):
            m.d.sync += self.level.eq(self.level + 1)
        with m.Elif(popped & ~pushed):
            m.d.sync += self.level.eq(self.level - 1)
        return m
