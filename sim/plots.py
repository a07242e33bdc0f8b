"""PNG plots of a simulation (matplotlib, Agg backend), every figure per input (the mean over the
batch), with labelled axes and units:

- ``layers.png``: per layer, cycles next to the MAC-ideal (the busiest PE's work), and the
  efficiency (ideal / cycles);
- ``pe_work.png``: per PE, for the layer that takes the most cycles: MACs, padding entries,
  stalls (waiting for column bounds) and idle cycles of its column phases;
- ``energy.png``: per layer, energy by action (sparse-line reads, pointer reads, codebook, MACs,
  accumulator, activations, LNZD and queues, leakage), as priced by the energy table.
"""

from __future__ import annotations

import os

import numpy as np

#: what ``energy.png`` stacks: a label per group of the simulator's actions
ENERGY_GROUPS: dict[str, tuple[str, ...]] = {
    "sparse-line read": ("sparse_line_read",),
    "pointer read": ("ptr_read",),
    "codebook": ("codebook_read",),
    "MAC / xnor-popcount": ("mac", "xnor_popcount", "padding_entry"),
    "accumulator + bias": ("acc_read", "acc_write", "bias_read"),
    "activation read/write": ("act_read", "act_write"),
    "LNZD + queues": ("lnzd_select", "queue_push", "queue_pop", "skipped_zero"),
    "static (clock, logic, leakage)": ("idle_cycle", "stall_cycle", "array_cycle"),
}


def layer_pe_work(result, layer: int) -> dict[str, np.ndarray]:
    """Per PE, one layer's column-phase cycles per input: MAC, padding, stall, idle."""
    passes = result.pass_layer == layer
    batch = result.batch
    macs = result.pass_pe_macs[:, passes].sum(axis=(0, 1)) / batch
    busy = result.pass_pe_busy[:, passes].sum(axis=(0, 1)) / batch
    return {"MAC": macs, "padding entry": busy - macs,
            "stall (column bounds)": result.pass_pe_stall[:, passes].sum(axis=(0, 1)) / batch,
            "idle": result.pass_pe_idle[:, passes].sum(axis=(0, 1)) / batch}


def layer_energy_groups(result) -> dict[str, np.ndarray]:
    """nJ per input, per layer, for every group of ``ENERGY_GROUPS``."""
    return {label: np.array([sum(layer.get(a, 0.0) for a in actions) for layer in result.layer_energy])
            / result.batch / 1000 for label, actions in ENERGY_GROUPS.items()}


def write_plots(result, directory: str) -> list[str]:
    """Write ``layers.png``, ``pe_work.png`` and ``energy.png`` into ``directory``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    paths = []
    names = result.layer_names
    x = np.arange(len(names))
    batch = result.batch

    # -- per layer: cycles against the ideal, and the efficiency
    cycles = result.layer_cycles.sum(axis=0) / batch
    ideal = result.layer_ideal_cycles.sum(axis=0) / batch
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8.5, 1.2 * len(names) + 5), 6.0),
                                      sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    top.bar(x - 0.2, cycles, width=0.4, label="cycles")
    top.bar(x + 0.2, ideal, width=0.4, label="MAC-ideal (busiest PE's work)")
    top.set_ylabel("cycles per input")
    top.set_title(f"Per layer on {result.arch_name}: {result.cycles.mean():.0f} cycles = "
                  f"{result.time_us.mean():.2f} µs per input at {result.clock_mhz:g} MHz",
                  fontsize="medium")
    top.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    efficiency = ideal / np.maximum(cycles, 1)
    bottom.bar(x, 100 * efficiency, width=0.5, color="tab:green")
    for xi, value in zip(x, efficiency):
        bottom.text(xi, 100 * value + 2, f"{value:.0%}", ha="center", fontsize="small")
    bottom.set_ylim(0, 115)
    bottom.set_ylabel("efficiency (%)")
    bottom.set_xticks(x, names)
    bottom.set_xlabel("layer")
    fig.tight_layout()
    paths.append(_save(fig, plt, directory, "layers.png"))

    # -- per PE, the slowest layer
    slowest = int(np.argmax(cycles))
    work = layer_pe_work(result, slowest)
    pes = np.arange(len(next(iter(work.values()))))
    fig, ax = plt.subplots(figsize=(max(8.5, len(pes) * 0.18 + 4), 4.0))
    stack = np.zeros(len(pes))
    for label, values in work.items():
        ax.bar(pes, values, bottom=stack, label=label, width=0.8)
        stack += values
    ax.set_xlabel("PE")
    ax.set_ylabel("column-phase cycles per input")
    ax.set_title(f"Per PE, layer {names[slowest]} (the slowest): efficiency "
                 f"{efficiency[slowest]:.0%}")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    paths.append(_save(fig, plt, directory, "pe_work.png"))

    # -- energy by action, per layer
    groups = {k: v for k, v in layer_energy_groups(result).items() if v.sum() > 0}
    fig, ax = plt.subplots(figsize=(max(8.5, 1.2 * len(names) + 5), 4.5))
    stack = np.zeros(len(names))
    for label, values in groups.items():
        ax.bar(x, values, bottom=stack, label=label, width=0.6)
        stack += values
    ax.set_xticks(x, names)
    ax.set_xlabel("layer")
    ax.set_ylabel("energy per input (nJ)")
    ax.set_title(f"Energy by action: {stack.sum():.1f} nJ per input\n"
                 f"priced by {result.energy_table.name}", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    paths.append(_save(fig, plt, directory, "energy.png"))
    return paths


def _save(fig, plt, directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_pareto_plot(report: dict, path: str) -> str:
    """``zeroskip sweep --plot``: one point per configuration, cycles (summed over the sweep's
    layers) against energy, coloured by the area proxy (on-chip SRAM bits); the configurations
    on the Pareto front of all three are ringed, and the cycles-energy front is a line. Written
    atomically (PNG)."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zeroskip.files import write_atomic

    configs = [c for c in report["configurations"] if not c["failed"]]
    cycles = np.array([c["cycles"] for c in configs], dtype=float)
    energy = np.array([c["energy_pj"] for c in configs], dtype=float) / 1e6
    area = np.array([c["area_sram_bits"] for c in configs], dtype=float) / 8 / 2**20
    front = np.array([c["pareto"] for c in configs], dtype=bool)
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    dots = ax.scatter(cycles, energy, c=area, cmap="viridis", s=22, zorder=2)
    ax.scatter(cycles[front], energy[front], s=90, facecolors="none", edgecolors="tab:red",
               linewidths=1.2, zorder=3, label="Pareto front (cycles, energy, area)")
    order = np.lexsort((energy, cycles))             # the 2-D front: each point beats all faster ones
    best, line = np.inf, []
    for i in order:
        if energy[i] < best:
            best = energy[i]
            line.append(i)
    ax.step(cycles[line], energy[line], where="post", color="tab:red", alpha=0.5, zorder=1,
            label="cycles-energy front")
    fig.colorbar(dots, ax=ax, label="area proxy: on-chip SRAM (MiB)")
    ax.set_xlabel(f"cycles, summed over {len(report['layers'])} layers")
    ax.set_ylabel("energy, summed over the layers (µJ)")
    swept = ", ".join(report["swept"]) or "no field"
    failed = len(report["configurations"]) - len(configs)
    ax.set_title(f"{len(configs)} configurations ({swept} swept on {report['base']['name']}), "
                 f"{len(configs) * len(report['layers'])} points"
                 + (f"; {failed} left out (a layer did not compile)" if failed else ""),
                 fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path
