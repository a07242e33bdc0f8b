"""``zeroskip demo``: the whole flow on MNIST, from training to co-verified RTL.

1. Deep Compression of LeNet-300-100 for the EIE target (4-bit codes, code 0 = pruned).
2. A binary (XNOR-Net) 784-256-256-10 MLP, batch norm + sign folded into integer thresholds.
3. Both compiled onto the same 8-PE array and the 1,000 held-out images run through the cycle
   simulator: accuracy next to the models', cycles, µs and energy per image, side by side.
4. Both compiled for 16 PEs, the Verilog written, and a few images co-verified on the RTL
   (outputs bit-exact with the reference, cycle counter equal to the simulator's).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.files import write_atomic
from zeroskip.hw.arch import PRESETS, ArchConfig
from zeroskip.progress import Progress

#: the demo's array: the `small` preset with room for the binary MLP's weight lines
DEMO_ARCH = dataclasses.replace(PRESETS["small"], name="demo", sparse_depth=2048)
SIM_PES = 8
RTL_PES = 16
CALIBRATION_IMAGES = 500


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--out", default="out/demo", help="directory for the demo's files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtl-images", type=int, default=3, help="images co-verified on the RTL")
    parser.add_argument("--simulator", default="icarus", choices=["icarus", "verilator"],
                        help="RTL simulator for the co-verification step")
    parser.add_argument("--mode", default="xnor", choices=["bwn", "xnor"],
                        help="binary MLP flavour")


@dataclass
class DemoCompression:
    """What ``zeroskip demo`` carries on to the compiler and the simulator."""

    layers: list              # list[SharedLayer]: the compressed LeNet-300-100, EIE 4-bit
    x_test: np.ndarray        # float32 [1000, 784], the held-out images
    y_test: np.ndarray        # int64 [1000]
    report: dict              # the --json report of the compression
    model_path: Path          # <out>/lenet300.zsk
    interchange_path: Path    # <out>/lenet300.npz
    result: object            # the full CompressResult


def demo_compress(args) -> DemoCompression:
    """Compress LeNet-300-100 in the EIE 4-bit mode, print the table, write ``<out>/lenet300.zsk``
    and ``<out>/lenet300.npz``; return the layers and the test split for the next demo steps."""
    from zeroskip.models import compress as pipeline
    from zeroskip.models.data import mnist_split
    from zeroskip.models.interchange import atomic_write, save_interchange

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ZeroskipError(f"--out {out}: exists and is not a directory")
    seed = int(getattr(args, "seed", 0))
    progress = Progress(getattr(args, "quiet", False))
    data = mnist_split(seed)
    config = pipeline.default_config("lenet300", eie=True, seed=seed)
    result = pipeline.compress(config, data=data, progress=progress)
    print(result.table())
    model_path, interchange_path = out / "lenet300.zsk", out / "lenet300.npz"
    atomic_write(model_path, result.data)
    layers = result.model.fc_layers(str(model_path))
    save_interchange(interchange_path, layers)
    print(f"wrote {model_path}, {interchange_path}")
    return DemoCompression(layers, data[2], data[3], result.report(), model_path,
                           interchange_path, result)


def demo_arch(pes: int) -> ArchConfig:
    return dataclasses.replace(DEMO_ARCH, pes=pes)


def classify(program, outputs: np.ndarray) -> np.ndarray:
    """Class indices from the program's outputs (``Program.class_scores``: binary programs rank
    by the last layer's per-class float scale and offset)."""
    return program.class_scores(outputs).argmax(axis=1)


def run_on_array(name: str, program, x_test, y_test, model_accuracy: float) -> dict:
    """Simulate every test image; the figures one row of the side-by-side table holds."""
    from zeroskip.sim import simulate

    result = simulate(program, x_test)
    accuracy = float((classify(program, result.outputs) == y_test).mean())
    return {
        "name": name, "images": len(x_test), "pes": program.arch.pes,
        "clock_mhz": program.arch.clock_mhz,
        "accuracy_model": model_accuracy, "accuracy_array": accuracy,
        "cycles_per_image": float(result.cycles.mean()),
        "ideal_cycles_per_image": float(result.ideal_cycles.mean()),
        "efficiency": float(result.ideal_cycles.sum() / result.cycles.sum()),
        "time_us_per_image": float(result.time_us.mean()),
        "energy_nj_per_image": result.energy_pj / len(x_test) / 1000.0,
        "weight_lines_per_pe": int(program.sparse.shape[1]),
    }


def print_side_by_side(rows: list[dict]) -> None:
    from zeroskip.table import format_table

    first = rows[0]
    print(f"\nOn one array: {first['pes']} PEs, {first['clock_mhz']:g} MHz, "
          f"{first['images']} held-out MNIST images through the cycle simulator")
    print(format_table(
        ["model", "model acc", "array acc", "cycles", "ideal", "eff", "µs", "nJ", "lines/PE"],
        [[r["name"], r["accuracy_model"], r["accuracy_array"], r["cycles_per_image"],
          r["ideal_cycles_per_image"], r["efficiency"], r["time_us_per_image"],
          r["energy_nj_per_image"], r["weight_lines_per_pe"]] for r in rows],
        ["", ".2%", ".2%", ".0f", ".0f", ".1%", ".2f", ".1f", "d"]))
    print("(cycles, µs and nJ per image, means; energy priced by the 45 nm table)")


def sparse_model(args):
    """Step 1: Deep Compression of LeNet-300-100, 4-bit EIE target."""
    from zeroskip.models.interchange import float_forward

    compressed = demo_compress(args)
    accuracy = float((float_forward(compressed.layers, compressed.x_test).argmax(axis=1)
                      == compressed.y_test).mean())
    return compressed.layers, accuracy


def binary_model(args, out: Path):
    """Step 2: the binary MLP, folded to integer thresholds."""
    from zeroskip.models import binary_ref
    from zeroskip.models.compress_binary import BinaryRun, compress_binary, format_report

    print(f"\nTraining the binary MLP ({args.mode})")
    result = compress_binary(BinaryRun(mode=args.mode, seed=args.seed), Progress(args.quiet))
    print(format_report(result.report))
    binary_ref.save(out / "binary_mlp.npz", result.folded)
    return result.folded, result.report["accuracy_binary"]


def rtl_step(args, out: Path, models: list[tuple[str, object]], x_train, x_test) -> bool:
    """Step 4: Verilog of the 16-PE array, and a few images of each model on the RTL."""
    from zeroskip.compiler import compile_layers
    from zeroskip.hw.reference import quantize_input
    from zeroskip.hw.rtl.run import build_and_run
    from zeroskip.hw.rtl.toolchain import require_simulator
    from zeroskip.ladder import check_rtl
    from zeroskip.hw.gateware.verilog import write_verilog

    arch = demo_arch(RTL_PES)
    paths = write_verilog(arch, None, out / "verilog")
    print(f"\nVerilog of the {RTL_PES}-PE array (memories loaded over Wishbone): "
          f"{', '.join(str(p) for p in paths)}")
    simulator = require_simulator(args.simulator)
    ok = True
    for name, layers in models:
        program = compile_layers(layers, arch, calibration=x_train[:CALIBRATION_IMAGES])
        xq = quantize_input(program, x_test[: args.rtl_images])
        result = build_and_run(arch, program, xq, simulator)
        checks = check_rtl(program, xq, result.outputs, result.cycles)
        passed = sum(c.ok for c in checks)
        print(f"{name} on the {RTL_PES}-PE RTL ({simulator}, ID {result.fingerprint:#010x}):")
        for check in checks:
            print(f"  {check.describe()}")
        print(f"  {passed}/{len(checks)} images: outputs bit-exact with the reference, "
              f"cycles equal to the simulator's")
        ok &= passed == len(checks)
    return ok


def run(args) -> int:
    if args.rtl_images < 1:
        raise ZeroskipError(f"--rtl-images must be at least 1, got {args.rtl_images}")
    from zeroskip.compiler import compile_layers
    from zeroskip.models.data import mnist_split

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sparse_layers, sparse_accuracy = sparse_model(args)
    binary_layers, binary_accuracy = binary_model(args, out)
    x_train, _, x_test, y_test = mnist_split(args.seed)

    arch = demo_arch(SIM_PES)
    rows = []
    for name, layers, accuracy in (("LeNet-300-100, 4-bit sparse", sparse_layers, sparse_accuracy),
                                   (f"binary MLP ({args.mode})", binary_layers, binary_accuracy)):
        program = compile_layers(layers, arch, calibration=x_train[:CALIBRATION_IMAGES])
        stem = "lenet300" if "LeNet" in name else "binary_mlp"
        program.save(str(out / f"{stem}_{SIM_PES}pe"))
        rows.append(run_on_array(name, program, x_test, y_test, accuracy))
    print_side_by_side(rows)
    write_atomic(out / "demo.json", json.dumps(rows, indent=1))

    ok = rtl_step(args, out, [("LeNet-300-100", sparse_layers), ("binary MLP", binary_layers)],
                  x_train, x_test)
    print(f"\nfiles in {out}/")
    return 0 if ok else 1
