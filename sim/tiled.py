"""Simulating a program tiled over space (``zeroskip.compiler.spatial``, docs/conv.md "Spatial
tiling"): every tile program on its crops and the tail on the stitched map, through the cycle
simulator; per part and in total, the cycles, MACs and energy per input.

The cycles are the array's: each tile runs as a program (its head and tail included), one after
another. Moving the crops in and the tiles' outputs out is the host's, and not counted, as no
program's input load or output read is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.hw.fixedpoint import dequantize
from zeroskip.sim.energy import EnergyTable, energy_table_for
from zeroskip.sim.simulator import SimResult, simulate_int


@dataclass
class TiledSimResult:
    """The whole network's figures (per input: ``cycles``), and each part's ``SimResult``
    (``parts``; a tile program's batch holds every tile of that shape for every input)."""

    tiled: object
    outputs_int: np.ndarray          #: int64 [n, out], array order
    outputs: np.ndarray              #: float32, logical order
    cycles: np.ndarray               #: int64 [n]: every part's cycles, summed
    parts: dict[str, SimResult]
    energy_table: EnergyTable

    @property
    def batch(self) -> int:
        return len(self.cycles)

    @property
    def clock_mhz(self) -> float:
        return float(self.tiled.arch.clock_mhz)

    @property
    def time_us(self) -> np.ndarray:
        return self.cycles / self.clock_mhz

    @property
    def energy_pj(self) -> float:
        return float(sum(r.energy_pj for r in self.parts.values()))

    def per_input(self, values: np.ndarray) -> np.ndarray:
        """A part's figure per run [runs · n] (tile by tile, the batch inside) → per input [n]."""
        return np.asarray(values).reshape(-1, self.batch).sum(axis=0)

    @property
    def ideal_cycles(self) -> np.ndarray:
        """[n] the parts' ideal cycles, summed (the halos' MACs included)."""
        return sum(self.per_input(r.ideal_cycles) for r in self.parts.values())

    @property
    def macs(self) -> int:
        return int(sum(r.actions["mac"] for r in self.parts.values()))

    @property
    def power_mw(self) -> float:
        total_us = float(self.time_us.sum())
        return self.energy_pj / total_us / 1000.0 if total_us else 0.0

    def part_rows(self) -> list[dict]:
        """Per part, per input: runs, cycles, ideal cycles, efficiency, MACs, energy."""
        b, rows = self.batch, []
        for name, r in self.parts.items():
            runs = r.batch // b
            ideal = int(r.ideal_cycles.sum())
            rows.append({"part": name, "runs": runs,
                         "cycles": float(self.per_input(r.cycles).mean()),
                         "ideal_cycles": ideal / b,
                         "efficiency": ideal / max(1, int(r.cycles.sum())),
                         "macs": r.actions["mac"] / b, "energy_pj": r.energy_pj / b,
                         "layers": [layer["name"] for layer in r.summary()["layers"]]})
        return rows

    def layer_rows(self) -> list[dict]:
        """Per layer of the whole network, per input: its figures summed over every part that
        runs it (every tile of every shape, or the tail), as ``SimResult.summary()``'s."""
        names = [layer.name or f"layer{i}" for i, layer in enumerate(self.tiled.layers)]
        keys = ("cycles", "ideal_cycles", "macs", "padding_entries", "window_padding_cycles",
                "broadcast_stall_cycles", "clipped_activations", "energy_pj")
        rows = [dict({key: 0.0 for key in keys}, name=name) for name in names]
        for part, result in self.parts.items():
            first = self.tiled.first_layer(part)
            for offset, layer in enumerate(result.summary()["layers"]):
                for key in keys:
                    rows[first + offset][key] += layer[key] / self.batch
        for row in rows:
            row["efficiency"] = row["ideal_cycles"] / max(row["cycles"], 1e-9)
        return rows

    def summary(self) -> dict:
        b = self.batch
        ideal = int(self.ideal_cycles.sum())
        return {"arch": self.tiled.arch.name, "clock_mhz": self.clock_mhz,
                "energy_table": self.energy_table.name, "batch": b,
                "spatial_tiles": len(self.tiled.tiles),
                "host_words_per_input": self.tiled.host_words(),
                "mean_per_input": {"cycles": float(self.cycles.mean()), "ideal_cycles": ideal / b,
                                   "time_us": float(self.time_us.mean()),
                                   "energy_pj": self.energy_pj / b, "macs": self.macs / b},
                "efficiency": ideal / max(1, int(self.cycles.sum())),
                "power_mw": self.power_mw,
                "per_input": {"cycles": self.cycles.tolist()},
                "parts": self.part_rows(), "layers": self.layer_rows()}


def simulate_tiled(tiled, xq, energy_table: EnergyTable | str | None = None) -> TiledSimResult:
    """Integer inputs [n, in] (the whole input maps) through every part of ``tiled``."""
    table = energy_table if isinstance(energy_table, EnergyTable) else \
        energy_table_for(tiled.arch, energy_table)
    parts: dict[str, SimResult] = {}

    def rung(name, program, inputs):
        result = simulate_int(program, inputs, energy_table=table)
        parts[name] = result
        return result.outputs_int, result.cycles

    outputs, cycles, _ = tiled.run(xq, rung)
    frac = tiled.layers[-1].out_frac
    floats = tiled.logical_output(dequantize(outputs, frac).astype(np.float32))
    return TiledSimResult(tiled, outputs, floats, cycles, parts, table)
