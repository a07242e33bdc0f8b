"""The Deep Compression pipeline: train → prune + retrain → share → fine-tune → Huffman.

``compress(config)`` runs every stage on the MNIST split and returns a ``CompressResult``: the
compressed model (as it decodes from its file bytes), the file bytes, the storage accounting,
the accuracies after each stage and the time each stage took.

Decisions are made on a validation split carved out of the training images (``validation``
images per class, stratified): after each pruning step's scheduled retraining, a network more
than ``prune_budget`` below the dense network's validation accuracy retrains on, one epoch at a
time, until it is back within the budget or ``prune_extra_epochs`` more epochs have run. The
held-out test images only measure the result; nothing is chosen on them.

A network trained elsewhere (an imported ONNX model, ``zeroskip compress MODEL.onnx --data``)
goes through the same stages on the user's data: ``compress(config, data, network=net)`` with
``imported_config``; its dense stage is the model as it came (no training unless asked). Two
ways without training data: ``compress_shared`` packs weights that are already shared as they
are, ``one_shot`` prunes and shares without retraining (and says what that cost).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

from zeroskip.progress import QUIET, Progress

from . import modelfile, zoo
from .data import VALIDATION_PER_CLASS, mnist_split, validation_split
from .distill import Distillation, fit_distilled
from .layers import Conv2D, Dense, Dropout, ReLU
from .modelfile import CompressedModel
from .network import Graph, Network, fold_batchnorm
from .prune import density, prune_mask, quality_ramp
from .share import n_centroids, share_weights
from .storage import StorageReport, account_layer, format_table
from .train import Schedule, dense_params, fit, masked_params, shared_params


@dataclass(frozen=True)
class CompressConfig:
    """Everything a compression run depends on; ``default_config`` fills in tuned values."""

    model: str = "lenet300"
    source: str = ""                  # an imported model's file; "" = the zoo network ``model``
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
    retrain_dropout: bool = False     # the paper's rule: dropout x sqrt(kept) while retraining
    retrain_distill: float = 0.0      # > 0: retrain against the dense network's soft outputs,
    #                                   this weight on the soft term (temperature 4); 0: labels only
    distill_from: str = ""            # a zoo network trained first (its own defaults) whose soft
    #                                   outputs teach the dense stage; "": labels only
    distill_temperature: float = 4.0  # T of that soft + hard loss (soft weight 0.9)

    def validate(self) -> None:
        """Raise ValueError naming the bad field (the CLI turns it into a ZeroskipError)."""
        if not self.source and self.model not in zoo.MODELS:
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
        if not 0 <= self.retrain_distill <= 1:
            raise ValueError(f"retrain_distill must be in [0, 1], got {self.retrain_distill}")
        if self.distill_from and self.distill_from not in zoo.MODELS:
            raise ValueError(f"distill_from: unknown model {self.distill_from!r} "
                             f"(one of {', '.join(zoo.MODELS)})")
        if self.distill_from == self.model:
            raise ValueError(f"distill_from: {self.model} cannot teach itself")
        if not self.distill_temperature > 0:
            raise ValueError(f"distill_temperature must be > 0, got {self.distill_temperature}")
        if self.prune_extra_epochs < 0:
            raise ValueError(f"prune_extra_epochs must be >= 0, got {self.prune_extra_epochs}")


#: tuned per model: (qualities per weighted layer, schedules); see docs/models.md
DEFAULTS = {
    # every phase on images shifted by up to 2 pixels, 12 retraining epochs a pruning step:
    # chosen on the validation split of development seeds (benchmarks/tune_compress.py)
    "lenet300": dict(
        quality=(1.8, 1.8, 1.1),
        dropout=0.2,
        dense=Schedule(epochs=20, lr=0.05, l2=5e-4, shift=2),
        prune_steps=4,
        prune=Schedule(epochs=12, lr=0.01, l2=5e-4, shift=2),
        finetune=Schedule(epochs=4, lr=1e-4, optimizer="adam", shift=2),
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


#: the survey's networks (docs/seednets.md): batch-normed or small, they train with Adam and
#: with every training image shifted by up to 2 pixels (without, MobileNet learns the 3,500
#: training digits by heart: 100 % on them, 95.0 % held-out); one pruning quality for every
#: layer (len 1); small codebooks (a 256-entry codebook would outweigh a SqueezeNet layer's few
#: hundred weights). Chosen on the validation split (benchmarks/seednets_recipe.py; the
#: pruning on SqueezeNet, docs/seednets.md).
_SEEDNET = dict(
    quality=(0.6,),
    dense=Schedule(epochs=24, lr=0.005, optimizer="adam", l2=1e-4, lr_decay=0.9, shift=2),
    prune_steps=3,
    prune=Schedule(epochs=4, lr=0.001, optimizer="adam", l2=1e-4, shift=2),
    finetune=Schedule(epochs=2, lr=1e-4, optimizer="adam", shift=2),
    conv_bits=5, conv_index_bits=5,
)
DEFAULTS.update({name: dict(_SEEDNET) for name in
                 ("squeezenet", "mobilenet", "mobilenet-standard", "shufflenet")})


def default_config(model: str = "lenet300", eie: bool = False, **overrides) -> CompressConfig:
    """The tuned configuration of ``model``; ``eie`` switches every layer to 4-bit codes with
    code 0 reserved (the array's 4-bit codebook, convolutions included: docs/conv.md) and fc
    layers to 4-bit relative indices (EIE's format)."""
    base = dict(DEFAULTS.get(model, {}))
    if eie:
        base.update(eie=True, fc_bits=4, fc_index_bits=4, conv_bits=4)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return CompressConfig(model=model, **base)


def imported_quality(net: Network) -> tuple[float, ...]:
    """Pruning qualities for a network trained elsewhere, by each layer's role, from the zoo's
    tuned values (docs/models.md): a first convolution 0.5 (few weights, each one matters),
    other convolutions 1.6, hidden fully-connected layers 1.8, the last (classifier) 1.1."""
    layers = net.weighted()
    quality = []
    for i, layer in enumerate(layers):
        if isinstance(layer, Conv2D):
            quality.append(0.5 if i == 0 else 1.6)
        else:
            quality.append(1.1 if i == len(layers) - 1 else 1.8)
    return tuple(quality)


def imported_config(net: Network, source: str, eie: bool = False, **overrides) -> CompressConfig:
    """The configuration for ``net``, imported from ``source`` and already trained: the zoo's
    tuned schedules (LeNet-5's when it has convolutions, LeNet-300-100's otherwise) without the
    dense training (0 epochs unless overridden), qualities from ``imported_quality``, the same
    bits as the zoo's (``eie`` as in ``default_config``)."""
    zoo_model = "lenet5" if any(isinstance(l, Conv2D) for l in net.weighted()) else "lenet300"
    base = dict(DEFAULTS[zoo_model])
    # no shifts: an imported model's input need not be a square image
    base.update({phase: replace(base[phase], shift=0) for phase in ("dense", "prune", "finetune")})
    base.update(quality=imported_quality(net), dense=replace(base["dense"], epochs=0))
    if eie:
        base.update(eie=True, fc_bits=4, fc_index_bits=4, conv_bits=4)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return CompressConfig(model=net.name, source=str(source), **base)


def with_dropout(net: Network, rate: float, seed: int) -> Network:
    """``net`` (its layers, not copies) with dropout at ``rate`` after every ReLU that follows a
    fully-connected layer, where the zoo's networks have it; ``net`` itself when ``rate`` is 0
    or ``net`` is a ``Graph`` (branching networks retrain without dropout)."""
    if not rate or isinstance(net, Graph):
        return net
    rng = np.random.default_rng([seed, 0xD0])
    layers = []
    for i, layer in enumerate(net.layers):
        layers.append(layer)
        if isinstance(layer, ReLU) and i and isinstance(net.layers[i - 1], Dense):
            layers.append(Dropout(rate, rng))
    return Network(net.name, layers)


def without_dropout(net: Network) -> Network:
    """``net`` without its dropout layers (identities at inference): an imported model's file
    keeps the architecture it came with."""
    if isinstance(net, Graph):
        return net
    return Network(net.name, [layer for layer in net.layers if not isinstance(layer, Dropout)])


class NotShared(ValueError):
    """A weight tensor with more distinct values than the configured bits can hold."""

    def __init__(self, layer: str, values: int, limit: int, bits: int):
        self.layer, self.values, self.limit, self.bits = layer, values, limit, bits
        super().__init__(f"layer {layer} shares {values} non-zero values, more than "
                         f"{bits}-bit sharing holds ({limit})")


def compress_shared(config: CompressConfig, net: Network, codebooks, codes,
                    test=None, names: list[str] | None = None) -> CompressResult:
    """Weights that are already shared, taken as they are: ``codebooks`` (entry 0 = 0.0) and
    ``codes`` per weighted layer, each codebook within the configured bits (``NotShared``
    otherwise). Nothing is trained; ``test`` = ``(x, y)`` measures the model as it came and as
    its file decodes."""
    config.validate()
    clock = time.perf_counter()
    weight_bits, _ = _layer_bits(net, config)
    for name, book, bits in zip(names or net.layer_names(), codebooks, weight_bits, strict=True):
        limit = n_centroids(bits, config.eie)
        if len(book) - 1 > limit:
            raise NotShared(name, len(book) - 1, limit, bits)
    decoded, data_bytes, storage = package(config, net, codebooks, codes, names)
    accuracy = dict.fromkeys(STAGES)
    if test is not None:
        accuracy["dense"] = net.accuracy(*test)
        accuracy["compressed"] = decoded.to_network().accuracy(*test)
    return CompressResult(config, decoded, data_bytes, storage, accuracy,
                          {"total": time.perf_counter() - clock},
                          n_test=0 if test is None else len(test[1]), method="as-is")


def one_shot(config: CompressConfig, net: Network, test=None,
             names: list[str] | None = None) -> CompressResult:
    """Prune once to each layer's full quality and share by k-means, without any retraining or
    fine-tuning: what can be done without training data. ``test`` = ``(x, y)`` measures what
    it cost (the CLI prints it as a warning)."""
    config.validate()
    clock = time.perf_counter()
    quality = config.quality or imported_quality(net)
    if len(quality) == 1:
        quality = quality * len(net.weighted())
    accuracy = dict.fromkeys(STAGES)
    if test is not None:
        accuracy["dense"] = net.accuracy(*test)
    weight_bits, _ = _layer_bits(net, config)
    masks = []
    for layer, q in zip(net.weighted(), quality, strict=True):
        masks.append(prune_mask(layer.params["W"], q))
        layer.params["W"] *= masks[-1]
    if test is not None:
        accuracy["pruned"] = net.accuracy(*test)
    codebooks, codes = [], []
    for layer, mask, bits in zip(net.weighted(), masks, weight_bits):
        book, code = share_weights(layer.params["W"], mask, n_centroids(bits, config.eie))
        codebooks.append(book)
        codes.append(code)
    decoded, data_bytes, storage = package(config, net, codebooks, codes, names)
    if test is not None:
        accuracy["compressed"] = decoded.to_network().accuracy(*test)
    return CompressResult(config, decoded, data_bytes, storage, accuracy,
                          {"total": time.perf_counter() - clock},
                          n_test=0 if test is None else len(test[1]), method="one-shot")


#: how a result was made: the title of its table
METHODS = {"deep-compression": "Deep Compression",
           "as-is": "weights already shared, taken as they are",
           "one-shot": "one-shot: pruned and shared WITHOUT retraining"}
#: the stages whose accuracy a result may report, in order
STAGES = ("dense", "pruned", "shared", "compressed")


@dataclass
class CompressResult:
    config: CompressConfig
    model: CompressedModel           # decoded from ``data``: exactly what the file holds
    data: bytes                      # the .zsk file
    storage: StorageReport
    accuracy: dict[str, float | None]  # dense, pruned, shared (before fine-tuning), compressed;
    #                                    None: not measured (no test images, or no such stage)
    seconds: dict[str, float] = field(default_factory=dict)  # wall-clock per stage, and total
    n_test: int = 0                  # held-out images the accuracies are measured on
    validation: dict[str, float] = field(default_factory=dict)  # same stages, validation split
    n_validation: int = 0            # validation images (carved from the training set)
    extra_epochs: list[int] = field(default_factory=list)  # per pruning step, chosen on validation
    method: str = "deep-compression"  # or "as-is", "one-shot" (``METHODS``)

    def table(self) -> str:
        mode = "EIE 4-bit, code 0 reserved" if self.config.eie else "P+Q+H"
        title = (f"{self.config.model}: Deep Compression ({mode})"
                 if self.method == "deep-compression"
                 else f"{self.config.model}: {METHODS[self.method]} ({mode})")
        return "\n".join([format_table(self.storage, title), self._accuracy_line(),
                          *self._validation_lines()])

    def _accuracy_line(self) -> str:
        acc = self.accuracy
        if not self.n_test:
            return "no test images (--test): accuracy not measured on held-out data"
        stages = ", ".join(f"{stage} {100 * acc[stage]:.2f}%" for stage in STAGES
                           if acc.get(stage) is not None)
        return (f"accuracy on {self.n_test} held-out images: {stages} "
                f"(drop {100 * (acc['dense'] - acc['compressed']):.2f} pp)")

    def _validation_lines(self) -> list[str]:
        if self.method != "deep-compression":
            return []
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
            "source": self.config.source or None,
            "method": self.method,
            "eie": self.config.eie,
            "accuracy_dense": self.accuracy.get("dense"),
            "accuracy_pruned": self.accuracy.get("pruned"),
            "accuracy_shared": self.accuracy.get("shared"),
            "accuracy_compressed": self.accuracy.get("compressed"),
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


def compress(config: CompressConfig, data=None, progress: Progress = QUIET,
             network: Network | None = None, names: list[str] | None = None) -> CompressResult:
    """Run the whole pipeline; ``data`` = ``(x_train, y_train, x_test, y_test)`` defaults to
    ``mnist_split(config.seed)`` (``x_test``, ``y_test`` may be None: nothing measured on held-out
    images). ``config.validation`` images per class of the training part are set aside for the
    pipeline's decisions; the test part is only measured.

    ``network``: a trained network to compress instead of the zoo's ``config.model`` (an
    imported model; ``imported_config`` gives its defaults), changed in place; ``names``: its
    weighted layers' names in the file (default conv1, ..., fc1, ...).

    BLAS runs on ``config.blas_threads`` threads: the mini-batch products are small, so one
    thread loses little on an idle machine, gains ~10x on a busy one (threads spinning against
    other jobs), and makes the result independent of the machine's core count.
    """
    config.validate()
    if (network is None) != (not config.source):
        raise ValueError("a network is given exactly when config.source names its file")
    with threadpool_limits(limits=config.blas_threads, user_api="blas"):
        return _compress(config, data, progress, network, names)


def _compress(config: CompressConfig, data, progress: Progress, network, names
              ) -> CompressResult:
    x_train, y_train, x_test, y_test = data if data is not None else mnist_split(config.seed)
    x_val = y_val = None
    if config.validation:
        x_train, y_train, x_val, y_val = validation_split(x_train, y_train, config.validation,
                                                          config.seed)
    rng = np.random.default_rng(config.seed)
    if network is None:
        net = zoo.build(config.model, config.seed, config.dropout)
        quality = config.quality or DEFAULTS[config.model]["quality"]
    else:
        net = with_dropout(network, config.dropout, config.seed)
        quality = config.quality or imported_quality(net)
    if len(quality) == 1:
        quality = quality * len(net.weighted())
    if len(quality) != len(net.weighted()):
        raise ValueError(f"{len(quality)} pruning qualities for {len(net.weighted())} layers "
                         f"of {config.model}")
    seconds, accuracy, validation = {}, {}, {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    def measure(stage: str, model: Network) -> None:
        accuracy[stage] = None if x_test is None else model.accuracy(x_test, y_test)
        if x_val is not None and stage != "shared":
            validation[stage] = model.accuracy(x_val, y_val)
        shown = accuracy[stage] if accuracy[stage] is not None else validation.get(stage)
        where = "held-out" if accuracy[stage] is not None else "validation"
        if shown is not None:
            progress(f"{stage} accuracy {shown:.4f} ({where})")

    if network is None or config.dense.epochs:
        progress(f"{config.model}: training the dense baseline")
    net = _train_dense(config, net, x_train, y_train, rng, progress)
    measure("dense", net)
    lap("dense")

    floor = validation["dense"] - config.prune_budget if x_val is not None else None
    teacher = None
    if config.retrain_distill:
        teacher = (net.forward(x_train), Distillation(soft_weight=config.retrain_distill))
    masks, extra = guarded_prune(net, list(quality), config.prune_steps, config.prune,
                                 x_train, y_train, rng, progress, x_val, y_val, floor,
                                 config.prune_extra_epochs, config.retrain_dropout, teacher)
    measure("pruned", net)
    lap("prune")

    weight_bits, _ = _layer_bits(net, config)
    codebooks, codes = [], []
    for layer, mask, bits in zip(net.weighted(), masks, weight_bits):
        book, code = share_weights(layer.params["W"], mask, n_centroids(bits, config.eie))
        codebooks.append(book)
        codes.append(code)
    params = shared_params(net, codebooks, codes)  # sets W = codebook[codes]
    measure("shared", net)
    lap("share")

    _retrain(net, params, x_train, y_train, config.finetune, rng, progress,
             "fine-tune centroids", teacher)
    tuned = [p.value for p in params[0::2]]
    lap("finetune")

    decoded, data_bytes, storage = package(config, without_dropout(net) if network is not None
                                           else net, tuned, codes, names)
    measure("compressed", decoded.to_network())
    progress(f"{len(data_bytes)} bytes ({storage.ratio('huffman'):.1f}x)")
    lap("huffman")
    seconds["total"] = sum(seconds.values())
    return CompressResult(config, decoded, data_bytes, storage, accuracy, seconds,
                          n_test=0 if y_test is None else len(y_test), validation=validation,
                          n_validation=0 if y_val is None else len(y_val),
                          extra_epochs=extra)


def train_dense(config: CompressConfig, data=None, progress: Progress = QUIET,
                teacher: Network | None = None) -> Network:
    """The pipeline's dense stage alone: the zoo network ``config.model`` trained on the
    training images less the validation split (as ``compress`` does), distilled from
    ``config.distill_from`` when set, batch norms folded. What the survey's dense rows run.
    ``teacher``: the teacher already trained by ``train_dense(default_config(distill_from,
    seed))`` (a cache holds it), instead of training it again."""
    config.validate()
    x_train, y_train, _, _ = data if data is not None else mnist_split(config.seed)
    if config.validation:
        x_train, y_train, _, _ = validation_split(x_train, y_train, config.validation,
                                                  config.seed)
    with threadpool_limits(limits=config.blas_threads, user_api="blas"):
        net = zoo.build(config.model, config.seed, config.dropout)
        return _train_dense(config, net, x_train, y_train, np.random.default_rng(config.seed),
                            progress, teacher)


def _train_dense(config: CompressConfig, net: Network, x, y, rng, progress: Progress,
                 teacher: Network | None = None) -> Network:
    """Fit ``net``'s weights (and batch norms) on labels, or distilled from a zoo teacher
    (``teacher``, or trained here); returns it with its batch norms folded (pruning and
    sharing see plain conv weights)."""
    if not config.distill_from:
        fit(net, dense_params(net), x, y, config.dense, rng, progress, "dense")
        return fold_batchnorm(net)
    if teacher is None:
        teacher_config = default_config(config.distill_from, seed=config.seed)
        progress(f"{config.model}: training the teacher, {config.distill_from}")
        teacher = _train_dense(teacher_config, zoo.build(teacher_config.model, config.seed,
                                                         teacher_config.dropout),
                               x, y, np.random.default_rng(config.seed), progress)
    fit_distilled(net, dense_params(net), x, y, teacher.logits(x), config.dense, rng,
                  Distillation(temperature=config.distill_temperature), progress,
                  f"dense, distilled from {config.distill_from}")
    return fold_batchnorm(net)


def package(config: CompressConfig, net: Network, codebooks, codes,
            names: list[str] | None = None) -> tuple[CompressedModel, bytes, StorageReport]:
    """Huffman coding and the file: the weight-shared ``net`` (``codebook[codes]`` per weighted
    layer) as ``.zsk`` bytes, the model those bytes decode to, and the storage accounting (which
    must add up to the file's length)."""
    weight_bits, index_bits = _layer_bits(net, config)
    model = modelfile.from_network(net, codebooks, codes, index_bits, names)
    data_bytes, sections = modelfile.encode(model)
    decoded = modelfile.decode(data_bytes, f"{config.model}.zsk")
    storage = StorageReport(
        tuple(account_layer(name, layer.params["W"].size, layer.params["b"].size, bits,
                            section, len(book))
              for name, layer, bits, section, book
              in zip(model.names, net.weighted(), weight_bits, sections, codebooks)),
        modelfile.overhead_bytes(model))
    assert storage.file_bytes == len(data_bytes), "storage accounting disagrees with the file"
    return decoded, data_bytes, storage


def guarded_prune(net, qualities: list[float], steps: int, schedule: Schedule,
                  x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                  progress: Progress = QUIET, x_val=None, y_val=None,
                  floor: float | None = None, max_extra: int = 0, adjust_dropout: bool = False,
                  teacher=None) -> tuple[list[np.ndarray], list[int]]:
    """Iterative pruning (``prune.iterative_prune``'s ramp and retraining) whose retraining is
    extended on the validation split: after a step's scheduled epochs, while the network scores
    below ``floor`` on (x_val, y_val), it retrains one more epoch, at most ``max_extra`` times.
    Without a floor every step retrains as scheduled. ``adjust_dropout``: before each step's
    retraining, every dropout layer's rate becomes its original rate x sqrt(kept fraction of the
    weighted layer it feeds) (Deep Compression's rule, from Han et al. 2015: a sparser layer
    has less capacity to regularise); the original rates are restored at the end. ``teacher``
    = ``(logits on x, Distillation)``: retrain against the dense network's soft outputs as well
    as the labels (``distill.fit_distilled``). Returns the
    masks and, per step, the extra epochs it took."""
    layers = net.weighted()
    fed = _dropout_feeds(net) if adjust_dropout else []
    original = [dropout.rate for dropout, _ in fed]
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
        for (dropout, index), rate in zip(fed, original):
            dropout.rate = rate * float(np.sqrt(masks[index].mean()))
        label = f"retrain {step + 1}/{steps}"
        progress(f"prune step {step + 1}/{steps}: kept {kept}")
        _retrain(net, masked_params(net, masks), x, y, schedule, rng, progress, label, teacher)
        extra.append(0)
        if floor is None:
            continue
        score = net.accuracy(x_val, y_val)
        while score < floor and extra[-1] < max_extra:
            extra[-1] += 1
            _retrain(net, masked_params(net, masks), x, y, replace(schedule, epochs=1), rng,
                     progress, f"{label}, extra epoch {extra[-1]}/{max_extra}", teacher)
            score = net.accuracy(x_val, y_val)
        progress(f"prune step {step + 1}/{steps}: validation accuracy {score:.4f} (floor "
                 f"{floor:.4f}) after {extra[-1]} extra epoch(s)")
    for (dropout, _), rate in zip(fed, original):
        dropout.rate = rate
    return masks, extra


def _retrain(net, params, x, y, schedule: Schedule, rng, progress, label, teacher) -> None:
    """``fit``, or ``fit_distilled`` against ``teacher`` = ``(logits on x, Distillation)``."""
    if teacher is None:
        fit(net, params, x, y, schedule, rng, progress, label)
    else:
        fit_distilled(net, params, x, y, teacher[0], schedule, rng, teacher[1], progress, label)


def _dropout_feeds(net) -> list[tuple[Dropout, int]]:
    """Each dropout layer of a sequential ``net`` with the index (among ``net.weighted()``) of
    the weighted layer its output feeds; none for a ``Graph``."""
    if isinstance(net, Graph):
        return []
    weighted = [id(layer) for layer in net.weighted()]
    out, pending = [], []
    for layer in net.layers:
        if isinstance(layer, Dropout):
            pending.append(layer)
        elif id(layer) in weighted:
            out += [(dropout, weighted.index(id(layer))) for dropout in pending]
            pending = []
    return out


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
