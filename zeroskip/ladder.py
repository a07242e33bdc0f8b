"""The verification ladder: one entry point per rung, one comparison.

Rungs, top to bottom: the fixed-point reference, the cycle simulator (the spec of timing), the
Amaranth simulation of the gateware, and the generated Verilog under Icarus or Verilator. Every
rung answers the same question for the same program and integer inputs -- outputs (array order)
and cycles per input -- so comparing two rungs is one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.hw.program import Program



@dataclass
class InputCheck:
    """One input's verdict: outputs against the reference, cycles against the simulator."""

    index: int
    rtl_cycles: int
    sim_cycles: int
    #: first differing output (index, RTL value, reference value), or None
    first_difference: tuple[int, int, int] | None
    differing_outputs: int

    @property
    def ok(self) -> bool:
        return self.first_difference is None and self.rtl_cycles == self.sim_cycles

    def describe(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        text = (f"input {self.index}: {verdict}  RTL {self.rtl_cycles} cycles, "
                f"simulator {self.sim_cycles} cycles")
        if self.first_difference is not None:
            j, got, want = self.first_difference
            text += (f"; output {j}: RTL {got}, reference {want} "
                     f"({self.differing_outputs} outputs differ)")
        elif self.rtl_cycles != self.sim_cycles:
            text += "; cycle counts differ"
        return text


def check_rtl(program: Program, inputs_int: np.ndarray, outputs: np.ndarray,
              cycles: np.ndarray) -> list[InputCheck]:
    """Compare an RTL run with ``reference.predict_int`` (bit-exact outputs, array order) and
    ``zeroskip.sim.simulate_int`` (the cycle counter), input by input."""
    from zeroskip.hw.reference import predict_int
    from zeroskip.sim import simulate_int

    xs = np.atleast_2d(np.asarray(inputs_int, dtype=np.int64))
    want = predict_int(program, xs)
    want_cycles = simulate_int(program, xs).cycles
    checks = []
    for i in range(len(xs)):
        got = np.asarray(outputs[i], dtype=np.int64)
        bad = np.flatnonzero(got != want[i])
        first = (int(bad[0]), int(got[bad[0]]), int(want[i][bad[0]])) if bad.size else None
        checks.append(InputCheck(i, int(cycles[i]), int(want_cycles[i]), first, int(bad.size)))
    return checks
