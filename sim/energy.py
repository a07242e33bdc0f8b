"""Energy tables: the price of each action the simulator counts, kept in a user-editable JSON file.

The cycle model only counts actions (as Accelergy separates action counts from their prices);
this module loads a table that prices every action in picojoules and turns counts into energy,
per action and per component (memories, arithmetic, queues, control, static). The default table
is ``energy_45nm.json`` (Horowitz's 45 nm figures, as EIE used); ``zeroskip sim --energy FILE``
loads another with the same keys.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

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

    def price(self, counts: dict[str, float]) -> dict[str, float]:
        """Energy in pJ per action for a dict of action counts."""
        return {name: float(counts.get(name, 0)) * self.pj[name] for name in ACTIONS}

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
    pj, component = {}, {}
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
    return EnergyTable(name=str(data.get("name", os.path.basename(path))), pj=pj, component=component)
