"""The accelerator's architecture configuration: the one place every width and depth comes from.

``ArchConfig`` is frozen and validated once; the compiler, the simulator, the gateware and the
testbenches all derive their sizes from it (as TVM VTA's ``Environment`` does). Presets live in
``PRESETS``; a JSON file with the same field names (a preset name under ``"base"`` optional)
loads through ``load_arch``, and ``with_overrides`` applies CLI flags such as ``--pes``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass

from zeroskip.errors import ZeroskipError
from zeroskip.hw.timing import (COLUMN_END_STAGES, ENTRY_STAGES, GROUP_FEED_LATENCY, MAC_DRAIN,
                               MAC_OUTPUT_STAGES, MAC_WRITE_LATENCY, PIXEL_RESTART,
                               REQUANT_OUTPUT_STAGES, REQUANT_WRITE_LATENCY, SWEEP_COPY_STAGES)


#: fields that are positive integers (each also bounded by ``LIMITS``)
POSITIVE_FIELDS = ("pes", "fifo_depth", "code_bits", "run_bits", "line_bits", "sparse_depth",
                   "ptr_depth", "act_bits", "act_depth", "weight_bits", "acc_bits", "acc_depth",
                   "bias_depth", "max_layers", "max_passes")
#: largest depth of any one memory, in words (per PE): 2^20. Depths beyond this are no
#: accelerator one could build, and the gateware and the simulator allocate every word
MAX_DEPTH = 1 << 20
#: largest total of memory words in the array (all PEs together): 2^27 (eie64 with the
#: VGG-6 layer's 25,089 pointers per PE needs 77 M)
MAX_ARRAY_WORDS = 1 << 27
MAX_CLOCK_MHZ = 100_000.0
#: inclusive bounds of every integer field (docs/cli.md lists them)
LIMITS = {"pes": (1, 1024), "fifo_depth": (1, 64), "code_bits": (1, 12), "run_bits": (1, 8),
          "act_bits": (2, 32), "weight_bits": (2, 32), "line_bits": (8, 64), "acc_bits": (4, 64),
          "sparse_depth": (1, MAX_DEPTH), "ptr_depth": (2, MAX_DEPTH), "act_depth": (1, MAX_DEPTH),
          "acc_depth": (1, MAX_DEPTH), "bias_depth": (1, MAX_DEPTH), "max_layers": (1, 1024),
          "max_passes": (1, 1 << 16)}
#: the timing model's improvements over EIE (docs/timing.md "Improvements"): each is a switch,
#: 0 = off = EIE's behaviour (every preset but zs64, and every program made before them), 1 = on.
#: A switch that is off is left out of the configuration's fingerprint (hw/regmap.py), so the
#: arrays built before the switches existed keep their identity
TIMING_SWITCHES = ("bounds_lookahead", "padding_merge", "lane_passes", "sweep_overlap")
#: pipeline registers for the clock (docs/timing.md "Registered broadcast", docs/fpga.md): switches
#: like the improvements (0 = off, left out of the fingerprint), but each adds latency
PIPELINE_SWITCHES = ("registered_broadcast", "group_feed", "broadcast_relay", "entry_stage",
                     "pe_copies")
#: an architecture file is small; anything larger is not one
MAX_ARCH_FILE_BYTES = 1 << 20


def _bits_for(value: int) -> int:
    """Unsigned bits needed to hold 0..value."""
    return max(1, int(value).bit_length())


@dataclass(frozen=True)
class ArchConfig:
    """Parameters of an EIE-like array of processing elements (PEs).

    Memory sizes are per PE. Widths are in bits. Depths count words of the memory's own width.
    """

    name: str = "custom"
    pes: int = 4                 #: processing elements; row i and activation i live in PE i mod pes
    fifo_depth: int = 8          #: activation queue depth per PE (broadcast stalls when any is full)
    code_bits: int = 4           #: codebook index per sparse entry (code 0 is the constant 0.0)
    run_bits: int = 4            #: zero-run (relative row index) per sparse entry
    line_bits: int = 64          #: sparse-matrix SRAM line width
    sparse_depth: int = 1024     #: sparse-matrix SRAM lines per PE
    ptr_depth: int = 2048        #: column pointers per PE (split into even and odd banks)
    act_bits: int = 16           #: activation width (signed fixed point)
    act_depth: int = 256         #: activations per PE per register-file bank (two banks swap per layer)
    weight_bits: int = 16        #: codebook value width (signed fixed point)
    acc_bits: int = 32           #: accumulator width (two's complement, wraps)
    acc_depth: int = 64          #: accumulator rows per PE; taller layers run in row tiles
    bias_depth: int = 512        #: bias words (acc_bits wide) per PE, all layers together
    max_layers: int = 16         #: codebooks held on chip (one per layer)
    max_passes: int = 64         #: pass descriptors held on chip (a layer has one per row tile)
    clock_mhz: float = 800.0     #: used only to report time and power
    #: read a column's bounds when its item is pushed (a bounds stage before the queue): empty
    #: columns never reach the queue and a column's first entry issues at its pop (no bubble)
    bounds_lookahead: int = 0
    #: a padding entry (code 0) is issued together with the next entry of its column when that
    #: one is in the same sparse line: the padding costs no cycle
    padding_merge: int = 0
    #: the broadcast item is registered between the LNZD and the PEs' queues: an item pushed at
    #: b can be popped at b + 2, and a queue's room counts the item in flight (for the clock)
    registered_broadcast: int = 0
    #: the input groups are read ahead by a walker into a feed of registers (the banks' outputs
    #: registered, the LNZD reading flip-flops): every pass's group scan starts
    #: ``timing.GROUP_FEED_LATENCY`` cycles later (for the clock)
    group_feed: int = 0
    #: the broadcast crosses the die between registers at the broadcaster: the item is registered
    #: there on its way to the PEs (a cycle later into every queue), and the queues' room reaches
    #: the broadcaster registered, so it sees a pop a cycle late (for the clock)
    broadcast_relay: int = 0
    #: the MAC pipeline slices the entry out of its line in a stage of its own, registered before
    #: the row's sum and the codebook's read: every pass drains ``timing.ENTRY_STAGES`` cycle
    #: longer (for the clock)
    entry_stage: int = 0
    #: every PE registers its own copy of what one register drives across the array: the pass
    #: descriptor, the control unit's sweep (every pass drains a cycle longer), the host bus's
    #: load port (a bus transfer two cycles longer) and its own ``free`` into the column's end (the
    #: control unit sees a column phase end a cycle later: a sweep-overlap pixel-pass restarts
    #: a cycle later)
    pe_copies: int = 0
    #: conv passes whose every column has entries only in the PE of its activation's lane
    #: (depthwise convs, pools) push each non-zero lane of a group into its own PE's queue, the
    #: whole group in one cycle, instead of broadcasting one activation per cycle
    lane_passes: int = 0
    #: a conv pixel-pass's requantisation sweep runs while the next pixel-pass of the same
    #: descriptor scans its window: the pixel-passes' accumulators alternate between two files
    sweep_overlap: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or len(self.name) > 64:
            raise ZeroskipError(f"architecture field 'name' must be a string of 1..64 characters, "
                                f"got {self.name!r}")
        for name in POSITIVE_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ZeroskipError(f"architecture field '{name}' must be a positive integer, got {value!r}")
        clock = self.clock_mhz
        if isinstance(clock, bool) or not isinstance(clock, (int, float)) \
                or not math.isfinite(clock) or not 0 < clock <= MAX_CLOCK_MHZ:
            raise ZeroskipError(f"architecture field 'clock_mhz' must be a finite number in "
                                f"(0, {MAX_CLOCK_MHZ:g}], got {clock!r}")
        for name in TIMING_SWITCHES + PIPELINE_SWITCHES:
            value = getattr(self, name)
            if isinstance(value, bool) or value not in (0, 1) or not isinstance(value, int):
                raise ZeroskipError(f"architecture field '{name}' is a switch: 0 (off) or 1 (on), "
                                    f"got {value!r}")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ZeroskipError(f"architecture field '{name}' must be in {low}..{high}, got {value}")
        if self.line_bits % self.entry_bits:
            raise ZeroskipError(
                f"architecture field 'line_bits' ({self.line_bits}) must be a multiple of the entry width "
                f"code_bits + run_bits = {self.entry_bits}")
        if self.ptr_depth % 2:
            raise ZeroskipError(f"architecture field 'ptr_depth' must be even (two banks), got {self.ptr_depth}")
        if self.acc_bits < self.act_bits + self.weight_bits:
            raise ZeroskipError(
                f"architecture field 'acc_bits' ({self.acc_bits}) must hold a product: at least "
                f"act_bits + weight_bits = {self.act_bits + self.weight_bits}")
        if self.acc_depth > self.act_depth:
            raise ZeroskipError(
                f"architecture field 'acc_depth' ({self.acc_depth}) must not exceed act_depth ({self.act_depth})")
        words = self.pes * (self.sparse_depth + self.ptr_depth + 2 * self.act_depth + self.bias_depth)
        if words > MAX_ARRAY_WORDS:
            raise ZeroskipError(
                f"architecture memories too large: pes x (sparse_depth + ptr_depth + 2 act_depth + "
                f"bias_depth) = {words} words, the maximum is {MAX_ARRAY_WORDS} (2^27)")

    # -- derived sizes: use these, never recompute them elsewhere --------------------------------
    @property
    def entry_bits(self) -> int:
        """One sparse entry: code then zero run, LSB first."""
        return self.code_bits + self.run_bits

    @property
    def entries_per_line(self) -> int:
        return self.line_bits // self.entry_bits

    @property
    def sparse_entries(self) -> int:
        """Sparse entries one PE holds."""
        return self.sparse_depth * self.entries_per_line

    @property
    def codebook_size(self) -> int:
        return 1 << self.code_bits

    @property
    def max_run(self) -> int:
        """Largest zero run one entry can express; longer gaps need a padding entry (code 0)."""
        return (1 << self.run_bits) - 1

    @property
    def ptr_bits(self) -> int:
        """A pointer holds an entry index 0..sparse_entries inclusive."""
        return _bits_for(self.sparse_entries)

    @property
    def ptr_bank_depth(self) -> int:
        return self.ptr_depth // 2

    @property
    def act_index_bits(self) -> int:
        """Global activation index (up to act_depth * pes)."""
        return _bits_for(self.act_depth * self.pes - 1)

    @property
    def max_vector(self) -> int:
        """Longest activation vector (input or output) the array holds."""
        return self.act_depth * self.pes

    @property
    def scan_delay(self) -> int:
        """Cycles every pass's group scan starts later than EIE's (``group_feed``)."""
        return GROUP_FEED_LATENCY if self.group_feed else 0

    @property
    def mac_drain(self) -> int:
        """Cycles from a pass's column phase end to its sweep's first read (``MAC_DRAIN``, and
        ``entry_stage``'s and ``pe_copies``' cycles)."""
        return MAC_DRAIN + ENTRY_STAGES * self.entry_stage + SWEEP_COPY_STAGES * self.pe_copies

    @property
    def mac_write_latency(self) -> int:
        """Cycles from an entry's issue to its accumulator write (the gateware's MAC pipeline)."""
        return MAC_WRITE_LATENCY + ENTRY_STAGES * self.entry_stage + MAC_OUTPUT_STAGES * self.pe_copies

    @property
    def requant_write_latency(self) -> int:
        """Cycles from a sweep row's read to its activation write (the gateware's sweep)."""
        return REQUANT_WRITE_LATENCY + REQUANT_OUTPUT_STAGES * self.group_feed

    @property
    def first_group_read(self) -> int:
        """Cycles from a pass's first cycle T to its first read of an activation bank: the
        walker's first token is read at T + 1 (``group_feed``), the scan's first group at T."""
        return 1 if self.group_feed else 0

    @property
    def pixel_restart(self) -> int:
        """Cycles from a conv pixel-pass's column phase end to the next pixel-pass's first
        (``sweep_overlap``; ``PIXEL_RESTART``, and ``pe_copies``' cycle)."""
        return PIXEL_RESTART + COLUMN_END_STAGES * self.pe_copies

    @property
    def cycle_ns(self) -> float:
        return 1000.0 / self.clock_mhz

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, ArchConfig] = {
    # EIE as published: 64 PEs, queue 8, 4-bit codes and runs, 64-bit lines (8 entries),
    # 128 KB sparse SRAM (16384 lines), 32 KB pointer SRAM (16384 pointers), 2 KB activation
    # SRAM (1024 x 16 bit), 16-bit fixed point, 800 MHz. The accumulator file holds 64 rows per
    # PE like EIE's destination register file, at 32 bits so sums do not overflow.
    "eie64": ArchConfig(name="eie64", pes=64, fifo_depth=8, code_bits=4, run_bits=4, line_bits=64,
                        sparse_depth=16384, ptr_depth=16384, act_bits=16, act_depth=1024,
                        weight_bits=16, acc_bits=32, acc_depth=64, bias_depth=1024,
                        max_layers=16, max_passes=64, clock_mhz=800.0),
    # a few PEs and small memories: fast RTL simulation, and MNIST-sized networks (tiled)
    "small": ArchConfig(name="small", pes=4, fifo_depth=8, code_bits=4, run_bits=4, line_bits=64,
                        sparse_depth=1024, ptr_depth=2048, act_bits=16, act_depth=256,
                        weight_bits=16, acc_bits=32, acc_depth=64, bias_depth=512,
                        max_layers=8, max_passes=32, clock_mhz=100.0),
}
# zeroskip's answer to EIE on its own benchmark (issue 14): eie64's memories, PE count, clock
# and 4-bit codes, with every improvement of the timing model switched on and queues of 16
# (measured in docs/eie-benchmark.md: they pay once the PEs no longer idle on empty columns)
PRESETS["zs64"] = dataclasses.replace(PRESETS["eie64"], name="zs64", fifo_depth=16,
                                      bounds_lookahead=1, padding_merge=1, lane_passes=1,
                                      sweep_overlap=1)

FIELDS = {f.name: f for f in dataclasses.fields(ArchConfig)}


def from_dict(values: dict, where: str = "architecture") -> ArchConfig:
    """Build a config from a dict; unknown fields are an error naming them."""
    if not isinstance(values, dict):
        raise ZeroskipError(f"{where}: an architecture is a JSON object of fields, got "
                            f"{type(values).__name__}")
    values = dict(values)
    base = values.pop("base", None)
    unknown = sorted(str(k) for k in set(values) - set(FIELDS))
    if unknown:
        raise ZeroskipError(f"{where}: unknown architecture field '{unknown[0]}'")
    if base is not None and (not isinstance(base, str) or base not in PRESETS):
        raise ZeroskipError(f"{where}: unknown base preset {base!r} (known: {', '.join(PRESETS)})")
    start = PRESETS[base] if base is not None else ArchConfig()
    try:
        return dataclasses.replace(start, **values)
    except ZeroskipError as error:
        message = str(error)
        raise ZeroskipError(message if message.startswith(where) else f"{where}: {message}") from None


def load_arch(spec: str | ArchConfig) -> ArchConfig:
    """A preset name, a JSON file path, or a config already made."""
    if isinstance(spec, ArchConfig):
        return spec
    if spec in PRESETS:
        return PRESETS[spec]
    if os.path.exists(spec):
        if not os.path.isfile(spec):
            raise ZeroskipError(f"{spec}: not a regular file (an architecture is a JSON file)")
        try:
            with open(spec, "rb") as f:
                raw = f.read(MAX_ARCH_FILE_BYTES + 1)
        except OSError as error:
            raise ZeroskipError(f"{spec}: cannot read ({error.strerror})") from None
        if len(raw) > MAX_ARCH_FILE_BYTES:
            raise ZeroskipError(f"{spec}: larger than {MAX_ARCH_FILE_BYTES} bytes, not an "
                                "architecture file")
        try:
            values = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ZeroskipError(f"{spec}: not UTF-8 text (an architecture is a JSON file)") from None
        except (json.JSONDecodeError, RecursionError) as error:
            raise ZeroskipError(f"{spec}: not a readable JSON architecture file "
                                f"({_first_line(error)})") from None
        if not isinstance(values, dict):
            raise ZeroskipError(f"{spec}: an architecture file holds a JSON object")
        return from_dict(values, where=spec)
    raise ZeroskipError(f"unknown architecture '{spec}' (a preset: {', '.join(PRESETS)}; or a JSON file)")


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def with_overrides(arch: ArchConfig, **overrides) -> ArchConfig:
    """Apply CLI overrides (None means: keep)."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ZeroskipError(f"unknown architecture field '{unknown[0]}'")
    flags = {name: flag for flag, name in CLI_OVERRIDES.items()}
    try:
        return dataclasses.replace(arch, **changes) if changes else arch
    except ZeroskipError as error:
        named = [flags[k] for k in changes if f"'{k}'" in str(error) and k in flags]
        raise ZeroskipError(f"{named[0]}: {error}" if named else str(error)) from None


#: CLI flag -> field, shared by every command that takes an architecture
CLI_OVERRIDES = {
    "--pes": "pes", "--fifo": "fifo_depth", "--code-bits": "code_bits", "--run-bits": "run_bits",
    "--line-bits": "line_bits", "--sparse-depth": "sparse_depth", "--ptr-depth": "ptr_depth",
    "--act-depth": "act_depth", "--acc-depth": "acc_depth", "--bias-depth": "bias_depth",
    "--weight-bits": "weight_bits", "--clock-mhz": "clock_mhz",
    "--bounds-lookahead": "bounds_lookahead", "--padding-merge": "padding_merge",
    "--registered-broadcast": "registered_broadcast", "--group-feed": "group_feed",
    "--broadcast-relay": "broadcast_relay", "--entry-stage": "entry_stage",
    "--pe-copies": "pe_copies",
    "--lane-passes": "lane_passes",
    "--sweep-overlap": "sweep_overlap",
}


def add_arch_arguments(parser, default: str | None = "small") -> None:
    """``--arch NAME|FILE`` plus one flag per overridable field."""
    parser.add_argument("--arch", default=default, help=f"preset ({', '.join(PRESETS)}) or JSON file")
    for flag, name in CLI_OVERRIDES.items():
        kind = float if name == "clock_mhz" else int
        parser.add_argument(flag, dest=f"arch_{name}", type=kind, default=None,
                            metavar="MHZ" if kind is float else "N", help=f"override {name}")


def arch_from_args(args) -> ArchConfig:
    arch = load_arch(args.arch)
    return with_overrides(arch, **{name: getattr(args, f"arch_{name}", None)
                                   for name in CLI_OVERRIDES.values()})
