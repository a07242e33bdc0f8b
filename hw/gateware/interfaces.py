"""The interfaces between the gateware's blocks, declared once: the layouts of what travels
between them and the signatures of the ports that carry them (in the style of Glasgow's gateware
and ``amaranth.lib.stream``). Every width comes from the contract: ``ArchConfig``, the program
layouts (``layouts.py``, ``program.field_max``) and ``regmap.memory_shapes``.

Each signature is the driving block's view; the other side takes ``In(...)`` of it, and the top
joins them with ``wiring.connect``:

- ``broadcast_signature``: the broadcaster's item into every PE's queue (one producer, N
  consumers, one ``connect``); each PE's ``ready`` (its queue has room) is ANDed by the top;
- ``group_read_signature``: the broadcaster's read of one PE's source bank (one per lane);
- ``pass_signature``: the running pass, from the control unit to the broadcaster and every PE
  (with ``pixel_layout``: where a conv pass's current output pixel reads and writes);
- ``pe_load_signature`` / ``descriptor_load_signature``: the host bus's ports into the memories.
"""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from zeroskip.hw.arch import ArchConfig, _bits_for
from zeroskip.hw.gateware.layouts import descriptor_struct
from zeroskip.hw.program import field_max
from zeroskip.hw.regmap import PE_MEMORIES, memory_shapes

#: the memories a PE's load port writes: its own, then its copy of the codebook
PE_LOAD_TARGETS = PE_MEMORIES + ("codebook",)


def plane_bits(arch: ArchConfig) -> int:
    """A binary item's bit plane: below the descriptor's ``planes`` (docs/binary-mode.md)."""
    return field_max("planes", arch).bit_length()


def line_index(arch: ArchConfig):
    """A binary item's first weight line, ``line_base + chunk·rows`` (docs/binary-mode.md): the
    descriptor's ``line_base`` shape (every line an item names is below ``sparse_depth``)."""
    return descriptor_struct(arch).members["line_base"]


# -- what the broadcaster pushes -------------------------------------------------------------------
def sparse_item(arch: ArchConfig) -> data.StructLayout:
    """A sparse (or conv) pass's item: the activation ``a_j`` and its column ``j`` (a conv
    pass's k·k·C columns are at most ``max_vector``, as an FC pass's: the compiler's bound)."""
    return data.StructLayout({"value": signed(arch.act_bits), "index": arch.act_index_bits})


def binary_item(arch: ArchConfig) -> data.StructLayout:
    """A binary pass's item: the ``line_bits`` input bits of one (plane, chunk), the chunk's first
    weight line (its ``rows`` lines follow it; the broadcaster steps it with adders, so no PE
    multiplies) and how many of the bits are input bits (``valid``: the chunk's length; the rest
    are 0 and never count)."""
    return data.StructLayout({"bits": arch.line_bits, "plane": plane_bits(arch),
                              "line": line_index(arch), "valid": range(arch.line_bits + 1)})


def broadcast_item(arch: ArchConfig) -> data.UnionLayout:
    """One queue item: the pass's kind says which member it is (the queue is as wide as the
    wider of the two)."""
    return data.UnionLayout({"sparse": sparse_item(arch), "binary": binary_item(arch)})


def broadcast_signature(arch: ArchConfig) -> wiring.Signature:
    """The broadcaster's push into every PE's queue: ``payload`` enters every queue in the cycle
    ``valid`` is high. It is ``stream.Signature(broadcast_item(arch), always_ready=True)`` less
    the constant ``ready`` (``wiring.connect`` cannot join N of them): the broadcaster raises
    ``valid`` only while every queue has room (each PE's ``ready``, ANDed by the top), so every
    consumer takes every item — EIE's broadcast stalls the whole array on one full queue."""
    return wiring.Signature({"valid": Out(1), "payload": Out(broadcast_item(arch))})


def group_read_signature(arch: ArchConfig) -> wiring.Signature:
    """A synchronous read of one PE's source bank (the initiator's view): ``data`` is the word
    at the ``addr`` given with ``en`` one cycle earlier, held while ``en`` is low; with
    ``group_feed`` two cycles earlier (the PE registers the bank's output), for one cycle."""
    return wiring.Signature({"en": Out(1), "addr": Out(range(arch.act_depth)),
                             "data": In(signed(arch.act_bits))})


def pixel_layout(arch: ArchConfig) -> data.StructLayout:
    """A conv pass's current output pixel (oy, ox) (docs/conv.md), registered by the control unit
    before the pixel-pass's first cycle and held through it (all zero in the other kinds' passes):

    - ``origin``: O = oy·line_step + ox·pixel_step − origin, the global activation index where
      the window starts (negative in the padding);
    - ``iy0`` / ``ix0``: oy·stride − pad and ox·stride − pad, the window's top-left input pixel;
    - ``out_offset``: P·out_step, the local address of the pixel's outputs past ``row_base``."""
    desc = descriptor_struct(arch)
    corner = signed(max(desc["in_height"].width, desc["in_width"].width, desc["pad"].width) + 1)
    return data.StructLayout({"origin": signed(desc["origin"].width + 1), "iy0": corner,
                              "ix0": corner, "out_offset": desc["row_base"].shape})


#: the pass descriptor's fields a PE reads (``pe_descriptor``)
DESCRIPTOR_FIELDS = ("kind", "planes", "layer", "op", "row_base", "shift", "relu", "binarize",
                     "ptr_base", "rows")


def pe_descriptor(arch: ArchConfig) -> data.StructLayout:
    """The fields of the pass descriptor a PE reads: with ``pe_copies`` the control unit sends
    them a cycle ahead, through a register per group of PEs, into each PE's own (docs/timing.md
    "PE copies")."""
    members = descriptor_struct(arch).members
    return data.StructLayout({name: members[name] for name in DESCRIPTOR_FIELDS})


def pass_signature(arch: ArchConfig) -> wiring.Signature:
    """The running pass, as the control unit drives it: ``start`` in its first cycle, its
    descriptor and, for conv passes, its output pixel (``start`` then begins each pixel-pass),
    the requantisation sweep's row and its bias address (``bias_base`` + row, counted beside the
    row so that no PE adds them; with ``sweep_overlap`` also the accumulator files of the pass
    and of the sweep, and the sweep's output offset), and ``busy`` (the program runs: the host's
    load ports are locked out)."""
    members = {"start": Out(1), "desc": Out(descriptor_struct(arch)),
               "pixel": Out(pixel_layout(arch)),
               "sweep": Out(1), "sweep_row": Out(range(arch.acc_depth)),
               "sweep_bias": Out(descriptor_struct(arch)["bias_base"].shape),
               "busy": Out(1)}
    if arch.sweep_overlap:
        # docs/timing.md "Sweep overlap": the running pixel-pass's accumulator file, and the
        # sweeping one's file and output offset (it may be the previous pixel's)
        members.update(half=Out(1), sweep_half=Out(1),
                       sweep_offset=Out(descriptor_struct(arch)["row_base"].shape))
    return wiring.Signature(members)


# -- the host's load ports ---------------------------------------------------------------------------
def _load_members(arch: ArchConfig, targets: tuple[str, ...]) -> dict:
    shapes = memory_shapes(arch)
    return {"we": Out(data.StructLayout({name: 1 for name in targets})),   # one enable per memory
            "addr": Out(max(_bits_for(shapes[name][1] - 1) for name in targets)),
            "data": Out(max(shapes[name][0] for name in targets))}


def pe_load_signature(arch: ArchConfig) -> wiring.Signature:
    """The bus's port into one PE (the bus decoder's view): an entry of any of
    ``PE_LOAD_TARGETS`` written where ``we`` says, and the activation banks read back
    (``re``, the address and ``bank`` in one cycle, ``rdata`` in the next: the PE registers
    ``bank``, so no path runs from the bus's inputs to ``rdata``)."""
    return wiring.Signature({**_load_members(arch, PE_LOAD_TARGETS),
                             "re": Out(1), "bank": Out(1), "rdata": In(arch.act_bits)})


def descriptor_load_signature(arch: ArchConfig) -> wiring.Signature:
    """The bus's port into the control unit's descriptor memory."""
    return wiring.Signature(_load_members(arch, ("descriptors",)))
