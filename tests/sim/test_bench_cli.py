"""``zeroskip bench eie`` on a subset of the layers: the table, the JSON keys, the notes."""

import json

import numpy as np

from zeroskip.cli import main
from zeroskip.sim import eie


def test_bench_json_has_every_layer_field(tmp_path, capsys):
    out = tmp_path / "eie.json"
    assert main(["bench", "eie", "--layers", "NT-LSTM,FC8", "--data", str(tmp_path), "--json", str(out), "-q"]) == 0
    report = json.loads(out.read_text())
    (layer,) = report["layers"]                         # FC8 skipped: no data in tmp_path
    assert layer["name"] == "NT-LSTM"
    for key in ("cycles", "ideal_cycles", "time_us", "eie_actual_us", "efficiency", "energy_pj"):
        assert key in layer
    assert layer["cycles"] > layer["ideal_cycles"] > 0
    assert layer["time_us"] == layer["cycles"] / 800.0
    assert sum(v for k, v in layer["breakdown_cycles"].items() if k != "broadcast_stalls") == layer["cycles"]
    assert any("not found" in note for note in report["notes"])
    printed = capsys.readouterr().out
    assert "NT-LSTM" in printed and "not found" in printed


def test_synthetic_layer_densities():
    layer, x = eie.synthetic_layer(eie.TABLE_III[1], seed=0)
    assert layer.codes.shape == (4096, 4096) and layer.codebook[0] == 0 and np.all(layer.codebook[1:] != 0)
    assert abs((layer.codes != 0).mean() - 0.09) < 0.002
    assert abs((x != 0).mean() - 0.353) < 0.03


def test_unknown_layer_exits_2(capsys):
    assert main(["bench", "eie", "--layers", "Alex-9", "-q"]) == 2
    assert "unknown layer 'alex-9'" in capsys.readouterr().err
