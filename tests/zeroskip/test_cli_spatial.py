"""A conv network too large for the activation banks from the command line (docs/conv.md
"Spatial tiling"): ``compile`` tiles it over space, ``sim`` gives the untiled program's outputs,
``verify`` runs every part on the RTL and the ladder's rungs, bad uses are one line."""

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from zeroskip.cli import main
from zeroskip.hw.tiled import TiledProgram, load_any

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from onnx_helpers import conv_net, shared  # noqa: E402

#: 4 PEs whose banks hold 128 activations: the 9x9x3 input and the 9x9x4 map after conv1 do not
#: fit, the pooled 4x4x4 map does
TILED = ["--pes", "4", "--act-depth", "32", "--acc-depth", "16"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("spatial")
    rng = np.random.default_rng(0)
    onnx.save(shared(conv_net(rng, bn=False), rng), d / "net.onnx")
    x = rng.uniform(0, 1, (4, 3, 9, 9)).astype(np.float32)
    np.save(d / "x.npy", x)
    np.save(d / "calib.npy", x.reshape(4, -1))
    assert main(["-q", "compile", str(d / "net.onnx"), *TILED, "--calibration",
                 str(d / "calib.npy"), "-o", str(d / "tiled")]) == 0
    assert main(["-q", "compile", str(d / "net.onnx"), "--pes", "4", "--act-depth", "128",
                 "--calibration", str(d / "calib.npy"), "-o", str(d / "whole")]) == 0
    return d


def test_compile_tiles_and_sim_equals_the_untiled_program(model, capsys):
    d = model
    assert main(["compile", str(d / "net.onnx"), *TILED, "--calibration", str(d / "calib.npy"),
                 "-o", str(d / "again")]) == 0
    out = capsys.readouterr().out
    assert "tiled over space: layers 0..0 run as" in out and "tail (1 run per input)" in out
    tiled = load_any(str(d / "tiled"))
    assert isinstance(tiled, TiledProgram) and len(tiled.tiles) > 1
    assert main(["sim", str(d / "tiled"), "--input", str(d / "x.npy"), "--output",
                 str(d / "y_tiled.npy"), "--json", str(d / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "part" in out and "tail" in out and "total" in out
    assert all(f"\n{name} " in out for name in ("conv1", "pool1", "conv2", "fc1", "fc2"))
    assert main(["-q", "sim", str(d / "whole"), "--input", str(d / "x.npy"), "--output",
                 str(d / "y_whole.npy")]) == 0
    tiled_y, whole_y = np.load(d / "y_tiled.npy"), np.load(d / "y_whole.npy")
    assert tiled_y.shape == (4, 6) and np.array_equal(tiled_y, whole_y)


@pytest.mark.rtl
def test_verify_runs_every_part_on_icarus(model, capsys):
    d = model
    assert main(["verify", str(d / "tiled"), "--input", str(d / "x.npy"), "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "tail: 2/2 runs PASS on icarus" in out
    assert "2/2 inputs PASS on icarus, tiled over space" in out


def test_the_ladder_climbs_a_tiled_program(model, capsys):
    d = model
    assert main(["verify", str(d / "tiled"), "--input", str(d / "x.npy"), "--count", "2",
                 "--rungs", "reference,sim"]) == 0
    assert "PASS: reference, sim on 2 inputs" in capsys.readouterr().out


def test_what_a_tiled_program_cannot_do_is_one_line(model, capsys):
    d = model
    assert main(["-q", "sim", str(d / "tiled"), "--plot", str(d / "plots")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tiled over space" in err[0]
    assert not (d / "plots").exists()
    assert main(["-q", "verilog", str(d / "tiled"), "-o", str(d / "v.v")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a program tiled over space" in err[0] and "tiled/tail" in err[0]
    assert not (d / "v.v").exists()
    assert main(["-q", "compile", str(d / "net.onnx"), "--pes", "4", "--act-depth", "12",
                 "--acc-depth", "8", "-o", str(d / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer 2 (conv2): no tile of its 4x4 input map fits" in err[0]
    assert not (d / "none").exists()
    # a tiled program directory is what the next compile may replace; another directory is not
    assert main(["-q", "compile", str(d / "net.onnx"), *TILED, "-o", str(d / "tiled2")]) == 0
    assert main(["-q", "compile", str(d / "net.onnx"), "--pes", "4", "--act-depth", "128",
                 "-o", str(d / "tiled2")]) == 0
    assert not (d / "tiled2" / "tiling.json").exists()
    (d / "other").mkdir()
    assert main(["-q", "compile", str(d / "net.onnx"), *TILED, "-o", str(d / "other")]) == 2
