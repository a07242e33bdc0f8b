"""zs64 against eie64 on EIE's Table III, one improvement at a time (issue 14).

Runs ``zeroskip bench eie`` (``run_suite``) on eie64, then with each timing improvement of
docs/timing.md switched on in turn, then with queues of 16 (= the zs64 preset); prints each
step's cycles per layer, issue 14's goal figures (``zeroskip.sim.eie.goal_figures``) and zs64's
cycle breakdown.

    .venv/bin/python benchmarks/zs64_steps.py [--json FILE]      (run from outside the repository)
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from zeroskip.hw.arch import PRESETS
from zeroskip.progress import Progress
from zeroskip.sim.cli_bench import format_report, run_suite
from zeroskip.sim.eie import AUTHORS_SIMULATOR_CYCLES, goal_figures

EIE64 = PRESETS["eie64"]
STEPS = {
    "eie64": EIE64,
    "+bounds_lookahead": dataclasses.replace(EIE64, name="eie64+look", bounds_lookahead=1),
    "+padding_merge": dataclasses.replace(EIE64, name="eie64+look+merge", bounds_lookahead=1,
                                          padding_merge=1),
    "+fifo 16 = zs64": PRESETS["zs64"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write every step's report")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()
    progress = Progress(args.quiet)
    reports = {step: run_suite(arch, progress=progress) for step, arch in STEPS.items()}
    names = [r["name"] for r in reports["eie64"]["layers"]]
    head = f"{'layer':<11}" + "".join(f"{k:>18}" for k in STEPS) + f"{'authors sim':>12}{'EIE act. cyc':>13}"
    print("cycles per step")
    print(head)
    print("-" * len(head))
    for i, name in enumerate(names):
        row = reports["eie64"]["layers"][i]
        print(f"{name:<11}" + "".join(f"{reports[k]['layers'][i]['cycles']:>18}" for k in STEPS)
              + f"{AUTHORS_SIMULATOR_CYCLES.get(name, float('nan')):>12}"
              + f"{row['eie_actual_us'] * EIE64.clock_mhz:>13.0f}")
    print()
    print(f"{'step':<18}{'geo-mean eff.':>14}{'faster than EIE':>16}{'FC8 cycles':>11}{'geo vs authors':>15}")
    for step, report in reports.items():
        g = goal_figures(report)
        print(f"{step:<18}{g['geomean_efficiency']:>14.3f}{g['faster_than_eie_actual']:>12}/{g['table_layers']}"
              f"{g['fc8_cycles'] or 0:>14}{g['geomean_vs_authors_simulator']:>15.3f}")
    print("goal (issue 14): geo-mean efficiency >= 0.92, 9/9 faster, FC8 <= 7800, geo vs authors <= 0.9")
    print()
    print(format_report(reports["+fifo 16 = zs64"]))
    print()
    from eie_table import breakdown_table
    print(breakdown_table(reports["+fifo 16 = zs64"]))
    if args.json:
        from zeroskip.files import write_atomic
        write_atomic(args.json, lambda f: f.write(json.dumps(reports, indent=1).encode()))


if __name__ == "__main__":
    main()
