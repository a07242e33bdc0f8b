import os

import numpy as np
import pytest
from models_helpers import tiny_conv, tiny_fc

from zeroskip.errors import ZeroskipError
from zeroskip.models import modelfile
from zeroskip.models.interchange import (SharedLayer, float_forward, load_array_layers,
                                         load_interchange, save_interchange)


def layers():
    return list(tiny_fc().layers)


def arrays(stack):
    out = {}
    for i, layer in enumerate(stack):
        out.update({f"codebook_{i}": layer.codebook, f"codes_{i}": layer.codes,
                    f"bias_{i}": layer.bias, f"act_{i}": np.array(layer.act)})
    return out


def test_round_trip(tmp_path):
    path = tmp_path / "m.npz"
    save_interchange(path, layers())
    loaded = load_interchange(path)
    for a, b in zip(layers(), loaded, strict=True):
        np.testing.assert_array_equal(a.codebook, b.codebook)
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert a.act == b.act and b.codes.dtype == np.uint8 and b.codebook.dtype == np.float32
    with np.load(path) as raw:  # the documented keys, nothing else
        assert sorted(raw.files) == sorted(arrays(layers()))
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind


def test_load_array_layers_sniffs_both_formats(tmp_path):
    model = tiny_fc()
    modelfile.save(tmp_path / "m.zsk", model)
    save_interchange(tmp_path / "m.npz", list(model.layers))
    from_model = load_array_layers(tmp_path / "m.zsk")
    from_npz = load_array_layers(tmp_path / "m.npz")
    x = np.random.default_rng(0).random((4, 40))
    np.testing.assert_array_equal(float_forward(from_model, x), float_forward(from_npz, x))
    modelfile.save(tmp_path / "c.zsk", tiny_conv())
    conv = load_array_layers(tmp_path / "c.zsk")        # conv models load since conv lowering
    assert [type(layer).__name__ for layer in conv] == ["MapInput", "SharedConv", "SharedLayer"]
    (tmp_path / "junk.bin").write_bytes(b"hello world")
    with pytest.raises(ZeroskipError, match="junk.bin: neither"):
        load_array_layers(tmp_path / "junk.bin")
    with pytest.raises(ZeroskipError, match="no such file"):
        load_array_layers(tmp_path / "missing.npz")


def test_float_forward_known_answer():
    first = SharedLayer(np.array([0, 1, -2], np.float32),
                        np.array([[1, 0], [2, 2], [0, 1]], np.uint8),
                        np.array([0.5, 0, -1], np.float32), "relu")
    second = SharedLayer(np.array([0, 3], np.float32), np.array([[1, 1, 1]], np.uint8),
                         np.array([1], np.float32), "none")
    x = np.array([2.0, 1.0])
    # first: W = [[1,0],[-2,-2],[0,1]] -> [2.5, -6, 0] -> relu [2.5, 0, 0]; second: 3*2.5 + 1
    np.testing.assert_allclose(float_forward([first, second], x), [8.5])
    out = float_forward([first, second], np.stack([x, -x]))
    assert out.shape == (2, 1) and out.dtype == np.float64


@pytest.mark.parametrize("key, value, message", [
    ("codes_1", None, "missing key codes_1"),
    ("bias_0", np.zeros(3, np.float32), "bias_0 must have shape"),
    ("codebook_1", np.array([0, np.nan], np.float32), "codebook_1 contains NaN"),
    ("codebook_0", np.array([0.5, 1.0], np.float32), "codebook_0 entry 0 must be 0.0"),
    ("codes_0", np.full((30, 40), 99, np.uint8), "codes_0 values must be in"),
    ("codes_0", np.full((30, 40), -1, np.int64), "codes_0 values must be in"),
    ("codes_0", np.zeros((30, 40), np.float32), "codes_0 must be integers"),
    ("act_1", np.array("tanh"), "act_1 must be 'relu' or 'none'"),
    ("codes_1", np.zeros((5, 7), np.uint8), "codes_1 has 7 inputs"),
    ("bias_5", np.zeros(1, np.float32), "unexpected key bias_5"),
])
def test_bad_files_name_file_and_key(tmp_path, key, value, message):
    content = arrays(layers())
    if value is None:
        del content[key]
    else:
        content[key] = value
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(ZeroskipError, match=f"bad.npz: .*{message}"):
        load_interchange(path)


def test_other_arrays_may_ride_along(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, x=np.ones(40), y_ref=np.zeros(5), **arrays(layers()))
    assert len(load_interchange(path)) == 2


def test_not_an_npz(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"PK\x03\x04 but not really a zip")
    with pytest.raises(ZeroskipError, match="x.npz"):
        load_interchange(path)
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ZeroskipError, match="missing key codebook_0"):
        load_interchange(path)


def test_shared_layer_validates_itself():
    good = layers()[0]
    with pytest.raises(ZeroskipError, match="SharedLayer act"):
        SharedLayer(good.codebook, good.codes, good.bias, "sigmoid")
    with pytest.raises(ZeroskipError, match="SharedLayer codebook"):
        SharedLayer(good.codebook.astype(np.float64), good.codes, good.bias, "relu")


def test_save_refuses_unchained_layers(tmp_path):
    first, second = layers()
    with pytest.raises(ZeroskipError, match="inputs"):
        save_interchange(tmp_path / "m.npz", [second, first])
    assert not os.listdir(tmp_path)


def test_an_array_header_declaring_more_than_its_member_holds(tmp_path):
    """A member whose .npy header claims a huge shape: refused before anything is allocated."""
    import io
    import zipfile

    from zeroskip.errors import ZeroskipError
    from zeroskip.models.interchange import load_interchange

    fake = io.BytesIO()
    np.lib.format.write_array_header_1_0(fake, {"descr": "<f4", "fortran_order": False,
                                                "shape": (200000, 200000)})
    fake = fake.getvalue() + bytes(16)
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("codebook_0.npy", fake)
    with pytest.raises(ZeroskipError, match="more data than"):
        load_interchange(path)


def test_fifos_and_devices_are_refused_without_blocking(tmp_path):
    import os

    from zeroskip.errors import ZeroskipError
    from zeroskip.models.interchange import load_array_layers

    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", "/dev/zero", tmp_path):
        with pytest.raises(ZeroskipError):
            load_array_layers(path)
