"""Seeded random programs for RTL co-verification, and the two checks every RTL run must pass.

``regression_cases(n)`` draws ``n`` cases (program + integer inputs) over a fixed set of
architectures (1, 2, 3, 4 and 8 PEs; queue depths 1, 2 and 8; accumulator files small enough
that layers tile), compiled by the real compiler from random layers: 1–3 layers, shapes up to
128 × 128, densities 0–100 %, all-zero inputs, columns longer than a zero run (padding). Cases
are grouped by architecture so one RTL build serves many programs (``by_arch``).

``binary_regression_cases(n)`` draws binary and mixed programs (docs/binary-mode.md): random
folded binary layers (``zeroskip.models.binary.FoldedLayer``), alone or next to sparse layers
(sparse → binary, binary → sparse, both), fan-ins that are multiples of ``line_bits``, below it
or anything, bipolar or 1/2/3/8-bit unsigned first layers, thresholds spread over the dot's
reach (some always / never firing, some flipped), over ``ARCHS`` plus ``BINARY_ARCHS``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS, ArchConfig
from zeroskip.hw.program import Program
from zeroskip.hw.reference import quantize_input
from zeroskip.ladder import check_rtl

BASE = PRESETS["small"]


def _arch(name: str, **fields) -> ArchConfig:
    return dataclasses.replace(BASE, name=name, max_layers=3, **fields)


#: the regression's architectures: every PE count, queue depth and tiling the brief names,
#: memories just big enough for 1-3 layers of up to 128 x 128 (fewer PEs: deeper memories)
ARCHS = [
    _arch("r1pe", pes=1, fifo_depth=2, act_depth=128, acc_depth=16, sparse_depth=2048,
          ptr_depth=512, bias_depth=512, max_passes=32),
    _arch("r2pe", pes=2, fifo_depth=1, act_depth=64, acc_depth=64, sparse_depth=1024,
          ptr_depth=512, bias_depth=256, max_passes=8),
    _arch("r3pe", pes=3, fifo_depth=8, act_depth=64, acc_depth=8, sparse_depth=1024,
          ptr_depth=512, bias_depth=128, max_passes=32),
    _arch("r4pe", pes=4, fifo_depth=2, act_depth=32, acc_depth=32, sparse_depth=512,
          ptr_depth=512, bias_depth=128, max_passes=8),
    _arch("r8pe", pes=8, fifo_depth=8, act_depth=16, acc_depth=4, sparse_depth=256,
          ptr_depth=512, bias_depth=64, max_passes=16),
    _arch("r4pe-run2", pes=4, fifo_depth=1, act_depth=32, acc_depth=8, code_bits=4, run_bits=2,
          line_bits=48, sparse_depth=1024, ptr_depth=512, bias_depth=128, max_passes=16),
]

#: binary-only extras: as many PEs as line bits (a chunk is one group), and 3 PEs on 16-bit lines
#: (groups straddle chunk boundaries); both with many chunks per row
BINARY_ARCHS = [
    _arch("b8pe-line8", pes=8, fifo_depth=2, line_bits=8, act_depth=16, acc_depth=2,
          sparse_depth=2048, ptr_depth=512, bias_depth=128, max_passes=64),
    _arch("b3pe-line16", pes=3, fifo_depth=1, line_bits=16, act_depth=64, acc_depth=4,
          sparse_depth=2048, ptr_depth=512, bias_depth=128, max_passes=64),
]

#: the random binary cases' shapes: which layers are binary ("b") and which sparse ("s")
BINARY_SHAPES = ("b", "bb", "bbb", "sb", "sbb", "bs", "bss", "bsb", "sbs")

#: one small architecture for the quick co-simulation tests (fast builds on both simulators)
QUICK = _arch("quick", pes=2, fifo_depth=2, act_depth=16, acc_depth=4, sparse_depth=64,
              ptr_depth=64, bias_depth=32, max_passes=12)


@dataclass
class Layer:
    """What ``compile_layers`` takes: a codebook (entry 0 = 0.0), codes, a bias, an activation."""

    codebook: np.ndarray
    codes: np.ndarray
    bias: np.ndarray
    act: str


@dataclass
class Case:
    seed: int
    arch: ArchConfig
    program: Program
    inputs: np.ndarray      #: int64 [n, in]
    note: str


def random_layers(rng: np.random.Generator, arch: ArchConfig, sizes: list[int],
                  densities: list[float]) -> list[Layer]:
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        codes = rng.integers(1, arch.codebook_size, size=(n_out, n_in))
        codes[rng.random((n_out, n_in)) >= densities[k]] = 0
        codebook = np.concatenate([[0.0], rng.uniform(-1, 1, arch.codebook_size - 1)])
        last = k == len(sizes) - 2
        layers.append(Layer(codebook=codebook, codes=codes, bias=rng.uniform(-0.5, 0.5, n_out),
                            act="none" if last and rng.random() < 0.5 else "relu"))
    return layers


def fitting_program(rng, arch: ArchConfig, limit: int, build, failure: str):
    """Compile ``build(limit) -> (layers, calibration, extra)``, shrinking ``limit`` (the
    largest layer size) until the program fits the memories; returns (program, extra)."""
    for attempt in range(20):
        layers, calibration, extra = build(limit)
        try:
            program = compile_layers(layers, arch, calibration=calibration,
                                     balance=bool(rng.random() < 0.3))
            program.check_fits()
            return program, extra
        except ZeroskipError:
            limit = max(1, limit * 3 // 4)
    raise RuntimeError(f"{failure} {arch.name}")


def random_inputs(rng, program, inputs: int, low: float, zero_last: bool) -> np.ndarray:
    """Random activations in [low, 1) with a random fraction zeroed; the last all zero when
    asked."""
    xs = rng.uniform(low, 1, (inputs, program.in_len))
    xs[:, rng.random(program.in_len) < rng.uniform(0, 1)] = 0.0    # sparse activations
    xq = quantize_input(program, xs)
    if zero_last:
        xq[-1] = 0
    return xq


def random_case(seed: int, arch: ArchConfig, max_size: int = 128, inputs: int = 2) -> Case:
    """One random program on ``arch`` (shrunk until it fits the memories), with inputs: a
    random one, and every third case an all-zero one too."""
    rng = np.random.default_rng(seed)

    def build(limit):
        depth = int(rng.integers(1, 4))
        sizes = [int(rng.integers(1, limit + 1)) for _ in range(depth + 1)]
        kind = rng.integers(0, 4)
        if kind == 0:    # padding: long columns, few weights
            densities = [float(rng.uniform(0.0, 0.1)) for _ in range(depth)]
        elif kind == 1:  # empty or full
            densities = [float(rng.choice([0.0, 1.0])) for _ in range(depth)]
        else:
            densities = [float(rng.uniform(0, 1)) for _ in range(depth)]
        layers = random_layers(rng, arch, sizes, densities)
        return layers, rng.uniform(-1, 1, (16, sizes[0])), (sizes, densities)

    program, (sizes, densities) = fitting_program(rng, arch, min(max_size, arch.max_vector),
                                                  build, f"seed {seed}: no program fits")
    xq = random_inputs(rng, program, inputs, -1.0, zero_last=seed % 3 == 0)
    note = f"seed {seed} {arch.name} sizes {sizes} densities {[round(d, 2) for d in densities]}"
    return Case(seed, arch, program, xq, note)


def random_fan_in(rng: np.random.Generator, arch: ArchConfig, limit: int) -> int:
    """A multiple of ``line_bits``, a fan-in below it, or anything up to ``limit``."""
    width = arch.line_bits
    kind = rng.integers(0, 3)
    if kind == 0 and limit >= width:
        return width * int(rng.integers(1, limit // width + 1))
    if kind == 1:
        return int(rng.integers(1, min(width - 1, limit) + 1))
    return int(rng.integers(1, limit + 1))


def random_folded(rng: np.random.Generator, n_in: int, n_out: int, planes: int,
                  binarize: bool, name: str):
    """A random ``FoldedLayer``: weight bits of a random bias (some all +1 / all −1 rows),
    thresholds around the dot's typical size with some beyond its reach, some flipped; or the
    integer-output form (scale, offset)."""
    from zeroskip.models.binary import FoldedLayer

    weights = rng.random((n_out, n_in)) < rng.choice([0.5, 0.5, 0.1, 0.9])
    weights[rng.random(n_out) < 0.05] = rng.random() < 0.5
    if not binarize:
        return FoldedLayer(name, weights, planes, scale=rng.uniform(0.1, 1, n_out),
                           offset=rng.normal(0, 1, n_out))
    top = (1 << planes) - 1 if planes else 1
    bound = n_in * top
    spread = max(1, int(np.sqrt(n_in) * top))
    thresholds = rng.integers(-spread, spread + 1, n_out)
    extreme = rng.random(n_out) < 0.1
    thresholds[extreme] = rng.choice([-bound - 1, bound + 1], int(extreme.sum()))
    return FoldedLayer(name, weights, planes, thresholds=thresholds,
                       flip=rng.random(n_out) < 0.3)


def random_binary_case(seed: int, arch: ArchConfig, max_size: int = 128, inputs: int = 2) -> Case:
    """One random binary or mixed program on ``arch`` (shrunk until it fits), with inputs: a
    random one, and every third case an all-zero one too (bipolar bits: all 1)."""
    rng = np.random.default_rng(seed)
    shape = str(rng.choice(BINARY_SHAPES))
    planes = int(rng.choice([0, 0, 1, 2, 3, 8])) if shape[0] == "b" else 0
    low = 0.0 if planes else -1.0

    def build(limit):
        sizes = [random_fan_in(rng, arch, limit) for _ in shape] + [int(rng.integers(1, limit + 1))]
        layers = []
        for k, kind in enumerate(shape):
            last = k == len(shape) - 1
            if kind == "b":
                # hidden binary layers binarise; the last one writes its integer dot products
                # (or, sometimes, bits too)
                binarize = not last or rng.random() < 0.25
                layers.append(random_folded(rng, sizes[k], sizes[k + 1], planes if k == 0 else 0,
                                            binarize, f"fc{k}"))
            else:
                density = float(rng.choice([rng.uniform(0, 0.1), rng.uniform(0, 1), 1.0]))
                layer = random_layers(rng, arch, sizes[k:k + 2], [density])[0]
                # a sparse layer feeding a binary one gives it signed values (no ReLU)
                if not last and shape[k + 1] == "b":
                    layer.act = "none"
                layers.append(layer)
        return layers, rng.uniform(low, 1, (16, sizes[0])), sizes

    program, sizes = fitting_program(rng, arch, min(max_size, arch.max_vector), build,
                                     f"seed {seed}: no binary program fits")
    xq = random_inputs(rng, program, inputs, low, zero_last=seed % 3 == 0)
    note = f"seed {seed} {arch.name} binary {shape} planes {planes} sizes {sizes}"
    return Case(seed, arch, program, xq, note)


def binary_regression_cases(n: int, first_seed: int = 10_000) -> list[Case]:
    """``n`` binary / mixed cases spread round-robin over ``ARCHS + BINARY_ARCHS``."""
    archs = ARCHS + BINARY_ARCHS
    return [random_binary_case(first_seed + i, archs[i % len(archs)]) for i in range(n)]


def regression_cases(n: int, first_seed: int = 0) -> list[Case]:
    """``n`` cases spread round-robin over ``ARCHS``."""
    return [random_case(first_seed + i, ARCHS[i % len(ARCHS)]) for i in range(n)]


def by_arch(cases: list[Case]) -> dict[ArchConfig, list[Case]]:
    groups: dict[ArchConfig, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.arch, []).append(case)
    return groups


def mismatches(program: Program, inputs: np.ndarray, outputs: np.ndarray,
               cycles: np.ndarray) -> list[str]:
    """One line per input whose RTL outputs differ from the reference or whose cycle counter
    differs from the simulator; empty when the RTL is right."""
    return [c.describe() for c in check_rtl(program, inputs, outputs, cycles) if not c.ok]
