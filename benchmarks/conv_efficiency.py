"""Efficiency of conv layers on the array (docs/conv.md), each against the same layer lowered as
a plain FC layer with the windows unrolled on the host (im2col: one FC pass per output pixel,
the patch sent as the pass's input vector).

Layers (random weights and inputs, seeded; N PEs, ``small`` otherwise):

- a 3x3 conv, 64 → 64 on 14x14 (pad 1), 50 % weights, 40 % non-zero activations;
- a 1x1 conv, 64 → 64 on 14x14, the same densities;
- a depthwise 3x3 conv, 64 channels on 14x14 (pad 1), the same densities, lowered
  block-diagonally (docs/conv.md), and the same compiled as row passes (``row_passes``: one pass
  per output row, docs/conv.md);
- with ``--model lenet5.zsk``: LeNet-5's conv2 on the maps its conv1 + pool1 make of MNIST
  test images (the model's own weights and activations), plain and with ``block_pools`` (2x2
  blocks of output pixels per pass: its FC lowering then has the blocked window's columns).

Per layer: cycles per image, the ideal (the busiest PE's MACs per pixel-pass, summed), the
efficiency ideal / cycles, window padding cycles, and the same for the im2col FC lowering.

With ``--graphs``, a second table: the branching graphs' lowerings (compiler/graph.py) on
14x14 maps of 64 channels (host input 16 channels, a 1x1 stem first; 50 % of the weights, 7
shared values per layer, 40 % non-zero inputs): every array layer of a Fire module, ShuffleNet
units of stride 1 and 2 and a MobileNetV2 bottleneck, with its carried rows (identity rows
keeping a value for a later node) and their share of the layer's MACs, and per unit what the
join costs: the unit against the same unit without its shortcut, and Fire's fused expand layer
against its 1x1 and 3x3 expands run as two layers.

A third table: the layers lane passes run (docs/timing.md "Lane passes": each non-zero lane of
a group into its own PE's queue, a group per cycle), broadcast and as lane passes, on the same
array with ``lane_passes`` off and on: the depthwise conv above, a 2x2 stride-2 max pool of 64
channels on 14x14 and a global average pool of 64 channels on 7x7 (40 % non-zero inputs).

With ``--improvements``, the array has zs64's timing improvements (docs/timing.md: bounds
lookahead, padding merge, lane passes, the sweep overlap, queues of 16) on top of ``small``'s
memories and formats; with ``--lane-passes``, lane passes alone (the graph tables then run them
too), with ``--sweep-overlap`` the sweep overlap (either or both); ``--row-passes`` compiles the
graph tables' units with row passes (docs/conv.md), on 32,768 column pointers per PE.

    .venv/bin/python benchmarks/conv_efficiency.py [--pes 16] [--images 8] [--model lenet5.zsk] [--graphs]
                                                   [--improvements | --lane-passes --sweep-overlap]
                                                   [--row-passes]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.compiler.conv import random_conv_program
from zeroskip.hw.arch import PRESETS, TIMING_SWITCHES
from zeroskip.hw.conv import gather
from zeroskip.hw.kinds import decode_layer
from zeroskip.hw.reference import quantize_input, trace_int
from zeroskip.models.interchange import SharedLayer
from zeroskip.sim.simulator import simulate_int
from zeroskip.table import format_table


def im2col_fc(program, layer: int, maps: np.ndarray):
    """The conv layer ``layer`` of ``program`` as an FC layer over its windows: cycles and ideal
    cycles per image (pass cycles only: no program head or tail per pixel)."""
    info = program.layers[layer]
    g = info.geometry
    codes = decode_layer(program, layer)                               # [rows, k·k·C]
    book = np.zeros(program.arch.codebook_size)
    book[1:] = 1.0                                                     # timing needs the codes only
    fc = compile_layers([SharedLayer(book.astype(np.float32), codes.astype(np.uint8),
                                     np.zeros(len(codes), np.float32), "none")],
                        program.arch, input_frac=info.in_frac)
    patches = gather(maps, g.windows(program.arch.pes)).reshape(-1, g.columns)
    result = simulate_int(fc, np.clip(patches, -(1 << 15), (1 << 15) - 1))
    per_image = lambda v: v.reshape(len(maps), g.pixels).sum(axis=1)   # noqa: E731
    return per_image(result.pass_cycles.sum(axis=1)), per_image(result.ideal_cycles)


def measure(name: str, program, maps: np.ndarray) -> list:
    """One table row: ``program``'s first layer (a conv) on the array for the input ``maps``,
    and its im2col FC lowering."""
    sim = simulate_int(program, maps)
    cycles, ideal = sim.layer_cycles[:, 0], sim.layer_ideal_cycles[:, 0]
    fc_cycles, fc_ideal = im2col_fc(program, 0, maps)
    g = program.layers[0].geometry
    return [name, g.pixels, cycles.mean(), ideal.mean(), ideal.sum() / cycles.sum(),
            sim.layer_padding[:, 0].mean(), fc_cycles.mean(), fc_ideal.sum() / fc_cycles.sum(),
            fc_cycles.sum() / cycles.sum()]


@dataclasses.dataclass(frozen=True, eq=False)
class Depthwise:
    """A depthwise conv as a model hands it over (``groups`` = channels)."""

    codebook: np.ndarray
    codes: np.ndarray
    bias: np.ndarray
    act: str
    kernel: int
    stride: int
    pad: int
    groups: int
    name: str = "depthwise"


def depthwise(arch, seed: int, images: int, row_passes: bool = False):
    """A depthwise 3x3 conv of 64 channels on 14x14: the program and integer input maps
    (``row_passes``: compiled so, one pass per output row)."""
    from zeroskip.models.interchange import MapInput

    rng = np.random.default_rng(seed)
    codes = rng.integers(1, arch.codebook_size, (64, 9)) * (rng.random((64, 9)) < 0.5)
    book = np.concatenate([[0.0], rng.uniform(-1, 1, arch.codebook_size - 1)])
    layer = Depthwise(book.astype(np.float32), codes.astype(np.uint8),
                      rng.uniform(-0.3, 0.3, 64).astype(np.float32), "relu", 3, 1, 1, 64)
    x = rng.uniform(-1, 1, (images, 14 * 14 * 64)) * (rng.random((images, 14 * 14 * 64)) < 0.4)
    program = compile_layers([MapInput(14, 14, 64), layer], arch, calibration=x,
                             row_passes=row_passes)
    return program, quantize_input(program, x)


def pool(arch, seed: int, images: int, kind: str):
    """A 2x2 stride-2 max pool of 64 channels on 14x14, or a global average pool of 64 channels
    on 7x7 (40 % non-zero inputs): the program and integer input maps."""
    from zeroskip.models.interchange import MapInput, Pool

    rng = np.random.default_rng(seed)
    size = 14 if kind == "max" else 7
    layer = Pool("max", 2, 2, name="pool") if kind == "max" else Pool("avg", 7, 7, name="gap")
    x = rng.uniform(0, 1, (images, size * size * 64)) * (rng.random((images, size * size * 64)) < 0.4)
    program = compile_layers([MapInput(size, size, 64), layer], arch, calibration=x)
    return program, quantize_input(program, x)


def lane_rows(arch, seed: int, images: int) -> list:
    """The lane-pass table: each layer with ``lane_passes`` off and on (its first pass says which
    it ran as)."""
    rows = []
    for name, build in (("depthwise 3x3, 64 ch, 14x14", depthwise),
                        ("max pool 2x2/2, 64 ch, 14x14", lambda a, s, i: pool(a, s, i, "max")),
                        ("global avg pool, 64 ch, 7x7", lambda a, s, i: pool(a, s, i, "avg"))):
        row = [name]
        for switch in (0, 1):
            program, maps = build(dataclasses.replace(arch, lane_passes=switch), seed, images)
            assert program.passes[0].lanes == switch, f"{name}: lanes {program.passes[0].lanes}"
            sim = simulate_int(program, maps)
            cycles, ideal = sim.layer_cycles[:, 0], sim.layer_ideal_cycles[:, 0]
            row += [cycles.mean(), ideal.sum() / cycles.sum()]
        rows.append(row + [row[1] / row[3]])
    return rows


def first_layer_program(program, layer: int):
    """A program of ``layer`` alone (its maps come from the caller)."""
    from zeroskip.hw.program import Program

    passes = [dataclasses.replace(p, layer=0) for p in program.passes if p.layer == layer]
    info = program.layers[layer]
    return Program(arch=program.arch, layers=[info], passes=passes, sparse=program.sparse,
                   ptr=program.ptr, bias=program.bias,
                   codebook=program.codebook[layer:layer + 1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pes", type=int, default=16)
    parser.add_argument("--images", type=int, default=8, help="images (random maps) per layer")
    parser.add_argument("--model", help="a compressed LeNet-5 (zeroskip compress lenet5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--graphs", action="store_true",
                        help="also the branching graphs' lowerings (Fire, ShuffleNet, bottleneck)")
    parser.add_argument("--improvements", action="store_true",
                        help="zs64's timing switches and queues of 16 on the same array")
    parser.add_argument("--lane-passes", action="store_true",
                        help="lane passes (depthwise convs, pools) on the same array")
    parser.add_argument("--sweep-overlap", action="store_true",
                        help="the sweep overlap (a pixel's sweep while the next pixel scans)")
    parser.add_argument("--row-passes", action="store_true",
                        help="the graph tables compiled with row passes (depthwise layers)")
    args = parser.parse_args(argv)
    arch = dataclasses.replace(PRESETS["small"], pes=args.pes, act_depth=2048, ptr_depth=8192,
                               sparse_depth=4096, name=f"small{args.pes}")
    if args.lane_passes:
        arch = dataclasses.replace(arch, lane_passes=1, name=f"small{args.pes}+lanes")
    if args.sweep_overlap:
        arch = dataclasses.replace(arch, sweep_overlap=1, name=f"{arch.name}+overlap")
    if args.improvements:
        zs64 = PRESETS["zs64"]
        arch = dataclasses.replace(arch, fifo_depth=zs64.fifo_depth, name=f"small{args.pes}+zs",
                                   **{name: getattr(zs64, name) for name in TIMING_SWITCHES})
    rows = []
    for name, kernel, pad in (("3x3 conv 64->64, 14x14", 3, 1), ("1x1 conv 64->64, 14x14", 1, 0)):
        program, x = random_conv_program(arch, args.seed, height=14, width=14, channels=64,
                                         convs=((64, kernel, 1, pad),), pool=None, classes=None,
                                         density=0.5, batch=args.images, input_density=0.4)
        rows.append(measure(name, program, quantize_input(program, x)))
    rows.append(measure("depthwise 3x3, 64 ch, 14x14", *depthwise(arch, args.seed, args.images)))
    rows.append(measure("the same as row passes", *depthwise(arch, args.seed, args.images, True)))
    if args.model:
        from zeroskip.models.data import mnist_split

        from zeroskip.compiler import compile_file

        x_train, _, x_test, _ = mnist_split()
        images = x_test[:args.images]
        lenet = compile_file(args.model, arch, calibration=x_train[:256])
        maps = trace_int(lenet, quantize_input(lenet, images))[2]       # after conv1 + pool1
        rows.append(measure("LeNet-5 conv2 (MNIST maps)", first_layer_program(lenet, 2), maps))
        blocked = compile_file(args.model, arch, calibration=x_train[:256], block_pools=True)
        rows.append(measure("LeNet-5 conv2, 2x2 blocks", first_layer_program(blocked, 2),
                            trace_int(blocked, quantize_input(blocked, images))[2]))
    print(format_table(["layer", "pixels", "cycles", "ideal", "effic.", "window pad",
                        "im2col FC cycles", "FC effic.", "FC / conv"], rows,
                       ["", "d", ".0f", ".0f", ".1%", ".0f", ".0f", ".1%", ".2f"]))
    print(f"per image, {arch.pes} PEs ({arch.name}), mean over {args.images} images")
    print()
    print(format_table(["layer", "broadcast cycles", "effic.", "lane cycles", "effic.", "speed-up"],
                       lane_rows(arch, args.seed, args.images),
                       ["", ".0f", ".1%", ".0f", ".1%", ".2f"]))
    print(f"per image, {arch.pes} PEs, lane_passes off and on, mean over {args.images} images")
    if args.graphs:
        graph_arch = dataclasses.replace(arch, act_depth=4096, sparse_depth=8192)
        if args.row_passes:     # a row pass's window: 9·14·C columns, a pointer each per PE
            graph_arch = dataclasses.replace(graph_arch, ptr_depth=32768)
        layer_rows, unit_rows = graph_tables(graph_arch, args.seed, args.images, args.row_passes)
        print()
        print(format_table(["unit", "array layer", "rows", "carried", "cycles", "ideal", "effic.",
                            "carry MACs"], layer_rows,
                           ["", "", "d", "d", ".0f", ".0f", ".1%", ".1%"]))
        print()
        print(format_table(["unit", "cycles", "effic.", "without the join", "join costs"],
                           unit_rows, ["", ".0f", ".1%", ".0f", ".1%"]))
        print(f"per image, {graph_arch.pes} PEs, mean over {args.images} images")
    return 0


def _graph_sim(arch, graph, x, row_passes: bool = False):
    from zeroskip.compiler.graph import compile_graph

    program = compile_graph(graph, arch, calibration=x, row_passes=row_passes)
    return program, simulate_int(program, quantize_input(program, x))


def _without(graph, kind):
    """The same unit (the same weights) without its join: no shortcut (ShuffleNet, bottleneck),
    or, for Fire, its two expands as two graphs (``(e1x1 graph, e3x3 graph)``)."""
    from zeroskip.models.network import Graph

    nodes = list(graph.nodes)
    if kind == "fire":
        def keep(drop):
            kept = [n for n in nodes if not n.name.startswith(drop) and n.name != "concat"]
            return Graph(f"fire-{drop}", kept)
        return keep("expand3x3"), keep("expand1x1")
    if kind == "shuffle2":
        nodes = [n for n in nodes if n.name not in ("shortcut", "concat")]
        nodes = [dataclasses.replace(n, inputs=("gconv2",)) if n.name == "unit_relu" else n
                 for n in nodes]
    else:
        nodes = [n for n in nodes if n.name != "add"]
        nodes = [dataclasses.replace(n, inputs=("gconv2",)) if n.name == "unit_relu" else n
                 for n in nodes]
    return (Graph(f"{kind}-plain", nodes),)


def carried_rows(program, layer: int, names: list[str]) -> tuple[int, float]:
    """Rows of ``layer`` beyond its members' outputs (identity rows of carried values), and
    their share of the layer's weights (each carried row has one entry per its channel)."""
    info = program.layers[layer]
    codes = decode_layer(program, layer)
    nonzero = (codes != 0).sum(axis=1)
    carried = max(0, info.out_channels - sum(names))
    return carried, float(nonzero[info.out_channels - carried:].sum() / max(1, nonzero.sum()))


def graph_tables(arch, seed: int, images: int, row_passes: bool = False):
    """Rows of the two graph tables (see the module's docstring); ``row_passes``: compiled so."""
    from zeroskip.compiler.graph import GRAPH_KINDS, example_graph

    layer_rows, unit_rows = [], []
    for kind in GRAPH_KINDS:
        rng = np.random.default_rng(seed)
        graph = example_graph(kind, rng, size=14, channels=16, width=64, groups=4, values=7,
                              density=0.5, classes=None)
        x = rng.uniform(-1, 1, (images, 14 * 14 * 16)) * (rng.random((images, 14 * 14 * 16)) < 0.4)
        program, sim = _graph_sim(arch, graph, x, row_passes)
        outputs = {n.name: n.layer.params["W"].shape[0] for n in graph.nodes
                   if "W" in getattr(n.layer, "params", {})}
        outputs.update({"shortcut": 64, "add": 64})
        for i, info in enumerate(program.layers):
            members = [outputs.get(m, 0) for m in info.name.split("+")]
            if kind == "bottleneck" and info.name == "add":
                members = [64]
            carried, share = carried_rows(program, i, members)
            rows = info.out_channels
            layer_rows.append([kind, info.name, rows, carried, sim.layer_cycles[:, i].mean(),
                               sim.layer_ideal_cycles[:, i].mean(),
                               sim.layer_ideal_cycles[:, i].sum() / sim.layer_cycles[:, i].sum(),
                               share])
        total = sim.layer_cycles.sum(axis=1)
        alone = [_graph_sim(arch, g, x, row_passes)[1] for g in _without(graph, kind)]
        if kind == "fire":       # the two expands as two layers: the stem and squeeze once
            plain = total - sim.layer_cycles[:, 2] + sum(s.layer_cycles[:, 2] for s in alone)
        else:
            plain = alone[0].layer_cycles.sum(axis=1)
        unit_rows.append([kind, total.mean(), sim.layer_ideal_cycles.sum() / sim.layer_cycles.sum(),
                          plain.mean(), total.sum() / plain.sum() - 1])
    return layer_rows, unit_rows


if __name__ == "__main__":
    sys.exit(main())
