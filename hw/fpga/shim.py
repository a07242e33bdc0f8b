"""A port shim for packages with fewer pins than the accelerator has ports (iCE40UP5K SG48: 39
I/Os against about 90 bus bits): every input of the wrapped design comes from a shift register
fed by one pin, every output is captured into a shift register that drains to one pin. Every
port of the accelerator then starts or ends at a flip-flop, so nothing is optimised away and
the paths the place and route times are the design's own plus one register stage per port."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class SerialPorts(wiring.Component):
    """``inner``'s ports behind three pins: ``sin`` shifts into the inputs each cycle; ``load``
    captures the outputs, which otherwise shift out through ``sout``."""

    def __init__(self, inner: wiring.Component):
        self.inner = inner
        super().__init__({"sin": In(1), "load": In(1), "sout": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        inputs, outputs = [], []
        for _, member, value in self.inner.signature.flatten(self.inner):
            (inputs if member.flow == wiring.In else outputs).append(value)
        in_bits = sum(len(v) for v in inputs)
        out_bits = sum(len(v) for v in outputs)
        shift_in = Signal(in_bits)
        shift_out = Signal(out_bits)
        m.d.sync += shift_in.eq(Cat(self.sin, shift_in[:-1]))
        m.d.comb += Cat(*inputs).eq(shift_in)
        with m.If(self.load):
            m.d.sync += shift_out.eq(Cat(*outputs))
        with m.Else():
            m.d.sync += shift_out.eq(shift_out >> 1)
        m.d.comb += self.sout.eq(shift_out[0])
        return m
