"""The cocotb testbench of the generated Verilog: the shared host driver (``zeroskip.hw.host``)
over a Wishbone adapter on the DUT's ports, so the RTL is driven exactly as the Amaranth
simulation and a board are.

Run by ``zeroskip.hw.rtl.run`` (never by hand): it reads the JSON file named by
``$ZEROSKIP_TB_CONFIG`` (ports, expected ID, jobs = program directory + ``.npy`` inputs + whether
to load the program over the bus or rely on its ``$readmemh`` images + each input's cycle limit)
and writes a JSON file with, per job, the RTL's outputs and cycle counter for every input (or
which input overran its limit; before each input it notes which, for a run killed by the clock). It checks only the ID register and the bus protocol; comparing
the results with the reference and the simulator is the caller's job, so one failing input does
not hide the others.
"""

from __future__ import annotations

import json
import os
import time
import traceback

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import from_dict
from zeroskip.hw.host import AcceleratorTimeout, Host
from zeroskip.hw.program import load_program
from zeroskip.hw.regmap import DATA_BITS, REG_ID

CLOCK_NS = 10
RESET_CYCLES = 4


class WishboneBus:
    """Adapter from a cocotb DUT to the host driver's ``read``/``write`` coroutines: one
    classic Wishbone transfer each. Inputs change only after a falling edge and outputs are
    sampled in the read-only phase after a rising edge, so Icarus and Verilator agree."""

    def __init__(self, dut, prefix: str = "bus__", ack_timeout: int = 64):
        self.clk = dut.clk
        self.signals = {name: getattr(dut, prefix + name)
                        for name in ("cyc", "stb", "we", "adr", "sel", "dat_w", "dat_r", "ack")}
        self.ack_timeout = ack_timeout
        self.transfers = 0
        self.idle()

    def idle(self) -> None:
        s = self.signals
        s["cyc"].value = 0
        s["stb"].value = 0
        s["we"].value = 0
        s["sel"].value = 0
        s["adr"].value = 0
        s["dat_w"].value = 0

    async def _transfer(self, addr: int, data: int | None) -> int:
        s = self.signals
        s["adr"].value = addr
        s["we"].value = int(data is not None)
        s["dat_w"].value = 0 if data is None else data
        s["sel"].value = (1 << (DATA_BITS // 8)) - 1
        s["cyc"].value = 1
        s["stb"].value = 1
        for _ in range(self.ack_timeout):
            await RisingEdge(self.clk)
            await ReadOnly()
            if int(s["ack"].value):
                if data is None and not s["dat_r"].value.is_resolvable:
                    raise ZeroskipError(f"Wishbone read of address {addr:#x}: dat_r is {s['dat_r'].value}")
                value = int(s["dat_r"].value) if data is None else 0
                await FallingEdge(self.clk)
                s["cyc"].value = 0
                s["stb"].value = 0
                s["we"].value = 0
                self.transfers += 1
                return value
        raise ZeroskipError(f"no Wishbone ack within {self.ack_timeout} cycles at address {addr:#x}")

    async def read(self, addr: int) -> int:
        return await self._transfer(addr, None)

    async def write(self, addr: int, data: int) -> None:
        await self._transfer(addr, data & ((1 << DATA_BITS) - 1))


def _cycle() -> int:
    return int(get_sim_time("ns") // CLOCK_NS)


async def _reset(dut) -> None:
    dut.rst.value = 1
    for _ in range(RESET_CYCLES):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


@cocotb.test()
async def run_jobs(dut):
    """Load each program (or rely on its images loaded at start), run its inputs, record."""
    config = json.loads(open(os.environ["ZEROSKIP_TB_CONFIG"]).read())
    results = {"id": None, "jobs": [], "error": None, "timeout": None}
    try:
        arch = from_dict(config["arch"])
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        bus = WishboneBus(dut, config.get("bus_prefix", "bus__"))
        await _reset(dut)
        host = Host(arch, bus.read, bus.write)
        results["id"] = await bus.read(REG_ID)
        if results["id"] != config["fingerprint"]:
            raise ZeroskipError(f"ID register reads {results['id']:#010x}, the gateware was "
                                f"generated with fingerprint {config['fingerprint']:#010x}")
        for j, job in enumerate(config["jobs"]):
            program = load_program(job["program"])
            inputs = np.load(job["inputs"])
            start = time.perf_counter()
            await host.load_program(program, write_images=job["bus_load"])
            loaded = time.perf_counter()
            first_cycle = _cycle()
            outputs, cycles = [], []
            for k, (x, limit) in enumerate(zip(inputs, job["max_cycles"])):
                _write_json(config["progress"], {"job": j, "input": k})   # for a killed run
                try:
                    out, count = await host.run(x, max_cycles=limit)
                except AcceleratorTimeout as timeout:
                    results["timeout"] = {"job": j, "input": k, "limit": timeout.limit}
                    raise
                outputs.append([int(v) for v in out])
                cycles.append(int(count))
            results["jobs"].append({
                "outputs": outputs, "cycles": cycles, "load_seconds": loaded - start,
                "run_seconds": time.perf_counter() - loaded, "run_sim_cycles": _cycle() - first_cycle})
    except ZeroskipError as error:
        results["error"] = str(error)
    except Exception as error:   # recorded for the caller, then the cocotb test fails too
        results["error"] = f"testbench error: {error!r}\n{traceback.format_exc()}"
    _write_json(config["results"], results)
    assert results["error"] is None, results["error"]
