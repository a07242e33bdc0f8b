"""The bounds lookahead (``ArchConfig.bounds_lookahead``, docs/timing.md "Bounds lookahead") on
the whole array under Amaranth's simulator: outputs == the reference's, and the cycle counter ==
the literal timing equations (``handmade.timing_cycles``) == the cycle simulator, for sparse,
binary, mixed and conv programs, with one-deep queues (the bounds stage's place), empty columns
and long columns."""

import numpy as np
import pytest

from benches import run_program, tiny
from handmade import encode, random_layers
from switches import check, check_binary_passes, check_conv_program, counts_off_and_on
from test_top import sparse_inputs


def test_the_switch_changes_the_timing():
    """Same program, switch off and on: the counts differ (empty columns and pointer reads no
    longer cost a cycle) and each matches its own equations."""
    arch = tiny(pes=2, fifo_depth=8, acc_depth=8, act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64)
    # density 0.15: many empty columns
    off, on, _ = counts_off_and_on("bounds_lookahead", arch, [16, 12, 5], 11, 0.15, 0.9)
    assert all(b < a for a, b in zip(off, on))


@pytest.mark.parametrize("seed", range(4))
def test_random_sparse_programs(seed):
    rng = np.random.default_rng(300 + seed)
    arch = tiny(pes=int(rng.integers(1, 5)), fifo_depth=[1, 2, 3, 8][seed],
                acc_depth=int(rng.integers(2, 6)), act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64, bounds_lookahead=1)
    sizes = [int(v) for v in rng.integers(3, 20, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.1, 0.7))))
    inputs = sparse_inputs(rng, sizes[0], 2, density=float(rng.uniform(0.3, 1.0)))
    inputs.append(np.zeros(sizes[0], np.int64))
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


def test_padding_and_one_deep_queues():
    arch = tiny(fifo_depth=1, run_bits=2, code_bits=2, line_bits=16, acc_depth=8, act_depth=16,
                bounds_lookahead=1)
    rng = np.random.default_rng(3)
    program = encode(arch, random_layers(rng, arch, [9, 16], density=0.15))
    inputs = sparse_inputs(rng, 9, 2, density=0.9)
    check(program, inputs, run_program(program, inputs))


@pytest.mark.parametrize("sizes,planes,pes,fifo", [([20, 9, 5], 2, 3, 2), ([40, 12, 4], 0, 2, 1)])
def test_binary_passes(sizes, planes, pes, fifo):
    check_binary_passes({"bounds_lookahead": 1}, sizes, planes, pes, fifo, seed=sum(sizes))


def test_conv_program():
    check_conv_program({"bounds_lookahead": 1})
