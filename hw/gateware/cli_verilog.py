"""``zeroskip verilog PROGDIR|--arch ... -o DIR``: write ``DIR/<name>.v`` and ``DIR/<name>.json``.

With a program directory the memories are initialised from its images (embedded in the
Verilog); the architecture is the program's, and an explicitly requested one (``--arch`` or
overrides) must be the same configuration.
"""

from __future__ import annotations

import os

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import CLI_OVERRIDES, PRESETS, add_arch_arguments, load_arch, with_overrides
from zeroskip.hw.regmap import check_compatible
from zeroskip.progress import Progress


def add_arguments(parser) -> None:
    parser.add_argument("program", nargs="?", default=None,
                        help="program directory (from `zeroskip compile`): initialise the memories")
    add_arch_arguments(parser, default=None)
    parser.add_argument("-o", "--output", required=True, help="output directory")
    parser.add_argument("--name", default="zeroskip_top", help="Verilog module name")


def _requested_arch(args):
    overrides = {name: getattr(args, f"arch_{name}", None) for name in CLI_OVERRIDES.values()}
    if args.arch is None and all(v is None for v in overrides.values()):
        return None
    return with_overrides(load_arch(args.arch or "small"), **overrides)


def run(args) -> int:
    from zeroskip.hw.program import load_program
    from zeroskip.files import write_files_atomic
    from zeroskip.hw.gateware.verilog import write_verilog

    progress = Progress(args.quiet)
    requested = _requested_arch(args)
    program = None
    if args.program is not None:
        program = load_program(args.program)
        if requested is not None:
            check_compatible(program, requested, where=args.program, target="the requested")
        arch = program.arch
    else:
        arch = requested if requested is not None else PRESETS["small"]
    if not args.name.isidentifier():
        raise ZeroskipError(f"--name '{args.name}' is not a Verilog identifier")
    progress(f"elaborating {arch.name} ({arch.pes} PEs){' with ' + args.program if program else ''}")
    # every file lands atomically: written in a hidden directory, then renamed into -o
    write_files_atomic(args.output, lambda tmp: write_verilog(arch, program, tmp, name=args.name))
    verilog_path = os.path.join(args.output, f"{args.name}.v")
    json_path = os.path.join(args.output, f"{args.name}.json")
    progress(f"wrote {verilog_path} ({os.path.getsize(verilog_path) // 1024} KiB) and {json_path}")
    return 0
