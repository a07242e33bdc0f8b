"""Out-of-context FPGA builds of the accelerator: Yosys (``synth_ecp5`` / ``synth_ice40 -dsp``)
then nextpnr place and route, for a list of PE counts and families; Fmax, utilisation (as a
share of the device), the critical path and seconds per step.

The flow is ``zeroskip.hw.fpga.flow`` (the one ``zeroskip synth`` runs); the array is its
``FPGA_ARCH`` (``small`` with memories sized for block RAM), the depth flags (``--sparse-depth``
...) change it. One build at a time (the machine is shared). ``--no-pnr`` stops after Yosys
(cell counts only); ``--keep DIR`` keeps each build in ``DIR/<family>_<pes>pe``.

    .venv/bin/python benchmarks/synth.py [--family ecp5 ice40] [--pes 4 8] [--no-pnr]
        [--device D] [--freq 100] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

from zeroskip.hw.arch import CLI_OVERRIDES, add_arch_arguments, load_arch, with_overrides
from zeroskip.hw.fpga.flow import FAMILIES, FPGA_ARCH, synthesize
from zeroskip.progress import Progress


def row_text(r: dict) -> str:
    if "utilisation" not in r:
        c = r["yosys_cells"]
        return (f"{r['family']:6} {r['pes']:>4} {'-':>8} {c['lut4']:>14} {c['ff']:>14} "
                f"{c['bram']:>11} {c['dsp']:>9} {'-':>7} {r['seconds']['yosys']:>7} {'-':>7}")
    u = r["utilisation"]
    fmax = min(f["achieved_mhz"] for f in r["fmax"].values()) if r["fmax"] else 0.0
    path = r["critical_paths"][0]["delay_ns"] if r["critical_paths"] else 0.0

    def cell(name, width):
        return f"{u[name]['used']} ({u[name]['percent']:.0f}%)".rjust(width)

    return (f"{r['family']:6} {r['pes']:>4} {fmax:>8.1f} {cell('luts', 14)} {cell('ffs', 14)} "
            f"{cell('bram', 11)} {cell('dsp', 9)} {path:>7.2f} {r['seconds']['yosys']:>7} "
            f"{r['seconds']['nextpnr']:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], conflict_handler="resolve")
    parser.add_argument("--family", nargs="+", default=["ecp5"], choices=list(FAMILIES))
    add_arch_arguments(parser, default=None)
    # a list of PE counts, replacing the single --pes of the architecture flags
    parser.add_argument("--pes", dest="pe_counts", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--device", default=None, help="nextpnr device (default 85k / up5k)")
    parser.add_argument("--freq", type=float, default=100.0, help="clock target for nextpnr, MHz")
    parser.add_argument("--no-pnr", dest="pnr", action="store_false", help="Yosys only")
    parser.add_argument("--keep", default=None, help="keep the builds under this directory")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args()
    base = load_arch(args.arch) if args.arch is not None else FPGA_ARCH
    base = with_overrides(base, **{name: getattr(args, f"arch_{name}", None)
                                   for name in CLI_OVERRIDES.values() if name != "pes"})
    root = args.keep or tempfile.mkdtemp(prefix="zeroskip-synth-")
    progress = Progress(args.quiet)
    rows = []
    try:
        for family in args.family:
            for pes in args.pe_counts:
                arch = with_overrides(base, pes=pes)
                rows.append(synthesize(arch, family, os.path.join(root, f"{family}_{pes}pe"),
                                       device=args.device, freq=args.freq, pnr=args.pnr,
                                       progress=progress))
                progress(row_text(rows[-1]))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        json.dump({"arch": base.to_dict(), "rows": rows}, sys.stdout, indent=1)
        print()
        return
    print(f"memories per PE: sparse {base.sparse_depth} x {base.line_bits} b, pointers "
          f"{base.ptr_depth} x {base.ptr_bits} b, activations 2 x {base.act_depth} x "
          f"{base.act_bits} b, accumulators {base.acc_depth} x {base.acc_bits} b, bias "
          f"{base.bias_depth} x {base.acc_bits} b")
    print(f"{'family':6} {'PEs':>4} {'Fmax MHz':>8} {'LUT':>14} {'FF':>14} {'BRAM':>11} "
          f"{'DSP':>9} {'path ns':>7} {'yosys s':>7} {'pnr s':>7}")
    for r in rows:
        print(row_text(r))


if __name__ == "__main__":
    main()
