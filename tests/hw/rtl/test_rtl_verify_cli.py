"""``zeroskip verify``: PASS lines and exit 0 on a correct RTL, one-line errors and exit 2 on a
program for another configuration, images that do not fit, unreadable inputs."""

import dataclasses
import json

import numpy as np
import pytest

from zeroskip.cli import main

from regression import QUICK, random_case

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("verify") / "prog"
    random_case(21, QUICK, max_size=24).program.save(str(path))
    return path


def test_verify_passes(program_dir, tmp_path, capsys):
    report = tmp_path / "report.json"
    assert main(["verify", str(program_dir), "--count", "2", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "seeded random inputs (seed 0" in out
    assert out.count("PASS  RTL") == 2 and "2/2 inputs PASS on icarus" in out
    data = json.loads(report.read_text())
    assert data["passed"] and [r["rtl_cycles"] == r["sim_cycles"] for r in data["results"]] == [True, True]


def test_verify_integer_input_file_over_the_bus(program_dir, tmp_path, capsys):
    from zeroskip.hw.program import load_program
    program = load_program(str(program_dir))
    x = np.zeros((2, program.in_len), dtype=np.int16)
    x[1, ::2] = 300
    np.save(tmp_path / "x.npy", x)
    assert main(["verify", str(program_dir), "--input", str(tmp_path / "x.npy"), "--bus-load"]) == 0
    assert "2 integer inputs from" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--pes", "3"], "another configuration than the gateware"),
    (["--input", "missing.npy"], "not a readable .npy array"),
    (["--count", "0"], "--count must be at least 1"),
    (["--arch", "eie64"], "another configuration"),
])
def test_verify_bad_input_exits_2(program_dir, capsys, extra, message):
    assert main(["verify", str(program_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_verify_images_too_big_exit_2(tmp_path, capsys):
    """A program whose images do not fit its configuration's memories."""
    case = random_case(22, QUICK, max_size=24)
    program = case.program
    program.sparse = np.zeros((QUICK.pes, QUICK.sparse_depth + 1), dtype=np.uint64)
    bad = tmp_path / "bad"
    bad.mkdir()
    program.arch = dataclasses.replace(QUICK, sparse_depth=QUICK.sparse_depth + 8)
    program.save(str(bad / "p"))
    assert main(["verify", str(bad / "p"), "--sparse-depth", str(QUICK.sparse_depth)]) == 2
    assert "sparse" in capsys.readouterr().err


def test_verify_waves(program_dir, capsys):
    import shutil
    from pathlib import Path
    assert main(["verify", str(program_dir), "--count", "1", "--waves"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("waveform: "))
    waves = Path(line.split(": ", 1)[1])
    assert waves.name == "zeroskip_waves.fst" and waves.stat().st_size > 1000
    shutil.rmtree(waves.parent)
