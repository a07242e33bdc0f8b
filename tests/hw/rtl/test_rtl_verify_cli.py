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
    assert main(["verify", str(program_dir), "--input", str(tmp_path / "x.npy"), "--quantized",
                 "--bus-load"]) == 0
    assert "2 integer activations from" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--pes", "3"], "another configuration than the gateware"),
    (["--input", "missing.npy"], "--input missing.npy: no such file"),
    (["--quantized"], "--quantized describes --input"),
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


@pytest.mark.parametrize("suffix", [".vcd", ".fst"])
def test_verify_waves_where_asked(program_dir, tmp_path, capsys, suffix):
    waves = tmp_path / f"run{suffix}"
    assert main(["verify", str(program_dir), "--count", "1", "--waves", str(waves)]) == 0
    assert f"waveform: {waves}" in capsys.readouterr().out
    head = waves.read_bytes()[:64]
    assert waves.stat().st_size > 1000
    assert (b"$date" in head or b"$version" in head or b"$timescale" in head) == (suffix == ".vcd")
    assert sorted(p.name for p in tmp_path.iterdir()) == [waves.name]   # no temporary left


def test_verify_waves_needs_a_known_format(program_dir, tmp_path, capsys):
    assert main(["verify", str(program_dir), "--waves", str(tmp_path / "w.txt")]) == 2
    assert "--waves" in capsys.readouterr().err


def test_verify_quantized_input_and_empty_batch(program_dir, tmp_path, capsys):
    import numpy as np
    from zeroskip.hw.program import load_program
    from zeroskip.hw.reference import quantize_input

    program = load_program(str(program_dir))
    xq = quantize_input(program, np.zeros((2, program.in_len)) + 0.25)
    np.save(tmp_path / "xq.npy", xq)
    assert main(["verify", str(program_dir), "--input", str(tmp_path / "xq.npy"), "--quantized"]) == 0
    assert "2/2 inputs PASS" in capsys.readouterr().out
    np.save(tmp_path / "empty.npy", np.zeros((0, program.in_len)))
    assert main(["verify", str(program_dir), "--input", str(tmp_path / "empty.npy")]) == 2
