"""Verilog generation: the port list matches the module, the register map comes along, a
program's images are embedded, and the ``small`` (4/8/16 PEs) and ``eie64`` arrays elaborate."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from zeroskip.hw import regmap
from zeroskip.hw.arch import PRESETS, with_overrides
from zeroskip.hw.gateware.verilog import generate

from benches import tiny
from handmade import encode, random_layers


def declared_ports(text, name):
    module = text[text.index(f"module {name}("):]
    module = module[:module.index("endmodule")]
    ports = {}
    for direction, width, port in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);",
                                             module, re.M):
        ports[port] = (direction, int(width) + 1 if width else 1)
    return ports


def check(arch, result, name="zeroskip_top"):
    expected = {p["name"]: (p["direction"], p["width"]) for p in result["ports"]}
    assert declared_ports(result["verilog"], name) == expected
    assert expected["bus__adr"] == ("input", regmap.address_bits(arch))
    assert expected["bus__dat_r"] == ("output", 32)
    assert result["register_map"]["id"] == regmap.fingerprint(arch) == result["fingerprint"]


@pytest.mark.parametrize("pes", [4, 8, 16])
def test_small_generates(pes):
    arch = with_overrides(PRESETS["small"], pes=pes)
    check(arch, generate(arch))


@pytest.mark.slow
def test_eie64_generates():
    arch = PRESETS["eie64"]
    result = generate(arch, name="eie")
    check(arch, result, name="eie")


def test_program_images_embedded():
    arch = tiny()
    program = encode(arch, random_layers(np.random.default_rng(0), arch, [6, 5]))
    plain, initialised = generate(arch), generate(arch, program)
    assert initialised["initialised"] and not plain["initialised"]
    line = int(program.sparse[0][0])
    assert f"64'h{line:016x}" in initialised["verilog"]
    assert f"64'h{line:016x}" not in plain["verilog"]


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
def test_icarus_parses_it(tmp_path):
    arch = tiny()
    program = encode(arch, random_layers(np.random.default_rng(1), arch, [6, 5]))
    path = tmp_path / "top.v"
    path.write_text(generate(arch, program)["verilog"])
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "top.vvp"), str(path)],
                   check=True, capture_output=True)
