"""SIGKILL at random points of a command writing over an existing output (issue 9): the old
output stays intact (or the new one is complete), and the next run leaves no hidden temporary.

The kill points are random delays after the start, spread over one measured run; nothing is
asserted about time. ``compile`` runs in the default suite; ``verilog`` and ``compress`` take
seconds per run and are marked slow.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zeroskip.hw.program import load_program
from zeroskip.models import modelfile
from zeroskip.models.interchange import SharedLayer, save_interchange

ZEROSKIP = str(Path(sys.executable).parent / "zeroskip")


def hidden_leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def run_and_kill(argv, delay: float) -> None:
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()


def measured(argv) -> float:
    start = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def kill_repeatedly(argv, check, kills: int, seed: int) -> None:
    """Kill ``argv`` ``kills`` times at random points of one run's duration, checking the
    output after each kill; then one full run."""
    rng = random.Random(seed)
    duration = measured(argv)
    check()
    for _ in range(kills):
        run_and_kill(argv, rng.uniform(0.2, 1.0) * duration)
        check()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check()


def big_model(path: Path) -> None:
    """Large enough that writing the program takes a noticeable share of the run."""
    rng = np.random.default_rng(0)
    layers = []
    for n_in, n_out, act in ((784, 300, "relu"), (300, 100, "relu"), (100, 10, "none")):
        book = np.concatenate([[0.0], rng.normal(0, 0.3, 15)]).astype(np.float32)
        codes = np.where(rng.random((n_out, n_in)) < 0.3, rng.integers(1, 16, (n_out, n_in)), 0)
        layers.append(SharedLayer(book, codes.astype(np.uint8),
                                  rng.normal(0, 0.1, n_out).astype(np.float32), act))
    save_interchange(path, layers)


def test_compile_killed_at_random_points(tmp_path):
    big_model(tmp_path / "m.npz")
    out = tmp_path / "prog"
    subprocess.run([ZEROSKIP, "-q", "compile", str(tmp_path / "m.npz"), "--arch", "eie64",
                    "--pes", "32", "-o", str(out)], check=True)

    def intact():
        assert load_program(str(out)).arch.pes in (32, 64)   # the old one or the new one

    kill_repeatedly([ZEROSKIP, "-q", "compile", str(tmp_path / "m.npz"), "--arch", "eie64",
                     "-o", str(out)], intact, kills=int(os.environ.get("ZEROSKIP_KILLS", "3")),
                    seed=1)
    assert load_program(str(out)).arch.pes == 64
    assert hidden_leftovers(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "prog"]


@pytest.mark.slow
def test_verilog_killed_at_random_points(tmp_path):
    out = tmp_path / "v"
    out.mkdir()
    (out / "zeroskip_top.v").write_text("// old\n")
    (out / "zeroskip_top.json").write_text("{}")
    (out / "notes.txt").write_text("mine")

    def intact():
        assert (out / "notes.txt").read_text() == "mine"
        verilog = (out / "zeroskip_top.v").read_text()
        assert verilog == "// old\n" or verilog.rstrip().endswith("endmodule")
        assert hidden_leftovers(out) == []

    kill_repeatedly([ZEROSKIP, "-q", "verilog", "--arch", "small", "-o", str(out)], intact,
                    kills=3, seed=2)
    assert hidden_leftovers(tmp_path) == []


@pytest.mark.slow
def test_compress_killed_at_random_points(tmp_path):
    out = tmp_path / "m.zsk"
    argv = [ZEROSKIP, "-q", "compress", "lenet300", "--epochs", "1", "--prune-epochs", "0",
            "--finetune-epochs", "0", "--prune-steps", "1", "-o", str(out)]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    old = out.read_bytes()

    def intact():
        modelfile.load(out)                      # complete: old or new, never half

    kill_repeatedly(argv, intact, kills=3, seed=3)
    assert out.read_bytes() == old               # training is deterministic for a seed
    assert hidden_leftovers(tmp_path) == []
