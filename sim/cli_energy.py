"""``zeroskip energy``: the table that prices the simulator's actions for one configuration.

Without ``--energy`` the table is derived from the architecture (``--arch`` and the override flags;
default eie64, whose derived table is the 45 nm anchor itself). ``--template`` prints it as an
editable JSON file (every action with its price, component and the source of the figure);
``zeroskip sim --energy FILE`` and ``bench --energy FILE`` load the edited copy instead of the
derived table. ``--energy FILE`` shows (and checks) a user table."""

from __future__ import annotations

import json


def add_arguments(parser) -> None:
    from zeroskip.hw.arch import add_arch_arguments

    parser.add_argument("--template", action="store_true",
                        help="print the table as JSON, to redirect into a file and edit")
    parser.add_argument("--energy", metavar="TABLE", default=None,
                        help="show this user table instead of the one derived from the architecture")
    add_arch_arguments(parser, default="eie64")


def run(args) -> int:
    from zeroskip.hw.arch import arch_from_args
    from zeroskip.sim.energy import ACTIONS, SCALING_RULES, derive_energy_table, load_energy_table, \
        static_power_mw
    from zeroskip.table import format_table

    if args.energy:
        table = load_energy_table(args.energy)           # checks it, whichever is shown
        extra, heading = {}, f"{table.name} ({args.energy})"
    else:
        arch = arch_from_args(args)
        table = derive_energy_table(arch)
        extra = {"arch": arch.name, "clock_mhz": arch.clock_mhz,
                 "static_power_mw": round(static_power_mw(arch), 6), "model": SCALING_RULES}
        heading = (f"{table.name}\nstatic power {static_power_mw(arch):.2f} mW at "
                   f"{arch.clock_mhz:g} MHz ({arch.pes} PEs), priced per array cycle")
    if args.template:
        if args.energy:
            with open(args.energy) as f:
                print(json.dumps(json.load(f), indent=1, ensure_ascii=False))
        else:
            print(json.dumps(table.to_dict(**extra), indent=1, ensure_ascii=False))
        return 0
    print(heading)
    print(format_table(["action", "pJ", "component", "source"],
                       [[name, table.pj[name], table.component[name], table.source.get(name, "")]
                        for name in ACTIONS], ["", ".4f", "", ""], align="<><<"))
    return 0
