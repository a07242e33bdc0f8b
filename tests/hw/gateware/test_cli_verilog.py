"""``zeroskip verilog``: files written, program initialisation, configuration mismatch → exit 2."""

import dataclasses
import json

import numpy as np

from zeroskip.cli import main
from zeroskip.hw import regmap

from benches import tiny
from handmade import encode, random_layers


def arch_file(tmp_path, arch):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(dataclasses.asdict(arch)))
    return str(path)


def test_writes_verilog_and_json(tmp_path):
    arch = tiny()
    out = tmp_path / "out"
    assert main(["-q", "verilog", "--arch", arch_file(tmp_path, arch), "--name", "acc", "-o", str(out)]) == 0
    text = (out / "acc.v").read_text()
    info = json.loads((out / "acc.json").read_text())
    assert "module acc(" in text
    assert info["register_map"]["id"] == regmap.fingerprint(arch)
    assert {p["name"] for p in info["ports"]} >= {"clk", "rst", "bus__cyc", "bus__ack", "done"}
    assert info["initialised"] is False


def test_program_dir_initialises_and_mismatch_is_one_line(tmp_path, capsys):
    arch = tiny()
    program = encode(arch, random_layers(np.random.default_rng(0), arch, [6, 5]))
    program.save(str(tmp_path / "prog"))
    out = tmp_path / "out"
    assert main(["-q", "verilog", str(tmp_path / "prog"), "-o", str(out)]) == 0
    assert json.loads((out / "zeroskip_top.json").read_text())["initialised"] is True
    # the program's words as $readmemh files too, identical to the program directory's
    for name in ("sparse_pe0", "ptr_even_pe1", "bias_pe0", "codebook", "descriptors"):
        assert (out / "hex" / f"{name}.hex").read_text() == \
            (tmp_path / "prog" / "hex" / f"{name}.hex").read_text()

    capsys.readouterr()
    other = arch_file(tmp_path, dataclasses.replace(arch, fifo_depth=4))
    assert main(["-q", "verilog", str(tmp_path / "prog"), "--arch", other, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "compiled for architecture" in err and "fifo_depth 8 vs 4" in err
    assert main(["-q", "verilog", str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert "no such program directory" in capsys.readouterr().err
