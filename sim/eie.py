"""EIE's benchmark layers (Han et al., ISCA 2016, Tables III and IV) on the simulated array.

Nine synthetic layers with EIE's sizes and densities (weights at uniformly random positions,
random 4-bit codes 1..15, a linear codebook; activations at the paper's density, uniformly
random positions), plus the real AlexNet FC8 layer of the EIE authors with its real input
(``../shared/data/alexnet_fc8_eie.npz`` next to the repository, skipped with a note if absent).
Each is compiled with ``zeroskip.compiler.compile_layers`` and simulated; EIE's own times
(theoretical and actual, µs at 800 MHz) sit next to ours.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.models.interchange import SharedLayer

#: repository root / .. / shared / data
DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         "shared", "data"))
FC8_FILE = "alexnet_fc8_eie.npz"


@dataclass(frozen=True)
class BenchLayer:
    name: str
    in_len: int
    out_len: int
    weight_density: float
    act_density: float
    eie_theoretical_us: float
    eie_actual_us: float


#: Table III (sizes, densities) and Table IV (EIE's time at 800 MHz, batch 1)
TABLE_III: tuple[BenchLayer, ...] = (
    BenchLayer("Alex-6", 9216, 4096, 0.09, 0.351, 28.1, 30.3),
    BenchLayer("Alex-7", 4096, 4096, 0.09, 0.353, 11.7, 12.2),
    BenchLayer("Alex-8", 4096, 1000, 0.25, 0.375, 8.9, 9.9),
    BenchLayer("VGG-6", 25088, 4096, 0.04, 0.183, 28.1, 34.4),
    BenchLayer("VGG-7", 4096, 4096, 0.04, 0.375, 7.9, 8.7),
    BenchLayer("VGG-8", 4096, 1000, 0.23, 0.411, 7.3, 8.4),
    BenchLayer("NT-We", 4096, 600, 0.10, 1.0, 5.2, 8.0),
    BenchLayer("NT-Wd", 600, 8791, 0.11, 1.0, 13.0, 13.9),
    BenchLayer("NT-LSTM", 1201, 2400, 0.10, 1.0, 6.5, 7.5),
)
#: EIE's reported power (64 PEs, 800 MHz, 45 nm): its energy per layer is this x its actual time
EIE_POWER_W = 0.59
#: the real layer, timed by EIE as Alex-8
FC8 = BenchLayer("FC8 (real)", 4096, 1000, 0.257, 0.429, 8.9, 9.9)

#: the EIE authors' own C++ cycle simulator on the identical layers (the same synthetic weights
#: and inputs, FIFO 8; measured for issue 14, whose text lists them): the cycles to beat
AUTHORS_SIMULATOR_CYCLES = {"FC8 (real)": 7926, "Alex-6": 23069, "Alex-7": 10385, "Alex-8": 6548,
                            "VGG-6": 20037, "VGG-7": 6788, "VGG-8": 6663, "NT-We": 6046,
                            "NT-Wd": 10905, "NT-LSTM": 5439}


def goal_figures(report: dict) -> dict:
    """Issue 14's goal figures of one ``zeroskip bench eie`` report: the geo-mean efficiency
    over Table III, how many Table III layers beat EIE's actual time, the real FC8's cycles,
    and the geo-mean of cycles / the authors' simulator's over the layers it ran."""
    rows = report["layers"]
    table = [r for r in rows if r["name"] != FC8.name]
    ratios = [r["cycles"] / AUTHORS_SIMULATOR_CYCLES[r["name"]] for r in rows
              if r["name"] in AUTHORS_SIMULATOR_CYCLES]
    geo = lambda values: float(np.exp(np.mean(np.log(values)))) if values else float("nan")  # noqa: E731
    fc8 = [r["cycles"] for r in rows if r["name"] == FC8.name]
    return {"geomean_efficiency": geo([r["efficiency"] for r in table]),
            "faster_than_eie_actual": sum(r["vs_eie_actual"] < 1 for r in table),
            "table_layers": len(table), "fc8_cycles": fc8[0] if fc8 else None,
            "geomean_vs_authors_simulator": geo(ratios), "authors_layers": len(ratios)}


def synthetic_layer(spec: BenchLayer, seed: int) -> tuple[SharedLayer, np.ndarray]:
    """Weights and one input vector at the layer's densities, positions uniformly random."""
    rng = np.random.default_rng(seed)
    codes = np.zeros((spec.out_len, spec.in_len), dtype=np.uint8)
    for start in range(0, spec.out_len, 512):                 # slabs bound the float mask's memory
        block = codes[start:start + 512]
        mask = rng.random(block.shape, dtype=np.float32) < spec.weight_density
        block[mask] = rng.integers(1, 16, int(mask.sum()), dtype=np.uint8)
    # a linear codebook (Deep Compression's best initialisation) without an exact zero centroid
    centroids = np.linspace(-0.08, 0.08, 16)
    codebook = np.concatenate([[0.0], centroids[centroids != 0][:15]]).astype(np.float32)
    bias = rng.normal(0.0, 0.01, spec.out_len).astype(np.float32)
    x = rng.random(spec.in_len).astype(np.float32)
    if spec.act_density < 1.0:
        x[rng.random(spec.in_len) >= spec.act_density] = 0.0
    return SharedLayer(codebook, codes, bias, "relu"), x


def load_fc8(data_dir: str = DATA_DIR) -> tuple[SharedLayer, np.ndarray] | None:
    path = os.path.join(data_dir, FC8_FILE)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            layer = SharedLayer(f["codebook_0"].astype(np.float32), f["codes_0"].astype(np.uint8),
                            f["bias_0"].astype(np.float32), str(f["act_0"]))
            x = f["x"].astype(np.float32)
    except (OSError, KeyError, ValueError) as error:
        raise ZeroskipError(f"{path}: not a readable layer file ({error})") from None
    return layer, x


def compile_fitting(layer: SharedLayer, arch: ArchConfig, x: np.ndarray, balance: bool = False):
    """Compile one layer; if it exceeds ``arch``'s memories, apply the smallest overrides that
    hold it (measured from a compile with roomy memories) and compile again.
    Returns (program, {field: new value})."""
    from zeroskip.compiler import compile_layers

    out_len, in_len = layer.codes.shape
    if in_len + 1 <= arch.ptr_depth and -(-max(in_len, out_len) // arch.pes) <= arch.act_depth:
        try:
            return compile_layers([layer], arch, calibration=x[None], balance=balance), {}
        except ZeroskipError:
            pass
    roomy = dataclasses.replace(arch, sparse_depth=max(arch.sparse_depth, 1 << 20),
                                ptr_depth=max(arch.ptr_depth, 1 << 17),
                                act_depth=max(arch.act_depth, 1 << 12),
                                bias_depth=max(arch.bias_depth, 1 << 14))
    probe = compile_layers([layer], roomy, calibration=x[None], balance=balance)
    needed = {"sparse_depth": probe.sparse.shape[1], "ptr_depth": probe.ptr.shape[1] + probe.ptr.shape[1] % 2,
              "bias_depth": probe.bias.shape[1],
              "act_depth": -(-max(probe.in_len, probe.out_len) // arch.pes)}
    changes = {name: value for name, value in needed.items() if value > getattr(arch, name)}
    fitted = dataclasses.replace(arch, **changes)
    return compile_layers([layer], fitted, calibration=x[None], balance=balance), changes


def cycle_breakdown(result, drain: int, index: int = 0) -> dict:
    """Where one input's cycles go, summed over passes; the parts add up to the cycle count:
    ``balanced`` (mean MACs per PE) + ``imbalance`` (busiest PE's MACs − mean) + ``padding``
    (busiest PE's entries − its MACs) + ``bubbles`` (column phase − busiest PE's entries:
    pointer-read bubbles, empty columns, starvation, broadcast stalls, group scan) + ``sweep``
    (drain + requantisation + tails, and the program's head and tail). ``drain``: the array's
    ``ArchConfig.mac_drain``."""
    from zeroskip.hw import timing

    busy = result.pass_pe_busy[index]             # [passes, pes]
    macs = result.pass_pe_macs[index]
    ends = result.pass_column_end[index]
    parts = {
        "balanced": float(macs.mean(axis=1).sum()),
        "imbalance": float((macs.max(axis=1) - macs.mean(axis=1)).sum()),
        "padding": float((busy.max(axis=1) - macs.max(axis=1)).sum()),
        "bubbles": float((ends - busy.max(axis=1)).sum()),
        "sweep": float(len(ends) * (drain + timing.REQUANT_TAIL) + result.pass_rows.sum()
                       + timing.PROGRAM_HEAD + timing.PROGRAM_TAIL),
    }
    parts["broadcast_stalls"] = int(result.broadcast_stalls[index].sum())
    return parts
