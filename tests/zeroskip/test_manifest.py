"""A program directory is input: ``load_program`` trusts nothing in it that
``zeroskip.hw.manifest`` has not checked (issue 9). Each damage below is one line, exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.manifest import is_program_directory, pass_shift
from zeroskip.hw.program import load_program

from cli_helpers import small_layers



@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "prog"
    compile_layers(small_layers(3), PRESETS["small"]).save(str(path))
    return path


def damaged(good, tmp_path, edit):
    prog = tmp_path / "prog"
    shutil.copytree(good, prog)
    manifest = json.loads((prog / "manifest.json").read_text())
    edit(manifest, prog)
    (prog / "manifest.json").write_text(json.dumps(manifest))
    return prog


def set_image(name, key, value):
    def edit(manifest, prog):
        manifest["images"][name][key] = value
    return edit


def rehash(name, data: bytes, shape=None):
    """Replace an image's bytes and fix its checksum (so the other checks must catch it)."""
    def edit(manifest, prog):
        (prog / f"{name}.bin").write_bytes(data)
        manifest["images"][name]["sha256"] = hashlib.sha256(data).hexdigest()
        if shape is not None:
            manifest["images"][name]["shape"] = shape
    return edit


def set_path(*keys, value=None, delete=False):
    def edit(manifest, prog):
        target = manifest
        for key in keys[:-1]:
            target = target[key]
        if delete:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return edit


def shift_plus_one(manifest, prog):
    manifest["passes"][0]["shift"] += 1


CASES = {
    "image outside (..)": (set_image("sparse", "file", "../../x.bin"), "not a plain file name"),
    "image absolute": (set_image("sparse", "file", "/etc/passwd"), "not a plain file name"),
    "image /dev/zero": (set_image("ptr", "file", "/dev/zero"), "not a plain file name"),
    "image symlink out": (lambda m, p: (os.remove(p / "bias.bin"),
                                        os.symlink("/dev/zero", p / "bias.bin")),
                          "leads outside"),
    "dtype <f8": (set_image("ptr", "dtype", "<f8"), "dtype '<f8'"),
    "dtype object": (set_image("bias", "dtype", "|O"), "dtype '|O'"),
    "negative shape": (set_image("sparse", "shape", [4, -1]), "shape"),
    "overflowing shape": (set_image("sparse", "shape", [4, 2 ** 62]), "shape"),
    "shape not ints": (set_image("bias", "shape", ["4", 3]), "shape"),
    "missing sha256": (set_path("images", "codebook", "sha256", delete=True), "SHA-256"),
    "image too short": (rehash("sparse", b"\0" * 8), "bytes, expected"),
    "kind 7": (set_path("layers", 0, "kind", value=7), "unknown kind 7"),
    "shift mismatch": (shift_plus_one, "shift"),
    "pass for a missing layer": (set_path("passes", 0, "layer", value=5), "layer"),
    "layers deleted": (set_path("layers", 1, delete=True), "pass"),
    "string arch": (set_path("arch", value="small"), "'arch' must be an object"),
    "arch depth 10^12": (set_path("arch", "sparse_depth", value=10 ** 12), "sparse_depth"),
    "in_len negative": (set_path("layers", 0, "in_len", value=-3), "in_len"),
    "relu a string": (set_path("layers", 0, "relu", value="yes"), "relu"),
    "passes not a list": (set_path("passes", value={"a": 1}), "'passes'"),
    "output_index not a permutation": (set_path("output_index", value=[0, 0, 1, 2, 3, 4]),
                                       "output_index"),
    "version 2": (set_path("version", value=2), "version"),
}


@pytest.mark.parametrize("case", CASES)
def test_damaged_programs_are_one_line(case, good, tmp_path, capsys):
    edit, message = CASES[case]
    prog = damaged(good, tmp_path, edit)
    with pytest.raises(ZeroskipError) as error:
        load_program(str(prog))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert main(["sim", str(prog)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_not_utf8_and_not_json(good, tmp_path, capsys):
    prog = tmp_path / "prog"
    shutil.copytree(good, prog)
    (prog / "manifest.json").write_bytes(b'{"format": "zeroskip-program", "x": "\xff\xfe"}')
    with pytest.raises(ZeroskipError, match="not UTF-8"):
        load_program(str(prog))
    (prog / "manifest.json").write_text("[" * 100000)
    with pytest.raises(ZeroskipError, match="unreadable manifest"):
        load_program(str(prog))
    assert not is_program_directory(str(prog))


def test_decreasing_pointers_are_refused(good, tmp_path):
    ptr = np.fromfile(good / "ptr.bin", dtype="<i8").reshape(4, -1)
    ptr[:, 1] = ptr[:, 0] + 5
    ptr[:, 2] = ptr[:, 0]
    prog = damaged(good, tmp_path, rehash("ptr", ptr.tobytes()))
    with pytest.raises(ZeroskipError, match="pointers"):
        load_program(str(prog))


def test_the_good_program_loads_and_passes_carry_their_layers_shift(good):
    program = load_program(str(good))
    manifest = json.loads((good / "manifest.json").read_text())
    for p in manifest["passes"]:
        assert p["shift"] == pass_shift(manifest["layers"][p["layer"]])
    assert program.arch == PRESETS["small"] and is_program_directory(str(good))
