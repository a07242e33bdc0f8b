"""``zeroskip verify PROGDIR``: run a compiled program on the generated Verilog under cocotb
(Icarus or Verilator) and check every input: outputs bit-exact against the numpy reference,
the RTL's cycle counter equal to the cycle simulator's count.

Exit 0 when every input passes, 1 on a mismatch (the first differing output index with both
values, or both cycle counts) or an RTL failure (a run that does not finish within the
simulator's cycle count with margin, or within its wall-clock limit, is a FAIL, never a hang),
2 on bad input (a program for another configuration than the gateware, images that do not fit,
an unreadable input file, no simulator). docs/cli.md has the input-file rule.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.files import write_atomic
from zeroskip.hw.arch import CLI_OVERRIDES, add_arch_arguments, arch_from_args, with_overrides
from zeroskip.hw.tiled import TiledProgram, load_any
from zeroskip.progress import Progress

RANDOM_INPUTS = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", metavar="PROGDIR", help="compiled program directory")
    parser.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus",
                        help="RTL simulator (default icarus: fastest to build)")
    parser.add_argument("--count", type=int, default=None,
                        help=f"inputs to run (default: all of --input, else {RANDOM_INPUTS})")
    parser.add_argument("--input", metavar="X.npy", default=None,
                        help="inputs [n, in] or [in]: real values, quantized with the program's "
                             "input scale (default: seeded random inputs)")
    parser.add_argument("--quantized", action="store_true",
                        help="--input holds integer activations, taken as they are")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--waves", metavar="FILE", default=None,
                        help="write the waveform to FILE: .vcd or .fst (Icarus: both; Verilator: "
                             ".vcd, .fst when its lz4 headers are installed)")
    parser.add_argument("--bus-load", action="store_true",
                        help="load the program over the Wishbone bus instead of from its hex "
                             "images at simulation start (slower, exercises the load path)")
    parser.add_argument("--wall-seconds", type=float, default=None,
                        help="wall-clock limit of one RTL run (default: the RTL tooling's)")
    parser.add_argument("--clear-cache", action="store_true",
                        help="empty the RTL build cache ($ZEROSKIP_RTL_CACHE, default "
                             "~/.cache/zeroskip/rtl) first")
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
    from zeroskip.inputs import program_inputs

    if args.count is not None and args.count < 1:
        raise ZeroskipError(f"--count must be at least 1, got {args.count}")
    if args.input is None:
        if args.quantized:
            raise ZeroskipError("--quantized describes --input, which is not given")
        count = args.count or RANDOM_INPUTS
        rng = np.random.default_rng(args.seed)
        x = rng.uniform(-1.0, 1.0, (count, program.in_len))
        x[rng.random(x.shape) < 0.5] = 0.0
        return quantize_input(program, x), (f"no --input: {count} seeded random inputs (seed "
                                            f"{args.seed}, uniform in [-1, 1], half of them zero)")
    xq = program_inputs(args.input, program, args.quantized, count=args.count)
    how = "integer activations" if args.quantized else "inputs, quantized"
    return xq, f"{len(xq)} {how} from {args.input}"


def run(args) -> int:
    from zeroskip.hw.rtl.build import clear_cache
    from zeroskip.hw.regmap import check_compatible
    from zeroskip.hw.rtl.run import RtlTimeout, build_and_run
    from zeroskip.hw.rtl.toolchain import require_simulator
    from zeroskip.ladder import check_rtl
    from zeroskip.sim import simulate_int

    progress = Progress(getattr(args, "quiet", False))
    if args.wall_seconds is not None and not 0 < args.wall_seconds < float("inf"):
        raise ZeroskipError(f"--wall-seconds {args.wall_seconds}: must be a positive number")
    if args.waves is not None and not str(args.waves).endswith((".vcd", ".fst")):
        raise ZeroskipError(f"--waves {args.waves}: name a .vcd or .fst file")
    if args.clear_cache:
        cleared = clear_cache()
        print(f"removed {cleared['removed']} builds ({cleared['bytes'] / 2**20:.0f} MB) from "
              f"{cleared['root']}, {cleared['kept']} in use kept")
    program = load_any(args.program)
    arch = gateware_arch(args, program)
    tiled = isinstance(program, TiledProgram)
    for name, part in (program.parts.items() if tiled else [("", program)]):
        check_compatible(part, arch, where=f"program {os.path.join(args.program, name)}")
    xq, source = load_inputs(args, program)
    if args.rungs is not None:
        return run_rungs(args, program, xq, source, progress)
    simulator = require_simulator(args.simulator)
    if tiled:
        return verify_tiled(args, program, arch, xq, source, simulator, progress)
    print(source)
    how = "loaded over the bus" if args.bus_load else "from its hex images at simulation start"
    progress(f"generating and building '{arch.name}' ({arch.pes} PEs) for {simulator}, program {how}")
    expected = simulate_int(program, xq).cycles
    waves = None
    if args.waves is not None:           # a hidden name next to the file, renamed when complete
        target = Path(args.waves)
        waves = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        result = build_and_run(arch, program, xq, simulator, waves=waves, bus_load=args.bus_load,
                               expected_cycles=expected, wall_seconds=args.wall_seconds,
                               label=args.program)
    except RtlTimeout as error:
        _discard(waves)
        print(f"FAIL: {error}")
        return 1
    except BaseException:
        _discard(waves)
        raise
    progress(f"{simulator}: built in {result.build.seconds:.1f} s"
             f"{' (cached)' if result.build.cached else ''}, ran {len(xq)} inputs in "
             f"{result.run_seconds:.1f} s")
    checks = check_rtl(program, xq, result.outputs, result.cycles)
    for check in checks:
        print(check.describe())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)}/{len(checks)} inputs PASS on {simulator} "
          f"(ID {result.fingerprint:#010x})")
    if waves is not None:
        if not waves.exists():
            raise ZeroskipError(f"--waves {args.waves}: the simulator wrote no waveform")
        os.replace(waves, args.waves)
        print(f"waveform: {args.waves}")
    if args.json:
        report = {"program": args.program, "simulator": simulator, "inputs": source,
                  "passed": not failed,
                  "results": [{"index": c.index, "ok": c.ok, "rtl_cycles": c.rtl_cycles,
                               "sim_cycles": c.sim_cycles, "first_difference": c.first_difference,
                               "differing_outputs": c.differing_outputs} for c in checks]}
        write_atomic(args.json, json.dumps(report, indent=1))
    return 1 if failed else 0


def _discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def verify_tiled(args, tiled, arch, xq, source: str, simulator: str, progress) -> int:
    """``zeroskip verify`` on a program tiled over space (docs/conv.md "Spatial tiling"): every
    part on the RTL with the crops (or the stitched maps) it runs, each run against the
    reference and the simulator; then each input's stitched result against the reference's."""
    from zeroskip.hw.rtl.run import RtlTimeout, build_and_run
    from zeroskip.ladder import check_rtl, run as rung_run

    if args.waves is not None:
        raise ZeroskipError(f"--waves: {args.program} is tiled over space; give one part's "
                            f"directory (for example {os.path.join(args.program, 'tail')})")
    print(source)
    failed_runs, report = [], {}

    def rtl(name, program, inputs):
        progress(f"{simulator}: {name}, {len(inputs)} runs")
        result = build_and_run(arch, program, inputs, simulator, bus_load=args.bus_load,
                               expected_cycles=rung_run("sim", program, inputs).cycles,
                               wall_seconds=args.wall_seconds, label=f"{args.program}/{name}")
        checks = check_rtl(program, inputs, result.outputs, result.cycles)
        bad = [c for c in checks if not c.ok]
        failed_runs.extend((name, c) for c in bad)
        print(f"{name}: {len(checks) - len(bad)}/{len(checks)} runs PASS on {simulator}")
        for check in bad[:3]:
            print(f"  {name} run {check.describe()}")
        report[name] = {"runs": len(checks), "passed": len(checks) - len(bad)}
        return result.outputs, result.cycles

    try:
        outputs, cycles, _ = tiled.run(xq, rtl)
    except RtlTimeout as error:
        print(f"FAIL: {error}")
        return 1
    want = rung_run("reference", tiled, xq).outputs
    spec = rung_run("sim", tiled, xq).cycles
    wrong = 0
    for i in range(len(xq)):
        bad = np.flatnonzero(outputs[i] != want[i])
        ok = not bad.size and cycles[i] == spec[i]
        wrong += not ok
        print(f"input {i}: {'PASS' if ok else 'FAIL'}  RTL {int(cycles[i])} cycles over "
              f"{len(tiled.tiles)} tiles{' and the tail' if tiled.tail else ''}, simulator "
              f"{int(spec[i])}" + (f"; output {int(bad[0])}: RTL {int(outputs[i][bad[0]])}, "
                                   f"reference {int(want[i][bad[0]])}" if bad.size else ""))
    passed = not wrong and not failed_runs
    print(f"{len(xq) - wrong}/{len(xq)} inputs PASS on {simulator}, tiled over space "
          f"({len(tiled.tiles)} tiles)")
    if args.json:
        write_atomic(args.json, json.dumps({"program": args.program, "simulator": simulator,
                                            "inputs": source, "passed": passed,
                                            "parts": report}, indent=1))
    return 0 if passed else 1


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

