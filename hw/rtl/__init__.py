"""RTL tooling: finding Icarus and Verilator, building the generated Verilog, running it under cocotb."""
