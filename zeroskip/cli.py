"""The ``zeroskip`` command: one entry point, one subcommand per step of the flow.

Each subcommand lives next to the code it drives (``zeroskip.models.cli_compress`` for ``compress``,
``zeroskip.compiler.cli_compile`` for ``compile``, ...) and exposes ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so ``zeroskip compress``
does not pay for Amaranth.

Exit statuses (docs/cli.md): 0 every check passed; 1 a mismatch or an RTL failure; 2 bad input
(one line on stderr naming the input, nothing written); 130 interrupted; 141 stdout closed early
(``zeroskip verify ... | head -1``). Output paths are checked before the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import ZeroskipError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("zeroskip.demo", "compress LeNet-300-100 and train a binary MLP, compile, simulate "
                              "and co-verify both"),
    "compress": ("zeroskip.models.cli_compress", "train and compress a model (Deep Compression or binary)"),
    "compile": ("zeroskip.compiler.cli_compile", "lower a compressed model onto the accelerator"),
    "export": ("zeroskip.models.cli_export", "write a compressed model as an ONNX graph "
                                             "(onnxruntime runs it)"),
    "sim": ("zeroskip.sim.cli_sim", "simulate a compiled program cycle by cycle, with energy"),
    "bench": ("zeroskip.sim.cli_bench", "run a benchmark suite (e.g. EIE's Table III layers)"),
    "verilog": ("zeroskip.hw.gateware.cli_verilog", "write the accelerator's Verilog"),
    "synth": ("zeroskip.hw.fpga.cli_synth", "synthesise, place and route for an FPGA (ECP5, iCE40): "
                                            "Fmax, utilisation, critical path"),
    "build": ("zeroskip.hw.fpga.cli_build", "build a bitstream for a board (ULX3S, OrangeCrab, "
                                            "iCEBreaker): PLL, accelerator, UART bridge"),
    "run": ("zeroskip.cli_run", "run a program on a board over its UART link (or on its design "
                                "under Verilator: --port sim)"),
    "verify": ("zeroskip.cli_verify", "co-verify the RTL against the reference and the simulator"),
    "data": ("zeroskip.models.cli_data", "write MNIST images and labels as .npy files (inputs, "
                                         "calibration sets)"),
    "energy": ("zeroskip.sim.cli_energy", "print an energy table (--template: an editable copy "
                                          "with the source of each figure)"),
    "sweep": ("zeroskip.sim.cli_sweep", "sweep architecture fields x EIE's benchmark layers on Dask: "
                                        "cycles, energy, area, Pareto front"),
}

#: what ``zeroskip --help`` says first
DESCRIPTION = ("zeroskip: compress networks (Deep Compression, XNOR), compile them onto an EIE-like "
               "sparse accelerator, simulate it cycle by cycle, and co-verify its Verilog. "
               "Exit statuses: 0 passed, 1 a mismatch or an RTL failure, 2 bad input, "
               "130 interrupted (docs/cli.md).")

#: per command, its output arguments: dest -> (flag, kind of ``zeroskip.files.check_output``);
#: "program" is a program directory replaced whole (only a previous program directory)
OUTPUTS: dict[str, dict[str, tuple[str, str]]] = {
    "demo": {"out": ("-o", "dir")},
    "compress": {"output": ("-o", "file"), "json": ("--json", "file"),
                 "interchange": ("--interchange", "file")},
    "compile": {"output": ("-o", "program")},
    "export": {"output": ("-o", "file")},
    "sim": {"output": ("--output", "file"), "json": ("--json", "file"), "plot": ("--plot", "dir")},
    "bench": {"json": ("--json", "file")},
    "verilog": {"output": ("-o", "dir")},
    "synth": {"output": ("-o", "dir"), "json": ("--json", "file")},
    "build": {"output": ("-o", "dir"), "json": ("--json", "file")},
    "run": {"output": ("--output", "file")},
    "verify": {"json": ("--json", "file"), "waves": ("--waves", "file")},
    "data": {"output": ("-o", "file"), "labels": ("--labels", "file")},
    "sweep": {"json": ("--json", "file"), "plot": ("--plot", "file"), "cache": ("--cache", "dir")},
}
#: argument dests that name input files or directories (when they exist): never overwritten
INPUT_DESTS = ("model", "program", "calibration", "input", "arch", "energy", "data", "labels")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141


class HelpFormatter(argparse.HelpFormatter):
    """Option help with its default, where there is one worth saying."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or not action.option_strings):
            return text
        return f"{text} (default: {default})"


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line and exit 2, like every other zeroskip error (all subcommands
    and their own subcommands inherit this class through ``add_subparsers``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        line = " ".join(str(message).split()) or "bad arguments"
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {line}\n")


def _load(name: str):
    module_name, _ = COMMANDS[name]
    return importlib.import_module(module_name)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="zeroskip", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"zeroskip {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=OneLineParser)
    parser.commands = {}
    wanted = next((a for a in argv if a in COMMANDS), None)
    for name, (_, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text)
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress output")
        if name == wanted:  # only import the module whose command runs
            _load(name).add_arguments(sp)
        parser.commands[name] = sp
    return parser


def check_arguments(args) -> None:
    """Checks common to every command, before it runs: seeds, and every output path."""
    seed = getattr(args, "seed", None)
    if isinstance(seed, int) and seed < 0:
        raise ZeroskipError(f"--seed {seed}: must be a non-negative integer")
    outputs = OUTPUTS.get(args.command, {})
    inputs = [value for dest in INPUT_DESTS if dest not in outputs
              and isinstance(value := getattr(args, dest, None), str) and os.path.exists(value)]
    for dest, (flag, kind) in OUTPUTS.get(args.command, {}).items():
        path = getattr(args, dest, None)
        if path is None:
            continue
        from .files import check_output

        replaceable = None
        if kind == "program":
            from zeroskip.hw.manifest import is_compiled_directory

            kind, replaceable = "replace", is_compiled_directory
        check_output(path, flag, kind, inputs=inputs, replaceable=replaceable)


def exit_status(error: ZeroskipError) -> int:
    """1 for an RTL failure (the design under test failed: no ack, timeout, deadlock), 2 for
    everything else, including a missing RTL simulator (an environment problem)."""
    toolchain = sys.modules.get("zeroskip.hw.rtl.toolchain")
    if toolchain is not None and isinstance(error, toolchain.RtlError) \
            and not isinstance(error, toolchain.SimulatorUnavailable):
        return EXIT_FAILED
    return EXIT_BAD_INPUT


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else "error"


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "zeroskip"
    try:
        try:
            parser = build_parser(argv)
            args, extra = parser.parse_known_args(argv)
            if extra:                        # named by the command they were given to
                parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
        except SystemExit as done:           # --help, --version, or a usage error (one line)
            return done.code if isinstance(done.code, int) else EXIT_BAD_INPUT
        command = f"zeroskip {args.command}"
        check_arguments(args)
        status = int(_load(args.command).run(args) or 0)
        sys.stdout.flush()
        return status
    except ZeroskipError as error:
        status = exit_status(error)
        message = str(error).strip() if status == EXIT_FAILED else _one_line(error)
        print(f"{command}: error: {message}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE
    except MemoryError:
        print(f"{command}: error: out of memory (does an input declare sizes that large?)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:        # a file problem no command anticipated: still one line
        where = f"{error.filename}: " if error.filename else ""
        print(f"{command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
