"""Binary layers in the compiler: how fast they lower, what they occupy, and that they run exactly.

Cases: the binary MLP 784-256-256-10 (a folded model file from ``zeroskip compress binary-mlp
-o FILE`` with ``--model``, else random weights and thresholds of the same shape) on ``small``
(4 PEs) and ``eie64``; a 4096 × 4096 bipolar layer (Alex-7's shape as a binary layer) on eie64;
and a mixed program (sparse 784→300 without ReLU, binary 300→100, binary 100→10) on small. For
each: compile time (wall and CPU, best of N), passes, sparse-memory lines per PE, the ideal
cycles (busiest PE's rows × planes × chunks, summed; for the mixed case plus the sparse layer's
busiest-PE weights), the cycle simulator's count for one input, and whether ``reference.predict_int`` on
the program equals the packed-bit reference ``binary_ref`` on 1,000 inputs.

    .venv/bin/python benchmarks/compile_binary.py [--model bmlp.npz] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.hw import reference
from zeroskip.hw.arch import PRESETS
from zeroskip.models import binary_ref
from zeroskip.models.binary_fold import FoldedLayer
from zeroskip.sim import simulate_int

from measure import best_of


@dataclass
class SparseLayer:
    codebook: np.ndarray
    codes: np.ndarray
    bias: np.ndarray
    act: str


def random_folded(sizes, planes: int, seed: int) -> list[FoldedLayer]:
    rng = np.random.default_rng(seed)
    layers = []
    for index, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        bits = planes if index == 0 else 0
        weights = rng.random((n, k)) < 0.5
        if index == len(sizes) - 2:
            layers.append(FoldedLayer(f"fc{index + 1}", weights, bits, scale=rng.uniform(0.1, 1, n),
                                      offset=rng.normal(0, 1, n)))
        else:
            spread = int(np.sqrt(k) * ((1 << bits) - 1 if bits else 1))
            layers.append(FoldedLayer(f"fc{index + 1}", weights, bits,
                                      thresholds=rng.integers(-spread, spread + 1, n),
                                      flip=rng.random(n) < 0.2))
    return layers


def measure(name, layers, arch, repeat, x_int, want, calibration=None, note=""):
    wall, cpu, program = best_of(repeat, lambda: compile_layers(layers, arch, calibration=calibration))
    exact = None
    if x_int is not None:
        exact = bool(np.array_equal(reference.predict_int(program, x_int), want))
    probe = x_int[:1] if x_int is not None else reference.quantize_input(program, calibration[:1])
    cycles = int(np.max(simulate_int(program, probe).cycles))
    return {"case": name, "arch": arch.name, "pes": arch.pes, "layers": len(layers),
            "passes": len(program.passes), "lines_per_pe": int(program.sparse.shape[1]),
            "sparse_depth": arch.sparse_depth,
            "ideal_cycles": int(sum(m["busiest_pe_weights"] for m in program.meta["layers"])),
            "sim_cycles": cycles,
            "compile_s": round(wall, 3), "compile_cpu_s": round(cpu, 3),
            "inputs_checked": 0 if x_int is None else int(len(x_int)), "exact": exact, "note": note}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="folded binary model (.npz from binary_ref.save)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    small, eie64 = PRESETS["small"], PRESETS["eie64"]
    rows = []

    if args.model:
        mlp, source = binary_ref.load(args.model), "trained"
    else:
        mlp, source = random_folded((784, 256, 256, 10), 8, seed=1), "random"
    x_int = rng.integers(0, 256, (1000, 784))
    want = binary_ref.last_dots(mlp, x_int)
    # 784 inputs = 13 chunks x 64 local rows + 4 x 64 + 1 x 3 = 1091 lines: small holds 1024
    raised = dataclasses.replace(small, sparse_depth=2048)
    rows.append(measure(f"binary MLP ({source})", mlp, raised, args.repeat, x_int, want,
                        note="sparse_depth 2048"))
    rows.append(measure(f"binary MLP ({source})", mlp, eie64, args.repeat, x_int, want))

    big = random_folded((4096, 4096, 10), 0, seed=2)
    x_big = rng.integers(-1, 1, (100, 4096))
    rows.append(measure("4096x4096 bipolar", big, eie64, args.repeat, x_big,
                        binary_ref.last_dots(big, binary_ref.pack_bits(x_big >= 0))))

    # mixed: a sparse layer (no ReLU: its signs are the next layer's bits), then binary layers
    codes = np.where(rng.random((300, 784)) < 0.1, rng.integers(1, 16, (300, 784)), 0).astype(np.uint8)
    sparse = SparseLayer(np.concatenate([[0.0], np.linspace(-0.1, 0.1, 15)]), codes,
                         rng.normal(0, 0.05, 300), "none")
    tail = random_folded((300, 100, 10), 0, seed=3)
    x = rng.uniform(0, 1, (1000, 784))
    row = measure("sparse+binary", [sparse] + tail, small, args.repeat, None, None, calibration=x)
    program = compile_layers([sparse] + tail, small, calibration=x)
    hidden = reference.trace_int(program, reference.quantize_input(program, x))[1]
    row["exact"] = bool(np.array_equal(reference.predict_int(program, reference.quantize_input(program, x)),
                                       binary_ref.last_dots(tail, binary_ref.pack_bits(hidden >= 0))))
    row["inputs_checked"] = len(x)
    rows.append(row)

    if args.json:
        print(json.dumps({"rows": rows}, indent=1))
        return 0
    header = (f"{'case':<26} {'arch':<6} {'PEs':>4} {'passes':>6} {'lines/PE':>14} "
              f"{'ideal cycles':>12} {'sim cycles':>10} {'compile s (cpu)':>16} {'== binary_ref':>14}  note")
    print(header)
    print("-" * len(header))
    for r in rows:
        check = f"{'yes' if r['exact'] else 'NO'} ({r['inputs_checked']})"
        print(f"{r['case']:<26} {r['arch']:<6} {r['pes']:>4} {r['passes']:>6} "
              f"{r['lines_per_pe']:>6}/{r['sparse_depth']:<7} {r['ideal_cycles']:>12} {r['sim_cycles']:>10} "
              f"{r['compile_s']:>8.3f} ({r['compile_cpu_s']:5.3f}) "
              f"{check:>14}  {r['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
