"""The timing of one pass (docs/timing.md), vectorised across PEs and across a batch of inputs.

The recurrence over the K non-zero activations of the input vector is sequential in k, so the
loop runs over k only; every step updates arrays ``[batch, pes]``. Samples with fewer non-zeros
than the longest are masked. All cycles are relative to the pass's first cycle T = 0.

Per PE, the column phase (cycles 0 .. C inclusive) splits into
- *busy*: a sparse entry issues (padding included);
- *stall*: the PE popped an item and waits for its column bounds, issuing nothing (a pop that
  does not coincide with the previous column's last entry);
- *idle*: nothing to do (queue empty, or the PE has finished while others work).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from zeroskip.hw import timing

#: elements of one [k, batch, pes] work array before the batch is split into chunks
_CHUNK_ELEMENTS = 1 << 21
_NEVER = np.int64(-(1 << 62))


@dataclass
class PassSchedule:
    """Timing of one pass for a batch; cycles relative to the pass's start T."""

    column_end: np.ndarray         #: [batch] C: the column phase's last cycle
    broadcast_done: np.ndarray     #: [batch] done_b
    broadcast_stalls: np.ndarray   #: [batch] cycles the broadcaster waited for a full queue
    nonzeros: np.ndarray           #: [batch] K
    pe_busy: np.ndarray            #: [batch, pes] entries issued
    pe_stall: np.ndarray           #: [batch, pes] cycles waiting for column bounds
    pe_idle: np.ndarray            #: [batch, pes] cycles with nothing to do
    broadcasts: np.ndarray | None = None   #: [batch, Kmax] b_k (only with keep_trace)
    pops: np.ndarray | None = None         #: [batch, Kmax, pes] s[p, k] (only with keep_trace)
    #: [batch, pes] items each PE's queue received: K for a broadcast (None), fewer in a lane pass
    pe_items: np.ndarray | None = None


def schedule_pass(active: np.ndarray, counts: np.ndarray, fifo_depth: int,
                  keep_trace: bool = False, groups: np.ndarray | None = None,
                  group_count: np.ndarray | None = None, lookahead: bool = False,
                  tails: np.ndarray | None = None, registered: bool = False,
                  delay: int = 0, relay: bool = False) -> PassSchedule:
    """Timing of one pass.

    ``active`` bool [batch, in_len]: which columns' activations are broadcast (non-zero).
    ``counts`` int [pes, in_len]: entries (padding included) of each PE's column.
    ``groups`` int [batch, in_len] and ``group_count`` int [batch]: each column's place in the
    pass's group sequence and G (a conv pixel-pass's window, docs/conv.md); by default column j
    is in group ``j div N`` of ``ceil(in_len / N)``.
    ``lookahead``: the bounds are read at push time (``ArchConfig.bounds_lookahead``,
    docs/timing.md "Bounds lookahead").
    ``tails`` int [pes, in_len] (``padding_merge``): 1 where the column's last entry is taken
    along by the one before: the PE learns the column is finished a cycle after its last issue.
    ``registered``: the broadcast item is registered on its way to the queues
    (``ArchConfig.registered_broadcast``, docs/timing.md "Registered broadcast"): an item pushed
    at b is popped at b + 2 at the earliest.
    ``relay``: the broadcast relay (``ArchConfig.broadcast_relay``, docs/timing.md "Broadcast
    relay"): one register more on the item's way (popped at b + 3), and the broadcaster sees the
    queues' room a cycle late.
    ``delay``: cycles the group scan starts later (``ArchConfig.scan_delay``: b_{-1} = T + delay).
    """
    active = np.atleast_2d(np.asarray(active, dtype=bool))
    counts = np.asarray(counts, dtype=np.int64)
    batch = active.shape[0]
    pes = counts.shape[0]
    kmax = int(active.sum(axis=1).max()) if batch else 0
    step = max(1, _CHUNK_ELEMENTS // max(1, kmax * pes))
    if groups is None:
        in_len = active.shape[1]
        groups = np.broadcast_to(np.arange(in_len) // pes, active.shape)
        group_count = np.full(batch, -(-in_len // pes), np.int64)
    chunk = (functools.partial(_schedule_chunk_lookahead, tails=tails,
                               stages=bounds_stages(registered, relay), lag=room_lag(relay))
             if lookahead else
             functools.partial(_schedule_chunk, tails=tails, latency=pop_latency(registered, relay),
                               lag=room_lag(relay)))
    if keep_trace or batch <= step:
        return delayed(chunk(active, counts, fifo_depth, keep_trace, groups, group_count), delay)
    parts = [chunk(active[i:i + step], counts, fifo_depth, False, groups[i:i + step],
                   group_count[i:i + step])
             for i in range(0, batch, step)]
    return delayed(PassSchedule(**{name: np.concatenate([getattr(p, name) for p in parts])
                                   for name in ("column_end", "broadcast_done", "broadcast_stalls",
                                                "nonzeros", "pe_busy", "pe_stall", "pe_idle")}),
                   delay)


def bounds_stages(registered: bool, relay: bool = False) -> int:
    """Cycles a pushed item spends before its queue with the bounds lookahead (in the PE, and
    with the broadcast relay in the relay's register first)."""
    return ((timing.REGISTERED_BOUNDS_STAGES if registered else timing.BOUNDS_STAGES)
            + timing.RELAY_ITEM_STAGES * relay)


def pop_latency(registered: bool, relay: bool = False) -> int:
    """Cycles from an item's push to its earliest pop without the bounds lookahead."""
    return 1 + registered + timing.RELAY_ITEM_STAGES * relay


def room_lag(relay: bool) -> int:
    """Cycles late the broadcaster sees a queue's pop (docs/timing.md "Broadcast relay")."""
    return timing.RELAY_ROOM_LAG * relay


def delayed(schedule: PassSchedule, cycles: int) -> PassSchedule:
    """``schedule`` with its group scan started ``cycles`` later (docs/timing.md "Group feed"):
    every broadcast, pop and end moves by ``cycles``, and every PE idles through them."""
    if not cycles:
        return schedule
    later = lambda v: None if v is None else np.where(v >= 0, v + cycles, v)   # noqa: E731
    return dataclasses.replace(
        schedule, column_end=schedule.column_end + cycles,
        broadcast_done=schedule.broadcast_done + cycles, pe_idle=schedule.pe_idle + cycles,
        broadcasts=later(schedule.broadcasts), pops=later(schedule.pops))


def _broadcast_stalls(broadcast: np.ndarray, gap: np.ndarray, valid_k: np.ndarray) -> np.ndarray:
    """[batch] cycles the broadcaster waited for a full queue: how much later than the group
    scan alone each item went out (``broadcast``, ``gap`` and ``valid_k`` [kmax, batch])."""
    before = np.concatenate([np.zeros((1, broadcast.shape[1]), np.int64), broadcast[:-1]])
    return np.where(valid_k, broadcast - before - gap, 0).sum(axis=0)


def _items(active: np.ndarray, counts: np.ndarray, groups: np.ndarray):
    """The non-zero columns of every sample in broadcast order: K [batch], order and valid
    [batch, kmax], group [batch, kmax], the group-scan gaps [kmax, batch] and each PE's entries
    n [kmax, batch, pes] (0 where masked)."""
    batch = active.shape[0]
    nonzeros = active.sum(axis=1).astype(np.int64)                     # K per sample
    kmax = int(nonzeros.max()) if batch else 0
    # the k-th non-zero of every sample (ascending index), padded to kmax and masked
    order = np.argsort(~active, axis=1, kind="stable")[:, :kmax]       # [batch, kmax]
    valid = np.arange(kmax)[None, :] < nonzeros[:, None]
    group = np.where(valid, np.take_along_axis(groups, order, axis=1), 0)
    previous = np.concatenate([np.full((batch, 1), -1, np.int64), group[:, :-1]], axis=1)
    gap = np.where(valid, np.maximum(group - previous, 1), 0).T.copy()  # 1 + max(0, g_k - g_{k-1} - 1)
    n = counts.T[order]                                                # [batch, kmax, pes]
    n[~valid] = 0
    n = np.ascontiguousarray(n.transpose(1, 0, 2))                      # [kmax, batch, pes]
    return nonzeros, kmax, valid, group, gap, n


def _schedule_chunk(active: np.ndarray, counts: np.ndarray, depth: int,
                    keep_trace: bool, groups: np.ndarray, groups_total: np.ndarray,
                    tails: np.ndarray | None = None, latency: int = 1, lag: int = 0) -> PassSchedule:
    batch, in_len = active.shape
    pes = counts.shape[0]
    nonzeros, kmax, valid, group, gap, n = _items(active, counts, groups)
    tail = 0
    if tails is not None:
        tail = _items(active, tails, groups)[-1]                        # [kmax, batch, pes]
    w = np.where(valid.T[:, :, None], np.maximum(n, 1) + tail, 0)       # w = max(n, 1), 0 if masked
    valid_k = valid.T                                                   # [kmax, batch]
    masked = not bool(valid.all())

    pops = np.empty((kmax, batch, pes), dtype=np.int64)                 # s[p, k]
    broadcast = np.empty((kmax, batch), dtype=np.int64)                 # b_k
    b_prev = np.zeros(batch, dtype=np.int64)                            # b_{-1} = T
    free = np.zeros((batch, pes), dtype=np.int64)                       # s[p,k-1] + w[p,k-1]
    for k in range(kmax):
        b = b_prev + gap[k]
        if k >= depth:          # no PE's queue is full (its pops seen ``lag`` cycles late)
            room = pops[k - depth].max(axis=1) + 1 + lag
            if masked:
                room = np.where(valid_k[k], room, _NEVER)
            b = np.maximum(b, room)
        issue = np.where(valid_k[k], b, _NEVER) if masked else b
        s = np.maximum(issue[:, None] + latency, free)
        free = s + w[k]
        pops[k] = s
        broadcast[k] = b
        b_prev = b

    last = np.maximum(nonzeros - 1, 0)
    rows = np.arange(batch)
    if kmax:
        g_last = np.where(nonzeros > 0, group[rows, last], -1)
    else:
        g_last = np.full(batch, -1, np.int64)
    broadcast_done = b_prev + groups_total - g_last                     # b + 1 + (G - 1 - g)
    column_end = np.maximum(broadcast_done, free.max(axis=1) if pes else 0)

    stalls = _broadcast_stalls(broadcast, gap, valid_k)
    busy = n.sum(axis=0)
    # a pop overlaps the previous column's last entry when s[k] = s[k-1] + n[k-1], n[k-1] > 0
    if kmax > 1:
        overlapped = (pops[1:] == pops[:-1] + w[:-1]) & (n[:-1] > 0) & valid_k[1:, :, None]
        if tails is not None:
            overlapped &= tail[:-1] == 0
        overlapped = overlapped.sum(axis=0)
    else:
        overlapped = np.zeros((batch, pes), np.int64)
    stall = nonzeros[:, None] - overlapped
    idle = column_end[:, None] + 1 - busy - stall
    return PassSchedule(
        column_end=column_end, broadcast_done=broadcast_done, broadcast_stalls=stalls,
        nonzeros=nonzeros, pe_busy=busy, pe_stall=stall, pe_idle=idle,
        broadcasts=np.where(valid, broadcast.T, -1) if keep_trace else None,
        pops=np.where(valid[:, :, None], pops.transpose(1, 0, 2), -1) if keep_trace else None)


def schedule_lanes(active: np.ndarray, counts: np.ndarray, lanes: np.ndarray, groups: np.ndarray,
                   group_count: np.ndarray, fifo_depth: int, lookahead: bool = False,
                   tails: np.ndarray | None = None, registered: bool = False,
                   keep_trace: bool = False, delay: int = 0, relay: bool = False) -> PassSchedule:
    """Timing of a lane pass (docs/timing.md "Lane passes", ``ArchConfig.lane_passes``): every
    group of the sequence takes one cycle, and each of its non-zero lanes is pushed into its own
    PE's queue only, in that cycle, while every queue has room.

    ``active`` bool [batch, in_len], ``groups`` int [batch, in_len] and ``group_count`` [batch] as
    for ``schedule_pass``; ``lanes`` int [batch, in_len] (broadcastable): the PE whose queue takes
    column j (its activation's lane). ``counts`` [pes, in_len]: entries of each PE's column; only
    the lane's PE's count is used (a lane pass's columns have entries in that PE only);
    ``delay`` and ``relay`` as ``schedule_pass``'s (with the relay a PE counts its own pushes)."""
    active = np.atleast_2d(np.asarray(active, dtype=bool))
    counts = np.asarray(counts, dtype=np.int64)
    batch, pes = active.shape[0], counts.shape[0]
    lanes = np.broadcast_to(lanes, active.shape)
    # the active columns of every sample in order; each group holding one is an item
    columns = active.sum(axis=1)
    cmax = int(columns.max()) if batch else 0
    order = np.argsort(~active, axis=1, kind="stable")[:, :cmax]           # [batch, cmax]
    valid_c = np.arange(cmax)[None, :] < columns[:, None]
    group_c = np.take_along_axis(groups, order, axis=1)
    new = valid_c & np.concatenate([np.ones((batch, 1), bool),
                                    group_c[:, 1:] != group_c[:, :-1]], axis=1)
    item_c = np.cumsum(new, axis=1) - 1                                     # its item
    nonzeros = new.sum(axis=1).astype(np.int64)                             # K: groups pushed
    kmax = int(nonzeros.max()) if batch else 0
    lane_c = np.take_along_axis(lanes, order, axis=1)
    b_i, c_i = np.nonzero(valid_c)
    k_i, p_i, j_i = item_c[b_i, c_i], lane_c[b_i, c_i], order[b_i, c_i]
    pushed = np.zeros((kmax, batch, pes), bool)
    n = np.zeros((kmax, batch, pes), np.int64)
    tail = np.zeros((kmax, batch, pes), np.int64)
    pushed[k_i, b_i, p_i] = True
    n[k_i, b_i, p_i] = counts[p_i, j_i]
    if tails is not None:
        tail[k_i, b_i, p_i] = np.asarray(tails)[p_i, j_i]
    group = np.zeros((batch, kmax), np.int64)
    group[b_i[new[b_i, c_i]], k_i[new[b_i, c_i]]] = group_c[valid_c & new]
    valid_k = np.arange(kmax)[:, None] < nonzeros[None, :]                   # [kmax, batch]
    previous = np.concatenate([np.full((batch, 1), -1, np.int64), group[:, :-1]], axis=1)
    gap = np.where(valid_k, (group - previous).T, 0)                        # one cycle per group
    stages, lag = bounds_stages(registered, relay), room_lag(relay)
    if lookahead:
        broadcast, pops, last_issue = _lookahead_core(gap, n, valid_k, fifo_depth, tail, pushed,
                                                      stages, lag)
        stall = np.zeros((batch, pes), np.int64)
    else:
        broadcast, pops, free, stall = _lanes_core(gap, n, tail, pushed, valid_k, fifo_depth,
                                                   pop_latency(registered, relay), lag)
    rows, last = np.arange(batch), np.maximum(nonzeros - 1, 0)
    b_last = broadcast[last, rows] if kmax else np.zeros(batch, np.int64)
    g_last = np.where(nonzeros > 0, group[rows, last], -1) if kmax else np.full(batch, -1, np.int64)
    if lookahead:       # the last item leaves the bounds stage at b + stages + 1; PEs free after their issue
        finish = np.where(nonzeros > 0, b_last + stages + 1, 0)
        if pes:
            finish = np.maximum(finish, last_issue.max(axis=1))
    else:
        finish = free.max(axis=1) if pes else np.zeros(batch, np.int64)
    broadcast_done = np.where(nonzeros > 0, b_last, 0) + group_count - g_last
    column_end = np.maximum(broadcast_done, finish)
    stalls = _broadcast_stalls(broadcast, gap, valid_k)
    busy = n.sum(axis=0)
    return delayed(PassSchedule(
        column_end=column_end, broadcast_done=broadcast_done, broadcast_stalls=stalls,
        nonzeros=nonzeros, pe_busy=busy, pe_stall=stall,
        pe_idle=column_end[:, None] + 1 - busy - stall,
        broadcasts=np.where(valid_k.T, broadcast.T, -1) if keep_trace else None,
        pops=np.where(pushed.transpose(1, 0, 2), pops.transpose(1, 0, 2), -1) if keep_trace else None,
        pe_items=pushed.sum(axis=0).astype(np.int64)), delay)


def _lanes_core(gap, n, tail, pushed, valid_k, depth: int, latency: int, lag: int = 0):
    """The lane pass recurrence without the bounds lookahead: item k (a group) goes out at
    ``b_k = max(b_{k−1} + gap_k, max_p S_p + 1 + lag)``, S_p the pop of PE p's D-th latest item
    (its queue is full until then); PE p pops an item it was pushed at ``max(b_k + latency, F_p)``
    and is free at ``F_p = s + max(n, 1)`` (plus the padding merge's tail). Returns b [kmax,
    batch], s [kmax, batch, pes], F [batch, pes] and the stall cycles [batch, pes] (pops that do
    not coincide with the previous column's last entry)."""
    kmax, batch, pes = n.shape
    broadcast = np.zeros((kmax, batch), np.int64)
    pops = np.full((kmax, batch, pes), -1, np.int64)
    queued = np.full((batch, pes, depth), _NEVER, np.int64)      # p's last D pops, oldest first
    b_prev = np.zeros(batch, np.int64)
    free = np.zeros((batch, pes), np.int64)
    last_n = np.zeros((batch, pes), np.int64)                    # entries of p's previous item
    last_tail = np.zeros((batch, pes), np.int64)
    stall = np.zeros((batch, pes), np.int64)
    for k in range(kmax):
        ok = valid_k[k]
        b = np.maximum(b_prev + gap[k], queued[:, :, 0].max(axis=1) + 1 + lag)
        on = pushed[k] & ok[:, None]
        s = np.maximum(b[:, None] + latency, free)
        stall += on & ~((s == free) & (last_n > 0) & (last_tail == 0))
        free = np.where(on, s + np.maximum(n[k], 1) + tail[k], free)
        last_n, last_tail = np.where(on, n[k], last_n), np.where(on, tail[k], last_tail)
        queued = np.where(on[:, :, None], np.concatenate([queued[:, :, 1:], s[:, :, None]], axis=2),
                          queued)
        pops[k] = np.where(on, s, -1)
        b_prev = np.where(ok, b, b_prev)
        broadcast[k] = b_prev
    return broadcast, pops, free, stall


def _lookahead_core(gap: np.ndarray, n: np.ndarray, valid_k: np.ndarray, depth: int, tail=0,
                    pushed: np.ndarray | None = None, stages: int = timing.BOUNDS_STAGES,
                    lag: int = 0):
    """The bounds-lookahead recurrence (docs/timing.md "Bounds lookahead") over items k:
    ``gap`` [kmax, batch] the group scan's cycles before item k, ``n`` [kmax, batch, pes] its
    entries, ``valid_k`` [kmax, batch], ``pushed`` [kmax, batch, pes] which PEs' queues take it
    (every PE's by default; a lane pass's lanes). Returns b [kmax, batch], s [kmax, batch, pes] (−1 for an
    empty column, which is never popped) and the cycle each PE is free from [batch, pes]: its
    last issue, or the cycle after it when its last column's last entry was taken along by the
    padding merge (``tail`` [kmax, batch, pes], 0 or 1). An item spends ``stages`` cycles in a
    PE before its queue (``bounds_stages``): an empty one holds its place for those cycles, a
    non-empty one until its pop, at b + stages + 1 at the earliest; the broadcaster sees both
    ``lag`` cycles late (``room_lag``)."""
    kmax, batch = gap.shape
    pes = n.shape[2]
    broadcast = np.zeros((kmax, batch), np.int64)
    pops = np.full((kmax, batch, pes), -1, np.int64)
    # the pops of each PE's last ``depth`` non-empty columns, oldest first: those still queued
    queued = np.full((batch, pes, depth), _NEVER, np.int64)
    b_prev = np.zeros(batch, np.int64)                                  # b_{-1} = T
    free = np.zeros((batch, pes), np.int64)                             # s + n of the last column
    last_issue = np.full((batch, pes), _NEVER, np.int64)
    # the pushes of the last ``stages + lag`` items, where they were empty on p (_NEVER elsewhere)
    empties = np.full((batch, pes, stages + lag), _NEVER, np.int64)
    for k in range(kmax):
        ok = valid_k[k]
        b = np.maximum(b_prev + gap[k], queued[:, :, 0].max(axis=1) + 1 + lag)
        while True:     # the first b at which every PE holds fewer than ``depth`` items
            held = ((queued >= (b - lag)[:, None, None]).sum(axis=2)
                    + (empties >= (b - stages - lag)[:, None, None]).sum(axis=2))
            blocked = (held >= depth).any(axis=1) & ok
            if not blocked.any():
                break
            b = b + blocked
        taken = ok[:, None] if pushed is None else ok[:, None] & pushed[k]
        nonempty = (n[k] > 0) & taken
        s = np.maximum(b[:, None] + stages + 1, free)
        free = np.where(nonempty, s + n[k], free)
        last_issue = np.where(nonempty, s + n[k] - 1 + (tail[k] if np.ndim(tail) else 0), last_issue)
        queued = np.where(nonempty[:, :, None],
                          np.concatenate([queued[:, :, 1:], s[:, :, None]], axis=2), queued)
        empties = np.concatenate(
            [empties[:, :, 1:], np.where((n[k] == 0) & taken, b[:, None], _NEVER)[:, :, None]], axis=2)
        pops[k] = np.where(nonempty, s, -1)
        b_prev = np.where(ok, b, b_prev)
        broadcast[k] = b_prev
    return broadcast, pops, last_issue


def _schedule_chunk_lookahead(active: np.ndarray, counts: np.ndarray, depth: int,
                              keep_trace: bool, groups: np.ndarray,
                              groups_total: np.ndarray, tails: np.ndarray | None = None,
                              stages: int = timing.BOUNDS_STAGES, lag: int = 0) -> PassSchedule:
    """``_schedule_chunk`` with the bounds read at push time: no stall, empty columns free."""
    batch = active.shape[0]
    pes = counts.shape[0]
    nonzeros, kmax, valid, group, gap, n = _items(active, counts, groups)
    valid_k = valid.T
    tail = 0 if tails is None else _items(active, tails, groups)[-1]
    broadcast, pops, last_issue = _lookahead_core(gap, n, valid_k, depth, tail, stages=stages, lag=lag)
    rows = np.arange(batch)
    last = np.maximum(nonzeros - 1, 0)
    b_last = broadcast[last, rows] if kmax else np.zeros(batch, np.int64)
    g_last = np.where(nonzeros > 0, group[rows, last], -1) if kmax else np.full(batch, -1, np.int64)
    broadcast_done = np.where(nonzeros > 0, b_last, 0) + groups_total - g_last
    # the last item leaves the bounds stage at b_{K-1} + stages + 1; a PE is free after its last issue
    column_end = np.maximum(broadcast_done, np.where(nonzeros > 0, b_last + stages + 1, 0))
    if pes:
        column_end = np.maximum(column_end, last_issue.max(axis=1))
    stalls = _broadcast_stalls(broadcast, gap, valid_k)
    busy = n.sum(axis=0)
    stall = np.zeros((batch, pes), np.int64)
    return PassSchedule(
        column_end=column_end, broadcast_done=broadcast_done, broadcast_stalls=stalls,
        nonzeros=nonzeros, pe_busy=busy, pe_stall=stall, pe_idle=column_end[:, None] + 1 - busy,
        broadcasts=np.where(valid, broadcast.T, -1) if keep_trace else None,
        pops=np.where(valid[:, :, None], pops.transpose(1, 0, 2), -1) if keep_trace else None)


def schedule_binary_pass(in_len: int, pes: int, line_bits: int, planes: int, rows: int,
                         fifo_depth: int, keep_trace: bool = False,
                         lookahead: bool = False, registered: bool = False,
                         delay: int = 0, relay: bool = False) -> tuple[PassSchedule, int]:
    """Timing of one binary pass (docs/binary-mode.md) for any input — no zero skipping, so it
    does not depend on the data. Returns the schedule (batch of one) and the group reads."""
    chunks = -(-in_len // line_bits)
    last_group = (np.minimum((np.arange(chunks) + 1) * line_bits, in_len) - 1) // pes   # l_c
    reads = np.diff(last_group, prepend=-1)                                           # r_c
    per_item = np.tile(np.maximum(reads, 1), max(planes, 1))                          # plane-major
    schedule = schedule_binary_items(per_item, pes, rows, fifo_depth, keep_trace, lookahead,
                                     registered=registered, delay=delay, relay=relay)
    return schedule, int(reads.sum()) * max(planes, 1)


def binary_window_items(geometry, pes: int, line_bits: int, planes: int):
    """A binary conv pass's items, per output pixel (docs/binary-mode.md, "Binary conv passes"):
    for every plane, the kernel positions in row-major order; an inside position [B, B + C) is
    ``ceil(C / line_bits)`` chunks, a position in the padding one cycle with no item. Returns,
    per pixel, (the items' gaps g_k, the padding positions after the last item, group reads,
    padding positions)."""
    g = geometry
    k, c = g.kernel, g.in_channels
    per_tap = -(-c // line_bits)
    base = g.windows(pes).index.reshape(g.pixels, k * k, c)[:, :, 0]         # B, −1 in the padding
    inside = base >= 0
    start = base[:, :, None] + np.arange(per_tap) * line_bits                 # [P, k·k, chunks]
    end = base[:, :, None] + np.minimum(c, (np.arange(per_tap) + 1) * line_bits)
    last = (end - 1) // pes                                                    # l_c
    before = np.concatenate([start[:, :, :1] // pes - 1, last[:, :, :-1]], axis=2)
    reads = last - before                                                      # r_c (r_0 = l_0 − f_0 + 1)
    gaps = np.maximum(reads, 1)
    out = []
    for pixel in range(g.pixels):
        sequence, pending = [], 0
        for _ in range(max(planes, 1)):
            for tap in range(k * k):
                if not inside[pixel, tap]:
                    pending += 1
                    continue
                tap_gaps = gaps[pixel, tap].copy()
                tap_gaps[0] += pending
                pending = 0
                sequence.append(tap_gaps)
        total = int(reads[pixel][inside[pixel]].sum()) * max(planes, 1)
        padding = int((~inside[pixel]).sum()) * max(planes, 1)
        out.append((np.concatenate(sequence).astype(np.int64), pending, total, padding))
    return out


def schedule_binary_items(per_item: np.ndarray, pes: int, rows: int, fifo_depth: int,
                          keep_trace: bool = False, lookahead: bool = False,
                          trailing: int = 0, registered: bool = False,
                          delay: int = 0, relay: bool = False) -> PassSchedule:
    """The binary broadcast recurrence ``b_k = max(b_{k−1} + g_k, max_p s[p, k−D] + 1)`` over the
    items' gaps ``per_item`` (batch of one); ``trailing`` cycles after the last item before the
    broadcaster is done (padding positions examined); ``registered`` and ``delay``: as
    ``schedule_pass``'s (and ``relay``)."""
    per_item = np.asarray(per_item, np.int64)
    if lookahead:
        return delayed(_binary_lookahead(per_item, pes, rows, fifo_depth, keep_trace, trailing,
                                         bounds_stages(registered, relay), room_lag(relay)), delay)
    return delayed(_binary_items(per_item, pes, rows, fifo_depth, keep_trace, trailing,
                                 pop_latency(registered, relay), room_lag(relay)), delay)


def _binary_items(per_item: np.ndarray, pes: int, rows: int, fifo_depth: int, keep_trace: bool,
                  trailing: int, latency: int, lag: int) -> PassSchedule:
    """``schedule_binary_items`` without the bounds lookahead."""
    items = len(per_item)
    broadcast = np.zeros(items, np.int64)
    pops = np.zeros(items, np.int64)
    b, free = 0, None                                                                 # b_{-1} = T
    for k in range(items):
        b = b + int(per_item[k])
        if k >= fifo_depth:
            b = max(b, int(pops[k - fifo_depth]) + 1 + lag)
        s = b + latency if free is None else max(b + latency, free)
        free = s + rows
        broadcast[k], pops[k] = b, s
    done = (int(broadcast[-1]) + 1 if items else 1) + trailing
    finish = free if free is not None else 0
    column_end = max(done, finish)
    busy = rows * items
    overlapped = int(np.sum(pops[1:] == pops[:-1] + rows)) if rows > 0 else 0
    stall = items - overlapped
    scan = np.concatenate([[0], broadcast[:-1]]) + per_item
    one = lambda v: np.full((1, pes), v, np.int64)                                    # noqa: E731
    return PassSchedule(
        column_end=np.array([column_end]), broadcast_done=np.array([done]),
        broadcast_stalls=np.array([int((broadcast - scan).sum())]), nonzeros=np.array([items]),
        pe_busy=one(busy), pe_stall=one(stall), pe_idle=one(column_end + 1 - busy - stall),
        broadcasts=broadcast[None] if keep_trace else None,
        pops=np.repeat(pops[None, :, None], pes, axis=2) if keep_trace else None)


def _binary_lookahead(per_item: np.ndarray, pes: int, rows: int, depth: int,
                      keep_trace: bool, trailing: int = 0,
                      stages: int = timing.BOUNDS_STAGES, lag: int = 0) -> PassSchedule:
    """A binary pass with the bounds lookahead: every item is a column of ``rows`` lines."""
    items = len(per_item)
    gap = per_item.astype(np.int64)[:, None]
    n = np.full((items, 1, 1), rows, np.int64)
    broadcast, pops, last_issue = _lookahead_core(gap, n, np.ones((items, 1), bool), depth,
                                                  stages=stages, lag=lag)
    b_last = int(broadcast[-1, 0]) if items else 0
    done = (b_last + 1 if items else 1) + trailing
    column_end = max(done, b_last + stages + 1 if items else 0, int(last_issue[0, 0]))
    busy = rows * items
    scan = np.concatenate([[0], broadcast[:-1, 0]]) + per_item if items else np.zeros(0, np.int64)
    one = lambda v: np.full((1, pes), v, np.int64)                                    # noqa: E731
    return PassSchedule(
        column_end=np.array([column_end]), broadcast_done=np.array([done]),
        broadcast_stalls=np.array([int((broadcast[:, 0] - scan).sum())]), nonzeros=np.array([items]),
        pe_busy=one(busy), pe_stall=one(0), pe_idle=one(column_end + 1 - busy),
        broadcasts=broadcast[:, 0][None] if keep_trace else None,
        pops=np.repeat(pops[:, 0, 0][None, :, None], pes, axis=2) if keep_trace else None)
