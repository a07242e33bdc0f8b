"""EIE's Table III layers (and the real AlexNet FC8) on the simulated eie64, next to EIE's times.

Runs ``zeroskip bench eie`` (``zeroskip.sim.cli_bench.run_suite``) and prints its table plus
where each layer's cycles go (``zeroskip.sim.eie.cycle_breakdown``). ``--variants`` also runs
the suite with row balancing and with deeper queues, to measure what those costs are worth.

    .venv/bin/python benchmarks/eie_table.py [--variants] [--json]
"""

from __future__ import annotations

import argparse
import json

from zeroskip.progress import Progress
from zeroskip.hw.arch import PRESETS, with_overrides
from zeroskip.sim.cli_bench import format_report, run_suite


def breakdown_table(report: dict) -> str:
    head = (f"{'layer':<11}{'cycles':>8}{'balanced':>9}{'imbal.':>8}{'padding':>8}{'bubbles':>8}"
            f"{'sweep':>7}{'bc.stall':>9}{'no-pad us':>10}{'EIE act.':>9}")
    lines = [head, "-" * len(head)]
    for r in report["layers"]:
        b = r["breakdown_cycles"]
        no_padding_us = (r["cycles"] - b["padding"]) / report["arch"]["clock_mhz"]
        lines.append(f"{r['name']:<11}{r['cycles']:>8}{b['balanced']:>9.0f}{b['imbalance']:>8.0f}"
                     f"{b['padding']:>8.0f}{b['bubbles']:>8.0f}{b['sweep']:>7.0f}{b['broadcast_stalls']:>9}"
                     f"{no_padding_us:>10.2f}{r['eie_actual_us']:>9.1f}")
    lines.append("balanced = mean MACs per PE; imbal. = busiest PE's MACs - mean; padding = busiest PE's "
                 "padding entries; bubbles = column phase - busiest PE's entries; sweep = drain + "
                 "requantisation + program head/tail; bc.stall = cycles the LNZD waited for a full queue "
                 "(overlaps the others)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", action="store_true", help="also run --balance and --fifo 16 / 32")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()
    progress = Progress(args.quiet)
    runs = {"default": run_suite(progress=progress)}
    if args.variants:
        runs["balance"] = run_suite(balance=True, progress=progress)
        runs["fifo16"] = run_suite(with_overrides(PRESETS["eie64"], fifo_depth=16), progress=progress)
        runs["fifo32"] = run_suite(with_overrides(PRESETS["eie64"], fifo_depth=32), progress=progress)
    if args.json:
        print(json.dumps(runs, indent=1))
        return
    print(format_report(runs["default"]))
    print()
    print(breakdown_table(runs["default"]))
    if args.variants:
        print()
        names = [r["name"] for r in runs["default"]["layers"]]
        head = f"{'layer':<11}" + "".join(f"{k:>10}" for k in runs) + f"{'EIE act.':>10}"
        print("time in us per variant")
        print(head)
        print("-" * len(head))
        for i, name in enumerate(names):
            print(f"{name:<11}" + "".join(f"{runs[k]['layers'][i]['time_us']:>10.2f}" for k in runs)
                  + f"{runs['default']['layers'][i]['eie_actual_us']:>10.1f}")


if __name__ == "__main__":
    main()
