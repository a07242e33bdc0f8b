"""``zeroskip energy``: the table that prices the simulator's actions. ``--template`` prints the
default table as an editable JSON file (every action with its price, component and the source of
the figure); ``zeroskip sim --energy FILE`` and ``bench --energy FILE`` load the edited copy.
Without it, the table is printed for reading (``--energy FILE`` shows another one)."""

from __future__ import annotations

import json


def add_arguments(parser) -> None:
    parser.add_argument("--template", action="store_true",
                        help="print the default table as JSON, to redirect into a file and edit")
    parser.add_argument("--energy", metavar="TABLE", default=None,
                        help="the table to show (default: Horowitz 45 nm)")


def run(args) -> int:
    from zeroskip.sim.energy import ACTIONS, DEFAULT_TABLE, load_energy_table
    from zeroskip.table import format_table

    path = args.energy or DEFAULT_TABLE
    table = load_energy_table(path)                  # checks it, whichever is shown
    with open(path) as f:
        data = json.load(f)
    if args.template:
        print(json.dumps(data, indent=1, ensure_ascii=False))
        return 0
    print(f"{table.name} ({path})")
    sources = {name: entry.get("source", "") for name, entry in data["actions"].items()}
    print(format_table(["action", "pJ", "component", "source"],
                       [[name, table.pj[name], table.component[name], sources[name]]
                        for name in ACTIONS], ["", ".3f", "", ""], align="<><<"))
    return 0
