"""The verification ladder: one entry point per rung, one comparison.

Rungs, top to bottom: the fixed-point reference, the cycle simulator (the spec of timing), the
Amaranth simulation of the gateware, and the generated Verilog under Icarus or Verilator. Every
rung answers the same question for the same program and integer inputs -- outputs (array order)
and cycles per input -- so comparing two rungs is one line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.program import Program

#: the rungs, top to bottom; each runs the same program on the same integer inputs
RUNGS = ("reference", "sim", "amaranth", "icarus", "verilator")


@dataclass
class RungResult:
    """What one rung computed: per input, outputs (array order) and cycles (None where the rung
    has no notion of time: the reference)."""

    rung: str
    outputs: np.ndarray             #: int64 [n, out]
    cycles: np.ndarray | None       #: int64 [n]
    seconds: float                  #: wall time of the rung (building included)
    detail: dict | None = None      #: rung-specific facts (RTL: build cached, ID read)


def run(rung: str, program: Program, xq: np.ndarray, **options) -> RungResult:
    """Run ``program`` (or a ``TiledProgram``: each part) on integer inputs ``xq`` [n, in] on one
    rung. ``options`` go to the RTL
    rungs (``zeroskip.hw.rtl.run.build_and_run``: ``bus_load``, ``waves``, ``workdir``)."""
    if rung not in RUNGS:
        raise ZeroskipError(f"unknown rung '{rung}' (one of {', '.join(RUNGS)})")
    from zeroskip.hw.reference import integer_inputs

    xq = integer_inputs(program, xq)
    start = time.perf_counter()
    detail = None
    if hasattr(program, "tiles"):       # tiled over space: every part on this rung
        def part(name, one, inputs):
            result = run(rung, one, inputs, **options)
            return result.outputs, result.cycles

        outputs, cycles, _ = program.run(xq, part)
    elif rung == "reference":
        from zeroskip.hw.reference import predict_int

        outputs, cycles = predict_int(program, xq), None
    elif rung == "sim":
        from zeroskip.sim import simulate_int

        result = simulate_int(program, xq)
        outputs, cycles = result.outputs_int, result.cycles
    elif rung == "amaranth":
        outputs, cycles = _amaranth(program, xq)
    else:
        from zeroskip.hw.rtl.run import build_and_run

        result = build_and_run(program.arch, program, xq, rung, **options)
        outputs, cycles = result.outputs, result.cycles
        detail = {"build_cached": bool(result.build.cached), "id": int(result.fingerprint),
                  "build_seconds": float(result.build.seconds)}
    return RungResult(rung, np.asarray(outputs, dtype=np.int64),
                      None if cycles is None else np.asarray(cycles, dtype=np.int64),
                      time.perf_counter() - start, detail)


def _amaranth(program: Program, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gateware under Amaranth's Python simulator, driven through the host driver (the
    program loaded over the bus, as on hardware)."""
    from amaranth.sim import Simulator

    from zeroskip.hw.gateware.top import Accelerator
    from zeroskip.hw.gateware.wishbone import SimBus
    from zeroskip.hw.host import Host

    top = Accelerator(program.arch, None)
    results = []

    async def bench(ctx):
        bus = SimBus(ctx, top.bus)
        host = Host(program.arch, bus.read, bus.write)
        await host.load_program(program)
        for x in xq:
            results.append(await host.run(x))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    outputs = np.array([out for out, _ in results], dtype=np.int64).reshape(len(xq), -1)
    return outputs, np.array([cycles for _, cycles in results], dtype=np.int64)


def compare(expected: RungResult, got: RungResult, timing: RungResult | None = None) -> list:
    """Input by input: ``got``'s outputs against ``expected``'s (bit-exact), and its cycles
    against ``timing``'s (the simulator: the spec of timing) where both have cycles."""
    timing = timing if timing is not None else expected
    checks = []
    for i in range(len(expected.outputs)):
        want, have = expected.outputs[i], got.outputs[i]
        bad = np.flatnonzero(have != want)
        first = (int(bad[0]), int(have[bad[0]]), int(want[bad[0]])) if bad.size else None
        own = int(got.cycles[i]) if got.cycles is not None else None
        spec = int(timing.cycles[i]) if timing.cycles is not None else own
        checks.append(InputCheck(i, own if own is not None else -1,
                                 spec if spec is not None else -1, first, int(bad.size)))
    return checks


def climb(program: Program, xq: np.ndarray, rungs, **options) -> dict:
    """Run every rung in ``rungs`` on the same inputs; compare each with the first (outputs)
    and with the simulator (cycles, when it is among them). One JSON-ready report."""
    rungs = list(rungs)
    if not rungs:
        raise ZeroskipError("no rung to run")
    unknown = [r for r in rungs if r not in RUNGS]
    if unknown:
        raise ZeroskipError(f"unknown rung '{unknown[0]}' (one of {', '.join(RUNGS)})")
    results = {}
    if "sim" in rungs:                  # first: it bounds the RTL runs (a hang is a FAIL)
        results["sim"] = run("sim", program, xq)
    for rung in rungs:
        if rung in results:
            continue
        extra = dict(options)
        if rung in ("icarus", "verilator") and "sim" in results:
            extra.setdefault("expected_cycles", results["sim"].cycles)
        results[rung] = run(rung, program, xq, **extra)
    results = {rung: results[rung] for rung in rungs}
    top = results[rungs[0]]
    timing = results.get("sim")
    report = {"rungs": rungs, "inputs": int(len(top.outputs)), "results": {}, "passed": True}
    for rung, result in results.items():
        checks = compare(top, result, timing if result.cycles is not None else None)
        ok = all(c.first_difference is None and (result.cycles is None or timing is None
                                                 or c.rtl_cycles == c.sim_cycles) for c in checks)
        report["passed"] &= ok
        report["results"][rung] = {
            "passed": ok, "seconds": round(result.seconds, 3), "detail": result.detail,
            "cycles": None if result.cycles is None else [int(c) for c in result.cycles],
            "mismatches": [{"input": c.index, "first_difference": c.first_difference,
                            "differing_outputs": c.differing_outputs,
                            "cycles": c.rtl_cycles, "sim_cycles": c.sim_cycles}
                           for c in checks if not (c.first_difference is None and (
                               result.cycles is None or timing is None
                               or c.rtl_cycles == c.sim_cycles))]}
    return report



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
    """Compare an RTL run with the reference (bit-exact outputs, array order) and the simulator
    (the cycle counter), input by input."""
    xq = np.atleast_2d(np.asarray(inputs_int, dtype=np.int64))
    rtl = RungResult("rtl", np.asarray(outputs, dtype=np.int64), np.asarray(cycles, np.int64), 0.0)
    return compare(run("reference", program, xq), rtl, run("sim", program, xq))
