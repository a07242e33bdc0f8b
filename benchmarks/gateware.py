"""The gateware: Verilog generation cost and Amaranth-simulation speed (bit- and cycle-exact
against the reference and the cycle simulator). FPGA resources: ``benchmarks/synth.py``.

Cases:
- `verilog small/N`: `zeroskip.hw.gateware.verilog.generate` for the `small` preset at N PEs (4, 8, 16;
  `--eie64` adds the 64-PE EIE configuration, which takes many minutes).
- `amaranth-sim`: a 96-48-10 MLP (25 % weights, compiled by `compile_layers`) on `small` with
  4 PEs, memories initialised at elaboration, 3 inputs at 50 % density run through the Wishbone
  bus by the host driver (input writes, start, status polls, output reads); wall time includes
  elaboration; `clock_cycles` counts every simulated clock, `program_cycles` the accelerator's
  own counts (checked equal to `zeroskip.sim`).

    .venv/bin/python benchmarks/gateware.py [--eie64] [--json]
"""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.hw.arch import PRESETS, with_overrides
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.hw.gateware.verilog import generate
from zeroskip.sim import simulate_int

from measure import best_of


def verilog_rows(eie64: bool) -> list[dict]:
    rows = []
    cases = [("small", 4), ("small", 8), ("small", 16)] + ([("eie64", 64)] if eie64 else [])
    for preset, pes in cases:
        arch = with_overrides(PRESETS[preset], pes=pes)
        wall, cpu, result = best_of(1, lambda: generate(arch))
        rows.append({"case": f"verilog {preset}/{pes}", "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
                     "verilog_kib": len(result["verilog"]) // 1024})
    return rows


def mlp(arch, rng):
    layers = []
    for n_in, n_out, act in ((96, 48, "relu"), (48, 10, "none")):
        codes = np.where(rng.random((n_out, n_in)) < 0.25, rng.integers(1, 16, (n_out, n_in)), 0)
        codebook = np.linspace(-0.5, 0.5, 16).astype(np.float32)
        codebook[0] = 0.0
        layers.append(SimpleNamespace(codebook=codebook, codes=codes, act=act,
                                      bias=rng.normal(0, 0.05, n_out).astype(np.float32)))
    return layers


def amaranth_sim_row(inputs: int = 3) -> dict:
    from amaranth.sim import Simulator

    from zeroskip.hw.host import Host
    from zeroskip.hw.gateware.top import Accelerator
    from zeroskip.hw.gateware.wishbone import SimBus

    arch = with_overrides(PRESETS["small"], pes=4)
    rng = np.random.default_rng(0)
    x = rng.random((inputs, 96)) * (rng.random((inputs, 96)) < 0.5)
    program = compile_layers(mlp(arch, rng), arch, calibration=x)
    xq = quantize_input(program, x)
    top = Accelerator(arch, program)
    results, ticks = [], []

    async def bench(ctx):
        bus = SimBus(ctx, top.bus)
        host = Host(arch, bus.read, bus.write)
        await host.load_program(program, write_images=False)
        for row in xq:
            results.append(await host.run(row))
        ticks.append(bus.ticks)

    def run():
        sim = Simulator(top)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        sim.run()
        return sim

    wall, cpu, _ = best_of(1, run)
    exact = all(np.array_equal(out, predict_int(program, row[None])[0]) and
                cycles == simulate_int(program, row[None]).cycles
                for row, (out, cycles) in zip(xq, results))
    program_cycles = sum(c for _, c in results)
    return {"case": "amaranth-sim small/4, 96-48-10", "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
            "program_cycles": program_cycles, "clock_cycles": ticks[0],
            "clock_cycles_per_s": round(ticks[0] / wall),
            "bit_and_cycle_exact": exact}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eie64", action="store_true", help="also generate eie64 (slow)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    rows = verilog_rows(args.eie64) + [amaranth_sim_row()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        print(" | ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
