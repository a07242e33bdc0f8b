"""Energy tables: the price of each action the simulator counts, derived from the configuration.

The cycle model only counts actions (as Accelergy separates action counts from their prices);
this module prices every action in picojoules and turns counts into energy, per action and per
component (memories, arithmetic, queues, control, static). ``energy_45nm.json`` is the anchor:
Horowitz's 45 nm figures (as EIE used) for eie64's memories. ``derive_energy_table(arch)`` scales
it to any ``ArchConfig`` by the rules of docs/simulator.md "Energy" (``SCALING_RULES``), so eie64's
derived table is the anchor itself; ``zeroskip sim/bench --energy FILE`` loads a user table with
the same keys instead (``zeroskip energy --template --arch NAME`` writes one to edit).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

from zeroskip.errors import ZeroskipError

#: every action the simulator counts, in report order (the keys of an energy table)
ACTIONS: tuple[str, ...] = (
    "act_read",          # LNZD reads one activation group: one word per PE per group scanned
    "lnzd_select",       # the leading-non-zero tree picks one activation: one per broadcast
    "queue_push",        # a broadcast enters every PE's queue
    "queue_pop",         # a PE takes an item from its queue
    "ptr_read",          # one pointer bank read (two per popped item: even and odd)
    "sparse_line_read",  # one sparse-matrix SRAM line
    "codebook_read",     # one codebook lookup per issued entry (padding too)
    "mac",               # multiply-accumulate of a non-padding entry
    "xnor_popcount",     # binary passes: one line-wide xnor/and + popcount per row per item
    "padding_entry",     # a padding entry issued (costs a cycle, no multiply)
    "acc_read",          # accumulator read: per issued entry, and per requantised row
    "acc_write",         # accumulator write: per issued entry, and per requantised row (clear)
    "bias_read",         # one bias word per requantised row
    "act_write",         # one activation written to the destination bank per requantised row
    "skipped_zero",      # a zero input activation the LNZD skipped
    "idle_cycle",        # a PE cycle with nothing to do in the column phase (clock/leakage)
    "stall_cycle",       # a PE cycle waiting for column bounds (clock/leakage)
    "array_cycle",       # one clock cycle of the whole array (static power x time)
)

#: what an action's energy is reported under
COMPONENTS: tuple[str, ...] = ("memory", "arithmetic", "queue", "control", "static")

DEFAULT_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "energy_45nm.json")


@dataclass(frozen=True)
class EnergyTable:
    """Picojoules per action and the component each action is reported under."""

    name: str
    pj: dict[str, float]
    component: dict[str, str]
    source: dict[str, str] = field(default_factory=dict)   #: action -> where its price comes from

    def price(self, counts: dict[str, float]) -> dict[str, float]:
        """Energy in pJ per action for a dict of action counts."""
        return {name: float(counts.get(name, 0)) * self.pj[name] for name in ACTIONS}

    def to_dict(self, **extra) -> dict:
        """The table as a loadable JSON object (``load_energy_table`` reads it back)."""
        return {"name": self.name, "unit": "pJ per action", **extra,
                "actions": {a: {"pj": self.pj[a], "component": self.component[a],
                                "source": self.source.get(a, "")} for a in ACTIONS}}

    def by_component(self, energy: dict[str, float]) -> dict[str, float]:
        out = {c: 0.0 for c in COMPONENTS}
        for name, value in energy.items():
            out[self.component[name]] += value
        return out


def load_energy_table(path: str | None = None) -> EnergyTable:
    """Read and check an energy table (default: the 45 nm one). Any problem is one line naming
    the file and the key."""
    path = DEFAULT_TABLE if path is None else path
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ZeroskipError(f"{path}: no such energy table") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ZeroskipError(f"{path}: not a readable JSON energy table ({error})") from None
    actions = data.get("actions") if isinstance(data, dict) else None
    if not isinstance(actions, dict):
        raise ZeroskipError(f"{path}: an energy table is a JSON object with an 'actions' object")
    unknown = [name for name in actions if name not in ACTIONS]
    if unknown:
        raise ZeroskipError(f"{path}: unknown action '{unknown[0]}' (known: {', '.join(ACTIONS)})")
    missing = [name for name in ACTIONS if name not in actions]
    if missing:
        raise ZeroskipError(f"{path}: action '{missing[0]}' has no price")
    pj, component, source = {}, {}, {}
    for name in ACTIONS:
        entry = actions[name]
        if not isinstance(entry, dict):
            raise ZeroskipError(f"{path}: action '{name}' must be an object with 'pj' and 'component'")
        value = entry.get("pj")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ZeroskipError(f"{path}: action '{name}' needs a non-negative number 'pj', got {value!r}")
        kind = entry.get("component")
        if kind not in COMPONENTS:
            raise ZeroskipError(f"{path}: action '{name}' has component {kind!r} "
                                f"(one of: {', '.join(COMPONENTS)})")
        pj[name] = float(value)
        component[name] = kind
        source[name] = str(entry.get("source", ""))
    return EnergyTable(name=str(data.get("name", os.path.basename(path))), pj=pj, component=component,
                       source=source)


# -- the table derived from a configuration ------------------------------------------------------
#: the configuration the anchor table (``energy_45nm.json``) prices: EIE's
ANCHOR_ARCH = "eie64"
#: EIE (Han et al., ISCA 2016): one PE draws 9.157 mW at 800 MHz, memory 59 % of it
EIE_PE_POWER_MW = 9.157
EIE_MEMORY_SHARE = 0.59
EIE_CLOCK_MHZ = 800.0
#: the MAC's anchor price in parts (Horowitz 45 nm): a 16x16-bit fixed multiply (3.1 pJ / 5, EIE),
#: the 32-bit accumulate add, and the 8-bit address add (not scaled)
MAC_MULTIPLY_PJ, MAC_ADD_PJ = 0.62, 0.1

SCALING_RULES = (
    "memories and register files: anchor price x (access width / anchor width) x sqrt(memory bits "
    "/ anchor memory bits) (Horowitz's 5 pJ per 32 bits from a 32 KB SRAM, linear in width, sqrt "
    "in size); mac: the 0.62 pJ multiply x act_bits*weight_bits / 256 + the 0.1 pJ add x "
    "acc_bits / 32 + the 0.03 pJ address add; xnor_popcount x line_bits / 64; lnzd_select x pes / "
    "64 x act_bits / 16; array_cycle (static): pes x (1 - 0.59) x 9.157 mW x clock / 800 MHz, "
    "priced per cycle (power / clock), so clock-independent per cycle")


def memory_shapes(arch) -> dict[str, tuple[int, int]]:
    """Per memory action: (access width, memory bits) of the memory it touches, from the
    configuration's fields and derived sizes."""
    queue_bits = arch.act_bits + arch.act_index_bits         # a queued item: value and index
    act = (arch.act_bits, arch.act_depth * arch.act_bits)     # one bank of the activation file
    acc = (arch.acc_bits, arch.acc_depth * arch.acc_bits)
    queue = (queue_bits, arch.fifo_depth * queue_bits)
    return {"act_read": act, "act_write": act, "queue_push": queue, "queue_pop": queue,
            "ptr_read": (arch.ptr_bits, arch.ptr_bank_depth * arch.ptr_bits),
            "sparse_line_read": (arch.line_bits, arch.sparse_depth * arch.line_bits),
            "codebook_read": (arch.weight_bits, arch.codebook_size * arch.weight_bits),
            "acc_read": acc, "acc_write": acc,
            "bias_read": (arch.acc_bits, arch.bias_depth * arch.acc_bits)}


def static_power_mw(arch) -> float:
    """Clock network, registers and logic: EIE's non-memory share of a PE's power, per PE, scaled
    with the clock (they switch every cycle). EIE reports no separate leakage; at 45 nm it is in
    these figures."""
    return arch.pes * (1.0 - EIE_MEMORY_SHARE) * EIE_PE_POWER_MW * arch.clock_mhz / EIE_CLOCK_MHZ


def derive_energy_table(arch, anchor: EnergyTable | None = None) -> EnergyTable:
    """The anchor table scaled to ``arch`` by ``SCALING_RULES``; ``arch`` = eie64 gives the anchor's
    prices unchanged."""
    from zeroskip.hw.arch import PRESETS

    anchor = anchor or load_energy_table()
    base = PRESETS[ANCHOR_ARCH]
    pj, source = dict(anchor.pj), dict(anchor.source)
    shapes, base_shapes = memory_shapes(arch), memory_shapes(base)
    for name, (width, bits) in shapes.items():
        width0, bits0 = base_shapes[name]
        pj[name] = anchor.pj[name] * (width / width0) * math.sqrt(bits / bits0)
        source[name] = (f"{width}-bit access of {_size(bits)}: anchor {anchor.pj[name]:g} pJ "
                        f"({width0}-bit, {_size(bits0)}) x {width}/{width0} x sqrt({bits}/{bits0})")
    multiply = (arch.act_bits * arch.weight_bits) / (base.act_bits * base.weight_bits)
    add = arch.acc_bits / base.acc_bits
    pj["mac"] = anchor.pj["mac"] + MAC_MULTIPLY_PJ * (multiply - 1) + MAC_ADD_PJ * (add - 1)
    source["mac"] = (f"{arch.act_bits}x{arch.weight_bits}-bit multiply {MAC_MULTIPLY_PJ * multiply:.3g} + "
                     f"{arch.acc_bits}-bit add {MAC_ADD_PJ * add:.3g} + 8-bit address add (anchor "
                     f"{anchor.pj['mac']:g} pJ at 16x16, 32 bits)")
    pj["xnor_popcount"] = anchor.pj["xnor_popcount"] * arch.line_bits / base.line_bits
    source["xnor_popcount"] = f"anchor {anchor.pj['xnor_popcount']:g} pJ x {arch.line_bits}/{base.line_bits} line bits"
    pj["lnzd_select"] = (anchor.pj["lnzd_select"] * (arch.pes / base.pes)
                         * (arch.act_bits / base.act_bits))
    source["lnzd_select"] = (f"anchor {anchor.pj['lnzd_select']:g} pJ (64-input tree, 16-bit values) "
                             f"x {arch.pes}/{base.pes} inputs x {arch.act_bits}/{base.act_bits} bits")
    pj["array_cycle"] = anchor.pj["array_cycle"] * (arch.pes / base.pes)
    source["array_cycle"] = (f"static {static_power_mw(arch):.4g} mW at {arch.clock_mhz:g} MHz "
                             f"({arch.pes} PEs x 41 % of EIE's 9.157 mW per PE, x clock/800 MHz) / "
                             f"clock = anchor {anchor.pj['array_cycle']:g} pJ x {arch.pes}/{base.pes}")
    return EnergyTable(name=f"45 nm derived for {arch.name} (anchor: {anchor.name})", pj=pj,
                       component=dict(anchor.component), source=source)


def energy_table_for(arch, path: str | None = None) -> EnergyTable:
    """The table that prices ``arch``: a user table when ``path`` is given, else the derived one."""
    return load_energy_table(path) if path is not None else derive_energy_table(arch)


def _size(bits: int) -> str:
    size = bits / 8
    return f"{size / 1024:g} KB" if size >= 1024 else f"{size:g} B"
