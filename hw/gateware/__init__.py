"""The gateware: Amaranth components that implement the contract in ``zeroskip.hw``."""

#: the attribute of the registers each PE holds a copy of for the clock (its broadcast register):
#: the copies are alike, and Yosys's opt_merge would fold them into one cell driving every PE
#: across the die, so the FPGA flow marks their cells ``keep`` (hw/fpga/flow.py, docs/fpga.md).
#: Here, not in pe.py, so the flow names it without importing Amaranth
OWN_COPY = "zeroskip_own_copy"
