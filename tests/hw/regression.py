"""Seeded random programs for RTL co-verification, and the two checks every RTL run must pass.

``regression_cases(n)`` draws ``n`` cases (program + integer inputs) over a fixed set of
architectures (1, 2, 3, 4 and 8 PEs; queue depths 1, 2 and 8; accumulator files small enough
that layers tile), compiled by the real compiler from random layers: 1–3 layers, shapes up to
128 × 128, densities 0–100 %, all-zero inputs, columns longer than a zero run (padding). Cases
are grouped by architecture so one RTL build serves many programs (``by_arch``).
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
from zeroskip.hw.rtl_sim import check_rtl

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


def random_case(seed: int, arch: ArchConfig, max_size: int = 128, inputs: int = 2) -> Case:
    """One random program on ``arch`` (shrunk until it fits the memories), with inputs: a
    random one, and every third case an all-zero one too."""
    rng = np.random.default_rng(seed)
    limit = min(max_size, arch.max_vector)
    for attempt in range(20):
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
        calibration = rng.uniform(-1, 1, (16, sizes[0]))
        try:
            program = compile_layers(layers, arch, calibration=calibration,
                                     balance=bool(rng.random() < 0.3))
            program.check_fits()
        except ZeroskipError:
            limit = max(1, limit * 3 // 4)
            continue
        break
    else:
        raise RuntimeError(f"seed {seed}: no program fits {arch.name}")
    xs = rng.uniform(-1, 1, (inputs, program.in_len))
    xs[:, rng.random(program.in_len) < rng.uniform(0, 1)] = 0.0    # sparse activations
    xq = quantize_input(program, xs)
    if seed % 3 == 0:
        xq[-1] = 0
    note = f"seed {seed} {arch.name} sizes {sizes} densities {[round(d, 2) for d in densities]}"
    return Case(seed, arch, program, xq, note)


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
