"""``zeroskip build --board ulx3s-85f|orangecrab-85f|icebreaker [--arch ...] [--pes N]
[--clock-mhz F] [--baud B] [--json FILE] -o DIR``: the accelerator behind the UART bridge, with a
PLL for its clock, on a board: bitstream, Fmax, utilisation (docs/board.md).

The PLL targets the architecture's ``clock_mhz`` (``--clock-mhz`` overrides it, as for every
command). Without ``--arch`` the array is the board's (``board.BOARDS``): ``FPGA_ARCH`` on
the ECP5 boards, as for ``zeroskip synth``; ``ICEBREAKER_ARCH`` on the iCEBreaker. Exit status 2
for bad input, 1 when a tool fails (the message names the tool and its log).
"""

from __future__ import annotations

import json
import os
import sys

from zeroskip.hw.arch import CLI_OVERRIDES, add_arch_arguments, load_arch, with_overrides
from zeroskip.progress import Progress


def add_arguments(parser) -> None:
    from zeroskip.hw.fpga.board import BOARDS, DEFAULT_BAUD

    parser.add_argument("--board", required=True, choices=list(BOARDS), help="target board")
    add_arch_arguments(parser, default=None)
    parser.add_argument("--baud", type=float, default=DEFAULT_BAUD,
                        help="the UART's rate, fixed in the bitstream")
    parser.add_argument("--seed", type=int, default=None, help="nextpnr placement seed")
    parser.add_argument("--no-floorplan", dest="floorplan", action="store_false",
                        help="leave the PEs' block RAMs to nextpnr's placer (ECP5)")
    parser.add_argument("--json", default=None, help="write the report as JSON")
    parser.add_argument("-o", "--output", required=True, help="build directory (kept)")


def run(args) -> int:
    from zeroskip.files import write_atomic
    from zeroskip.hw.fpga.board import board, build, clock_warning, summary_lines
    from zeroskip.hw.fpga.flow import ToolError

    progress = Progress(args.quiet)
    spec = board(args.board)
    overrides = {name: getattr(args, f"arch_{name}", None) for name in CLI_OVERRIDES.values()}
    arch = with_overrides(load_arch(args.arch) if args.arch is not None else spec.arch, **overrides)
    try:
        result = build(spec.name, arch, args.output, baud=args.baud,
                       seed=args.seed, floorplan=args.floorplan,
                       progress=progress)
    except ToolError as error:
        print(f"zeroskip build: error: {error}", file=sys.stderr)
        return 1
    for line in summary_lines(result):
        print(line)
    warning = clock_warning(result, arch)
    if warning:
        print(warning, file=sys.stderr)
    if args.json is not None:
        write_atomic(args.json, json.dumps(result, indent=1) + "\n")
        progress(f"wrote {args.json}")
    progress(f"build files in {os.path.abspath(args.output)}")
    return 0
