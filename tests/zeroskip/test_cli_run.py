"""``zeroskip run``: a small program on the board's design under Verilator (``--port sim``: the
accelerator behind the UART bridge, joined to a pseudo-terminal, driven by the pyserial transport)
gives the outputs ``zeroskip sim --output`` writes and the simulator's cycle counts (``--check``);
bad link conditions are one line and a non-zero exit."""

from __future__ import annotations

import dataclasses
import os
import pty
import sys
from pathlib import Path

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.compiler import compile_layers
from zeroskip.hw.fpga.flow import TINY_ARCH
from zeroskip.hw.rtl.toolchain import simulator_problem

sys.path.insert(0, str(Path(__file__).parents[1] / "compiler"))
from compiler_helpers import random_layer  # noqa: E402

#: two PEs with the tiny FPGA build's memories: a short Verilator build
ARCH = dataclasses.replace(TINY_ARCH, name="run-test", pes=2)


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory):
    rng = np.random.default_rng(3)
    layers = [random_layer(rng, 9, 12, 0.5), random_layer(rng, 5, 9, 0.5, act="none")]
    directory = tmp_path_factory.mktemp("run")
    compile_layers(layers, ARCH).save(str(directory / "prog"))
    x = np.random.default_rng(0).uniform(-1, 1, (3, 12)).astype(np.float32)
    x[np.random.default_rng(1).random(x.shape) < 0.4] = 0
    np.save(directory / "x.npy", x)
    return directory


@pytest.mark.rtl
def test_run_on_the_simulated_board_equals_sim(program_dir, capsys):
    problem = simulator_problem("verilator")
    if problem:
        pytest.fail(f"Verilator is needed for --port sim: {problem}")   # never a silent skip
    d = program_dir
    status = main(["run", str(d / "prog"), "--port", "sim", "--input", str(d / "x.npy"),
                   "--output", str(d / "board.npy"), "--check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "check passed: 3 input(s)" in out
    assert main(["sim", str(d / "prog"), "--input", str(d / "x.npy"),
                 "--output", str(d / "sim.npy")]) == 0
    board, sim = np.load(d / "board.npy"), np.load(d / "sim.npy")
    assert board.dtype == sim.dtype and np.array_equal(board, sim)


@pytest.mark.rtl
def test_a_program_tiled_over_space_runs_part_by_part(tmp_path, capsys):
    """A conv network whose 9x9 maps exceed the 64 activations of the board's banks
    (docs/conv.md "Spatial tiling"): every tile program, then the tail, loaded and run over the
    link in turn; the stitched outputs equal ``zeroskip sim``'s and the reference's."""
    from zeroskip.compiler.conv import random_conv_layers
    from zeroskip.compiler.spatial import compile_spatial
    from zeroskip.hw.tiled import TiledProgram

    problem = simulator_problem("verilator")
    if problem:
        pytest.fail(f"Verilator is needed for --port sim: {problem}")
    layers, x = random_conv_layers(ARCH, 4, height=9, width=9, channels=1,
                                   convs=((2, 3, 1, 1),), pool=(2, 2), classes=3, batch=2)
    tiled = compile_spatial(layers, ARCH, calibration=x)
    assert isinstance(tiled, TiledProgram) and len(tiled.programs) >= 2
    tiled.save(str(tmp_path / "prog"))
    np.save(tmp_path / "x.npy", x.reshape(2, 1, 9, 9))
    status = main(["run", str(tmp_path / "prog"), "--port", "sim", "--input",
                   str(tmp_path / "x.npy"), "--output", str(tmp_path / "board.npy"), "--check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "check passed: 2 input(s)" in out
    assert main(["-q", "sim", str(tmp_path / "prog"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "sim.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "board.npy"), np.load(tmp_path / "sim.npy"))


def test_no_device_is_one_line_exit_2(program_dir, tmp_path, capsys):
    status = main(["run", str(program_dir / "prog"), "--port", str(tmp_path / "ttyNONE"),
                   "--input", str(program_dir / "x.npy")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "cannot open it" in err[0]


def test_a_silent_port_times_out_exit_2(program_dir, tmp_path, capsys):
    master, slave = pty.openpty()            # a port nobody answers on
    try:
        status = main(["run", str(program_dir / "prog"), "--port", os.ttyname(slave),
                       "--timeout", "0.3", "--input", str(program_dir / "x.npy"),
                       "--output", str(tmp_path / "y.npy")])
    finally:
        os.close(slave)
        os.close(master)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "no answer" in err[0]
    assert not (tmp_path / "y.npy").exists()


def test_a_baud_the_simulated_uart_cannot_do_is_bad_input(program_dir, capsys):
    status = main(["run", str(program_dir / "prog"), "--port", "sim", "--baud", "60e6"])
    err = capsys.readouterr().err
    assert status == 2 and "--baud" in err and "clocks per bit" in err
