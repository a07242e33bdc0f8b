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

#: cycles between ``start`` and the first pass's first cycle (descriptor fetch)
PROGRAM_HEAD = 2

#: cycles between the last pass's end and ``done`` rising
PROGRAM_TAIL = 1
