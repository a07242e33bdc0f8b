"""How fast the compiler lowers big layers onto eie64, and what the encoding costs in padding.

Cases: VGG-6's shape (25088 inputs → 4096 outputs, 4 % uniformly random non-zeros), Alex-7's
(4096 → 4096, 9 %), and the real AlexNet FC8 layer of the EIE authors
(``../shared/data/alexnet_fc8_eie.npz``, skipped with a note if absent). For each: the encoder
alone (``encode_layer``), the whole flow (``compile_layers``, which also chooses the fixed-point
scales), entries, padding fraction and sparse lines per PE. eie64 holds 16384 pointers per PE;
VGG-6 needs 25089, so that case runs with ``ptr_depth`` raised to 32768 (said in the table).

    .venv/bin/python benchmarks/compile_speed.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.compiler.encode import encode_layer
from zeroskip.hw import reference
from zeroskip.hw.arch import PRESETS
from zeroskip.models.interchange import SharedLayer as Layer

from measure import best_of

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")



def synthetic(out_len: int, in_len: int, density: float, seed: int) -> Layer:
    rng = np.random.default_rng(seed)
    codes = np.zeros((out_len, in_len), dtype=np.uint8)
    for start in range(0, out_len, 512):          # generate in slabs to bound memory
        block = codes[start:start + 512]
        mask = rng.random(block.shape, dtype=np.float32) < density
        block[mask] = rng.integers(1, 16, int(mask.sum()), dtype=np.uint8)
    codebook = np.concatenate([[0.0], np.linspace(-0.05, 0.05, 15)]).astype(np.float32)
    return Layer(codebook, codes, rng.normal(0, 0.01, out_len).astype(np.float32), "relu")


def measure(name: str, layer: Layer, arch, repeat: int, calibration=None, note: str = "") -> dict:
    encode = best_of(repeat, lambda: encode_layer(layer.codes, arch.pes, arch.acc_depth,
                                                  arch.max_run))   # incl. nonzero
    compiled = best_of(repeat, lambda: compile_layers([layer], arch, calibration=calibration))
    encoded, program = encode.result, compiled.result
    entries = encoded.entries
    per_pe = encoded.stream_entries.sum(axis=0)
    lines = -(-per_pe // arch.entries_per_line)
    row = {"case": name, "shape": f"{layer.codes.shape[1]}x{layer.codes.shape[0]}",
           "density": float(np.count_nonzero(layer.codes) / layer.codes.size),
           "encode_s": round(encode.wall, 3), "encode_cpu_s": round(encode.cpu, 3),
           "compile_s": round(compiled.wall, 3), "compile_cpu_s": round(compiled.cpu, 3),
           "entries": int(entries), "padding": round(encoded.padding / max(entries, 1), 4),
           "lines_per_pe_max": int(lines.max()), "lines_per_pe_mean": round(float(lines.mean()), 1),
           "passes": len(program.passes), "note": note}
    return row, program


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    eie64 = PRESETS["eie64"]
    rows, notes = [], []

    vgg = synthetic(4096, 25088, 0.04, seed=6)
    raised = dataclasses.replace(eie64, ptr_depth=32768)
    rows.append(measure("VGG-6", vgg, raised, args.repeat, note="ptr_depth 32768")[0])
    del vgg
    rows.append(measure("Alex-7", synthetic(4096, 4096, 0.09, seed=7), eie64, args.repeat)[0])

    path = os.path.join(DATA, "alexnet_fc8_eie.npz")
    if os.path.exists(path):
        data = np.load(path)
        fc8 = Layer(data["codebook_0"], data["codes_0"], data["bias_0"], str(data["act_0"]))
        x = data["x"].astype(np.float64)
        row, program = measure("Alex-8 (real)", fc8, eie64, args.repeat, calibration=x[None])
        got = reference.predict(program, x)
        row["max_abs_error_vs_y_ref"] = float(np.abs(got - data["y_ref"]).max())
        row["y_ref_max_abs"] = float(np.abs(data["y_ref"]).max())
        rows.append(row)
    else:
        notes.append(f"skipped Alex-8 (real): {os.path.normpath(path)} not found")

    if args.json:
        print(json.dumps({"rows": rows, "notes": notes}, indent=1))
        return 0
    header = (f"{'case':<14} {'in x out':>12} {'density':>8} {'encode s (cpu)':>15} "
              f"{'compile s (cpu)':>16} "
              f"{'entries':>10} {'padding':>8} {'lines/PE max':>13} {'mean':>8} {'passes':>7}  note")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['case']:<14} {r['shape']:>12} {r['density']:>8.1%} "
              f"{r['encode_s']:>7.2f} ({r['encode_cpu_s']:5.2f}) "
              f"{r['compile_s']:>8.2f} ({r['compile_cpu_s']:5.2f}) {r['entries']:>10} {r['padding']:>8.1%} "
              f"{r['lines_per_pe_max']:>13} {r['lines_per_pe_mean']:>8} {r['passes']:>7}  {r['note']}")
    for r in rows:
        if "max_abs_error_vs_y_ref" in r:
            print(f"{r['case']}: fixed-point output vs y_ref: max |error| "
                  f"{r['max_abs_error_vs_y_ref']:.4g} (|y_ref| up to {r['y_ref_max_abs']:.4g})")
    for note in notes:
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
