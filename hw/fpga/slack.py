"""Every endpoint's slack after routing, from the delays nextpnr writes (``--sdf``).

nextpnr's report names one critical path per clock. Closing timing wants every path that
fails, grouped by the register it starts from and the register it ends in, so that the next
pipeline stage goes where most of them are rather than where one seed's worst path happened to
fall. The delays are nextpnr's own: its SDF holds each cell's arcs, each routed connection's
delay and each register's setup time, so the worst slack here is the worst slack of its report
(checked against it in tests/hw/fpga/test_slack.py and docs/fpga.md).

One clock is assumed (an out-of-context build's): every clocked cell launches at the same edge
and captures one ``period_ns`` later. Paths from or to the pins and from constants are left out,
as nextpnr leaves the unconstrained I/O out of its Fmax.
"""

from __future__ import annotations

import collections
import re
import sys
from dataclasses import dataclass

#: a clocked cell's clock pins: ``CLK`` (flip-flops, DP16KD's ``CLKA``/``CLKB``, iCE40 logic
#: cells and DSPs), ``RCLK``/``WCLK`` (iCE40 block RAM), ``WCK`` (ECP5 LUT RAM)
_CLOCK_PIN = re.compile(r"CLK|WCK")
_TRIPLE = r"\((-?\d+):(-?\d+):(-?\d+)\)"
_INTERCONNECT = re.compile(rf"\(INTERCONNECT (\S+) (\S+) {_TRIPLE} {_TRIPLE}\)")
_IOPATH = re.compile(rf"\(IOPATH (\S+) (\S+) {_TRIPLE} {_TRIPLE}\)")
_SETUP = re.compile(rf"\(SETUPHOLD \((?:posedge|negedge) (\S+)\) \((?:posedge|negedge) \S+\) "
                    rf"{_TRIPLE}")
_CELL = re.compile(r'\s*\(CELLTYPE "([^"]*)"\)\s*\(INSTANCE ([^)\n]*)\)')
_UNREACHED = float("-inf")


#: where a synthesised net's name stops being the design's signal and becomes the mapper's
_MAPPED = re.compile(r"_(?:SB_|TRELLIS_|LUT4|CCU2C|DP16KD|PDPW16KD|MULT18X18D|ALU54B|PFUMX|L6MUX|"
                     r"DFF|DPR16X4)|\[\d+\]$")


def signal_name(net: str) -> str | None:
    """The design signal a routed net comes from (``pe0.sparse_pe0.0.1_RDATA`` for
    ``inner.pe0.sparse_pe0.0.1_RDATA_15_SB_LUT4_I3_O[0]``); None for nets nextpnr made."""
    if net.startswith("$"):
        return None
    name = _MAPPED.split(net, 1)[0].removeprefix("inner.")
    return re.sub(r"_((?:RD|WD)ATA|DO[AB]?|DI[AB]?)_\d+$", r"_\1", name)


@dataclass(frozen=True)
class Endpoint:
    slack_ns: float
    start: str          #: the launching cell (an SDF instance name)
    end: str            #: the capturing cell
    port: str           #: its input the path ends at (``DI``, ``CE``, ``DIA3`` ...)
    through: tuple = () #: a failing path's cells after ``start``, in order (``end`` last)


def _pin(reference: str) -> tuple[str, str]:
    """``inst/port`` split at the last divider the name does not escape."""
    i = len(reference) - 1
    while i > 0 and not (reference[i] == "/" and reference[i - 1] != "\\"):
        i -= 1
    return reference[:i], reference[i + 1:]


def _worst(*triples: tuple[str, str, str]) -> int:
    """The max corner of SDF delay triples (picoseconds)."""
    return max(int(t[2]) for t in triples)


def endpoint_slacks(sdf: str, period_ns: float) -> list[Endpoint]:
    """Every register input a clocked cell reaches, with its slack, worst first."""
    into = collections.defaultdict(list)     # pin -> [(driving pin, delay ps)]
    launch = {}                              # output pin -> clock-to-output ps
    setup = {}                               # input pin -> setup ps
    for m in _INTERCONNECT.finditer(sdf):
        into[_pin(m.group(2))].append((_pin(m.group(1)), _worst(m.groups()[2:5], m.groups()[5:8])))
    for cell in sdf.split("\n  (CELL")[1:]:
        head = _CELL.match(cell)
        if head is None or head.group(1) == "top":
            continue
        name = head.group(2).strip()
        for m in _IOPATH.finditer(cell):
            source, sink = (name, m.group(1)), (name, m.group(2))
            delay = _worst(m.groups()[2:5], m.groups()[5:8])
            if _CLOCK_PIN.search(m.group(1)):
                launch[sink] = max(launch.get(sink, 0), delay)
            else:
                into[sink].append((source, delay))
        for m in _SETUP.finditer(cell):
            pin = (name, m.group(1))
            setup[pin] = max(setup.get(pin, 0), int(m.group(4)))

    arrival = {}          # pin -> (arrival ps, the pin it came from)

    def arrive(pin):
        """Worst arrival at ``pin`` from a clocked output, depth first without recursion
        (paths are deep); a pin met again on its own path (a loop) counts as unreached."""
        stack, open_ = [pin], set()
        while stack:
            top = stack[-1]
            if top in arrival:
                stack.pop()
                continue
            if top not in open_:
                open_.add(top)
                stack.extend(src for src, _ in into.get(top, ())
                             if src not in arrival and src not in open_)
                continue
            best = (launch[top], None) if top in launch else (_UNREACHED, None)
            for src, delay in into.get(top, ()):
                at = arrival.get(src, (_UNREACHED, None))[0] + delay
                if at > best[0]:
                    best = (at, src)
            arrival[top] = best
            stack.pop()
        return arrival[pin]

    def trace(pin):
        """The cells from the launching one to ``pin``'s."""
        cells = [pin[0]]
        while arrival[pin][1] is not None:
            pin = arrival[pin][1]
            if pin[0] != cells[-1]:
                cells.append(pin[0])
        return cells[::-1]

    ends = []
    period = period_ns * 1000.0
    for pin, ps in setup.items():
        at, _ = arrive(pin)
        if at == _UNREACHED:
            continue              # driven from a pin or a constant only
        cells = trace(pin)
        slack_ns = round((period - ps - at) / 1000.0, 3)
        ends.append(Endpoint(slack_ns, cells[0], pin[0], pin[1],
                             tuple(cells[1:]) if slack_ns < 0 else ()))
    ends.sort(key=lambda e: e.slack_ns)
    return ends


def register_name(instance: str) -> str:
    """The design signal a placed cell holds, PEs folded (``pe*.count_0`` for
    ``pe3.count_0_TRELLIS_FF_Q_4``, ``pe*.acc`` for the block RAM ``pe1.acc.0.0``)."""
    raw = instance.replace("\\", "")
    bare = raw.lstrip("$")            # signal_name() leaves nextpnr's own ``$`` nets unnamed
    name = raw[:len(raw) - len(bare)] + (signal_name(bare) or bare)
    name = re.sub(r"(\.\d+)+(_RAM|\$\w+)?$", "", name)
    return re.sub(r"\bpe\d+\b", "pe*", name)


def summary(sdf: str, period_ns: float, groups: int = 30) -> dict:
    """The failing endpoints at ``period_ns`` counted, and grouped by (start register, end
    register, end port), the groups with the most endpoints first."""
    ends = endpoint_slacks(sdf, period_ns)
    failing = [e for e in ends if e.slack_ns < 0]
    by_pair = collections.defaultdict(list)
    for e in failing:
        by_pair[(register_name(e.start), register_name(e.end), re.sub(r"\d+$", "", e.port))].append(e)
    ranked = sorted(by_pair.items(), key=lambda kv: (-len(kv[1]), min(e.slack_ns for e in kv[1])))
    return {"period_ns": period_ns, "endpoints": len(ends), "failing": len(failing),
            "below_2ns": sum(1 for e in failing if e.slack_ns < -2.0),
            "worst_slack_ns": ends[0].slack_ns if ends else None,
            "groups": [_group(start, end, port, es) for (start, end, port), es in ranked[:groups]]}


def _group(start: str, end: str, port: str, ends: list[Endpoint]) -> dict:
    """A group with its worst path's registers and signals in order (``through``)."""
    worst = min(ends, key=lambda e: e.slack_ns)
    through = []
    for cell in worst.through[:-1]:
        name = register_name(cell)
        if name not in through and name not in (start, end):
            through.append(name)
    return {"from": start, "to": end, "port": port, "failing": len(ends),
            "worst_slack_ns": worst.slack_ns, "through": through}


def read(path: str, period_ns: float, groups: int = 30) -> dict:
    with open(path) as f:
        return summary(f.read(), period_ns, groups)


def lines(result: dict, top: int = 10, verbose: bool = False) -> list[str]:
    """The summary for people: the count, then the largest groups (``verbose``: with the
    signals their worst path goes through)."""
    out = [f"failing endpoints at {1000.0 / result['period_ns']:g} MHz: {result['failing']} of "
           f"{result['endpoints']} ({result['below_2ns']} below -2 ns)"]
    for g in result["groups"][:top]:
        out.append(f"  {g['failing']:5d}  worst {g['worst_slack_ns']:7.2f} ns  {g['from']} -> "
                   f"{g['to']}.{g['port']}")
        if verbose and g["through"]:
            out.append("         through " + " > ".join(g["through"]))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m zeroskip.hw.fpga.slack [-v] routed.sdf [MHZ] [GROUPS]``: the groups of a
    build (``-v``: with their worst paths)."""
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv
    argv = [arg for arg in argv if arg != "-v"]
    if not argv:
        print("usage: python -m zeroskip.hw.fpga.slack [-v] FILE.sdf [MHZ] [GROUPS]",
              file=sys.stderr)
        return 2
    mhz = float(argv[1]) if len(argv) > 1 else 100.0
    top = int(argv[2]) if len(argv) > 2 else 30
    for line in lines(read(argv[0], 1000.0 / mhz, top), top, verbose):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
