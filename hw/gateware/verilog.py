"""Verilog of the accelerator, with its port list and bus register map.

Without a program the Verilog depends on the architecture alone, and every memory a program
initialises can be filled at simulation start from a ``$readmemh`` file: the plusarg
``+zs_<image>=<path>`` (``+zs_sparse_pe3=prog/hex/sparse_pe3.hex``; the names are
``zeroskip.hw.host.image_names``, the files ``write_hex_images``'), so one build of an
architecture runs any of its programs without loading them over the bus. With a program its
images are embedded as the memories' ``initial`` contents, so one ``.v`` file is the whole design.
"""

from __future__ import annotations

import re

from amaranth.back import verilog as amaranth_verilog
from amaranth.lib import wiring

from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import Program, image_names
from zeroskip.hw.regmap import fingerprint, register_map
from zeroskip.hw.gateware.top import Accelerator

#: characters of a ``+zs_<image>=`` path the loaders can hold
PATH_CHARS = 2048
#: the plusarg naming an image's ``$readmemh`` file
PLUSARG_PREFIX = "zs_"

_MEMORY = re.compile(r"^(?P<indent> *)reg \[(?P<msb>\d+):0\] (?P<name>\S+) \[(?P<last>\d+):0\];\n"
                     r" *initial begin\n(?P<body>(?: *\S+\[\d+\] = \d+'[bdh][0-9a-fA-F]+;\n)*) *end\n",
                     re.MULTILINE)
_ZERO = re.compile(r"'[bdh]0+;$")


def add_memory_loaders(verilog: str, loadable: list[str]) -> str:
    """Rewrite Yosys's all-zero memory initialisers as loops (a fraction of the text and of
    Verilator's work) and give each memory named in ``loadable`` a ``$readmemh`` of the file
    its plusarg names, after the zeros (so an absent plusarg leaves it empty)."""
    wanted = set(loadable)
    found = set()

    def rewrite(match: re.Match) -> str:
        body = match["body"].splitlines()
        if not all(_ZERO.search(line) for line in body):
            return match[0]
        indent, name, width, depth = match["indent"], match["name"], int(match["msb"]) + 1, int(match["last"]) + 1
        load = name in wanted
        found.add(name) if load else None
        lines = [f"{indent}reg [{width - 1}:0] {name} [{depth - 1}:0];",
                 f"{indent}initial begin : zs_init_{name}",
                 f"{indent}  integer i;"]
        if load:
            lines.append(f"{indent}  reg [{8 * PATH_CHARS - 1}:0] path;")
        lines.append(f"{indent}  for (i = 0; i < {depth}; i = i + 1) {name}[i] = {width}'h0;")
        if load:
            lines.append(f'{indent}  if ($value$plusargs("{PLUSARG_PREFIX}{name}=%s", path)) '
                         f"$readmemh(path, {name});")
        return "\n".join(lines + [f"{indent}end", ""])

    text = _MEMORY.sub(rewrite, verilog)
    missing = wanted - found
    if missing:
        raise AssertionError(f"no empty memory named {sorted(missing)[0]} in the Verilog")
    return text


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
    """``{"name", "verilog", "ports", "register_map", "fingerprint", "initialised"}``; without
    a program, the memories load their images from ``+zs_<image>=`` files (module doc)."""
    top = Accelerator(arch, program)
    text = amaranth_verilog.convert(top, name=name, emit_src=False)
    if program is None:
        text = add_memory_loaders(text, image_names(arch))
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
