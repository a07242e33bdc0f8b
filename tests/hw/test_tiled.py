"""A program tiled over space as the contract holds it (hw/tiled.py, docs/conv.md "Spatial
tiling"): its directory round-trips, the simulator runs it, its per-layer figures add up, and a
damaged directory is one line."""

import json

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_layers
from zeroskip.compiler.spatial import compile_spatial
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import load_arch, with_overrides
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.hw.tiled import TiledProgram, load_any
from zeroskip.sim.tiled import simulate_tiled

SMALL = with_overrides(load_arch("small"), pes=4, act_depth=64, acc_depth=16)


def reference(name, program, xq):
    return predict_int(program, xq), None


def test_a_tiled_program_directory_round_trips(tmp_path):
    layers, x = random_conv_layers(SMALL, 9, height=12, width=12, channels=3,
                                   convs=((4, 3, 1, 1),), pool=(2, 2), classes=4, batch=3)
    tiled = compile_spatial(layers, SMALL, calibration=x)
    tiled.save(tmp_path / "prog")
    again = load_any(str(tmp_path / "prog"))
    assert isinstance(again, TiledProgram) and again.tiles == tiled.tiles
    xq = quantize_input(tiled, x)
    assert np.array_equal(again.run(xq, reference)[0], tiled.run(xq, reference)[0])
    result = simulate_tiled(again, xq)
    assert np.array_equal(result.outputs_int, tiled.run(xq, reference)[0])
    assert result.summary()["spatial_tiles"] == len(tiled.tiles)
    # every part's layers land on the network's: their cycles and the programs' heads and tails
    # (one per run) make up the total
    from zeroskip.hw.timing import PROGRAM_HEAD, PROGRAM_TAIL

    rows = result.layer_rows()
    assert [r["name"] for r in rows] == [layer.name for layer in tiled.layers]
    runs = len(tiled.tiles) + 1
    assert sum(r["cycles"] for r in rows) + runs * (PROGRAM_HEAD + PROGRAM_TAIL) == \
        pytest.approx(result.cycles.mean())
    # a tiled directory is replaced by the next compile; a damaged manifest is one line
    tiled.save(tmp_path / "prog")
    manifest = tmp_path / "prog" / "tiling.json"
    data = json.loads(manifest.read_text())
    data["stages"][0]["tiles"][0]["program"] = "tile-99x99"
    manifest.write_text(json.dumps(data))
    with pytest.raises(ZeroskipError, match="names the program 'tile-99x99', which is not there"):
        load_any(str(tmp_path / "prog"))


