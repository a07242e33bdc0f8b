"""sim/plots.py: what the plots show adds up to what the simulator measured."""

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.sim import simulate
from zeroskip.sim.plots import ENERGY_GROUPS, layer_energy_groups, layer_pe_work, write_plots
from zeroskip.sim.energy import ACTIONS

from test_simulator import random_layer, small


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(4)
    layers = [random_layer(rng, 40, 30, 0.3), random_layer(rng, 30, 10, 0.5, act="none")]
    program = compile_layers(layers, small(pes=4, acc_depth=4))
    x = rng.uniform(0, 1, (5, 40)) * (rng.random((5, 40)) < 0.4)
    return simulate(program, x)


def test_pe_work_covers_each_column_phase(result):
    for layer in range(len(result.layer_names)):
        work = layer_pe_work(result, layer)
        total = sum(work.values())                              # [pes] per input
        passes = result.pass_layer == layer
        phase = (result.pass_column_end[:, passes] + 1).sum() / result.batch
        assert np.allclose(total, phase)
        assert np.allclose(work["MAC"], result.pass_pe_macs[:, passes].sum(axis=(0, 1)) / result.batch)


def test_energy_groups_cover_every_action_once(result):
    grouped = [a for actions in ENERGY_GROUPS.values() for a in actions]
    assert sorted(grouped) == sorted(ACTIONS)
    groups = layer_energy_groups(result)
    assert np.allclose(sum(groups.values()) * result.batch * 1000, result.layer_energy_pj)


def test_three_pngs(result, tmp_path):
    paths = write_plots(result, str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["layers.png", "pe_work.png", "energy.png"]
    for path in paths:
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
