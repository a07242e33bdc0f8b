import json
import types

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.models import compress as pipeline
from zeroskip.demo import demo_compress
from zeroskip.models.interchange import load_array_layers

TINY = ["--epochs", "1", "--prune-steps", "1", "--prune-epochs", "1", "--finetune-epochs", "1"]


def test_compress_writes_model_interchange_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["compress", "lenet300", "--eie", "--json", "r.json", "--interchange", "m.npz",
                 "-q", *TINY])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""  # -q: no progress lines
    assert "fc1" in out and "accuracy" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet300.zsk", "m.npz", "r.json"]
    report = json.loads((tmp_path / "r.json").read_text())
    for key in ("accuracy_dense", "accuracy_pruned", "accuracy_compressed", "compression_ratio"):
        assert isinstance(report[key], float)
    assert report["file_bytes"] == (tmp_path / "lenet300.zsk").stat().st_size
    assert all(layer["bits"] == 4 for layer in report["layers"])
    a, b = load_array_layers(tmp_path / "lenet300.zsk"), load_array_layers(tmp_path / "m.npz")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.codes, y.codes)


def test_progress_lines_per_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compress", "lenet300", "-o", "x.zsk", "--quality", "1.0", *TINY]) == 0
    err = capsys.readouterr().err
    assert "dense epoch 1/1" in err and "retrain 1/1 epoch 1/1" in err
    assert (tmp_path / "x.zsk").exists()


@pytest.mark.parametrize("argv, message", [
    (["lenet9"], "invalid choice: 'lenet9'"),
    (["lenet300", "--bits", "9"], "--bits 9: must be in 1..8"),
    (["lenet300", "--bits", "0"], "--bits 0: must be in 1..8"),
    (["lenet5", "--conv-bits", "12"], "--conv-bits 12: must be in 1..8"),
    (["lenet300", "--bits", "x"], "invalid int value: 'x'"),
    (["lenet300", "--quality", "-1"], "--quality -1: must be >= 0"),
    (["lenet300", "--quality", "abc"], "--quality 'abc': expected a number"),
    (["lenet300", "--quality", "1,2"], "give one value or 3"),
    (["lenet300", "--epochs", "-1"], "--epochs -1: must be >= 0"),
    (["lenet5", "--interchange", "m.npz"], "fully-connected networks only"),
    (["lenet300", "-o", "."], "is a directory"),
    (["mobilenet", "--distill-from", "mobilenet"], "invalid choice: 'mobilenet'"),
    (["squeezenet", "--distill-from", "alexnet"], "invalid choice: 'alexnet'"),
    (["shufflenet", "--temperature", "0"], "--temperature 0.0: must be > 0"),
    (["shufflenet", "--temperature", "nan"], "--temperature nan: must be > 0"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys, argv,
                                                         message):
    monkeypatch.chdir(tmp_path)
    assert exit_code(["compress", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def exit_code(argv):
    """``main``'s exit status, whether it returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


def test_demo_compress(tmp_path, monkeypatch, capsys):
    quick = lambda model, eie=False, **kw: pipeline.with_epochs(  # noqa: E731
        pipeline.CompressConfig(model=model, eie=eie, fc_bits=4, fc_index_bits=4,
                                quality=(1.0,), prune_steps=1, **kw), 1, 1, 1)
    monkeypatch.setattr(pipeline, "default_config", quick)
    result = demo_compress(types.SimpleNamespace(out=str(tmp_path / "demo"), seed=0, quiet=True))
    assert "EIE 4-bit" in capsys.readouterr().out
    assert result.model_path.exists() and result.interchange_path.exists()
    assert len(result.layers) == 3
    assert all(len(layer.codebook) == 16 and layer.codes.max() <= 15 for layer in result.layers)
    assert result.x_test.shape == (1000, 784) and result.y_test.shape == (1000,)
    assert result.report["eie"] is True
    for path in (result.model_path, result.interchange_path):
        for got, want in zip(load_array_layers(path), result.layers, strict=True):
            np.testing.assert_array_equal(got.codes, want.codes)
            np.testing.assert_array_equal(got.codebook, want.codebook)


def test_distill_from_and_temperature_reach_the_pipeline(tmp_path, monkeypatch):
    seen = []

    def fake_compress(config, progress=None):
        seen.append(config)
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "compress", fake_compress)
    # the interrupt ends the command as Ctrl-C would (130), before anything is written
    assert main(["compress", "mobilenet", "--distill-from", "mobilenet-standard",
                 "--temperature", "2.5", "-q"]) == 130
    assert (seen[0].model, seen[0].distill_from, seen[0].distill_temperature) == \
        ("mobilenet", "mobilenet-standard", 2.5)
    assert main(["compress", "squeezenet", "-q"]) == 130
    assert (seen[1].distill_from, seen[1].distill_temperature) == ("", 4.0)
    assert list(tmp_path.iterdir()) == []
