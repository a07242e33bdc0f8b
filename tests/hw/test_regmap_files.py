"""The register map as files: the C header compiles with the system C compiler and its macros
print exactly ``regmap``'s values; the JSON describes every register, field and region."""

import json
import shutil
import subprocess

import pytest

from zeroskip.hw import regmap
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.regmap_files import C_HEADER_NAME, c_header, describe, summary

from benches import tiny


def c_compiler() -> str:
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    pytest.fail("no C compiler (cc, gcc or clang) on PATH: the C header test needs one "
                "(Debian/Ubuntu: `sudo apt-get install -y gcc`)")


def expected_values(arch) -> dict[str, int]:
    """Macro name → value, from ``regmap`` directly (not from ``describe``)."""
    values = {"ZS_ID_VALUE": regmap.fingerprint(arch), "ZS_PES": arch.pes,
              "ZS_DATA_BITS": regmap.DATA_BITS, "ZS_ADDRESS_BITS": regmap.address_bits(arch),
              "ZS_REG_ID": regmap.REG_ID, "ZS_REG_CTRL": regmap.REG_CTRL,
              "ZS_REG_STATUS": regmap.REG_STATUS, "ZS_REG_PASSES": regmap.REG_PASSES,
              "ZS_REG_CYCLES": regmap.REG_CYCLES, "ZS_REG_LAYERS": regmap.REG_LAYERS,
              "ZS_STATUS_DONE_MASK": regmap.STATUS_DONE, "ZS_STATUS_DONE_SHIFT": 0,
              "ZS_STATUS_BUSY_MASK": regmap.STATUS_BUSY, "ZS_STATUS_BUSY_SHIFT": 1,
              "ZS_CTRL_START_MASK": regmap.CTRL_START, "ZS_CTRL_START_SHIFT": 0}
    for name, r in regmap.regions(arch).items():
        for key in ("base", "size", "width", "depth", "words", "stride", "window", "per_pe"):
            values[f"ZS_{name.upper()}_{key.upper()}"] = int(getattr(r, key))
        pe, index = (arch.pes - 1 if r.per_pe else 0), r.depth - 1
        values[f"ZS_{name.upper()}_ADDR({pe}, {index}, {r.words - 1})"] = \
            r.address(index, pe, r.words - 1)
    return values


@pytest.mark.parametrize("arch", [tiny(pes=3), PRESETS["eie64"]], ids=["tiny3", "eie64"])
def test_c_header_compiles_and_matches_regmap(tmp_path, arch):
    (tmp_path / C_HEADER_NAME).write_text(c_header(arch))
    values = expected_values(arch)
    prints = "\n".join(f'  printf("%s %llu\\n", "{name}", (unsigned long long)({name}));'
                       for name in values)
    (tmp_path / "show.c").write_text(
        f'#include <stdio.h>\n#include "{C_HEADER_NAME}"\n#include "{C_HEADER_NAME}"\n'
        f"int main(void) {{\n{prints}\n  return 0;\n}}\n")
    build = subprocess.run([c_compiler(), "-std=c99", "-Wall", "-Werror", "-pedantic",
                            "-o", str(tmp_path / "show"), str(tmp_path / "show.c")],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    out = subprocess.run([str(tmp_path / "show")], capture_output=True, text=True, check=True).stdout
    printed = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in out.splitlines()}
    assert printed == values


def test_json_describes_every_register_field_and_region():
    arch = tiny()
    d = json.loads(json.dumps(describe(arch)))
    assert d["id"] == regmap.fingerprint(arch) and d["address_bits"] == regmap.address_bits(arch)
    assert {r["name"]: r["address"] for r in d["registers"]} == regmap.REGISTERS
    status = next(r for r in d["registers"] if r["name"] == "status")
    assert {f["name"]: (f["mask"], f["shift"], f["width"]) for f in status["fields"]} == \
        {"done": (regmap.STATUS_DONE, 0, 1), "busy": (regmap.STATUS_BUSY, 1, 1)}
    regions = regmap.regions(arch)
    assert {r["name"] for r in d["regions"]} == set(regions) == set(regmap.MEMORY_DESCRIPTIONS)
    for r in d["regions"]:
        assert r["base"] == regions[r["name"]].base and r["depth"] == regions[r["name"]].depth
        assert r["readable"] == (r["name"] in regmap.READABLE)
    for entry in d["registers"] + d["regions"]:
        assert entry["description"]
    assert all(f["description"] for r in d["registers"] for f in r["fields"])


def test_summary_lists_every_register_and_region():
    arch = PRESETS["small"]
    text = "\n".join(summary(arch))
    assert f"0x{regmap.fingerprint(arch):08X}" in text
    for name, r in regmap.regions(arch).items():
        assert f"0x{r.base:04X} {name}" in text
    for name, address in regmap.REGISTERS.items():
        assert f"0x{address:04X} {name}" in text
