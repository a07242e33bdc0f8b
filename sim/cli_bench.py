"""``zeroskip bench eie``: EIE's Table III layers (plus the real AlexNet FC8) compiled onto eie64
and simulated, next to EIE's published times. ``zeroskip bench seednets``: the survey's small
networks trained (or taken from a cache), dense and Deep-Compressed, on the array
(``zeroskip.sim.seednets``, docs/seednets.md)."""

from __future__ import annotations

import argparse
import json

from zeroskip.errors import ZeroskipError
from zeroskip.progress import Progress

SUITES = ("eie", "seednets")


def add_arguments(parser) -> None:
    from zeroskip.hw.arch import add_arch_arguments

    parser.add_argument("suite", choices=SUITES, help="benchmark suite")
    parser.add_argument("--balance", action="store_true", help="compile with row balancing")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--layers", metavar="NAMES",
                        help="eie: comma-separated subset of layers (default: all, e.g. Alex-7,FC8)")
    parser.add_argument("--seed", type=int, default=0,
                        help="eie: seed of the synthetic weights and inputs; seednets: of the "
                             "training and the data split")
    parser.add_argument("--networks", metavar="NAMES",
                        help="seednets: comma-separated rows (default: "
                             "lenet5,lenet5-dc,squeezenet,squeezenet-dc,mobilenet,"
                             "mobilenet-standard,shufflenet,mobilenet-distilled)")
    parser.add_argument("--cache", metavar="DIR", default=".cache/seednets",
                        help="seednets: trained rows, reused when their configuration matches")
    parser.add_argument("--rtl", metavar="N", type=int, default=2,
                        help="seednets: held-out images co-verified on Verilator per network "
                             "(0: none)")
    parser.add_argument("--images", metavar="N", type=int, default=1000,
                        help="seednets: held-out images through the cycle simulator")
    parser.add_argument("--fit", action="store_true",
                        help="seednets: a network too big for an array runs on it with its "
                             "memories doubled until it fits (the row names them; the RTL is "
                             "built for that configuration) instead of recording the error")
    parser.add_argument("--plot", metavar="FILE",
                        help="seednets: a PNG of accuracy against MACs, bytes and energy")
    parser.add_argument("--row-passes", action="store_true",
                        help="seednets: compile depthwise convs as row passes (docs/conv.md)")
    # seednets, for tests and quick looks: every training phase's epochs times this (>= 1 each)
    parser.add_argument("--epochs-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="where alexnet_fc8_eie.npz lives (default: the repository's ../shared/data)")
    parser.add_argument("--energy", metavar="TABLE",
                        help="energy table (default: derived from the architecture, "
                             "zeroskip energy --arch NAME)")
    add_arch_arguments(parser, default="eie64")
    parser.epilog = ("--arch and the overrides (--pes, --fifo, --run-bits, --line-bits, ...) are "
                     "those of every command; EIE's configuration is the eie64 preset. seednets runs on "
                     "its own two arrays (small with 16 PEs, eie64; docs/seednets.md) and takes "
                     "neither, but the timing switches (--bounds-lookahead, --padding-merge, "
                     "--registered-broadcast, --lane-passes, --sweep-overlap) set on both")


def run_suite(arch="eie64", balance: bool = False, layers: list[str] | None = None,
              seed: int = 0, data_dir: str | None = None, energy: str | None = None,
              progress=None) -> dict:
    """Compile and simulate every selected layer on ``arch`` (a preset name, JSON file or
    ``ArchConfig``); returns the JSON-ready report."""
    from zeroskip.hw.arch import load_arch
    from zeroskip.sim import simulate
    from zeroskip.sim import eie
    from zeroskip.sim.energy import energy_table_for

    progress = progress or Progress(True)
    arch = load_arch(arch)
    table = energy_table_for(arch, energy)   # checked up front; named in the report
    specs = list(eie.TABLE_III) + [eie.FC8]
    if layers:
        wanted = {name.strip().lower() for name in layers}
        specs = [s for s in specs if s.name.lower() in wanted or s.name.split()[0].lower() in wanted]
        known = {s.name.lower() for s in list(eie.TABLE_III) + [eie.FC8]} | {"fc8"}
        unknown = sorted(wanted - known)
        if unknown:
            raise ZeroskipError(f"--layers: unknown layer '{unknown[0]}'")
    notes, rows = [], []
    for spec in specs:
        if spec is eie.FC8:
            loaded = eie.load_fc8(data_dir or eie.DATA_DIR)
            if loaded is None:
                notes.append(f"{spec.name}: {eie.FC8_FILE} not found in {data_dir or eie.DATA_DIR}; skipped")
                continue
            layer, x = loaded
        else:
            layer, x = eie.synthetic_layer(spec, seed + eie.TABLE_III.index(spec))
        progress(f"{spec.name}: compiling {spec.in_len} x {spec.out_len}")
        program, changes = eie.compile_fitting(layer, arch, x, balance=balance)
        if changes:
            notes.append(f"{spec.name}: exceeds {arch.name}'s memories; overridden "
                         + ", ".join(f"{k} {getattr(arch, k)} -> {v}" for k, v in changes.items()))
        progress(f"{spec.name}: simulating")
        # a user table prices every layer; else the layer's own configuration (overrides included)
        result = simulate(program, x, energy_table=table if energy else None)
        actions = result.actions
        entries = actions["mac"] + actions["padding_entry"]
        rows.append({
            "name": spec.name, "in": spec.in_len, "out": spec.out_len,
            "weight_density": float((layer.codes != 0).mean()), "act_density": float((x != 0).mean()),
            "passes": len(program.passes),
            "cycles": int(result.cycles[0]), "ideal_cycles": int(result.ideal_cycles[0]),
            "efficiency": float(result.efficiency[0]), "time_us": float(result.time_us[0]),
            "eie_theoretical_us": spec.eie_theoretical_us, "eie_actual_us": spec.eie_actual_us,
            "vs_eie_actual": float(result.time_us[0] / spec.eie_actual_us),
            "energy_pj": result.energy_pj, "energy_by_component_pj": result.component_energy_pj,
            "power_mw": result.power_mw,
            # EIE's energy for the layer: its reported power x its actual time (W x us = uJ)
            "eie_energy_pj": eie.EIE_POWER_W * spec.eie_actual_us * 1e6,
            "energy_vs_eie": result.energy_pj / (eie.EIE_POWER_W * spec.eie_actual_us * 1e6),
            "padding_fraction": actions["padding_entry"] / max(1, entries),
            "breakdown_cycles": eie.cycle_breakdown(result, arch.mac_drain),
            "overrides": changes, "actions": {k: int(v) for k, v in actions.items()},
        })
    return {"suite": "eie", "arch": arch.to_dict(), "balance": balance, "seed": seed,
            "energy_table": table.name, "layers": rows, "notes": notes}


def format_report(report: dict) -> str:
    from zeroskip.hw.arch import PIPELINE_SWITCHES, TIMING_SWITCHES
    from zeroskip.table import format_table

    rows = [[r["name"], f"{r['in']}x{r['out']}", r["ideal_cycles"], r["cycles"], r["time_us"],
             r["eie_theoretical_us"], r["eie_actual_us"], r["vs_eie_actual"], r["efficiency"],
             r["padding_fraction"], r["energy_pj"] / 1e6, r["energy_vs_eie"]] for r in report["layers"]]
    lines = [format_table(["layer", "size", "ideal", "cycles", "us", "EIE th.", "EIE act.",
                           "vs act.", "effic.", "pad %", "uJ", "vs EIE uJ"], rows,
                          ["", "", "", "", ".2f", ".1f", ".1f", ".2f", ".1%", ".1%", ".2f", ".2f"])]
    arch = report["arch"]
    lines.append(f"{arch['pes']} PEs, queue {arch['fifo_depth']}, {arch['clock_mhz']:g} MHz, "
                 f"{arch['run_bits']}-bit runs, {arch['line_bits']}-bit lines"
                 + "".join(f", {name.replace('_', ' ')}" for name in TIMING_SWITCHES + PIPELINE_SWITCHES
                           if arch.get(name))
                 + f"{', row-balanced' if report['balance'] else ''}; synthetic layers: uniformly random "
                 f"weights and activations at the paper's densities (seed {report['seed']}); energy priced "
                 f"by {report['energy_table']}; vs EIE uJ = energy / (EIE's 0.59 W x its actual time)")
    lines.extend(f"note: {n}" for n in report["notes"])
    return "\n".join(lines)


def run(args) -> int:
    from zeroskip.files import write_atomic

    progress = Progress(getattr(args, "quiet", False))
    if args.suite == "seednets":
        return run_seednets(args, progress)
    from zeroskip.hw.arch import arch_from_args

    report = run_suite(arch_from_args(args), balance=args.balance,
                       layers=args.layers.split(",") if args.layers else None, seed=args.seed,
                       data_dir=args.data, energy=args.energy, progress=progress)
    print(format_report(report))
    if args.json:
        write_atomic(args.json, lambda f: f.write(json.dumps(report, indent=1).encode()))
    return 0


def run_seednets(args, progress) -> int:
    """``bench seednets``: exit 1 when an image differs on Verilator, 0 otherwise."""
    from zeroskip.files import check_output, write_atomic
    from zeroskip.hw.arch import PIPELINE_SWITCHES, TIMING_SWITCHES
    from zeroskip.sim import seednets

    if args.plot is not None:
        check_output(args.plot, "--plot", "file", inputs=[args.json])
    check_output(args.cache, "--cache", "dir")
    networks = [n for n in args.networks.split(",")] if args.networks is not None else None
    switches = {name: getattr(args, f"arch_{name}") for name in TIMING_SWITCHES + PIPELINE_SWITCHES
                if getattr(args, f"arch_{name}", None) is not None}
    report = seednets.run_suite(networks, cache=args.cache, rtl=args.rtl, images=args.images,
                                epochs_scale=args.epochs_scale, seed=args.seed,
                                fit=args.fit, energy=args.energy, progress=progress,
                                switches=switches, row_passes=args.row_passes)
    print(seednets.format_report(report))
    if args.json:
        write_atomic(args.json, json.dumps(report, indent=1))
    if args.plot:
        seednets.write_plot(report, args.plot)
    return 1 if any(row["rtl_failed"] for row in report["networks"]) else 0
