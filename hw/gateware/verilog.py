"""Verilog of the accelerator, with its port list and bus register map.

Without a program the Verilog depends on the architecture alone, and every memory a program
initialises can be filled at simulation start from a ``$readmemh`` file: the plusarg
``+zs_<image>=<path>`` (``+zs_sparse_pe3=prog/hex/sparse_pe3.hex``; the names are
``zeroskip.hw.host.image_names``, the files ``write_hex_images``'), so one build of an
architecture runs any of its programs without loading them over the bus. With a program its
images are embedded as the memories' ``initial`` contents, so one ``.v`` file is the whole design.

``write_verilog`` also writes what an integrator needs next to it: the register map as a C
header and as JSON (``zeroskip.hw.regmap_files``), an example top and a plain-Verilog
testbench (``integration``).
"""

from __future__ import annotations

import contextlib
import re

from amaranth.back import rtlil as amaranth_rtlil
from amaranth.back import verilog as amaranth_verilog
from amaranth.lib import wiring

from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import Program, image_names
from zeroskip.hw.regmap import fingerprint, register_map
from zeroskip.hw.gateware.integration import example_top, header_comment, testbench
from zeroskip.hw.gateware.top import Accelerator
from zeroskip.hw.regmap_files import C_HEADER_NAME, JSON_NAME, c_header, describe

#: characters of a ``+zs_<image>=`` path the loaders can hold
PATH_CHARS = 2048
#: the plusarg naming an image's ``$readmemh`` file
PLUSARG_PREFIX = "zs_"

#: a memory as Yosys declares it, and the ``initial`` block that follows when it has one
_MEMORY = re.compile(r"^(?P<indent> *)reg (?:\[(?P<msb>\d+):0\] )?(?P<name>\S+) \[(?P<last>\d+):0\];\n"
                     r"(?P<init> *initial begin\n)?", re.MULTILINE)


@contextlib.contextmanager
def _zero_memories_uninitialised():
    """While converting, leave out the ``$meminit_v2`` cell of every memory whose initial
    contents are all zero: Amaranth spells such a cell bit by bit (one RTLIL net per bit of every
    word) and Yosys parses it and writes every word back as a line of Verilog: most of eie64's
    generation time (docs/benchmarks.md). ``add_memory_loaders`` gives those memories their
    zeros back as one loop each. (Amaranth 0.5 has no option for this; its emitter method is wrapped.)"""
    emitter = amaranth_rtlil.ModuleEmitter
    original = emitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        if any(cell.init):
            original(self, cell_idx, cell)

    emitter.emit_memory = emit_memory
    try:
        yield
    finally:
        emitter.emit_memory = original


def add_memory_loaders(verilog: str, loadable: list[str]) -> str:
    """Give every memory that has no ``initial`` block (its contents were all zero) a loop that
    zeroes it, and each memory named in ``loadable`` a ``$readmemh`` of the file its plusarg
    names, after the zeros (so an absent plusarg leaves it empty)."""
    wanted = set(loadable)
    found = set()

    def rewrite(match: re.Match) -> str:
        if match["init"]:
            return match[0]
        indent, name, depth = match["indent"], match["name"], int(match["last"]) + 1
        width = int(match["msb"]) + 1 if match["msb"] is not None else 1
        load = name in wanted
        found.add(name) if load else None
        lines = [match[0].rstrip("\n"),
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
    a program, the memories load their images from ``+zs_<image>=`` files (module doc). The
    Verilog opens with a comment documenting ports, clock, reset and the register map."""
    top = Accelerator(arch, program)
    with _zero_memories_uninitialised():
        text = amaranth_verilog.convert(top, name=name, emit_src=False)
    text = add_memory_loaders(text, image_names(arch) if program is None else [])
    top_ports = ports(top)
    text = header_comment(arch, name, top_ports, loadable=program is None) + text
    return {"name": name, "verilog": text, "ports": top_ports, "register_map": register_map(arch),
            "fingerprint": fingerprint(arch), "initialised": program is not None}


def write_verilog(arch: ArchConfig, program: Program | None, directory, name: str = "zeroskip_top"):
    """Write into ``directory``, each file atomically: ``<name>.v``; ``<name>.json`` (ports,
    register map, configuration); the register map as ``zeroskip_regs.h`` and
    ``zeroskip_regs.json``; ``<name>_example.v`` (an example top) and ``<name>_tb.v`` (a
    plain-Verilog testbench); with a program, its ``$readmemh`` images in ``hex/``. Returns the
    paths of ``<name>.v`` and ``<name>.json``."""
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
    write_atomic(os.path.join(directory, C_HEADER_NAME), c_header(arch, module=name))
    write_atomic(os.path.join(directory, JSON_NAME), json.dumps(describe(arch), indent=1))
    write_atomic(os.path.join(directory, f"{name}_example.v"), example_top(name, result["ports"]))
    write_atomic(os.path.join(directory, f"{name}_tb.v"), testbench(arch, name))
    if program is not None:
        # the same words as $readmemh files, for flows that load memories their own way
        from zeroskip.hw.program import write_hex_images

        write_hex_images(program, os.path.join(directory, "hex"))
    return verilog_path, json_path
