"""``zeroskip sim PROGDIR``: run a compiled program through the cycle-accurate simulator.

Prints a per-layer table (cycles, ideal cycles, efficiency, MACs, energy), and optionally writes
the outputs (``--output``), a JSON report (``--json``) and plots (``--plot``).
"""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np

from zeroskip.files import write_atomic

from zeroskip.errors import ZeroskipError
from zeroskip.table import format_table as render
from zeroskip.progress import Progress

#: activation density of the seeded random input used without --input (EIE's AlexNet FC layers
#: see 35 % non-zero activations, Table III)
DEFAULT_DENSITY = 0.35
#: largest seeded random batch (a file gives more)
MAX_RANDOM_BATCH = 100_000


def add_arguments(parser) -> None:
    parser.add_argument("program", metavar="PROGDIR", help="compiled program directory")
    parser.add_argument("--input", metavar="X.npy",
                        help="input [in] or [batch, in] of real values, whatever the dtype, "
                             "quantized with the program's input scale (default: seeded random, "
                             "see --density); docs/cli.md")
    parser.add_argument("--quantized", action="store_true",
                        help="--input holds integer activations, already quantized")
    parser.add_argument("--labels", metavar="Y.npy", default=None,
                        help="integer class labels [batch] of --input: report the accuracy too")
    parser.add_argument("--output", metavar="Y.npy", help="write the float32 outputs (logical order)")
    parser.add_argument("--json", metavar="REPORT", help="write a JSON report")
    parser.add_argument("--energy", metavar="TABLE",
                        help="energy table (default: derived from the program's architecture, "
                             "zeroskip energy --arch NAME)")
    parser.add_argument("--plot", metavar="DIR", help="write PNG plots of per-PE work and energy")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input")
    parser.add_argument("--density", type=float, default=DEFAULT_DENSITY,
                        help="non-zero fraction of the random input")
    parser.add_argument("--batch", type=int, default=1, help="random inputs to simulate")
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument("--clock-mhz", type=float, default=None, metavar="MHZ",
                       help="price time and power at this clock, not the architecture's")
    clock.add_argument("--build-report", metavar="FILE.json", default=None,
                       help="the clock a `zeroskip build --json` report achieved (docs/board.md)")


def load_input(path: str) -> np.ndarray:
    """One ``.npy`` input array (``zeroskip.inputs.load_array``: numeric, [in] or [batch, in])."""
    from zeroskip.inputs import load_array

    return load_array(path, "--input")


def label_accuracy(program, outputs: np.ndarray, path: str) -> float:
    """The fraction of inputs whose top-scoring class is the label in ``path``."""
    from zeroskip.inputs import load_array

    labels = load_array(path, "--labels")
    scores = np.atleast_2d(program.class_scores(outputs))
    if labels.ndim != 1 or len(labels) != len(scores) or labels.dtype.kind not in "iu":
        raise ZeroskipError(f"--labels {path}: expected {len(scores)} integer labels [batch], "
                            f"got {labels.dtype} {labels.shape}")
    return float(np.mean(scores.argmax(axis=1) == labels))


def random_input(in_len: int, batch: int, density: float, seed: int) -> np.ndarray:
    """Non-negative activations (as after a ReLU), ``density`` of them non-zero."""
    if not 0.0 <= density <= 1.0:
        raise ZeroskipError(f"--density must be in 0..1, got {density}")
    if not 1 <= batch <= MAX_RANDOM_BATCH:
        raise ZeroskipError(f"--batch must be in 1..{MAX_RANDOM_BATCH}, got {batch}")
    rng = np.random.default_rng(seed)
    x = rng.random((batch, in_len)) * (rng.random((batch, in_len)) < density)
    return (x[0] if batch == 1 else x).astype(np.float32)


#: what each column of the table means (printed under it)
LEGEND = ("cycles: per input, as the RTL's counter reads them; ideal: the busiest PE's MACs per "
          "pass, summed; effic.: ideal / cycles; MACs: non-zero weight x non-zero activation "
          "products; padding: filler entries issued (zero runs longer than the run field); "
          "window: cycles conv windows spent on kernel positions in the zero padding "
          "(docs/conv.md); stall(b): cycles the broadcast waited for a full queue (a conv "
          "window's patch gather included); clipped: outputs saturated at act_bits; all per "
          "input (the mean over the batch)")


#: the per-layer table's columns and formats (plain and tiled programs)
LAYER_COLUMNS = ["layer", "cycles", "ideal", "effic.", "MACs", "padding", "window", "stall(b)",
                 "clipped", "energy nJ"]
LAYER_FORMATS = ["", ".0f", ".0f", ".1%", ".0f", ".0f", ".0f", ".0f", ".1f", ".2f"]


def layer_row(layer: dict, inputs: int = 1) -> list:
    """One row of the per-layer table from a layer of ``SimResult.summary()`` (totals over
    ``inputs`` inputs) or of ``TiledSimResult.layer_rows()`` (per input)."""
    return [layer["name"], layer["cycles"] / inputs, layer["ideal_cycles"] / inputs,
            layer["efficiency"], layer["macs"] / inputs, layer["padding_entries"] / inputs,
            layer["window_padding_cycles"] / inputs, layer["broadcast_stall_cycles"] / inputs,
            layer["clipped_activations"] / inputs, layer["energy_pj"] / inputs / 1000]


def format_table(result) -> str:
    b = result.batch
    summary = result.summary()
    rows = [layer_row(layer, b) for layer in summary["layers"]]
    total = ["total", result.cycles.mean(), result.ideal_cycles.mean(), summary["efficiency"],
             result.actions["mac"] / b, result.actions["padding_entry"] / b,
             result.layer_padding.sum() / b, result.broadcast_stalls.sum() / b, result.layer_clipped.sum() / b,
             result.energy_pj / b / 1000]
    text = render(LAYER_COLUMNS, rows, LAYER_FORMATS, totals=[total])
    width = max(len(line) for line in text.splitlines())
    per = "per input (mean over the batch of %d)" % b if b > 1 else "per input"
    components = ", ".join(f"{k} {v / b / 1000:.2f}" for k, v in result.component_energy_pj.items() if v)
    tail = (f"{per}: {result.time_us.mean():.2f} us at {result.clock_mhz:g} MHz, "
            f"{result.power_mw:.1f} mW; energy nJ by component: {components} "
            f"(priced by {result.energy_table.name})")
    return "\n".join([text, textwrap.fill(tail, width=max(width, 60)),
                      textwrap.fill(LEGEND, width=max(width, 60))])


def run(args) -> int:
    from zeroskip.hw.tiled import TiledProgram, load_any
    from zeroskip.sim import load_energy_table, simulate

    progress = Progress(getattr(args, "quiet", False))
    program = load_any(args.program)
    # a user table is checked before the run; None: derived from the (repriced) architecture
    table = load_energy_table(args.energy) if args.energy else None
    clock_mhz = args.clock_mhz
    if args.build_report is not None:
        from zeroskip.hw.fpga.report import achieved_clock_mhz

        clock_mhz = achieved_clock_mhz(args.build_report)
    if clock_mhz is not None:       # the clock shapes no hardware: the same program, repriced
        if not 0 < clock_mhz <= 10_000:
            raise ZeroskipError(f"--clock-mhz {clock_mhz:g}: must be in (0, 10000]")
        import dataclasses

        program.arch = dataclasses.replace(program.arch, clock_mhz=clock_mhz)
        if isinstance(program, TiledProgram):
            for part in program.parts.values():
                part.arch = program.arch
    if args.quantized and not args.input:
        raise ZeroskipError("--quantized describes --input; give --input too")
    if args.labels and not args.input:
        raise ZeroskipError("--labels describes --input; give --input too")
    if args.input:
        from zeroskip.inputs import activations

        x = load_input(args.input)
        xq = activations(x, program, args.quantized, f"--input {args.input}")
        source = args.input
    else:
        x = random_input(program.in_len, args.batch, args.density, args.seed)
        xq = None
        source = f"seeded random input (seed {args.seed}, {args.density:.0%} non-zero, batch {args.batch})"
        print(f"no --input: using a {source}")
        try:
            from zeroskip.hw.reference import quantize_input
            quantize_input(program, x)
        except ZeroskipError as error:
            raise ZeroskipError(f"input: {error}") from None
    progress(f"simulating {args.program} on {program.arch.name} ({program.arch.pes} PEs)")
    if isinstance(program, TiledProgram):
        return _run_tiled(args, program, x, xq, table, source, progress)
    if xq is None:
        result = simulate(program, x, energy_table=table)
    else:
        from zeroskip.sim import simulate_int

        result = simulate_int(program, xq, energy_table=table)
        if x.ndim == 1:
            result.outputs = result.outputs[0]
    progress("done")
    print(format_table(result))
    report_outputs(args, program, result, result.outputs, source)
    if args.plot:
        from zeroskip.files import write_files_atomic
        from zeroskip.sim.plots import write_plots
        for path in write_files_atomic(args.plot, lambda tmp: write_plots(result, tmp)):
            progress(f"wrote {path}")
    return 0


def format_tiled_table(result) -> str:
    """A tiled program's layers (each summed over the parts that run it), then its parts: the
    tile programs (run once per tile of their shape) and the tail, per input."""
    layers = render(LAYER_COLUMNS, [layer_row(r) for r in result.layer_rows()], LAYER_FORMATS)
    rows = [[r["part"], r["runs"], r["cycles"], r["ideal_cycles"], r["efficiency"], r["macs"],
             r["energy_pj"] / 1000] for r in result.part_rows()]
    s = result.summary()
    total = ["total", len(result.tiled.tiles), result.cycles.mean(),
             s["mean_per_input"]["ideal_cycles"], s["efficiency"], s["mean_per_input"]["macs"],
             s["mean_per_input"]["energy_pj"] / 1000]
    text = render(["part", "runs", "cycles", "ideal", "effic.", "MACs", "energy nJ"], rows,
                  ["", "d", ".0f", ".0f", ".1%", ".0f", ".2f"], totals=[total])
    width = max(len(line) for line in text.splitlines())
    per = "per input (mean over the batch of %d)" % result.batch if result.batch > 1 else "per input"
    tail = (f"{per}: {result.time_us.mean():.2f} us at {result.clock_mhz:g} MHz, "
            f"{result.power_mw:.1f} mW (priced by {result.energy_table.name}). Tiled over space "
            "(docs/conv.md): a layer's figures are summed over every part that runs it, runs "
            "are per input; the halos' MACs count in the ideal cycles; the crops' and tiles' "
            "transfers are the host's and not counted.")
    return "\n".join([layers, "", text, textwrap.fill(tail, width=max(width, 60)),
                      textwrap.fill(LEGEND, width=max(width, 60))])


def _run_tiled(args, tiled, x, xq, table, source, progress) -> int:
    """``zeroskip sim`` on a program tiled over space: every part through the simulator."""
    from zeroskip.hw.reference import quantize_input
    from zeroskip.sim.tiled import simulate_tiled

    if args.plot:
        raise ZeroskipError(f"--plot: {args.program} is tiled over space; plot a part "
                            f"(`zeroskip sim {os.path.join(args.program, 'tail')} --plot DIR`)")
    if xq is None:
        xq = quantize_input(tiled, np.atleast_2d(x))
    result = simulate_tiled(tiled, xq, energy_table=table)
    progress("done")
    print(format_tiled_table(result))
    outputs = result.outputs[0] if x is not None and np.ndim(x) == 1 else result.outputs
    report_outputs(args, tiled, result, outputs, source)
    return 0


def report_outputs(args, program, result, outputs: np.ndarray, source: str) -> None:
    """What ``sim`` does with a result after its table: the accuracy on ``--labels``, the
    ``--output`` file and the ``--json`` report."""
    accuracy = None
    if args.labels:
        accuracy = label_accuracy(program, result.outputs, args.labels)
        print(f"accuracy: {accuracy:.2%} on {np.atleast_2d(result.outputs).shape[0]} inputs "
              f"(--labels {args.labels})")
    if args.output:
        write_atomic(args.output, lambda f: np.save(f, outputs.astype(np.float32)))
    if args.json:
        report = result.summary()
        report["program"] = os.path.abspath(args.program)
        report["input"] = source
        if accuracy is not None:
            report["accuracy"] = accuracy
            report["labels"] = args.labels
        write_atomic(args.json, lambda f: f.write(json.dumps(report, indent=1).encode()))
