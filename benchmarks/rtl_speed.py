"""Simulation speed of the accelerator on each rung of the verification ladder: clock cycles
simulated per second under Icarus and Verilator (cocotb), Amaranth's Python simulator, and the
cycle simulator ``zeroskip.sim``, on the same programs and inputs.

For the RTL rungs the figure is the clock cycles the simulator advanced while running the
inputs (input writes over the bus, the run, status polls, output reads) per second of wall time
in the testbench; the program is loaded from its hex images at simulation start, and build time is excluded
(reported separately). ``zeroskip.sim`` models only the accelerator's own cycles (its cycle
counter), so its rate is accelerator cycles per CPU second. Every rung's outputs are checked
against the reference.

Cases: ``mlp4`` a synthetic 256-128-64 network (20 % weights) on 4 PEs; ``lenet16`` the shape
of LeNet-300-100 (784-300-100-10 at 8/9/26 %, synthetic weights) on 16 PEs (Amaranth skipped
unless ``--amaranth-lenet``: minutes per image).

``--second-program``: one build per architecture. In an empty build cache (a temporary
``$ZEROSKIP_RTL_CACHE``), the wall time of verifying a first program of the case's architecture
(generate the Verilog, build, run) against that of a second, different program (seed + 1) on
the same architecture: only its simulation, the build reused.

    .venv/bin/python benchmarks/rtl_speed.py [--inputs 4] [--cases mlp4 lenet16] [--json]
    .venv/bin/python benchmarks/rtl_speed.py --second-program --cases lenet16 --rungs verilator
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.hw.arch import PRESETS
from zeroskip.models.interchange import SharedLayer as Layer
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.hw.rtl.run import build_and_run
from zeroskip.hw.rtl.toolchain import require_simulator
from zeroskip.sim import simulate_int



def synthetic(rng, shape: list[tuple[int, int, float]]) -> list[Layer]:
    layers = []
    for k, (n_in, n_out, density) in enumerate(shape):
        codes = np.where(rng.random((n_out, n_in)) < density, rng.integers(1, 16, (n_out, n_in)), 0)
        codebook = np.concatenate([[0.0], rng.uniform(-0.3, 0.3, 15)])
        layers.append(Layer(codebook.astype(np.float32), codes.astype(np.uint8),
                            rng.normal(0, 0.05, n_out).astype(np.float32),
                            "none" if k == len(shape) - 1 else "relu"))
    return layers


CASES = {
    "mlp4": (4, [(256, 128, 0.2), (128, 64, 0.2)]),
    "lenet16": (16, [(784, 300, 0.08), (300, 100, 0.09), (100, 10, 0.26)]),
}


def make_case(name: str, inputs: int, seed: int = 0):
    pes, shape = CASES[name]
    rng = np.random.default_rng(seed)
    arch = dataclasses.replace(PRESETS["small"], pes=pes)
    x = rng.uniform(0, 1, (inputs + 64, shape[0][0]))
    x[rng.random(x.shape) < 0.6] = 0.0               # MNIST-like: most pixels zero
    program = compile_layers(synthetic(rng, shape), arch, calibration=x[inputs:])
    return arch, program, quantize_input(program, x[:inputs])


def rtl_rung(simulator, arch, program, xq) -> dict:
    require_simulator(simulator)
    first = time.perf_counter()
    result = build_and_run(arch, program, xq, simulator)
    total = time.perf_counter() - first
    ok = np.array_equal(result.outputs, predict_int(program, xq))
    return {"rung": simulator, "cycles": result.run_sim_cycles, "seconds": result.run_seconds,
            "rate": result.run_sim_cycles / result.run_seconds, "build_s": result.build.seconds,
            "build_cached": result.build.cached, "total_s": total, "outputs_ok": bool(ok)}


def second_program_rung(simulator, name: str, inputs: int) -> dict:
    """First program (cold cache: generate, build, run) against a second one on the same build."""
    require_simulator(simulator)
    saved = os.environ.get("ZEROSKIP_RTL_CACHE")
    timings, results = [], []
    with tempfile.TemporaryDirectory(prefix="zeroskip-bench-cache-") as cache:
        os.environ["ZEROSKIP_RTL_CACHE"] = cache
        try:
            for seed in (0, 1):
                arch, program, xq = make_case(name, inputs, seed=seed)
                start = time.perf_counter()
                result = build_and_run(arch, program, xq, simulator)
                timings.append(time.perf_counter() - start)
                results.append((result, np.array_equal(result.outputs, predict_int(program, xq))))
        finally:
            if saved is None:
                os.environ.pop("ZEROSKIP_RTL_CACHE", None)
            else:
                os.environ["ZEROSKIP_RTL_CACHE"] = saved
    (first, first_ok), (second, second_ok) = results
    return {"rung": f"{simulator} 2nd program", "first_s": timings[0], "second_s": timings[1],
            "ratio": timings[1] / timings[0], "build_s": first.build.seconds,
            "second_cached": second.build.cached,
            "same_build": second.build.directory == first.build.directory,
            "outputs_ok": bool(first_ok and second_ok)}


def amaranth_rung(arch, program, xq) -> dict:
    """The same host driver over Amaranth's Python simulator (program in the memories' init)."""
    from amaranth.sim import Simulator

    from zeroskip.hw.host import Host
    from zeroskip.hw.gateware.top import Accelerator
    from zeroskip.hw.gateware.wishbone import SimBus

    top = Accelerator(arch, program)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    outputs, measured = [], {}

    class CountingContext:
        """Counts the clock edges the testbench waits for (every cycle it simulates)."""

        def __init__(self, ctx):
            self.ctx, self.ticks = ctx, 0

        def __getattr__(self, name):
            return getattr(self.ctx, name)

        def tick(self, *args, **kwargs):
            self.ticks += 1
            return self.ctx.tick(*args, **kwargs)

    async def bench(ctx):
        counting = CountingContext(ctx)
        bus = SimBus(counting, top.bus)
        host = Host(arch, bus.read, bus.write)
        await host.load_program(program, write_images=False)
        start, ticks = time.perf_counter(), counting.ticks
        for x in xq:
            outputs.append((await host.run(x))[0])
        measured.update(seconds=time.perf_counter() - start, cycles=counting.ticks - ticks)

    sim.add_testbench(bench)
    sim.run()
    ok = np.array_equal(np.array(outputs), predict_int(program, xq))
    return {"rung": "amaranth", "cycles": measured["cycles"], "seconds": measured["seconds"],
            "rate": measured["cycles"] / measured["seconds"], "outputs_ok": bool(ok)}


def sim_rung(program, xq, repeat: int = 3) -> dict:
    simulate_int(program, xq)                         # decode the images once (cached)
    best, result = None, None
    for _ in range(repeat):
        start = time.process_time()
        result = simulate_int(program, xq)
        elapsed = time.process_time() - start
        best = elapsed if best is None else min(best, elapsed)
    cycles = int(result.cycles.sum())
    return {"rung": "zeroskip.sim", "cycles": cycles, "seconds": best, "rate": cycles / best,
            "outputs_ok": bool(np.array_equal(result.outputs_int, predict_int(program, xq)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument("--rungs", nargs="+", default=["icarus", "verilator", "amaranth", "sim"])
    parser.add_argument("--amaranth-lenet", action="store_true")
    parser.add_argument("--second-program", action="store_true",
                        help="time a second program of an already built architecture (RTL rungs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.second_program:
        rows = [dict(second_program_rung(rung, name, args.inputs), case=name, inputs=args.inputs)
                for name in args.cases for rung in args.rungs if rung in ("icarus", "verilator")]
        if args.json:
            print(json.dumps(rows, indent=1))
            return
        print(f"{'case':8} {'rung':22} {'first s':>8} {'build s':>8} {'second s':>9} {'ratio':>6} "
              f"{'cached':>6} {'ok':>3}")
        for r in rows:
            print(f"{r['case']:8} {r['rung']:22} {r['first_s']:>8.1f} {r['build_s']:>8.1f} "
                  f"{r['second_s']:>9.1f} {r['ratio']:>6.2f} {str(r['second_cached'] and r['same_build']):>6} "
                  f"{'yes' if r['outputs_ok'] else 'NO':>3}")
        return
    rows = []
    for name in args.cases:
        arch, program, xq = make_case(name, args.inputs)
        accelerator_cycles = int(simulate_int(program, xq).cycles.sum())
        for rung in args.rungs:
            if rung == "amaranth" and name == "lenet16" and not args.amaranth_lenet:
                continue
            if rung in ("icarus", "verilator"):
                row = rtl_rung(rung, arch, program, xq)
            elif rung == "amaranth":
                row = amaranth_rung(arch, program, xq)
            else:
                row = sim_rung(program, xq)
            row.update(case=name, pes=arch.pes, inputs=len(xq), accelerator_cycles=accelerator_cycles)
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'case':8} {'PEs':>3} {'rung':13} {'cycles':>9} {'seconds':>8} {'cycles/s':>10} "
          f"{'build s':>8} {'ok':>3}")
    for r in rows:
        build = f"{r['build_s']:.1f}" + ("c" if r.get("build_cached") else "") if "build_s" in r else "-"
        print(f"{r['case']:8} {r['pes']:>3} {r['rung']:13} {r['cycles']:>9} {r['seconds']:>8.2f} "
              f"{r['rate']:>10.0f} {build:>8} {'yes' if r['outputs_ok'] else 'NO':>3}")


if __name__ == "__main__":
    main()
