"""``zeroskip compile MODEL -o PROGDIR``: lower a compressed model onto the accelerator.

MODEL is a compressed model file, an interchange ``.npz`` (``codebook_i``, ``codes_i``,
``bias_i``, ``act_i`` per layer), a weight-shared ONNX model (``zeroskip.models.onnx``,
docs/onnx.md) or a folded binary model (``zeroskip.models.binary_ref.save``, e.g.
``zeroskip compress binary-mlp -o``). ``--calibration X.npy`` (float [batch, in]) sets the
fixed-point scales from real inputs; without it inputs are assumed in [-1, 1] and the scales
come from a guaranteed bound (docs/fixed-point.md). ``-o`` replaces only a previous program
directory (docs/cli.md, "Output paths").
"""

from __future__ import annotations

import time

import numpy as np

from zeroskip.hw.arch import add_arch_arguments, arch_from_args
from zeroskip.hw.program import OP_MAX
from zeroskip.progress import Progress


def add_arguments(parser) -> None:
    parser.add_argument("model", help="compressed model file, interchange .npz, weight-shared "
                                      "ONNX model or folded binary model")
    add_arch_arguments(parser)
    parser.add_argument("--balance", action="store_true",
                        help="permute rows so PEs get even work (outputs keep the model's order)")
    parser.add_argument("--block-pools", action="store_true",
                        help="conv followed by a 2x2 max pool: compute 2x2 blocks of output "
                             "pixels per pass (the same outputs, fewer cycles; docs/conv.md)")
    parser.add_argument("--row-passes", action="store_true",
                        help="depthwise convs with 'same' padding: compute a whole output row "
                             "per pass (the same outputs, fewer cycles; docs/conv.md)")
    parser.add_argument("--calibration", metavar="X.npy",
                        help="inputs [batch, in] of real values (any numeric dtype) that set the "
                             "fixed-point scales")
    parser.add_argument("--input-frac", type=int, default=None,
                        help="fractional bits of the input activations (default: from the range)")
    parser.add_argument("-o", "--output", required=True, metavar="PROGDIR",
                        help="program directory to write (replaces only a previous program "
                             "directory, atomically)")


def load_calibration(path: str) -> np.ndarray:
    """Real inputs float64 [batch, in] (``zeroskip.inputs``: the rule every input file follows)."""
    from zeroskip.inputs import load_real

    return load_real(path, "--calibration")


def _what(layer, lanes: bool = False, rows: bool = False) -> str:
    """A sparse layer's kind as the summary says it: its activation, and for a conv or pool its
    window (``conv 5x5/1 relu``, ``max 2x2/2 lanes``, ``conv 3x3/1 pad 1 relu beside 64
    resting``, ``conv 3x3/1 pad 1 relu lanes rows``); ``lanes``: its passes are lane passes
    (docs/timing.md "Lane passes"); ``rows``: row passes (docs/conv.md), the window given per
    row (its k rows, one inside position)."""
    activation = "relu" if layer.relu else "none"
    g = layer.geometry
    if g is None:
        return activation
    window = f"{g.kernel}x{g.kernel}/{g.stride}" + (f" pad {g.pad}" if g.pad else "")
    mode = (" lanes" if lanes else "") + (" rows" if rows else "")
    if g.op == OP_MAX:
        return f"max {window}{mode}"
    # written beside a map resting in its bank (docs/conv.md, "Graphs")
    beside = f" beside {g.channel_base} resting" if g.channel_base else ""
    return f"conv {window} {activation}{mode}{beside}"


def summary(program, seconds: float) -> list[str]:
    """Human-readable lines: per layer its passes, entries and padding; memory use per PE."""
    a = program.arch
    lines = [f"{len(program.layers)} layers, {len(program.passes)} passes on {a.name} "
             f"({a.pes} PEs), compiled in {seconds:.2f} s"]
    for index, (layer, info) in enumerate(zip(program.layers, program.meta["layers"])):
        if info.get("kind") in ("binary", "binary-conv"):
            reads = f"{layer.planes}-bit planes" if layer.planes else "bipolar bits"
            writes = "±1 by threshold" if layer.binarize else "integer dots"
            what = "binary conv" if info["kind"] == "binary-conv" else "binary"
            lines.append(f"  layer {index}: {layer.in_len:>6} -> {layer.out_len:<6} {what}  "
                         f"passes {info['passes']:>3}  lines {info['lines']:>7}  reads {reads}, "
                         f"writes {writes}  busiest PE {info['busiest_pe_weights']} cycles ideal")
            continue
        padding = info["padding"] / max(info["entries"], 1)
        # busiest PE's MACs over the average PE's: 1.00 is a perfectly even split
        imbalance = info["busiest_pe_weights"] * a.pes / max(info["weights"], 1)
        lanes = any(p.lanes for p in program.passes if p.layer == index)
        lines.append(f"  layer {index}: {layer.in_len:>6} -> {layer.out_len:<6} "
                     f"{_what(layer, lanes, info.get('row_passes', False))}  "
                     f"passes {info['passes']:>3}  "
                     f"entries {info['entries']:>9}  padding {padding:6.1%}  "
                     f"busiest PE {info['busiest_pe_weights']:>8} weights (max/mean {imbalance:.2f})  "
                     f"frac in/w/out {layer.in_frac}/{layer.w_frac}/{layer.out_frac}")
    used = {"sparse lines": (program.sparse.shape[1], a.sparse_depth),
            "pointers": (program.ptr.shape[1], a.ptr_depth),
            "bias words": (program.bias.shape[1], a.bias_depth),
            "passes": (len(program.passes), a.max_passes)}
    lines.append("  per PE: " + ", ".join(f"{what} {n}/{cap} ({n / cap:.0%})"
                                         for what, (n, cap) in used.items()))
    return lines


def run(args) -> int:
    from zeroskip.compiler.spatial import compile_spatial
    from zeroskip.hw.tiled import TiledProgram
    from zeroskip.models.interchange import load_model

    progress = Progress(args.quiet)
    arch = arch_from_args(args)
    calibration = load_calibration(args.calibration) if args.calibration else None
    start = time.perf_counter()
    progress(f"compiling {args.model} for {arch.name}")
    from zeroskip.compiler.graph import compile_graph_file, load_graph

    graph = load_graph(args.model)           # a branching graph (concat, add, shuffle), or None
    if graph is not None:
        program = compile_graph_file(args.model, graph, arch, calibration=calibration,
                                     balance=args.balance, input_frac=args.input_frac,
                                     row_passes=args.row_passes)
    else:                                    # tiled over space where a map does not fit
        program = compile_spatial(load_model(args.model), arch, calibration=calibration,
                                  balance=args.balance, input_frac=args.input_frac,
                                  block_pools=args.block_pools, row_passes=args.row_passes)
    program.meta["source"] = str(args.model)
    seconds = time.perf_counter() - start
    program.save(args.output)
    if not args.quiet:
        lines = tiled_summary(program, seconds) if isinstance(program, TiledProgram) else \
            summary(program, seconds)
        print("\n".join(lines))
        print(f"wrote {args.output}")
    return 0


def tiled_summary(tiled, seconds: float) -> list[str]:
    """A tiled program's plan (docs/conv.md "Spatial tiling"), then each part's summary."""
    lines = []
    for number, stage in enumerate(tiled.stages):
        height, width, _ = stage.in_map
        shapes = sorted({tuple(tiled.parts[t["program"]].meta["spatial_tile"]["shape"])
                         for t in stage.tiles})
        source = "input" if not number else "stitched"
        lines.append(f"tiled over space: layers {stage.first}..{stage.end - 1} run as "
                     f"{len(stage.tiles)} tiles of the {source} {height}x{width} map "
                     f"({', '.join('%dx%d' % s for s in shapes)}, halos included)")
    if tiled.tail is not None:
        height, width, _ = tiled.out_map
        lines.append(f"the rest runs as one program on the stitched {height}x{width} map")
    lines[-1] += f"; compiled in {seconds:.2f} s"
    for name, program in tiled.parts.items():
        runs = tiled.runs(name)
        lines.append(f"{name} ({runs} run{'s' if runs > 1 else ''} per input):")
        lines += ["  " + line for line in summary(program, 0.0)[1:]]
    return lines
