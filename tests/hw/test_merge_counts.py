"""The padding merge's bookkeeping in the decoded program (hw/kinds.py, docs/timing.md "Padding
merge"): per column, the entries taken along and whether the last one is, against a literal walk
of the sparse image; the switch changes no output."""

import dataclasses

import numpy as np
import pytest

from zeroskip.hw.program import pass_columns
from zeroskip.sim import simulate_int

from benches import tiny
from handmade import encode, merged_issues, random_layers


@pytest.mark.parametrize("line_bits,code_bits,run_bits", [(16, 2, 2), (24, 2, 2), (36, 2, 1),
                                                         (8, 4, 4)])
def test_decoded_merges_match_a_literal_walk(line_bits, code_bits, run_bits):
    """4, 6 (not a power of two), 12 and 1 (nothing to merge with) entries per line."""
    rng = np.random.default_rng(line_bits + run_bits)
    arch = tiny(pes=3, run_bits=run_bits, code_bits=code_bits, line_bits=line_bits, acc_depth=16,
                act_depth=32, sparse_depth=256, ptr_depth=128, bias_depth=64, padding_merge=1)
    program = encode(arch, random_layers(rng, arch, [20, 40, 9], density=0.08))
    merges = 0
    for index, image in enumerate(program.decoded.passes):
        for pe in range(arch.pes):
            start, end = pass_columns(program, index, pe)
            for j in range(image.in_len):
                issues, tail = merged_issues(program, pe, int(start[j]), int(end[j]))
                assert image.issues[pe, j] == issues
                assert image.merged_last[pe, j] == tail
        merges += int(image.merged.sum())
    assert merges > 0 if arch.entries_per_line > 1 else merges == 0


def test_the_switch_changes_no_output_and_saves_cycles():
    rng = np.random.default_rng(5)
    arch = tiny(pes=2, run_bits=2, code_bits=2, line_bits=16, acc_depth=16, act_depth=32,
                sparse_depth=128, ptr_depth=128, bias_depth=64, bounds_lookahead=1)
    layers = random_layers(rng, arch, [16, 32, 8], density=0.1)
    x = rng.integers(-50, 50, (6, 16))
    off = simulate_int(encode(arch, layers), x)
    on = simulate_int(encode(dataclasses.replace(arch, padding_merge=1), layers), x)
    np.testing.assert_array_equal(on.outputs_int, off.outputs_int)
    np.testing.assert_array_equal(on.pe_macs, off.pe_macs)
    assert (on.cycles < off.cycles).all() and (on.pe_busy.sum() < off.pe_busy.sum())
