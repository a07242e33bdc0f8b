"""zs64 on EIE's benchmark layers (issue 14): the same work as eie64 in fewer cycles, and the
goal figures computed from a report."""

import math

import pytest

from zeroskip.sim import eie
from zeroskip.sim.cli_bench import run_suite
from zeroskip.progress import Progress

LAYERS = ["VGG-7", "NT-We"]     # the most padding, the most empty columns


@pytest.fixture(scope="module")
def reports():
    quiet = Progress(False)
    return {arch: {r["name"]: r for r in run_suite(arch, layers=LAYERS, progress=quiet)["layers"]}
            for arch in ("eie64", "zs64")}


@pytest.mark.parametrize("name", LAYERS)
def test_same_work_fewer_cycles(reports, name):
    eie64, zs64 = reports["eie64"][name], reports["zs64"][name]
    assert zs64["ideal_cycles"] == eie64["ideal_cycles"]
    assert zs64["actions"]["mac"] == eie64["actions"]["mac"]
    assert zs64["cycles"] < eie64["cycles"]
    # every part of the breakdown still adds up to the cycle count
    parts = zs64["breakdown_cycles"]
    assert sum(parts[k] for k in ("balanced", "imbalance", "padding", "bubbles", "sweep")) == \
        pytest.approx(zs64["cycles"])


def test_padding_and_bubbles_are_what_shrinks(reports):
    vgg = reports["eie64"]["VGG-7"]["breakdown_cycles"], reports["zs64"]["VGG-7"]["breakdown_cycles"]
    assert vgg[1]["padding"] < vgg[0]["padding"] / 2
    we = reports["eie64"]["NT-We"]["breakdown_cycles"], reports["zs64"]["NT-We"]["breakdown_cycles"]
    assert we[1]["bubbles"] < we[0]["bubbles"] / 2


def test_goal_figures():
    rows = [{"name": "Alex-6", "cycles": 20000, "efficiency": 0.9, "vs_eie_actual": 0.8},
            {"name": "VGG-8", "cycles": 6800, "efficiency": 0.8, "vs_eie_actual": 1.01},
            {"name": "FC8 (real)", "cycles": 7700, "efficiency": 0.99, "vs_eie_actual": 0.97}]
    g = eie.goal_figures({"layers": rows})
    assert g["geomean_efficiency"] == pytest.approx(math.sqrt(0.9 * 0.8))
    assert (g["faster_than_eie_actual"], g["table_layers"], g["fc8_cycles"]) == (1, 2, 7700)
    expected = (20000 / 23069 * 6800 / 6663 * 7700 / 7926) ** (1 / 3)
    assert g["geomean_vs_authors_simulator"] == pytest.approx(expected)
    assert g["authors_layers"] == 3
