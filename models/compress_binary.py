"""The binary flow behind ``zeroskip compress binary-mlp`` and ``binary-cnn``: train the float
baseline and a binary network, fold, report.

Flow: train the full-precision twin (784-256-256-10 MLP, or the conv net with ReLU: the
baseline and, with ``--distill``, the teacher); train the binary network (BWN or XNOR,
optionally distilled); fold batch norm + sign into
integer thresholds; evaluate the packed-bit reference on the 1,000 held-out images; account the
storage. ``-o`` writes the folded model (.npz, ``zeroskip.models.binary_ref.save``), ``--json``
the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from zeroskip.errors import ZeroskipError
from zeroskip.progress import QUIET, Progress
from zeroskip.table import format_table

from . import binary_fold, binary_layers, binary_ref, binary_storage, binary_zoo
from .data import mnist_split
from .distill import Distillation, fit_distilled
from .network import Network
from .train import Schedule, dense_params, fit

MODEL = "binary-mlp"


@dataclass(frozen=True)
class BinaryRun:
    """Everything one run needs; the defaults are the zoo's settings (≈ 30 s per model)."""

    mode: str = "bwn"
    distill: bool = False
    model: str = MODEL          #: ``binary_zoo.MODELS``: binary-mlp or binary-cnn
    seed: int = 0
    epochs: int = 10
    teacher_epochs: int = 10
    lr: float = 0.01
    teacher_lr: float = 1e-3
    batch_size: int = 100
    lr_decay: float = 0.85
    temperature: float = 4.0
    soft_weight: float = 0.9
    first_full_precision: bool = False
    last_full_precision: bool = False
    train_limit: int = 0  # use only the first N training images (tests); 0 = all 4,000
    blas_threads: int = 1  # as compress.CompressConfig: the same model on any machine, and fast

    def __post_init__(self):
        binary_zoo.check_mode(self.mode)
        if self.model not in binary_zoo.MODELS:
            raise ZeroskipError(f"binary model {self.model!r}: unknown (one of "
                                f"{', '.join(binary_zoo.MODELS)})")
        if self.model != MODEL and (self.first_full_precision or self.last_full_precision):
            raise ZeroskipError(f"{self.model}: full-precision first or last layers are "
                                f"{MODEL}'s only")
        for name in ("epochs", "teacher_epochs", "batch_size", "blas_threads"):
            if getattr(self, name) < 1:
                raise ZeroskipError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")


@dataclass
class BinaryResult:
    report: dict
    teacher: Network
    student: Network
    folded: list | None


def train_teacher(run: BinaryRun, x, y, progress: Progress) -> Network:
    teacher = binary_zoo.MODELS[run.model][1](seed=run.seed)
    with threadpool_limits(limits=run.blas_threads, user_api="blas"):
        fit(teacher, dense_params(teacher), x, y,
            Schedule(run.teacher_epochs, run.teacher_lr, "adam", 64),
            np.random.default_rng(run.seed), progress, label="float baseline")
    return teacher


def compress_binary(run: BinaryRun, progress: Progress = QUIET,
                    teacher: Network | None = None) -> BinaryResult:
    """Train, fold and measure one binary MLP; ``teacher`` may be reused across runs.

    BLAS runs on ``run.blas_threads`` threads (1 by default): a float sum's order depends on how
    BLAS splits a product among its threads, so the trained model would otherwise depend on the
    machine's core count (2 threads and 1 gave 92.9 % and 93.4 % for the same XNOR run), and
    these small products run faster on one thread of a loaded machine anyway."""
    with threadpool_limits(limits=run.blas_threads, user_api="blas"):
        return _compress_binary(run, progress, teacher)


def _compress_binary(run: BinaryRun, progress: Progress, teacher: Network | None) -> BinaryResult:
    x, y, x_test, y_test = mnist_split(run.seed)
    if run.train_limit:
        x, y = x[:run.train_limit], y[:run.train_limit]
    start = time.perf_counter()
    if teacher is None:
        teacher = train_teacher(run, x, y, progress)
    teacher_seconds = time.perf_counter() - start

    start = time.perf_counter()
    if run.model == MODEL:
        student = binary_zoo.binary_mlp(run.mode, seed=run.seed,
                                        first_full_precision=run.first_full_precision,
                                        last_full_precision=run.last_full_precision)
    else:
        student = binary_zoo.MODELS[run.model][0](run.mode, seed=run.seed)
    schedule = Schedule(run.epochs, run.lr, "adam", run.batch_size, lr_decay=run.lr_decay)
    params = binary_layers.trainable_params(student)
    rng = np.random.default_rng(run.seed + 1)
    label = f"{run.mode}{' distilled' if run.distill else ''}"
    if run.distill:
        config = Distillation(run.temperature, run.soft_weight)
        fit_distilled(student, params, x, y, teacher.logits(x), schedule, rng, config,
                      progress, label=label)
    else:
        fit(student, params, x, y, schedule, rng, progress, label=label)
    train_seconds = time.perf_counter() - start

    float_pred = student.logits(x_test).argmax(axis=1)
    folded = None
    accuracy_binary = None
    agreement = None
    if not (run.first_full_precision or run.last_full_precision):
        folded = binary_fold.fold(student)
        ref_pred = binary_ref.predict(folded, binary_ref.quantize_pixels(x_test))
        accuracy_binary = float(np.mean(ref_pred == y_test))
        agreement = float(np.mean(ref_pred == float_pred))
    layers = binary_storage.storage(student)
    report = {
        "model": run.model,
        "mode": run.mode,
        "distill": run.distill,
        "seed": run.seed,
        "epochs": run.epochs,
        "first_full_precision": run.first_full_precision,
        "last_full_precision": run.last_full_precision,
        "test_images": int(len(y_test)),
        "accuracy_float": teacher.accuracy(x_test, y_test),
        "accuracy_binary_float_forward": float(np.mean(float_pred == y_test)),
        "accuracy_binary": accuracy_binary,
        "reference_agreement": agreement,
        "compression_ratio": binary_storage.compression_ratio(layers),
        "float32_bytes": sum(layer.dense_bits // 8 for layer in layers),
        "binary_bytes": sum(layer.bytes for layer in layers),
        "layers": [layer.to_json() for layer in layers],
        "teacher_seconds": teacher_seconds,
        "train_seconds": train_seconds,
    }
    return BinaryResult(report, teacher, student, folded)


def format_report(report: dict) -> str:
    acc = report["accuracy_binary"]
    lines = [
        f"{report['model']} ({report['mode']}{', distilled' if report['distill'] else ''}) "
        f"on {report['test_images']} held-out images",
        f"  float baseline accuracy      {report['accuracy_float']:.4f}",
        f"  binary (float forward)       {report['accuracy_binary_float_forward']:.4f}",
        f"  binary (packed-bit integer)  {'n/a' if acc is None else f'{acc:.4f}'}",
        f"  storage {report['float32_bytes']} B float32 -> {report['binary_bytes']} B "
        f"({report['compression_ratio']:.1f}x)",
    ]
    table = format_table(["layer", "weights", "bits", "extra bits", "bytes"],
                         [[layer["name"], layer["weights"], layer["bits"], layer["extra_bits"],
                           layer["bytes"]] for layer in report["layers"]])
    return "\n".join(lines + ["  " + line for line in table.splitlines()])
