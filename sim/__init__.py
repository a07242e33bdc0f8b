"""The cycle-accurate simulator of the array (docs/timing.md), with action counts and energy.

``simulate(program, x)`` / ``simulate_int(program, xq)`` → ``SimResult``; energy tables load with
``load_energy_table`` (default: Horowitz 45 nm, ``energy_45nm.json``).
"""

from zeroskip.sim.energy import ACTIONS, EnergyTable, load_energy_table
from zeroskip.sim.simulator import SimResult, simulate, simulate_int

__all__ = ["simulate", "simulate_int", "SimResult", "load_energy_table", "EnergyTable", "ACTIONS"]
