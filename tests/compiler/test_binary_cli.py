"""``compile_file`` / ``zeroskip compile`` on a folded binary model file (binary_ref.save)."""

import numpy as np
from compiler_helpers import random_layer, write_interchange

from zeroskip.cli import main
from zeroskip.compiler import compile_file
from zeroskip.hw import reference
from zeroskip.hw.kinds import decode_binary_layer
from zeroskip.hw.program import KIND_BINARY, load_program
from zeroskip.models import binary_ref
from zeroskip.models.binary_fold import FoldedLayer


def binary_model(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    hidden = FoldedLayer("fc1", rng.random((24, 50)) < 0.5, 8,
                         thresholds=rng.integers(-800, 800, 24), flip=rng.random(24) < 0.3)
    last = FoldedLayer("fc2", rng.random((5, 24)) < 0.5, 0, scale=rng.uniform(0.1, 1, 5),
                       offset=rng.normal(0, 1, 5))
    path = tmp_path / "binary.npz"
    binary_ref.save(path, [hidden, last])
    return str(path), [hidden, last]


def test_compile_file_sniffs_a_binary_model(tmp_path):
    path, layers = binary_model(tmp_path)
    program = compile_file(path, "small")
    assert [l.kind for l in program.layers] == [KIND_BINARY] * 2
    assert program.meta["source"] == path
    for index, layer in enumerate(layers):
        assert np.array_equal(decode_binary_layer(program, index), layer.weights)
    x_int = np.random.default_rng(1).integers(0, 256, (8, 50))
    assert np.array_equal(reference.predict_int(program, x_int), binary_ref.last_dots(layers, x_int))


def test_compile_file_still_reads_interchange_files(tmp_path):
    rng = np.random.default_rng(2)
    write_interchange(tmp_path / "model.npz", [random_layer(rng, 9, 5)])
    assert compile_file(str(tmp_path / "model.npz"), "small").layers[0].kind == 0


def test_cli_compiles_a_binary_model_and_prints_binary_layers(tmp_path, capsys):
    path, layers = binary_model(tmp_path)
    out = str(tmp_path / "prog")
    assert main(["compile", path, "--arch", "small", "--pes", "3", "--balance", "-o", out]) == 0
    printed = capsys.readouterr().out
    assert "2 layers, 2 passes on small (3 PEs)" in printed
    assert "layer 0:     50 -> 24     binary  passes   1  lines       8  reads 8-bit planes, " \
           "writes ±1 by threshold" in printed
    assert "reads bipolar bits, writes integer dots" in printed
    program = load_program(out)
    x = np.random.default_rng(3).uniform(0, 1, (6, 50))
    x_int = binary_ref.quantize_pixels(np.round(x * 255) / 255)
    assert np.array_equal(reference.predict(program, x_int / 255),
                          binary_ref.last_dots(layers, x_int).astype(np.float32))
    assert program.output_affine["offset"] == layers[1].offset.tolist()


def test_cli_reports_a_binary_model_that_does_not_fit(tmp_path, capsys):
    path, _ = binary_model(tmp_path)
    assert main(["compile", path, "--pes", "16", "--line-bits", "8", "-o", str(tmp_path / "p")]) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "layer 0: a binary pass needs pes <= line_bits, but the architecture has 16 PEs and 8-bit lines")
