"""``zeroskip sim``: outputs, JSON report, plots, and one-line exit-2 errors."""

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.compiler import compile_layers
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.program import load_program
from zeroskip.hw.reference import predict


@pytest.fixture(scope="module")
def progdir(tmp_path_factory):
    rng = np.random.default_rng(0)
    layers = []
    for n_in, n_out, act in ((40, 30, "relu"), (30, 10, "none")):
        codes = np.where(rng.random((n_out, n_in)) < 0.3, rng.integers(1, 16, (n_out, n_in)), 0)
        layers.append(SimpleNamespace(codebook=np.linspace(-1, 1, 16).astype(np.float32) * (np.arange(16) > 0),
                                      codes=codes, bias=rng.normal(0, 0.1, n_out).astype(np.float32),
                                      act=act))
    directory = str(tmp_path_factory.mktemp("prog") / "p")
    compile_layers(layers, PRESETS["small"]).save(directory)
    return directory


def test_outputs_report_and_plots(progdir, tmp_path, capsys):
    x = np.random.default_rng(1).random((3, 40)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = main(["sim", progdir, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                 "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "plots"), "-q"])
    assert code == 0
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float32 and np.array_equal(y, predict(load_program(progdir), x))
    report = json.loads((tmp_path / "r.json").read_text())
    for key in ("cycles", "ideal_cycles", "efficiency", "energy_pj", "layers", "batch", "mean_per_input"):
        assert key in report
    assert report["batch"] == 3 and len(report["per_input"]["cycles"]) == 3
    assert report["cycles"] == sum(report["per_input"]["cycles"])
    for layer in report["layers"]:
        assert {"cycles", "ideal_cycles", "macs", "energy_pj"} <= set(layer)
    assert sorted(os.listdir(tmp_path / "plots")) == ["energy.png", "layers.png", "pe_work.png"]
    assert "total" in capsys.readouterr().out


def test_random_input_is_announced_and_shaped(progdir, tmp_path, capsys):
    assert main(["sim", progdir, "--output", str(tmp_path / "y.npy"), "-q"]) == 0
    assert "seeded random input" in capsys.readouterr().out
    assert np.load(tmp_path / "y.npy").shape == (10,)


def corrupt(progdir, tmp_path):
    import shutil
    copy = str(tmp_path / "bad")
    shutil.copytree(progdir, copy)
    with open(os.path.join(copy, "sparse.bin"), "r+b") as f:
        f.write(b"\xff")
    return copy


@pytest.mark.parametrize("case, message", [
    ("missing", "no such program directory"),
    ("corrupt", "corrupted"),
    ("short", "x.npy"),
    ("nan", "NaN"),
    ("not-npy", "not a readable .npy"),
    ("energy", "unknown action"),
])
def test_bad_input_exits_2_with_one_line(progdir, tmp_path, capsys, case, message):
    args = ["sim", progdir]
    if case == "missing":
        args = ["sim", str(tmp_path / "nowhere")]
    elif case == "corrupt":
        args = ["sim", corrupt(progdir, tmp_path)]
    elif case in ("short", "nan"):
        x = np.zeros(39 if case == "short" else 40, np.float32)
        x[0] = np.nan if case == "nan" else 0
        np.save(tmp_path / "x.npy", x)
        args += ["--input", str(tmp_path / "x.npy")]
    elif case == "not-npy":
        (tmp_path / "x.npy").write_text("hello")
        args += ["--input", str(tmp_path / "x.npy")]
    elif case == "energy":
        (tmp_path / "e.json").write_text('{"actions": {"laser": {"pj": 1}}}')
        args += ["--energy", str(tmp_path / "e.json")]
    assert main(args + ["-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("zeroskip sim: error:")


def one_error(capsys, argv, message):
    assert main([str(a) for a in argv]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines


def test_input_files_hold_real_values(progdir, tmp_path, capsys):
    """The rule (docs/cli.md): real values whatever the dtype; what the input format cannot
    represent is an error, not a saturation; integer activations need --quantized."""
    pixels = np.full((2, 40), 255, np.uint8)
    np.save(tmp_path / "u8.npy", pixels)
    one_error(capsys, ["sim", progdir, "--input", tmp_path / "u8.npy"], "outside the program's input range")
    np.save(tmp_path / "u8.npy", (pixels // 255).astype(np.uint8))       # 0/1 are in range
    assert main(["-q", "sim", progdir, "--input", str(tmp_path / "u8.npy"),
                 "--output", str(tmp_path / "a.npy")]) == 0
    np.save(tmp_path / "f.npy", np.ones((2, 40)))
    assert main(["-q", "sim", progdir, "--input", str(tmp_path / "f.npy"),
                 "--output", str(tmp_path / "b.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_quantized_inputs(progdir, tmp_path, capsys):
    program = load_program(progdir)
    from zeroskip.hw.reference import quantize_input
    x = np.random.default_rng(2).random((3, 40))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "xq.npy", quantize_input(program, x))
    assert main(["-q", "sim", progdir, "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    assert main(["-q", "sim", progdir, "--input", str(tmp_path / "xq.npy"), "--quantized",
                 "--output", str(tmp_path / "yq.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "yq.npy"))
    one_error(capsys, ["sim", progdir, "--input", tmp_path / "x.npy", "--quantized"],
              "--quantized takes integer activations")
    np.save(tmp_path / "big.npy", np.full((1, 40), 2 ** 20))
    one_error(capsys, ["sim", progdir, "--input", tmp_path / "big.npy", "--quantized"],
              "outside the array's")


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p, np.zeros((0, 40))), "empty batch"),
    (lambda p: np.save(p, np.float32(1)), "single number"),
    (lambda p: np.savez(p, x=np.zeros(40)), ".npz archive"),
    (lambda p: np.save(p, np.zeros((2, 3, 40))), "shape"),
    (lambda p: np.save(p, np.array(["a"] * 40)), "numeric"),
])
def test_bad_input_files(make, message, progdir, tmp_path, capsys):
    path = tmp_path / "x.npy"
    with open(path, "wb") as f:
        make(f)
    one_error(capsys, ["sim", progdir, "--input", path, "--output", tmp_path / "y.npy"], message)
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


def test_labels_give_the_accuracy(progdir, tmp_path, capsys):
    x = np.random.default_rng(3).random((8, 40)).astype(np.float32)
    want = predict(load_program(progdir), x).argmax(axis=1)
    labels = want.copy()
    labels[:3] = (labels[:3] + 1) % 10                       # three wrong on purpose
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", labels.astype(np.int64))
    assert main(["sim", progdir, "--input", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--json", str(tmp_path / "r.json"), "-q"]) == 0
    assert "accuracy: 62.50% on 8 inputs" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == 0.625
    np.save(tmp_path / "short.npy", labels[:5].astype(np.int64))
    assert main(["sim", progdir, "--input", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "short.npy")]) == 2
    assert "expected 8 integer labels" in capsys.readouterr().err


def test_layer_names_come_from_the_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    codes = np.where(rng.random((6, 12)) < 0.5, rng.integers(1, 16, (6, 12)), 0)
    layer = SimpleNamespace(codebook=np.linspace(-1, 1, 16) * (np.arange(16) > 0), codes=codes,
                            bias=np.zeros(6), act="none", name="fc7")
    compile_layers([layer], PRESETS["small"]).save(str(tmp_path / "p"))
    assert main(["sim", str(tmp_path / "p"), "-q"]) == 0
    assert "\nfc7 " in capsys.readouterr().out
