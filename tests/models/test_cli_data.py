"""zeroskip data mnist: the zoo's split as .npy files."""

import numpy as np

from zeroskip.cli import main
from zeroskip.models.data import mnist_split


def test_writes_the_split_the_zoo_uses(tmp_path, capsys):
    assert main(["data", "mnist", "--split", "train", "--count", "30", "-o", str(tmp_path / "c.npy")]) == 0
    assert main(["data", "mnist", "-o", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy")]) == 0
    x_train, _, x_test, y_test = mnist_split(0)
    calib = np.load(tmp_path / "c.npy")
    assert calib.dtype == np.float32 and np.array_equal(calib, x_train[:30])
    assert np.array_equal(np.load(tmp_path / "x.npy"), x_test)
    labels = np.load(tmp_path / "y.npy")
    assert labels.dtype == np.int64 and np.array_equal(labels, y_test)
    assert "wrote 1000 test images" in capsys.readouterr().out


def test_bad_count_is_one_line(tmp_path, capsys):
    assert main(["data", "mnist", "--count", "0", "-o", str(tmp_path / "x.npy")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert not (tmp_path / "x.npy").exists()
