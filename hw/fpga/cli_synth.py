"""``zeroskip synth --family ecp5|ice40 [--arch ...] [--pes N] [--device D] [--freq MHZ]
[--json FILE] -o DIR``: an out-of-context FPGA build (Yosys, then nextpnr) with Fmax,
utilisation and the critical path.

Without ``--arch`` the array is ``FPGA_ARCH`` (``small`` with memories sized for block RAM);
the depth flags (``--sparse-depth`` ...) change it. The build directory ``-o`` keeps every
intermediate file and a log per tool. Exit status 2 for bad input, 1 when a tool fails (the
message names the tool and its log).
"""

from __future__ import annotations

import json
import os
import sys

from zeroskip.hw.arch import CLI_OVERRIDES, add_arch_arguments, load_arch, with_overrides
from zeroskip.progress import Progress


def add_arguments(parser) -> None:
    from zeroskip.hw.fpga.flow import FAMILIES

    parser.add_argument("--family", required=True, choices=list(FAMILIES), help="FPGA family")
    add_arch_arguments(parser, default=None)
    parser.add_argument("--device", default=None,
                        help="nextpnr device (ecp5: 85k, 45k, 25k, um-85k ...; ice40: up5k, "
                             "hx8k ...; default 85k / up5k)")
    parser.add_argument("--package", default=None,
                        help="device package (default CABGA381 for ECP5, sg48 for the UP5K)")
    parser.add_argument("--speed", type=int, default=None, choices=(6, 7, 8),
                        help="ECP5 speed grade (default 6)")
    parser.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                        help="clock target given to nextpnr")
    parser.add_argument("--seed", type=int, default=None, help="nextpnr placement seed")
    parser.add_argument("--router", default=None, choices=("router1", "router2"),
                        help="nextpnr router (default router2 for ECP5, router1 for iCE40)")
    parser.add_argument("--tmg-ripup", action="store_true",
                        help="router2 re-routes the nets of failing paths (nextpnr --tmg-ripup): "
                             "until none fails, or 1,500 iterations, which can take hours")
    parser.add_argument("--no-floorplan", dest="floorplan", action="store_false",
                        help="leave the PEs' block RAMs to nextpnr's placer (ECP5)")
    parser.add_argument("--no-pnr", dest="pnr", action="store_false",
                        help="stop after Yosys (cell counts only)")
    parser.add_argument("--json", default=None, help="write the results as JSON")
    parser.add_argument("-o", "--output", required=True, help="build directory (kept)")


def run(args) -> int:
    from zeroskip.hw.fpga.flow import FPGA_ARCH, ToolError, summary_lines, synthesize
    from zeroskip.files import write_atomic

    progress = Progress(args.quiet)
    overrides = {name: getattr(args, f"arch_{name}", None) for name in CLI_OVERRIDES.values()}
    arch = with_overrides(load_arch(args.arch) if args.arch is not None else FPGA_ARCH, **overrides)
    try:
        result = synthesize(arch, args.family, args.output, device=args.device,
                            package=args.package, speed=args.speed, freq=args.freq,
                            pnr=args.pnr, seed=args.seed, router=args.router,
                            tmg_ripup=args.tmg_ripup,
                            floorplan=args.floorplan, progress=progress)
    except ToolError as error:       # the design did not build: exit 1, one line
        print(f"zeroskip synth: error: {error}", file=sys.stderr)
        return 1
    for line in summary_lines(result):
        print(line)
    if args.json is not None:
        write_atomic(args.json, json.dumps(result, indent=1) + "\n")
        progress(f"wrote {args.json}")
    progress(f"build files in {os.path.abspath(args.output)}")
    return 0
