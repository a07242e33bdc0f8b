"""Lane passes (docs/timing.md "Lane passes"): ``schedule_lanes`` against the rule stepped
cycle by cycle — every group of the sequence takes one cycle, its non-zero lanes go into their
own PEs' queues while every queue has room, and each PE pops its own items."""

import numpy as np
import pytest

from zeroskip.sim.schedule import schedule_lanes, schedule_pass


def stepped(sequence: list[dict[int, int]], pes: int, depth: int, latency: int):
    """The column phase's end C, each PE's issue cycles and items, cycle by cycle. ``sequence``:
    per group, {lane: entries of its column in the lane's PE}."""
    queues = [[] for _ in range(pes)]          # [push cycle, entries] not yet popped
    free = [0] * pes
    busy, items = [0] * pes, [0] * pes
    g, examined, done = 0, 1, None
    t = 0
    while done is None or any(queues) or t < max(free):
        if done is None and t >= examined:
            lanes = sequence[g]
            if not lanes or all(len(q) < depth for q in queues):
                for lane, n in lanes.items():
                    queues[lane].append([t, n])
                    items[lane] += 1
                g, examined = g + 1, t + 1
                if g == len(sequence):
                    done = t + 1
        for p in range(pes):
            if queues[p] and free[p] <= t and queues[p][0][0] + latency <= t:
                _, n = queues[p].pop(0)
                free[p] = t + max(n, 1)
                busy[p] += n
        t += 1
    return max([done] + free), busy, items


def arrays(sequence, pes):
    """The same pass as ``schedule_lanes`` takes it: column g·N + lane in group g."""
    columns = len(sequence) * pes
    active = np.zeros((1, columns), bool)
    counts = np.zeros((pes, columns), np.int64)
    for g, lanes in enumerate(sequence):
        for lane, n in lanes.items():
            active[0, g * pes + lane] = True
            counts[lane, g * pes + lane] = n
    groups = np.arange(columns)[None] // pes
    return active, counts, np.arange(columns) % pes, groups, np.array([len(sequence)])


@pytest.mark.parametrize("seed", range(40))
def test_random_passes_match_the_stepped_rule(seed):
    rng = np.random.default_rng(seed)
    pes, depth = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    density = float(rng.uniform(0.0, 1.0))
    sequence = [{lane: int(rng.integers(0, 5)) for lane in range(pes) if rng.random() < density}
                for _ in range(int(rng.integers(1, 14)))]
    for registered in (False, True):
        end, busy, items = stepped(sequence, pes, depth, 2 if registered else 1)
        s = schedule_lanes(*arrays(sequence, pes), depth, registered=registered)
        assert int(s.column_end[0]) == end
        assert list(s.pe_busy[0]) == busy
        assert list(s.pe_items[0]) == items
        assert int(s.pe_idle[0].min()) >= 0


def test_a_group_takes_one_cycle_however_many_lanes():
    """Four PEs, every lane of three groups non-zero with one entry each: the broadcast sends
    twelve items one a cycle; the lane pass sends each group in one cycle."""
    sequence = [{lane: 1 for lane in range(4)}] * 3
    active, counts, lanes, groups, total = arrays(sequence, 4)
    lane = schedule_lanes(active, counts, lanes, groups, total, 8)
    broadcast = schedule_pass(active, counts, 8, groups=groups, group_count=total)
    assert int(lane.column_end[0]) == 3 + 1 + 1        # groups at 1, 2, 3; the last popped at 4
    assert int(broadcast.column_end[0]) > 12
    assert list(lane.pe_items[0]) == [3, 3, 3, 3]


def test_a_full_queue_stalls_every_lane():
    """One-deep queues and a long column in PE 0: the next group waits until PE 0 popped its
    item, even for the lanes whose queues are empty (every queue must have room)."""
    sequence = [{0: 4, 1: 1}, {0: 1}, {1: 1}]
    active, counts, lanes, groups, total = arrays(sequence, 2)
    s = schedule_lanes(active, counts, lanes, groups, total, 1, keep_trace=True)
    # group 0 pushed at 1, popped at 2 (PE 0 busy 2..5); group 1 at 3, popped at 6; group 2
    # waits for PE 0's queue: pushed at 7
    assert list(s.broadcasts[0]) == [1, 3, 7]
    assert int(s.broadcast_stalls[0]) == 1 + 3
    assert int(s.column_end[0]) == stepped(sequence, 2, 1, 1)[0]
