"""``zeroskip export`` and ``zeroskip compile MODEL.onnx`` from the command line: the export
runs in onnxruntime and compiles to the program the model compiles to; bad input is one line,
exit status 2, nothing written."""

import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import small_layers

from zeroskip.cli import main
from zeroskip.hw.program import load_program
from zeroskip.models.interchange import float_forward, save_interchange

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from onnx_helpers import conv_net, mlp, run_onnxruntime  # noqa: E402


def one_line(capsys, status, argv) -> str:
    assert main(["-q", *(str(a) for a in argv)]) == status
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def test_export_then_compile_gives_the_same_program(tmp_path, capsys):
    layers = small_layers()
    save_interchange(tmp_path / "m.npz", layers)
    assert main(["-q", "export", str(tmp_path / "m.npz"), "-o", str(tmp_path / "m.onnx")]) == 0
    x = np.random.default_rng(0).uniform(-1, 1, (5, 12)).astype(np.float32)
    got = run_onnxruntime((tmp_path / "m.onnx").read_bytes(), x)
    np.testing.assert_allclose(got, float_forward(layers, x), rtol=1e-5, atol=1e-6)
    for model in ("m.npz", "m.onnx"):
        assert main(["-q", "compile", str(tmp_path / model), "--pes", "4",
                     "-o", str(tmp_path / f"prog_{model}")]) == 0
    direct, through_onnx = (load_program(tmp_path / f"prog_{m}") for m in ("m.npz", "m.onnx"))
    assert direct.layers == through_onnx.layers and direct.passes == through_onnx.passes
    for image in ("sparse", "ptr", "bias", "codebook"):
        assert np.array_equal(getattr(direct, image), getattr(through_onnx, image))


def test_compile_of_a_dense_onnx_model_says_it_is_not_weight_shared(tmp_path, capsys):
    (tmp_path / "dense.onnx").write_bytes(
        mlp(np.random.default_rng(1), (300, 20, 10)).SerializeToString())
    line = one_line(capsys, 2, ["compile", tmp_path / "dense.onnx", "-o", tmp_path / "prog"])
    assert "dense.onnx: node 'fc1': its weights have" in line and "not weight-shared" in line
    assert not (tmp_path / "prog").exists()


@pytest.mark.parametrize("command", ["compile", "export"])
def test_bad_onnx_files_are_one_line_and_write_nothing(command, tmp_path, capsys):
    data = conv_net(np.random.default_rng(2)).SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[:len(data) // 2])
    (tmp_path / "text.onnx").write_text("not a model\n")
    out = tmp_path / ("prog" if command == "compile" else "out.onnx")
    for name in ("cut.onnx", "text.onnx"):
        line = one_line(capsys, 2, [command, tmp_path / name, "-o", out])
        assert line.startswith(f"zeroskip {command}: error: {tmp_path / name}: not ")
    # an unsupported operator names the node
    model = conv_net(np.random.default_rng(3))
    model.graph.node[2].op_type = "Sigmoid"                  # the first Relu
    (tmp_path / "op.onnx").write_bytes(model.SerializeToString())
    line = one_line(capsys, 2, [command, tmp_path / "op.onnx", "-o", out])
    assert line.endswith("op.onnx: node 'relu1' (Sigmoid) is not supported")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.onnx", "op.onnx", "text.onnx"]


def test_export_refuses_a_binary_model(tmp_path, capsys):
    from zeroskip.models import binary_ref
    from zeroskip.models.binary_fold import FoldedLayer

    rng = np.random.default_rng(4)
    binary_ref.save(tmp_path / "b.npz", [FoldedLayer("fc1", rng.random((5, 20)) < 0.5, 0,
                                                     scale=rng.uniform(0.1, 1, 5),
                                                     offset=rng.normal(0, 1, 5))])
    line = one_line(capsys, 2, ["export", tmp_path / "b.npz", "-o", tmp_path / "b.onnx"])
    assert "b.npz: layer 0 is a FoldedLayer; only weight-shared" in line
    assert not (tmp_path / "b.onnx").exists()
