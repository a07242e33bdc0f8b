"""The ``zeroskip`` command: one entry point, one subcommand per step of the flow.

Each subcommand lives next to the code it drives (``zeroskip.models.cli_compress`` for ``compress``,
``zeroskip.compiler.cli_compile`` for ``compile``, ...) and exposes ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so ``zeroskip compress``
does not pay for Amaranth.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ZeroskipError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("zeroskip.demo", "compress LeNet-300-100, compile, simulate and co-verify it"),
    "compress": ("zeroskip.models.cli_compress", "train and compress a model (Deep Compression or binary)"),
    "compile": ("zeroskip.compiler.cli_compile", "lower a compressed model onto the accelerator"),
    "sim": ("zeroskip.sim.cli_sim", "simulate a compiled program cycle by cycle, with energy"),
    "bench": ("zeroskip.sim.cli_bench", "run a benchmark suite (e.g. EIE's Table III layers)"),
    "verilog": ("zeroskip.hw.gateware.cli_verilog", "write the accelerator's Verilog"),
    "verify": ("zeroskip.cli_verify", "co-verify the RTL against the reference and the simulator"),
}


def _load(name: str):
    module_name, _ = COMMANDS[name]
    return importlib.import_module(module_name)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zeroskip", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if a in COMMANDS), None)
    for name, (_, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text)
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress output")
        if name == wanted:  # only import the module whose command runs
            _load(name).add_arguments(sp)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(_load(args.command).run(args) or 0)
    except ZeroskipError as error:
        print(f"zeroskip {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zeroskip: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
