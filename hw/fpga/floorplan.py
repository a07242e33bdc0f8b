"""A floorplan for the ECP5-85F: each PE's block RAMs fixed side by side in one block-RAM row.

Left to itself, nextpnr's placer scattered every PE's eight block RAMs over the whole die
(16 PEs: PE 0's from column 17 to 107 and row 22 to 70), and the PE's logic with them, so a
net inside one PE was routed 3–4 ns (docs/fpga.md, "A floorplan"). The flow fixes each PE's
block RAMs (``BEL`` attributes in Yosys's netlist, which nextpnr places first) to neighbouring
sites: the PEs are spread evenly over the block-RAM rows, and over each row's width, so each
PE's logic gathers round its own RAMs. The rest of the design is placed freely.

The grid is the device's (``EBR_GRID``, checked against nextpnr's chip database in
tests/hw/fpga/test_floorplan.py); a device without an entry, or a design whose RAMs do not fit
one row per PE, gets no floorplan, and the report says why.
"""

from __future__ import annotations

import json
import os
import re

#: per device, the block-RAM rows (tile Y) and each row's groups of four sites (first tile X;
#: site ``EBRk`` at X + 2k), as nextpnr-ecp5 names them (``X13/Y22/EBR1``)
EBR_GRID = {
    "85k": {"rows": (22, 46, 70, 82),
            "groups": (4, 13, 22, 31, 40, 49, 58, 69, 78, 87, 96, 105, 114)},
}

#: a PE's cells: Yosys names them after the PE's instance (``pe3.acc.0.0``)
PE_CELL = re.compile(r"(?:^|\.)pe(\d+)\.")

#: the block RAM cell nextpnr-ecp5 places on an EBR site
BRAM_CELL = "DP16KD"


def grid(device: str) -> dict | None:
    """The block-RAM grid of an ECP5 device (``85k``, ``um5g-85k``: the same die), or None."""
    return EBR_GRID.get(device.rsplit("-", 1)[-1])


def row_sites(device: str) -> list[list[str]]:
    """Each block-RAM row's sites, left to right."""
    layout = grid(device)
    return [[f"X{x + 2 * k}/Y{y}/EBR{k}" for x in layout["groups"] for k in range(4)]
            for y in layout["rows"]]


def assign(device: str, rams: dict[int, list[str]]) -> dict[str, str]:
    """Cell -> site for each PE's block RAMs (``rams``: PE index -> its RAM cells).

    PEs are dealt to the rows in turn (PE i to row i mod R) and, within a row, each takes the
    run of consecutive sites nearest the centre of its share of the row's width."""
    rows = row_sites(device)
    per_row: list[list[int]] = [[] for _ in rows]
    for n, pe in enumerate(sorted(rams)):
        per_row[n % len(rows)].append(pe)
    placed = {}
    for sites, pes in zip(rows, per_row):
        need = sum(len(rams[pe]) for pe in pes)
        if need > len(sites):
            raise ValueError(f"{need} block RAMs for a row of {len(sites)} sites")
        free = 0                                  # the first site not yet taken in this row
        for j, pe in enumerate(pes):
            cells = sorted(rams[pe])
            later = sum(len(rams[p]) for p in pes[j + 1:])
            centre = (j + 0.5) * len(sites) / len(pes)
            start = round(centre - len(cells) / 2)
            start = max(free, min(start, len(sites) - later - len(cells)))
            placed.update(zip(cells, sites[start:start + len(cells)]))
            free = start + len(cells)
    return placed


def pe_rams(netlist: dict) -> dict[int, list[str]]:
    """PE index -> the names of its block RAM cells in a Yosys JSON netlist."""
    rams: dict[int, list[str]] = {}
    for module in netlist["modules"].values():
        for name, cell in module["cells"].items():
            found = PE_CELL.search(name)
            if cell["type"] == BRAM_CELL and found:
                rams.setdefault(int(found.group(1)), []).append(name)
    return rams


def apply(path: str, device: str) -> dict:
    """Fix the PEs' block RAMs in the netlist at ``path`` (rewritten through a temporary file).
    Returns the report's ``floorplan``: the sites (cell -> site), or none and the reason."""
    if grid(device) is None:
        return {"sites": {}, "none": f"no block-RAM grid for the {device}"}
    with open(path) as f:
        netlist = json.load(f)
    rams = pe_rams(netlist)
    if not rams:
        return {"sites": {}, "none": "the design has no PE block RAMs"}
    try:
        placed = assign(device, rams)
    except ValueError as error:
        return {"sites": {}, "none": str(error)}
    for module in netlist["modules"].values():
        for name, cell in module["cells"].items():
            if name in placed:
                cell["attributes"]["BEL"] = placed[name]
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(netlist, f)
    os.replace(temporary, path)
    return {"sites": placed, "pes": len(rams)}


def line(plan: dict) -> str:
    """The flow's progress line for a floorplan."""
    if not plan["sites"]:
        return f"floorplan: none ({plan['none']})"
    return f"floorplan: {len(plan['sites'])} block RAMs of {plan['pes']} PEs fixed by PE"
