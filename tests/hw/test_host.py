"""The host driver over the real bus: every image lands in its memory word for word (wide
entries split LSB first, the codebook in every PE), and user errors are refused."""

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.program import memory_images
from zeroskip.hw.gateware.top import Accelerator

from benches import simulate, tiny
from handmade import encode, random_layers


def test_load_program_writes_every_image():
    arch = tiny(pes=3)
    program = encode(arch, random_layers(np.random.default_rng(0), arch, [9, 8, 5], density=0.5))
    top = Accelerator(arch)
    contents = {}

    async def bench(ctx, host):
        await host.load_program(program)
        for p, pe in enumerate(top.pes):
            for name, memory in pe.memories.items():
                contents[f"{name}_pe{p}"] = [ctx.get(memory.data[i]) for i in range(memory.depth)]
        memory = top.control_unit.memory
        contents["descriptors"] = [ctx.get(memory.data[i]) for i in range(memory.depth)]

    simulate(top, bench)
    for name, (words, _) in memory_images(program).items():
        targets = [f"codebook_pe{p}" for p in range(arch.pes)] if name == "codebook" else [name]
        for target in targets:
            stored = contents[target]
            assert stored[:len(words)] == [int(w) for w in words], target
            assert not any(stored[len(words):]), target


def test_refuses_misuse():
    arch = tiny()
    program = encode(arch, random_layers(np.random.default_rng(1), arch, [4, 3]))
    errors = []

    async def bench(ctx, host):
        for call in (lambda: host.run(np.ones(4)),
                     lambda: host.load_program(encode(tiny(pes=4), random_layers(
                         np.random.default_rng(2), tiny(pes=4), [4, 3])))):
            try:
                await call()
            except ZeroskipError as error:
                errors.append(str(error))
        await host.load_program(program)
        try:
            await host.run(np.ones(5))
        except ZeroskipError as error:
            errors.append(str(error))

    simulate(Accelerator(arch), bench)
    assert len(errors) == 3
    assert "no program loaded" in errors[0]
    assert "compiled for architecture" in errors[1]
    assert "5 activations" in errors[2]


def test_polling_bounded_by_the_cycle_limit():
    """A bus whose status never says done: the driver gives up after limit / BUS_CYCLES polls
    (each read costs at least BUS_CYCLES cycles) with the limit in its message."""
    import asyncio

    import pytest

    from zeroskip.hw import regmap
    from zeroskip.hw.host import BUS_CYCLES, AcceleratorTimeout, Host, cycle_limit

    arch = tiny()
    program = encode(arch, random_layers(np.random.default_rng(2), arch, [6, 4]))
    polls = []

    async def read(addr):
        if addr == regmap.REG_STATUS:
            polls.append(addr)
        return regmap.fingerprint(arch) if addr == regmap.REG_ID else 0

    async def write(addr, data):
        pass

    host = Host(arch, read, write)

    async def run(max_cycles):
        await host.load_program(program)
        await host.run(np.zeros(program.in_len, dtype=np.int64), max_cycles=max_cycles)

    with pytest.raises(AcceleratorTimeout, match="^accelerator not done within 100 cycles$"):
        asyncio.run(run(100))
    assert len(polls) == 100 // BUS_CYCLES + 1
    polls.clear()
    with pytest.raises(AcceleratorTimeout) as error:
        asyncio.run(run(None))                        # default: the bound from the passes
    assert error.value.limit == cycle_limit(program)
    assert len(polls) == -(-error.value.limit // BUS_CYCLES) + 1
    assert cycle_limit(program, expected=500) == 2000
    assert 1000 < cycle_limit(program) < 10**6


def test_cycle_limit_covers_conv_programs():
    """The bound from the passes alone counts every pixel of a conv pass's window (a conv
    program runs far longer than its descriptors' in_len suggests)."""
    from regression import conv_regression_cases

    from zeroskip.hw.host import cycle_limit
    from zeroskip.sim.simulator import simulate_int

    for case in conv_regression_cases(24):
        cycles = simulate_int(case.program, case.inputs).cycles
        assert cycle_limit(case.program) > 2 * cycles.max(), case.note


def test_changed_only_writes_what_differs_and_leaves_the_same_memories():
    """Two parts of a program tiled over space share their weights: loading the second with
    ``changed_only`` writes its descriptors (and what else differs) and nothing else, and the
    memories then hold what a full load of it writes."""
    import asyncio

    from zeroskip.compiler.conv import random_conv_layers
    from zeroskip.compiler.spatial import compile_spatial
    from zeroskip.hw import regmap
    from zeroskip.hw.arch import load_arch, with_overrides
    from zeroskip.hw.host import Host

    arch = with_overrides(load_arch("small"), pes=4, act_depth=64, acc_depth=16)
    layers, x = random_conv_layers(arch, 3, height=14, width=13, channels=3,
                                   convs=((4, 3, 1, 1),), pool=(2, 2), classes=5)
    tiled = compile_spatial(layers, arch, calibration=x)
    first, second = list(tiled.programs.values())[:2]

    def bus():
        memory, writes = {}, []

        async def read(addr):
            return regmap.fingerprint(arch) if addr == regmap.REG_ID else memory.get(addr, 0)

        async def write(addr, data):
            memory[addr] = data
            writes.append(addr)
        return memory, writes, Host(arch, read, write)

    memory, writes, host = bus()
    asyncio.run(host.load_program(first))
    full = len(writes)
    writes.clear()
    asyncio.run(host.load_program(second, changed_only=True))
    descriptors = host.regions["descriptors"]
    words = {descriptors.address(i, 0, w) for i in range(len(second.passes))
             for w in range(descriptors.words)}
    assert set(writes) - {regmap.REG_PASSES, regmap.REG_LAYERS} <= words   # the weights stay
    assert 0 < len(writes) < full / 10
    alone, _, other = bus()
    asyncio.run(other.load_program(first))
    asyncio.run(other.load_program(second))
    assert memory == alone
