"""Seeded random programs for RTL co-verification, and the two checks every RTL run must pass.

``regression_cases(n)`` draws ``n`` cases (program + integer inputs) over a fixed set of
architectures (1, 2, 3, 4 and 8 PEs; queue depths 1, 2 and 8; accumulator files small enough
that layers tile), compiled by the real compiler from random layers: 1–3 layers, shapes up to
128 × 128, densities 0–100 %, all-zero inputs, columns longer than a zero run (padding). Cases
are grouped by architecture so one RTL build serves many programs (``by_arch``).

``binary_regression_cases(n)`` draws binary and mixed programs (docs/binary-mode.md): random
folded binary layers (``zeroskip.models.binary_fold.FoldedLayer``), alone or next to sparse layers
(sparse → binary, binary → sparse, both), fan-ins that are multiples of ``line_bits``, below it
or anything, bipolar or 1/2/3/8-bit unsigned first layers, thresholds spread over the dot's
reach (some always / never firing, some flipped), over ``ARCHS`` plus ``BINARY_ARCHS``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.compiler.binary_conv import random_thresholds
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS, ArchConfig
from zeroskip.hw.fixedpoint import (binarize, binary_dot, quantize, signed_range, threshold_word,
                                    wrap)
from zeroskip.hw.conv import gather
from zeroskip.hw.program import (BINARY_KINDS, KIND_BINARY, KIND_BINARY_CONV, KIND_CONV, KIND_SPARSE,
                                 OP_MAC, OP_MAX, Program)
from zeroskip.hw.reference import predict_int, quantize_input, trace_int
from zeroskip.ladder import check_rtl

BASE = PRESETS["small"]


def _arch(name: str, **fields) -> ArchConfig:
    return dataclasses.replace(BASE, name=name, **{"max_layers": 3, **fields})


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

#: the timing model's improvements (docs/timing.md "Improvements over EIE"): zs64's switches
#: and deep queue on 4 PEs; both switches with one-deep queues, 2-bit runs (padding everywhere)
#: and 6 entries per line (the slot is not a bit slice); the padding merge without the lookahead
ZS_ARCHS = [
    _arch("z4pe", pes=4, fifo_depth=16, act_depth=32, acc_depth=32, sparse_depth=512,
          ptr_depth=512, bias_depth=128, max_passes=8, bounds_lookahead=1, padding_merge=1),
    _arch("z3pe-run2", pes=3, fifo_depth=1, code_bits=4, run_bits=2, line_bits=36, act_depth=64,
          acc_depth=8, sparse_depth=1024, ptr_depth=512, bias_depth=128, max_passes=32,
          bounds_lookahead=1, padding_merge=1),
    _arch("z2pe-merge", pes=2, fifo_depth=2, code_bits=4, run_bits=2, line_bits=48, act_depth=64,
          acc_depth=16, sparse_depth=1024, ptr_depth=512, bias_depth=256, max_passes=16,
          padding_merge=1),
    # the registered broadcast and the group feed (for the clock, docs/timing.md), with one- and
    # two-deep queues; the entry stage with the padding merge
    _arch("z4pe-reg", pes=4, fifo_depth=2, act_depth=32, acc_depth=8, sparse_depth=512,
          ptr_depth=512, bias_depth=128, max_passes=16, padding_merge=1, registered_broadcast=1,
          group_feed=1, entry_stage=1),
    _arch("z3pe-reg", pes=3, fifo_depth=1, act_depth=64, acc_depth=4, sparse_depth=1024,
          ptr_depth=512, bias_depth=128, max_passes=32, registered_broadcast=1, pe_copies=1),
    # the broadcast relay with the FPGA builds' switches, two-deep queues (docs/fpga.md)
    _arch("z4pe-relay", pes=4, fifo_depth=2, act_depth=32, acc_depth=8, sparse_depth=512,
          ptr_depth=512, bias_depth=128, max_passes=16, registered_broadcast=1, group_feed=1,
          bounds_lookahead=1, broadcast_relay=1, entry_stage=1, pe_copies=1),
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
    layers: list = dataclasses.field(default_factory=list)   #: what was compiled (model order)


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
    largest layer size) until the program fits the memories; returns (program, layers, extra)."""
    for attempt in range(20):
        layers, calibration, extra = build(limit)
        try:
            program = compile_layers(layers, arch, calibration=calibration,
                                     balance=bool(rng.random() < 0.3))
            program.check_fits()
            return program, layers, extra
        except ZeroskipError:
            limit = max(1, limit * 3 // 4)
    raise RuntimeError(f"{failure} {arch.name}")


#: calibration densities, by seed mod 3: every calibration value kept, a quarter, a sixteenth
#: (each row keeps its largest, so the input's scale stays). Scales chosen on sparse calibration
#: inputs leave the dense crafted corner inputs room to saturate outputs and wrap accumulators
#: (docs/fixed-point.md: "inputs larger than the calibration set's may saturate")
CALIBRATION_DENSITIES = (1.0, 0.25, 0.0625)


def thin_calibration(calibration: np.ndarray, seed: int) -> np.ndarray:
    """The calibration inputs with all but ``CALIBRATION_DENSITIES[seed % 3]`` of their values
    zeroed (own random stream: the case's draws stay as they were)."""
    density = CALIBRATION_DENSITIES[seed % len(CALIBRATION_DENSITIES)]
    if density == 1.0:
        return calibration
    keep = np.random.default_rng([seed, 3]).random(calibration.shape) < density
    keep[np.arange(len(calibration)), np.abs(calibration).argmax(axis=1)] = True
    return np.where(keep, calibration, 0.0)


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
        return layers, thin_calibration(rng.uniform(-1, 1, (16, sizes[0])), seed), (sizes, densities)

    program, layers, (sizes, densities) = fitting_program(
        rng, arch, min(max_size, arch.max_vector), build, f"seed {seed}: no program fits")
    xq = random_inputs(rng, program, inputs, -1.0, zero_last=seed % 3 == 0)
    xq = np.concatenate([xq, corner_inputs(program, layers, xq, seed)])
    note = f"seed {seed} {arch.name} sizes {sizes} densities {[round(d, 2) for d in densities]}"
    return Case(seed, arch, program, xq, note, layers)


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
    from zeroskip.models.binary_fold import FoldedLayer

    weights = rng.random((n_out, n_in)) < rng.choice([0.5, 0.5, 0.1, 0.9])
    weights[rng.random(n_out) < 0.05] = rng.random() < 0.5
    if not binarize:
        return FoldedLayer(name, weights, planes, scale=rng.uniform(0.1, 1, n_out),
                           offset=rng.normal(0, 1, n_out))
    thresholds, flip = random_thresholds(rng, n_in, planes, n_out)
    return FoldedLayer(name, weights, planes, thresholds=thresholds, flip=flip)


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
        calibration = rng.uniform(low, 1, (16, sizes[0]))
        return layers, calibration if planes else thin_calibration(calibration, seed), sizes

    program, layers, sizes = fitting_program(rng, arch, min(max_size, arch.max_vector), build,
                                             f"seed {seed}: no binary program fits")
    xq = random_inputs(rng, program, inputs, low, zero_last=seed % 3 == 0)
    xq = np.concatenate([xq, corner_inputs(program, layers, xq, seed)])
    note = f"seed {seed} {arch.name} binary {shape} planes {planes} sizes {sizes}"
    return Case(seed, arch, program, xq, note, layers)


def binary_stall_case(seed: int, arch: ArchConfig, inputs: int = 2) -> Case:
    """A binary program whose broadcaster must wait for full queues (random programs rarely
    make it: an item usually takes longer to assemble than a PE takes to use it): a first layer
    reading 8-bit planes through a fan-in of one group, so an item is ready every cycle, into
    twice as many rows as the accumulators hold, so each item costs a PE ``acc_depth`` cycles
    in both of its passes; then a binary layer writing its dot products."""
    rng = np.random.default_rng(seed)
    sizes = [arch.pes, 2 * arch.pes * arch.acc_depth, arch.pes + 1]
    layers = [random_folded(rng, sizes[0], sizes[1], 8, True, "fc0"),
              random_folded(rng, sizes[1], sizes[2], 0, False, "fc1")]
    program = compile_layers(layers, arch, calibration=rng.uniform(0, 1, (16, sizes[0])))
    program.check_fits()
    xq = random_inputs(rng, program, inputs, 0.0, zero_last=False)
    return Case(seed, arch, program, xq, f"seed {seed} {arch.name} binary stall bb planes 8 sizes {sizes}",
                layers)


def binary_regression_cases(n: int, first_seed: int = 10_000) -> list[Case]:
    """``n`` binary / mixed cases spread round-robin over ``ARCHS + BINARY_ARCHS``."""
    archs = ARCHS + BINARY_ARCHS
    return [random_binary_case(first_seed + i, archs[i % len(archs)]) for i in range(n)]


def regression_cases(n: int, first_seed: int = 0) -> list[Case]:
    """``n`` cases spread round-robin over ``ARCHS``."""
    return [random_case(first_seed + i, ARCHS[i % len(ARCHS)]) for i in range(n)]


def zs_regression_cases(n: int, first_seed: int = 40_000) -> list[Case]:
    """``n`` cases over ``ZS_ARCHS`` round-robin, every fourth binary or mixed (shifted by one
    each round, so every architecture has some whatever their count)."""
    archs = ZS_ARCHS
    return [random_binary_case(first_seed + i, archs[i % len(archs)])
            if (i + i // len(archs)) % 4 == 3 else
            random_case(first_seed + i, archs[i % len(archs)]) for i in range(n)]


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


# -- the default suite's sample ------------------------------------------------------------------
def sample_cases() -> list[Case]:
    """``test_regression_sample``: one sparse program per regression architecture."""
    return [random_case(seed, arch) for seed, arch in enumerate(ARCHS)]


def binary_sample_cases() -> list[Case]:
    """``test_regression_binary_sample``: one binary or mixed program per architecture, the
    binary extras' many chunks per row included."""
    return [random_binary_case(10_000 + seed, arch) for seed, arch in enumerate(ARCHS + BINARY_ARCHS)]


def zs_sample_cases() -> list[Case]:
    """``test_regression_zs_sample``: a sparse and a binary or mixed program per ``ZS_ARCHS``."""
    return ([random_case(40_000 + seed, arch) for seed, arch in enumerate(ZS_ARCHS)] +
            [random_binary_case(40_100 + seed, arch) for seed, arch in enumerate(ZS_ARCHS)])


def quick_cases() -> list[Case]:
    """``test_quick_programs_bus_loaded``: small programs on the quick build."""
    return [random_case(seed, QUICK, max_size=32) for seed in range(100, 106)]


def quick_binary_cases() -> list[Case]:
    """``test_quick_binary_programs_bus_loaded``: small binary / mixed programs, quick build,
    and one whose binary passes stall the broadcaster (``binary_stall_case``)."""
    return ([random_binary_case(seed, QUICK, max_size=32) for seed in range(200, 206)] +
            [binary_stall_case(206, QUICK)])


def default_sample() -> list[Case]:
    """Every random case the default (not slow) RTL tests run."""
    return sample_cases() + binary_sample_cases() + quick_cases() + quick_binary_cases()


# -- corner cases (issue 16) -------------------------------------------------------------------
#: what ``corner_counts`` counts: outputs saturating high / low (low only where no ReLU hides
#: it), accumulators that wrap, exact requantisation ties of each sign (that do not saturate;
#: negative ones only where no ReLU hides them), (input, pass) pairs whose timing depends
#: on the order in which the LNZD sends the non-zero columns, and (input, binary layer) pairs
#: in which the broadcaster waits for a full queue (a binary item held while stalled)
CORNERS = ("saturate_high", "saturate_low", "wrap", "tie_positive", "tie_negative", "lnzd_order",
           "binary_stall")

#: crafted inputs tried per sign when searching an exact rounding tie
TIE_TRIES = 400


def layer_weights(program: Program, layers: list, index: int) -> np.ndarray:
    """Layer ``index``'s integer weights [out, in] in the model's order: codebook values at
    weight scale (sparse), 0/1 bits (binary)."""
    if program.layers[index].kind == KIND_BINARY:
        return np.asarray(layers[index].weights, dtype=np.int64)
    return program.codebook[index][np.asarray(layers[index].codes)]


def layer_bias(program: Program, layers: list, index: int) -> np.ndarray:
    """The layer's bias words in the model's order, by the documented rules: the bias at the
    accumulator's scale (docs/fixed-point.md), a threshold word or 0 (docs/binary-mode.md)."""
    info, layer = program.layers[index], layers[index]
    if info.kind == KIND_BINARY:
        if info.binarize:
            return threshold_word(layer.thresholds, layer.flip)
        return np.zeros(info.out_len, np.int64)
    return quantize(layer.bias, info.in_frac + info.w_frac, program.arch.acc_bits)


def arithmetic_corners(program: Program, layers: list, xq: np.ndarray) -> tuple[Counter, np.ndarray]:
    """The arithmetic corners met over every layer and input, and the outputs (model order),
    from the exact (unwrapped, unclipped) sums."""
    a = program.arch
    counts = Counter()
    x = np.atleast_2d(np.asarray(xq, dtype=np.int64))
    for index, info in enumerate(program.layers):
        w = layer_weights(program, layers, index)
        bias = layer_bias(program, layers, index)[None, :]
        exact = binary_dot(x, w, info.planes) if info.kind == KIND_BINARY else x @ w.T
        if info.kind == KIND_BINARY and info.binarize:
            acc = wrap(exact, a.acc_bits)
            counts["wrap"] += int((acc != exact).sum())
            x = binarize(acc, bias, info.out_frac)
            continue
        x = _count_requant(counts, exact, bias, info.shift, bool(info.relu), a)
    return counts, x


def column_phase_end(groups: list[int], work: list[list[int]], depth: int, n_groups: int) -> int:
    """C of one sparse pass (docs/timing.md, T = 0): the non-zeros in groups ``groups``
    (ascending), the k-th giving PE p ``work[k][p]`` entries."""
    if not groups:
        return n_groups + 1
    b, previous, free, pops = 0, -1, [0] * len(work[0]), []
    for k, group in enumerate(groups):
        b = b + 1 + max(0, group - previous - 1)
        if k >= depth:
            b = max(b, pops[k - depth] + 1)                   # no PE's queue is full
        starts = [max(b + 1, f) for f in free]
        free = [s + max(n, 1) for s, n in zip(starts, work[k])]
        pops.append(max(starts))
        previous = group
    return max(b + 1 + (n_groups - 1 - previous), max(free))


def order_exposed(program: Program, xq: np.ndarray) -> int:
    """(input, sparse pass) pairs whose column phase would end at another cycle if the LNZD sent
    the same columns' work in the reverse order: the queues' fill depends on the order."""
    a = program.arch
    acts = trace_int(program, np.atleast_2d(xq))
    exposed = 0
    for p in program.passes:
        if p.kind != KIND_SPARSE:
            continue
        counts = np.diff(program.ptr[:, p.ptr_base: p.ptr_base + p.in_len + 1], axis=1)
        n_groups = -(-p.in_len // a.pes)
        for row in acts[p.layer][:, :p.in_len]:
            columns = np.flatnonzero(row)
            groups, work = (columns // a.pes).tolist(), counts[:, columns].T.tolist()
            exposed += column_phase_end(groups, work, a.fifo_depth, n_groups) != \
                column_phase_end(groups, work[::-1], a.fifo_depth, n_groups)
    return exposed


def corner_counts(case: Case) -> Counter:
    """Every corner of ``CORNERS`` counted over the case's inputs; the forward pass it counts on
    is checked against ``predict_int`` first. Conv cases (no model ``layers``) are counted from
    the program itself (``conv_arithmetic_corners``)."""
    if is_conv(case.program) or not case.layers:     # counted from the program's own images
        counts, outputs = conv_arithmetic_corners(case.program, case.inputs)
        reference = predict_int(case.program, case.inputs)
    else:
        counts, outputs = arithmetic_corners(case.program, case.layers, case.inputs)
        reference = case.program.logical_output(predict_int(case.program, case.inputs))
    if not np.array_equal(outputs, reference):
        raise AssertionError(f"{case.note}: the corner count's forward pass disagrees with predict_int")
    counts["lnzd_order"] = order_exposed(case.program, case.inputs)
    counts["lnzd_order"] += conv_order_exposed(case.program, case.inputs)
    counts["binary_stall"] = binary_stalls(case.program, case.inputs)
    return Counter({name: counts[name] for name in CORNERS})


def binary_stalls(program: Program, xq: np.ndarray) -> int:
    """(input, binary layer) pairs in which the broadcaster waits for a full queue, by the
    cycle simulator's count (the RTL's cycle counter must then agree with it)."""
    from zeroskip.sim import simulate_int

    binary = [k for k, layer in enumerate(program.layers) if layer.kind in BINARY_KINDS]
    if not binary:
        return 0
    stalls = simulate_int(program, np.atleast_2d(xq)).broadcast_stalls[:, binary]
    return int((stalls > 0).sum())


def _corners_met(program: Program, layers: list, xq: np.ndarray) -> set[str]:
    counts, _ = arithmetic_corners(program, layers, xq)
    counts["lnzd_order"] = order_exposed(program, xq)
    return {name for name in CORNERS if counts[name]}


def tie_input(w: np.ndarray, bias: np.ndarray, shift: int, positive: bool, act_bits: int,
              rng: np.random.Generator) -> np.ndarray | None:
    """A first-layer input whose sum ``y = acc + bias`` at some row is an exact tie
    ``(k + 1/2)·2^shift`` of the given sign, inside the output range: random values in the row's
    other columns, then one column solved for the residue (mod 2^shift)."""
    low, high = signed_range(act_bits)
    rows = np.flatnonzero((w != 0).any(axis=1))
    if not shift or not len(rows):
        return None
    modulus, half, direction = 1 << shift, 1 << (shift - 1), 1 if positive else -1
    for _ in range(TIE_TRIES):
        i = int(rng.choice(rows))
        columns = np.flatnonzero(w[i])
        j = int(rng.choice(columns))
        x = np.zeros(w.shape[1], np.int64)
        others = columns[(columns != j) & (rng.random(len(columns)) < rng.uniform(0, 1))]
        x[others] = direction * np.sign(w[i, others]) * rng.integers(0, high // 4, len(others))
        rest = int(x @ w[i]) + int(bias[i])
        weight = int(w[i, j])
        zeros = (abs(weight) & -abs(weight)).bit_length() - 1      # weight = 2^zeros · odd
        residue = (half - rest) % modulus
        if residue % (1 << zeros):
            continue
        step = modulus >> zeros
        base = (residue >> zeros) * pow((weight >> zeros) % step, -1, step) % step if step > 1 else 0
        first, last = -(-(low - base) // step), (high - base) // step
        if first > last:
            continue
        x[j] = base + step * int(rng.integers(first, last + 1))
        y = rest + weight * int(x[j])
        if y * direction > 0 and low <= (y + half) >> shift <= high:
            return x
    return None


def corner_inputs(program: Program, layers: list, xq: np.ndarray, seed: int) -> np.ndarray:
    """Integer inputs crafted against the compiled program for the corners its random inputs
    miss (issue 16), kept only when they add one: the first sparse layer's largest row driven
    to its most positive and most negative sums at full scale and below (wrap-around, saturation),
    dense inputs (the queues fill and the order of the columns shows) and exact rounding ties of
    both signs. Crafted on the program that fits, so the
    shrink-until-it-fits loop cannot remove them; drawn from their own random stream, so the
    programs and the random inputs stay what they were."""
    if program.layers[0].kind != KIND_SPARSE:
        return np.zeros((0, program.in_len), np.int64)
    rng = np.random.default_rng([seed, 16])
    low, high = signed_range(program.arch.act_bits)
    w, bias, info = layer_weights(program, layers, 0), layer_bias(program, layers, 0), program.layers[0]
    sign = np.sign(w[int(np.abs(w).sum(axis=1).argmax())])
    candidates = []
    for scale in (1, 2, 4, 8, 16, 64):     # full scale may wrap; smaller ones saturate instead
        candidates += [np.where(sign > 0, high // scale, np.where(sign < 0, low // scale, 0)),
                       np.where(sign > 0, low // scale, np.where(sign < 0, high // scale, 0))]
    # every column non-zero, or half of them: the queues fill and the columns' order shows
    for density in (1.0, 0.5):
        dense = rng.integers(low // 8, high // 8 + 1, program.in_len)
        candidates.append(np.where((dense != 0) & (rng.random(program.in_len) < density), dense, 1))
    for positive in (True, False) if not info.relu else (True,):
        tie = tie_input(w, bias, info.shift, positive, program.arch.act_bits, rng)
        if tie is not None:
            candidates.append(tie)
    met = _corners_met(program, layers, xq)
    chosen = []
    for candidate in candidates:
        new = _corners_met(program, layers, candidate[None]) - met
        if new:
            chosen.append(candidate)
            met |= new
    return np.array(chosen, dtype=np.int64).reshape(-1, program.in_len)


# -- conv programs (docs/conv.md) ---------------------------------------------------------------
#: conv architectures: power-of-two PE counts, maps large enough for small images, accumulator
#: files small enough that output channels tile (several descriptors looping over the pixels);
#: lane passes on three: on one PE every conv is one (columns of many entries, zeros not pushed),
#: on 2 and 8 PEs pools and depthwise convs, on 8 with the registered broadcast, the group feed,
#: the broadcast relay, the entry stage and the PEs' copies; the sweep overlap with the entry
#: stage and the PEs' copies on 4
CONV_ARCHS = [
    _arch("c1pe", pes=1, fifo_depth=2, act_depth=512, acc_depth=4, sparse_depth=2048,
          ptr_depth=1024, bias_depth=256, max_layers=4, max_passes=32, lane_passes=1),
    _arch("c2pe", pes=2, fifo_depth=1, act_depth=256, acc_depth=8, sparse_depth=1024,
          ptr_depth=1024, bias_depth=128, max_layers=4, max_passes=16, lane_passes=1,
          sweep_overlap=1),
    _arch("c4pe", pes=4, fifo_depth=8, act_depth=128, acc_depth=2, sparse_depth=1024,
          ptr_depth=1024, bias_depth=128, max_layers=4, max_passes=32, sweep_overlap=1,
          entry_stage=1, pe_copies=1),
    _arch("c8pe", pes=8, fifo_depth=2, act_depth=64, acc_depth=4, sparse_depth=512,
          ptr_depth=1024, bias_depth=64, max_layers=4, max_passes=16, lane_passes=1,
          registered_broadcast=1, group_feed=1, broadcast_relay=1, entry_stage=1, pe_copies=1),
]



def _with_corner_inputs(seed: int, arch, program, x, note: str) -> Case:
    """A conv or graph case: its quantised inputs (the last one all zero on every third seed)
    followed by the inputs that drive its arithmetic corners."""
    xq = quantize_input(program, x)
    if seed % 3 == 0:
        xq[-1] = 0
    return Case(seed, arch, program, np.concatenate([xq, conv_corner_inputs(program, xq, seed)]),
                note)

def random_conv_case(seed: int, arch: ArchConfig, inputs: int = 2) -> Case:
    """A random conv network on ``arch`` (docs/conv.md): kernels 1, 3 and 5, strides 1 and 2,
    padding, one or two convs, with or without a max pool (2x2 stride 2, or 3x3 stride 1 pad 1
    over negative values too), with or without an FC layer, host inputs of 1 to 2N channels
    (channels straddling groups); smaller until it fits."""
    from zeroskip.compiler.conv import random_conv_program

    rng = np.random.default_rng([seed, 11])
    for attempt in range(20):
        size = int(rng.integers(3, 9))
        height, width = size, int(rng.integers(3, 9))
        channels = int(rng.integers(1, 2 * arch.pes + 2))
        convs, h, w = [], height, width
        for _ in range(int(rng.integers(1, 3))):
            k = int(rng.choice([1, 3, 5]))
            if k > min(h, w) + 2 * (k // 2):
                k = 1
            pad = int(rng.integers(0, k // 2 + 1)) if k > 1 else 0
            stride = int(rng.choice([1, 2]))
            out = int(rng.integers(1, 3 * arch.pes + 2))
            h, w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
            if min(h, w) < 1:
                break
            convs.append((out, k, stride, pad))
        if not convs:
            continue
        pool = None
        if rng.random() < 0.6 and min(h, w) >= 2:
            pool = (2, 2) if rng.random() < 0.5 else (2, 1)
        classes = int(rng.integers(2, 12)) if rng.random() < 0.6 else None
        density = float(rng.choice([0.0, 0.3, 0.7, 1.0]))
        try:
            program, x = random_conv_program(arch, seed, height, width, channels, tuple(convs),
                                             pool, classes, density, batch=inputs,
                                             input_density=float(rng.uniform(0.2, 1.0)),
                                             relu=bool(rng.random() < 0.7))
            program.check_fits()
        except ZeroskipError:
            continue
        return _with_corner_inputs(seed, arch, program, x,
                                   f"seed {seed} {arch.name} conv {height}x{width}x{channels} "
                                   f"{convs} pool {pool} fc {classes} density {density}")
    raise RuntimeError(f"seed {seed}: no conv program fits {arch.name}")


def conv_regression_cases(n: int, first_seed: int = 20_000) -> list[Case]:
    """``n`` conv cases spread round-robin over ``CONV_ARCHS``."""
    return [random_conv_case(first_seed + i, CONV_ARCHS[i % len(CONV_ARCHS)]) for i in range(n)]


def conv_sample_cases() -> list[Case]:
    """``test_regression_conv_sample``: two conv programs per conv architecture, a program
    whose sweeps run back to back (``sweep_bound_case``), a depthwise conv as row passes
    (``row_pass_case``) and the parts of a network tiled over space (``tiled_cases``)."""
    return (conv_regression_cases(2 * len(CONV_ARCHS)) + [sweep_bound_case(), row_pass_case()]
            + tiled_cases(29_010, CONV_ARCHS[2]))


def tiled_cases(seed: int, arch: ArchConfig, inputs: int = 2, binary: bool = False) -> list[Case]:
    """A random conv network (``binary``: a folded binary conv net) whose first maps exceed
    ``arch``'s banks, tiled over space
    (``zeroskip.compiler.spatial``, docs/conv.md "Spatial tiling"): a case per part (each tile
    shape's program with every crop it runs, the tail with the stitched maps), the inputs those
    of the reference's run. The stitching is the same code on every rung, and is checked
    against the untiled network in tests/compiler/test_spatial.py."""
    from zeroskip.compiler.spatial import compile_spatial, random_tiled_layers

    layers, x, note = random_tiled_layers(arch, seed, batch=inputs, binary=binary)
    return part_cases(compile_spatial(layers, arch, calibration=x), x, seed, note)


def part_cases(tiled, x: np.ndarray, seed: int, note: str) -> list[Case]:
    """A case per part of a tiled program: each tile shape's program with every crop it runs,
    the tail with the stitched maps, the inputs those of the reference's run on ``x``."""
    cases = []

    def collect(name, program, xq):
        cases.append(Case(seed, program.arch, program, xq, f"{note}: {name}"))
        return predict_int(program, xq), None

    tiled.run(quantize_input(tiled, x), collect)
    return cases


def tiled_regression_cases(n: int, first_seed: int = 60_000) -> list[Case]:
    """The parts of ``n`` tiled networks: sparse ones round-robin over ``CONV_ARCHS``, every
    fourth a binary conv net on ``BINARY_CONV_ARCHS``."""
    return [case for i in range(n)
            for case in (tiled_cases(first_seed + i, BINARY_CONV_ARCHS[i // 4 % 3], binary=True)
                         if i % 4 == 3 else       # the sparse ones before i: i − (i + 1) // 4
                         tiled_cases(first_seed + i, CONV_ARCHS[(i - (i + 1) // 4) % 4]))]


def row_pass_case(seed: int = 29_001) -> Case:
    """A depthwise 3x3 conv of 4 channels on a 4x4 map, compiled as row passes (docs/conv.md:
    a one-pixel-wide map whose rows have padding on both sides), as lane passes with the sweep
    overlap on ``c2pe``, then a 2x2 max pool and an FC head; three inputs."""
    from zeroskip.compiler.conv import random_conv_program

    arch = next(a for a in CONV_ARCHS if a.name == "c2pe")
    # a row: 4 pixels x 4 channels / 2 PEs = 8 accumulator rows a PE
    program, x = random_conv_program(arch, seed, height=4, width=4, channels=4,
                                     convs=((4, 3, 1, 1, 4),), pool=(2, 2), classes=3,
                                     density=0.6, batch=3, input_density=0.6, row_passes=True)
    assert program.layers[0].geometry.in_width == 1 and program.passes[0].lanes
    return Case(seed, arch, program, quantize_input(program, x),
                "depthwise 3x3 on 4x4x4 as row passes on c2pe")


def sweep_bound_case(seed: int = 29_000) -> Case:
    """A 1x1 conv of one input channel to 16 outputs on ``c2pe`` (8 rows per PE to sweep, 10 %
    of the weights: a column phase of three cycles; the sweep overlap on): each pixel-pass waits for the sweep of
    the pixel two before it, and the sweeps run back to back (docs/timing.md "Sweep overlap");
    three inputs in a row."""
    from zeroskip.compiler.conv import random_conv_program

    arch = next(a for a in CONV_ARCHS if a.name == "c2pe")
    assert arch.sweep_overlap
    program, x = random_conv_program(arch, seed, height=3, width=3, channels=1,
                                     convs=((16, 1, 1, 0),), pool=None, classes=None,
                                     density=0.1, batch=3, input_density=1.0, relu=False)
    return Case(seed, arch, program, quantize_input(program, x),
                "1x1 conv 1 -> 16 on c2pe, sweeps back to back")


# -- binary conv nets (compiler/binary_conv.py, docs/binary-mode.md "Binary conv passes") --------
#: 16- and 32-bit lines (kernel positions of more channels than a line take several chunks),
#: 2, 4 and 8 PEs, one-deep to eight-deep queues, the bounds lookahead on one
BINARY_CONV_ARCHS = [
    _arch("bc2pe-line16", pes=2, fifo_depth=1, line_bits=16, act_depth=256, acc_depth=4,
          sparse_depth=2048, ptr_depth=512, bias_depth=256, max_layers=6, max_passes=48),
    _arch("bc4pe-line32", pes=4, fifo_depth=2, line_bits=32, act_depth=128, acc_depth=2,
          sparse_depth=2048, ptr_depth=1024, bias_depth=128, max_layers=6, max_passes=48,
          bounds_lookahead=1, sweep_overlap=1),
    _arch("bc8pe-line16", pes=8, fifo_depth=8, line_bits=16, act_depth=64, acc_depth=4,
          sparse_depth=1024, ptr_depth=1024, bias_depth=128, max_layers=6, max_passes=32,
          sweep_overlap=1),
]


def random_binary_conv_case(seed: int, arch: ArchConfig, inputs: int = 2) -> Case:
    """A random folded binary conv net on ``arch`` (``random_binary_conv_program``: kernels 1,
    3 and 5, strides 1 and 2, padding, bit-plane or bipolar first layers, max pools of the
    signs, channels below, at and above N and line_bits, row tiles, a binary dense head with
    the map's spare channels), its thresholds mostly centred on the inputs' dots; the last
    input all zero on every third seed."""
    from zeroskip.compiler.binary_conv import random_binary_conv_program

    program, x, layers = random_binary_conv_program(arch, seed, batch=inputs)
    xq = quantize_input(program, x)
    if seed % 3 == 0:
        xq[-1] = 0
    shape = " ".join(f"{layer.name}:{'bc' if layer.kind == KIND_BINARY_CONV else 'b' if layer.kind == KIND_BINARY else 'pool'}"
                     + (f"{layer.kernel}s{layer.stride}p{layer.pad}" if layer.kernel else "")
                     for layer in program.layers)
    return Case(seed, arch, program, xq, f"seed {seed} {arch.name} binary conv {shape}", layers)


def binary_conv_regression_cases(n: int, first_seed: int = 50_000) -> list[Case]:
    """``n`` binary conv cases spread round-robin over ``BINARY_CONV_ARCHS``."""
    return [random_binary_conv_case(first_seed + i, BINARY_CONV_ARCHS[i % len(BINARY_CONV_ARCHS)])
            for i in range(n)]


def binary_conv_sample_cases() -> list[Case]:
    """``test_regression_binary_conv_sample``: two binary conv nets per architecture, and the
    parts of one tiled over space (``tiled_cases``)."""
    return (binary_conv_regression_cases(2 * len(BINARY_CONV_ARCHS))
            + tiled_cases(59_000, BINARY_CONV_ARCHS[1], binary=True))


# -- branching graphs (compiler/graph.py, docs/conv.md "Graphs") ---------------------------------
def random_graph_case(index: int, arch: ArchConfig, first_seed: int = 30_000,
                      inputs: int = 2) -> Case:
    """A random graph on ``arch``: the ``index``-th kind in turn (Fire module: concat of a 1x1
    and a 3x3 expand as one layer; ShuffleNet unit stride 1: shuffle and a folded residual add;
    stride 2: an average-pooled shortcut concatenated; MobileNetV2 bottleneck: a shortcut that
    may be negative; both shortcuts rest in their bank), random map sizes, host channels, widths and
    densities; smaller until it fits (no classifier head: CONV_ARCHS hold 4 layers)."""
    from zeroskip.compiler.graph import GRAPH_KINDS, random_graph_program

    seed = first_seed + index
    kind = GRAPH_KINDS[(index + index // len(CONV_ARCHS)) % len(GRAPH_KINDS)]
    rng = np.random.default_rng([seed, 13])
    for attempt in range(30):
        size = int(rng.integers(3, 7 - min(attempt // 5, 3)))
        channels = int(rng.integers(1, 2 * arch.pes + 2))
        width = int(rng.choice([2, 4, 6, 8]))
        density = float(rng.choice([0.3, 0.7, 1.0]))
        try:
            program, x, _ = random_graph_program(arch, seed * 64 + attempt, kind, size, channels,
                                                 width, classes=None, batch=inputs,
                                                 input_density=float(rng.uniform(0.2, 1.0)),
                                                 density=density)
            program.check_fits()
        except ZeroskipError:
            continue
        if not isinstance(program, Program):    # tiled over space: tiled_graph_cases has those
            continue
        return _with_corner_inputs(seed, arch, program, x,
                                   f"seed {seed} {arch.name} graph {kind} {size}x{size}x{channels} "
                                   f"width {width} density {density}")
    raise RuntimeError(f"seed {seed}: no {kind} graph fits {arch.name}")


def graph_regression_cases(n: int) -> list[Case]:
    """``n`` graph cases spread round-robin over ``CONV_ARCHS`` (the conv builds), the kinds
    turning so each meets every architecture."""
    return [random_graph_case(i, CONV_ARCHS[i % len(CONV_ARCHS)]) for i in range(n)]


def graph_sample_cases() -> list[Case]:
    """``test_regression_graph_sample``: one graph of each kind, on four architectures, and the
    parts of a stride-2 ShuffleNet unit tiled over space (``tiled_graph_cases``)."""
    return graph_regression_cases(len(CONV_ARCHS)) + tiled_graph_cases(31_000, CONV_ARCHS[3])


def tiled_graph_cases(seed: int, arch: ArchConfig, inputs: int = 2) -> list[Case]:
    """A stride-2 ShuffleNet unit 12 channels wide on a 6x6 map, whose first maps (its carried
    shortcut included) exceed ``arch``'s banks: a case per part of its tiled program, as
    ``tiled_cases``."""
    from zeroskip.compiler.graph import random_graph_program

    tiled, x, _ = random_graph_program(arch, seed, "shuffle2", width=12, batch=inputs)
    assert hasattr(tiled, "stages"), "the unit should not fit untiled"
    return part_cases(tiled, x, seed, f"seed {seed} {arch.name} graph shuffle2 width 12 tiled")


# -- corner cases of conv programs (issue 16) ----------------------------------------------------
def is_conv(program: Program) -> bool:
    return any(layer.kind == KIND_CONV for layer in program.layers)


def _count_requant(counts: Counter, exact: np.ndarray, bias: np.ndarray, shift: int, relu: bool,
                   a: ArchConfig) -> np.ndarray:
    """Count one MAC layer's corners on its exact sums [..., rows]; returns its outputs, by the
    documented rules (docs/fixed-point.md) written out again."""
    low, high = signed_range(a.act_bits)
    acc = wrap(exact, a.acc_bits)
    counts["wrap"] += int((acc != exact).sum())
    y = acc + bias
    rounded = (y + (1 << (shift - 1))) >> shift if shift else y
    counts["saturate_high"] += int((rounded > high).sum())
    counts["saturate_low"] += 0 if relu else int((rounded < low).sum())
    if shift:
        tie = ((y & ((1 << shift) - 1)) == 1 << (shift - 1)) & (rounded >= low) & (rounded <= high)
        counts["tie_positive"] += int((tie & (y > 0)).sum())
        counts["tie_negative"] += 0 if relu else int((tie & (y < 0)).sum())
    out = np.clip(rounded, low, high)
    return np.maximum(out, 0) if relu else out


def conv_arithmetic_corners(program: Program, xq: np.ndarray) -> tuple[Counter, np.ndarray]:
    """The arithmetic corners of a conv program (docs/conv.md) over every layer and input, and its
    outputs in the array's order, from the exact sums of the decoded weights: a conv layer's
    every output pixel is its window (``hw.conv.gather``) times the weight matrix; an FC layer is
    one product. Max pooling (OP_MAX) has no ties or wrap-around: its outputs are the window's
    maxima, counted for nothing."""
    a, decoded = program.arch, program.decoded
    counts = Counter()
    x = np.atleast_2d(np.asarray(xq, dtype=np.int64))
    for index, info in enumerate(program.layers):
        w, bias = decoded.weights(index), decoded.bias(index)
        if info.kind == KIND_SPARSE:
            x = _count_requant(counts, x @ w.T, bias[None, :], info.shift, bool(info.relu), a)
            continue
        if info.kind != KIND_CONV:
            raise ValueError(f"layer {index}: kind {info.kind} is not counted in conv programs")
        g = info.geometry
        windows = g.windows(a.pes)
        patches = gather(x, windows)                                      # [batch, P, columns]
        if g.op == OP_MAX:
            inside = windows.index >= 0
            y = np.zeros(patches.shape[:2] + (g.out_channels,), np.int64)
            for row in range(g.out_channels):
                used = np.flatnonzero(w[row])
                if len(used):
                    y[..., row] = np.where(inside[:, used], patches[..., used],
                                           np.iinfo(np.int64).min).max(axis=-1)
        else:
            y = _count_requant(counts, patches @ w.T, bias[None, None, :], info.shift,
                               bool(info.relu), a)
        out = np.zeros((len(x), g.pixels, g.out_stride), np.int64)
        out[..., :g.out_channels] = y
        x = out.reshape(len(x), -1)
    return counts, x


def conv_order_exposed(program: Program, xq: np.ndarray) -> int:
    """(input, pixel-pass) pairs of the conv passes whose column phase would end at another
    cycle if the LNZD sent the window's candidates' work in the reverse order: a pixel-pass has
    an FC pass's timing over its window's group sequence (docs/conv.md); its candidates are the
    non-zero activations inside the map (OP_MAX: every one inside)."""
    if not is_conv(program):
        return 0
    a = program.arch
    acts = trace_int(program, np.atleast_2d(xq))
    exposed = 0
    for image in program.decoded.passes:
        if image.kind != KIND_CONV:
            continue
        windows = image.windows
        patches = gather(acts[image.layer], windows)                      # [batch, P, columns]
        candidate = windows.index >= 0
        for sample in patches:
            for pixel in range(len(windows.index)):
                keep = candidate[pixel] if image.geometry.op == OP_MAX else \
                    candidate[pixel] & (sample[pixel] != 0)
                columns = np.flatnonzero(keep)
                groups = windows.group[pixel, columns].tolist()
                work = image.counts[:, columns].T.tolist()
                n_groups = int(windows.groups[pixel])
                exposed += column_phase_end(groups, work, a.fifo_depth, n_groups) != \
                    column_phase_end(groups, work[::-1], a.fifo_depth, n_groups)
    return exposed


def _conv_corners_met(program: Program, xq: np.ndarray) -> set[str]:
    counts, _ = conv_arithmetic_corners(program, xq)
    counts["lnzd_order"] = order_exposed(program, xq) + conv_order_exposed(program, xq)
    return {name for name in CORNERS if counts[name]}


def saturating_input(w: np.ndarray, bias: np.ndarray, shift: int, positive: bool,
                     a: ArchConfig) -> np.ndarray | None:
    """An input whose sum at some row saturates the output (high or low) without wrapping the
    accumulator: the row's sign pattern times the smallest magnitude v that brings
    ``acc = ±v·Σ|w|`` into the range that rounds beyond ``act_bits`` (when the shift is as wide
    as the accumulator, only the bias can push a sum there: the range is narrow, but solvable)."""
    low, high = signed_range(a.act_bits)
    acc_low, acc_high = signed_range(a.acc_bits)
    half = 1 << (shift - 1) if shift else 0
    reach = np.abs(w).sum(axis=1)
    for row in np.argsort(-reach, kind="stable"):
        total, b = int(reach[row]), int(bias[row])
        if not total:
            break
        if positive:         # (y + half) >> shift > high  <=>  y >= (high + 1)·2^shift − half
            first, last = ((high + 1) << shift) - half - b, acc_high
            v = max(1, -(-first // total))
            acc = v * total
        else:                # (y + half) >> shift < low  <=>  y < low·2^shift − half
            first, last = acc_low, (low << shift) - half - 1 - b
            v = max(1, -(-(-last) // total))
            acc = -v * total
        if v <= high and first <= acc <= last:
            return (1 if positive else -1) * np.sign(w[row]) * v
    return None


def conv_corner_inputs(program: Program, xq: np.ndarray, seed: int) -> np.ndarray:
    """``corner_inputs`` for conv programs (issue 16), crafted against the first conv layer's
    decoded weights: its largest row's window at the pixel with the most positions inside the
    map, driven to its most positive and most negative sums at full scale and at 1/2 … 1/64 of
    it (wrap-around, saturation both ways); constant and random-sign maps at full scale in both
    signs (every pixel large); dense random maps (the queues fill and the order shows); exact
    rounding ties of both signs, one window's columns solved like ``tie_input`` (the rest of the
    map zero, so no other column reaches that pixel). Kept only when they add a corner; own
    random stream, so the program and its random inputs stay what they were."""
    first = program.layers[0]
    none = np.zeros((0, program.in_len), np.int64)
    if first.kind != KIND_CONV or first.geometry.op != OP_MAC:
        return none
    rng = np.random.default_rng([seed, 16])
    a, decoded = program.arch, program.decoded
    low, high = signed_range(a.act_bits)
    w, bias = decoded.weights(0), decoded.bias(0)
    windows = first.geometry.windows(a.pes)
    pixel = int((windows.index >= 0).sum(axis=1).argmax())
    inside = np.flatnonzero(windows.index[pixel] >= 0)
    where = windows.index[pixel, inside]                      # the map's activations it reads
    sign = np.sign(w[int(np.abs(w[:, inside]).sum(axis=1).argmax()), inside])
    candidates = []
    for scale in (1, 2, 4, 8, 16, 64):     # full scale may wrap; smaller ones saturate instead
        for top, bottom in ((high, low), (low, high)):
            x = np.zeros(program.in_len, np.int64)
            x[where] = np.where(sign > 0, top // scale, np.where(sign < 0, bottom // scale, 0))
            candidates.append(x)
    for positive in (True, False) if not first.relu else (True,):
        x = saturating_input(w[:, inside], bias, first.shift, positive, a)
        if x is not None:
            candidates.append(np.zeros(program.in_len, np.int64))
            candidates[-1][where] = x
    for value in (high, low):
        candidates.append(np.full(program.in_len, value, np.int64))
    candidates.append(np.where(rng.random(program.in_len) < 0.5, high, low))
    for density in (1.0, 0.5):
        dense = rng.integers(low // 8, high // 8 + 1, program.in_len)
        candidates.append(np.where((dense != 0) & (rng.random(program.in_len) < density), dense, 1))
    for positive in (True, False) if not first.relu else (True,):
        tie = tie_input(w[:, inside], bias, first.shift, positive, a.act_bits, rng)
        if tie is not None:
            x = np.zeros(program.in_len, np.int64)
            x[where] = tie
            candidates.append(x)
    met = _conv_corners_met(program, xq)
    chosen = []
    for candidate in candidates:
        new = _conv_corners_met(program, candidate[None]) - met
        if new:
            chosen.append(candidate)
            met |= new
    return np.array(chosen, dtype=np.int64).reshape(-1, program.in_len)
