"""Verilog of the accelerator, with its port list and bus register map.

Program initialisation, when given, is embedded in the Verilog (``initial`` blocks of the memory
contents), so one ``.v`` file is the whole design; cocotb runs of big programs use it to skip
loading the images over the bus.
"""

from __future__ import annotations

from amaranth.back import verilog as amaranth_verilog
from amaranth.lib import wiring

from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import Program
from zeroskip.hw.regmap import fingerprint, register_map
from zeroskip.hw.gateware.top import Accelerator


def ports(top: wiring.Component) -> list[dict]:
    """The top's ports as Verilog sees them: name, direction, width (clk and rst first)."""
    out = [{"name": "clk", "direction": "input", "width": 1},
           {"name": "rst", "direction": "input", "width": 1}]
    for path, member, value in top.signature.flatten(top):
        direction = "input" if member.flow == wiring.In else "output"
        out.append({"name": "__".join(str(p) for p in path), "direction": direction,
                    "width": len(value)})
    return out


def generate(arch: ArchConfig, program: Program | None = None, name: str = "zeroskip_top") -> dict:
    """``{"name", "verilog", "ports", "register_map", "fingerprint", "initialised"}``."""
    top = Accelerator(arch, program)
    text = amaranth_verilog.convert(top, name=name, emit_src=False)
    return {"name": name, "verilog": text, "ports": ports(top), "register_map": register_map(arch),
            "fingerprint": fingerprint(arch), "initialised": program is not None}


def write_verilog(arch: ArchConfig, program: Program | None, directory, name: str = "zeroskip_top"):
    """Write ``<name>.v`` and ``<name>.json`` (ports, register map, configuration) into
    ``directory``, each atomically, and with a program its ``$readmemh`` images in ``hex/``;
    returns the two paths."""
    import json
    import os

    from zeroskip.files import write_atomic

    result = generate(arch, program, name=name)
    os.makedirs(directory, exist_ok=True)
    verilog_path = os.path.join(directory, f"{name}.v")
    json_path = os.path.join(directory, f"{name}.json")
    write_atomic(verilog_path, result["verilog"])
    info = {k: v for k, v in result.items() if k != "verilog"}
    info["arch"] = arch.to_dict()
    write_atomic(json_path, json.dumps(info, indent=1))
    if program is not None:
        # the same words as $readmemh files, for flows that load memories their own way
        from zeroskip.hw.program import write_hex_images

        write_hex_images(program, os.path.join(directory, "hex"))
    return verilog_path, json_path
