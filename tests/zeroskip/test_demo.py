"""zeroskip/demo.py: the whole flow, from training to co-verified RTL (minutes: -m slow)."""

import json

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.demo import classify


class _Program:
    def __init__(self, output_affine=None):
        self.output_affine = output_affine

    class_scores = __import__("zeroskip.hw.program", fromlist=["Program"]).Program.class_scores


def test_classify_ranks_binary_outputs_by_their_affine():
    outputs = np.array([[10.0, 9.0], [1.0, 2.0]])
    plain = _Program()
    assert classify(plain, outputs).tolist() == [0, 1]
    # a negative per-class scale reverses the ranking of the integer scores
    binary = _Program({"scale": [-1.0, 1.0], "offset": [0.0, 0.0]})
    assert classify(binary, outputs).tolist() == [1, 1]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    status = main(["-q", "demo", "-o", str(tmp_path), "--rtl-images", "1"])
    out = capsys.readouterr().out
    assert status == 0
    rows = json.loads((tmp_path / "demo.json").read_text())
    sparse, binary = rows
    assert sparse["accuracy_array"] >= sparse["accuracy_model"] - 0.003
    assert binary["accuracy_array"] == binary["accuracy_model"]
    assert binary["accuracy_array"] >= 0.90
    assert out.count("1/1 images: outputs bit-exact") == 2
    assert (tmp_path / "verilog" / "zeroskip_top.v").exists()
