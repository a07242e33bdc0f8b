"""Out-of-context FPGA builds of the accelerator (no board, no pins): Yosys synthesis and
nextpnr place and route for ECP5 and iCE40, with Fmax, utilisation and the critical path
(``zeroskip synth``, ``benchmarks/synth.py``; docs/fpga.md)."""
