"""The RTL tooling around the simulations: one build per architecture (programs load their hex
images at simulation start), the bounded build cache and its clearing, waveforms where asked,
and runs that cannot hang (a cycle limit, a wall-clock limit, ``RtlTimeout``)."""

import os
import tempfile
import time

import pytest

from zeroskip.hw.program import image_names, memory_images
from zeroskip.hw.rtl import build as rtl_build
from zeroskip.hw.rtl.build import (Build, build, clear_cache, generated_verilog,
                                   prune_cache, using)
from zeroskip.hw.rtl.run import RtlTimeout, build_and_run, run_programs
from zeroskip.hw.rtl.toolchain import SIMULATORS, RtlError

from regression import QUICK, mismatches, random_binary_case, random_case

pytestmark = pytest.mark.rtl


def _builds(root):
    return sorted(d.name for d in root.glob("*-*") if d.is_dir())


@pytest.fixture
def own_tmp(monkeypatch, tmp_path):
    """Temporary directories (``/tmp/zeroskip-rtl-*``) go to a folder of this test's own."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_gateware_names_its_memories_as_the_images():
    """The loader hooks' names are ``memory_images``'s: one hook per image, none missing."""
    program = random_case(1, QUICK, max_size=16).program
    assert image_names(QUICK) == list(memory_images(program))
    verilog = generated_verilog(QUICK)["verilog"]
    for name in image_names(QUICK):                  # every PE has its copy of the codebook
        copies = QUICK.pes if name == "codebook" else 1
        assert verilog.count(f'$value$plusargs("zs_{name}=%s", path)') == copies, name


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_two_programs_on_one_build(simulator):
    """Two different programs (a sparse one, a binary one) each from its hex images on the
    architecture's one build: the second finds it cached, in the same build directory. (Not
    by listing the cache: the suite's other workers build other architectures into it
    meanwhile.)"""
    first = random_case(11, QUICK, max_size=32)
    second = random_binary_case(12, QUICK, max_size=32)
    assert first.program.layers != second.program.layers
    one = build_and_run(QUICK, first.program, first.inputs, simulator)
    two = build_and_run(QUICK, second.program, second.inputs, simulator)
    assert two.build.cached and two.build.directory == one.build.directory
    for case, result in ((first, one), (second, two)):
        assert not result.bus_load
        assert mismatches(case.program, case.inputs, result.outputs, result.cycles) == []


def test_programs_from_hex_images_in_one_call():
    """``run_programs`` without bus loading: one simulation per program, one build."""
    cases = [random_case(seed, QUICK, max_size=24) for seed in (21, 22)]
    results = run_programs(QUICK, [(c.program, c.inputs) for c in cases], "icarus", bus_load=False)
    assert results[0].build.directory == results[1].build.directory
    for case, result in zip(cases, results):
        assert mismatches(case.program, case.inputs, result.outputs, result.cycles) == []


# -- the cache ---------------------------------------------------------------------------------
def _fake_build(root, name, size, age):
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "model").write_bytes(b"x" * size)
    os.utime(directory, (time.time() - age, time.time() - age))
    return directory


def test_cache_bounded_by_count_and_size(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE", str(tmp_path))
    for k in range(5):                                     # build-0 newest, build-4 oldest
        _fake_build(tmp_path, f"icarus-top-{k}", 1000, 3600 + k)
    _fake_build(tmp_path, "icarus-top-new", 1000, 0)       # just used: never removed
    removed = prune_cache(keep=4, max_bytes=10**9, min_age_s=600)
    assert sorted(d.name for d in removed) == ["icarus-top-3", "icarus-top-4"]
    removed = prune_cache(keep=64, max_bytes=2500, min_age_s=600)
    assert sorted(d.name for d in removed) == ["icarus-top-1", "icarus-top-2"]
    assert _builds(tmp_path) == ["icarus-top-0", "icarus-top-new"]


def test_cache_size_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE", str(tmp_path))
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE_MAX_MB", "0.001")      # 1,048 bytes
    for k in range(3):
        _fake_build(tmp_path, f"icarus-top-{k}", 1000, 3600 + k)
    assert len(prune_cache()) == 2
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE_MAX_MB", "lots")
    with pytest.raises(RtlError, match="ZEROSKIP_RTL_CACHE_MAX_MB='lots'"):
        prune_cache()


def test_build_in_use_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE", str(tmp_path))
    busy = _fake_build(tmp_path, "icarus-top-busy", 1000, 7200)
    idle = _fake_build(tmp_path, "icarus-top-idle", 1000, 7200)
    with using(Build("icarus", "top", busy, None, True, 0.0)):
        assert prune_cache(keep=0) == [idle]
        assert clear_cache()["kept"] == 1
    assert clear_cache()["removed"] == 1 and _builds(tmp_path) == []


def test_clear_cache_then_rebuild(monkeypatch, tmp_path):
    """``clear_cache`` empties the cache (builds and generated Verilog); the next run builds."""
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE", str(tmp_path))
    case = random_case(31, QUICK, max_size=16)
    first = build_and_run(QUICK, case.program, case.inputs, "icarus")
    assert not first.build.cached and first.build.directory.parent == tmp_path
    report = clear_cache()
    assert report["removed"] == 1 and report["bytes"] > 0 and report["root"] == str(tmp_path)
    assert _builds(tmp_path) == [] and not (tmp_path / "verilog").exists()
    again = build_and_run(QUICK, case.program, case.inputs, "icarus")
    assert not again.build.cached
    assert mismatches(case.program, case.inputs, again.outputs, again.cycles) == []


def test_failed_build_leaves_no_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROSKIP_RTL_CACHE", str(tmp_path))
    with pytest.raises(RtlError, match="icarus build of broken failed"):
        build("module broken(input clk);\n  this is not verilog\nendmodule\n", "broken", "icarus")
    assert _builds(tmp_path) == []


# -- waveforms ---------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".vcd", ".fst"])
def test_waves_where_asked_in_the_asked_format(tmp_path, own_tmp, suffix):
    """Icarus writes the waveform at the path given, in the suffix's format, with the
    gateware's own signal names in its scopes; the run directory is not left behind."""
    case = random_case(41, QUICK, max_size=16, inputs=1)
    path = tmp_path / "out" / f"run{suffix}"
    result = build_and_run(QUICK, case.program, case.inputs, "icarus", waves=path)
    assert result.waves == path and path.stat().st_size > 0
    assert mismatches(case.program, case.inputs, result.outputs, result.cycles) == []
    head = path.read_bytes()[:4096]
    if suffix == ".vcd":
        scopes, scope = {}, []
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            if words[:1] == ["$scope"]:
                scope.append(words[2])
            elif words[:1] == ["$upscope"]:
                scope.pop()
            elif words[:1] == ["$var"]:
                scopes.setdefault(".".join(scope), set()).add(words[4])
            elif words[:1] == ["$enddefinitions"]:
                break
        for where, signal in (("control", "cycles"), ("pe1", "active"), ("broadcast", "push"),
                              ("", "hit_sparse"), ("pe0.queue", "r_rdy")):
            assert signal in scopes[".".join(["zeroskip_top", where]).rstrip(".")], (where, signal)
    else:
        assert not head.startswith(b"$") and head[0] == 0       # FST's header block
    assert list(own_tmp.iterdir()) == []


def test_waves_suffix_checked(tmp_path):
    case = random_case(42, QUICK, max_size=16, inputs=1)
    with pytest.raises(RtlError, match=r"suffix must be \.vcd or \.fst"):
        build_and_run(QUICK, case.program, case.inputs, "icarus", waves=tmp_path / "w.lxt")


@pytest.mark.slow
def test_waves_on_verilator(tmp_path):
    """Verilator compiles the format in: FST and VCD are two builds of the architecture."""
    case = random_case(43, QUICK, max_size=16, inputs=1)
    for suffix in (".vcd", ".fst"):
        path = tmp_path / f"run{suffix}"
        try:
            result = build_and_run(QUICK, case.program, case.inputs, "verilator", waves=path)
        except RtlError as error:      # FST needs liblz4-dev: then the message says so
            assert suffix == ".fst" and "liblz4-dev" in str(error), str(error)
            continue
        assert result.waves == path and path.stat().st_size > 0
        assert (path.read_bytes()[:1] == b"$") == (suffix == ".vcd")


# -- nothing hangs -----------------------------------------------------------------------------
def _never_done(verilog: str) -> str:
    """The control unit's DONE state, broken: ``done`` never rises (the host polls forever)."""
    assert verilog.count("done = 1'h1;") == 1
    return verilog.replace("done = 1'h1;", "done = 1'h0;")


def test_hang_is_a_timeout_at_the_cycle_limit(own_tmp):
    """A gateware that never finishes: the run stops at the input's cycle limit (from the
    simulator's expected count) with one line naming the program, the input and the limit."""
    case = random_case(51, QUICK, max_size=16, inputs=2)
    broken = _never_done(generated_verilog(QUICK)["verilog"])
    with pytest.raises(RtlTimeout) as error:
        run_programs(QUICK, [(case.program, case.inputs)], "icarus", verilog=broken,
                     expected_cycles=[100], labels=["prog-A"])
    assert str(error.value) == "icarus: prog-A input 0: not done within 1200 cycles"
    assert list(own_tmp.iterdir()) == []


def test_hang_killed_at_the_wall_clock_limit(own_tmp):
    """With no useful cycle limit, the simulator is killed at the wall-clock limit."""
    case = random_case(52, QUICK, max_size=16, inputs=1)
    broken = _never_done(generated_verilog(QUICK)["verilog"])
    start = time.monotonic()
    with pytest.raises(RtlTimeout, match=r"^icarus: program 0 (input 0|before the first input): "
                                         r"simulation killed at its wall-clock limit of 10 s$"):
        run_programs(QUICK, [(case.program, case.inputs)], "icarus", verilog=broken,
                     timeout_cycles=10**9, wall_seconds=10)
    assert time.monotonic() - start < 120
    assert list(own_tmp.iterdir()) == []


def test_small_cycle_limit_is_a_timeout_on_a_good_gateware():
    case = random_case(53, QUICK, max_size=16, inputs=2)
    with pytest.raises(RtlTimeout, match="input 0: not done within 3 cycles"):
        build_and_run(QUICK, case.program, case.inputs, "icarus", timeout_cycles=3)


def test_cycle_limits_per_input():
    """One expected count for every input or one per input (extra ones ignored, as ``count``
    may cut the inputs); too few is an error; ``timeout_cycles`` wins."""
    from zeroskip.errors import ZeroskipError
    from zeroskip.hw.host import cycle_limit
    from zeroskip.hw.rtl.run import _limits

    program = random_case(61, QUICK, max_size=16).program
    assert _limits(program, 2, 300, None) == [1600, 1600]
    assert _limits(program, 2, [100, 200, 300], None) == [1200, 1400]
    assert _limits(program, 2, None, 77) == [77, 77]
    assert _limits(program, 1, None, None) == [cycle_limit(program)]
    with pytest.raises(ZeroskipError, match="2 counts for 3 inputs"):
        _limits(program, 3, [1, 2], None)
