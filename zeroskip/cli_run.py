"""``zeroskip run PROGDIR --port /dev/ttyUSB0|sim [--baud B] [--input X.npy] [--output Y.npy]
[--check]``: run a compiled program on a board over its UART link (``zeroskip build --board``),
or on the same design simulated by Verilator behind a pseudo-terminal (``--port sim``).

The host checks the accelerator's ID (the architecture's fingerprint), loads every memory image
over the link, then per input writes the activations, starts the array, polls until done and
reads the outputs and the cycle counter. ``--output`` is the array ``zeroskip sim --output``
writes; ``--check`` compares the outputs with the fixed-point reference and the cycle counter
with the simulator's (exit 1 on a mismatch). A link failure is one line, exit 2 (docs/board.md).
"""

from __future__ import annotations

import asyncio
import sys
import time

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.progress import Progress


def add_arguments(parser) -> None:
    parser.add_argument("program", metavar="PROGDIR", help="compiled program directory")
    parser.add_argument("--port", required=True,
                        help="serial port of the board (/dev/ttyUSB0, COM3), or 'sim': the board's "
                             "design under Verilator behind a pseudo-terminal")
    parser.add_argument("--baud", type=float, default=None,
                        help="the bitstream's UART rate (default 115200; with --port sim: "
                             "the architecture's clock over 4, four clocks per bit)")
    parser.add_argument("--input", metavar="X.npy",
                        help="input [in] or [batch, in] of real values (default: one seeded "
                             "random input, as zeroskip sim)")
    parser.add_argument("--quantized", action="store_true",
                        help="--input holds integer activations, already quantized")
    parser.add_argument("--output", metavar="Y.npy",
                        help="write the float32 outputs (logical order), as zeroskip sim does")
    parser.add_argument("--check", action="store_true",
                        help="compare with the reference (outputs) and the simulator (cycles)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="seconds to wait for each answer on the link (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input")


def _link_settings(args, arch):
    """(baud, clocks per bit of the simulated board or None)."""
    from zeroskip.hw import link
    from zeroskip.hw.fpga.board import DEFAULT_BAUD, SIM_CLOCKS_PER_BIT

    if args.baud is not None and args.baud <= 0:
        raise ZeroskipError(f"--baud {args.baud:g}: must be positive")
    if args.port != "sim":
        return (args.baud or DEFAULT_BAUD), None
    clock_hz = arch.clock_mhz * 1e6
    baud = args.baud or clock_hz / SIM_CLOCKS_PER_BIT
    try:
        return baud, link.clocks_per_bit(clock_hz, baud)
    except ValueError as error:
        raise ZeroskipError(f"--baud {baud:g}: {error}") from None


async def run_on_board(host, program, xq: np.ndarray, limits: list[int], progress,
                       changed_only: bool = False) -> tuple:
    """Load ``program`` (``changed_only``: only the images that differ from the host's last
    load, as between the parts of a tiled program) and run every input row; returns (outputs
    int64 [n, out], cycles [n])."""
    start = time.perf_counter()
    await host.load_program(program, changed_only=changed_only)
    progress(f"program loaded over the link in {time.perf_counter() - start:.1f} s")
    outputs, cycles = [], []
    for i, row in enumerate(xq):
        out, count = await host.run(row, max_cycles=limits[i])
        outputs.append(out)
        cycles.append(count)
        if len(xq) > 1:
            progress(f"input {i + 1}/{len(xq)}: {count} cycles")
    return np.array(outputs, dtype=np.int64), np.array(cycles, dtype=np.int64)


def run(args) -> int:
    from zeroskip.hw.fixedpoint import dequantize
    from zeroskip.hw.host import Host, cycle_limit
    from zeroskip.hw.tiled import load_any
    from zeroskip.hw.transport import DEFAULT_TIMEOUT_S, SerialTransport
    from zeroskip.inputs import activations, load_array
    from zeroskip.ladder import run as rung_run
    from zeroskip.files import write_atomic

    progress = Progress(getattr(args, "quiet", False))
    program = load_any(args.program)
    arch = program.arch
    if args.timeout is not None and args.timeout <= 0:
        raise ZeroskipError(f"--timeout {args.timeout:g}: must be positive")
    if args.quantized and not args.input:
        raise ZeroskipError("--quantized describes --input; give --input too")
    if args.input:
        x = load_array(args.input, "--input")
        xq = activations(x, program, args.quantized, f"--input {args.input}")
        single = x.ndim == 1
    else:
        from zeroskip.hw.reference import quantize_input
        from zeroskip.sim.cli_sim import DEFAULT_DENSITY, random_input

        x = random_input(program.in_len, 1, DEFAULT_DENSITY, args.seed)
        xq = np.atleast_2d(quantize_input(program, x))
        single = True
        print(f"no --input: using a seeded random input (seed {args.seed})")
    baud, sim_divisor = _link_settings(args, arch)

    # the simulator's cycle counts bound each run (and are what --check compares against); a
    # program tiled over space runs part by part, on the board as on every rung
    tiled = hasattr(program, "tiles")
    expected_cycles = rung_run("sim", program, xq).cycles

    board = None
    if args.port == "sim":
        from zeroskip.hw.fpga import simboard

        board = simboard.start(arch, sim_divisor, progress)
        port = board.port
        progress(f"simulated board on {port} ({sim_divisor} clocks per bit)")
    else:
        port = args.port
    try:
        transport = SerialTransport(port, baud, args.timeout or DEFAULT_TIMEOUT_S)
        if board is not None:
            transport.port_name = "sim"
        try:
            host = Host(arch, transport.read, transport.write)
            started = time.perf_counter()

            def on_board(name, one, inputs):     # every part of a tiled program in turn
                limits = [cycle_limit(one, c) for c in rung_run("sim", one, inputs).cycles]
                if tiled:
                    progress(f"{name}: {len(inputs)} runs")
                return asyncio.run(run_on_board(host, one, inputs, limits, progress, tiled))

            if tiled:
                outputs, cycles, _ = program.run(xq, on_board)
            else:
                outputs, cycles = on_board("", program, xq)
            seconds = time.perf_counter() - started
        finally:
            transport.port.close()
    finally:
        if board is not None:
            board.close()

    last = program.layers[-1]
    floats = program.logical_output(dequantize(outputs, last.out_frac).astype(np.float32))
    mean = float(cycles.mean())
    print(f"{len(xq)} input(s) on {args.port}: {mean:.0f} cycles per input (the accelerator's "
          f"counter), {mean / arch.clock_mhz:.2f} us at {arch.clock_mhz:g} MHz; "
          f"{transport.frames} frames in {seconds:.1f} s")
    if args.output:
        write_atomic(args.output, lambda f: np.save(f, floats[0] if single else floats))
    if not args.check:
        return 0
    reference = rung_run("reference", program, xq).outputs
    bad_outputs = [i for i in range(len(xq)) if not np.array_equal(outputs[i], reference[i])]
    bad_cycles = [i for i in range(len(xq)) if cycles[i] != expected_cycles[i]]
    if bad_outputs or bad_cycles:
        for i in bad_outputs[:5]:
            print(f"input {i}: outputs differ from the reference", file=sys.stderr)
        for i in bad_cycles[:5]:
            print(f"input {i}: {cycles[i]} cycles, the simulator counts {expected_cycles[i]}",
                  file=sys.stderr)
        print(f"check FAILED: {len(bad_outputs)} output and {len(bad_cycles)} cycle mismatches "
              f"in {len(xq)} inputs")
        return 1
    print(f"check passed: {len(xq)} input(s), outputs bit-exact with the reference, cycle "
          f"counters equal to the simulator's")
    return 0
