"""The CLI's rules (issue 9, docs/cli.md): exit statuses, one-line usage errors in every command,
--version, a closed stdout, and the output-path rules of ``zeroskip.files``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zeroskip import __version__
from zeroskip import files
from zeroskip.cli import COMMANDS, main
from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.program import load_program
from zeroskip.hw.rtl.toolchain import RtlError, SimulatorUnavailable
from zeroskip.models.interchange import save_interchange

from cli_helpers import ZEROSKIP, small_layers as layers



@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.npz"
    save_interchange(path, layers())
    return path


def one_line(capsys, status, argv) -> str:
    assert main([str(a) for a in argv]) == status
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


# -- exit statuses ------------------------------------------------------------------------------
@pytest.mark.parametrize("raised, status", [
    (RtlError("no ack from the accelerator"), 1),
    (SimulatorUnavailable("no Icarus Verilog"), 2),
    (ZeroskipError("bad input"), 2),
    (KeyboardInterrupt(), 130),
    (BrokenPipeError(), 141),
])
def test_exit_statuses(raised, status, monkeypatch, capsys):
    import zeroskip.sim.cli_sim as cli_sim

    def run(args):
        raise raised
    monkeypatch.setattr(cli_sim, "run", run)
    assert main(["sim", "anywhere"]) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if status in (1, 2):
        assert err.startswith("zeroskip sim: error: ")


def test_a_mismatch_is_exit_one(monkeypatch):
    import zeroskip.sim.cli_sim as cli_sim

    monkeypatch.setattr(cli_sim, "run", lambda args: 1)
    assert main(["sim", "anywhere"]) == 1


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_usage_errors_are_one_line_in_every_command(command, capsys):
    argv = [command, "--no-such-flag"] if command != "compress" else \
        [command, "lenet300", "--no-such-flag"]
    line = one_line(capsys, 2, argv)
    assert line.startswith(f"zeroskip {command}") and ": error: " in line


def test_usage_error_at_the_top_and_version(capsys):
    assert "zeroskip: error:" in one_line(capsys, 2, ["nope"])
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"zeroskip {__version__}"


@pytest.mark.parametrize("argv", [["sim", "p", "--seed", "-1"], ["bench", "eie", "--seed", "-1"],
                                  ["verify", "p", "--seed", "-1"], ["demo", "--seed", "-1"],
                                  ["compress", "lenet300", "--seed", "-1"],
                                  ["compress", "binary-mlp", "--seed", "-1"]])
def test_negative_seeds_are_refused_up_front(argv, capsys):
    assert "--seed -1" in one_line(capsys, 2, argv)


def test_closed_stdout_is_no_traceback(tmp_path):
    """``zeroskip ... | head -1``: the reader is gone; exit 141, nothing on stderr."""
    compile_layers(layers(), PRESETS["small"]).save(str(tmp_path / "prog"))
    read, write = os.pipe()
    os.close(read)
    done = subprocess.run([ZEROSKIP, "sim", str(tmp_path / "prog")], stdout=write,
                          stderr=subprocess.PIPE, text=True)
    os.close(write)
    assert done.returncode == 141 and "Traceback" not in done.stderr, done.stderr


# -- output paths -------------------------------------------------------------------------------
def test_compile_never_replaces_what_is_not_a_program(model, tmp_path, capsys, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("x")
    assert "not a previous output" in one_line(capsys, 2, ["compile", model, "-o", tmp_path / "d"])
    assert (tmp_path / "d" / "notes.txt").read_text() == "x"
    before = model.read_bytes()
    assert "would overwrite the input" in one_line(capsys, 2, ["compile", model, "-o", model])
    monkeypatch.chdir(tmp_path)
    one_line(capsys, 2, ["compile", "m.npz", "-o", "."])
    assert model.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["d", "m.npz"]
    assert not any(p.name.startswith(".zsprog") for p in tmp_path.parent.iterdir())


def test_compile_replaces_a_previous_program(model, tmp_path):
    out = tmp_path / "prog"
    assert main(["-q", "compile", str(model), "--pes", "3", "-o", str(out)]) == 0
    assert main(["-q", "compile", str(model), "--pes", "5", "-o", str(out)]) == 0
    assert load_program(str(out)).arch.pes == 5
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "prog"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o755), (0o077, 0o700), (0o002, 0o775)])
def test_program_directories_follow_the_umask(model, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert main(["-q", "compile", str(model), "-o", str(tmp_path / "prog")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "prog").stat().st_mode & 0o777 == mode
    assert (tmp_path / "prog" / "manifest.json").stat().st_mode & 0o777 == mode & 0o666


@pytest.mark.parametrize("argv, message", [
    (["sim", "{prog}", "--output", "{tmp}"], "is a directory"),
    (["sim", "{prog}", "--json", "{tmp}/file.txt/r.json"], "is not a directory"),
    (["sim", "{prog}", "--plot", "{tmp}/file.txt"], "is not a directory"),
    (["sim", "{prog}", "--output", "/proc/zs.npy"], "under /proc"),
    (["sim", "{prog}", "--json", "/dev/null"], "under /dev"),
    (["verilog", "-o", "{tmp}/file.txt"], "is not a directory"),
    (["verilog", "{prog}", "-o", "{prog}"], "would overwrite the input"),
    (["compile", "{model}", "-o", "{tmp}/file.txt"], "is not a directory"),
    (["demo", "-o", "{tmp}/file.txt"], "is not a directory"),
    (["demo", "--rtl-images", "-5"], "--rtl-images"),
    (["compress", "lenet300", "-o", "{tmp}"], "is a directory"),
])
def test_bad_output_paths_fail_before_any_work(argv, message, model, tmp_path, capsys):
    compile_layers(layers(), PRESETS["small"]).save(str(tmp_path / "prog"))
    (tmp_path / "file.txt").write_text("x")
    before = sorted(os.listdir(tmp_path))
    argv = [a.format(prog=tmp_path / "prog", tmp=tmp_path, model=model) for a in argv]
    assert message in one_line(capsys, 2, argv)
    assert sorted(os.listdir(tmp_path)) == before and (tmp_path / "file.txt").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory(model, tmp_path, capsys):
    (tmp_path / "ro").mkdir(mode=0o555)
    assert "not writable" in one_line(capsys, 2, ["compile", model, "-o", tmp_path / "ro" / "p"])


def test_architecture_bounds_and_types(model, tmp_path, capsys):
    def bad(*flags, contains):
        assert contains in one_line(capsys, 2, ["compile", model, *flags, "-o", tmp_path / "p"])
    bad("--sparse-depth", str(10 ** 12), contains="sparse_depth")
    bad("--clock-mhz", "inf", contains="clock_mhz")
    bad("--clock-mhz", "nan", contains="clock_mhz")
    (tmp_path / "a.json").write_bytes(b'{"pes": 4, "name": "\xff"}')
    bad("--arch", str(tmp_path / "a.json"), contains="not UTF-8")
    (tmp_path / "a.json").write_text(json.dumps({"pes": "4"}))
    bad("--arch", str(tmp_path / "a.json"), contains="'pes'")
    (tmp_path / "a.json").write_text('{"clock_mhz": Infinity}')
    bad("--arch", str(tmp_path / "a.json"), contains="clock_mhz")
    (tmp_path / "a.json").write_text(json.dumps({"base": ["small"]}))
    bad("--arch", str(tmp_path / "a.json"), contains="base preset")
    assert not (tmp_path / "p").exists()


# -- zeroskip.files -----------------------------------------------------------------------------
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path):
    pid = dead_pid()
    (tmp_path / f".zsprog-{pid}-abc").mkdir()
    (tmp_path / f".zsprog-{pid}-abc" / "sparse.bin").write_bytes(b"x")
    (tmp_path / f".y.npy.{pid}.abc.tmp").write_bytes(b"half")
    (tmp_path / ".zsprog-1-live").mkdir()                 # pid 1 is alive: another run's
    files.write_atomic(tmp_path / "y.npy", b"new")
    assert sorted(os.listdir(tmp_path)) == [".zsprog-1-live", "y.npy"]


def test_the_fallback_swap_never_loses_the_old_directory(tmp_path, monkeypatch):
    """Without renameat2 the swap takes two renames; killed between them, the old directory
    waits under a hidden name and the next run puts it back."""
    monkeypatch.setattr(files, "exchange", lambda a, b: False)
    target = tmp_path / "out"
    target.mkdir()
    (target / "manifest.json").write_text("old")
    replaceable = lambda path: True  # noqa: E731
    files.write_directory_atomic(target, lambda tmp: Path(tmp, "manifest.json").write_text("new"),
                                 replaceable)
    assert (target / "manifest.json").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    # the state a kill between the two renames leaves: the old directory aside, no target
    kept = tmp_path / f".zsprog-old-{dead_pid()}-xyz"
    kept.mkdir()
    target.rename(kept / "out")
    files.remove_stale(tmp_path)
    assert (target / "manifest.json").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_exchange_swaps_two_directories(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    if not files.exchange(str(tmp_path / "a"), str(tmp_path / "b")):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert (tmp_path / "b" / "x").read_text() == "a" and not (tmp_path / "a" / "x").exists()


def test_help_shows_defaults_and_no_markup(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "``" not in text and "data" in text and "energy" in text
    assert main(["sim", "--help"]) == 0
    assert "(default: 0.35)" in capsys.readouterr().out
