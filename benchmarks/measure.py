"""Timing for the benchmark scripts: the best of N runs, wall-clock and this process's CPU time
(CPU seconds are less sensitive to other jobs sharing the machine)."""

from __future__ import annotations

import time
from typing import NamedTuple


class Timing(NamedTuple):
    wall: float     #: best wall-clock seconds
    cpu: float      #: best CPU seconds of this process
    result: object  #: what the last run returned


def best_of(repeat: int, function) -> Timing:
    walls, cpus, result = [], [], None
    for _ in range(max(1, repeat)):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return Timing(min(walls), min(cpus), result)


def layer_rows(result, *labels) -> list[list]:
    """One row per layer of a simulation ``result``: ``labels``, the layer's name, its mean
    cycles and ideal cycles per input, and its efficiency over the batch."""
    return [[*labels, name, result.layer_cycles[:, i].mean(), result.layer_ideal_cycles[:, i].mean(),
             result.layer_ideal_cycles[:, i].sum() / result.layer_cycles[:, i].sum()]
            for i, name in enumerate(result.layer_names)]


def print_layers_and_save(layers: list[list], rows: list[dict], json_path: str | None) -> None:
    """The per-layer table of ``layer_rows`` (mode, array, layer, cycles, ideal, efficiency),
    then the rows as JSON at ``json_path`` (written atomically) when one is given."""
    import json

    from zeroskip.files import write_atomic
    from zeroskip.table import format_table

    print(format_table(["mode", "array", "layer", "cycles", "ideal", "eff"], layers,
                       ["", "", "", ".0f", ".0f", ".1%"]))
    if json_path:
        write_atomic(json_path, json.dumps({"rows": rows}, indent=1).encode())
