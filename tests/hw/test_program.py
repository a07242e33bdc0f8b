"""The program format (hw/program.py): a saved program loads back equal, a damaged one is one
ZeroskipError line naming what is wrong, and every packing helper inverts exactly."""

import dataclasses
import json
import os
import random
from types import SimpleNamespace

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.program import (FORMAT, VERSION, Program, binary_chunks, descriptor_layout,
                                 entry_layout, join_words, layout_width, load_program,
                                 pack_binary_lines, pack_fields, pack_lines, split_words,
                                 unpack_binary_lines, unpack_fields, unpack_lines)

ARCH = dataclasses.replace(PRESETS["small"], pes=3, acc_depth=4, act_depth=32, sparse_depth=128,
                           ptr_depth=256, bias_depth=64, line_bits=16, max_passes=32)


def sparse_layer(rng, out_len, in_len, density, act):
    codebook = np.concatenate([[0.0], rng.normal(0, 0.3, 15)]).astype(np.float32)
    codes = np.where(rng.random((out_len, in_len)) < density, rng.integers(1, 16, (out_len, in_len)), 0)
    return SimpleNamespace(codebook=codebook, codes=codes, bias=rng.normal(0, 0.1, out_len), act=act)


def binary_layer(rng, out_len, in_len, planes, binarize):
    from zeroskip.models.binary_fold import FoldedLayer

    weights = rng.random((out_len, in_len)) < 0.5
    if binarize:
        return FoldedLayer("fc", weights, planes, thresholds=rng.integers(-4, 5, out_len),
                           flip=rng.random(out_len) < 0.3)
    return FoldedLayer("fc", weights, planes, scale=rng.uniform(0.1, 1, out_len),
                       offset=rng.normal(0, 1, out_len))


@pytest.fixture(scope="module")
def programs():
    """A sparse program (3 layers, tiled, rows balanced) and a mixed one (sparse → binary →
    binary), both small."""
    rng = np.random.default_rng(5)
    sparse = compile_layers([sparse_layer(rng, 14, 10, 0.5, "relu"), sparse_layer(rng, 9, 14, 0.3, "relu"),
                             sparse_layer(rng, 5, 9, 0.8, "none")], ARCH,
                            calibration=rng.uniform(-1, 1, (8, 10)), balance=True)
    mixed = compile_layers([sparse_layer(rng, 20, 12, 0.4, "none"), binary_layer(rng, 11, 20, 0, True),
                            binary_layer(rng, 4, 11, 0, False)], ARCH,
                           calibration=rng.uniform(-1, 1, (8, 12)))
    return {"sparse": sparse, "mixed": mixed}


def assert_same_program(a: Program, b: Program):
    assert a.arch == b.arch
    assert a.layers == b.layers and a.passes == b.passes
    for name in ("sparse", "ptr", "bias", "codebook"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert a.descriptors == b.descriptors
    assert (a.output_index is None) == (b.output_index is None)
    if a.output_index is not None:
        assert np.array_equal(a.output_index, b.output_index)
    assert json.loads(json.dumps(a.meta)) == b.meta


# -- save / load ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sparse", "mixed"])
def test_save_load_round_trip(programs, tmp_path, kind):
    program = programs[kind]
    assert len(program.passes) > len(program.layers)           # tiled: several passes per layer
    program.save(str(tmp_path / "prog"))
    loaded = load_program(str(tmp_path / "prog"))
    assert_same_program(program, loaded)
    for name, array in program.images().items():
        assert np.array_equal(loaded.images()[name], array), name
    # saving again over it, and loading that, changes nothing
    loaded.save(str(tmp_path / "prog"))
    assert_same_program(program, load_program(str(tmp_path / "prog")))


def test_round_trip_keeps_the_row_permutation(programs, tmp_path):
    program = programs["sparse"]
    assert program.output_index is not None
    assert sorted(program.output_index.tolist()) == list(range(program.out_len))
    program.save(str(tmp_path / "prog"))
    assert np.array_equal(load_program(str(tmp_path / "prog")).output_index, program.output_index)


def test_manifest_records_every_image(programs, tmp_path):
    programs["sparse"].save(str(tmp_path / "prog"))
    manifest = json.loads((tmp_path / "prog" / "manifest.json").read_text())
    assert manifest["format"] == FORMAT and manifest["version"] == VERSION
    assert set(manifest["images"]) == {"sparse", "ptr", "bias", "codebook", "descriptors"}
    for name, info in manifest["images"].items():
        assert os.path.getsize(tmp_path / "prog" / info["file"]) == \
            np.dtype(info["dtype"]).itemsize * int(np.prod(info["shape"]))


# -- damaged programs: one error line each -------------------------------------------------------
def saved(programs, tmp_path) -> str:
    directory = str(tmp_path / "prog")
    programs["sparse"].save(directory)
    return directory


def one_line_error(directory: str) -> str:
    with pytest.raises(ZeroskipError) as error:
        load_program(directory)
    message = str(error.value)
    assert "\n" not in message and message
    return message


@pytest.mark.parametrize("image", ["sparse", "ptr", "bias", "codebook", "descriptors"])
def test_a_flipped_byte_is_a_checksum_error(programs, tmp_path, image):
    directory = saved(programs, tmp_path)
    path = os.path.join(directory, f"{image}.bin")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x10
    open(path, "wb").write(bytes(data))
    message = one_line_error(directory)
    assert f"{image}.bin" in message and "checksum" in message


def test_a_truncated_image(programs, tmp_path):
    directory = saved(programs, tmp_path)
    path = os.path.join(directory, "bias.bin")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-3])
    message = one_line_error(directory)
    assert "bias.bin" in message and ("bytes" in message or "checksum" in message)


def test_a_missing_image(programs, tmp_path):
    directory = saved(programs, tmp_path)
    os.remove(os.path.join(directory, "ptr.bin"))
    message = one_line_error(directory)
    assert "ptr.bin" in message and "missing" in message


def test_a_missing_manifest(programs, tmp_path):
    directory = saved(programs, tmp_path)
    os.remove(os.path.join(directory, "manifest.json"))
    assert "manifest.json" in one_line_error(directory)


def test_no_directory(tmp_path):
    assert "no such program directory" in one_line_error(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("version", [VERSION + 1, 0, "1", None])
def test_a_bad_version(programs, tmp_path, version):
    directory = saved(programs, tmp_path)
    path = os.path.join(directory, "manifest.json")
    manifest = json.loads(open(path).read())
    manifest["version"] = version
    open(path, "w").write(json.dumps(manifest))
    message = one_line_error(directory)
    assert "manifest.json" in message and "version" in message


@pytest.mark.parametrize("text", ["{", "[]", '{"format": "something-else", "version": 1}'])
def test_not_a_manifest(programs, tmp_path, text):
    directory = saved(programs, tmp_path)
    open(os.path.join(directory, "manifest.json"), "w").write(text)
    assert "manifest.json" in one_line_error(directory)


# -- packing helpers ------------------------------------------------------------------------------
LINE_ARCHS = [PRESETS["small"], ARCH,
              dataclasses.replace(PRESETS["small"], code_bits=4, run_bits=2, line_bits=48),
              dataclasses.replace(PRESETS["small"], code_bits=3, run_bits=5, line_bits=8),
              dataclasses.replace(PRESETS["small"], code_bits=8, run_bits=8, line_bits=64)]


@pytest.mark.parametrize("arch", LINE_ARCHS, ids=lambda a: f"c{a.code_bits}r{a.run_bits}l{a.line_bits}")
def test_pack_lines_unpack_lines_round_trip(arch):
    rng = np.random.default_rng(arch.line_bits)
    for n in (0, 1, arch.entries_per_line - 1, arch.entries_per_line, 3 * arch.entries_per_line + 1, 200):
        codes = rng.integers(0, arch.codebook_size, n)
        runs = rng.integers(0, arch.max_run + 1, n)
        lines = pack_lines(codes, runs, arch)
        assert lines.dtype == np.uint64 and len(lines) == -(-n // arch.entries_per_line)
        assert int(lines.max(initial=0)) < 2 ** arch.line_bits
        got_codes, got_runs = unpack_lines(lines, arch)
        pad = len(lines) * arch.entries_per_line - n
        assert got_codes.tolist() == codes.tolist() + [0] * pad
        assert got_runs.tolist() == runs.tolist() + [0] * pad


def test_pack_lines_puts_entry_zero_in_the_low_bits():
    """Entry e at slot e mod entries_per_line, slot 0 least significant; code below run."""
    arch = PRESETS["small"]
    lines = pack_lines([3, 0, 15], [1, 15, 0], arch)
    assert lines.tolist() == [(3 | 1 << 4) | (0 | 15 << 4) << 8 | (15 | 0 << 4) << 16]
    assert entry_layout(arch) == [("code", 4), ("run", 4)]


@pytest.mark.parametrize("arch", [PRESETS["small"], PRESETS["eie64"], ARCH], ids=lambda a: a.name)
def test_pack_fields_unpack_fields_round_trip(arch):
    layout = descriptor_layout(arch)
    rng = random.Random(layout_width(layout))
    for _ in range(300):
        values = {name: rng.choice([0, 1, (1 << width) - 1, rng.randrange(1 << width)])
                  for name, width in layout}
        word = pack_fields(layout, values)
        assert 0 <= word < 1 << layout_width(layout)
        assert unpack_fields(layout, word) == values
    # fields left out are zero; a value too wide for its field is refused, naming it
    assert unpack_fields(layout, pack_fields(layout, {"shift": 5}))["relu"] == 0
    for name, width in layout:
        with pytest.raises(ZeroskipError, match=f"field '{name}' = {1 << width} does not fit in {width} bits"):
            pack_fields(layout, {name: 1 << width})
        with pytest.raises(ZeroskipError, match=f"field '{name}'"):
            pack_fields(layout, {name: -1})


def test_descriptor_fields_hold_the_architectures_largest_values():
    for arch in (PRESETS["small"], PRESETS["eie64"], ARCH):
        widths = dict(descriptor_layout(arch))
        for name, largest in (("in_len", arch.max_vector), ("rows", arch.acc_depth),
                              ("layer", arch.max_layers - 1), ("line_base", arch.sparse_depth),
                              ("bias_base", arch.bias_depth), ("ptr_base", arch.ptr_depth),
                              ("shift", 63), ("planes", 8)):
            assert largest < 1 << widths[name], (arch.name, name)


def test_split_words_join_words_round_trip():
    rng = random.Random(3)
    for bits in (1, 63, 64, 65, 128, 130):
        values = [rng.randrange(1 << bits) for _ in range(50)] + [0, (1 << bits) - 1]
        pieces = split_words(values, bits)
        assert pieces.shape == (len(values), -(-bits // 64)) and pieces.dtype == np.uint64
        assert join_words(pieces) == values


@pytest.mark.parametrize("line_bits,pes", [(8, 8), (16, 3), (64, 4), (24, 3)])
def test_pack_binary_lines_round_trip(line_bits, pes):
    arch = dataclasses.replace(PRESETS["small"], pes=pes, line_bits=line_bits, code_bits=4,
                               run_bits=4 if line_bits % 8 == 0 else 8)
    rng = np.random.default_rng(line_bits)
    for in_len in (1, line_bits - 1, line_bits, line_bits + 1, 3 * line_bits + 5):
        for rows, present in ((4, 4), (4, 2), (1, 1)):
            weights = rng.random((present, in_len)) < 0.5
            lines = pack_binary_lines(weights, rows, arch)
            chunks = binary_chunks(in_len, arch)
            assert lines.shape == (chunks * rows,) and int(lines.max(initial=0)) < 2 ** line_bits
            back = unpack_binary_lines(lines, rows, in_len, arch)
            assert back.shape == (rows, in_len)
            assert np.array_equal(back[:present], weights) and not back[present:].any()
            # chunk-major: line c·rows + r holds bits c·line_bits .. of local row r, bit b at b
            r, j = present - 1, in_len - 1
            c, b = divmod(j, line_bits)
            assert (int(lines[c * rows + r]) >> b) & 1 == int(weights[r, j])
