"""What spatial tiling costs (docs/conv.md "Spatial tiling"): the compressed LeNet-5 (4-bit EIE
mode) on ``small`` with 16 PEs, its activation banks shrunk from the 2,048 words a PE its
untiled maps need down to the preset's own 256, through the cycle simulator on held-out MNIST
images.

Per bank depth: the tiles and their crop shapes, cycles and ideal cycles per image (the halos'
recomputed MACs count in both), their ratio to the untiled program's, energy, and the accuracy
(the stitched outputs equal the untiled program's bit for bit, so it must not move). Each
configuration also with ``--block-pools --lane-passes --sweep-overlap`` (the fastest LeNet-5
mapping, docs/benchmarks.md).

With ``--binary-cache DIR``, the zoo's binary conv net too (XNOR mode,
benchmarks/binary_cnn_array.py's cache: trained and folded there when missing), its banks shrunk
from the 1,024 words its untiled maps need to 256; its classes are compared with the packed-bit
reference's.

    .venv/bin/python benchmarks/spatial_tiling.py [--cache DIR] [--binary-cache DIR]
                                                  [--images N] [--json FILE]

``--cache DIR`` holds ``lenet5-eie.zsk`` (``zeroskip compress lenet5 --eie``), compressed there
when missing (benchmarks/lenet5_array.py's cache).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from zeroskip.compiler.spatial import compile_spatial
from zeroskip.demo import classify
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import quantize_input
from zeroskip.hw.tiled import TiledProgram
from zeroskip.models.data import mnist_split
from zeroskip.models.interchange import load_model
from zeroskip.sim import simulate_int
from zeroskip.sim.tiled import simulate_tiled
from zeroskip.table import format_table

from lenet5_array import SMALL16, compressed

#: activation words per PE per bank: what the untiled maps need (conv1's 24x24x32 map: 1,152),
#: then halved down to ``small``'s own
DEPTHS = (2048, 1024, 512, 256)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".lenet5-cache"))
    parser.add_argument("--images", type=int, default=1000, help="held-out images to simulate")
    parser.add_argument("--json", help="write the figures as JSON")
    parser.add_argument("--binary-cache", type=Path, default=None,
                        help="also the zoo's binary conv net (XNOR), cached or trained there")
    args = parser.parse_args(argv)
    x_train, _, x_test, y_test = mnist_split()
    x_test, y_test = x_test[:args.images], y_test[:args.images]
    model, _ = compressed(args.cache, eie=True)
    layers = load_model(str(model))
    configurations = [("plain", layers, SMALL16, DEPTHS, {}),
                      ("blocked pools, lanes, overlap", layers,
                       dataclasses.replace(SMALL16, lane_passes=1, sweep_overlap=1), DEPTHS,
                       {"block_pools": True})]
    if args.binary_cache is not None:
        from binary_cnn_array import folded

        from zeroskip.models import binary_ref

        binary_model, _ = folded(args.binary_cache, "xnor")
        folded_layers = binary_ref.load(str(binary_model))
        configurations.append(("binary conv net (XNOR)", folded_layers,
                               dataclasses.replace(SMALL16, ptr_depth=PRESETS["small"].ptr_depth),
                               (1024, 512, 256), {}))
    rows = []
    for mapping, model_layers, base, depths, options in configurations:
        untiled = None
        for depth in depths:
            arch = dataclasses.replace(base, act_depth=depth, acc_depth=min(base.acc_depth, depth))
            start = time.perf_counter()
            try:
                program = compile_spatial(model_layers, arch, calibration=x_train[:256],
                                          **options)
            except ZeroskipError as error:          # the compiler's one line, as a row
                rows.append({"mapping": mapping, "act_depth": depth, "error": str(error)})
                continue
            seconds = time.perf_counter() - start
            xq = quantize_input(program, x_test)
            if isinstance(program, TiledProgram):
                result = simulate_tiled(program, xq)
                shapes = sorted({tuple(p.meta["spatial_tile"]["shape"])
                                 for p in program.programs.values()})
                stages = len(program.stages)
                tiles = (f"{len(program.tiles)}" + (f" in {stages} stages" if stages > 1 else "")
                         + f" ({', '.join('%dx%d' % s for s in shapes)})")
                words = program.host_words()
            else:
                result = simulate_int(program, xq)
                tiles = "untiled"
                words = {"in": program.in_len, "out": program.out_len}
            outputs = program.logical_output(result.outputs_int)
            accuracy = float((classify(program, result.outputs) == y_test).mean())
            cycles, ideal = float(result.cycles.mean()), float(result.ideal_cycles.mean())
            if untiled is None:
                untiled = (cycles, ideal, outputs)
            rows.append({"mapping": mapping, "act_depth": depth, "tiles": tiles, "cycles": cycles, "ideal": ideal,
                         "cycles_ratio": cycles / untiled[0], "ideal_ratio": ideal / untiled[1],
                         "energy_nj": result.energy_pj / len(x_test) / 1000.0,
                         "accuracy": accuracy,
                         "equal_to_untiled": bool(np.array_equal(outputs, untiled[2])),
                         "host_words_in": words["in"], "host_words_out": words["out"],
                         "compile_s": seconds})
    print(format_table(["mapping", "act_depth", "tiles (crops)", "cycles", "ideal", "x cycles",
                        "x ideal", "nJ", "host in/out", "accuracy", "= untiled"],
                       [[r["mapping"], r["act_depth"], r["tiles"], r["cycles"], r["ideal"],
                         r["cycles_ratio"], r["ideal_ratio"], r["energy_nj"],
                         f"{r['host_words_in']}/{r['host_words_out']}", r["accuracy"],
                         "yes" if r["equal_to_untiled"] else "NO"] for r in rows if "error" not in r],
                       ["", "d", "", ".0f", ".0f", ".3f", ".3f", ".0f", "", ".2%", ""]))
    for r in rows:
        if "error" in r:
            print(f"{r['mapping']}, act_depth {r['act_depth']}: {r['error']}")
    print(f"small, 16 PEs; per image, mean over {len(x_test)} held-out MNIST images; x: against "
          "the same network's untiled program (its first row); host in/out: "
          "activations the host writes (crops, the stitched map) and reads (the tiles' right "
          "outputs, the result), not counted in the cycles")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r.get("equal_to_untiled", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
