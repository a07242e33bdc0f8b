"""``zeroskip bench seednets``: the survey's small networks (LeNet-5, SqueezeNet, MobileNet and
its standard-conv twin, ShuffleNet, a distilled MobileNet), dense and Deep-Compressed, measured
on the array (docs/seednets.md).

Per row: parameters and MACs per image (``models.cost``), accuracy on the 1,000 held-out images,
the bytes as stored (float32 for a dense row, the .zsk file for a ``-dc`` row), cycles and
energy per image on two arrays (``small`` with 16 PEs, and eie64), and the images co-verified
bit- and cycle-exact on Verilator.

The array runs weight-shared models only: a ``-dc`` row runs its .zsk; a dense row runs its
network after weight sharing *without* pruning (``compress.one_shot`` at quality 0, the row's
own bits), and says so (``array_model``), with that model's float accuracy next to the dense
one.

Training is the slow part: each row's result is cached under ``--cache`` in a directory named
by a hash of its configuration (the row's name and ``asdict`` of its ``CompressConfig``), holding
what rebuilds the row without training: the .zsk for ``-dc`` rows, the dense network's weights
(.npz) and spec for dense rows, plus the array model's .zsk and the training figures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.files import write_atomic
from zeroskip.hw.arch import PRESETS
from zeroskip.progress import QUIET

#: the rows, in the table's order: a zoo name (dense), ``NAME-dc`` (Deep Compression),
#: ``NAME-distilled`` (dense, distilled from ``DISTILL_TEACHER``)
ROWS = ("lenet5", "lenet5-dc", "squeezenet", "squeezenet-dc", "mobilenet", "mobilenet-standard",
        "shufflenet", "mobilenet-distilled")
#: the teacher: MobileNet's standard-conv twin, the larger and more accurate network of the
#: same shape (Hinton's setting: a big model teaches a small one)
DISTILL_TEACHER = "mobilenet-standard"

#: ``small`` with 16 PEs (benchmarks/lenet5_array.py's LeNet-5 configuration: activation and
#: pointer memories for 24x24x32 maps, 9-bit codes and 7-bit runs for the default mode's 257
#: conv codes), with the layer and pass tables the survey's deeper networks need (SqueezeNet and
#: ShuffleNet lower to 15 layers) and ShuffleNet's 5,375 column pointers per PE
SMALL16 = dataclasses.replace(PRESETS["small"], name="small16", pes=16, act_depth=2048,
                              ptr_depth=8192, code_bits=9, run_bits=7, max_layers=16,
                              max_passes=64)
#: EIE's array with the same 9-bit codes
EIE64 = dataclasses.replace(PRESETS["eie64"], code_bits=9, run_bits=7)
ARRAYS = {"small16": SMALL16, "eie64": EIE64}
#: the array co-verified on Verilator (eie64's memories make an RTL build of hours)
RTL_ARRAY = "small16"
#: training images that set the fixed-point scales
CALIBRATION = 256
#: bump when what a cache entry holds changes
CACHE_VERSION = 1


@dataclass(frozen=True)
class Row:
    """One row of the table: ``model`` from the zoo, trained dense (``compressed`` False) or
    through Deep Compression, its dense stage distilled from ``distill_from`` when set."""

    name: str
    model: str
    compressed: bool = False
    distill_from: str = ""


def parse_row(name: str) -> Row:
    """The row ``name`` names; a ``ZeroskipError`` naming it when the zoo has no such model."""
    from zeroskip.models import zoo

    name = name.strip()
    if name.endswith("-dc"):
        row = Row(name, name[:-3], compressed=True)
    elif name.endswith("-distilled"):
        row = Row(name, name[:-len("-distilled")], distill_from=DISTILL_TEACHER)
    else:
        row = Row(name, name)
    if row.model not in zoo.MODELS or row.model == row.distill_from:
        raise ZeroskipError(f"--networks: unknown network '{name}' (rows: a zoo model "
                            f"({', '.join(zoo.MODELS)}), NAME-dc or NAME-distilled)")
    return row


def row_config(row: Row, epochs_scale: float = 1.0):
    """The row's ``CompressConfig``: the zoo's tuned defaults (``default_config``), the teacher
    for a distilled row; ``epochs_scale`` scales every phase's epochs (at least 1 each; tests
    and quick looks)."""
    from zeroskip.models.compress import default_config

    config = default_config(row.model, **({"distill_from": row.distill_from}
                                          if row.distill_from else {}))
    if epochs_scale != 1.0:
        def scaled(schedule):
            epochs = max(1, round(schedule.epochs * epochs_scale)) if schedule.epochs else 0
            return dataclasses.replace(schedule, epochs=epochs)

        config = dataclasses.replace(
            config, dense=scaled(config.dense), prune=scaled(config.prune),
            finetune=scaled(config.finetune),
            prune_extra_epochs=round(config.prune_extra_epochs * epochs_scale))
    return config


def cache_key(row: Row, config) -> str:
    """A hash of everything the row's training depends on: the row, its configuration, the
    zoo's architecture for it (its spec: a changed zoo entry retrains) and, for a distilled
    row, the teacher's configuration and architecture."""
    from zeroskip.models import zoo
    from zeroskip.models.compress import default_config

    what = {"version": CACHE_VERSION, "row": asdict(row), "config": asdict(config),
            "architecture": zoo.build(config.model, config.seed, config.dropout).spec()}
    if config.distill_from:
        teacher = default_config(config.distill_from, seed=config.seed)
        what["teacher"] = {"config": asdict(teacher), "architecture": zoo.build(
            teacher.model, teacher.seed, teacher.dropout).spec()}
    blob = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class Trained:
    """A row's trained result: what the cache holds."""

    row: Row
    key: str
    array_zsk: bytes               # the weight-shared model the array runs
    info: dict                     # accuracies, bytes, seconds, ... (JSON-ready)
    network: object | None = None  # the dense network (dense rows)
    cached: bool = False


# -- training ----------------------------------------------------------------------------------

def train_row(row: Row, config, data, progress=QUIET, teacher=None) -> Trained:
    """Train ``row`` (no cache): Deep Compression for a ``-dc`` row, the dense stage plus
    sharing without pruning (the array's model) for a dense row. ``teacher``: a distilled
    row's teacher, already trained (``cached_teacher``)."""
    from zeroskip.models import compress

    x_test, y_test = data[2], data[3]
    start = time.perf_counter()
    if row.compressed:
        result = compress.compress(config, data, progress)
        report = result.report()
        info = {"accuracy": result.accuracy["compressed"],
                "accuracy_dense": result.accuracy["dense"],
                "accuracy_array_model": result.accuracy["compressed"],
                "bytes": len(result.data), "bytes_form": "compressed (.zsk: pruned, shared, Huffman)",
                "array_model": "pruned, shared, Huffman-coded (.zsk)",
                "compression_ratio": report["compression_ratio"],
                "train_seconds": time.perf_counter() - start}
        return Trained(row, cache_key(row, config), result.data, info)
    net = compress.train_dense(config, data, progress, teacher)   # batch norms folded
    accuracy = net.accuracy(x_test, y_test)
    progress(f"{row.name}: dense accuracy {accuracy:.4f}; sharing its weights without pruning")
    from zeroskip.models import cost

    n_params = cost.params(net)
    weights = _weights_npz(net)
    shared = compress.one_shot(dataclasses.replace(config, quality=(0.0,)), net,
                               test=(x_test, y_test))
    info = {"accuracy": accuracy, "accuracy_dense": accuracy,
            "accuracy_array_model": shared.accuracy["compressed"],
            "bytes": 4 * n_params, "bytes_form": "float32",
            "array_model": "shared, unpruned",
            "train_seconds": time.perf_counter() - start}
    network = _network_from_npz(net.spec(), weights)   # the dense weights, before sharing
    return Trained(row, cache_key(row, config), shared.data, info, network)


def _weights_npz(net) -> bytes:
    arrays = {f"{i}/{key}": value for i, layer in enumerate(net.layers)
              for key, value in layer.params.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _network_from_npz(spec: dict, data: bytes):
    from zeroskip.models.network import Network

    net = Network.from_spec(spec)
    with np.load(io.BytesIO(data)) as arrays:
        for name in arrays.files:
            index, key = name.split("/")
            net.layers[int(index)].params[key][...] = arrays[name]
    return net


# -- the cache ---------------------------------------------------------------------------------

def _entry(cache: Path, row: Row, key: str) -> Path:
    return cache / f"{row.name}-{key}"


def save(cache: Path, trained: Trained, config) -> None:
    """Write the row's entry; ``row.json`` last (an entry without it is incomplete)."""
    entry = _entry(cache, trained.row, trained.key)
    write_atomic(entry / "array.zsk", trained.array_zsk)
    if trained.network is not None:
        write_atomic(entry / "dense.npz", _weights_npz(trained.network))
        write_atomic(entry / "dense_spec.json", json.dumps(trained.network.spec(), indent=1))
    write_atomic(entry / "row.json", json.dumps(
        {"row": asdict(trained.row), "key": trained.key, "config": asdict(config),
         "info": trained.info}, indent=1, default=str))


def cached_teacher(cache: Path, config):
    """A distilled row's teacher from the cache: the dense row of ``config.distill_from`` when
    it was trained with exactly the teacher's configuration (the same seed and epochs), else
    None (the teacher is then trained with the row)."""
    from zeroskip.models.compress import default_config

    teacher_config = default_config(config.distill_from, seed=config.seed)
    row = parse_row(config.distill_from)
    trained = load(cache, row, cache_key(row, teacher_config))
    return None if trained is None else trained.network


def load(cache: Path, row: Row, key: str) -> Trained | None:
    """The cached entry of ``row`` at ``key``, or None (missing, incomplete or unreadable)."""
    entry = _entry(cache, row, key)
    try:
        meta = json.loads((entry / "row.json").read_text())
        if meta.get("key") != key:
            return None
        zsk = (entry / "array.zsk").read_bytes()
        network = None
        if not row.compressed:
            spec = json.loads((entry / "dense_spec.json").read_text())
            network = _network_from_npz(spec, (entry / "dense.npz").read_bytes())
    except (OSError, ValueError, KeyError):
        return None
    return Trained(row, key, zsk, meta["info"], network, cached=True)


# -- measuring ---------------------------------------------------------------------------------

def array_model(trained: Trained):
    """The compressed model the array runs, decoded from the row's ``.zsk``."""
    from zeroskip.models import modelfile

    return modelfile.decode(trained.array_zsk, f"{trained.row.name}.zsk")


def array_network(trained: Trained):
    """The network the array runs (weights ``codebook[codes]``)."""
    return array_model(trained).to_network()


def model_costs(trained: Trained) -> dict:
    """Parameters and MACs of the row's network (dense), and for a compressed row the
    non-zero weights and the MACs they take."""
    from zeroskip.models import cost

    net = trained.network if trained.network is not None else array_network(trained)
    layers = [c for c in cost.layer_costs(net) if c.kind in ("conv2d", "dense")]
    weighted = net.weighted()
    nonzero = sum(int(np.count_nonzero(layer.params["W"])) + layer.params["b"].size
                  for layer in weighted)
    effective = sum(c.macs * float(np.count_nonzero(layer.params["W"])) / layer.params["W"].size
                    for c, layer in zip(layers, weighted, strict=True))
    return {"params": cost.params(net), "macs": cost.macs(net), "nonzero_params": nonzero,
            "macs_nonzero": int(round(effective))}


def layer_kind(layer) -> str:
    """What a model layer is, in the survey's terms: ``conv 3x3``, ``depthwise 3x3``,
    ``grouped 1x1``, ``fc``, ``max pool``, ``avg pool``, ``global avg pool``, ``add``, ..."""
    from zeroskip.models.layers import (Add, AvgPool2D, Concat, Conv2D, Dense, GlobalAvgPool,
                                        MaxPool2, MaxPool2D)

    if isinstance(layer, Conv2D):
        k = f"{layer.kernel}x{layer.kernel}"
        if layer.groups > 1 and layer.groups == layer.in_channels:
            return f"depthwise {k}"
        return f"grouped {k}" if layer.groups > 1 else f"conv {k}"
    for kind, name in ((Dense, "fc"), ((MaxPool2, MaxPool2D), "max pool"),
                       (AvgPool2D, "avg pool"), (GlobalAvgPool, "global avg pool"),
                       (Add, "add"), (Concat, "concat")):
        if isinstance(layer, kind):
            return name
    return layer.kind


def layer_kinds(model) -> dict[str, str]:
    """The kind of every layer of a decoded ``.zsk`` model by the name the compiler gives it: a
    graph's node names; for a sequential network the names of ``model.array_layers()`` (what
    the compiler reads), paired in order with the model layers that make one."""
    from zeroskip.models.interchange import MapInput
    from zeroskip.models.layers import Conv2D, Dense
    from zeroskip.models.modelfile import POOL_KINDS
    from zeroskip.models.network import Graph

    net = model.to_network()
    if isinstance(net, Graph):
        return {node.name: layer_kind(node.layer) for node in net.nodes}
    names = [layer.name for layer in model.array_layers() if not isinstance(layer, MapInput)]
    lowered = [layer for layer in net.layers
               if isinstance(layer, (Conv2D, Dense)) or layer.kind in POOL_KINDS]
    return {name: layer_kind(layer) for name, layer in zip(names, lowered, strict=True)}


def _program_layer_kind(name: str, info, kinds: dict[str, str]) -> str:
    """A lowered layer's kind: its model layers' kinds (a lowered layer may merge several:
    ``a+b``), else what the program says (fc, max pool, conv)."""
    from zeroskip.hw.program import KIND_CONV, KIND_SPARSE, OP_MAX

    parts = [kinds[part] for part in name.split("+") if part in kinds]
    if parts:
        return " + ".join(dict.fromkeys(parts))
    if info.kind == KIND_SPARSE:
        return "fc"
    if info.kind == KIND_CONV:
        return "max pool" if info.op == OP_MAX else f"conv {info.kernel}x{info.kernel}"
    return "binary"


#: the memories and tables ``--fit`` may enlarge (doubling each until the model fits)
FIT_FIELDS = ("sparse_depth", "ptr_depth", "act_depth", "bias_depth", "max_layers", "max_passes")
FIT_STEPS = 8


def compile_fitting(zsk_path: Path, arch, calibration, fit: bool = False,
                    row_passes: bool = False):
    """Compile the .zsk onto ``arch``: ``(program, {})``, or ``(None, {"error": one line})``
    when it does not fit. With ``fit``, each memory the compiler names as too small
    (``FIT_FIELDS``) is doubled until the model fits (or the configuration cannot grow):
    ``(program, {"fitted": {field: [before, after]}})`` on the enlarged array. ``row_passes``:
    the compiler's (docs/conv.md)."""
    from zeroskip.compiler import compile_file

    fitted, first = arch, None
    for _ in range(FIT_STEPS + 1):
        try:
            program = compile_file(str(zsk_path), fitted, calibration=calibration,
                                   row_passes=row_passes)
        except (ZeroskipError, ValueError) as error:
            message = " ".join(str(error).split()).removeprefix(f"{zsk_path}: ")
            first = first or message
            grow = [name for name in FIT_FIELDS if f"'{name}'" in message]
            if not fit or not grow:
                return None, {"error": first}
            try:
                fitted = dataclasses.replace(fitted, **{grow[0]: 2 * getattr(fitted, grow[0])})
            except ZeroskipError:
                return None, {"error": first}
            continue
        changes = {name: [getattr(arch, name), getattr(fitted, name)] for name in FIT_FIELDS
                   if getattr(fitted, name) != getattr(arch, name)}
        return program, ({"fitted": changes, "unfitted_error": first} if changes else {})
    return None, {"error": first}


def measure_array(zsk_path: Path, arch, x_train, x_test, y_test, kinds: dict[str, str] | None = None,
                  fit: bool = False, energy: str | None = None,
                  row_passes: bool = False) -> tuple[dict, object | None]:
    """Compile the .zsk onto ``arch`` (``compile_fitting``) and simulate ``x_test``: the row's
    figures for that array (or its one-line ``error``) and the program (None when it does not
    compile). ``kinds`` (``layer_kinds``) names each lowered layer's kind; cycles are also
    summed by kind. ``energy``: a user's energy table (default: derived from the array)."""
    from zeroskip.demo import classify
    from zeroskip.sim import simulate

    program, notes = compile_fitting(zsk_path, arch, x_train[:CALIBRATION], fit, row_passes)
    if program is None:
        return notes, None
    result = simulate(program, x_test, energy_table=energy)
    n = len(x_test)
    layers, by_kind = [], {}
    for i, name in enumerate(result.layer_names):
        kind = _program_layer_kind(name, program.layers[i], kinds or {})
        cycles = float(result.layer_cycles[:, i].mean())
        ideal = float(result.layer_ideal_cycles[:, i].mean())
        layers.append({"name": name, "kind": kind, "cycles": cycles, "ideal_cycles": ideal})
        total = by_kind.setdefault(kind, {"cycles": 0.0, "ideal_cycles": 0.0, "layers": 0})
        total["cycles"] += cycles
        total["ideal_cycles"] += ideal
        total["layers"] += 1
    all_cycles = float(result.cycles.mean())
    for total in by_kind.values():
        total["share"] = total["cycles"] / all_cycles if all_cycles else 0.0
        total["efficiency"] = total["ideal_cycles"] / total["cycles"] if total["cycles"] else 0.0
    return {"cycles": all_cycles, "ideal_cycles": float(result.ideal_cycles.mean()),
            "efficiency": float(result.ideal_cycles.sum() / result.cycles.sum()),
            "time_us": float(result.time_us.mean()),
            "energy_nj": result.energy_pj / n / 1000.0,
            "accuracy_array": float((classify(program, result.outputs) == y_test).mean()),
            "layers": layers, "cycles_by_kind": by_kind, **notes}, program


def co_verify(program, x: np.ndarray, label: str, progress=QUIET) -> dict:
    """``zeroskip verify``'s check on Verilator: ``x`` through the RTL of the program's array,
    outputs bit-exact against the reference and its cycle counter equal to the simulator's."""
    from zeroskip.hw.reference import quantize_input
    from zeroskip.hw.rtl.run import RtlTimeout, build_and_run
    from zeroskip.ladder import check_rtl
    from zeroskip.sim import simulate_int

    xq = quantize_input(program, x)
    expected = simulate_int(program, xq).cycles
    progress(f"{label}: {len(xq)} image(s) on Verilator ({program.arch.name}, "
             f"{program.arch.pes} PEs)")
    try:
        result = build_and_run(program.arch, program, xq, "verilator", expected_cycles=expected,
                               label=label)
    except RtlTimeout as error:
        return {"rtl_checked": 0, "rtl_failed": len(xq), "rtl_error": " ".join(str(error).split())}
    checks = check_rtl(program, xq, result.outputs, result.cycles)
    failed = [c for c in checks if not c.ok]
    out = {"rtl_checked": len(checks) - len(failed), "rtl_failed": len(failed)}
    if failed:
        out["rtl_error"] = failed[0].describe()
    return out


# -- the suite ---------------------------------------------------------------------------------

def run_suite(networks: list[str] | None = None, cache: str | Path = ".cache/seednets",
              rtl: int = 2, images: int = 1000, epochs_scale: float = 1.0, seed: int = 0,
              fit: bool = False, energy: str | None = None, progress=QUIET,
              switches: dict[str, int] | None = None, row_passes: bool = False) -> dict:
    """Every row of ``networks`` (default: ``ROWS`` the zoo has): trained or from the cache,
    measured on both arrays (``images`` held-out images through the cycle simulator), the first
    ``rtl`` of them co-verified on Verilator. ``fit``: a model too big for an array runs on it
    with the memories it needs (``compile_fitting``; the row names them). ``energy``: a user's
    energy table pricing both arrays (default: each array's derived table). ``switches``: timing
    switches (``TIMING_SWITCHES``, ``PIPELINE_SWITCHES``, e.g. ``lane_passes``) set on both
    arrays; ``row_passes``: depthwise convs compiled as row passes (docs/conv.md). Returns the
    JSON-ready report."""
    from zeroskip.models.data import mnist_split

    names = networks if networks else list(ROWS)
    rows = [parse_row(name) for name in names]
    if len({row.name for row in rows}) != len(rows):
        raise ZeroskipError("--networks: a network is named twice")
    if rtl < 0:
        raise ZeroskipError(f"--rtl {rtl}: must be 0 or more images")
    if not 1 <= images <= 1000:
        raise ZeroskipError(f"--images {images}: must be in 1..1000")
    if rtl > images:
        raise ZeroskipError(f"--rtl {rtl}: more than the {images} --images simulated")
    if not epochs_scale > 0:
        raise ZeroskipError(f"--epochs-scale {epochs_scale}: must be > 0")
    if energy is not None:
        from zeroskip.sim.energy import load_energy_table

        energy_name = load_energy_table(energy).name     # checked before any training
    if rtl:
        from zeroskip.hw.rtl.toolchain import require_simulator

        require_simulator("verilator")
    arrays = {name: dataclasses.replace(arch, **(switches or {})) for name, arch in ARRAYS.items()}
    cache = Path(cache)
    data = mnist_split(seed)
    x_train, _, x_test, y_test = data
    x_sim, y_sim = x_test[:images], y_test[:images]
    out = []
    for row in rows:
        config = dataclasses.replace(row_config(row, epochs_scale), seed=seed)
        key = cache_key(row, config)
        trained = load(cache, row, key)
        if trained is None:
            progress(f"{row.name}: training ({config.model}"
                     f"{', Deep Compression' if row.compressed else ', dense'}"
                     f"{f', distilled from {row.distill_from}' if row.distill_from else ''})")
            teacher = cached_teacher(cache, config) if config.distill_from else None
            if teacher is not None:
                progress(f"{row.name}: the teacher from the cache ({row.distill_from})")
            trained = train_row(row, config, data, progress, teacher)
            save(cache, trained, config)
        else:
            progress(f"{row.name}: from the cache ({_entry(cache, row, key)})")
        record = {"name": row.name, "model": row.model,
                  "method": "Deep Compression" if row.compressed else
                  (f"distilled from {row.distill_from}" if row.distill_from else "dense"),
                  **model_costs(trained), **trained.info,
                  "cached": trained.cached, "cache_entry": str(_entry(cache, row, key)),
                  "config": asdict(config)}
        zsk = _entry(cache, row, key) / "array.zsk"
        programs, kinds = {}, layer_kinds(array_model(trained))
        for array, arch in arrays.items():
            progress(f"{row.name}: compiling for {array} and simulating {len(x_sim)} images")
            figures, programs[array] = measure_array(zsk, arch, x_train, x_sim, y_sim, kinds, fit,
                                                     energy, row_passes)
            record.update({f"{k}_{array}": v for k, v in figures.items()})
        record["rtl_checked"], record["rtl_failed"] = 0, 0
        if rtl and programs[RTL_ARRAY] is not None:
            record.update(co_verify(programs[RTL_ARRAY], x_sim[:rtl], row.name, progress))
        elif rtl:
            record["rtl_error"] = f"not co-verified: does not fit {RTL_ARRAY}"
        out.append(record)
    report = {"suite": "seednets", "networks": out,
              "arrays": {name: arch.to_dict() for name, arch in arrays.items()},
              "rtl_array": RTL_ARRAY, "rtl_simulator": "verilator", "rtl_images": rtl,
              "array_images": len(x_sim), "test_images": len(y_test), "calibration": CALIBRATION,
              "seed": seed, "epochs_scale": epochs_scale, "fit": fit, "cache": str(cache),
              "row_passes": bool(row_passes),
              "energy_table": energy_name if energy is not None else "derived per array"}
    report["claims"] = claims(report)
    return report


def dense_lenet5_bytes() -> int:
    """Dense LeNet-5 as float32: what the survey's size reductions are measured against."""
    from zeroskip.models import cost, zoo

    return 4 * cost.params(zoo.build("lenet5", 0))


def claims(report: dict) -> list[dict]:
    """Issue 13's claims, each with what was measured and whether it holds (None: a row it
    needs was not run). Accuracies are on the held-out images, in percentage points."""
    rows = {r["name"]: r for r in report["networks"]}
    out = []

    def claim(text: str, needs: list[str], measure):
        if not all(name in rows for name in needs):
            out.append({"claim": text, "holds": None,
                        "measured": "not run: " + ", ".join(n for n in needs if n not in rows)})
            return
        holds, measured = measure(*(rows[n] for n in needs))
        out.append({"claim": text, "holds": bool(holds), "measured": measured})

    def pp(a, b):
        return 100 * (a - b)

    for name, r in rows.items():
        claim(f"{name}: >= 95 % held-out accuracy, on the array, >= 2 images co-verified",
              [name], lambda r: (r["accuracy"] >= 0.95 and r["rtl_checked"] >= 2
                                 and not r["rtl_failed"],
                                 f"{100 * r['accuracy']:.2f} %, {r['rtl_checked']} verified"
                                 + "".join(f", {a}: does not fit" for a in ARRAYS
                                           if f"error_{a}" in r)))
    claim("mobilenet: >= 5x fewer MACs than mobilenet-standard, <= 1 pp less accurate",
          ["mobilenet", "mobilenet-standard"],
          lambda m, s: (s["macs"] >= 5 * m["macs"] and pp(s["accuracy"], m["accuracy"]) <= 1,
                        f"{s['macs'] / m['macs']:.2f}x fewer MACs, "
                        f"{pp(m['accuracy'], s['accuracy']):+.2f} pp"))
    claim("shufflenet: no more MACs than mobilenet, accuracy >= mobilenet's - 0.5 pp",
          ["shufflenet", "mobilenet"],
          lambda sh, m: (sh["macs"] <= m["macs"] and pp(sh["accuracy"], m["accuracy"]) >= -0.5,
                         f"{sh['macs']:,} vs {m['macs']:,} MACs, "
                         f"{pp(sh['accuracy'], m['accuracy']):+.2f} pp"))
    claim("squeezenet: <= 1/10 of lenet5's parameters", ["squeezenet", "lenet5"],
          lambda sq, le: (10 * sq["params"] <= le["params"],
                          f"1/{le['params'] / sq['params']:.1f}"))
    claim("squeezenet-dc: <= 1/100 of dense lenet5's bytes, within 1.5 pp of its accuracy",
          ["squeezenet-dc", "lenet5"],
          lambda sq, le: (100 * sq["bytes"] <= le["bytes"]
                          and abs(pp(sq["accuracy"], le["accuracy"])) <= 1.5,
                          f"1/{le['bytes'] / sq['bytes']:.1f} of the bytes, "
                          f"{pp(sq['accuracy'], le['accuracy']):+.2f} pp"))
    claim("distillation measured: mobilenet-distilled against mobilenet, same seed and epochs",
          ["mobilenet-distilled", "mobilenet"],
          lambda d, m: (True, f"{pp(d['accuracy'], m['accuracy']):+.2f} pp "
                              f"({100 * d['accuracy']:.2f} % vs {100 * m['accuracy']:.2f} %)"))
    return out


# -- the table and the plot --------------------------------------------------------------------

def format_report(report: dict) -> str:
    """The survey's tables in one: per network, accuracy, MACs, parameters (its MobileNet and
    ShuffleNet comparisons) and the bytes as stored with the reduction against dense LeNet-5
    (its SqueezeNet + Deep Compression comparison), then the array's cycles and energy."""
    from zeroskip.table import format_table

    rows = report["networks"]
    base = dense_lenet5_bytes()
    table, notes = [], []
    for r in rows:
        cells = [r["name"], r["method"], r["accuracy"], r["macs"] / 1e6, r["params"] / 1e3,
                 r["bytes"] / 1024, f"{base / r['bytes']:.1f}x"]
        for array in ARRAYS:
            if f"error_{array}" in r:
                cells += ["does not fit", None, None]
                notes.append(f"{r['name']} on {array}: {r[f'error_{array}']}")
            else:
                fitted = r.get(f"fitted_{array}")
                cells += [f"{r[f'cycles_{array}']:,.0f}" + (" *" if fitted else ""),
                          r[f"energy_nj_{array}"], r[f"accuracy_array_{array}"]]
                if fitted:
                    notes.append(f"{r['name']} on {array} (*): fitted with " + ", ".join(
                        f"{name} {a} -> {b}" for name, (a, b) in fitted.items()))
        rtl = f"{r['rtl_checked']}" + (f" ({r['rtl_failed']} FAIL)" if r["rtl_failed"] else "")
        table.append(cells + [rtl])
        if r.get("rtl_error"):
            notes.append(f"{r['name']} RTL: {r['rtl_error']}")
    heads = ["network", "method", "accuracy", "M MACs", "K params", "KB stored", "vs LeNet-5"]
    formats = ["", "", ".2%", ".3f", ".1f", ".1f", ""]
    for array in ARRAYS:
        heads += [f"{array} cycles", "nJ", "array acc"]
        formats += ["", ",.0f", ".2%"]
    lines = [format_table(heads + ["RTL ok"], table, formats + [""])]
    lines.append(f"accuracy: float model on the {report['test_images']} held-out images; array: "
                 f"the first {report['array_images']} through the cycle simulator, per image; "
                 f"dense rows stored as float32 and run on the array shared, unpruned; "
                 f"RTL ok: images bit- and cycle-exact on Verilator ({report['rtl_array']})")
    from zeroskip.hw.arch import PIPELINE_SWITCHES, TIMING_SWITCHES

    switched = [name.replace("_", " ") for name in TIMING_SWITCHES + PIPELINE_SWITCHES
                if any(arch.get(name) for arch in report["arrays"].values())]
    if switched:
        lines.append(f"both arrays with {', '.join(switched)} (docs/timing.md)")
    if report.get("row_passes"):
        lines.append("depthwise convs compiled as row passes (docs/conv.md)")
    lines += [f"note: {n}" for n in notes]
    lines += ["", where_the_cycles_go(report, RTL_ARRAY), "", "issue 13's claims:"]
    verdicts = {True: "holds", False: "FAILS", None: "not run"}
    lines += [f"  {verdicts[c['holds']]:>7}  {c['claim']}: {c['measured']}"
              for c in report.get("claims", [])]
    return "\n".join(lines)


def where_the_cycles_go(report: dict, array: str) -> str:
    """Per network, its cycles on ``array`` by layer kind: share and efficiency (MAC-ideal /
    cycles), the kinds that take the most first."""
    from zeroskip.table import format_table

    table = []
    for r in report["networks"]:
        by_kind = r.get(f"cycles_by_kind_{array}")
        if not by_kind:
            continue
        for kind, t in sorted(by_kind.items(), key=lambda item: -item[1]["cycles"]):
            table.append([r["name"], kind, t["layers"], t["cycles"], t["share"],
                          t["ideal_cycles"], t["efficiency"]])
    if not table:
        return f"where the cycles go: no network runs on {array}"
    return format_table(["network", "layer kind", "layers", "cycles", "share", "ideal", "effic."],
                        table, ["", "", "", ",.0f", ".1%", ",.0f", ".1%"],
                        title=f"where the cycles go on {array}, per image (ideal: the busiest "
                              "PE's MACs; effic. = ideal / cycles)")


def write_plot(report: dict, path: str | Path) -> None:
    """Accuracy against MACs, bytes and energy (three panels, log x), one point per network."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["networks"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    from matplotlib.ticker import NullFormatter

    panels = [(["macs"], "MACs per image"), (["bytes"], "bytes as stored"),
              ([f"energy_nj_{array}" for array in ARRAYS],
               "nJ per image (" + ", ".join(f"{array} {fill}" for array, fill
                                            in zip(ARRAYS, ("filled", "hollow"))) + ")")]
    for ax, (keys, label) in zip(axes, panels):
        for r in rows:
            y = 100 * r["accuracy"]
            colour = f"C{rows.index(r) % 10}"
            for key, hollow in zip(keys, (False, True)):
                if r.get(key) is None:
                    continue
                ax.scatter(r[key], y, marker="s" if r["name"].endswith("-dc") else "o",
                           facecolors="none" if hollow else colour, edgecolors=colour)
                if not hollow or r.get(keys[0]) is None:
                    fitted = key.startswith("energy_nj_") and r.get(
                        "fitted_" + key.removeprefix("energy_nj_"))
                    ax.annotate(r["name"] + (" *" if fitted else ""), (r[key], y), fontsize=8,
                                xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"held-out accuracy (%, {report['test_images']} images)")
    fig.suptitle("The survey's networks at MNIST scale: accuracy against cost (squares: Deep "
                 "Compression; no point: does not fit that array; *: on enlarged memories, --fit)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
