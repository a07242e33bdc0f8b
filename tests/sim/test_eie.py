"""``zeroskip bench eie``'s figures against bounds computed independently of the simulator.

The synthetic layers are random draws (weights and activations at uniformly random positions
at Table III's densities), so their work is known in expectation: every (row, column) pair is
a MAC with probability ``wd * ad``. The busiest PE's MACs (the "ideal" cycles of a one-pass
layer) then lie between the mean per PE and the expectation for a PE holding
``ceil(out / PEs)`` rows, each within ``SIGMAS`` standard deviations of the draw (the variance
below is exact for this construction; 5 sigma over 64 PEs leaves a false alarm below 1e-4).
The MAC count itself is checked exactly against the regenerated weights and input, the energy
against the action counts priced from the JSON table read here, not through ``sim.energy``.
"""

import json
import math
import os

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.sim import eie
from zeroskip.sim.energy import DEFAULT_TABLE

SIGMAS = 5.0
ONE_PASS = ("NT-LSTM", "Alex-8", "VGG-7")   # single pass: ideal = the busiest PE's MACs
LAYERS = ONE_PASS + ("NT-Wd", "FC8 (real)")  # NT-Wd runs as 3 row tiles; FC8 is real data


@pytest.fixture(scope="module", params=[0, 1], ids=lambda s: f"seed{s}")
def bench(request, tmp_path_factory):
    seed = request.param
    out = tmp_path_factory.mktemp("eie") / "eie.json"
    assert main(["bench", "eie", "--layers", ",".join(n.split()[0] for n in LAYERS), "--seed", str(seed),
                 "--json", str(out), "-q"]) == 0
    report = json.loads(out.read_text())
    return seed, report, {layer["name"]: layer for layer in report["layers"]}


def spec_of(name):
    return next(spec for spec in eie.TABLE_III if spec.name == name)


def expected_macs(in_len, rows, wd, ad):
    """Mean and standard deviation of the MACs of ``rows`` rows: sum over the ``in_len``
    columns of A_c * N_c, A_c ~ Bernoulli(ad) (input non-zero), N_c ~ Binomial(rows, wd)."""
    mean = in_len * rows * wd * ad
    var = in_len * (ad * rows * wd * (1 - wd) + rows ** 2 * wd ** 2 * ad * (1 - ad))
    return mean, math.sqrt(var)


@pytest.mark.parametrize("name", ONE_PASS)
def test_ideal_cycles_match_the_densities(bench, name):
    _, report, layers = bench
    layer, pes = layers[name], report["arch"]["pes"]
    spec = spec_of(name)
    assert layer["passes"] == 1
    total, total_sd = expected_macs(spec.in_len, spec.out_len, spec.weight_density,
                                    spec.act_density)
    busiest, busiest_sd = expected_macs(spec.in_len, -(-spec.out_len // pes),
                                        spec.weight_density, spec.act_density)
    low = (total - SIGMAS * total_sd) / pes
    high = busiest + SIGMAS * busiest_sd
    assert low <= layer["ideal_cycles"] <= high, (low, layer["ideal_cycles"], high)
    # and the stated tolerance is a tight one: within 15 % of in·out·wd·ad / PEs
    assert 0.85 < low / (total / pes) and high / (total / pes) < 1.15


@pytest.mark.parametrize("name", ONE_PASS + ("NT-Wd",))
def test_macs_counted_exactly(bench, name):
    seed, report, layers = bench
    layer, pes = layers[name], report["arch"]["pes"]
    spec = spec_of(name)
    weights, x = eie.synthetic_layer(spec, seed + eie.TABLE_III.index(spec))
    macs = int((weights.codes[:, x != 0] != 0).sum())
    actions = layer["actions"]
    assert actions["mac"] == macs
    assert layer["weight_density"] == pytest.approx((weights.codes != 0).mean())
    assert layer["act_density"] == pytest.approx((x != 0).mean())
    # the busiest PE does at least the mean share of every pass
    assert layer["ideal_cycles"] >= macs / pes
    # one broadcast per non-zero input per pass, pushed into every PE's queue; the rest skipped
    assert actions["lnzd_select"] == int((x != 0).sum()) * layer["passes"]
    assert actions["lnzd_select"] + actions["skipped_zero"] == spec.in_len * layer["passes"]
    assert actions["queue_push"] == actions["lnzd_select"] * pes
    assert actions["codebook_read"] == actions["mac"] + actions["padding_entry"]


@pytest.mark.parametrize("name", LAYERS)
def test_cycles_time_efficiency(bench, name):
    _, report, layers = bench
    if name not in layers:
        pytest.skip(f"{name} not run: {report['notes']}")
    layer, arch = layers[name], report["arch"]
    assert layer["cycles"] >= layer["ideal_cycles"] > 0
    assert 0 < layer["efficiency"] <= 1
    assert layer["efficiency"] == pytest.approx(layer["ideal_cycles"] / layer["cycles"])
    assert layer["time_us"] == pytest.approx(layer["cycles"] / arch["clock_mhz"])
    assert layer["vs_eie_actual"] == pytest.approx(layer["time_us"] / layer["eie_actual_us"])
    entries = layer["actions"]["mac"] + layer["actions"]["padding_entry"]
    assert layer["padding_fraction"] == pytest.approx(layer["actions"]["padding_entry"] / entries)
    parts = {k: v for k, v in layer["breakdown_cycles"].items() if k != "broadcast_stalls"}
    assert sum(parts.values()) == layer["cycles"] and min(parts.values()) >= 0


@pytest.mark.parametrize("name", LAYERS)
def test_energy_is_the_priced_actions(bench, name):
    _, report, layers = bench
    if name not in layers:
        pytest.skip(f"{name} not run: {report['notes']}")
    with open(DEFAULT_TABLE) as f:
        prices = {action: entry["pj"] for action, entry in json.load(f)["actions"].items()}
    layer = layers[name]
    actions = layer["actions"]
    priced_macs = actions["mac"] * prices["mac"]
    assert priced_macs > 0
    assert layer["energy_pj"] >= priced_macs
    assert layer["energy_pj"] == pytest.approx(sum(n * prices[a] for a, n in actions.items()))
    assert sum(layer["energy_by_component_pj"].values()) == pytest.approx(layer["energy_pj"])
    # pJ per µs is µW
    assert layer["power_mw"] == pytest.approx(layer["energy_pj"] / layer["time_us"] / 1000)


def test_fc8_runs_when_its_data_is_there(bench):
    _, report, layers = bench
    present = os.path.exists(os.path.join(eie.DATA_DIR, eie.FC8_FILE))
    assert ("FC8 (real)" in layers) == present
    if present:
        fc8 = layers["FC8 (real)"]
        assert (fc8["in"], fc8["out"]) == (4096, 1000)
        assert fc8["weight_density"] == pytest.approx(eie.FC8.weight_density, abs=0.005)
        assert np.isfinite(fc8["energy_pj"])
