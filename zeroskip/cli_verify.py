"""``zeroskip verify PROGDIR``: run a compiled program on the generated Verilog under cocotb
(Icarus or Verilator) and check every input: outputs bit-exact against the numpy reference,
the RTL's cycle counter equal to the cycle simulator's count.

Exit 0 when every input passes, 1 on a mismatch (the first differing output index with both
values, or both cycle counts), 2 on bad input (a program for another configuration than the
gateware, images that do not fit, an unreadable input file, no simulator).
"""

from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.files import write_atomic
from zeroskip.hw.arch import CLI_OVERRIDES, add_arch_arguments, arch_from_args, with_overrides
from zeroskip.hw.program import load_program
from zeroskip.progress import Progress

RANDOM_INPUTS = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", metavar="PROGDIR", help="compiled program directory")
    parser.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus",
                        help="RTL simulator (default icarus: fastest to build)")
    parser.add_argument("--count", type=int, default=None,
                        help=f"inputs to run (default: all of --input, else {RANDOM_INPUTS})")
    parser.add_argument("--input", metavar="X.npy", default=None,
                        help="inputs [n, in] or [in]: float (quantized like the compiler's "
                             "calibration) or integer activations; default: seeded random")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--waves", action="store_true", help="record a waveform (path printed)")
    parser.add_argument("--bus-load", action="store_true",
                        help="load the program over the Wishbone bus instead of baking it into "
                             "the Verilog's memory init (slower, exercises the load path)")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the results as JSON")
    parser.add_argument("--rungs", metavar="LIST", default=None,
                        help="run these rungs of the verification ladder instead, comma-separated, "
                             "the first one the reference for outputs, the simulator for cycles "
                             "(of: reference, sim, amaranth, icarus, verilator)")
    add_arch_arguments(parser, default=None)
    parser.epilog = "--arch and the overrides name the gateware's configuration (default: the program's own)."


def gateware_arch(args, program):
    """The configuration to generate: the program's own unless --arch / overrides say otherwise."""
    if getattr(args, "arch", None) is not None:
        return arch_from_args(args)
    overrides = {name: getattr(args, f"arch_{name}", None) for name in CLI_OVERRIDES.values()}
    return with_overrides(program.arch, **overrides)


def load_inputs(args, program) -> tuple[np.ndarray, str]:
    """Integer activations [n, in] and a sentence saying where they came from."""
    from zeroskip.hw.reference import quantize_input

    if args.count is not None and args.count < 1:
        raise ZeroskipError(f"--count must be at least 1, got {args.count}")
    if args.input is None:
        count = args.count or RANDOM_INPUTS
        rng = np.random.default_rng(args.seed)
        x = rng.uniform(-1.0, 1.0, (count, program.in_len))
        x[rng.random(x.shape) < 0.5] = 0.0
        return quantize_input(program, x), (f"no --input: {count} seeded random inputs (seed "
                                            f"{args.seed}, uniform in [-1, 1], half of them zero)")
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ZeroskipError(f"--input {args.input}: not a readable .npy array ({error})") from None
    x = np.atleast_2d(x)
    if x.ndim != 2 or x.shape[1] != program.in_len:
        raise ZeroskipError(f"--input {args.input}: shape {x.shape}, the program takes "
                            f"[{program.in_len}] or [n, {program.in_len}]")
    if args.count is not None:
        x = x[:args.count]
    if np.issubdtype(x.dtype, np.integer):
        from zeroskip.hw.fixedpoint import signed_range
        low, high = signed_range(program.arch.act_bits)
        if x.size and (x.min() < low or x.max() > high):
            raise ZeroskipError(f"--input {args.input}: integer activations outside "
                                f"{program.arch.act_bits}-bit signed")
        return x.astype(np.int64), f"{len(x)} integer inputs from {args.input}"
    if not np.issubdtype(x.dtype, np.floating):
        raise ZeroskipError(f"--input {args.input}: dtype {x.dtype} is neither float nor integer")
    return quantize_input(program, x), f"{len(x)} float inputs from {args.input}, quantized"


def run(args) -> int:
    from zeroskip.hw.rtl.run import build_and_run, check_compatible
    from zeroskip.hw.rtl.toolchain import require_simulator
    from zeroskip.ladder import check_rtl

    progress = Progress(getattr(args, "quiet", False))
    program = load_program(args.program)
    arch = gateware_arch(args, program)
    check_compatible(program, arch, where=f"program {args.program}")
    xq, source = load_inputs(args, program)
    if args.rungs is not None:
        return run_rungs(args, program, xq, source, progress)
    simulator = require_simulator(args.simulator)
    print(source)
    how = "loaded over the bus" if args.bus_load else "in the memories' initial contents"
    progress(f"generating and building '{arch.name}' ({arch.pes} PEs) for {simulator}, program {how}")
    workdir = tempfile.mkdtemp(prefix="zeroskip-verify-") if args.waves else None
    result = build_and_run(arch, program, xq, simulator, waves=args.waves, bus_load=args.bus_load,
                           workdir=workdir)
    progress(f"{simulator}: built in {result.build.seconds:.1f} s"
             f"{' (cached)' if result.build.cached else ''}, ran {len(xq)} inputs in "
             f"{result.run_seconds:.1f} s")
    checks = check_rtl(program, xq, result.outputs, result.cycles)
    for check in checks:
        print(check.describe())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)}/{len(checks)} inputs PASS on {simulator} "
          f"(ID {result.fingerprint:#010x})")
    if result.waves is not None:
        print(f"waveform: {result.waves}")
    elif args.waves:
        print(f"waveform: see {workdir}")
    if args.json:
        report = {"program": args.program, "simulator": simulator, "inputs": source,
                  "passed": not failed,
                  "results": [{"index": c.index, "ok": c.ok, "rtl_cycles": c.rtl_cycles,
                               "sim_cycles": c.sim_cycles, "first_difference": c.first_difference,
                               "differing_outputs": c.differing_outputs} for c in checks]}
        write_atomic(args.json, json.dumps(report, indent=1))
    return 1 if failed else 0


def run_rungs(args, program, xq, source: str, progress) -> int:
    """``--rungs``: the ladder's rungs on the same inputs, one verdict per rung, one report."""
    from zeroskip.ladder import climb

    rungs = [r.strip() for r in args.rungs.split(",") if r.strip()]
    print(source)
    progress(f"running {', '.join(rungs)} on {len(xq)} inputs")
    report = climb(program, xq, rungs, bus_load=args.bus_load)
    for rung in rungs:
        result = report["results"][rung]
        first = result["mismatches"][0] if result["mismatches"] else None
        detail = "" if first is None else (f"; input {first['input']}: first difference "
                                           f"{first['first_difference']}, cycles "
                                           f"{first['cycles']} vs simulator {first['sim_cycles']}")
        print(f"{rung:<10} {'PASS' if result['passed'] else 'FAIL'}  {result['seconds']:8.2f} s"
              f"{detail}")
    print(f"{'PASS' if report['passed'] else 'FAIL'}: {', '.join(rungs)} on {len(xq)} inputs")
    if args.json:
        report.update(program=args.program, inputs_from=source)
        write_atomic(args.json, json.dumps(report, indent=1) + "\n")
    return 0 if report["passed"] else 1

