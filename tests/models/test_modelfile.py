import json
import struct
import zlib

import numpy as np
import pytest
from models_helpers import tiny_conv, tiny_fc

from zeroskip.errors import ZeroskipError
from zeroskip.models import modelfile


def assert_same_model(a, b):
    assert a.network == b.network and a.names == b.names and a.index_bits == b.index_bits
    for x, y in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(x.codebook, y.codebook)
        np.testing.assert_array_equal(x.codes, y.codes)
        np.testing.assert_array_equal(x.bias, y.bias)
        assert x.act == y.act and x.codes.dtype == y.codes.dtype


@pytest.mark.parametrize("make", [tiny_fc, tiny_conv])
@pytest.mark.parametrize("index_bits", [1, 3, 8])
def test_round_trip_is_exact(make, index_bits, tmp_path):
    model = make(index_bits=index_bits)
    path = tmp_path / "m.zsk"
    modelfile.save(path, model)
    loaded = modelfile.load(path)
    assert_same_model(model, loaded)
    assert modelfile.encode(loaded)[0] == path.read_bytes()  # re-encoding is byte-identical


def test_wide_codebooks_round_trip(tmp_path):
    model = tiny_fc(k=256, density=0.9)  # codes up to 256 need uint16
    path = tmp_path / "m.zsk"
    modelfile.save(path, model)
    assert modelfile.load(path).layers[0].codes.dtype == np.uint16
    assert_same_model(model, modelfile.load(path))


def test_to_network_uses_the_shared_weights():
    model = tiny_conv()
    net = model.to_network()
    for layer, shared in zip(net.weighted(), model.layers):
        np.testing.assert_array_equal(layer.params["W"].reshape(shared.shape), shared.weights())
        np.testing.assert_array_equal(layer.params["b"], shared.bias)
    assert [layer.act for layer in tiny_fc().layers] == ["relu", "none"]


def test_fc_layers_refuses_convolutions():
    assert len(tiny_fc().fc_layers()) == 2
    with pytest.raises(ZeroskipError, match="conv2d"):
        tiny_conv().fc_layers("m.zsk")


def test_truncated_files_are_rejected(tmp_path):
    data, _ = modelfile.encode(tiny_fc())
    for cut in sorted({1, 8, 12, 20, 100, len(data) // 2, len(data) - 5, len(data) - 1}):
        path = tmp_path / f"cut{cut}.zsk"
        path.write_bytes(data[:cut])
        with pytest.raises(ZeroskipError, match=str(path)):
            modelfile.load(path)


def test_foreign_files_are_rejected(tmp_path):
    path = tmp_path / "x.zsk"
    for content in (b"", b"\x89PNG\r\n\x1a\n" + bytes(100), b"PK\x03\x04" + bytes(40)):
        path.write_bytes(content)
        with pytest.raises(ZeroskipError, match="not a zeroskip model file"):
            modelfile.load(path)
    with pytest.raises(ZeroskipError, match="no such file"):
        modelfile.load(tmp_path / "missing.zsk")


def test_corruption_is_detected(tmp_path):
    data, _ = modelfile.encode(tiny_fc())
    path = tmp_path / "x.zsk"
    flipped = bytearray(data)
    flipped[-20] ^= 0x01  # inside the last bit stream
    path.write_bytes(bytes(flipped))
    with pytest.raises(ZeroskipError, match=str(path)):
        modelfile.load(path)
    path.write_bytes(data + b"\x00")
    with pytest.raises(ZeroskipError):
        modelfile.load(path)


def test_unsupported_version(tmp_path):
    data, _ = modelfile.encode(tiny_fc())
    body = data[:8] + struct.pack("<H", 99) + data[10:-4]
    path = tmp_path / "v.zsk"
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(ZeroskipError, match="version 99"):
        modelfile.load(path)


def test_pack_uints_round_trip():
    values = np.array([0, 5, 7, 1, 6])
    data = modelfile.pack_uints(values, 3)
    assert len(data) == modelfile.packed_bytes(5, 3) == 2
    np.testing.assert_array_equal(modelfile.unpack_uints(data, 3, 5), values)


def test_checksum_is_verified_before_the_header_is_parsed(tmp_path):
    """An edited header without a fixed checksum: the checksum speaks first."""
    path = tmp_path / "m.zsk"
    modelfile.save(path, tiny_fc())
    data = bytearray(path.read_bytes())
    at = data.index(b'"rows":')
    data[at:at + 7] = b'"ROWS":'
    path.write_bytes(bytes(data))
    with pytest.raises(ZeroskipError, match="checksum mismatch"):
        modelfile.load(path)


def test_a_small_file_declaring_a_huge_layer_allocates_nothing(tmp_path):
    """A ~300-byte file (valid checksum) declaring a 200000 x 200000 layer: one error line."""
    header = json.dumps({"network": {"name": "x", "layers": [
        {"kind": "dense", "in": 200000, "out": 200000}]},
        "layers": [{"name": "fc1", "rows": 200000, "cols": 200000, "codebook_size": 16,
                    "index_bits": 4, "act": "none"}]}).encode()
    body = struct.pack("<8sHI", modelfile.MAGIC, 1, len(header)) + header + bytes(64)
    path = tmp_path / "huge.zsk"
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    assert len(path.read_bytes()) < 400
    with pytest.raises(ZeroskipError, match="weights, more than|outputs, more than"):
        modelfile.load(path)


@pytest.mark.parametrize("edit", [
    lambda h: h["layers"][0].update(codebook_size="16"),
    lambda h: h["layers"][0].update(index_bits=None),
    lambda h: h.update(layers={"a": 1}),
    lambda h: h["network"]["layers"][0].update(kind="lstm"),
    lambda h: h["network"]["layers"][0].update({"in": -4}),
    lambda h: h.update(network=[]),
])
def test_edited_headers_with_a_fixed_checksum_are_one_line(edit, tmp_path):
    path = tmp_path / "m.zsk"
    modelfile.save(path, tiny_fc())
    raw = path.read_bytes()
    size = struct.calcsize("<8sHI")
    _, _, length = struct.unpack("<8sHI", raw[:size])
    header = json.loads(raw[size:size + length])
    edit(header)
    new = json.dumps(header).encode()
    body = struct.pack("<8sHI", modelfile.MAGIC, 1, len(new)) + new + raw[size + length:-4]
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(ZeroskipError) as error:
        modelfile.load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_devices_and_directories_are_not_model_files(tmp_path):
    with pytest.raises(ZeroskipError, match="not a regular file"):
        modelfile.load("/dev/zero")
    with pytest.raises(ZeroskipError, match="directory"):
        modelfile.load(tmp_path)
