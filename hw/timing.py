"""The micro-architecture's timing constants: shared by the cycle simulator and the gateware.

The full timing model is written out in ``docs/timing.md``; the simulator (``zeroskip.sim``)
implements it and the gateware (``zeroskip.hw``) exhibits it, cycle for cycle. Change a constant
here and both change.
"""

#: cycles from a pass's last MAC issue (the cycle after the column phase ends) until the
#: accumulators may be read by the requantisation sweep: the MAC pipeline's depth
MAC_DRAIN = 4

#: cycles the requantisation sweep needs after its last row read (read, add bias, shift, write)
REQUANT_TAIL = 3

#: the gateware's pipeline inside those (docs/timing.md): cycles from an entry's issue to its
#: accumulator write, and from a sweep row's read to its activation write. The timing model
#: never sees them; they only have to fit: MAC_WRITE_LATENCY <= MAC_DRAIN and
#: REQUANT_WRITE_LATENCY <= REQUANT_TAIL (the control unit asserts it)
MAC_WRITE_LATENCY = 4
REQUANT_WRITE_LATENCY = 3

#: with ``group_feed`` (docs/timing.md "Group feed"): the activation is registered once more
#: before the destination bank's write port, so the sweep writes a cycle later
#: (``ArchConfig.requant_write_latency``): a pass's last activation may land in the next pass's
#: first cycle T, since with the feed the next pass reads its first group at T + 1
REQUANT_OUTPUT_STAGES = 1

#: with ``sweep_overlap`` (docs/timing.md "Sweep overlap"): cycles from a pixel-pass's column
#: phase end C to the next pixel-pass's first cycle (the control unit sees C at C + 1)
PIXEL_RESTART = 2

#: with ``group_feed`` (docs/timing.md "Group feed"): cycles the group scan of every pass (and
#: pixel-pass) starts later, b_{-1} = T + GROUP_FEED_LATENCY: the walker's first token, issued at
#: T, is read from the banks at T + 1, in the banks' output registers at T + 3 and in the feed at
#: T + 4, when the LNZD may use it
GROUP_FEED_LATENCY = 3

#: with ``bounds_lookahead`` (docs/timing.md "Bounds lookahead"): the cycles a pushed item spends
#: in a PE before it may enter the queue (or vanish, an empty column): the bounds stage; with
#: ``registered_broadcast`` also the broadcast register (the pointer read issued from it) and the
#: bounds registered out of the pointer block RAM
BOUNDS_STAGES = 1
REGISTERED_BOUNDS_STAGES = 3

#: with ``broadcast_relay`` (docs/timing.md "Broadcast relay"): the item's register at the
#: broadcaster, a cycle more from a push to the PEs (and one more stage an item spends before a
#: queue), and the register of the queues' room there, so the broadcaster counts the pushes of
#: the last RELAY_ITEM_STAGES + RELAY_ROOM_LAG cycles itself and sees a pop that much later
RELAY_ITEM_STAGES = 1
RELAY_ROOM_LAG = 1

#: with ``entry_stage`` (docs/timing.md "Entry stage"): the MAC pipeline's stage in which the
#: entry is sliced out of its line (binary: the line's agreement with the item), registered
#: before the row's sum and the codebook's read; MAC_DRAIN and MAC_WRITE_LATENCY grow by it
ENTRY_STAGES = 1

#: with ``pe_copies`` (docs/timing.md "PE copies"): each PE's ``free`` is registered before the
#: array's AND into the control unit, which sees a column phase end C at C + 2; the drain is a
#: cycle shorter (the sweep still reads at C + mac_drain), and a sweep-overlap pixel-pass restarts
#: a cycle later (``ArchConfig.pixel_restart``)
COLUMN_END_STAGES = 1

#: with ``pe_copies``: each PE registers the control unit's sweep (flag, row, bias address), so
#: the control unit sweeps a cycle ahead and every pass drains ``SWEEP_COPY_STAGES`` cycle longer
#: (``ArchConfig.mac_drain``)
SWEEP_COPY_STAGES = 1

#: with ``pe_copies``: the MAC writes its sum from registers a cycle after its stage 4, in the
#: drain's cycle more (``ArchConfig.mac_write_latency``; docs/timing.md "PE copies")
MAC_OUTPUT_STAGES = 1

#: cycles between ``start`` and the first pass's first cycle (descriptor fetch)
PROGRAM_HEAD = 2

#: cycles between the last pass's end and ``done`` rising
PROGRAM_TAIL = 1
