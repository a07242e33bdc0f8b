"""Running programs on the generated Verilog under cocotb and collecting what the RTL computed.

One build per architecture (``zeroskip.hw.rtl.build``): ``run_programs(arch, jobs, simulator)``
runs several programs on it, either loaded over the bus one after another in one simulation
(``bus_load=True``, exercising the load path) or each from its ``hex/`` images at simulation
start (``bus_load=False``: one simulation per program, no bus writes); ``build_and_run`` runs one.
Every run is bounded: a program not done within its cycle limit, or a simulator past its
wall-clock limit (killed), is an ``RtlTimeout`` naming the program, the input and the limit.
The comparison with the reference and the simulator is the verification ladder's
(``zeroskip.ladder``): this module knows nothing of the simulator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.host import cycle_limit
from zeroskip.hw.program import Program, image_names, memory_images
from zeroskip.hw.regmap import check_compatible
from zeroskip.hw.rtl.build import (TIMESCALE, WAVES_PLUSARG, Build, _tail, build, generated_verilog,
                                   using, wave_format)
from zeroskip.hw.rtl.toolchain import RtlError, require_simulator

#: wall-clock limit of a simulation: this much, plus its bound on simulated cycles at this rate
#: (a 16-PE array on Icarus under load simulates ~170 cycles/s; the bound is rarely reached)
WALL_BASE_S = 120.0
WALL_MIN_CYCLES_PER_S = 20.0
#: how long the simulator gets to exit after the wall-clock limit's SIGTERM before SIGKILL
KILL_GRACE_S = 5


class RtlTimeout(RtlError):
    """An RTL run exceeded its cycle limit or its wall-clock limit (the simulator was stopped)."""


@dataclass
class RtlResult:
    """What the RTL computed for one program: per input, outputs (array order) and cycles."""

    simulator: str
    outputs: np.ndarray         #: int64 [n, out]
    cycles: np.ndarray          #: int64 [n] the RTL's cycle counter after each run
    fingerprint: int            #: what the ID register read
    bus_load: bool              #: program written over the bus (else: its hex images at start)
    load_seconds: float         #: wall time loading the program (bus writes under simulation)
    run_seconds: float          #: wall time running the inputs (writes, run, reads)
    run_sim_cycles: int         #: clock cycles the simulator advanced while running them
    build: Build | None = None
    log: Path | None = None     #: the simulation's log (None once its run directory is removed)
    waves: Path | None = None
    seconds: float = 0.0        #: wall time of the whole simulation this program ran in


def _inputs_array(program: Program, inputs_int, count: int | None) -> np.ndarray:
    from zeroskip.hw.reference import integer_inputs

    xs = integer_inputs(program, inputs_int)
    return xs[:count] if count is not None else xs


def _limits(program: Program, n: int, expected, timeout_cycles: int | None) -> list[int]:
    """Each input's cycle limit: ``timeout_cycles`` if given, else ``cycle_limit`` of the
    expected count (one for all inputs or one per input), else of the program's passes."""
    if timeout_cycles is not None:
        return [int(timeout_cycles)] * n
    if expected is None:
        return [cycle_limit(program)] * n
    counts = np.asarray(expected, dtype=np.int64).reshape(-1)
    if len(counts) == 1:
        counts = np.repeat(counts, n)
    if len(counts) < n:
        raise ZeroskipError(f"expected_cycles has {len(counts)} counts for {n} inputs")
    return [cycle_limit(program, int(c)) for c in counts[:n]]


def _bus_cycles(program: Program, n: int, bus_load: bool) -> int:
    """A bound on the clock cycles of the bus traffic around the runs (3 per transfer, 2 words
    an entry on average for the images)."""
    per_input = 4 * (program.in_len + program.out_len) + 64
    images = sum(len(words) for words, _ in memory_images(program).values()) if bus_load else 0
    return n * per_input + 8 * images + 1000


def _waves_path(waves, work: Path, simulator: str, index: int, simulations: int) -> Path | None:
    if waves is None or waves is False:
        return None
    if waves is True:                 # the run directory, as cocotb would: FST / VCD
        return work / ("zeroskip_waves.fst" if simulator == "icarus" else "zeroskip_waves.vcd")
    path = Path(waves).absolute()
    return path if simulations == 1 else path.with_name(f"{path.stem}-{index}{path.suffix}")


def run_programs(arch: ArchConfig, jobs: list[tuple[Program, np.ndarray]], simulator: str,
                 waves: bool | str | os.PathLike | None = None, bus_load: bool = True,
                 count: int | None = None, name: str = "zeroskip_top",
                 workdir: str | os.PathLike | None = None, timeout_cycles: int | None = None,
                 expected_cycles: list | None = None, wall_seconds: float | None = None,
                 labels: list[str] | None = None, verilog: str | None = None) -> list[RtlResult]:
    """Run several programs, each on its inputs, on one build of ``arch``.

    ``bus_load``: every program is written over the bus, one after another in one simulation;
    otherwise each program's memories load its ``hex/`` images at simulation start (one
    simulation per program, same build). Always checks the ID register.

    Limits (``RtlTimeout`` past either): an input's run may take ``timeout_cycles`` clock
    cycles, else ``cycle_limit(program, expected)`` with ``expected_cycles[j]`` the cycles the
    simulator predicts for job ``j`` (one count or one per input), else a bound from the passes;
    a simulation may take ``wall_seconds`` (default: from its cycle bound), then it is killed.
    ``waves``: a path ``*.vcd`` / ``*.fst`` gets the waveform in that format (``name-<j>.vcd``
    for the j-th of several simulations); ``True`` keeps it in the run directory. ``labels``
    name the programs in errors (default ``program <j>``). ``verilog`` replaces the generated
    text (tests of the tooling, e.g. a deliberately broken gateware).
    """
    simulator = require_simulator(simulator)
    if not jobs:
        return []
    fmt = wave_format(waves)
    if waves is True:
        fmt = "fst" if simulator == "icarus" else "vcd"
    labels = labels or [f"program {index}" for index in range(len(jobs))]
    expected_cycles = expected_cycles or [None] * len(jobs)
    prepared = []
    for index, (program, inputs) in enumerate(jobs):
        check_compatible(program, arch, where=labels[index])
        xs = _inputs_array(program, inputs, count)
        prepared.append((program, xs, _limits(program, len(xs), expected_cycles[index], timeout_cycles)))
    generated = generated_verilog(arch, name)
    model = build(verilog if verilog is not None else generated["verilog"], name, simulator, waves=fmt)

    own_dir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="zeroskip-rtl-") if own_dir else workdir)
    keep = not own_dir or waves is True
    try:
        work.mkdir(parents=True, exist_ok=True)
        groups = [list(range(len(jobs)))] if bus_load else [[j] for j in range(len(jobs))]
        out: list[RtlResult | None] = [None] * len(jobs)
        for index, group in enumerate(groups):
            sim_dir = work if len(groups) == 1 else work / f"sim{index}"
            sim_dir.mkdir(exist_ok=True)
            waves_file = _waves_path(waves, sim_dir, simulator, index, len(groups))
            results = _simulate(model, generated, arch, [prepared[j] for j in group],
                                [labels[j] for j in group], sim_dir, bus_load, waves_file, fmt,
                                wall_seconds)
            for j, got in zip(group, results):
                out[j] = dataclasses.replace(got, log=got.log if keep else None)
        return out
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def build_and_run(arch: ArchConfig, program: Program, inputs_int, simulator: str,
                  waves: bool | str | os.PathLike | None = None, count: int | None = None,
                  bus_load: bool = False, workdir: str | os.PathLike | None = None,
                  expected_cycles=None, timeout_cycles: int | None = None,
                  wall_seconds: float | None = None, label: str = "program") -> RtlResult:
    """One program on one simulator: the architecture's build (cached), the program's memories
    from its hex images (or over the bus with ``bus_load``), every input (the first ``count``).
    Limits and ``waves`` as ``run_programs``; ``expected_cycles``: the simulator's count(s)."""
    return run_programs(arch, [(program, inputs_int)], simulator, waves=waves, bus_load=bus_load,
                        count=count, workdir=workdir, timeout_cycles=timeout_cycles,
                        expected_cycles=[expected_cycles], wall_seconds=wall_seconds,
                        labels=[label])[0]


def _runner(simulator: str, prefix: list[str], dumper: list[str]):
    """cocotb's runner for ``simulator``, its test command prefixed (the wall-clock limit) and,
    on Icarus, vvp's dump format flag ours (the runner's would disable or force FST)."""
    from cocotb_tools.runner import get_runner

    class Runner(type(get_runner(simulator))):
        def _test_command(self):
            commands = []
            for command in super()._test_command():
                command = list(command)
                if simulator == "icarus":
                    command = [c for c in command if c not in ("-none", "-fst", "-vcd")] + dumper
                commands.append(prefix + command)
            return commands

    return Runner()


def _simulate(model: Build, generated: dict, arch: ArchConfig, jobs: list, labels: list[str],
              work: Path, bus_load: bool, waves_file: Path | None, fmt: str | None,
              wall_seconds: float | None) -> list[RtlResult]:
    """One simulation of ``jobs`` (program, inputs, per-input cycle limits)."""
    from cocotb_tools.runner import get_results

    config = {"arch": arch.to_dict(), "ports": generated["ports"], "bus_prefix": "bus__",
              "fingerprint": generated["fingerprint"], "jobs": [],
              "results": str(work / "rtl_results.json"), "progress": str(work / "progress.json")}
    plusargs, cycles_bound = [], 0
    for index, (program, xs, limits) in enumerate(jobs):
        program_dir = work / f"program{index}"
        program.save(str(program_dir))
        np.save(work / f"inputs{index}.npy", xs.astype(np.int64))
        config["jobs"].append({"program": str(program_dir), "inputs": str(work / f"inputs{index}.npy"),
                               "bus_load": bool(bus_load), "max_cycles": limits,
                               "label": labels[index]})
        cycles_bound += sum(limits) + _bus_cycles(program, len(xs), bus_load)
        if not bus_load:
            for image in image_names(arch):
                hex_file = program_dir / "hex" / f"{image}.hex"
                if hex_file.exists() and hex_file.stat().st_size:      # empty: stays zero
                    plusargs.append(f"+zs_{image}={hex_file.absolute()}")
    config_path = work / "tb_config.json"
    config_path.write_text(json.dumps(config, indent=1))
    log = work / "sim.log"
    results_path, progress_path = Path(config["results"]), Path(config["progress"])
    wall = (wall_seconds if wall_seconds is not None
            else WALL_BASE_S + cycles_bound / WALL_MIN_CYCLES_PER_S)
    prefix = ["timeout", "-k", str(KILL_GRACE_S), f"{max(wall, 0.1):.1f}"]
    test_args, dumper = [], ["-none"]
    if waves_file is not None:
        waves_file.parent.mkdir(parents=True, exist_ok=True)
        waves_file.unlink(missing_ok=True)
        if model.simulator == "icarus":
            plusargs.append(f"+{WAVES_PLUSARG}={waves_file}")
            dumper = [f"-{fmt}"]
        else:
            test_args = ["--trace-file", str(waves_file)]
    runner = _runner(model.simulator, prefix, dumper)
    xml = work / "results.xml"
    # under pytest the runner exits the process on a failed cocotb test: hide pytest from it
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    start = time.perf_counter()
    try:
        with using(model):
            runner.test(test_module="zeroskip.hw.rtl.cocotb_tb", hdl_toplevel=model.toplevel,
                        hdl_toplevel_lang="verilog", build_dir=model.directory, test_dir=work,
                        results_xml=str(xml), extra_env={"ZEROSKIP_TB_CONFIG": str(config_path)},
                        waves=waves_file is not None and model.simulator == "verilator",
                        test_args=test_args, plusargs=plusargs, timescale=TIMESCALE, log_file=log)
        failed = get_results(xml)[1] if xml.exists() else 1
    except (RuntimeError, SystemExit) as error:
        failed, reason = 1, str(error)
    else:
        reason = "testbench failed"
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    seconds = time.perf_counter() - start
    results = json.loads(results_path.read_text()) if results_path.exists() else None
    if results is None and seconds >= wall:
        where = json.loads(progress_path.read_text()) if progress_path.exists() else None
        at = (f"{labels[where['job']]} input {where['input']}" if where else "before the first input")
        raise RtlTimeout(f"{model.simulator}: {at}: simulation killed at its wall-clock limit of "
                         f"{wall:.0f} s")
    if results is not None and results.get("timeout"):
        t = results["timeout"]
        raise RtlTimeout(f"{model.simulator}: {labels[t['job']]} input {t['input']}: not done "
                         f"within {t['limit']} cycles")
    if results is not None and results.get("error"):
        raise RtlError(f"{model.simulator}: {results['error']}")
    if failed or results is None:
        raise RtlError(f"{model.simulator} simulation failed ({reason}); its log ends:\n{_tail(log)}")
    out = []
    for (program, xs, _), got in zip(jobs, results["jobs"]):
        outputs = np.array(got["outputs"], dtype=np.int64).reshape(len(xs), program.out_len)
        out.append(RtlResult(simulator=model.simulator, outputs=outputs,
                             cycles=np.array(got["cycles"], dtype=np.int64),
                             fingerprint=int(results["id"]), bus_load=bool(bus_load),
                             load_seconds=float(got["load_seconds"]),
                             run_seconds=float(got["run_seconds"]),
                             run_sim_cycles=int(got["run_sim_cycles"]), build=model, log=log,
                             waves=waves_file if waves_file is not None and waves_file.exists() else None,
                             seconds=seconds))
    return out
