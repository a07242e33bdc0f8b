"""simulate / simulate_int: bit-exact outputs against the reference, cycles against the spec and
against a cycle-by-cycle model, action counts and energy."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw import timing
from zeroskip.hw.arch import PRESETS, with_overrides
from zeroskip.hw.reference import predict, predict_int, quantize_input, trace_int
from zeroskip.sim import ACTIONS, simulate, simulate_int
from zeroskip.hw.kinds import DecodedProgram

from sim_helpers import cycle_by_cycle

OVERHEAD = timing.PROGRAM_HEAD + timing.PROGRAM_TAIL
SWEEP = timing.MAC_DRAIN + timing.REQUANT_TAIL       # plus R rows


def fc(codes, codebook=None, bias=None, act="relu"):
    codes = np.asarray(codes)
    if codebook is None:
        codebook = np.concatenate([[0.0], np.linspace(-1.0, 1.0, 15)]).astype(np.float32)
    if bias is None:
        bias = np.zeros(codes.shape[0], np.float32)
    return SimpleNamespace(codebook=np.asarray(codebook, np.float32), codes=codes,
                           bias=np.asarray(bias, np.float32), act=act)


def random_layer(rng, n_in, n_out, density, act="relu"):
    codes = np.where(rng.random((n_out, n_in)) < density, rng.integers(1, 16, (n_out, n_in)), 0)
    return fc(codes, bias=rng.normal(0, 0.2, n_out), act=act)


def small(**overrides):
    return with_overrides(PRESETS["small"], **overrides)


CASES = [  # (arch overrides, layer sizes, weight density)
    (dict(pes=1, fifo_depth=1), [20, 12, 5], 0.3),
    (dict(pes=3, fifo_depth=2), [37, 50, 11], 0.2),
    (dict(pes=5, fifo_depth=8, acc_depth=4), [30, 47, 9], 0.25),     # tiled: several passes a layer
    (dict(pes=4, fifo_depth=8), [64, 96, 40, 10], 0.1),
    (dict(pes=7, fifo_depth=1, acc_depth=3), [25, 60, 8], 0.5),
]


@pytest.mark.parametrize("overrides, sizes, density", CASES)
def test_outputs_bit_exact_and_cycles_per_spec(overrides, sizes, density):
    rng = np.random.default_rng(len(sizes) + overrides["pes"])
    arch = small(**overrides)
    layers = [random_layer(rng, a, b, density, "relu" if i < len(sizes) - 2 else "none")
              for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    x = np.maximum(rng.normal(size=(6, sizes[0])), 0).astype(np.float32)
    x[0] = 0.0                                                     # an all-zero input
    x[1, ::2] = 0.0
    program = compile_layers(layers, arch, calibration=x)
    result = simulate(program, x)
    xq = quantize_input(program, x)
    assert np.array_equal(result.outputs_int, predict_int(program, xq))
    assert np.array_equal(result.outputs, predict(program, x))
    assert np.array_equal(simulate(program, x[2]).outputs, predict(program, x[2]))

    # every pass's column phase equals the cycle-by-cycle model on the reference's activations
    acts = trace_int(program, xq)
    expected = np.zeros((len(x), len(program.passes)), np.int64)
    for image in DecodedProgram(program).passes:
        source = acts[image.layer][:, :image.in_len] != 0
        for i in range(len(x)):
            end = cycle_by_cycle(source[i], image.counts, arch.fifo_depth)[0]
            expected[i, image.index] = end + SWEEP + image.rows
    assert np.array_equal(result.pass_cycles, expected)
    assert np.array_equal(result.cycles, OVERHEAD + expected.sum(axis=1))
    assert np.array_equal(result.layer_cycles.sum(axis=1) + OVERHEAD, result.cycles)
    assert np.all(result.cycles > result.ideal_cycles)
    assert np.all((result.efficiency > 0) & (result.efficiency < 1))
    assert result.actions["mac"] == result.pe_macs.sum()


def test_hand_computed_program_one_pe():
    # column 0 holds 3 entries, column 1 two (rows 1, 2): b = 1, 2; s = 2, 5; C = 7
    program = compile_layers([fc([[1, 0], [2, 4], [3, 5]])], small(pes=1),
                             calibration=np.ones((1, 2)))
    assert DecodedProgram(program).passes[0].counts.tolist() == [[3, 2]]
    result = simulate(program, np.array([0.5, 0.25], np.float32))
    assert result.cycles.tolist() == [OVERHEAD + 7 + SWEEP + 3]
    assert result.ideal_cycles.tolist() == [5]
    # the five entries share one line, which the PE keeps from column 0 to column 1
    expected = dict(act_read=2, lnzd_select=2, queue_push=2, queue_pop=2, ptr_read=4,
                    sparse_line_read=1, codebook_read=5, mac=5, padding_entry=0,
                    acc_read=5 + 3, acc_write=5 + 3, bias_read=3, act_write=3, skipped_zero=0, xnor_popcount=0,
                    idle_cycle=2, stall_cycle=1, array_cycle=OVERHEAD + 7 + SWEEP + 3)
    assert result.actions == expected
    assert (result.pe_busy.tolist(), result.pe_stall.tolist(), result.pe_idle.tolist()) == ([[5]], [[1]], [[2]])


@pytest.mark.parametrize("line_bits", [64, 16])
def test_line_reads_match_an_entry_by_entry_walk(line_bits):
    """Each PE reads a sparse line only when the entry it issues is not in the line it holds
    (held from column to column, none at a pass's start): walked entry by entry here from the
    pointer image, against the simulator's vectorised count."""
    rng = np.random.default_rng(7)
    arch = small(pes=4, line_bits=line_bits, acc_depth=4)           # 32 rows: two passes
    program = compile_layers([random_layer(rng, 40, 32, 0.15), random_layer(rng, 32, 10, 0.4)],
                             arch, calibration=np.ones((1, 40)))
    x = rng.random((4, 40)).astype(np.float32)
    x[rng.random(x.shape) < 0.5] = 0.0
    acts = trace_int(program, quantize_input(program, x))
    per_line = program.arch.entries_per_line
    walked = 0
    for image in DecodedProgram(program).passes:
        p = program.passes[image.index]
        source = acts[image.layer][:, :image.in_len]
        for sample in source:
            for pe in range(arch.pes):
                held = None
                for column in np.flatnonzero(sample):
                    start, stop = program.ptr[pe, p.ptr_base + column: p.ptr_base + column + 2]
                    for entry in range(int(start), int(stop)):
                        if entry // per_line != held:
                            walked, held = walked + 1, entry // per_line
    result = simulate(program, x)
    assert len(program.passes) == 3 and result.actions["sparse_line_read"] == walked
    lines = sum(int(((acts[image.layer][:, :image.in_len] != 0).astype(np.int64)
                     @ image.lines.sum(axis=0)).sum()) for image in DecodedProgram(program).passes)
    assert walked < lines                                # the kept line saves reads here


def test_all_zero_input_costs_group_scan_and_sweep():
    rng = np.random.default_rng(1)
    program = compile_layers([random_layer(rng, 10, 8, 0.5), random_layer(rng, 8, 6, 0.5)],
                             small(pes=4), calibration=np.ones((1, 10)))
    program.bias[:] = 0                                  # so the hidden layer stays all zero
    result = simulate(program, np.zeros(10, np.float32))
    groups = [3, 2]                                      # ceil(10 / 4), ceil(8 / 4)
    rows = [2, 2]                                        # ceil(8 / 4), ceil(6 / 4)
    assert result.cycles.tolist() == [OVERHEAD + sum(g + 1 + SWEEP + r for g, r in zip(groups, rows))]
    assert result.ideal_cycles.tolist() == [0]
    assert result.actions["mac"] == 0 and result.actions["skipped_zero"] == 10 + 8


def test_padding_entries_cost_cycles_not_macs():
    codes = np.zeros((40, 1), np.int64)
    codes[35, 0] = 7                                     # 35 zeros before it: two paddings (16 + 16)
    program = compile_layers([fc(codes)], small(pes=1, acc_depth=64), calibration=np.ones((1, 1)))
    result = simulate(program, np.ones(1, np.float32))
    assert result.actions["padding_entry"] == 2 and result.actions["mac"] == 1
    assert result.ideal_cycles.tolist() == [1]
    # b0 = 1, s0 = 2, three entries issue at 3..5: C = 5
    assert result.cycles.tolist() == [OVERHEAD + 5 + SWEEP + 40]


def test_energy_is_counts_times_prices(tmp_path):
    rng = np.random.default_rng(3)
    program = compile_layers([random_layer(rng, 30, 20, 0.3)], small(), calibration=np.ones((1, 30)))
    x = rng.random((3, 30)).astype(np.float32)
    result = simulate(program, x)
    table = result.energy_table
    assert result.energy_pj == pytest.approx(sum(result.actions[a] * table.pj[a] for a in ACTIONS))
    assert sum(result.component_energy_pj.values()) == pytest.approx(result.energy_pj)
    assert result.power_mw == pytest.approx(result.energy_pj / result.time_us.sum() / 1000)
    assert result.time_us.tolist() == (result.cycles / program.arch.clock_mhz).tolist()
    ones = tmp_path / "ones.json"
    ones.write_text('{"actions": {%s}}' % ", ".join(
        f'"{a}": {{"pj": 1, "component": "control"}}' for a in ACTIONS))
    counted = simulate(program, x, energy_table=str(ones))
    assert counted.energy_pj == sum(result.actions.values())
    assert counted.component_energy_pj["control"] == counted.energy_pj


def test_row_balanced_program_outputs_in_model_order():
    rng = np.random.default_rng(5)
    layers = [random_layer(rng, 24, 30, 0.3), random_layer(rng, 30, 9, 0.3, act="none")]
    x = rng.random((4, 24)).astype(np.float32)
    program = compile_layers(layers, small(pes=4), calibration=x, balance=True)
    result = simulate(program, x)
    assert np.array_equal(result.outputs, predict(program, x))


def test_bad_inputs_are_one_line_errors():
    rng = np.random.default_rng(6)
    program = compile_layers([random_layer(rng, 6, 4, 0.5)], small(), calibration=np.ones((1, 6)))
    with pytest.raises(ZeroskipError, match="shape"):
        simulate(program, np.zeros(5))
    with pytest.raises(ZeroskipError, match="NaN"):
        simulate(program, np.full(6, np.nan))
    with pytest.raises(ZeroskipError, match="range"):
        simulate_int(program, np.full(6, 1 << 20))
    with pytest.raises(ZeroskipError, match="energy table"):
        simulate(program, np.zeros(6), energy_table="/nonexistent.json")


def test_summary_json_keys():
    rng = np.random.default_rng(8)
    program = compile_layers([random_layer(rng, 16, 12, 0.4), random_layer(rng, 12, 5, 0.4, "none")],
                             small(pes=2), calibration=np.ones((1, 16)))
    result = simulate(program, rng.random((2, 16)).astype(np.float32))
    report = json.loads(result.to_json())
    assert report["batch"] == 2 and report["cycles"] == int(result.cycles.sum())
    assert report["ideal_cycles"] == int(result.ideal_cycles.sum())
    assert report["energy_pj"] == pytest.approx(result.energy_pj)
    assert [layer["macs"] for layer in report["layers"]] == [a["mac"] for a in result.layer_actions]
    assert sum(layer["cycles"] for layer in report["layers"]) + OVERHEAD * 2 == report["cycles"]


@pytest.mark.parametrize("seed", [*range(6), *(pytest.param(s, marks=pytest.mark.slow) for s in range(6, 60))])
def test_random_regression_against_cycle_by_cycle_model(seed):
    """Bigger random programs and batches: every pass of every input, cycle-by-cycle (54 more
    seeds with ``-m slow``)."""
    rng = np.random.default_rng(100 + seed)
    arch = small(pes=int(rng.integers(1, 17)), fifo_depth=int(rng.choice([1, 2, 4, 8])),
                 acc_depth=int(rng.choice([4, 16, 64])), sparse_depth=4096, ptr_depth=4096)
    sizes = [int(rng.integers(20, 200)) for _ in range(3)]
    layers = [random_layer(rng, a, b, float(rng.uniform(0.03, 0.5)), "relu" if i == 0 else "none")
              for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    x = np.maximum(rng.normal(size=(8, sizes[0])), 0).astype(np.float32)
    program = compile_layers(layers, arch, calibration=x)
    result = simulate(program, x)
    xq = quantize_input(program, x)
    assert np.array_equal(result.outputs_int, predict_int(program, xq))
    acts = trace_int(program, xq)
    for image in DecodedProgram(program).passes:
        source = acts[image.layer][:, :image.in_len] != 0
        for i in range(len(x)):
            end = cycle_by_cycle(source[i], image.counts, arch.fifo_depth)[0]
            assert result.pass_cycles[i, image.index] == end + SWEEP + image.rows


@pytest.mark.parametrize("act", ["relu", "none"])
def test_saturated_outputs_are_counted_per_layer(act):
    """Calibrated on small inputs, fed large ones: the counts equal a plain recount of the
    unclipped values (exact integer arithmetic on the decoded weights, no fixedpoint helpers)."""
    rng = np.random.default_rng(7)
    layers = [random_layer(rng, 24, 30, 0.5, act=act), random_layer(rng, 30, 6, 0.6, act="none")]
    arch = small(pes=3, acc_depth=4)                         # tiled, with spare slots
    program = compile_layers(layers, arch, calibration=rng.uniform(-0.05, 0.05, (8, 24)),
                             input_frac=12)          # inputs up to 8 fit; the layers expect 0.05
    xq = quantize_input(program, rng.uniform(-1, 1, (5, 24)))
    result = simulate_int(program, xq)
    acts = trace_int(program, xq)
    high, low = (1 << (arch.act_bits - 1)) - 1, -(1 << (arch.act_bits - 1))
    for index, layer in enumerate(program.layers):
        w = program.decoded.weights(index).astype(object)
        x = acts[index].astype(object)
        want = []
        for sample in range(len(xq)):
            count = 0
            for row in range(layer.out_len):
                total = sum(int(x[sample, j]) * int(w[row, j]) for j in range(layer.in_len))
                total += int(program.decoded.bias(index)[row])
                half = (1 << (layer.shift - 1)) if layer.shift else 0
                y = (total + half) >> layer.shift
                count += y > high or (y < low and not layer.relu)
            want.append(count)
        assert result.layer_clipped[:, index].tolist() == want
    assert result.layer_clipped.sum() > 0                   # the case exercises saturation
    assert result.summary()["layers"][0]["clipped_activations"] == int(result.layer_clipped[:, 0].sum())
