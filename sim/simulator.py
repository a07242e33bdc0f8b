"""The cycle-accurate simulator: outputs, cycles (docs/timing.md), action counts and energy.

``simulate(program, x)`` runs a batch of inputs through a compiled program. The arithmetic is the
array's datapath (codebook value × activation summed into ``acc_bits`` accumulators, then the
requantisation sweep), computed from the decoded images a pass at a time; it equals
``zeroskip.hw.reference.predict_int`` bit for bit. The cycle count follows docs/timing.md
exactly (``zeroskip.sim.schedule``) and is what the RTL's cycle counter reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw import timing
from zeroskip.hw.fixedpoint import dequantize, signed_range
from zeroskip.hw.program import Program
from zeroskip.hw.reference import ActivationBanks, bank_length, integer_inputs, quantize_input
from zeroskip.sim.energy import ACTIONS, EnergyTable, energy_table_for
from zeroskip.sim.kinds import SIM_KINDS


@dataclass
class SimResult:
    """Everything one simulation measured. Arrays have a leading batch axis; action counts and
    energies are totals over the batch (divide by ``batch`` for a mean per input)."""

    arch_name: str
    clock_mhz: float
    layer_names: list[str]
    outputs: np.ndarray             #: float32, logical order, the batch shape of x
    outputs_int: np.ndarray         #: int64 [batch, out], array order
    cycles: np.ndarray              #: int64 [batch] what the RTL's cycle counter reads
    layer_cycles: np.ndarray        #: int64 [batch, layers]
    pass_cycles: np.ndarray         #: int64 [batch, passes]
    ideal_cycles: np.ndarray        #: int64 [batch]
    layer_ideal_cycles: np.ndarray  #: int64 [batch, layers]
    pass_ideal_cycles: np.ndarray   #: int64 [batch, passes]
    pe_busy: np.ndarray             #: int64 [batch, pes] entries issued (padding included)
    pe_macs: np.ndarray             #: int64 [batch, pes] non-padding entries
    pe_stall: np.ndarray            #: int64 [batch, pes] column-phase cycles waiting for bounds
    pe_idle: np.ndarray             #: int64 [batch, pes] column-phase cycles with nothing to do
    broadcast_stalls: np.ndarray    #: int64 [batch, layers] cycles the LNZD waited for a full queue
    pass_layer: np.ndarray          #: int64 [passes] the layer each pass belongs to
    pass_rows: np.ndarray           #: int64 [passes] R, rows the pass's sweep requantises
    pass_column_end: np.ndarray     #: int64 [batch, passes] C − T: the column phase's last cycle
    pass_pe_busy: np.ndarray        #: int64 [batch, passes, pes] entries issued per PE and pass
    pass_pe_macs: np.ndarray        #: int64 [batch, passes, pes] non-padding entries per PE and pass
    layer_actions: list[dict[str, int]]   #: per layer, action -> count (batch total)
    energy_table: EnergyTable
    layer_energy: list[dict[str, float]] = field(default_factory=list)  #: per layer, action -> pJ
    #: int64 [batch, layers] outputs that saturated at act_bits (the rest of the layer is exact)
    layer_clipped: np.ndarray | None = None
    pass_pe_stall: np.ndarray | None = None  #: int64 [batch, passes, pes] stall cycles per PE and pass
    pass_pe_idle: np.ndarray | None = None   #: int64 [batch, passes, pes] idle cycles per PE and pass
    #: int64 [batch, layers] cycles conv windows spent on kernel positions in the padding
    layer_padding: np.ndarray | None = None

    # -- derived figures ---------------------------------------------------------------------
    @property
    def batch(self) -> int:
        return int(self.cycles.shape[0])

    @property
    def efficiency(self) -> np.ndarray:
        """[batch] ideal / actual cycles."""
        return self.ideal_cycles / self.cycles

    @property
    def layer_efficiency(self) -> np.ndarray:
        return self.layer_ideal_cycles / np.maximum(self.layer_cycles, 1)

    @property
    def time_us(self) -> np.ndarray:
        """[batch] time per input at the configured clock."""
        return self.cycles / self.clock_mhz

    @property
    def actions(self) -> dict[str, int]:
        """Action -> count over all layers and the whole batch."""
        return {name: sum(layer[name] for layer in self.layer_actions) for name in ACTIONS}

    @property
    def action_energy_pj(self) -> dict[str, float]:
        return {name: sum(layer[name] for layer in self.layer_energy) for name in ACTIONS}

    @property
    def layer_energy_pj(self) -> np.ndarray:
        """[layers] pJ per layer (batch total)."""
        return np.array([sum(layer.values()) for layer in self.layer_energy])

    @property
    def energy_pj(self) -> float:
        """Total pJ over the batch."""
        return float(self.layer_energy_pj.sum())

    @property
    def component_energy_pj(self) -> dict[str, float]:
        return self.energy_table.by_component(self.action_energy_pj)

    @property
    def layer_component_energy_pj(self) -> list[dict[str, float]]:
        return [self.energy_table.by_component(layer) for layer in self.layer_energy]

    @property
    def power_mw(self) -> float:
        """Average power while running the batch back to back at the clock."""
        total_us = float(self.time_us.sum())
        return self.energy_pj / total_us / 1000.0 if total_us else 0.0

    # -- reports ---------------------------------------------------------------------------
    def summary(self) -> dict:
        """A JSON-ready report. Totals are over the batch; ``mean_per_input`` and
        ``per_input`` give the per-input figures."""
        b = self.batch
        layers = []
        for i, name in enumerate(self.layer_names):
            actions = self.layer_actions[i]
            layers.append({
                "name": name,
                "cycles": int(self.layer_cycles[:, i].sum()),
                "ideal_cycles": int(self.layer_ideal_cycles[:, i].sum()),
                "efficiency": float(self.layer_ideal_cycles[:, i].sum()
                                    / max(1, self.layer_cycles[:, i].sum())),
                "macs": int(actions["mac"]),
                "padding_entries": int(actions["padding_entry"]),
                "broadcast_stall_cycles": int(self.broadcast_stalls[:, i].sum()),
                "window_padding_cycles": int(self.layer_padding[:, i].sum())
                if self.layer_padding is not None else 0,
                "clipped_activations": int(self.layer_clipped[:, i].sum()),
                "energy_pj": float(self.layer_energy_pj[i]),
                "energy_by_component_pj": self.layer_component_energy_pj[i],
                "actions": {k: int(v) for k, v in actions.items()},
            })
        total_us = float(self.time_us.sum())
        return {
            "arch": self.arch_name, "clock_mhz": self.clock_mhz, "energy_table": self.energy_table.name,
            "batch": b, "totals_are": "sums over the batch",
            "cycles": int(self.cycles.sum()),
            "ideal_cycles": int(self.ideal_cycles.sum()),
            "efficiency": float(self.ideal_cycles.sum() / self.cycles.sum()),
            "time_us": total_us,
            "energy_pj": self.energy_pj,
            "power_mw": self.power_mw,
            "energy_by_component_pj": self.component_energy_pj,
            "energy_by_action_pj": self.action_energy_pj,
            "actions": {k: int(v) for k, v in self.actions.items()},
            "mean_per_input": {
                "cycles": float(self.cycles.mean()), "ideal_cycles": float(self.ideal_cycles.mean()),
                "time_us": total_us / b, "energy_pj": self.energy_pj / b,
            },
            "per_input": {"cycles": self.cycles.tolist(), "ideal_cycles": self.ideal_cycles.tolist()},
            "pes": {"busy": self.pe_busy.sum(0).tolist(), "macs": self.pe_macs.sum(0).tolist(),
                    "stall": self.pe_stall.sum(0).tolist(), "idle": self.pe_idle.sum(0).tolist()},
            "layers": layers,
        }

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=1)


def simulate(program: Program, x, energy_table: EnergyTable | str | None = None) -> SimResult:
    """Float input [in] or [batch, in] → outputs, cycles, actions and energy. ``energy_table``: a
    table, a user table's path, or None for the table derived from ``program.arch``."""
    xq = quantize_input(program, x)
    result = simulate_int(program, xq, energy_table)
    if np.asarray(x).ndim == 1:
        result.outputs = result.outputs[0]
    return result


def simulate_int(program: Program, xq, energy_table: EnergyTable | str | None = None) -> SimResult:
    """Integer input activations [in] or [batch, in] (at the first layer's scale)."""
    a = program.arch
    # a user table (path) or the table derived from the program's configuration
    table = energy_table if isinstance(energy_table, EnergyTable) else energy_table_for(a, energy_table)
    xq = integer_inputs(program, xq)
    low, high = signed_range(a.act_bits)
    if xq.size and (xq.min() < low or xq.max() > high):
        raise ZeroskipError(f"integer input outside the {a.act_bits}-bit activation range")
    images = program.decoded.passes
    batch, n_layers, n_passes = xq.shape[0], len(program.layers), len(images)

    pass_cycles = np.zeros((batch, n_passes), np.int64)
    pass_ideal = np.zeros((batch, n_passes), np.int64)
    pe_busy = np.zeros((batch, a.pes), np.int64)
    pe_macs = np.zeros((batch, a.pes), np.int64)
    pe_stall = np.zeros((batch, a.pes), np.int64)
    pe_idle = np.zeros((batch, a.pes), np.int64)
    stalls = np.zeros((batch, n_layers), np.int64)
    clipped = np.zeros((batch, n_layers), np.int64)
    padding = np.zeros((batch, n_layers), np.int64)
    column_end = np.zeros((batch, n_passes), np.int64)
    pass_busy = np.zeros((batch, n_passes, a.pes), np.int64)
    pass_stall = np.zeros((batch, n_passes, a.pes), np.int64)
    pass_idle = np.zeros((batch, n_passes, a.pes), np.int64)
    pass_macs = np.zeros((batch, n_passes, a.pes), np.int64)
    layer_actions = [{name: 0 for name in ACTIONS} for _ in range(n_layers)]

    banks = ActivationBanks(xq, bank_length(program))
    for li, layer in enumerate(program.layers):
        source = banks.source(li, layer.in_len)
        out = banks.target(li, layer.out_len)           # what the passes do not write stays
        for image in (im for im in images if im.layer == li):
            kind = SIM_KINDS[image.kind]
            ran = kind.run(a, image, source, layer_actions[li])
            sched, macs = ran.schedule, ran.macs
            pass_cycles[:, image.index] = ran.cycles
            pass_ideal[:, image.index] = ran.ideal
            if ran.padding is not None:
                padding[:, li] += ran.padding
            column_end[:, image.index] = sched.column_end
            pass_busy[:, image.index] = sched.pe_busy
            pass_stall[:, image.index] = sched.pe_stall
            pass_idle[:, image.index] = sched.pe_idle
            pass_macs[:, image.index] = macs
            pe_busy += sched.pe_busy
            pe_macs += macs
            pe_stall += sched.pe_stall
            pe_idle += sched.pe_idle
            stalls[:, li] += sched.broadcast_stalls

            values, saturated = kind.datapath(program, image, source)
            clipped[:, li] += saturated
            kind.place(out, image, values)
        banks.write(li, out)
    acts = out

    layer_of_pass = np.array([im.layer for im in images], dtype=np.int64)
    layer_cycles = np.stack([pass_cycles[:, layer_of_pass == li].sum(axis=1)
                             for li in range(n_layers)], axis=1)
    layer_ideal = np.stack([pass_ideal[:, layer_of_pass == li].sum(axis=1)
                            for li in range(n_layers)], axis=1)
    cycles = timing.PROGRAM_HEAD + pass_cycles.sum(axis=1) + timing.PROGRAM_TAIL
    # static power x time: every cycle of the array, the program's head and tail with its first
    # and last layer, so the array cycles add up to ``cycles``
    for li in range(n_layers):
        layer_actions[li]["array_cycle"] = int(layer_cycles[:, li].sum())
    layer_actions[0]["array_cycle"] += batch * timing.PROGRAM_HEAD
    layer_actions[-1]["array_cycle"] += batch * timing.PROGRAM_TAIL
    last = program.layers[-1]
    outputs = program.logical_output(dequantize(acts, last.out_frac).astype(np.float32))
    names = [layer.name or f"layer{i}" for i, layer in enumerate(program.layers)]
    return SimResult(
        arch_name=a.name, clock_mhz=float(a.clock_mhz), layer_names=[str(n) for n in names],
        outputs=outputs, outputs_int=acts, cycles=cycles,
        layer_cycles=layer_cycles, pass_cycles=pass_cycles, ideal_cycles=layer_ideal.sum(axis=1),
        layer_ideal_cycles=layer_ideal, pass_ideal_cycles=pass_ideal, pe_busy=pe_busy,
        pe_macs=pe_macs, pe_stall=pe_stall, pe_idle=pe_idle, broadcast_stalls=stalls,
        pass_layer=layer_of_pass, pass_rows=np.array([im.rows for im in images], np.int64),
        pass_column_end=column_end, pass_pe_busy=pass_busy, pass_pe_macs=pass_macs,
        layer_actions=layer_actions, energy_table=table,
        layer_energy=[table.price(counts) for counts in layer_actions], layer_clipped=clipped,
        pass_pe_stall=pass_stall, pass_pe_idle=pass_idle, layer_padding=padding)
