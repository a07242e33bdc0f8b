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
from zeroskip.hw.fixedpoint import binarize, binary_dot, dequantize, requantize, signed_range, wrap
from zeroskip.hw.program import KIND_BINARY, Program
from zeroskip.hw.reference import integer_inputs, quantize_input
from zeroskip.sim.energy import ACTIONS, EnergyTable, load_energy_table
from zeroskip.sim.images import PassImage, program_images
from zeroskip.sim.schedule import PassSchedule, schedule_binary_pass, schedule_pass

#: elements of one dense weight block in the datapath (float64), bounding its memory
_BLOCK_ELEMENTS = 1 << 22


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
    """Float input [in] or [batch, in] → outputs, cycles, actions and energy."""
    xq = quantize_input(program, x)
    result = simulate_int(program, xq, energy_table)
    if np.asarray(x).ndim == 1:
        result.outputs = result.outputs[0]
    return result


def simulate_int(program: Program, xq, energy_table: EnergyTable | str | None = None) -> SimResult:
    """Integer input activations [in] or [batch, in] (at the first layer's scale)."""
    table = energy_table if isinstance(energy_table, EnergyTable) else load_energy_table(energy_table)
    a = program.arch
    xq = integer_inputs(program, xq)
    low, high = signed_range(a.act_bits)
    if xq.size and (xq.min() < low or xq.max() > high):
        raise ZeroskipError(f"integer input outside the {a.act_bits}-bit activation range")
    images = program_images(program)
    batch, n_layers, n_passes = xq.shape[0], len(program.layers), len(images)

    pass_cycles = np.zeros((batch, n_passes), np.int64)
    pass_ideal = np.zeros((batch, n_passes), np.int64)
    pe_busy = np.zeros((batch, a.pes), np.int64)
    pe_macs = np.zeros((batch, a.pes), np.int64)
    pe_stall = np.zeros((batch, a.pes), np.int64)
    pe_idle = np.zeros((batch, a.pes), np.int64)
    stalls = np.zeros((batch, n_layers), np.int64)
    column_end = np.zeros((batch, n_passes), np.int64)
    pass_busy = np.zeros((batch, n_passes, a.pes), np.int64)
    pass_macs = np.zeros((batch, n_passes, a.pes), np.int64)
    layer_actions = [{name: 0 for name in ACTIONS} for _ in range(n_layers)]

    acts = xq
    for li, layer in enumerate(program.layers):
        out = np.zeros((batch, layer.out_len), np.int64)
        for image in (im for im in images if im.layer == li):
            source = np.zeros((batch, image.in_len), np.int64)
            width = min(image.in_len, acts.shape[1])
            source[:, :width] = acts[:, :width]
            if image.kind == KIND_BINARY:
                sched, reads = _binary_schedule(a, image, batch)
                macs = np.broadcast_to(image.valid_rows * sched.nonzeros[:1, None], (batch, a.pes))
                _count_binary_actions(layer_actions[li], image, sched, reads, a.pes, batch)
            else:
                active = source != 0
                sched = schedule_pass(active, image.counts, a.fifo_depth)
                macs = _per_pe(active, image.macs)                          # [batch, pes]
                _count_actions(layer_actions[li], image, active, sched, macs, a.pes)
            pass_cycles[:, image.index] = (sched.column_end + timing.MAC_DRAIN + image.rows
                                           + timing.REQUANT_TAIL)
            pass_ideal[:, image.index] = macs.max(axis=1)
            column_end[:, image.index] = sched.column_end
            pass_busy[:, image.index] = sched.pe_busy
            pass_macs[:, image.index] = macs
            pe_busy += sched.pe_busy
            pe_macs += macs
            pe_stall += sched.pe_stall
            pe_idle += sched.pe_idle
            stalls[:, li] += sched.broadcast_stalls

            values = (_binary_datapath(program, image, source) if image.kind == KIND_BINARY
                      else _datapath(program, image, source))
            end = min(layer.out_len, image.out_start + values.shape[1])
            out[:, image.out_start:end] = values[:, :end - image.out_start]
        acts = out

    layer_of_pass = np.array([im.layer for im in images], dtype=np.int64)
    layer_cycles = np.stack([pass_cycles[:, layer_of_pass == li].sum(axis=1)
                             for li in range(n_layers)], axis=1)
    layer_ideal = np.stack([pass_ideal[:, layer_of_pass == li].sum(axis=1)
                            for li in range(n_layers)], axis=1)
    cycles = timing.PROGRAM_HEAD + pass_cycles.sum(axis=1) + timing.PROGRAM_TAIL
    last = program.layers[-1]
    outputs = program.logical_output(dequantize(acts, last.out_frac).astype(np.float32))
    names = program.meta.get("layer_names") if isinstance(program.meta, dict) else None
    if not (isinstance(names, list) and len(names) == n_layers):
        names = [f"layer{i}" for i in range(n_layers)]
    return SimResult(
        arch_name=a.name, clock_mhz=float(a.clock_mhz), layer_names=[str(n) for n in names],
        outputs=outputs, outputs_int=acts, cycles=cycles,
        layer_cycles=layer_cycles, pass_cycles=pass_cycles, ideal_cycles=layer_ideal.sum(axis=1),
        layer_ideal_cycles=layer_ideal, pass_ideal_cycles=pass_ideal, pe_busy=pe_busy,
        pe_macs=pe_macs, pe_stall=pe_stall, pe_idle=pe_idle, broadcast_stalls=stalls,
        pass_layer=layer_of_pass, pass_rows=np.array([im.rows for im in images], np.int64),
        pass_column_end=column_end, pass_pe_busy=pass_busy, pass_pe_macs=pass_macs,
        layer_actions=layer_actions, energy_table=table,
        layer_energy=[table.price(counts) for counts in layer_actions])


def _per_pe(active: np.ndarray, per_column: np.ndarray) -> np.ndarray:
    """[batch, pes] sums of a per-column figure over each sample's non-zero columns (exact:
    float64 holds these integer sums)."""
    return np.rint(active.astype(np.float64) @ per_column.T.astype(np.float64)).astype(np.int64)


def _count_actions(into: dict, image: PassImage, active: np.ndarray, sched, macs, pes: int) -> None:
    """Add one pass's action counts (summed over the batch) to a layer's."""
    batch = active.shape[0]
    k = int(sched.nonzeros.sum())
    entries = int(sched.pe_busy.sum())
    mac = int(macs.sum())
    rows = image.rows * pes * batch                          # the sweep runs in every PE
    groups = -(-image.in_len // pes)
    column_lines = image.lines.sum(axis=0)
    into["act_read"] += groups * pes * batch
    into["lnzd_select"] += k
    into["queue_push"] += k * pes
    into["queue_pop"] += k * pes
    into["ptr_read"] += 2 * k * pes
    into["sparse_line_read"] += int(np.rint(active.astype(np.float64) @ column_lines).sum())
    into["codebook_read"] += entries
    into["mac"] += mac
    into["padding_entry"] += entries - mac
    into["acc_read"] += entries + rows
    into["acc_write"] += entries + rows
    into["bias_read"] += rows
    into["act_write"] += rows
    into["skipped_zero"] += image.in_len * batch - k
    into["idle_cycle"] += int(sched.pe_idle.sum())
    into["stall_cycle"] += int(sched.pe_stall.sum())


def _datapath(program: Program, image: PassImage, source: np.ndarray) -> np.ndarray:
    """One pass's requantised outputs [batch, rows · pes] (accumulator-slot order = array order).

    Products are summed exactly (float64 holds them when the widths allow, else int64), then
    wrapped to ``acc_bits`` — the same value a wrapping accumulator reaches in any order."""
    a = program.arch
    batch = source.shape[0]
    slots = image.rows * a.pes
    values = program.codebook[image.layer][image.code]
    used = np.flatnonzero(source.any(axis=0))                 # columns some sample broadcasts
    position = np.full(image.in_len, -1, np.int64)
    position[used] = np.arange(len(used))
    where = position[image.column]
    keep = where >= 0
    where, target, values = where[keep], image.target[keep], values[keep]
    exact_bits = (a.act_bits - 1) + (a.weight_bits - 1) + max(1, int(image.in_len).bit_length())
    dtype = np.float64 if exact_bits <= 52 else np.int64
    acc = np.zeros((batch, slots), dtype)
    width = max(1, _BLOCK_ELEMENTS // max(1, slots))
    for first in range(0, len(used), width):
        lo, hi = np.searchsorted(where, [first, first + width])
        block = np.zeros((slots, min(width, len(used) - first)), dtype)
        block[target[lo:hi], where[lo:hi] - first] = values[lo:hi]
        acc += source[:, used[first:first + width]].astype(dtype) @ block.T
    acc = wrap(np.rint(acc).astype(np.int64) if dtype is np.float64 else acc, a.acc_bits)
    return requantize(acc, image.bias[None, :], image.shift, image.relu, a.acc_bits, a.act_bits)


def _binary_schedule(a, image: PassImage, batch: int) -> tuple[PassSchedule, int]:
    """A binary pass's timing (the same for every input), repeated over the batch."""
    one, reads = schedule_binary_pass(image.in_len, a.pes, a.line_bits, image.planes, image.rows,
                                      a.fifo_depth)
    tile = lambda v: np.repeat(v, batch, axis=0)                      # noqa: E731
    return PassSchedule(column_end=tile(one.column_end), broadcast_done=tile(one.broadcast_done),
                        broadcast_stalls=tile(one.broadcast_stalls), nonzeros=tile(one.nonzeros),
                        pe_busy=tile(one.pe_busy), pe_stall=tile(one.pe_stall),
                        pe_idle=tile(one.pe_idle)), reads


def _count_binary_actions(into: dict, image: PassImage, sched, reads: int, pes: int, batch: int) -> None:
    """docs/binary-mode.md: per item N pushes and pops; per row per item a line read, an
    xnor/popcount and an accumulator read and write; the sweep as in sparse passes."""
    items = int(sched.nonzeros[0])
    swept = image.rows * pes * batch
    row_items = image.rows * items * pes * batch
    into["act_read"] += reads * pes * batch
    into["queue_push"] += items * pes * batch
    into["queue_pop"] += items * pes * batch
    into["sparse_line_read"] += row_items
    into["xnor_popcount"] += row_items
    into["acc_read"] += row_items + swept
    into["acc_write"] += row_items + swept
    into["bias_read"] += swept
    into["act_write"] += swept
    into["idle_cycle"] += int(sched.pe_idle.sum())
    into["stall_cycle"] += int(sched.pe_stall.sum())


def _binary_datapath(program: Program, image: PassImage, source: np.ndarray) -> np.ndarray:
    """One binary pass's outputs [batch, rows · pes]: the integer dot of the input bits with the
    weight bits, wrapped to ``acc_bits``, then thresholded or requantised (docs/binary-mode.md)."""
    a = program.arch
    dot = wrap(binary_dot(source, image.weights.astype(np.int64), image.planes), a.acc_bits)
    if image.binarize:
        return binarize(dot, image.bias[None, :], image.shift)
    return requantize(dot, image.bias[None, :], image.shift, False, a.acc_bits, a.act_bits)
