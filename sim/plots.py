"""PNG plots of a simulation (matplotlib, Agg backend): per-PE work and the energy breakdown."""

from __future__ import annotations

import os

import numpy as np


def write_plots(result, directory: str) -> list[str]:
    """Write ``pe_work.png`` and ``energy.png`` into ``directory``; return their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    paths = []

    macs = result.pe_macs.sum(axis=0)
    padding = result.pe_busy.sum(axis=0) - macs
    stall = result.pe_stall.sum(axis=0)
    idle = result.pe_idle.sum(axis=0)
    pes = np.arange(len(macs))
    fig, ax = plt.subplots(figsize=(max(6.0, len(pes) * 0.15), 4.0))
    bottom = np.zeros(len(pes))
    for values, label in ((macs, "MAC"), (padding, "padding entry"), (stall, "stall (bounds)"),
                          (idle, "idle")):
        ax.bar(pes, values, bottom=bottom, label=label, width=0.8)
        bottom += values
    ax.set_xlabel("PE")
    ax.set_ylabel("column-phase cycles (batch total)")
    ax.set_title(f"Per-PE work: {result.arch_name}, efficiency {result.ideal_cycles.sum() / result.cycles.sum():.1%}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = os.path.join(directory, "pe_work.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.0))
    components = result.component_energy_pj
    names = [k for k, v in components.items() if v > 0]
    left.bar(names, [components[k] / 1000 for k in names])
    left.set_ylabel("energy (nJ, batch total)")
    left.set_title("by component")
    per_layer = result.layer_component_energy_pj
    x = np.arange(len(per_layer))
    bottom = np.zeros(len(per_layer))
    for name in names:
        values = np.array([layer[name] / 1000 for layer in per_layer])
        right.bar(x, values, bottom=bottom, label=name)
        bottom += values
    right.set_xticks(x, result.layer_names, rotation=30, ha="right")
    right.set_title("by layer")
    right.legend(fontsize="small")
    fig.suptitle(f"Energy ({result.energy_table.name})", fontsize="medium")
    fig.tight_layout()
    path = os.path.join(directory, "energy.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
    return paths
