"""Compare two ``zeroskip sweep --json`` reports point by point: the rows of the same
(configuration, layer) must be identical except for who computed them (``worker``) and whether
they came from the cache (``cached``). Used to show that a sweep on a Dask cluster and a serial
sweep give the same results (docs/sweep.md).

    python benchmarks/sweep_compare.py CLUSTER.json SERIAL.json [--subset]

Without ``--subset`` both reports must hold the same points; with it, every point of the second
must be in the first. Exit 0 when identical, 1 when a row differs, 2 for an unreadable report.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

#: what may differ between two runs of the same point
RUN_KEYS = ("worker", "cached")


def load_rows(path: str) -> dict[str, dict]:
    """Rows keyed by their point's hash (configuration, layer, seed, energy table, code)."""
    try:
        with open(path) as f:
            rows = json.load(f)["rows"]
        return {row["config_hash"]: {k: v for k, v in row.items() if k not in RUN_KEYS} for row in rows}
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"{path}: not a zeroskip sweep report ({error})", file=sys.stderr)
        sys.exit(2)


def workers(path: str) -> collections.Counter:
    with open(path) as f:
        return collections.Counter(row["worker"] for row in json.load(f)["rows"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--subset", action="store_true", help="the second's points are a subset of the first's")
    args = parser.parse_args(argv)
    first, second = load_rows(args.first), load_rows(args.second)
    missing = sorted(set(second) - set(first))
    extra = [] if args.subset else sorted(set(first) - set(second))
    differ = [key for key in second if key in first and first[key] != second[key]]
    for label, path in (("first", args.first), ("second", args.second)):
        print(f"{label}: {path}: {len(load_rows(path))} rows, computed by "
              + ", ".join(f"{w} ({n})" for w, n in sorted(workers(path).items())))
    print(f"{len(second) - len(missing)} common points; {len(differ)} differ; "
          f"{len(missing)} only in the second; {len(extra)} only in the first")
    for key in differ[:5]:
        print(f"  differs: {first[key]} != {second[key]}")
    identical = not differ and not missing and not extra
    print("identical" if identical else "NOT identical")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
