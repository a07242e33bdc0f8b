"""The pass timing (docs/timing.md): hand-computed cases that pin the spec, and a plain
cycle-by-cycle model of the broadcaster, the queues and the PEs that the vectorised recurrence
must agree with on many random cases."""

import numpy as np
import pytest

from zeroskip.sim.schedule import schedule_pass

from sim_helpers import cycle_by_cycle, cycle_by_cycle_lookahead


def test_two_activations_one_pe():
    # b0 = 1, s0 = 2 (entries 3..5), b1 = 2, s1 = 5 (overlaps entry 3 of col 0), F = 7
    s = schedule_pass(np.array([[True, True]]), np.array([[3, 2]]), fifo_depth=8, keep_trace=True)
    assert s.broadcasts.tolist() == [[1, 2]]
    assert s.pops[0, :, 0].tolist() == [2, 5]
    assert s.broadcast_done.tolist() == [3]
    assert s.column_end.tolist() == [7]
    assert (s.pe_busy.tolist(), s.pe_stall.tolist(), s.pe_idle.tolist()) == ([[5]], [[1]], [[2]])


def test_depth_one_queue_stalls_the_broadcast():
    s = schedule_pass(np.array([[True, True, True]]), np.array([[4, 1, 1]]), fifo_depth=1,
                      keep_trace=True)
    assert s.broadcasts.tolist() == [[1, 3, 7]]       # waits for s[k-1] + 1
    assert s.pops[0, :, 0].tolist() == [2, 6, 8]
    assert s.broadcast_stalls.tolist() == [4]
    assert s.column_end.tolist() == [9]
    assert (s.pe_busy.tolist(), s.pe_stall.tolist(), s.pe_idle.tolist()) == ([[6]], [[2]], [[2]])
    deep = schedule_pass(np.array([[True, True, True]]), np.array([[4, 1, 1]]), fifo_depth=8)
    assert deep.column_end.tolist() == [8] and deep.broadcast_stalls.tolist() == [0]


def test_all_zero_input_scans_every_group():
    s = schedule_pass(np.zeros((1, 10), bool), np.ones((4, 10), np.int64), fifo_depth=8)
    assert s.column_end.tolist() == [3 + 1]           # G + 1 with G = ceil(10 / 4)
    assert s.pe_busy.sum() == 0 and s.pe_idle.tolist() == [[5] * 4]


def test_empty_groups_cost_one_cycle_each():
    active = np.zeros((1, 8), bool)
    active[0, 5] = True                                # group 2 of 4 (2 PEs)
    counts = np.zeros((2, 8), np.int64)
    counts[0, 5] = 2
    s = schedule_pass(active, counts, fifo_depth=8, keep_trace=True)
    assert s.broadcasts.tolist() == [[3]]
    assert s.broadcast_done.tolist() == [5]
    assert s.column_end.tolist() == [6]                # PE 0: pops at 4, issues at 5, 6


def random_case(rng):
    pes = int(rng.integers(1, 7))
    in_len = int(rng.integers(1, 40))
    active = rng.random(in_len) < rng.choice([0.0, 0.2, 0.5, 1.0])
    counts = rng.integers(0, 12, (pes, in_len)) * (rng.random((pes, in_len)) < rng.random())
    depth = int(rng.choice([1, 2, 3, 8]))
    return active, counts, depth


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_cycle_by_cycle_model(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        active, counts, depth = random_case(rng)
        end, broadcasts, pops, busy, stall, idle = cycle_by_cycle(active, counts, depth)
        s = schedule_pass(active[None], counts, depth, keep_trace=True)
        k = len(broadcasts)
        assert s.column_end[0] == end
        assert s.broadcasts[0, :k].tolist() == broadcasts
        assert s.pops[0, :k].T.tolist() == pops
        assert s.pe_busy[0].tolist() == busy
        assert s.pe_stall[0].tolist() == stall
        assert s.pe_idle[0].tolist() == idle


def test_batch_equals_one_at_a_time():
    """Masking samples with fewer non-zeros must not change any sample's timing."""
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 9, (5, 30))
    active = rng.random((12, 30)) < rng.random((12, 1))
    active[3] = False
    together = schedule_pass(active, counts, 2)
    for i in range(12):
        alone = schedule_pass(active[i:i + 1], counts, 2)
        for name in ("column_end", "broadcast_done", "broadcast_stalls", "pe_busy", "pe_stall", "pe_idle"):
            assert np.array_equal(getattr(together, name)[i], getattr(alone, name)[0]), name


def test_same_group_broadcasts_on_consecutive_cycles():
    s = schedule_pass(np.array([[True, True, False, True]]), np.zeros((2, 4), np.int64), 8,
                      keep_trace=True)
    assert s.broadcasts.tolist() == [[1, 2, 3]]        # groups 0, 0, 1
    assert s.broadcast_done.tolist() == [4]


# -- the bounds lookahead (docs/timing.md "Bounds lookahead") ---------------------------------------
def test_lookahead_drops_empty_columns_and_issues_at_the_pop():
    # PE 0: columns of 3, 0, 2 entries; b = 1, 2, 3; pops at 3 (entries 3..5) and 6 (6..7)
    s = schedule_pass(np.array([[True, True, True]]), np.array([[3, 0, 2]]), fifo_depth=8,
                      keep_trace=True, lookahead=True)
    assert s.broadcasts.tolist() == [[1, 2, 3]]
    assert s.pops[0, :, 0].tolist() == [3, -1, 6]
    assert s.column_end.tolist() == [7]
    assert (s.pe_busy.tolist(), s.pe_stall.tolist(), s.pe_idle.tolist()) == ([[5]], [[0]], [[3]])
    eie = schedule_pass(np.array([[True, True, True]]), np.array([[3, 0, 2]]), fifo_depth=8)
    assert eie.column_end.tolist() == [8]            # the empty column's pop cycle


def test_lookahead_depth_one_counts_the_bounds_stage():
    # depth 1: an item held in the stage or the queue blocks the next push, an empty one too
    s = schedule_pass(np.array([[True, True, True]]), np.array([[0, 2, 1]]), fifo_depth=1,
                      keep_trace=True, lookahead=True)
    assert s.broadcasts.tolist() == [[1, 3, 6]]      # 3: item 0 in the stage at 2; 6: popped at 5
    assert s.pops[0, :, 0].tolist() == [-1, 5, 8]
    assert s.column_end.tolist() == [8]


@pytest.mark.parametrize("seed", range(4))
def test_lookahead_agrees_with_cycle_by_cycle_model(seed):
    rng = np.random.default_rng(50 + seed)
    for _ in range(40):
        active, counts, depth = random_case(rng)
        end, broadcasts, pops, busy, idle = cycle_by_cycle_lookahead(active, counts, depth)
        s = schedule_pass(active[None], counts, depth, keep_trace=True, lookahead=True)
        k = len(broadcasts)
        assert s.column_end[0] == end
        assert s.broadcasts[0, :k].tolist() == broadcasts
        assert [[v for v in s.pops[0, :k, p] if v >= 0] for p in range(counts.shape[0])] == pops
        assert s.pe_busy[0].tolist() == busy
        assert s.pe_idle[0].tolist() == idle and not s.pe_stall.any()


def test_lookahead_batch_equals_one_at_a_time():
    rng = np.random.default_rng(8)
    counts = rng.integers(0, 6, (4, 30)) * (rng.random((4, 30)) < 0.5)
    active = rng.random((10, 30)) < rng.random((10, 1))
    together = schedule_pass(active, counts, 2, lookahead=True)
    for i in range(10):
        alone = schedule_pass(active[i:i + 1], counts, 2, lookahead=True)
        for name in ("column_end", "broadcast_done", "broadcast_stalls", "pe_busy", "pe_idle"):
            assert np.array_equal(getattr(together, name)[i], getattr(alone, name)[0]), name


def test_a_merged_last_entry_delays_the_next_pop_without_lookahead():
    # column 0: 3 issue cycles, its last entry taken along: the PE learns it is finished at s + 4
    tails = np.array([[1, 0]])
    s = schedule_pass(np.array([[True, True]]), np.array([[3, 2]]), 8, keep_trace=True, tails=tails)
    assert s.pops[0, :, 0].tolist() == [2, 6]
    assert s.column_end.tolist() == [8] and s.pe_stall.tolist() == [[2]]
    look = schedule_pass(np.array([[True, True]]), np.array([[3, 2]]), 8, keep_trace=True,
                         lookahead=True, tails=tails)
    assert look.pops[0, :, 0].tolist() == [3, 6]     # no delay between columns
    last = schedule_pass(np.array([[True, True]]), np.array([[3, 2]]), 8, lookahead=True,
                         tails=np.array([[0, 1]]))
    assert look.column_end.tolist() == [7] and last.column_end.tolist() == [8]
