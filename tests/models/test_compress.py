import numpy as np
import pytest

from zeroskip.models import compress as pipeline
from zeroskip.models.compress import CompressConfig, compress, default_config, with_epochs
from zeroskip.models.data import mnist_split
from zeroskip.models.train import Schedule

QUICK = dict(prune_steps=1, dense=Schedule(3, 0.05, l2=5e-4), prune=Schedule(1, 0.01, l2=5e-4),
             finetune=Schedule(1, 1e-4, optimizer="adam"))


@pytest.fixture(scope="module")
def split():
    return mnist_split(0)


@pytest.fixture(scope="module")
def quick_eie(split):
    return compress(default_config("lenet300", eie=True, **QUICK), data=split)


def test_quick_lenet300_end_to_end(split):
    result = compress(default_config("lenet300", **QUICK), data=split)
    acc = result.accuracy
    assert set(acc) == {"dense", "pruned", "shared", "compressed"}
    assert acc["dense"] > 0.85 and acc["compressed"] > 0.8  # 3 epochs are plenty for that
    assert result.storage.file_bytes == len(result.data)
    assert result.storage.ratio("huffman") > result.storage.ratio("quantized") \
        > result.storage.ratio("pruned") > 1
    for shared, storage in zip(result.model.layers, result.storage.layers):
        assert len(shared.codebook) == 33 and shared.codebook[0] == 0.0  # 2**5 centroids + zero
        assert np.count_nonzero(shared.codes) == storage.nonzero
        assert storage.index_bits == 5
    report = result.report()
    for key in ("accuracy_dense", "accuracy_pruned", "accuracy_compressed", "compression_ratio"):
        assert 0 < report[key]
    assert [layer["name"] for layer in report["layers"]] == ["fc1", "fc2", "fc3"]
    assert {"weights", "nonzero", "bits", "bytes_compressed"} <= set(report["layers"][0])
    assert "fc1" in result.table() and "compressed" in result.table()


def test_quick_eie_mode_fits_4_bits(quick_eie):
    for shared, bits in zip(quick_eie.model.layers, quick_eie.model.index_bits):
        assert len(shared.codebook) == 16 and shared.codebook[0] == 0.0  # 15 centroids + zero
        assert shared.codes.max() <= 15 and bits == 4
    assert quick_eie.report()["eie"] is True


def test_compression_is_deterministic(split, quick_eie):
    again = compress(default_config("lenet300", eie=True, **QUICK), data=split)
    assert again.data == quick_eie.data
    assert again.accuracy == quick_eie.accuracy


def test_quick_lenet5_uses_conv_settings(split):
    x_train, y_train, x_test, y_test = split
    config = default_config("lenet5", quality=(0.3,), prune_steps=1,
                            dense=Schedule(1, 0.02), prune=Schedule(1, 0.005),
                            finetune=Schedule(1, 1e-4, optimizer="adam"))
    result = compress(config, data=(x_train[:300], y_train[:300], x_test[:100], y_test[:100]))
    assert result.model.names == ("conv1", "conv2", "fc1", "fc2")
    assert result.model.index_bits == (8, 8, 5, 5)
    assert [len(layer.codebook) for layer in result.model.layers] == [257, 257, 33, 33]
    assert result.model.layers[1].codes.dtype == np.uint16
    assert result.storage.file_bytes == len(result.data)


@pytest.mark.parametrize("change, message", [
    (dict(model="vgg"), "unknown model"),
    (dict(fc_bits=9), "fc_bits"),
    (dict(conv_bits=0), "conv_bits"),
    (dict(quality=(-1.0,)), "quality"),
    (dict(prune_steps=0), "prune_steps"),
    (dict(eie=True, fc_bits=1), "EIE"),
])
def test_config_validation(change, message):
    with pytest.raises(ValueError, match=message):
        CompressConfig(**change).validate()


def test_with_epochs():
    config = with_epochs(default_config("lenet300"), dense=1, prune=2, finetune=3)
    assert (config.dense.epochs, config.prune.epochs, config.finetune.epochs) == (1, 2, 3)
    assert config.dense.lr == pipeline.DEFAULTS["lenet300"]["dense"].lr


# --- the figures the project promises: full-size runs (minutes) ---

def check_promise(result, min_ratio):
    acc = result.accuracy
    assert acc["dense"] - acc["compressed"] <= 0.010
    assert result.storage.ratio("huffman") >= min_ratio


@pytest.mark.slow
def test_lenet300_40x_within_1pp(split):
    check_promise(compress(default_config("lenet300"), data=split), 40)


@pytest.mark.slow
def test_lenet300_eie_4bit_40x_within_1pp(split):
    check_promise(compress(default_config("lenet300", eie=True), data=split), 40)


@pytest.mark.slow
def test_lenet5_35x_within_1pp(split):
    check_promise(compress(default_config("lenet5"), data=split), 35)
