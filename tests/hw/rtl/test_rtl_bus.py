"""The Wishbone slave's handshake on the generated Verilog, at the signal level: back-to-back
classic transfers (registers, a wide entry, the activation banks of every PE) with ``cyc`` and
``stb`` held high, ``ack`` low in each request's first ``regmap.transfer_cycles(arch)`` − 1 cycles and
high with the data in its last (``wishbone_handshake_tb.py``). The host driver's adapter cannot
see that (benchmarks/mutants.py: ``ack-held``, ``ack-early``, ``ack-before-decode``). On the quick build the other tests share.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from zeroskip.hw import regmap
from zeroskip.hw.rtl.build import TIMESCALE, _tail, build, generated_verilog, using
from zeroskip.hw.rtl.toolchain import SIMULATORS, require_simulator

from regression import QUICK

pytestmark = pytest.mark.rtl


def handshake_transfers(arch) -> list:
    """[address, data or None, expected read or None]: the ID; a scratch register written and
    read back; a descriptor (an entry wider than a word: its low words are staged); every PE's
    activation words written, then read back one after another, then the status."""
    regions = regmap.regions(arch)
    act_mask = (1 << arch.act_bits) - 1
    transfers = [[regmap.REG_ID, None, regmap.fingerprint(arch)],
                 [regmap.REG_LAYERS, 0x5A5A1234, None],
                 [regmap.REG_LAYERS, None, 0x5A5A1234]]
    descriptors = regions["descriptors"]
    transfers += [[descriptors.address(0, word=w), 0x1111 * (w + 1), None]
                  for w in range(descriptors.words)]
    values = {}
    for pe in range(arch.pes):
        for index in range(3):
            values[pe, index] = (0x1357 + 0x2468 * (3 * pe + index)) & act_mask
            transfers.append([regions["act0"].address(index, pe), values[pe, index], None])
    transfers += [[regions["act0"].address(index, pe), None, value]
                  for (pe, index), value in values.items()]
    transfers.append([regmap.REG_STATUS, None, 0])
    return transfers


@pytest.mark.parametrize("simulator, arch", [*((simulator, QUICK) for simulator in SIMULATORS),
                                             ("icarus", dataclasses.replace(QUICK, pe_copies=1))],
                         ids=[*SIMULATORS, "icarus-pe-copies"])
def test_back_to_back_transfers_take_their_cycles_each(simulator, arch, tmp_path, monkeypatch):
    """(With ``pe_copies`` a transfer takes two cycles more: each PE registers the load port
    twice.)"""
    from cocotb_tools.runner import get_results, get_runner

    simulator = require_simulator(simulator)
    generated = generated_verilog(arch)
    model = build(generated["verilog"], generated["name"], simulator)
    # under pytest cocotb's runner exits the process on a failed test: the results file says
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    # the runner hands sys.path to the simulator's Python: the test module is found next to us
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    log = tmp_path / "sim.log"
    with using(model):
        xml = get_runner(simulator).test(
            test_module="wishbone_handshake_tb", hdl_toplevel=model.toplevel,
            hdl_toplevel_lang="verilog", build_dir=model.directory, test_dir=tmp_path,
            results_xml=str(tmp_path / "results.xml"), timescale=TIMESCALE, log_file=log,
            extra_env={"ZEROSKIP_BUS_TB": json.dumps(handshake_transfers(arch)),
                       "ZEROSKIP_BUS_CYCLES": str(regmap.transfer_cycles(arch))})
    tests, failed = get_results(Path(xml))
    text = log.read_text(errors="replace") if log.exists() else ""
    why = [line.strip() for line in text.splitlines() if "Error" in line]
    assert (tests, failed) == (1, 0), why[-1] if why else _tail(log, 40)
