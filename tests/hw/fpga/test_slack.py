"""Every endpoint's slack from nextpnr's SDF (hw/fpga/slack.py), on hand-made SDF shaped like
nextpnr-ecp5 0.11's: arrivals add cell arcs and routed connections from a clocked output,
setup is taken off the period, paths from pins, constants and loops are left out, and the
failing endpoints group by register with the PEs folded."""

from __future__ import annotations

import pytest

from zeroskip.hw.fpga import slack


def cell(kind: str, name: str, arcs=(), setups=()) -> str:
    iopaths = "".join(f"        (IOPATH {a} {b} (0:{d // 2}:{d}) (0:{d // 2}:{d}))\n"
                      for a, b, d in arcs)
    checks = "".join(f"      (SETUPHOLD (posedge {p}) (posedge CLK) (0:{s // 2}:{s}) (0:0:0))\n"
                     for p, s in setups)
    return (f"  (CELL\n    (CELLTYPE \"{kind}\")\n    (INSTANCE {name})\n"
            f"    (DELAY\n      (ABSOLUTE\n{iopaths}      )\n    )\n"
            + (f"    (TIMINGCHECK\n{checks}    )\n" if checks else "") + "    )\n")


def sdf(wires, cells) -> str:
    connections = "".join(f"        (INTERCONNECT {a} {b} (0:0:{d}) (0:0:{d}))\n"
                          for a, b, d in wires)
    top = (f"  (CELL\n    (CELLTYPE \"top\")\n    (INSTANCE )\n    (DELAY\n      (ABSOLUTE\n"
           f"{connections}      )\n    )\n    )\n")
    return "(DELAYFILE\n  (SDFVERSION \"3.0\")\n  (DIVIDER /)\n  (TIMESCALE 1ps)\n" + top + "".join(cells) + ")\n"


def flop(name, clk_to_q=500, setup=100):
    return cell("TRELLIS_FF", name, [("CLK", "Q", clk_to_q)], [("DI", setup), ("CE", 300)])


def lut(name, delay=200):
    return cell("TRELLIS_COMB", name, [(p, "F", delay) for p in "ABCD"])


#: pe0.a -> lut -> pe0.b (500 + 1000 + 200 + 700 = 2400 ps, setup 100); pe1's copy is 300 ps
#: faster; a pin drives c; two LUTs in a loop drive d
DESIGN = sdf(
    wires=[("pe0.a_TRELLIS_FF_Q_3/Q", "pe0.l/A", 1000), ("pe0.l/F", "pe0.b_TRELLIS_FF_Q_1/DI", 700),
           ("pe1.a_TRELLIS_FF_Q_3/Q", "pe1.l/A", 700), ("pe1.l/F", "pe1.b_TRELLIS_FF_Q_1/DI", 700),
           ("pe0.a_TRELLIS_FF_Q_3/Q", "pe0.b_TRELLIS_FF_Q_1/CE", 900),
           ("bus__adr\\$tr_io/O", "c_TRELLIS_FF_Q/DI", 5000),
           ("x/F", "y/A", 300), ("y/F", "x/A", 300), ("y/F", "d_TRELLIS_FF_Q/DI", 300)],
    cells=[flop("pe0.a_TRELLIS_FF_Q_3"), flop("pe0.b_TRELLIS_FF_Q_1"), lut("pe0.l"),
           flop("pe1.a_TRELLIS_FF_Q_3"), flop("pe1.b_TRELLIS_FF_Q_1"), lut("pe1.l"),
           cell("TRELLIS_IO", "bus__adr\\$tr_io", [("PADDI", "O", 100)]),
           flop("c_TRELLIS_FF_Q"), lut("x"), lut("y"), flop("d_TRELLIS_FF_Q")])


def test_slack_is_the_period_less_setup_and_the_worst_arrival():
    ends = slack.endpoint_slacks(DESIGN, 2.0)
    assert [(e.end, e.port, e.slack_ns) for e in ends] == [
        ("pe0.b_TRELLIS_FF_Q_1", "DI", -0.5),      # 2000 - 100 - 2400
        ("pe1.b_TRELLIS_FF_Q_1", "DI", -0.2),
        ("pe0.b_TRELLIS_FF_Q_1", "CE", 0.3)]       # 2000 - 300 - (500 + 900)
    assert ends[0].start == "pe0.a_TRELLIS_FF_Q_3"
    assert ends[0].through == ("pe0.l", "pe0.b_TRELLIS_FF_Q_1") and ends[2].through == ()


def test_pins_constants_and_loops_launch_nothing():
    ends = {e.end for e in slack.endpoint_slacks(DESIGN, 2.0)}
    assert "c_TRELLIS_FF_Q" not in ends and "d_TRELLIS_FF_Q" not in ends


def test_failing_endpoints_group_by_register_with_the_pes_folded():
    result = slack.summary(DESIGN, 2.0)
    assert (result["endpoints"], result["failing"], result["worst_slack_ns"]) == (3, 2, -0.5)
    assert result["groups"] == [{"from": "pe*.a", "to": "pe*.b", "port": "DI", "failing": 2,
                                 "worst_slack_ns": -0.5, "through": ["pe*.l"]}]
    assert slack.summary(DESIGN, 1.0)["below_2ns"] == 0
    assert slack.summary(DESIGN, 0.1)["below_2ns"] == 2      # -2.4, -2.1 and -1.6


@pytest.mark.parametrize("instance, name", [
    ("pe3.count_0_TRELLIS_FF_Q_4", "pe*.count_0"),
    ("pe1.acc.0.0", "pe*.acc"),
    ("core.accelerator.pe0.act1.0.0_RAM", "core.accelerator.pe*.act1"),
    ("\\$signal_TRELLIS_FF_Q", "$signal"),
    ("broadcast.feed_head_group[2]_TRELLIS_FF_Q_1", "broadcast.feed_head_group[2]"),
])
def test_register_names(instance, name):
    assert slack.register_name(instance) == name


def test_the_lines_name_the_count_and_the_largest_groups():
    text = slack.lines(slack.summary(DESIGN, 2.0))
    assert text[0] == "failing endpoints at 500 MHz: 2 of 3 (0 below -2 ns)"
    assert "pe*.a -> pe*.b.DI" in text[1] and "-0.50" in text[1]
