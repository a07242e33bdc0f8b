"""The zoo's binary conv net on the array (docs/binary.md "On the array"): trained and folded by
``zeroskip compress binary-cnn`` (BWN and XNOR modes), compiled for ``small`` with 16 PEs and for
eie64, the 1,000 held-out MNIST images through the cycle simulator.

Per model and array: the folded model's accuracy (the packed-bit reference), the array's
(its predictions compared image by image with the packed-bit reference's), cycles, ideal cycles,
efficiency, µs and energy per image, and the per-layer cycles. ``--verify N`` runs the first N
images of each ``small`` program on Verilator (cocotb drives every clock edge: a few thousand
cycles a second) and checks outputs and cycle counts against the simulator.

    .venv/bin/python benchmarks/binary_cnn_array.py [--cache DIR] [--verify N] [--json FILE]

``--cache DIR`` reuses ``binary-cnn-bwn.npz`` / ``.json`` and ``binary-cnn-xnor.npz`` / ``.json``
written there by ``zeroskip compress binary-cnn --mode M -o ... --json ...``; what is missing is
trained and written there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from zeroskip.compiler import compile_file
from zeroskip.demo import classify
from zeroskip.hw.arch import PRESETS
from zeroskip.models import binary_ref
from zeroskip.models.data import mnist_split
from zeroskip.sim import simulate
from zeroskip.table import format_table

from measure import layer_rows, print_layers_and_save

#: ``small`` with 16 PEs: conv1's 28x28x16 map is 784 activations per PE
SMALL16 = dataclasses.replace(PRESETS["small"], pes=16, act_depth=1024)


def folded(cache: Path, mode: str) -> tuple[Path, dict]:
    model, report = cache / f"binary-cnn-{mode}.npz", cache / f"binary-cnn-{mode}.json"
    if not (model.exists() and report.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(Path(sys.executable).parent / "zeroskip"), "compress", "binary-cnn",
                        "-q", "--mode", mode, "-o", str(model), "--json", str(report)], check=True)
    return model, json.loads(report.read_text())


def verified(program, x: np.ndarray, simulated) -> str:
    """The first images on Verilator: outputs and cycle counts against the simulator's."""
    from zeroskip.hw.reference import quantize_input
    from zeroskip.ladder import run

    rtl = run("verilator", program, quantize_input(program, x))
    same = (np.array_equal(rtl.outputs, simulated.outputs_int[:len(x)])
            and np.array_equal(rtl.cycles, simulated.cycles[:len(x)]))
    return f"{len(x)} images {'bit- and cycle-exact' if same else 'DIFFER'}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".binary-cnn-cache"))
    parser.add_argument("--verify", type=int, default=0, metavar="N",
                        help="run the first N images of each program on Verilator")
    parser.add_argument("--json", help="write the figures as JSON")
    args = parser.parse_args(argv)
    _, _, x_test, y_test = mnist_split()
    rows, layers = [], []
    for mode in ("bwn", "xnor"):
        model, report = folded(args.cache, mode)
        reference = binary_ref.load(str(model))
        expected = binary_ref.predict(reference, binary_ref.quantize_pixels(x_test,
                                                                          reference[0].input_bits))
        for arch in (SMALL16, PRESETS["eie64"]):
            program = compile_file(str(model), arch)
            result = simulate(program, x_test)
            predicted = classify(program, result.outputs)
            label = f"{arch.name} {arch.pes} PEs"
            row = {"mode": mode, "array": label, "clock_mhz": arch.clock_mhz,
                   "accuracy_model": report["accuracy_binary"],
                   "accuracy_array": float((predicted == y_test).mean()),
                   "agree_reference": float((predicted == expected).mean()),
                   "cycles": float(result.cycles.mean()),
                   "ideal": float(result.ideal_cycles.mean()),
                   "efficiency": float(result.ideal_cycles.sum() / result.cycles.sum()),
                   "time_us": float(result.time_us.mean()),
                   "energy_nj": result.energy_pj / len(x_test) / 1000.0,
                   "verilator": (verified(program, x_test[:args.verify], result)
                                 if args.verify and arch is SMALL16 else "")}
            rows.append(row)
            print(f"{mode} on {label}: done", file=sys.stderr, flush=True)
            layers += layer_rows(result, mode, label)
    print(format_table(["mode", "array", "model acc", "array acc", "agree", "cycles", "ideal", "eff",
                        "µs", "nJ", "Verilator"],
                       [[r["mode"], r["array"], r["accuracy_model"], r["accuracy_array"],
                         r["agree_reference"], r["cycles"], r["ideal"], r["efficiency"], r["time_us"],
                         r["energy_nj"], r["verilator"]] for r in rows],
                       ["", "", ".1%", ".1%", ".1%", ".0f", ".0f", ".1%", ".1f", ".0f", ""]))
    print(f"per image, mean over the {len(x_test)} held-out images; 'agree': the array's class "
          "equals the packed-bit reference's")
    print_layers_and_save(layers, rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
