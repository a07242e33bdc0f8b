"""What the clock's pipeline switches cost in cycles (issue 10; docs/timing.md "Registered
broadcast", "Group feed", "Bounds lookahead", "Broadcast relay", "Entry stage", "PE copies"), one
switch added at a time:

- EIE's Table III (``zeroskip bench eie``, ``run_suite``) on eie64: cycles and efficiency per
  layer, for eie64, + ``registered_broadcast``, + ``group_feed``, + ``bounds_lookahead`` (the set
  the FPGA builds of docs/fpga.md use), + ``broadcast_relay``, + ``entry_stage``, + ``pe_copies``;
  the issue allows at most 1 % less efficiency;
- with ``--model lenet5-eie.zsk``: LeNet-5 on ``small`` with 16 PEs (benchmarks/lenet5_array.py's
  SMALL16), cycles per image over ``--images`` MNIST test images, with and without
  ``sweep_overlap``: the group feed costs its latency once per conv pixel-pass, the PE copies a
  cycle per pixel-pass with the overlap.

    .venv/bin/python benchmarks/clock_pipeline.py [--model lenet5-eie.zsk] [--images 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from zeroskip.hw.arch import PRESETS
from zeroskip.progress import Progress
from zeroskip.sim.cli_bench import run_suite
from zeroskip.table import format_table

#: the switches, added in this order
STEPS = (("EIE", {}), ("+ registered broadcast", {"registered_broadcast": 1}),
         ("+ group feed", {"group_feed": 1}), ("+ bounds lookahead", {"bounds_lookahead": 1}),
         ("+ broadcast relay", {"broadcast_relay": 1}), ("+ entry stage", {"entry_stage": 1}),
         ("+ PE copies", {"pe_copies": 1}))


def cumulative(base, overlap: int = 0):
    """``base`` with each step's switches added to the ones before."""
    switches, out = {"sweep_overlap": overlap} if overlap else {}, []
    for name, step in STEPS:
        switches = {**switches, **step}
        out.append((name, dataclasses.replace(base, **switches)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="LeNet-5 compressed in the EIE mode (zeroskip compress lenet5 --eie)")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()
    progress = Progress(args.quiet)
    steps = cumulative(PRESETS["eie64"])
    reports = {name: run_suite(arch, progress=progress) for name, arch in steps}
    first = reports[steps[0][0]]["layers"]
    rows = []
    for i, layer in enumerate(first):
        row = [layer["name"]]
        for name, _ in steps:
            r = reports[name]["layers"][i]
            row.append(f"{r['cycles']} ({100 * r['efficiency']:.1f} %)")
        drop = 100 * (layer["efficiency"] - reports[steps[-1][0]]["layers"][i]["efficiency"])
        rows.append(row + [f"{drop:+.1f}" if drop else "0.0"])
    print("EIE Table III on eie64: cycles (efficiency)")
    print(format_table(["layer"] + [name for name, _ in steps] + ["pp lost, all on"], rows))
    result = {"eie": reports}
    if args.model:
        import sys
        from pathlib import Path
        sys.path.insert(0, str(Path(__file__).parent))
        from lenet5_array import SMALL16
        from zeroskip.compiler import compile_file
        from zeroskip.models.data import mnist_split
        from zeroskip.sim import simulate
        x_train, _, x_test, _ = mnist_split()
        lenet, rows = {}, []
        for overlap in (0, 1):
            for name, arch in cumulative(SMALL16, overlap):
                progress(f"LeNet-5: {name}, sweep overlap {overlap}")
                program = compile_file(args.model, arch, calibration=x_train[:256])
                cycles = float(np.mean(simulate(program, x_test[:args.images]).cycles))
                lenet[f"{name}, overlap {overlap}"] = cycles
                rows.append([name, str(overlap), f"{cycles:,.1f}",
                             f"{cycles / lenet[f'EIE, overlap {overlap}']:.3f}"])
        print()
        print(f"LeNet-5 (EIE mode) on small with 16 PEs, {args.images} MNIST test images")
        print(format_table(["switches", "sweep overlap", "cycles / image", "vs EIE"], rows))
        result["lenet5"] = lenet
    if args.json:
        from zeroskip.files import write_atomic
        write_atomic(args.json, lambda f: f.write(json.dumps(result, indent=1).encode()))


if __name__ == "__main__":
    main()
