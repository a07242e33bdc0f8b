"""The compressed LeNet-5 end to end on the array (docs/conv.md): compressed by ``zeroskip
compress lenet5`` (the default P+Q+H mode and the 4-bit EIE mode), compiled for ``small`` with
16 PEs and for eie64, the 1,000 held-out MNIST images through the cycle simulator.

Each also with ``--block-pools`` (docs/conv.md: 2x2 blocks of output pixels per conv pass).
Per model and array: the compressed float model's accuracy, the array's (bit-exact with the
fixed-point reference), cycles, µs and energy per image, and the per-layer cycles, ideal cycles
and efficiency.

With ``--lane-passes``, every array runs its pools as lane passes (docs/timing.md "Lane
passes"); with ``--sweep-overlap``, every array overlaps a conv pixel's sweep with the next
pixel's scan (docs/timing.md "Sweep overlap").

    .venv/bin/python benchmarks/lenet5_array.py [--cache DIR] [--json FILE] [--lane-passes]
                                                [--sweep-overlap]

``--cache DIR`` reuses ``lenet5.zsk`` / ``lenet5.json`` (default mode) and ``lenet5-eie.zsk`` /
``lenet5-eie.json`` (``--eie``) written there by ``zeroskip compress lenet5 [--eie] -o ...
--json ...``; what is missing is compressed and written there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from zeroskip.compiler import compile_file
from zeroskip.demo import classify
from zeroskip.hw.arch import PRESETS
from zeroskip.models.data import mnist_split
from zeroskip.sim import simulate
from zeroskip.table import format_table

from measure import layer_rows, print_layers_and_save

#: ``small`` with 16 PEs and the memories LeNet-5's maps need (conv1's 24x24x32 map: 1,152
#: activations per PE; 2,335 pointers)
SMALL16 = dataclasses.replace(PRESETS["small"], pes=16, act_depth=2048, ptr_depth=4096)
#: the default mode's conv layers have 257 codes (256 centroids and the pruned 0): 9-bit codes
#: (and 7-bit runs, so an entry stays 16 bits), here and on eie64
SMALL16_9BIT = dataclasses.replace(SMALL16, code_bits=9, run_bits=7)


def compressed(cache: Path, eie: bool) -> tuple[Path, dict]:
    stem = "lenet5-eie" if eie else "lenet5"
    model, report = cache / f"{stem}.zsk", cache / f"{stem}.json"
    if not (model.exists() and report.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(Path(sys.executable).parent / "zeroskip"), "compress", "lenet5", "-q",
                        *(["--eie"] if eie else []), "-o", str(model), "--json", str(report)],
                       check=True)
    return model, json.loads(report.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".lenet5-cache"))
    parser.add_argument("--json", help="write the figures as JSON")
    parser.add_argument("--lane-passes", action="store_true",
                        help="pools as lane passes on every array (ArchConfig.lane_passes)")
    parser.add_argument("--sweep-overlap", action="store_true",
                        help="the sweep overlap on every array (ArchConfig.sweep_overlap)")
    args = parser.parse_args(argv)
    x_train, _, x_test, y_test = mnist_split()
    rows, layers = [], []
    for eie in (False, True):
        model, report = compressed(args.cache, eie)
        mode = "EIE 4-bit" if eie else "default (conv 8-bit, fc 5-bit)"
        arrays = (SMALL16, PRESETS["eie64"]) if eie else (
            SMALL16_9BIT, dataclasses.replace(PRESETS["eie64"], code_bits=9, run_bits=7))
        if args.lane_passes:
            arrays = tuple(dataclasses.replace(a, lane_passes=1) for a in arrays)
        if args.sweep_overlap:
            arrays = tuple(dataclasses.replace(a, sweep_overlap=1) for a in arrays)
        for arch, blocked in [(arch, blocked) for arch in arrays for blocked in (False, True)]:
            program = compile_file(str(model), arch, calibration=x_train[:256],
                                   block_pools=blocked)
            result = simulate(program, x_test)
            accuracy = float((classify(program, result.outputs) == y_test).mean())
            label = (f"{arch.name} {arch.pes} PEs" + (" (9-bit codes)" if arch.code_bits == 9 else "")
                     + (", blocked pools" if blocked else "") + (", lane passes" if arch.lane_passes else "")
                     + (", sweep overlap" if arch.sweep_overlap else ""))
            rows.append({"mode": mode, "array": label, "clock_mhz": arch.clock_mhz,
                         "accuracy_model": report["accuracy_compressed"],
                         "accuracy_array": accuracy,
                         "cycles": float(result.cycles.mean()),
                         "ideal": float(result.ideal_cycles.mean()),
                         "efficiency": float(result.ideal_cycles.sum() / result.cycles.sum()),
                         "time_us": float(result.time_us.mean()),
                         "energy_nj": result.energy_pj / len(x_test) / 1000.0})
            layers += layer_rows(result, mode, label)
    print(format_table(["mode", "array", "model acc", "array acc", "cycles", "ideal", "eff", "µs",
                        "nJ"],
                       [[r["mode"], r["array"], r["accuracy_model"], r["accuracy_array"],
                         r["cycles"], r["ideal"], r["efficiency"], r["time_us"], r["energy_nj"]]
                        for r in rows],
                       ["", "", ".2%", ".2%", ".0f", ".0f", ".1%", ".1f", ".0f"]))
    print(f"per image, mean over the {len(x_test)} held-out images")
    print_layers_and_save(layers, rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
