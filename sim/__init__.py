"""The cycle-accurate simulator of the array (docs/timing.md), with action counts and energy.

``simulate(program, x)`` / ``simulate_int(program, xq)`` → ``SimResult``; energy tables load with
``load_energy_table`` (a user table; default: the 45 nm anchor, ``energy_45nm.json``) and
``derive_energy_table(arch)`` (the default: the anchor scaled to the configuration).
"""

from zeroskip.sim.energy import ACTIONS, EnergyTable, derive_energy_table, load_energy_table
from zeroskip.sim.simulator import SimResult, simulate, simulate_int

__all__ = ["simulate", "simulate_int", "SimResult", "load_energy_table", "derive_energy_table", "EnergyTable",
           "ACTIONS"]
