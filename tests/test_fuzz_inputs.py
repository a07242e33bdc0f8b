"""Fuzzing every input the CLI reads (issue 9): whatever a file or an argument holds, a bad one
exits 2 with one line on stderr, no traceback, and leaves the directory as it was (no new file,
a pre-existing output byte-identical).

Formats: the interchange ``.npz``, the compressed model file ``.zsk``, the folded binary
``.npz``, a program directory (manifest and images), an architecture JSON file, an input
``.npy``; and the CLI's arguments. Each property runs in-process through
``zeroskip.cli.main`` a bounded number of times in the default suite (derandomized, so a
failure reproduces) and many more times under ``-m slow``.

Byte-level mutations of files with a checksum (``.zsk``, the zip members) are always bad;
structure-aware mutations (a JSON field replaced, an array swapped, checksums recomputed so
the parser itself is exercised) may happen to produce a valid file: then the command may
succeed, and its output must be complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zeroskip.cli import main
from zeroskip.compiler import compile_layers
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.program import load_program
from zeroskip.models import binary_ref, modelfile
from zeroskip.models.binary_fold import FoldedLayer
from zeroskip.models.interchange import SharedLayer, save_interchange
from zeroskip.models.layers import Dense, ReLU
from zeroskip.models.network import Network

QUICK = int(os.environ.get("ZEROSKIP_FUZZ_EXAMPLES", "40"))
LONG = int(os.environ.get("ZEROSKIP_FUZZ_LONG_EXAMPLES", "1000"))


# -- the good files every property starts from -------------------------------------------------
def _shared(rng, out_len, in_len, act):
    book = np.concatenate([[0.0], rng.normal(0, 0.3, 15)]).astype(np.float32)
    codes = np.where(rng.random((out_len, in_len)) < 0.4, rng.integers(1, 16, (out_len, in_len)),
                     0).astype(np.uint8)
    return SharedLayer(book, codes, rng.normal(0, 0.1, out_len).astype(np.float32), act)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(9)
    layers = [_shared(rng, 20, 12, "relu"), _shared(rng, 6, 20, "none")]
    save_interchange(root / "model.npz", layers)
    net = Network("tiny", [Dense(12, 20, rng), ReLU(), Dense(20, 6, rng)])
    compressed = modelfile.from_network(net, [l.codebook for l in layers],
                                        [l.codes for l in layers], [4, 4])
    modelfile.save(root / "model.zsk", compressed)
    folded = [FoldedLayer("fc1", rng.random((8, 12)) < 0.5, 8,
                          thresholds=rng.integers(-100, 100, 8), flip=rng.random(8) < 0.5),
              FoldedLayer("fc2", rng.random((3, 8)) < 0.5, 0, scale=rng.random(3) + 0.1,
                          offset=np.zeros(3))]
    binary_ref.save(root / "binary.npz", folded)
    compile_layers(layers, PRESETS["small"]).save(str(root / "prog"))
    (root / "arch.json").write_text(json.dumps(PRESETS["small"].to_dict()))
    np.save(root / "x.npy", rng.uniform(-1, 1, (3, 12)))
    (root / "runs").mkdir()
    return SimpleNamespace(root=root, layers=layers)


def workdir(world, *names) -> Path:
    """A fresh directory holding copies of the named good files."""
    path = Path(tempfile.mkdtemp(dir=world.root / "runs"))
    for name in names:
        source = world.root / name
        if source.is_dir():
            shutil.copytree(source, path / name)
        else:
            shutil.copyfile(source, path / name)
    return path


def snapshot(directory: Path) -> dict[str, str]:
    """Every path under ``directory`` (hidden ones too) with its contents' digest."""
    out = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), directory)] = "dir"
        for name in files:
            full = os.path.join(root, name)
            out[os.path.relpath(full, directory)] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
    return out


def expect_bad(argv, capsys, directory: Path, may_succeed: bool = False) -> int:
    """Run ``zeroskip argv`` in-process. Exit 2: exactly one line on stderr, no traceback, the
    directory unchanged. Exit 0 is accepted only when ``may_succeed``."""
    before = snapshot(directory)
    code = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    if may_succeed and code == 0:
        return 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code} for {argv}: {err[-2000:]}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr for {argv}: {err[-2000:]}"
    assert lines[0].startswith("zeroskip") and "Traceback" not in err, err
    assert snapshot(directory) == before, f"files changed for {argv}"
    return 2


def run_property(check, examples: int) -> None:
    settings(max_examples=examples, deadline=None, database=None, derandomize=True,
             suppress_health_check=list(HealthCheck))(given(data=st.data())(check))()


# -- mutations --------------------------------------------------------------------------------
def mutate_bytes(data: bytes, draw) -> bytes:
    """A truncation, a flipped byte, an inserted run or a deleted run: never the identity."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    if kind == "truncate" or len(data) < 2:
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    at = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    end = draw(st.integers(at + 1, min(len(data), at + 64)))
    return data[:at] + data[end:]


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                         st.sampled_from([0, -1, 1, 2**31, 2**63, 10**12, "../../x.bin",
                                          "/dev/zero", "<f8", "|O", "sparse.bin", 7]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8)


def json_paths(value, prefix=()):
    """Every path into a JSON value (dict keys and list indices)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_paths(item, prefix + (index,))


def mutate_json(value, draw):
    """Replace or delete the value at a random path, or add a stray key."""
    value = json.loads(json.dumps(value))
    paths = [p for p in json_paths(value) if p]
    path = draw(st.sampled_from(paths))
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "replace", "delete", "stray"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "stray" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    else:
        parent[path[-1]] = draw(json_values)
    return value


any_arrays = st.one_of(
    hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.int8, np.uint16,
                                np.bool_, np.complex64, "U3", "S2", "datetime64[s]"]),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7)),
    st.sampled_from([np.zeros((0, 12)), np.float64(3.0), np.full((2, 12), np.nan),
                     np.full((2, 12), 255, np.uint8), np.full((2, 12), 1e300),
                     np.zeros((2, 13)), np.zeros((2, 3, 12))]))


def npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_arrays(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def mutate_arrays(arrays: dict, draw) -> dict:
    arrays = dict(arrays)
    action = draw(st.sampled_from(["replace", "replace", "delete", "stray"]))
    key = draw(st.sampled_from(sorted(arrays)))
    if action == "delete":
        del arrays[key]
    elif action == "stray":
        arrays[draw(st.sampled_from(["codes_7", "bias_2", "layer5_shape", "x"]))] = draw(any_arrays)
    else:
        arrays[key] = draw(any_arrays)
    return arrays


def compile_argv(directory: Path, model: str, *extra) -> list:
    return ["-q", "compile", directory / model, *extra, "-o", directory / "prog"]


def check_compiled(directory: Path) -> None:
    load_program(str(directory / "prog"))      # complete, whatever was there before


# -- properties ---------------------------------------------------------------------------------
def prop_model_bytes(world, capsys):
    def check(data):
        name = data.draw(st.sampled_from(["model.npz", "model.zsk", "binary.npz"]))
        directory = workdir(world, name, "prog")          # a previous program at -o
        path = directory / name
        path.write_bytes(mutate_bytes(path.read_bytes(), data.draw))
        # a zip's bytes outside its members (timestamps, comments) may change harmlessly
        if expect_bad(compile_argv(directory, name), capsys, directory,
                      may_succeed=name != "model.zsk") == 0:
            check_compiled(directory)
    return check


def prop_zsk_header(world, capsys):
    """Header edits with the checksum recomputed: the parser itself must hold."""
    def check(data):
        directory = workdir(world, "model.zsk", "prog")
        raw = (directory / "model.zsk").read_bytes()
        size = struct.calcsize("<8sHI")
        magic, version, length = struct.unpack("<8sHI", raw[:size])
        header = json.loads(raw[size:size + length])
        edited = json.dumps(mutate_json(header, data.draw)).encode()
        body = struct.pack("<8sHI", magic, version, len(edited)) + edited + raw[size + length:-4]
        (directory / "model.zsk").write_bytes(body + struct.pack("<I", zlib.crc32(body)))
        if expect_bad(compile_argv(directory, "model.zsk"), capsys, directory, True) == 0:
            check_compiled(directory)
    return check


def prop_npz_arrays(world, capsys):
    def check(data):
        name = data.draw(st.sampled_from(["model.npz", "binary.npz"]))
        directory = workdir(world, name, "prog")
        arrays = mutate_arrays(npz_arrays(directory / name), data.draw)
        (directory / name).write_bytes(npz_bytes(arrays))
        if expect_bad(compile_argv(directory, name), capsys, directory, True) == 0:
            check_compiled(directory)
    return check


def prop_manifest(world, capsys):
    def check(data):
        directory = workdir(world, "prog")
        np.save(directory / "y.npy", np.arange(3.0))        # a previous output
        manifest_path = directory / "prog" / "manifest.json"
        if data.draw(st.integers(0, 9)) == 0:
            manifest_path.write_bytes(mutate_bytes(manifest_path.read_bytes(), data.draw))
        else:
            manifest = json.loads(manifest_path.read_text())
            manifest_path.write_text(json.dumps(mutate_json(manifest, data.draw)))
        expect_bad(["-q", "sim", directory / "prog", "--output", directory / "y.npy"], capsys,
                   directory, may_succeed=True)
    return check


def prop_images(world, capsys):
    """Image bytes changed and their SHA-256 recomputed, so the checks behind the checksum run."""
    def check(data):
        directory = workdir(world, "prog")
        prog = directory / "prog"
        manifest = json.loads((prog / "manifest.json").read_text())
        name = data.draw(st.sampled_from(sorted(manifest["images"])))
        image = prog / manifest["images"][name]["file"]
        mutated = mutate_bytes(image.read_bytes(), data.draw)
        image.write_bytes(mutated)
        if data.draw(st.booleans()):
            manifest["images"][name]["sha256"] = hashlib.sha256(mutated).hexdigest()
            (prog / "manifest.json").write_text(json.dumps(manifest))
        expect_bad(["-q", "sim", prog, "--output", directory / "y.npy"], capsys, directory,
                   may_succeed=True)
    return check


arch_fields = st.sampled_from(sorted(PRESETS["small"].to_dict()) + ["base", "bogus"])


def prop_arch(world, capsys):
    def check(data):
        directory = workdir(world, "model.npz", "prog")
        choice = data.draw(st.integers(0, 5))
        arch = directory / "arch.json"
        if choice == 0:
            arch.write_bytes(data.draw(st.binary(max_size=64)) + b"\xff\xfe")   # not UTF-8
        elif choice == 1:
            arch.write_text(json.dumps(data.draw(json_values)))
        else:
            values = PRESETS["small"].to_dict()
            for _ in range(data.draw(st.integers(1, 3))):
                values[data.draw(arch_fields)] = data.draw(json_values)
            arch.write_text(json.dumps(values))
        if expect_bad(compile_argv(directory, "model.npz", "--arch", arch), capsys, directory,
                      True) == 0:
            check_compiled(directory)
    return check


def prop_input(world, capsys):
    def check(data):
        directory = workdir(world, "prog", "model.npz")
        x = directory / "x.npy"
        if data.draw(st.integers(0, 4)) == 0:
            x.write_bytes(data.draw(st.sampled_from([b"", b"\x93NUMPY", b"PK\x03\x04"]))
                          + data.draw(st.binary(max_size=200)))
        else:
            np.save(x, data.draw(any_arrays), allow_pickle=False)
        quantized = data.draw(st.booleans())
        np.save(directory / "y.npy", np.arange(3.0))
        argv = (["-q", "sim", directory / "prog", "--input", x, "--output", directory / "y.npy"]
                + (["--quantized"] if quantized else []))
        if data.draw(st.booleans()):
            argv = compile_argv(directory, "model.npz", "--calibration", x)
        expect_bad(argv, capsys, directory, may_succeed=True)
    return check


BAD_NUMBERS = ["-1", "-5", "0", "nan", "inf", "-inf", "1e400", "abc", "", "10000000000000000",
               "0x10", "1.5"]
ARCH_FLAGS = ["--pes", "--fifo", "--code-bits", "--run-bits", "--line-bits", "--sparse-depth",
              "--ptr-depth", "--act-depth", "--acc-depth", "--bias-depth", "--weight-bits",
              "--clock-mhz"]


def prop_arguments(world, capsys):
    """Arguments that are bad whatever else is given: each exits 2 before any work."""
    def check(data):
        d = workdir(world, "model.npz", "prog", "x.npy")
        (d / "notes").mkdir()
        (d / "notes" / "keep.txt").write_text("x")
        (d / "file.txt").write_text("x")
        command = data.draw(st.sampled_from(["compile", "sim", "verilog", "bench", "verify",
                                             "demo", "compress"]))
        case = data.draw(st.sampled_from(["seed", "arch", "output", "unknown", "usage"]))
        # each command with its outputs as (flag, value) so a case can replace them
        base = {"compile": (["compile", d / "model.npz"], "-o", d / "new"),
                "sim": (["sim", d / "prog", "--input", d / "x.npy"], "--output", d / "y.npy"),
                "verilog": (["verilog"], "-o", d / "v"),
                "bench": (["bench", "eie"], "--json", d / "b.json"),
                "verify": (["verify", d / "prog"], "--json", d / "r.json"),
                "demo": (["demo"], "-o", d / "demo"),
                "compress": (["compress", "lenet300"], "-o", d / "m.zsk")}
        head, flag, output = base[command]
        tail = []
        if case == "seed" and command not in ("compile", "verilog"):
            tail = ["--seed", data.draw(st.sampled_from(["-1", "-7", "x", "1.5", ""]))]
        elif case == "arch" and command in ("compile", "verilog", "verify"):
            arch_flag = data.draw(st.sampled_from(ARCH_FLAGS))
            number = data.draw(st.sampled_from(BAD_NUMBERS))
            tail = [arch_flag, "inf" if (arch_flag, number) == ("--clock-mhz", "1.5") else number]
        elif case == "output":
            # where a file is expected: a directory, under a file, /proc, /dev, empty, an input;
            # where a directory is expected: a file
            files = [d / "notes", d / "file.txt" / "out", "/proc/zeroskip-fuzz", "/dev/null", ""]
            if command == "sim":
                files += [d / "x.npy"]               # its input
            directories = [d / "file.txt", d / "file.txt" / "sub", "/proc/zeroskip-fuzz", ""]
            if command == "compile":
                directories += [d / "notes", d / "model.npz", d]   # not a program; an input
            choices = directories if command in ("compile", "verilog", "demo") else files
            output = data.draw(st.sampled_from(choices))
        elif case == "unknown":
            tail = [data.draw(st.sampled_from(["--bogus", "-Z", "--no-such-flag=1"]))]
        else:   # usage errors: a missing or invalid positional or choice
            head = {"compile": ["compile"], "sim": ["sim"], "verilog": ["verilog", "a", "b"],
                    "bench": ["bench", "nope"], "verify": ["verify"],
                    "demo": ["demo", "--mode", "nope"],
                    "compress": ["compress", "lenet300", "--bits", "99"]}[command]
        expect_bad(["-q", *head, flag, output, *tail], capsys, d)
    return check


PROPERTIES = {p.__name__[5:]: p for p in (prop_model_bytes, prop_zsk_header, prop_npz_arrays,
                                          prop_manifest, prop_images, prop_arch, prop_input,
                                          prop_arguments)}


@pytest.mark.parametrize("name", PROPERTIES)
def test_fuzz(name, world, capsys):
    run_property(PROPERTIES[name](world, capsys), QUICK)


@pytest.mark.slow
@pytest.mark.parametrize("name", PROPERTIES)
def test_fuzz_long(name, world, capsys):
    run_property(PROPERTIES[name](world, capsys), LONG)
