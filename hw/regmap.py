"""The host bus address map (Wishbone B4 classic, 32-bit data, word addresses), derived from
``ArchConfig`` alone; pure Python, so the host driver and the cocotb testbench import it without
Amaranth.

The map is a handful of registers at word address 0 and one *region* per memory. A memory entry
wider than 32 bits takes ``words`` consecutive words, least significant word first (the hardware
writes the memory when the entry's last word arrives); each region is a power of two in size and
aligned to it, so decoding is a comparison of the high address bits:

    address = region.base + pe * region.window + index * region.stride + word

Per-PE memories (``per_pe``) have one window per PE; ``codebook`` and ``descriptors`` are global
(the codebook is written into every PE's copy at once). Only the registers and the activation
banks (``act0``/``act1``) read back; other memories are write-only.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PIPELINE_SWITCHES, TIMING_SWITCHES, ArchConfig
from zeroskip.hw.program import descriptor_layout, layout_width

DATA_BITS = 32
#: a bus transfer's cycles: the request, its decode registered into the load ports, ``ack``
#: (with a read's data); hw/gateware/top.py. With ``pe_copies`` the load port goes through a
#: register per group of PEs and then each PE's own (``LOAD_STAGES``: one register for the
#: array into 16 PEs' across the die was routed 14 ns, docs/fpga.md "The PEs' own copies"):
#: ``transfer_cycles(arch)``
TRANSFER_CYCLES = 3
LOAD_STAGES = 2


def transfer_cycles(arch: ArchConfig) -> int:
    """Cycles of one bus transfer on ``arch``: ``ack`` rises in the last."""
    return TRANSFER_CYCLES + LOAD_STAGES * arch.pe_copies


#: registers (word addresses inside the register region at 0)
REG_ID = 0          #: read: ``fingerprint(arch)``
REG_CTRL = 1        #: write bit 0 = 1: start the program
REG_STATUS = 2      #: read: bit 0 done, bit 1 busy
REG_PASSES = 3      #: read/write: number of pass descriptors to run
REG_CYCLES = 4      #: read: cycle counter (the program's cycle count once done)
REG_LAYERS = 5      #: read/write: scratch for the host (the driver stores the layer count)
REGISTER_WORDS = 8
STATUS_DONE = 1
STATUS_BUSY = 2
CTRL_START = 1


@dataclass(frozen=True)
class Field:
    """Bits of a register, named by their mask."""

    name: str
    mask: int
    description: str

    @property
    def shift(self) -> int:
        return (self.mask & -self.mask).bit_length() - 1

    @property
    def width(self) -> int:
        return (self.mask >> self.shift).bit_length()


@dataclass(frozen=True)
class Register:
    """One register of the block at word 0: what a host may do with it and what it means."""

    name: str
    address: int
    access: str             #: "r", "w" or "rw" (a write to a read-only register is ignored)
    description: str
    fields: tuple[Field, ...] = ()


REGISTER_TABLE = (
    Register("id", REG_ID, "r", "configuration fingerprint: CRC-32 of the hardware fields of the "
             "ArchConfig; a host compares it with its program's before loading"),
    Register("ctrl", REG_CTRL, "w", "control; reads as 0",
             (Field("start", CTRL_START, "write 1 to start the program (ignored while busy)"),)),
    Register("status", REG_STATUS, "r", "state of the program run",
             (Field("done", STATUS_DONE, "the last run finished; high until the next start "
                    "(also the done port)"),
              Field("busy", STATUS_BUSY, "a run is in progress; memory writes are ignored"))),
    Register("passes", REG_PASSES, "rw", "number of pass descriptors the next run executes"),
    Register("cycles", REG_CYCLES, "r", "cycle counter of the current or last run (the "
             "program's cycle count once done)"),
    Register("layers", REG_LAYERS, "rw", "scratch for the host (the zeroskip driver stores the "
             "layer count; the output bank is layers % 2)"),
)
REGISTERS = {r.name: r.address for r in REGISTER_TABLE}

#: per-PE memories, in the order the gateware's load port numbers them
PE_MEMORIES = ("sparse", "ptr_even", "ptr_odd", "bias", "act0", "act1")
GLOBAL_MEMORIES = ("codebook", "descriptors")
READABLE = ("act0", "act1")
#: what each memory holds (the formats are zeroskip.hw.program's)
MEMORY_DESCRIPTIONS = {
    "sparse": "weight lines: (code, zero-run) entries of the PE's rows, or binary bit planes",
    "ptr_even": "column pointers into sparse, even columns",
    "ptr_odd": "column pointers into sparse, odd columns",
    "bias": "per-row biases, accumulator format",
    "act0": "activation bank 0 (the input goes here; readable)",
    "act1": "activation bank 1 (readable)",
    "codebook": "shared weights, one codebook per layer (written into every PE's copy)",
    "descriptors": "pass descriptors, one per pass (the layout is program.descriptor_layout)",
}

#: fields of the architecture that shape the hardware (name and clock do not)
_NOT_HARDWARE = ("name", "clock_mhz")


def _pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def _log2(n: int) -> int:
    return int(n).bit_length() - 1


@dataclass(frozen=True)
class Region:
    """One memory's window on the bus."""

    name: str
    base: int       #: first word address
    size: int       #: words, a power of two; base is a multiple of it
    width: int      #: bits of one memory entry
    depth: int      #: entries (per PE for per-PE memories)
    words: int      #: bus words per entry
    stride: int     #: address step between entries (words rounded up to a power of two)
    window: int     #: address step between PEs (0 for global memories)
    per_pe: bool

    def address(self, index: int, pe: int = 0, word: int = 0) -> int:
        return self.base + pe * self.window + index * self.stride + word


def memory_shapes(arch: ArchConfig) -> dict[str, tuple[int, int]]:
    """(width, depth) of every memory the host writes; the gateware sizes its memories from it."""
    return {
        "sparse": (arch.line_bits, arch.sparse_depth),
        "ptr_even": (arch.ptr_bits, arch.ptr_bank_depth),
        "ptr_odd": (arch.ptr_bits, arch.ptr_bank_depth),
        "bias": (arch.acc_bits, arch.bias_depth),
        "act0": (arch.act_bits, arch.act_depth),
        "act1": (arch.act_bits, arch.act_depth),
        "codebook": (arch.weight_bits, arch.max_layers * arch.codebook_size),
        "descriptors": (layout_width(descriptor_layout(arch)), arch.max_passes),
    }


def regions(arch: ArchConfig) -> dict[str, Region]:
    """Every memory's region, allocated largest first after the register block."""
    sizes = {}
    for name, (width, depth) in memory_shapes(arch).items():
        words = -(-width // DATA_BITS)
        stride = _pow2(words)
        window = _pow2(depth) * stride
        per_pe = name in PE_MEMORIES
        size = window * _pow2(arch.pes) if per_pe else window
        sizes[name] = (size, width, depth, words, stride, window if per_pe else 0, per_pe)
    order = sorted(sizes, key=lambda n: (-sizes[n][0], n))
    out: dict[str, Region] = {}
    base = max(REGISTER_WORDS, sizes[order[0]][0])      # registers sit below the first region
    for name in order:
        size, width, depth, words, stride, window, per_pe = sizes[name]
        base = -(-base // size) * size
        out[name] = Region(name, base, size, width, depth, words, stride, window, per_pe)
        base += size
    return out


def address_bits(arch: ArchConfig) -> int:
    """Width of the word address ``adr``."""
    end = max(r.base + r.size for r in regions(arch).values())
    return max(1, (end - 1).bit_length())


def fingerprint(arch: ArchConfig) -> int:
    """CRC-32 of the canonical JSON of the hardware-shaping fields: the ID register's value."""
    fields = {k: v for k, v in asdict(arch).items()
              if k not in _NOT_HARDWARE
              and not (k in TIMING_SWITCHES + PIPELINE_SWITCHES and v == 0)}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


def differences(a: ArchConfig, b: ArchConfig) -> str:
    """The hardware fields in which two configurations differ, e.g. ``pes 4 vs 8``."""
    left, right = asdict(a), asdict(b)
    changed = [f"{k} {left[k]} vs {right[k]}" for k in left
               if k not in _NOT_HARDWARE and left[k] != right[k]]
    return ", ".join(changed) or "none"


def check_compatible(program, arch: ArchConfig, where: str = "program",
                     target: str = "the gateware") -> None:
    """The one check that a program can run on ``arch``'s hardware: the same fingerprint (every
    hardware field equal), and its images within the memories. One error line otherwise."""
    if fingerprint(program.arch) != fingerprint(arch):
        raise ZeroskipError(f"{where} was compiled for architecture '{program.arch.name}', another "
                            f"configuration than {target} '{arch.name}' (fingerprints differ: "
                            f"{differences(program.arch, arch)})")
    program.check_fits()


def register_map(arch: ArchConfig) -> dict:
    """The whole map as JSON-ready data (written next to the Verilog)."""
    return {
        "bus": "wishbone-b4-classic", "data_bits": DATA_BITS, "address_bits": address_bits(arch),
        "addressing": "word", "id": fingerprint(arch),
        "registers": dict(REGISTERS),
        "status_bits": {"done": STATUS_DONE, "busy": STATUS_BUSY}, "ctrl_bits": {"start": CTRL_START},
        "regions": {name: asdict(r) for name, r in regions(arch).items()},
        "readable": list(READABLE),
        "address_formula": "base + pe * window + index * stride + word (word 0 = least significant)",
    }
