"""The Deep Compression pipeline: train → prune + retrain → share → fine-tune → Huffman.

``compress(config)`` runs every stage on the MNIST split and returns a ``CompressResult``: the
compressed model (as it decodes from its file bytes), the file bytes, the storage accounting,
the accuracies after each stage and the time each stage took.

Decisions are made on a validation split carved out of the training images (``validation``
images per class, stratified): after each pruning step's scheduled retraining, a network more
than ``prune_budget`` below the dense network's validation accuracy retrains on, one epoch at a
time, until it is back within the budget or ``prune_extra_epochs`` more epochs have run. The
held-out test images only measure the result; nothing is chosen on them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

from zeroskip.progress import QUIET, Progress

from . import modelfile, zoo
from .data import VALIDATION_PER_CLASS, mnist_split, validation_split
from .layers import Conv2D
from .modelfile import CompressedModel
from .prune import density, prune_mask, quality_ramp
from .share import n_centroids, share_weights
from .storage import StorageReport, account_layer, format_table
from .train import Schedule, dense_params, fit, masked_params, shared_params


@dataclass(frozen=True)
class CompressConfig:
    """Everything a compression run depends on; ``default_config`` fills in tuned values."""

    model: str = "lenet300"
    seed: int = 0
    quality: tuple[float, ...] = ()   # pruning quality per weighted layer (× std)
    fc_bits: int = 5                  # 2**bits centroids for fully-connected layers
    conv_bits: int = 8                # ... and for convolutions
    eie: bool = False                 # code 0 within the bits: 2**bits - 1 centroids
    fc_index_bits: int = 5            # relative index width, fully-connected layers
    conv_index_bits: int = 8          # ... and convolutions
    dropout: float = 0.0
    dense: Schedule = Schedule(epochs=20, lr=0.05, l2=1e-4)
    prune_steps: int = 3
    prune: Schedule = Schedule(epochs=4, lr=0.01, l2=1e-4)
    finetune: Schedule = Schedule(epochs=4, lr=1e-4, optimizer="adam")
    blas_threads: int = 1             # 1: bit-reproducible, and fast on a loaded 2-core machine
    validation: int = VALIDATION_PER_CLASS  # training images per class set aside; 0: none
    prune_budget: float = 0.01        # retrain on below dense validation accuracy - this
    prune_extra_epochs: int = 8       # at most this many more epochs per pruning step

    def validate(self) -> None:
        """Raise ValueError naming the bad field (the CLI turns it into a ZeroskipError)."""
        if self.model not in zoo.MODELS:
            raise ValueError(f"unknown model {self.model!r} (one of {', '.join(zoo.MODELS)})")
        for name in ("fc_bits", "conv_bits", "fc_index_bits", "conv_index_bits"):
            if not 1 <= getattr(self, name) <= 8:
                raise ValueError(f"{name} must be in 1..8, got {getattr(self, name)}")
        if self.eie and self.fc_bits < 2:
            raise ValueError("the EIE mode needs at least 2 weight bits (code 0 is reserved)")
        if any(not np.isfinite(q) or q < 0 for q in self.quality):
            raise ValueError(f"pruning quality must be >= 0, got {list(self.quality)}")
        for name in ("dense", "prune", "finetune"):
            schedule = getattr(self, name)
            if schedule.epochs < 0 or schedule.lr <= 0 or schedule.batch_size < 1:
                raise ValueError(f"bad {name} schedule {schedule}")
        if self.blas_threads < 1:
            raise ValueError(f"blas_threads must be >= 1, got {self.blas_threads}")
        if self.prune_steps < 1:
            raise ValueError(f"prune_steps must be >= 1, got {self.prune_steps}")
        if self.validation < 0:
            raise ValueError(f"validation must be >= 0 images per class, got {self.validation}")
        if not 0 <= self.prune_budget <= 1:
            raise ValueError(f"prune_budget must be in [0, 1], got {self.prune_budget}")
        if self.prune_extra_epochs < 0:
            raise ValueError(f"prune_extra_epochs must be >= 0, got {self.prune_extra_epochs}")


#: tuned per model: (qualities per weighted layer, schedules); see docs/models.md
DEFAULTS = {
    "lenet300": dict(
        quality=(1.8, 1.8, 1.1),
        dropout=0.2,
        dense=Schedule(epochs=20, lr=0.05, l2=5e-4),
        prune_steps=4,
        prune=Schedule(epochs=8, lr=0.01, l2=5e-4),
        finetune=Schedule(epochs=4, lr=1e-4, optimizer="adam"),
    ),
    "lenet5": dict(
        quality=(0.5, 1.6, 1.9, 1.3),
        dropout=0.3,
        dense=Schedule(epochs=8, lr=0.02, l2=5e-4),
        prune_steps=3,
        prune=Schedule(epochs=5, lr=0.02, l2=5e-4),
        finetune=Schedule(epochs=2, lr=1e-4, optimizer="adam"),
    ),
}


def default_config(model: str = "lenet300", eie: bool = False, **overrides) -> CompressConfig:
    """The tuned configuration of ``model``; ``eie`` switches every layer to 4-bit codes with
    code 0 reserved (the array's 4-bit codebook, convolutions included: docs/conv.md) and fc
    layers to 4-bit relative indices (EIE's format)."""
    base = dict(DEFAULTS.get(model, {}))
    if eie:
        base.update(eie=True, fc_bits=4, fc_index_bits=4, conv_bits=4)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return CompressConfig(model=model, **base)


@dataclass
class CompressResult:
    config: CompressConfig
    model: CompressedModel           # decoded from ``data``: exactly what the file holds
    data: bytes                      # the .zsk file
    storage: StorageReport
    accuracy: dict[str, float]       # dense, pruned, shared (before fine-tuning), compressed
    seconds: dict[str, float] = field(default_factory=dict)  # wall-clock per stage, and total
    n_test: int = 0                  # held-out images the accuracies are measured on
    validation: dict[str, float] = field(default_factory=dict)  # same stages, validation split
    n_validation: int = 0            # validation images (carved from the training set)
    extra_epochs: list[int] = field(default_factory=list)  # per pruning step, chosen on validation

    def table(self) -> str:
        title = (f"{self.config.model}: Deep Compression "
                 f"({'EIE 4-bit, code 0 reserved' if self.config.eie else 'P+Q+H'})")
        acc = self.accuracy
        return "\n".join([
            format_table(self.storage, title),
            f"accuracy on {self.n_test} held-out images: dense {100 * acc['dense']:.2f}%, "
            f"pruned {100 * acc['pruned']:.2f}%, shared {100 * acc['shared']:.2f}%, "
            f"compressed {100 * acc['compressed']:.2f}% "
            f"(drop {100 * (acc['dense'] - acc['compressed']):.2f} pp)",
            *self._validation_lines(),
        ])

    def _validation_lines(self) -> list[str]:
        if not self.n_validation:
            return ["no validation split: every pruning step retrained as scheduled"]
        val = self.validation
        return [f"validation ({self.n_validation} training images set aside): dense "
                f"{100 * val['dense']:.2f}%, pruned {100 * val['pruned']:.2f}%, compressed "
                f"{100 * val['compressed']:.2f}%; extra retraining epochs per pruning step "
                f"{self.extra_epochs}"]

    def report(self) -> dict:
        """The ``--json`` report."""
        config = asdict(self.config)
        return {
            "model": self.config.model,
            "eie": self.config.eie,
            "accuracy_dense": self.accuracy["dense"],
            "accuracy_pruned": self.accuracy["pruned"],
            "accuracy_shared": self.accuracy["shared"],
            "accuracy_compressed": self.accuracy["compressed"],
            "test_images": self.n_test,
            "validation_images": self.n_validation,
            "validation_accuracy": dict(self.validation),
            "extra_epochs": list(self.extra_epochs),
            "compression_ratio": self.storage.ratio("huffman"),
            "compression_ratio_pruned": self.storage.ratio("pruned"),
            "compression_ratio_quantized": self.storage.ratio("quantized"),
            "file_bytes": len(self.data),
            "dense_bytes": self.storage.total("dense") // 8,
            "layers": [layer.to_json() for layer in self.storage.layers],
            "file_overhead_bytes": self.storage.file_overhead_bytes,
            "seconds": self.seconds,
            "config": config,
        }


def _layer_bits(net, config: CompressConfig) -> tuple[list[int], list[int]]:
    weight_bits, index_bits = [], []
    for layer in net.weighted():
        conv = isinstance(layer, Conv2D)
        weight_bits.append(config.conv_bits if conv else config.fc_bits)
        index_bits.append(config.conv_index_bits if conv else config.fc_index_bits)
    return weight_bits, index_bits


def compress(config: CompressConfig, data=None, progress: Progress = QUIET) -> CompressResult:
    """Run the whole pipeline; ``data`` = ``(x_train, y_train, x_test, y_test)`` defaults to
    ``mnist_split(config.seed)``. ``config.validation`` images per class of the training part
    are set aside for the pipeline's decisions; the test part is only measured.

    BLAS runs on ``config.blas_threads`` threads: the mini-batch products are small, so one
    thread loses little on an idle machine, gains ~10x on a busy one (threads spinning against
    other jobs), and makes the result independent of the machine's core count.
    """
    config.validate()
    with threadpool_limits(limits=config.blas_threads, user_api="blas"):
        return _compress(config, data, progress)


def _compress(config: CompressConfig, data, progress: Progress) -> CompressResult:
    x_train, y_train, x_test, y_test = data if data is not None else mnist_split(config.seed)
    x_val = y_val = None
    if config.validation:
        x_train, y_train, x_val, y_val = validation_split(x_train, y_train, config.validation,
                                                          config.seed)
    rng = np.random.default_rng(config.seed)
    net = zoo.build(config.model, config.seed, config.dropout)
    quality = config.quality or DEFAULTS[config.model]["quality"]
    if len(quality) == 1:
        quality = quality * len(net.weighted())
    if len(quality) != len(net.weighted()):
        raise ValueError(f"{len(quality)} pruning qualities for {len(net.weighted())} layers "
                         f"of {config.model}")
    weight_bits, index_bits = _layer_bits(net, config)
    seconds, accuracy, validation = {}, {}, {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    progress(f"{config.model}: training the dense baseline")
    fit(net, dense_params(net), x_train, y_train, config.dense, rng, progress, "dense")
    accuracy["dense"] = net.accuracy(x_test, y_test)
    if x_val is not None:
        validation["dense"] = net.accuracy(x_val, y_val)
    progress(f"dense accuracy {accuracy['dense']:.4f}")
    lap("dense")

    floor = validation["dense"] - config.prune_budget if x_val is not None else None
    masks, extra = guarded_prune(net, list(quality), config.prune_steps, config.prune,
                                 x_train, y_train, rng, progress, x_val, y_val, floor,
                                 config.prune_extra_epochs)
    accuracy["pruned"] = net.accuracy(x_test, y_test)
    if x_val is not None:
        validation["pruned"] = net.accuracy(x_val, y_val)
    progress(f"pruned accuracy {accuracy['pruned']:.4f}")
    lap("prune")

    codebooks, codes = [], []
    for layer, mask, bits in zip(net.weighted(), masks, weight_bits):
        book, code = share_weights(layer.params["W"], mask, n_centroids(bits, config.eie))
        codebooks.append(book)
        codes.append(code)
    params = shared_params(net, codebooks, codes)  # sets W = codebook[codes]
    accuracy["shared"] = net.accuracy(x_test, y_test)
    progress(f"shared accuracy {accuracy['shared']:.4f} (before fine-tuning the centroids)")
    lap("share")

    fit(net, params, x_train, y_train, config.finetune, rng, progress, "fine-tune centroids")
    tuned = [p.value for p in params[0::2]]
    lap("finetune")

    model = modelfile.from_network(net, tuned, codes, index_bits)
    data_bytes, sections = modelfile.encode(model)
    decoded = modelfile.decode(data_bytes, f"{config.model}.zsk")
    storage = StorageReport(
        tuple(account_layer(name, layer.params["W"].size, layer.params["b"].size, bits,
                            section, len(book))
              for name, layer, bits, section, book
              in zip(model.names, net.weighted(), weight_bits, sections, tuned)),
        modelfile.overhead_bytes(model))
    assert storage.file_bytes == len(data_bytes), "storage accounting disagrees with the file"
    accuracy["compressed"] = decoded.to_network().accuracy(x_test, y_test)
    if x_val is not None:
        validation["compressed"] = decoded.to_network().accuracy(x_val, y_val)
    progress(f"compressed accuracy {accuracy['compressed']:.4f}, "
             f"{len(data_bytes)} bytes ({storage.ratio('huffman'):.1f}x)")
    lap("huffman")
    seconds["total"] = sum(seconds.values())
    return CompressResult(config, decoded, data_bytes, storage, accuracy, seconds,
                          n_test=len(y_test), validation=validation,
                          n_validation=0 if y_val is None else len(y_val),
                          extra_epochs=extra)


def guarded_prune(net, qualities: list[float], steps: int, schedule: Schedule,
                  x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                  progress: Progress = QUIET, x_val=None, y_val=None,
                  floor: float | None = None, max_extra: int = 0
                  ) -> tuple[list[np.ndarray], list[int]]:
    """Iterative pruning (``prune.iterative_prune``'s ramp and retraining) whose retraining is
    extended on the validation split: after a step's scheduled epochs, while the network scores
    below ``floor`` on (x_val, y_val), it retrains one more epoch, at most ``max_extra`` times.
    Without a floor every step retrains as scheduled. Returns the masks and, per step, the
    extra epochs it took."""
    layers = net.weighted()
    if len(qualities) != len(layers):
        raise ValueError(f"{len(qualities)} qualities for {len(layers)} weighted layers")
    stds = [float(np.std(layer.params["W"])) for layer in layers]
    ramps = [quality_ramp(q, steps) for q in qualities]
    masks = [np.ones(layer.params["W"].shape, bool) for layer in layers]
    extra = []
    for step in range(steps):
        for i, layer in enumerate(layers):
            masks[i] &= prune_mask(layer.params["W"], ramps[i][step], stds[i])
            layer.params["W"] *= masks[i]
        kept = ", ".join(f"{100 * d:.1f}%" for d in density(masks))
        label = f"retrain {step + 1}/{steps}"
        progress(f"prune step {step + 1}/{steps}: kept {kept}")
        fit(net, masked_params(net, masks), x, y, schedule, rng, progress, label)
        extra.append(0)
        if floor is None:
            continue
        score = net.accuracy(x_val, y_val)
        while score < floor and extra[-1] < max_extra:
            extra[-1] += 1
            fit(net, masked_params(net, masks), x, y, replace(schedule, epochs=1), rng,
                progress, f"{label}, extra epoch {extra[-1]}/{max_extra}")
            score = net.accuracy(x_val, y_val)
        progress(f"prune step {step + 1}/{steps}: validation accuracy {score:.4f} (floor "
                 f"{floor:.4f}) after {extra[-1]} extra epoch(s)")
    return masks, extra


def with_epochs(config: CompressConfig, dense: int | None = None, prune: int | None = None,
                finetune: int | None = None) -> CompressConfig:
    """``config`` with some phases' epoch counts replaced."""
    out = config
    if dense is not None:
        out = replace(out, dense=replace(out.dense, epochs=dense))
    if prune is not None:
        out = replace(out, prune=replace(out.prune, epochs=prune))
    if finetune is not None:
        out = replace(out, finetune=replace(out.finetune, epochs=finetune))
    return out
