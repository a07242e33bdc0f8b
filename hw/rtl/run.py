"""Running programs on the generated Verilog under cocotb and collecting what the RTL computed.

``run_programs(arch, jobs, simulator)`` runs several programs on one build (loaded over the bus),
so a regression pays for one compilation per architecture, not per program; ``build_and_run``
runs one. The comparison with the reference and the simulator is the verification ladder's
(``zeroskip.ladder``): this module knows nothing of the simulator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import Program
from zeroskip.hw.regmap import fingerprint
from zeroskip.hw.rtl.build import TIMESCALE, WAVES_FILE, Build, _tail, build
from zeroskip.hw.rtl.toolchain import RtlError, require_simulator

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
    from zeroskip.hw.gateware.verilog import generate

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
        runner.test(test_module="zeroskip.hw.rtl.cocotb_tb", hdl_toplevel=model.toplevel,
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


