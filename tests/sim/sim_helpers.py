"""Plain models the vectorised simulator is checked against (shared by the tests in tests/sim)."""

from collections import deque


def cycle_by_cycle(active, counts, depth, sequence=None):
    """One pass, one cycle at a time (T = 0). Returns C, the broadcasts b_k, the pops s[p][k]
    and per-PE busy / stall / idle cycles over 0..C. ``sequence``: the pass's groups, each the
    list of its candidate columns in lane order (a conv window's, docs/conv.md); by default
    group g holds the active columns gN .. gN + N − 1."""
    pes, in_len = counts.shape
    if sequence is None:
        groups = -(-in_len // pes)
        sequence = [[j for j in range(g * pes, min(g * pes + pes, in_len)) if active[j]]
                    for g in range(groups)]
    groups = len(sequence)
    queues = [deque() for _ in range(pes)]            # items: (column, cycle pushed)
    register, group = None, -1                        # the loaded group's remaining non-zeros
    pending_read = (0, 1)                             # (group, cycle its register loads)
    broadcaster_done_at = None
    remaining = [0] * pes                             # entries of the current column left to issue
    bounds_due = [None] * pes                         # column whose bounds arrive this cycle
    broadcasts, pops = [], [[] for _ in range(pes)]
    busy, stall, idle = [0] * pes, [0] * pes, [0] * pes
    cycle = 0
    while True:
        if pending_read is not None and pending_read[1] == cycle:
            group = pending_read[0]
            register = list(sequence[group])
            pending_read = None
        full = any(len(q) >= depth for q in queues)   # occupancy at the start of the cycle

        all_ready = True
        for p in range(pes):
            if bounds_due[p] is not None:
                remaining[p] = counts[p, bounds_due[p]]
                bounds_due[p] = None
            issued = remaining[p] > 0
            if issued:
                remaining[p] -= 1
            popped = False
            if remaining[p] == 0 and queues[p] and queues[p][0][1] < cycle:
                column, _ = queues[p].popleft()
                bounds_due[p] = column
                pops[p].append(cycle)
                popped = True
            busy[p] += issued
            stall[p] += (not issued) and popped
            idle[p] += (not issued) and (not popped)
            all_ready &= remaining[p] == 0 and bounds_due[p] is None and not queues[p]

        if broadcaster_done_at is None and register is not None:
            next_read = not register                  # an empty group: read the next one
            if register and not full:
                column = register.pop(0)
                for q in queues:
                    q.append((column, cycle))
                broadcasts.append(cycle)
                next_read = not register
            if next_read:
                register = None
                if group + 1 == groups:
                    broadcaster_done_at = cycle + 1
                else:
                    pending_read = (group + 1, cycle + 1)

        if broadcaster_done_at is not None and cycle >= broadcaster_done_at and all_ready:
            return cycle, broadcasts, pops, busy, stall, idle
        cycle += 1


def cycle_by_cycle_lookahead(active, counts, depth):
    """``cycle_by_cycle`` with the bounds lookahead (docs/timing.md "Bounds lookahead"), as the
    gateware does it: a pushed item sits one cycle in the bounds stage, then enters the queue
    only if its column has entries; popping an item issues its first entry. ``ready`` is
    queue level + stage occupied < depth. Returns C, b_k, the pops per PE (non-empty items
    only) and busy / idle cycles over 0..C."""
    pes, in_len = counts.shape
    groups = -(-in_len // pes)
    sequence = [[j for j in range(g * pes, min(g * pes + pes, in_len)) if active[j]]
                for g in range(groups)]
    queues = [deque() for _ in range(pes)]            # (column, cycle written)
    stage = [None] * pes                              # column pushed last cycle
    remaining = [0] * pes                             # entries left after this cycle
    register, group, pending_read, done_at = None, -1, (0, 1), None
    broadcasts, pops = [], [[] for _ in range(pes)]
    busy, idle = [0] * pes, [0] * pes
    cycle = 0
    while True:
        if pending_read is not None and pending_read[1] == cycle:
            group, register, pending_read = pending_read[0], list(sequence[pending_read[0]]), None
        full = any(len(queues[p]) + (stage[p] is not None) >= depth for p in range(pes))
        all_free = True
        for p in range(pes):
            issued = False
            if remaining[p] > 0:
                remaining[p] -= 1
                issued = True
            elif queues[p] and queues[p][0][1] < cycle:
                column, _ = queues[p].popleft()
                pops[p].append(cycle)
                remaining[p] = counts[p, column] - 1
                issued = True
            busy[p] += issued
            idle[p] += not issued
            all_free &= remaining[p] == 0 and not queues[p] and stage[p] is None
            if stage[p] is not None:
                if counts[p, stage[p]] > 0:
                    queues[p].append((stage[p], cycle))
                stage[p] = None
        if done_at is None and register is not None:
            next_read = not register
            if register and not full:
                column = register.pop(0)
                stage = [column] * pes
                broadcasts.append(cycle)
                next_read = not register
            if next_read:
                register = None
                if group + 1 == groups:
                    done_at = cycle + 1
                else:
                    pending_read = (group + 1, cycle + 1)
        if done_at is not None and cycle >= done_at and all_free:
            return cycle, broadcasts, pops, busy, idle
        cycle += 1
