"""The vectorised encoder: EIE's example, padding, and exact round trips through the images."""

import numpy as np
import pytest
from compiler_helpers import Layer, arch, random_layer

from zeroskip.compiler import compile_layers
from zeroskip.compiler.encode import encode_column, encode_layer, tile_count
from zeroskip.hw import reference
from zeroskip.hw.kinds import decode_layer
from zeroskip.hw.program import unpack_lines


def test_eie_example_column():
    codes, runs = encode_column(np.array([0, 0, 1, 2] + [0] * 18 + [3]), max_run=15)
    assert codes.tolist() == [1, 2, 0, 3]
    assert runs.tolist() == [2, 0, 15, 2]


@pytest.mark.parametrize("gap, pads, last_run", [(15, 0, 15), (16, 1, 0), (31, 1, 15),
                                                 (32, 2, 0), (50, 3, 2)])
def test_padding_entries_cover_max_run_plus_one_rows(gap, pads, last_run):
    codes, runs = encode_column(np.array([0] * gap + [7]), max_run=15)
    assert codes.tolist() == [0] * pads + [7]
    assert runs.tolist() == [15] * pads + [last_run]


def test_empty_column_has_no_entries():
    codes, runs = encode_column(np.zeros(40, dtype=np.uint8), max_run=15)
    assert len(codes) == len(runs) == 0


def test_runs_count_the_pes_local_rows_within_the_tile():
    # 2 PEs, tiles of 2 local rows: PE 1 holds rows 1, 3 | 5, 7; row 7 is tile 1's local row 1
    codes = np.zeros((8, 1), dtype=np.uint8)
    codes[7, 0] = 4
    enc = encode_layer(codes, pes=2, acc_depth=2, max_run=15)
    assert enc.counts.shape == (2, 2, 1)
    assert enc.counts[:, :, 0].tolist() == [[0, 0], [0, 1]]
    assert (enc.code.tolist(), enc.run.tolist(), enc.tile.tolist(), enc.pe.tolist()) == \
        ([4], [1], [1], [1])


def test_tile_count():
    assert tile_count(1, 4, 64) == 1
    assert tile_count(256, 4, 64) == 1
    assert tile_count(257, 4, 64) == 2
    assert tile_count(10, 64, 64) == 1


CASES = {
    # name: (pes, acc_depth, run_bits, out, in, density)
    "one PE": (1, 64, 4, 40, 30, 0.2),
    "PEs do not divide rows": (3, 64, 4, 50, 20, 0.3),
    "more PEs than rows": (8, 64, 4, 5, 17, 0.5),
    "tiled": (4, 4, 4, 70, 25, 0.3),
    "short runs, much padding": (2, 64, 2, 100, 12, 0.05),
    "dense": (4, 16, 4, 33, 9, 1.0),
}


@pytest.mark.parametrize("name", CASES)
def test_decode_of_encode_is_the_layer(name):
    pes, acc_depth, run_bits, out_len, in_len, density = CASES[name]
    rng = np.random.default_rng(len(name))
    line_bits = 4 + run_bits
    line_bits *= 64 // line_bits
    a = arch(pes=pes, acc_depth=acc_depth, run_bits=run_bits, line_bits=line_bits,
             max_passes=64, bias_depth=1024)
    layer = random_layer(rng, out_len, in_len, density)
    program = compile_layers([layer], a)
    assert np.array_equal(decode_layer(program, 0), layer.codes)
    assert len(program.passes) == tile_count(out_len, pes, acc_depth)
    _, runs = unpack_lines(program.sparse[0], a)
    assert runs.max() <= a.max_run


def test_edge_matrices_round_trip():
    rng = np.random.default_rng(1)
    codes = np.where(rng.random((60, 40)) < 0.2, rng.integers(1, 16, (60, 40)), 0).astype(np.uint8)
    codes[5] = 0                  # an all-zero row
    codes[:, 3] = 0               # an empty column
    codes[:, 7] = 0
    codes[59, 7] = 9              # a column needing several padding entries on its PE
    a = arch(pes=2, run_bits=2, line_bits=60, acc_depth=64)
    layers = [Layer(random_layer(rng, 60, 40).codebook, codes, np.zeros(60, np.float32)),
              Layer(random_layer(rng, 1, 1).codebook, np.zeros((7, 60), np.uint8),
                    np.zeros(7, np.float32), "none")]   # an all-zero matrix
    program = compile_layers(layers, a)
    assert np.array_equal(decode_layer(program, 0), codes)
    assert np.array_equal(decode_layer(program, 1), layers[1].codes)
    assert program.meta["layers"][0]["padding"] > 0
    assert program.meta["layers"][1]["entries"] == 0


def test_multi_layer_tiled_program_round_trips_and_chains_images():
    rng = np.random.default_rng(2)
    a = arch(pes=4, acc_depth=8, act_depth=64, bias_depth=256)
    layers = [random_layer(rng, 90, 30, 0.3), random_layer(rng, 45, 90, 0.2),
              random_layer(rng, 10, 45, 0.5, act="none")]
    program = compile_layers(layers, a)
    for index, layer in enumerate(layers):
        assert np.array_equal(decode_layer(program, index), layer.codes)
    assert [p.layer for p in program.passes] == [0, 0, 0, 1, 1, 2]
    assert [p.row_base for p in program.passes] == [0, 8, 16, 0, 8, 0]
    assert [p.rows for p in program.passes] == [8, 8, 7, 8, 4, 3]
    assert [p.last for p in program.passes] == [0, 0, 1, 0, 1, 1]
    # each pass's pointers start where the previous pass's end, for every PE
    for before, after in zip(program.passes, program.passes[1:]):
        assert after.ptr_base == before.ptr_base + before.in_len + 1
        assert after.bias_base == before.bias_base + before.rows
        assert np.array_equal(program.ptr[:, before.ptr_base + before.in_len],
                              program.ptr[:, after.ptr_base])
    assert np.all(np.diff(program.ptr, axis=1) >= 0)


@pytest.mark.parametrize("seed", range(10))
def test_random_configurations_round_trip_with_and_without_balance(seed):
    rng = np.random.default_rng(100 + seed)
    run_bits = int(rng.integers(1, 5))
    entry_bits = 4 + run_bits
    a = arch(pes=int(rng.integers(1, 9)), acc_depth=int(rng.choice([2, 5, 16, 64])),
             run_bits=run_bits, line_bits=entry_bits * (64 // entry_bits), max_passes=64,
             bias_depth=1024, act_depth=256)
    sizes = [int(rng.integers(1, 60)) for _ in range(int(rng.integers(2, 5)))]
    layers = [random_layer(rng, n_out, n_in, float(rng.uniform(0, 0.6)),
                           act=str(rng.choice(["relu", "none"])))
              for n_in, n_out in zip(sizes, sizes[1:])]
    x = rng.uniform(-1, 1, (6, sizes[0]))
    plain = compile_layers(layers, a, calibration=x)
    for index, layer in enumerate(layers):
        assert np.array_equal(decode_layer(plain, index), layer.codes)
    balanced = compile_layers(layers, a, calibration=x, balance=True)
    assert np.array_equal(reference.predict(plain, x), reference.predict(balanced, x))
