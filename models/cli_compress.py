"""``zeroskip compress``: train a network and compress it.

``zeroskip compress lenet300|lenet5`` runs Deep Compression (``zeroskip.models.compress``),
prints the storage table, writes the compressed model file (``-o``, default ``<model>.zsk``),
optionally the interchange ``.npz`` (``--interchange``, fully-connected nets) and a JSON report.
``zeroskip compress binary-mlp`` is the binary flow (``zeroskip.models.compress_binary``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from zeroskip.errors import ZeroskipError
from zeroskip.progress import Progress

DEEP_COMPRESSION = ("lenet300", "lenet5")
FC_MODELS = ("lenet300",)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line and exit 2, like every other zeroskip error."""

    def error(self, message):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    parser.error = OneLineParser.error.__get__(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _one_line_errors(parser)
    models = parser.add_subparsers(dest="model", metavar="MODEL", required=True,
                                   parser_class=OneLineParser)
    for name, help_text in (("lenet300", "LeNet-300-100 (784-300-100-10), Deep Compression"),
                            ("lenet5", "Caffe's LeNet-5, Deep Compression")):
        _add_deep_compression_arguments(models.add_parser(name, help=help_text), name)
    sp = models.add_parser("binary-mlp", help="binary 784-256-256-10 MLP (BWN or XNOR)")
    sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    add_binary_arguments(sp)


def _add_deep_compression_arguments(sp: argparse.ArgumentParser, model: str) -> None:
    from .compress import default_config

    base = default_config(model)
    sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                    help="no progress output")
    sp.add_argument("-o", "--output", metavar="FILE",
                    help=f"compressed model file to write (default {model}.zsk)")
    sp.add_argument("--json", metavar="REPORT", help="write the report as JSON")
    sp.add_argument("--interchange", metavar="FILE.npz",
                    help="also write the interchange .npz for the compiler (fully-connected nets)")
    sp.add_argument("--seed", type=int, default=0, help="data split and initialisation seed")
    sp.add_argument("--quality", metavar="Q[,Q...]",
                    help="pruning threshold = Q x std of the layer's weights; one value for all "
                         "layers or one per layer (default "
                         f"{','.join(str(q) for q in base.quality)})")
    sp.add_argument("--bits", type=int, metavar="B",
                    help="weight bits of fully-connected layers: 2**B shared weights (default 5; "
                         "4 with --eie)")
    sp.add_argument("--conv-bits", type=int, metavar="B",
                    help="weight bits of convolutions (default 8; 4 with --eie)")
    sp.add_argument("--index-bits", type=int, metavar="R",
                    help="relative index bits of fully-connected layers (default 5; 4 with --eie)")
    sp.add_argument("--conv-index-bits", type=int, metavar="R",
                    help="relative index bits of convolutions (default 8)")
    sp.add_argument("--eie", action="store_true",
                    help="EIE target: 4-bit codes with code 0 reserved for 0.0 (15 centroids) "
                         "in every layer, 4-bit relative indices in fc layers")
    sp.add_argument("--epochs", type=int, metavar="N",
                    help=f"dense training epochs (default {base.dense.epochs})")
    sp.add_argument("--prune-steps", type=int, metavar="N",
                    help=f"iterative pruning steps (default {base.prune_steps})")
    sp.add_argument("--prune-epochs", type=int, metavar="N",
                    help=f"retraining epochs per pruning step (default {base.prune.epochs})")
    sp.add_argument("--finetune-epochs", type=int, metavar="N",
                    help=f"centroid fine-tuning epochs (default {base.finetune.epochs})")


def _parse_quality(text: str | None) -> tuple[float, ...]:
    if text is None:
        return ()
    try:
        values = tuple(float(q) for q in text.split(","))
    except ValueError:
        raise ZeroskipError(f"--quality {text!r}: expected a number or a comma-separated "
                            "list of numbers") from None
    for q in values:
        if not math.isfinite(q) or q < 0:
            raise ZeroskipError(f"--quality {text}: must be >= 0")
    return values


def config_from_args(args):
    """A validated ``CompressConfig`` from the command line (ZeroskipError on bad input)."""
    from . import zoo
    from .compress import default_config, with_epochs

    model = args.model
    if model not in DEEP_COMPRESSION:
        raise ZeroskipError(f"unknown model {model!r} (one of {', '.join(DEEP_COMPRESSION)})")
    for flag, value in (("--bits", args.bits), ("--conv-bits", args.conv_bits),
                        ("--index-bits", args.index_bits),
                        ("--conv-index-bits", args.conv_index_bits)):
        if value is not None and not 1 <= value <= 8:
            raise ZeroskipError(f"{flag} {value}: must be in 1..8")
    if args.eie and args.bits is not None and args.bits < 2:
        raise ZeroskipError(f"--bits {args.bits}: the EIE mode reserves code 0, needs >= 2 bits")
    for flag, value, low in (("--epochs", args.epochs, 0), ("--prune-epochs", args.prune_epochs, 0),
                             ("--finetune-epochs", args.finetune_epochs, 0),
                             ("--prune-steps", args.prune_steps, 1)):
        if value is not None and value < low:
            raise ZeroskipError(f"{flag} {value}: must be >= {low}")
    quality = _parse_quality(args.quality)
    n_layers = len(zoo.build(model).weighted())
    if len(quality) not in (0, 1, n_layers):
        raise ZeroskipError(f"--quality {args.quality}: give one value or {n_layers} "
                            f"(one per layer of {model})")
    config = default_config(model, eie=args.eie, seed=args.seed, quality=quality or None,
                            fc_bits=args.bits, conv_bits=args.conv_bits,
                            fc_index_bits=args.index_bits, conv_index_bits=args.conv_index_bits,
                            prune_steps=args.prune_steps)
    config = with_epochs(config, args.epochs, args.prune_epochs, args.finetune_epochs)
    try:
        config.validate()
    except ValueError as error:
        raise ZeroskipError(str(error)) from None
    return config


def _check_writable(flag: str, path: str | None) -> None:
    if path is not None and (os.path.isdir(path) or path.endswith(os.sep)):
        raise ZeroskipError(f"{flag} {path}: is a directory, expected a file name")


def run(args: argparse.Namespace) -> int:
    if args.model == "binary-mlp":
        return run_binary(args)
    from . import compress as pipeline
    from .interchange import atomic_write, save_interchange

    config = config_from_args(args)
    output = args.output or f"{args.model}.zsk"
    for flag, path in (("-o", output), ("--json", args.json), ("--interchange", args.interchange)):
        _check_writable(flag, path)
    if args.interchange and args.model not in FC_MODELS:
        raise ZeroskipError(f"--interchange: {args.model} has convolutions; the interchange "
                            "format holds fully-connected networks only")
    progress = Progress(getattr(args, "quiet", False))
    result = pipeline.compress(config, progress=progress)
    print(result.table())
    atomic_write(output, result.data)
    written = [output]
    if args.interchange:
        save_interchange(args.interchange, result.model.fc_layers(output))
        written.append(args.interchange)
    if args.json:
        atomic_write(args.json, (json.dumps(result.report(), indent=2) + "\n").encode())
        written.append(args.json)
    print(f"wrote {', '.join(written)}")
    return 0


def add_binary_arguments(parser: argparse.ArgumentParser) -> None:
    from .compress_binary import BinaryRun

    parser.add_argument("--mode", default="bwn",
                        help="bwn (binary weights, alpha) or xnor (also beta-scaled binary inputs)")
    parser.add_argument("--distill", action="store_true",
                        help="train the binary student on the float teacher's soft targets")
    parser.add_argument("--json", metavar="REPORT", help="write the report as JSON")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the folded integer model (.npz)")
    parser.add_argument("--seed", type=int, default=0, help="data split and initialisation seed")
    parser.add_argument("--epochs", type=int, default=BinaryRun.epochs,
                        help="binary training epochs")
    parser.add_argument("--teacher-epochs", type=int, default=BinaryRun.teacher_epochs,
                        help="float baseline / teacher epochs")
    parser.add_argument("--temperature", type=float, default=BinaryRun.temperature,
                        help="distillation temperature T")
    parser.add_argument("--first-full-precision", action="store_true",
                        help="float first layer (no packed-bit reference then)")
    parser.add_argument("--last-full-precision", action="store_true",
                        help="float last layer (no packed-bit reference then)")


def run_binary(args: argparse.Namespace) -> int:
    from . import binary_ref
    from .compress_binary import BinaryRun, compress_binary, format_report
    from .interchange import atomic_write

    progress = Progress(getattr(args, "quiet", False))
    config = BinaryRun(mode=args.mode, distill=args.distill, seed=args.seed, epochs=args.epochs,
                       teacher_epochs=args.teacher_epochs, temperature=args.temperature,
                       first_full_precision=args.first_full_precision,
                       last_full_precision=args.last_full_precision)
    if args.output and (config.first_full_precision or config.last_full_precision):
        raise ZeroskipError(f"-o {args.output}: a model with full-precision layers has no "
                            "folded integer form")
    result = compress_binary(config, progress)
    report = result.report
    if args.output:
        binary_ref.save(args.output, result.folded)
    if args.json:
        atomic_write(args.json, (json.dumps(report, indent=2) + "\n").encode())
    if not getattr(args, "quiet", False):
        print(format_report(report))
    return 0
