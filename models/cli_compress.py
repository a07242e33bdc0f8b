"""``zeroskip compress``: train a network and compress it.

``zeroskip compress lenet300|lenet5`` runs Deep Compression (``zeroskip.models.compress``),
prints the storage table, writes the compressed model file (``-o``, default ``<model>.zsk``),
optionally the interchange ``.npz`` (``--interchange``, fully-connected nets) and a JSON report.
``zeroskip compress MODEL.onnx --data TRAIN.npz [--test TEST.npz]`` does the same to a model
trained elsewhere, on the user's data (docs/onnx.md); without ``--data`` a model whose weights
are already shared is packed as it is, and ``--one-shot`` prunes and shares a dense one without
retraining. ``zeroskip compress binary-mlp`` (and ``binary-cnn``) is the binary flow
(``zeroskip.models.compress_binary``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from zeroskip.errors import ZeroskipError
from zeroskip.progress import Progress

FC_MODELS = ("lenet300",)
#: the sub-parser every model file goes to (``zeroskip compress mlp.onnx``)
MODEL_FILE = "MODEL.onnx"


class _ModelChoices(dict):
    """The sub-parsers by model name; a name that looks like a file (a dot or a slash in it,
    or an existing path) goes to the model-file parser. Other unknown names stay argparse's
    'invalid choice'."""

    def _is_file(self, key) -> bool:
        return isinstance(key, str) and bool(key) and not dict.__contains__(self, key) and (
            "." in key or "/" in key or os.sep in key or os.path.exists(key))

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or self._is_file(key)

    def __missing__(self, key):
        if self._is_file(key):
            return dict.__getitem__(self, MODEL_FILE)
        raise KeyError(key)


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
                            ("lenet5", "Caffe's LeNet-5, Deep Compression"),
                            ("squeezenet", "SqueezeNet at MNIST scale (Fire modules, bypass)"),
                            ("mobilenet", "MobileNet at MNIST scale (depthwise-separable, BN)"),
                            ("mobilenet-standard", "MobileNet with standard 3x3 convs instead"),
                            ("shufflenet", "ShuffleNet at MNIST scale (group conv, shuffle)")):
        _add_deep_compression_arguments(models.add_parser(name, help=help_text), name)
    sp = models.add_parser("binary-mlp", help="binary 784-256-256-10 MLP (BWN or XNOR)")
    sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    add_binary_arguments(sp)
    sp = models.add_parser("binary-cnn", help="binary conv net: two 3x3 convs with max pools, "
                                              "two FC layers (BWN or XNOR)")
    sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    add_binary_arguments(sp)
    sp = models.add_parser(MODEL_FILE, help="your own model (an ONNX file): Deep Compression "
                                            "on your data (--data); without data, weights "
                                            "already shared are taken as they are")
    _add_deep_compression_arguments(sp, None)
    # argparse keeps one dict as both the choices and the parsers: any file name goes to
    # MODEL_FILE's parser (``args.model`` keeps the name given)
    models.choices = models._name_parser_map = _ModelChoices(models._name_parser_map)


def zoo_models() -> tuple[str, ...]:
    from . import zoo

    return zoo.MODELS


def model_choices() -> str:
    """What MODEL may be, for messages."""
    return (f"a zoo network ({', '.join(zoo_models())}), binary-mlp, binary-cnn or an ONNX "
            "model file")


def _add_deep_compression_arguments(sp: argparse.ArgumentParser, model: str | None) -> None:
    """The options of a zoo model (``model``) or of a model file (None)."""
    from .compress import default_config

    base = default_config(model or "lenet300")
    sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                    help="no progress output")
    if model is None:
        sp.add_argument("--data", metavar="TRAIN.npz",
                        help="training data: x (float32 [n, ...], the model's input layout) "
                             "and y (integer labels [n]); a validation split is carved from "
                             "it for the pipeline's decisions")
        sp.add_argument("--test", metavar="TEST.npz",
                        help="held-out data (x, y) the accuracies are measured on; it decides "
                             "nothing")
        sp.add_argument("--one-shot", action="store_true",
                        help="without --data: prune and share a dense model without "
                             "retraining (warns with the accuracy measured on --test)")
        sp.add_argument("--validation", type=int, metavar="N",
                        help="training images per class set aside for validation (default "
                             f"{base.validation}; 0: none)")
    sp.add_argument("-o", "--output", metavar="FILE",
                    help=f"compressed model file to write (default {model or 'MODEL'}.zsk)")
    sp.add_argument("--json", metavar="REPORT", help="write the report as JSON")
    sp.add_argument("--interchange", metavar="FILE.npz",
                    help="also write the interchange .npz for the compiler (fully-connected nets)")
    sp.add_argument("--seed", type=int, default=0, help="data split and initialisation seed")
    quality_default = (",".join(str(q) for q in base.quality) if model else
                       "by layer: first conv 0.5, other convs 1.6, hidden fc 1.8, last fc 1.1")
    sp.add_argument("--quality", metavar="Q[,Q...]",
                    help="pruning threshold = Q x std of the layer's weights; one value for all "
                         f"layers or one per layer (default {quality_default})")
    sp.add_argument("--bits", type=int, metavar="B",
                    help="weight bits of fully-connected layers: 2**B shared weights (default 5; "
                         "4 with --eie)")
    sp.add_argument("--conv-bits", type=int, metavar="B",
                    help="weight bits of convolutions (default 8; 4 with --eie)")
    sp.add_argument("--index-bits", type=int, metavar="R",
                    help="relative index bits of fully-connected layers (default 5; 4 with --eie)")
    sp.add_argument("--conv-index-bits", type=int, metavar="R",
                    help="relative index bits of convolutions (default 8)")
    if model:
        sp.add_argument("--distill-from", metavar="TEACHER", choices=[
                            m for m in zoo_models() if m != model],
                        help="train the dense stage against this zoo network's soft outputs "
                             "(trained first with its defaults) as well as the labels")
        sp.add_argument("--temperature", type=float, metavar="T",
                        help=f"distillation temperature (default {base.distill_temperature})")
    sp.add_argument("--eie", action="store_true",
                    help="EIE target: 4-bit codes with code 0 reserved for 0.0 (15 centroids) "
                         "in every layer, 4-bit relative indices in fc layers")
    sp.add_argument("--epochs", type=int, metavar="N",
                    help=f"dense training epochs (default {base.dense.epochs})" if model else
                    "epochs of further dense training before pruning (default 0: the model "
                    "comes trained)")
    conv = default_config("lenet5")

    def default(value, conv_value) -> str:
        return f"{value}" if model or value == conv_value else \
            f"{value}; {conv_value} with convolutions"

    sp.add_argument("--prune-steps", type=int, metavar="N",
                    help="iterative pruning steps (default "
                         f"{default(base.prune_steps, conv.prune_steps)})")
    sp.add_argument("--prune-epochs", type=int, metavar="N",
                    help="retraining epochs per pruning step (default "
                         f"{default(base.prune.epochs, conv.prune.epochs)})")
    sp.add_argument("--finetune-epochs", type=int, metavar="N",
                    help="centroid fine-tuning epochs (default "
                         f"{default(base.finetune.epochs, conv.finetune.epochs)})")


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


def _check_flags(args) -> tuple[float, ...]:
    """The checks every Deep Compression flag needs, whatever the model; the parsed qualities."""
    for flag, value in (("--bits", args.bits), ("--conv-bits", args.conv_bits),
                        ("--index-bits", args.index_bits),
                        ("--conv-index-bits", args.conv_index_bits)):
        if value is not None and not 1 <= value <= 8:
            raise ZeroskipError(f"{flag} {value}: must be in 1..8")
    if args.eie and args.bits is not None and args.bits < 2:
        raise ZeroskipError(f"--bits {args.bits}: the EIE mode reserves code 0, needs >= 2 bits")
    for flag, value, low in (("--epochs", args.epochs, 0), ("--prune-epochs", args.prune_epochs, 0),
                             ("--finetune-epochs", args.finetune_epochs, 0),
                             ("--prune-steps", args.prune_steps, 1),
                             ("--validation", getattr(args, "validation", None), 0)):
        if value is not None and value < low:
            raise ZeroskipError(f"{flag} {value}: must be >= {low}")
    temperature = getattr(args, "temperature", None)
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise ZeroskipError(f"--temperature {temperature}: must be > 0")
    return _parse_quality(args.quality)


def _finish_config(config, args):
    from .compress import with_epochs

    config = with_epochs(config, args.epochs, args.prune_epochs, args.finetune_epochs)
    try:
        config.validate()
    except ValueError as error:
        raise ZeroskipError(str(error)) from None
    return config


def _check_quality(quality: tuple, args, n_layers: int, model: str) -> None:
    if len(quality) not in (0, 1, n_layers):
        raise ZeroskipError(f"--quality {args.quality}: give one value or {n_layers} "
                            f"(one per layer of {model})")


def config_from_args(args):
    """A validated ``CompressConfig`` from the command line (ZeroskipError on bad input)."""
    from . import zoo
    from .compress import default_config

    model = args.model
    if model not in zoo_models():
        raise ZeroskipError(f"unknown model {model!r} (one of {', '.join(zoo_models())})")
    quality = _check_flags(args)
    _check_quality(quality, args, len(zoo.build(model).weighted()), model)
    config = default_config(model, eie=args.eie, seed=args.seed, quality=quality or None,
                            fc_bits=args.bits, conv_bits=args.conv_bits,
                            fc_index_bits=args.index_bits, conv_index_bits=args.conv_index_bits,
                            prune_steps=args.prune_steps, distill_from=args.distill_from,
                            distill_temperature=args.temperature)
    return _finish_config(config, args)


def imported_config_from_args(args, net):
    """A validated ``CompressConfig`` for a model file's network ``net``."""
    from .compress import imported_config

    quality = _check_flags(args)
    _check_quality(quality, args, len(net.weighted()), args.model)
    config = imported_config(net, args.model, eie=args.eie, seed=args.seed,
                             quality=quality or None, fc_bits=args.bits,
                             conv_bits=args.conv_bits, fc_index_bits=args.index_bits,
                             conv_index_bits=args.conv_index_bits, prune_steps=args.prune_steps,
                             validation=args.validation)
    return _finish_config(config, args)


def _check_writable(flag: str, path: str | None) -> None:
    if path is not None and (os.path.isdir(path) or path.endswith(os.sep)):
        raise ZeroskipError(f"{flag} {path}: is a directory, expected a file name")


def run(args: argparse.Namespace) -> int:
    if args.model in ("binary-mlp", "binary-cnn"):
        return run_binary(args)
    if args.model not in zoo_models():
        return run_file(args)
    from . import compress as pipeline

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
    return _write_outputs(args, output, result)


def _write_outputs(args, output: str, result) -> int:
    """The model file, then the interchange ``.npz`` and the JSON report when asked."""
    from .interchange import atomic_write, save_interchange

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


def load_data(path: str, flag: str, input_shape: tuple, classes: int):
    """``(x float32 [n, *input_shape], y int64 [n])`` from a data ``.npz`` (``x`` in the model's
    input layout, or for a map input rows [n, C·H·W] in that order; ``y`` integer labels
    0..classes-1), or one ZeroskipError line naming ``flag``, the file and the problem."""
    import numpy as np

    from .interchange import npz_member, open_npz

    where = f"{flag} {path}"
    try:
        archive = open_npz(path, "data file (.npz holding x and y)")
    except ZeroskipError as error:
        raise ZeroskipError(f"{flag} {error}") from None
    with archive:
        for key in ("x", "y"):
            if key not in archive.files:
                raise ZeroskipError(f"{where}: no array '{key}' (a data file holds x, the "
                                    "inputs [n, ...], and y, their integer labels [n])")
        try:
            x, y = npz_member(archive, "x", path), npz_member(archive, "y", path)
        except ZeroskipError as error:
            raise ZeroskipError(f"{flag} {error}") from None
    shape = tuple(int(n) for n in input_shape)
    wanted = "[n, " + ", ".join(str(n) for n in shape) + "]"
    if x.dtype.kind not in "biuf":
        raise ZeroskipError(f"{where}: x must be numeric (float32), got dtype {x.dtype}")
    rows = len(shape) == 3 and x.ndim == 2 and x.shape[1:] == (int(np.prod(shape)),)
    if x.ndim < 2 or (x.shape[1:] != shape and not rows):
        raise ZeroskipError(f"{where}: x has shape {list(x.shape)}, the model takes {wanted}")
    if len(x) == 0:
        raise ZeroskipError(f"{where}: x holds no images")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ZeroskipError(f"{where}: x contains NaN or infinite values")
    if y.dtype.kind not in "iu":
        raise ZeroskipError(f"{where}: y must hold integer labels, got dtype {y.dtype}")
    if y.shape != (len(x),):
        raise ZeroskipError(f"{where}: y has shape {list(y.shape)}, expected [{len(x)}] (one "
                            "label per image of x)")
    if y.min() < 0 or y.max() >= classes:
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ZeroskipError(f"{where}: y holds label {bad}, the model has {classes} outputs "
                            f"(labels 0..{classes - 1})")
    return x, y.astype(np.int64)


def _layer_names(model) -> list[str] | None:
    """The ONNX model's names of its weighted layers when they can name the file's layers
    (unique, 1..256 characters), else None (conv1, ..., fc1, ...)."""
    from .modelfile import MAX_NAME

    names = model.weighted_names()
    ok = len(set(names)) == len(names) and all(0 < len(n) <= MAX_NAME for n in names)
    return names if ok else None


def _shared_weights(model, config):
    """``(codebooks, codes)`` of a model whose every weight tensor holds at most as many
    distinct non-zero values as the configured bits give (code 0 = 0.0), or None with the
    first layer that holds more: ``(name, values, bits)``."""
    import numpy as np

    from .share import n_centroids

    books, codes = [], []
    for op in model.ops:
        if op.weight is None:
            continue
        bits = config.conv_bits if op.kind == "conv" else config.fc_bits
        values = len(np.unique(op.weight[op.weight != 0]))
        if values > n_centroids(bits, config.eie):
            return None, (op.name, values, bits)
        book, code = model.shared(op)
        books.append(book)
        codes.append(code)
    return (books, codes), None


def run_file(args: argparse.Namespace) -> int:
    """``zeroskip compress MODEL.onnx``: Deep Compression on ``--data``, or without it a shared
    model as it is, or (``--one-shot``) a dense one pruned and shared without retraining."""
    import numpy as np

    from . import compress as pipeline
    from . import onnx as zonnx
    from .interchange import _head, is_onnx

    path = args.model
    if not os.path.exists(path):
        raise ZeroskipError(f"{path}: no such file (MODEL is {model_choices()})")
    if not is_onnx(path, _head(path, 8)):
        raise ZeroskipError(f"{path}: not an ONNX model (MODEL is {model_choices()})")
    model = zonnx.load(path)
    weighted = [op for op in model.ops if op.weight is not None]
    after = model.ops[model.ops.index(weighted[-1]) + 1:]
    if weighted[-1].kind != "dense" or any(op.kind != "relu" for op in after):
        last = model.ops[-1]
        raise ZeroskipError(f"{path}: the model must end in a Gemm/MatMul layer (one score per "
                            f"label); it ends in '{last.name}' ({last.kind})")
    classes = int(weighted[-1].weight.shape[0])
    net = model.network()
    config = imported_config_from_args(args, net)
    stem = os.path.splitext(os.path.basename(path))[0] or "model"
    output = args.output or f"{stem}.zsk"
    outputs = (("-o", output), ("--json", args.json), ("--interchange", args.interchange))
    for flag, out in outputs:
        _check_writable(flag, out)
        if out and args.test and os.path.exists(out) and os.path.exists(args.test) \
                and os.path.samefile(out, args.test):
            raise ZeroskipError(f"{flag} {out}: would overwrite the input {args.test}")
    if args.interchange and any(op.kind == "conv" for op in model.ops):
        raise ZeroskipError(f"--interchange: {path} has convolutions; the interchange format "
                            "holds fully-connected networks only")
    if args.one_shot and args.data:
        raise ZeroskipError("--one-shot: prunes and shares without training; it takes no "
                            "--data (with --data the model is retrained as it is pruned)")
    train = load_data(args.data, "--data", model.input_shape, classes) if args.data else None
    test = load_data(args.test, "--test", model.input_shape, classes) if args.test else None
    names = _layer_names(model)
    progress = Progress(getattr(args, "quiet", False))
    if train is not None:
        counts = np.bincount(train[1])
        fewest = int(counts[counts > 0].min())
        if config.validation and fewest <= config.validation:
            label = int(np.flatnonzero(counts == fewest)[0])
            raise ZeroskipError(f"--data {args.data}: label {label} has {fewest} images, too few "
                                f"to set {config.validation} aside for validation and train on "
                                "the rest (--validation N sets fewer aside)")
        data = (*train, *(test if test is not None else (None, None)))
        result = pipeline.compress(config, data, progress, network=net, names=names)
    else:
        shared, dense = _shared_weights(model, config)
        if shared is not None and not args.one_shot:
            try:
                result = pipeline.compress_shared(config, net, *shared, test, names)
            except pipeline.NotShared as error:     # a stored codebook wider than the bits
                raise ZeroskipError(f"{path}: {error}; give more --bits/--conv-bits") from None
        elif args.one_shot:
            result = pipeline.one_shot(config, net, test, names)
        else:
            name, values, bits = dense
            raise ZeroskipError(
                f"{path}: dense weights (layer '{name}' holds {values} distinct values, more "
                f"than {bits}-bit sharing); Deep Compression needs training data: --data "
                "TRAIN.npz (x, y), or --one-shot to prune and share without retraining")
    print(result.table())
    if result.method == "one-shot":
        print(_one_shot_warning(result), file=sys.stderr)
    return _write_outputs(args, output, result)


def _one_shot_warning(result) -> str:
    acc = result.accuracy
    head = "zeroskip compress: warning: one-shot: pruned and shared without retraining"
    if not result.n_test:
        return (f"{head}; its accuracy is not measured (give --test TEST.npz), and it usually "
                "drops far: --data TRAIN.npz retrains")
    return (f"{head}: accuracy {100 * acc['compressed']:.2f}% on {result.n_test} --test images, "
            f"{100 * (acc['dense'] - acc['compressed']):.2f} pp below the dense model's "
            f"{100 * acc['dense']:.2f}%; --data TRAIN.npz retrains")


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
    config = BinaryRun(model=getattr(args, "model", "binary-mlp"), mode=args.mode,
                       distill=args.distill, seed=args.seed, epochs=args.epochs,
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
