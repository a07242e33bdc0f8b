import numpy as np
import pytest

from zeroskip.models import modelfile
from zeroskip.models.interchange import SharedLayer
from zeroskip.models.storage import StorageReport, account_layer, format_table


def hand_layer():
    """2 x 20 codes, K = 4, r = 2 (a filler covers 3 zeros and itself).

    row 0: code 1 at col 0, code 2 at col 9 -> (1, z0) (0, z3) (0, z3) (2, z0): 2 fillers
    row 1: code 3 at col 2, code 1 at col 3 -> (3, z2) (1, z0)
    """
    codes = np.zeros((2, 20), np.uint8)
    codes[0, 0], codes[0, 9], codes[1, 2], codes[1, 3] = 1, 2, 3, 1
    return SharedLayer(np.array([0, 0.5, -0.5, 1], np.float32), codes,
                       np.zeros(2, np.float32), "none")


def test_hand_computed_layer_with_fillers():
    section = modelfile.encode_section(hand_layer(), index_bits=2)
    layer = account_layer("fc1", weights=40, biases=2, bits=2, section=section, codebook_size=4)
    assert (layer.nonzero, layer.entries, layer.fillers) == (4, 6, 2)
    assert layer.ptr_bits == 3  # bit_length(6 entries)
    assert layer.dense_bits == (40 + 2) * 32  # 1344
    # 6 entries x (32-bit value + 2-bit index) + 2 pointers x 3 bits + 2 biases x 32
    assert layer.pruned_bits == 6 * 34 + 6 + 64 == 274
    # 6 entries x (2-bit code + 2-bit index) + 4-entry codebook x 32 + pointers + biases
    assert layer.quantized_bits == 6 * 4 + 128 + 6 + 64 == 222
    # codes [1,0,0,2,3,1]: four symbols, 2 bits each = 12 bits;
    # gaps [0,3,3,0,2,0]: 0 -> 1 bit, 2 and 3 -> 2 bits = 9 bits
    assert (layer.huffman_code_bits, layer.huffman_index_bits) == (12, 9)
    # section: 12-byte header + codebook 16 + bias 8 + pointers 1 + length tables 4 + 4
    #          + code stream 2 + gap stream 2
    assert layer.huffman_bits == 49 * 8
    assert layer.bytes_compressed == 49
    assert layer.density == pytest.approx(0.1)


def test_report_totals_and_ratios():
    section = modelfile.encode_section(hand_layer(), index_bits=2)
    layer = account_layer("fc1", 40, 2, 2, section, 4)
    report = StorageReport((layer, layer), file_overhead_bytes=10)
    assert report.total("dense") == 2 * 1344
    assert report.total("huffman") == 2 * 392 + 80
    assert report.file_bytes == 2 * 49 + 10
    assert report.ratio("pruned") == pytest.approx(1344 / 274)
    table = format_table(report, "title")
    assert table.splitlines()[0] == "title"
    assert "fc1" in table and "total" in table and "header" in table
    assert report.to_json()["ratio"]["huffman"] == pytest.approx(2 * 1344 / (2 * 392 + 80))


def test_pipeline_accounting_equals_file_size():
    from models_helpers import tiny_fc

    model = tiny_fc()
    data, sections = modelfile.encode(model)
    layers = tuple(account_layer(name, layer.codes.size, len(layer.bias), 3, section,
                                 len(layer.codebook))
                   for name, layer, section in zip(model.names, model.layers, sections))
    report = StorageReport(layers, modelfile.overhead_bytes(model))
    assert report.file_bytes == len(data)
