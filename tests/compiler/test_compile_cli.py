"""``zeroskip compile``: writes a loadable program; bad input exits 2 with one line."""

import numpy as np
from compiler_helpers import random_layer, write_interchange

from zeroskip.cli import main
from zeroskip.hw import reference
from zeroskip.hw.program import load_program


def model(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    layers = [random_layer(rng, 40, 12, 0.4), random_layer(rng, 6, 40, 0.4, act="none")]
    write_interchange(tmp_path / "model.npz", layers)
    return str(tmp_path / "model.npz"), layers


def test_compile_writes_a_program_and_prints_a_summary(tmp_path, capsys):
    path, layers = model(tmp_path)
    x = np.random.default_rng(1).uniform(-2, 2, (10, 12))
    x[3, 4] = 2.0
    np.save(tmp_path / "x.npy", x)
    out = str(tmp_path / "prog")
    assert main(["compile", path, "--arch", "small", "--pes", "3", "--balance",
                 "--calibration", str(tmp_path / "x.npy"), "-o", out]) == 0
    printed = capsys.readouterr().out
    assert "2 layers, 2 passes on small (3 PEs)" in printed and "sparse lines" in printed
    program = load_program(out)
    assert program.arch.pes == 3 and program.output_index is not None
    assert program.layers[0].in_frac == 13                 # |x| <= 2 fits 16 bits with 13
    assert reference.predict(program, x).shape == (10, 6)


def test_quiet_prints_nothing(tmp_path, capsys):
    path, _ = model(tmp_path)
    assert main(["-q", "compile", path, "-o", str(tmp_path / "prog")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def exit_two(argv, capsys, message):
    assert main(argv) == 2
    last = capsys.readouterr().err.splitlines()[-1]       # after any progress lines
    assert last.startswith("zeroskip compile: error: ") and message in last


def test_missing_model(tmp_path, capsys):
    exit_two(["compile", str(tmp_path / "none.npz"), "-o", str(tmp_path / "p")], capsys,
             "none.npz: no such file")


def test_bad_calibration_file(tmp_path, capsys):
    path, _ = model(tmp_path)
    (tmp_path / "x.npy").write_text("not numpy")
    exit_two(["compile", path, "--calibration", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p")],
             capsys, "x.npy: not a readable .npy array")
    np.save(tmp_path / "y.npy", np.zeros((3, 5)))
    exit_two(["compile", path, "--calibration", str(tmp_path / "y.npy"), "-o", str(tmp_path / "p")],
             capsys, "calibration data has shape (3, 5); expected [batch, 12]")


def test_layer_not_fitting_and_unknown_arch(tmp_path, capsys):
    path, _ = model(tmp_path)
    exit_two(["compile", path, "--sparse-depth", "2", "-o", str(tmp_path / "p")], capsys,
             "layer 0 does not fit")
    exit_two(["compile", path, "--arch", "huge", "-o", str(tmp_path / "p")], capsys,
             "unknown architecture 'huge'")
    assert not (tmp_path / "p").exists()


def test_output_rules(tmp_path, capsys):
    """-o replaces only a previous program directory, never another directory, a file or an
    input; nothing is written when it refuses."""
    path, _ = model(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("x")
    exit_two(["compile", path, "-o", str(tmp_path / "d")], capsys, "refusing to replace it")
    exit_two(["compile", path, "-o", path], capsys, "would overwrite the input")
    exit_two(["compile", path, "-o", str(tmp_path / "d" / "notes.txt")], capsys,
             "exists and is not a directory")
    assert (tmp_path / "d" / "notes.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "model.npz"]


def test_calibration_holds_real_values_whatever_the_dtype(tmp_path, capsys):
    """uint8 calibration is real values 0..255: the input scale covers them."""
    path, _ = model(tmp_path)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).integers(0, 256, (5, 12)).astype(np.uint8))
    assert main(["-q", "compile", path, "--calibration", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "prog")]) == 0
    assert load_program(str(tmp_path / "prog")).layers[0].in_frac <= 7    # 255 needs 8+ bits
    for bad, message in ((np.zeros((0, 12)), "empty batch"), (np.float64(1.0), "single number"),
                         (np.full((2, 12), np.nan), "NaN")):
        np.save(tmp_path / "bad.npy", bad)
        exit_two(["compile", path, "--calibration", str(tmp_path / "bad.npy"),
                  "-o", str(tmp_path / "p2")], capsys, message)


def test_the_summary_names_each_conv_s_window():
    """Conv and pool layers say their window, FC layers their activation."""
    import dataclasses

    from zeroskip.compiler.cli_compile import summary
    from zeroskip.compiler.conv import random_conv_program
    from zeroskip.hw.arch import PRESETS

    arch = dataclasses.replace(PRESETS["small"], pes=4, act_depth=128, acc_depth=4,
                               sparse_depth=256, ptr_depth=512, bias_depth=64, max_passes=24)
    program, _ = random_conv_program(arch, 9, density=0.5, batch=2, input_density=0.6, height=6,
                                     width=6, channels=3, convs=((6, 3, 1, 1),), pool=(2, 2),
                                     classes=3, relu=True)
    lines = summary(program, 0.0)
    assert "conv 3x3/1 pad 1 relu  passes" in lines[1]
    assert "max 2x2/2  passes" in lines[2]
    assert "none  passes" in lines[3]                      # the FC head: its activation
    # with lane passes, the pool says it runs as lane passes
    lanes, _ = random_conv_program(dataclasses.replace(arch, lane_passes=1), 9, density=0.5,
                                   batch=2, input_density=0.6, height=6, width=6, channels=3,
                                   convs=((6, 3, 1, 1),), pool=(2, 2), classes=3, relu=True)
    lines = summary(lanes, 0.0)
    assert "conv 3x3/1 pad 1 relu  passes" in lines[1] and "max 2x2/2 lanes  passes" in lines[2]
    # a conv from a one-channel map reads one channel per row: with row passes it says so
    rows, _ = random_conv_program(dataclasses.replace(arch, acc_depth=16, ptr_depth=1024), 9,
                                  density=0.5, batch=2, input_density=0.6, height=6, width=6,
                                  channels=1, convs=((6, 3, 1, 1),), pool=None, classes=None,
                                  relu=True, row_passes=True)
    assert "conv 3x3/1 pad 1 relu rows  passes" in summary(rows, 0.0)[1]
    # a bottleneck's depthwise layer writes beside the shortcut resting in its bank
    from zeroskip.compiler.graph import random_graph_program

    bottleneck, _, _ = random_graph_program(PRESETS["small"], 3, "bottleneck", width=4)
    lines = summary(bottleneck, 0.0)
    assert "conv 3x3/1 pad 1 relu beside 4 resting  passes" in lines[3]
