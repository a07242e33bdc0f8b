"""Row balancing: outputs unchanged, per-pass PE work evened out."""

import numpy as np
from compiler_helpers import Layer, arch, random_layer

from zeroskip.compiler import compile_layers
from zeroskip.compiler.balance import balanced_row_order, pass_work
from zeroskip.hw import reference
from zeroskip.hw.kinds import decode_layer


def skewed_layers(rng):
    out_len, in_len = 64, 48
    density = np.where(np.arange(out_len) % 4 == 0, 0.9, 0.05)   # PE 0 gets every heavy row
    codes = np.where(rng.random((out_len, in_len)) < density[:, None],
                     rng.integers(1, 16, (out_len, in_len)), 0).astype(np.uint8)
    first = random_layer(rng, out_len, in_len, codes=codes)
    return [first, random_layer(rng, 20, out_len, 0.3), random_layer(rng, 12, 20, 0.4, act="none")]


def test_balanced_row_order_is_a_permutation_spreading_heavy_rows():
    work = np.array([9, 1, 1, 1, 9, 1, 1, 1])
    order = balanced_row_order(work, pes=4, acc_depth=64)
    assert sorted(order.tolist()) == list(range(8))
    placed = work[order].reshape(2, 4)            # [local row, PE]
    assert placed.sum(axis=0).max() == 10          # unbalanced: PE 0 has 18


def test_balanced_row_order_handles_a_partial_last_round_and_tiles():
    rng = np.random.default_rng(0)
    work = rng.integers(0, 100, 23)
    order = balanced_row_order(work, pes=4, acc_depth=2)
    assert sorted(order.tolist()) == list(range(23))


def test_balance_keeps_outputs_and_reduces_max_pe_work():
    rng = np.random.default_rng(3)
    layers = skewed_layers(rng)
    a = arch(pes=4, acc_depth=8)
    x = rng.uniform(-1, 1, (16, 48))
    plain = compile_layers(layers, a, calibration=x)
    balanced = compile_layers(layers, a, calibration=x, balance=True)
    assert plain.output_index is None and balanced.output_index is not None
    probe = rng.uniform(-1, 1, (32, 48))
    assert np.array_equal(reference.predict(plain, probe), reference.predict(balanced, probe))
    before = pass_work(decode_layer(plain, 0), a.pes, a.acc_depth).max(axis=1).sum()
    after = pass_work(decode_layer(balanced, 0), a.pes, a.acc_depth).max(axis=1).sum()
    assert after < 0.7 * before
    assert [plain.meta["layers"][0]["busiest_pe_weights"],
            balanced.meta["layers"][0]["busiest_pe_weights"]] == [before, after]


def test_balanced_program_holds_the_permuted_layers():
    rng = np.random.default_rng(4)
    layers = skewed_layers(rng)
    program = compile_layers(layers, arch(pes=4), balance=True)
    assert sorted(program.output_index.tolist()) == list(range(12))
    # layer 0's array matrix is the model's with its rows permuted
    decoded = decode_layer(program, 0)
    assert not np.array_equal(decoded, layers[0].codes)
    assert sorted(map(bytes, decoded.astype(np.uint8))) == sorted(map(bytes, layers[0].codes))
