"""``zeroskip sweep``: a design-space sweep over ArchConfig fields x EIE's benchmark layers, on
a Dask cluster (a local one sized to the machine by default, ``--scheduler`` for an existing
one) or serially (``--serial``); finished points are cached, so an interrupted sweep resumes.

Every numeric ArchConfig field is a ``--FIELD v1,v2`` flag (``--fifo-depth``; the short names
of the other commands, ``--fifo``, too): the flags are made from the dataclass when the parser
is built, so fields added later sweep without a change here. docs/sweep.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import threading
import warnings

from zeroskip.errors import ZeroskipError
from zeroskip.progress import Progress

#: how long a scheduler (and its first worker) may take to answer, by default
DEFAULT_TIMEOUT_S = 10.0
_ADDRESS = re.compile(r"^[a-z][a-z0-9+]*://\S+:\d{1,5}$")


def field_flags() -> dict[str, list[str]]:
    """ArchConfig field -> its flags: ``--field-name`` and any short alias of ``CLI_OVERRIDES``."""
    from zeroskip.hw.arch import CLI_OVERRIDES
    from zeroskip.sim.sweep import sweepable_fields

    flags = {name: [f"--{name.replace('_', '-')}"] for name in sweepable_fields()}
    for flag, name in CLI_OVERRIDES.items():
        if name in flags and flag not in flags[name]:
            flags[name].append(flag)
    return flags


def default_cache() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "zeroskip", "sweep")


def add_arguments(parser) -> None:
    from zeroskip.hw.arch import PRESETS

    parser.add_argument("--arch", default="eie64",
                        help=f"the base configuration: a preset ({', '.join(PRESETS)}) or a JSON file")
    parser.add_argument("--layers", metavar="NAMES",
                        help="comma-separated benchmark layers (default: the nine of Table III; FC8 too)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights and inputs")
    parser.add_argument("--balance", action="store_true", help="compile with row balancing")
    parser.add_argument("--energy", metavar="TABLE", help="energy table (default: Horowitz 45 nm)")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="where alexnet_fc8_eie.npz lives (for --layers FC8)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="an existing Dask scheduler (default: a local cluster)")
    where.add_argument("--serial", action="store_true", help="no Dask: every point in this process")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="local cluster size (default: one single-threaded worker per core)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help="seconds to wait for the scheduler and a first worker")
    parser.add_argument("--cache", metavar="DIR", default=default_cache(),
                        help="where finished points are kept (keyed by a hash of the configuration, "
                             "layer, seed, energy table and the simulator's source)")
    parser.add_argument("--no-cache", action="store_true", help="compute every point, keep nothing")
    parser.add_argument("--json", metavar="FILE", help="write {\"rows\": [...], ...} as JSON")
    parser.add_argument("--plot", metavar="PNG", help="write the Pareto plot (cycles, energy, area)")
    axes = parser.add_argument_group("swept fields", "comma-separated values of any architecture "
                                     "field; the sweep is every combination")
    for name, flags in field_flags().items():
        axes.add_argument(*flags, dest=f"sweep_{name}", metavar="V1,V2", default=None,
                          help=argparse_help(name))


def argparse_help(name: str) -> str:
    return f"values of {name}"


def axes_from_args(args) -> dict[str, list]:
    from zeroskip.sim.sweep import parse_values

    flags = field_flags()
    return {name: parse_values(name, value, flags[name][0]) for name in flags
            if (value := getattr(args, f"sweep_{name}", None)) is not None}


def open_client(args):
    """A Dask client: to ``--scheduler`` (which must answer, with a worker, within
    ``--timeout``), or to a new local cluster. Returns (client, cluster or None)."""
    timeout = args.timeout
    if not timeout > 0 or timeout != timeout:
        raise ZeroskipError(f"--timeout {timeout}: must be a positive number of seconds")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from distributed import Client, LocalCluster

    if args.scheduler:
        if not _ADDRESS.match(args.scheduler):
            raise ZeroskipError(f"--scheduler {args.scheduler!r}: expected an address like "
                                "tcp://HOST:PORT")
        try:
            client = Client(args.scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as error:
            raise ZeroskipError(f"--scheduler {args.scheduler}: no Dask scheduler answered within "
                                f"{timeout:g} s ({type(error).__name__})") from None
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            client.close()
            raise ZeroskipError(f"--scheduler {args.scheduler}: no worker joined within "
                                f"{timeout:g} s") from None
        return client, None
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ZeroskipError(f"--workers {workers}: must be at least 1")
    with warnings.catch_warnings(), _workers_ignore_ctrl_c():
        warnings.simplefilter("ignore")    # "port 8787 in use": its HTTP server takes another
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Worker processes started in here inherit SIGINT ignored (Python and asyncio keep an
    ignored SIGINT ignored): Ctrl-C reaches this process alone, which says "interrupted" in one
    line and closes the cluster, instead of every worker printing a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def format_summary(report: dict) -> str:
    from zeroskip.table import format_table

    swept = report["swept"]
    rows = [[*(c[name] for name in swept), c["cycles"], c["efficiency_geomean"],
             None if c["failed"] else c["energy_pj"] / 1e6, c["area_sram_bits"] / 8 / 1024,
             "*" if c["pareto"] else ("failed: " + ",".join(c["failed"]) if c["failed"] else "")]
            for c in report["configurations"]]
    table = format_table([*swept, "cycles", "effic.", "uJ", "SRAM KiB", "Pareto"], rows,
                         [""] * len(swept) + ["", ".1%", ".2f", ",.0f", ""])
    return (f"{table}\ncycles and energy summed over {len(report['layers'])} layers "
            f"({', '.join(report['layers'])}); effic.: geometric mean; {report['computed']} points "
            f"computed, {report['from_cache']} from the cache; area proxy: on-chip SRAM bits")


def run(args) -> int:
    from zeroskip.files import write_atomic
    from zeroskip.hw.arch import load_arch
    from zeroskip.sim.sweep import resolve_layers, run_sweep

    progress = Progress(getattr(args, "quiet", False))
    base = load_arch(args.arch)
    axes = axes_from_args(args)
    layers = resolve_layers(args.layers)
    from zeroskip.sim.sweep import grid

    grid(base, axes)                                   # every bad combination fails before Dask starts
    client = cluster = None
    if not args.serial:
        client, cluster = open_client(args)
    try:
        report = run_sweep(base, axes, layers, seed=args.seed, balance=args.balance,
                           energy=args.energy, data_dir=args.data,
                           cache_dir=None if args.no_cache else args.cache, client=client,
                           progress=progress)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    print(format_summary(report))
    if args.json:
        write_atomic(args.json, json.dumps(report, indent=1))
    if args.plot:
        from zeroskip.sim.plots import write_pareto_plot

        write_pareto_plot(report, args.plot)
    return 0
