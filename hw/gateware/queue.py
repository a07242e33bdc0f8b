"""A PE's activation queue: a synchronous FIFO whose oldest item is a register.

It has ``amaranth.lib.fifo.SyncFIFO``'s ports (those the PE uses) and its cycle behaviour: a
pushed item can be popped from the next cycle, ``r_data`` is the oldest item, ``level`` counts
the items. The oldest item is held in a register of its own (``head``), so ``r_data`` and
``r_rdy`` come from flip-flops: with the oldest item read out of the LUT RAM through the read
pointer, and ``r_rdy`` a comparison of the ``level`` register, the PE's pop, its column's first
entry and its ``free`` began behind them (docs/fpga.md, "The entry stage ..."). A push into an
empty queue (or into one whose only item leaves) goes straight into the head, which is written
in every such cycle, pushed or not; a pop refills the head from the storage's oldest item, read
asynchronously at ``consume``.

The storage holds the items after the head, ``depth − 1`` at most. While it has room the slot
after its newest item holds none, so it is written there in every such cycle, pushed or not,
and a push into the storage only moves the write pointer: the LUT RAM's write enable is the
room, a function of the ``level`` register (with SyncFIFO it was the push's logic, the bounds
stage's comparison, fanned out to every slice of the queue: docs/fpga.md, "Every failing
endpoint").
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
        head = Signal(self.width, name="head")              # the oldest item
        held = Signal(name="head_valid")                    # the queue holds an item
        m.d.comb += [self.r_data.eq(head), self.r_rdy.eq(held),
                     self.w_rdy.eq(self.level != self.depth)]
        pushed = self.w_en & self.w_rdy
        popped = self.r_en & self.r_rdy
        # the head takes a push when the queue is empty after this cycle's pop; it is written
        # then whether or not an item is pushed (``head_valid`` says whether it holds one), so its
        # enable does not wait for the push's logic (the bounds stage's comparison)
        empty_after = (self.level == 0) | (popped & (self.level == 1))
        into_head = pushed & empty_after
        with m.If(pushed & ~popped):
            m.d.sync += [self.level.eq(self.level + 1), held.eq(1)]
        with m.Elif(popped & ~pushed):
            m.d.sync += [self.level.eq(self.level - 1), held.eq(self.level != 1)]
        if self.depth == 1:                                 # the head is all the queue
            with m.If(empty_after):
                m.d.sync += head.eq(self.w_data)
            return m

        slots = self.depth - 1
        m.submodules.storage = storage = Memory(shape=self.width, depth=slots, init=[])
        write, read = storage.write_port(), storage.read_port(domain="comb")
        produce = Signal(range(slots), name="produce")     # after the storage's newest item
        consume = Signal(range(slots), name="consume")     # the storage's oldest item

        def following(pointer):
            return Mux(pointer == slots - 1, 0, pointer + 1)

        # the storage has room while the queue is not full (the head holds one of the items)
        m.d.comb += [write.addr.eq(produce), write.data.eq(self.w_data), write.en.eq(self.w_rdy),
                     read.addr.eq(consume)]
        with m.If(pushed & ~into_head):
            m.d.sync += produce.eq(following(produce))
        refill = popped & (self.level >= 2)                 # the storage's oldest becomes the head
        with m.If(refill):
            m.d.sync += [consume.eq(following(consume)), head.eq(read.data)]
        with m.Elif(empty_after):
            m.d.sync += head.eq(self.w_data)
        return m
