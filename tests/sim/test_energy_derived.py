"""The energy table derived from the configuration: eie64 is the 45 nm anchor, prices scale with
memory size and width, static energy is power x time, user tables override, bad input is one line."""

import dataclasses
import json
import math

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.compiler import compile_layers
from zeroskip.hw.arch import PRESETS
from zeroskip.sim import ACTIONS, load_energy_table, simulate
from zeroskip.sim import eie
from zeroskip.sim.energy import derive_energy_table, static_power_mw

from test_simulator import fc, random_layer, small


def horowitz(width_bits, size_bytes):
    """5 pJ per 32 bits from a 32 KB SRAM, linear in width, sqrt in size."""
    return 5.0 * width_bits / 32 * math.sqrt(size_bytes / 32768)


def test_eie64_derives_the_anchor_table():
    anchor = load_energy_table()
    derived = derive_energy_table(PRESETS["eie64"])
    assert derived.pj == anchor.pj and derived.component == anchor.component


def test_anchor_follows_horowitz_at_eies_memories():
    pj = load_energy_table().pj
    # EIE's per-PE memories: 2 KB activation SRAM (16 bit), 8-deep queue of 32-bit items,
    # 32 KB pointer SRAM in two 16-bit banks, 128 KB sparse SRAM (64-bit lines), 16 x 16-bit
    # codebook, 64 x 32-bit accumulators, 1024 x 32-bit biases
    expected = {"act_read": horowitz(16, 2048), "queue_push": horowitz(32, 32),
                "ptr_read": horowitz(16, 16384), "sparse_line_read": horowitz(64, 131072),
                "codebook_read": horowitz(16, 32), "acc_read": horowitz(32, 256),
                "bias_read": horowitz(32, 4096)}
    for name, value in expected.items():
        assert pj[name] == pytest.approx(value, abs=0.0015), name
    # static: 64 PEs x the non-memory 41 % of EIE's 9.157 mW per PE, per 800 MHz cycle, in pJ
    assert pj["array_cycle"] == pytest.approx(64 * 0.41 * 9.157 / 800 * 1000, rel=1e-6)


def test_other_presets_get_their_own_prices():
    anchor = load_energy_table().pj
    table = derive_energy_table(PRESETS["small"]).pj
    # small: 8 KB sparse SRAM with 64-bit lines, 256 x 16-bit activation banks, 4 PEs at 100 MHz
    assert table["sparse_line_read"] == pytest.approx(horowitz(64, 8192))
    assert table["act_read"] == pytest.approx(horowitz(16, 512))
    assert table["array_cycle"] == pytest.approx(4 * 0.41 * 9.157 / 800 * 1000)
    assert table["sparse_line_read"] < anchor["sparse_line_read"]


@pytest.mark.parametrize("field, value, actions", [
    ("sparse_depth", 32768, ["sparse_line_read", "ptr_read"]),       # pointers widen too
    ("line_bits", 64, ["sparse_line_read", "xnor_popcount", "ptr_read"]),   # more entries
    ("act_depth", 2048, ["act_read", "act_write", "queue_push", "queue_pop"]),   # index widens
    ("ptr_depth", 32768, ["ptr_read"]),
    ("fifo_depth", 16, ["queue_push", "queue_pop"]),
    ("acc_depth", 128, ["acc_read", "acc_write"]),
    ("bias_depth", 2048, ["bias_read"]),
    ("weight_bits", 24, ["codebook_read", "mac"]),
    ("act_bits", 24, ["act_read", "act_write", "mac", "lnzd_select", "queue_push", "queue_pop"]),
    ("acc_bits", 64, ["acc_read", "acc_write", "bias_read", "mac"]),
    ("pes", 128, ["lnzd_select", "array_cycle", "queue_push", "queue_pop"]),   # index widens
])
def test_prices_grow_with_size_and_width(field, value, actions):
    # room for wider operands and lines
    base = dataclasses.replace(PRESETS["eie64"], acc_bits=48, line_bits=32)
    bigger = dataclasses.replace(base, **{field: value})
    low, high = derive_energy_table(base).pj, derive_energy_table(bigger).pj
    assert {n for n in ACTIONS if high[n] > low[n]} == set(actions)
    assert all(high[n] == low[n] for n in ACTIONS if n not in actions)


def test_memory_price_is_linear_in_width_and_sqrt_in_size():
    base = derive_energy_table(PRESETS["eie64"]).pj
    quarter = derive_energy_table(dataclasses.replace(PRESETS["eie64"], bias_depth=256)).pj
    assert quarter["bias_read"] == pytest.approx(base["bias_read"] / 2)      # sqrt(1/4)
    wide = derive_energy_table(dataclasses.replace(PRESETS["eie64"], acc_bits=64, bias_depth=512)).pj
    assert wide["bias_read"] == pytest.approx(base["bias_read"] * 2)         # 2x width, same bits


def test_static_energy_is_power_times_time():
    rng = np.random.default_rng(3)
    arch = small()
    program = compile_layers([random_layer(rng, 24, 16, 0.3)], arch, calibration=rng.random((2, 24)))
    result = simulate(program, rng.random((2, 24)).astype(np.float32))
    # by hand: 4 PEs x 41 % x 9.157 mW x 100/800 MHz, for the batch's cycles at 100 MHz (mW x us = nJ)
    power_mw = arch.pes * 0.41 * 9.157 * arch.clock_mhz / 800
    time_us = result.cycles.sum() / arch.clock_mhz
    assert static_power_mw(arch) == pytest.approx(power_mw)
    assert result.component_energy_pj["static"] == pytest.approx(power_mw * time_us * 1000)
    assert result.actions["array_cycle"] == result.cycles.sum()
    # the default table is the one derived from the program's configuration, not eie64's
    assert result.energy_table.pj == derive_energy_table(arch).pj
    assert result.energy_table.pj["sparse_line_read"] < load_energy_table().pj["sparse_line_read"]


def test_a_user_table_overrides_the_derived_one(tmp_path, capsys):
    ones = tmp_path / "ones.json"
    ones.write_text(json.dumps({"name": "ones", "actions": {
        a: {"pj": 1, "component": "control"} for a in ACTIONS}}))
    program = compile_layers([fc([[1, 0], [2, 4], [3, 5]])], small(pes=1), calibration=np.ones((1, 2)))
    result = simulate(program, np.array([0.5, 0.25], np.float32), energy_table=str(ones))
    assert result.energy_pj == sum(result.actions.values()) and result.energy_table.name == "ones"
    out = tmp_path / "bench.json"
    assert main(["bench", "eie", "--layers", "NT-LSTM", "--energy", str(ones), "--json", str(out),
                 "-q"]) == 0
    (layer,) = json.loads(out.read_text())["layers"]
    assert layer["energy_pj"] == sum(layer["actions"].values())
    assert "priced by ones" in capsys.readouterr().out


def test_template_for_an_arch_loads_back_as_its_derived_table(tmp_path, capsys):
    assert main(["energy", "--template", "--arch", "small", "--pes", "8"]) == 0
    path = tmp_path / "small8.json"
    path.write_text(capsys.readouterr().out)
    loaded = load_energy_table(str(path))
    derived = derive_energy_table(dataclasses.replace(PRESETS["small"], pes=8))
    assert loaded.pj == pytest.approx(derived.pj) and loaded.name == derived.name
    assert main(["energy", "--arch", "small"]) == 0
    printed = capsys.readouterr().out
    assert "derived for small" in printed and "array_cycle" in printed and "1.88 mW" in printed


@pytest.mark.parametrize("argv, message", [
    (["energy", "--arch", "nope"], "unknown architecture 'nope'"),
    (["energy", "--arch", "small", "--pes", "0"], "--pes"),
    (["bench", "eie", "--layers", "NT-LSTM", "--energy", "{old}"], "action 'array_cycle' has no price"),
    (["energy", "--energy", "{old}"], "action 'array_cycle' has no price"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    old = tmp_path / "old.json"          # a table from before static pricing
    old.write_text(json.dumps({"actions": {a: {"pj": 1, "component": "memory"}
                                           for a in ACTIONS if a != "array_cycle"}}))
    assert main([arg.format(old=old) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err
    assert captured.out == ""


def eie_energy_pj(spec):
    """EIE's energy for a layer: 0.59 W x its actual time (W x us = uJ = 1e6 pJ)."""
    return 0.59 * spec.eie_actual_us * 1e6


def test_bench_energy_against_eies_reported_power(tmp_path):
    out = tmp_path / "eie.json"
    assert main(["bench", "eie", "--layers", "Alex-7,NT-LSTM", "--json", str(out), "-q"]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["layers"]}
    specs = {s.name: s for s in eie.TABLE_III}
    for name, row in rows.items():
        ratio = row["energy_pj"] / eie_energy_pj(specs[name])
        assert row["energy_vs_eie"] == pytest.approx(ratio)
        assert 0.7 <= ratio <= 1.3, (name, ratio)
        static = row["energy_by_component_pj"]["static"]
        assert static == pytest.approx(64 * 0.41 * 9.157 * row["time_us"] * 1000)


def test_bench_energy_all_table_iii_layers(tmp_path):
    """Issue 14's energy goal (docs/eie-benchmark.md): all nine layers within +-30 % of EIE's
    energy (NT-We was 1.42x before each PE kept its last sparse line)."""
    out = tmp_path / "eie.json"
    assert main(["bench", "eie", "--layers", ",".join(s.name for s in eie.TABLE_III),
                 "--json", str(out), "-q"]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["layers"]}
    ratios = {s.name: rows[s.name]["energy_pj"] / eie_energy_pj(s) for s in eie.TABLE_III}
    outside = sorted(name for name, r in ratios.items() if not 0.7 <= r <= 1.3)
    assert outside == [], ratios
