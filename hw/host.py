"""The host driver: loads a program into the accelerator over its bus and runs inputs.

Transport-agnostic (Glasgow drives gateware in simulation through the same interface as on
hardware): it takes two coroutines, ``read(addr) -> int`` and ``write(addr, data)``, on 32-bit
words at word addresses of ``zeroskip.hw.regmap``. The Amaranth testbenches adapt them to a
simulator context, the cocotb testbench to a DUT, a board to its bridge. No Amaranth import here.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw import regmap
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import (PROGRAM_GLOBAL_MEMORIES, PROGRAM_PE_MEMORIES, Program, image_name,
                                 memory_images, column_count, to_unsigned)

Read = Callable[[int], Awaitable[int]]
Write = Callable[[int, int], Awaitable[None]]

MASK32 = 0xFFFFFFFF

def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


#: clock cycles of one bus transfer at least (the accelerator's ``ack`` is registered)
BUS_CYCLES = 2


class AcceleratorTimeout(ZeroskipError):
    """The program did not finish within its cycle limit (the gateware hangs or is wrong)."""

    def __init__(self, limit: int):
        super().__init__(f"accelerator not done within {limit} cycles")
        self.limit = limit


def cycle_limit(program: Program | None, expected: int | None = None) -> int:
    """Clock cycles after which a run of ``program`` counts as hung: twice the ``expected``
    count plus 1,000 when the caller knows it (``zeroskip.sim.simulate_int``), else a generous
    bound from the passes alone — every activation of every plane (of every conv window), each
    costing a pop, its bounds and two entries per accumulator row (zero-run padding at most
    doubles them)."""
    if expected is not None:
        return 2 * int(expected) + 1000
    if program is None:
        return 1_000_000
    work = sum(max(1, p.out_height * p.out_width)            # a conv pass: per output pixel
               * (column_count(p.kind, p.in_len, p.kernel) * max(1, p.planes) * (2 * p.rows + 4)
                  + p.rows + 64) for p in program.passes)
    return 2 * work + 1000


class Host:
    """Drives one accelerator built for ``arch``."""

    def __init__(self, arch: ArchConfig, read: Read, write: Write):
        self.arch = arch
        self.read = read
        self.write = write
        self.regions = regmap.regions(arch)
        self.program: Program | None = None
        #: (memory, PE) → the words this host last wrote there (``load_program(changed_only)``)
        self.written: dict = {}

    async def check_id(self) -> None:
        """Refuse hardware built for another configuration than ``self.arch``."""
        found = await self.read(regmap.REG_ID)
        want = regmap.fingerprint(self.arch)
        if found != want:
            raise ZeroskipError(f"accelerator ID {found:#010x} does not match architecture "
                                f"'{self.arch.name}' ({want:#010x}): built for another configuration")

    def _check_program(self, program: Program) -> None:
        regmap.check_compatible(program, self.arch, target="the accelerator")

    async def write_entry(self, region: str, index: int, value: int, pe: int = 0) -> None:
        """One memory entry, least significant word first (the last word commits it)."""
        r = self.regions[region]
        for word in range(r.words):
            await self.write(r.address(index, pe, word), (int(value) >> (32 * word)) & MASK32)

    async def write_image(self, region: str, words, pe: int = 0) -> None:
        for index, value in enumerate(int(w) for w in words):   # descriptors exceed 64 bits
            await self.write_entry(region, index, value, pe)

    async def load_program(self, program: Program, write_images: bool = True,
                           changed_only: bool = False) -> None:
        """Check the ID and the fit, write every image (unless the memories were initialised
        at elaboration, ``write_images=False``; with ``changed_only``, only the images that
        differ from those this host wrote last: the parts of a program tiled over space share
        their weights), and the pass count."""
        self._check_program(program)
        await self.check_id()
        if write_images:
            images = memory_images(program)
            written = self.written if changed_only else {}
            for pe in range(self.arch.pes):
                for name in PROGRAM_PE_MEMORIES:
                    await self._write_changed(name, images[image_name(name, pe)][0], pe, written)
            for name in PROGRAM_GLOBAL_MEMORIES:
                await self._write_changed(name, images[image_name(name)][0], 0, written)
            self.written = written
        await self.write(regmap.REG_PASSES, len(program.passes))
        await self.write(regmap.REG_LAYERS, len(program.layers))
        self.program = program

    async def _write_changed(self, name: str, words, pe: int, written: dict) -> None:
        """One image, unless ``written`` records the same words already in that memory."""
        words = np.asarray(words)
        before = written.get((name, pe))
        if before is not None and before.shape == words.shape and np.array_equal(before, words):
            return
        await self.write_image(name, words, pe)
        written[(name, pe)] = words.copy()

    async def write_input(self, xq_row) -> None:
        """Integer input activations into bank 0: activation i to PE i mod N, address i div N."""
        a = self.arch
        xq = np.asarray(xq_row, dtype=np.int64).reshape(-1)
        words = to_unsigned(xq, a.act_bits).tolist()
        for i, word in enumerate(words):
            await self.write_entry("act0", i // a.pes, word, pe=i % a.pes)

    async def read_output(self, bank: int, length: int) -> np.ndarray:
        a = self.arch
        region = f"act{bank}"
        out = np.zeros(length, dtype=np.int64)
        for i in range(length):
            word = await self.read(self.regions[region].address(i // a.pes, i % a.pes))
            out[i] = _signed(word, a.act_bits)
        return out

    async def start(self) -> None:
        await self.write(regmap.REG_CTRL, regmap.CTRL_START)

    async def wait_done(self, max_cycles: int | None = None) -> int:
        """Poll until done; returns the cycle counter. A status read takes at least
        ``BUS_CYCLES`` clock cycles, so after ``max_cycles / BUS_CYCLES`` polls the program has
        run longer than ``max_cycles``: ``AcceleratorTimeout`` (default: ``cycle_limit``)."""
        limit = cycle_limit(self.program) if max_cycles is None else int(max_cycles)
        for _ in range(-(-limit // BUS_CYCLES) + 1):
            if await self.read(regmap.REG_STATUS) & regmap.STATUS_DONE:
                return await self.read(regmap.REG_CYCLES)
        raise AcceleratorTimeout(limit)

    async def run(self, xq_row, max_cycles: int | None = None) -> tuple[np.ndarray, int]:
        """One input vector → (integer outputs in array order, cycles); ``AcceleratorTimeout``
        if the program has not finished within ``max_cycles`` (default: ``cycle_limit``)."""
        program = self.program
        if program is None:
            raise ZeroskipError("no program loaded: call load_program first")
        xq = np.asarray(xq_row, dtype=np.int64).reshape(-1)
        if xq.shape[0] != program.in_len:
            raise ZeroskipError(f"input has {xq.shape[0]} activations, the program takes {program.in_len}")
        await self.write_input(xq)
        await self.start()
        cycles = await self.wait_done(max_cycles)
        outputs = await self.read_output(len(program.layers) % 2, program.out_len)
        return outputs, cycles
