"""Design-space sweeps: every combination of some ArchConfig fields x EIE's benchmark layers,
each point compiled and simulated exactly as ``zeroskip bench eie`` does (it calls the same
``run_suite``), serially or on a Dask cluster, with every finished point cached on disk.

- Any ArchConfig field is an axis (``sweepable_fields`` reads the dataclass), so fields added
  later sweep without a change here.
- A point's cache key hashes what decides its result: the full configuration, the layer, the
  seed, the balancing switch, the energy table's bytes and the source of the simulator, the
  compiler and the contract (``code_fingerprint``). An interrupted sweep resumes from the cache;
  a code change makes every old entry a miss instead of a stale answer.
- Area is a proxy computed from the configuration alone (``sram_bits``): the bits of every
  on-chip memory and queue of the array. No synthesis result is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
from pathlib import Path

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import FIELDS, ArchConfig

#: the ``worker`` of a row computed in this process, without Dask
SERIAL_WORKER = "serial"
#: what a row holds besides the swept fields, in order
ROW_KEYS = ("layer", "cycles", "efficiency", "energy_pj", "time_us", "area_sram_bits",
            "overrides", "worker", "config_hash")
#: how the area proxy is defined (written into every report)
AREA_PROXY = ("area_sram_bits: on-chip storage bits of the whole array, from the configuration: "
              "pes x (sparse_depth x line_bits + ptr_depth x ptr_bits + 2 x act_depth x act_bits "
              "+ acc_depth x acc_bits + bias_depth x acc_bits + fifo_depth x (act_bits + "
              "act_index_bits)) + max_layers x codebook_size x weight_bits")
#: bump when a row's meaning changes (part of every cache key)
CACHE_FORMAT = 1
#: the packages whose source decides a point's cycles and energy (their .py and .json files)
_FINGERPRINT_PACKAGES = ("zeroskip.sim", "zeroskip.compiler", "zeroskip.hw")


# -- axes -------------------------------------------------------------------------------------
def sweepable_fields() -> dict[str, type]:
    """Every numeric ArchConfig field and its Python type (``name`` is a label, not an axis)."""
    defaults = ArchConfig()
    return {name: type(getattr(defaults, name)) for name in FIELDS
            if isinstance(getattr(defaults, name), (int, float))
            and not isinstance(getattr(defaults, name), bool)}


def parse_values(field: str, text: str, flag: str | None = None) -> list:
    """``"16,64"`` -> ``[16, 64]`` in the field's type; one line naming the flag when bad."""
    flag = flag or f"--{field.replace('_', '-')}"
    kinds = sweepable_fields()
    if field not in kinds:
        raise ZeroskipError(f"{flag}: unknown architecture field '{field}'")
    items = [item.strip() for item in str(text).split(",")]
    if not items or any(not item for item in items):
        raise ZeroskipError(f"{flag} {text!r}: expected comma-separated values, e.g. 4,8")
    values = []
    for item in items:
        try:
            value = kinds[field](item)
        except ValueError:
            raise ZeroskipError(f"{flag}: {item!r} is not {'an integer' if kinds[field] is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ZeroskipError(f"{flag}: {item!r} is not a finite number")
        if value not in values:
            values.append(value)
    return values


def grid(base: ArchConfig, axes: dict[str, list]) -> list[ArchConfig]:
    """Every combination of the axes' values on top of ``base`` (the last axis varies fastest).
    An invalid combination is one line naming it, before any work."""
    configs = []
    names = list(axes)
    for combination in itertools.product(*(axes[name] for name in names)):
        changes = dict(zip(names, combination))
        try:
            configs.append(dataclasses.replace(base, **changes))
        except ZeroskipError as error:
            point = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in changes.items())
            raise ZeroskipError(f"sweep point {point}: {error}") from None
    return configs


def sram_bits(arch: ArchConfig) -> int:
    """The area proxy (``AREA_PROXY``): storage bits of the array's memories and queues."""
    per_pe = (arch.sparse_depth * arch.line_bits + arch.ptr_depth * arch.ptr_bits
              + 2 * arch.act_depth * arch.act_bits + arch.acc_depth * arch.acc_bits
              + arch.bias_depth * arch.acc_bits
              + arch.fifo_depth * (arch.act_bits + arch.act_index_bits))
    return arch.pes * per_pe + arch.max_layers * arch.codebook_size * arch.weight_bits


def resolve_layers(text: str | None) -> list[str]:
    """``--layers`` -> the benchmark's layer names (default: the nine of Table III)."""
    from zeroskip.sim import eie

    if text is None:
        return [spec.name for spec in eie.TABLE_III]
    known = {spec.name.lower(): spec.name for spec in eie.TABLE_III}
    known.update({"fc8": eie.FC8.name, eie.FC8.name.lower(): eie.FC8.name})
    names = []
    for item in str(text).split(","):
        name = known.get(item.strip().lower())
        if name is None:
            raise ZeroskipError(f"--layers: unknown layer {item.strip()!r} (known: "
                                f"{', '.join(s.name for s in eie.TABLE_III)}, FC8)")
        if name not in names:
            names.append(name)
    return names


# -- cache keys -------------------------------------------------------------------------------
_code_fingerprint: str | None = None


def code_fingerprint() -> str:
    """SHA-256 over the source files of the simulator, compiler and contract packages."""
    global _code_fingerprint
    if _code_fingerprint is None:
        import importlib

        digest = hashlib.sha256()
        for package in _FINGERPRINT_PACKAGES:
            root = Path(importlib.import_module(package).__file__).parent
            for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json")
                               and "__pycache__" not in p.parts):
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
        _code_fingerprint = digest.hexdigest()
    return _code_fingerprint


def energy_fingerprint(energy: str | None) -> str:
    from zeroskip.sim.energy import DEFAULT_TABLE, load_energy_table

    path = DEFAULT_TABLE if energy is None else energy
    load_energy_table(path)                              # a bad table fails here, one line
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One configuration x one layer: everything a worker needs to compute its row."""

    arch: dict
    layer: str
    seed: int = 0
    balance: bool = False
    energy: str | None = None
    data_dir: str | None = None

    def key(self, energy_hash: str) -> str:
        what = {"format": CACHE_FORMAT, "arch": self.arch, "layer": self.layer, "seed": self.seed,
                "balance": self.balance, "energy": energy_hash, "code": code_fingerprint(),
                "fc8": self._fc8_hash()}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]

    def _fc8_hash(self) -> str | None:
        """The real FC8 layer's file decides its row: hash it (other layers are synthetic)."""
        if not self.layer.lower().startswith("fc8"):
            return None
        from zeroskip.sim import eie

        path = os.path.join(self.data_dir or eie.DATA_DIR, eie.FC8_FILE)
        try:
            with open(path, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return "absent"


def current_worker() -> str:
    """The Dask worker running this task (its address), or ``serial`` outside Dask."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return SERIAL_WORKER


def compute_point(point: SweepPoint) -> dict:
    """Compile and simulate one point with ``zeroskip bench eie``'s own ``run_suite``."""
    from threadpoolctl import threadpool_limits

    from zeroskip.hw.arch import from_dict
    from zeroskip.sim.cli_bench import run_suite

    arch = from_dict(point.arch)
    try:
        with threadpool_limits(1):
            report = run_suite(arch, balance=point.balance, layers=[point.layer], seed=point.seed,
                               data_dir=point.data_dir, energy=point.energy)
        if not report["layers"]:
            raise ZeroskipError("; ".join(report["notes"]) or "no such layer")
    except ZeroskipError as error:       # this point does not compile: a row that says why
        return {"layer": point.layer, "cycles": None, "efficiency": None, "energy_pj": None,
                "time_us": None, "overrides": {}, "error": str(error).splitlines()[0],
                "worker": current_worker()}
    (layer,) = report["layers"]
    return {"layer": layer["name"], "cycles": layer["cycles"], "efficiency": layer["efficiency"],
            "energy_pj": layer["energy_pj"], "time_us": layer["time_us"],
            "overrides": layer["overrides"], "worker": current_worker()}


# -- the cache --------------------------------------------------------------------------------
class SweepCache:
    """One JSON file per finished point, named by its key, written atomically; an unreadable
    entry is a miss (recomputed), never an error."""

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = Path(directory) if directory is not None else None

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.directory is None:
            return None
        try:
            row = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        return row if isinstance(row, dict) and "cycles" in row else None

    def put(self, key: str, row: dict) -> None:
        if self.directory is not None:
            from zeroskip.files import write_atomic

            write_atomic(self.path(key), json.dumps(row, sort_keys=True))


# -- running a sweep --------------------------------------------------------------------------
def _run_serial(points, on_done) -> None:
    for index, point in points:
        on_done(index, compute_point(point))


def _run_dask(client, points, on_done) -> None:
    from distributed import as_completed

    futures = {client.submit(compute_point, point, key=f"zeroskip-sweep-{key}", pure=False): index
               for index, (point, key) in points}
    try:
        for future in as_completed(futures):
            on_done(futures[future], future.result())
    finally:
        client.cancel(list(futures))


def run_sweep(base: ArchConfig, axes: dict[str, list], layers: list[str], seed: int = 0,
              balance: bool = False, energy: str | None = None, data_dir: str | None = None,
              cache_dir: str | None = None, client=None, progress=None) -> dict:
    """Every configuration of ``grid(base, axes)`` x every layer; ``client`` is a Dask client
    (None: serially, in this process). Returns ``{"rows": [...], ...}`` in grid order."""
    from zeroskip.progress import QUIET

    progress = progress or QUIET
    configs = grid(base, axes)
    energy_hash = energy_fingerprint(energy)
    cache = SweepCache(cache_dir)
    points = [SweepPoint(config.to_dict(), layer, seed, balance, energy, data_dir)
              for config in configs for layer in layers]
    keys = [point.key(energy_hash) for point in points]
    results: list[dict | None] = [cache.get(key) for key in keys]
    missing = [i for i, row in enumerate(results) if row is None]
    progress(f"{len(configs)} configurations x {len(layers)} layers = {len(points)} points; "
             f"{len(points) - len(missing)} cached, {len(missing)} to compute on "
             f"{'this process' if client is None else 'Dask'}")
    done = [0]

    def on_done(index: int, row: dict) -> None:
        cache.put(keys[index], row)
        results[index] = row
        done[0] += 1
        progress(f"{done[0]}/{len(missing)} {row['layer']} {row['cycles']} cycles on {row['worker']}")

    if client is None:
        _run_serial([(i, points[i]) for i in missing], on_done)
    else:
        _run_dask(client, [(i, (points[i], keys[i])) for i in missing], on_done)

    computed = set(missing)
    rows = []
    for index, (key, result) in enumerate(zip(keys, results)):
        config = configs[index // len(layers)]
        row = {"layer": result["layer"]}
        row.update({name: getattr(config, name) for name in axes})
        row.update({"cycles": result["cycles"], "efficiency": result["efficiency"],
                    "energy_pj": result["energy_pj"], "time_us": result["time_us"],
                    "area_sram_bits": sram_bits(config), "overrides": result["overrides"],
                    "worker": result["worker"], "config_hash": key,
                    "cached": index not in computed})
        if result.get("error"):
            row["error"] = result["error"]
        rows.append(row)
    return {"rows": rows, "swept": list(axes), "base": base.to_dict(), "layers": list(layers),
            "seed": seed, "balance": balance, "energy_table": energy or "default",
            "area_proxy": AREA_PROXY, "configurations": summarize(rows, list(axes)),
            "computed": len(missing), "from_cache": len(points) - len(missing)}


def summarize(rows: list[dict], swept: list[str]) -> list[dict]:
    """Per configuration: cycles and energy summed over its layers, the area proxy, the
    geometric-mean efficiency, and whether it is on the Pareto front of (cycles, energy, area)
    among the configurations all of whose layers compiled (``failed`` names the others')."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[name] for name in swept), []).append(row)
    configs = []
    for values, members in groups.items():
        config = {**dict(zip(swept, values)), "area_sram_bits": members[0]["area_sram_bits"],
                  "layers": len(members), "failed": [r["layer"] for r in members if r["cycles"] is None]}
        if config["failed"]:             # a layer did not compile: no totals, not on the front
            config.update(cycles=None, energy_pj=None, efficiency_geomean=None)
        else:
            config.update(cycles=sum(r["cycles"] for r in members),
                          energy_pj=sum(r["energy_pj"] for r in members),
                          efficiency_geomean=math.exp(sum(math.log(max(r["efficiency"], 1e-12))
                                                          for r in members) / len(members)))
        configs.append(config)
    complete = [(c["cycles"], c["energy_pj"], c["area_sram_bits"]) for c in configs if not c["failed"]]
    for config in configs:
        mine = (config["cycles"], config["energy_pj"], config["area_sram_bits"])
        config["pareto"] = not config["failed"] and not any(dominates(other, mine) for other in complete)
    return configs


def dominates(a: tuple, b: tuple) -> bool:
    """``a`` is no worse than ``b`` in every objective (all minimised) and better in one."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))
