"""One PE on hand-made columns: queue timing, even/odd pointer banks, the MAC bypass for
back-to-back entries to one accumulator row, and the requantisation sweep."""

import dataclasses

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from zeroskip.hw import timing
from zeroskip.hw.fixedpoint import signed_range
from zeroskip.hw.gateware.pe import ProcessingElement, carry_save_sum
from zeroskip.hw.program import descriptor_values, memory_images, pass_columns
from zeroskip.hw.reference import predict_int

from benches import tiny
from handmade import encode

ARCH = tiny(pes=1, acc_depth=8, act_depth=16)


def one_pe(arch, codes, codebook=None, bias=None, shift=0, relu=False):
    codes = np.asarray(codes)
    layer = {"codes": codes, "codebook": np.arange(arch.codebook_size) * 3 - 7 if codebook is None else codebook,
             "bias": np.zeros(codes.shape[0], np.int64) if bias is None else bias,
             "shift": shift, "relu": relu}
    layer["codebook"][0] = 0
    program = encode(arch, [layer])
    return ProcessingElement(arch, 0, memory_images(program)), program


def run_pe(pe, program, pass_index, x, push_when_ready=True, gap=0):
    """Push x's non-zeros as fast as the queue takes them (plus ``gap`` idle cycles between
    pushes), sweep, read the destination bank. Returns (push cycles, pop cycles, free cycle,
    ready trace, outputs)."""
    p = program.passes[pass_index]
    items = [(int(x[j]), j) for j in range(p.in_len) if x[j] != 0]
    log = {"push": [], "pop": [], "ready": [], "free": None, "out": []}
    sim = Simulator(pe)
    sim.add_clock(1e-8)

    async def bench(ctx):
        ctx.set(pe.run.desc, descriptor_values(p, program.arch))
        ctx.set(pe.run.busy, 1)
        pending, wait, cycle = list(items), 0, 0
        while pending or not ctx.get(pe.free):
            ready = ctx.get(pe.ready)      # the registered room, the half the last push picks
            log["ready"].append(ready)
            push = bool(pending) and ready and wait == 0
            if push:
                value, index = pending.pop(0)
                ctx.set(pe.items.payload.sparse, {"value": value, "index": index})
                log["push"].append(cycle)
                wait = gap
            else:
                wait = max(0, wait - 1)
            ctx.set(pe.items.valid, push)
            if ctx.get(pe.queue.r_en) and ctx.get(pe.queue.r_rdy):
                log["pop"].append(cycle)
            await ctx.tick()
            cycle += 1
            assert cycle < 500
        ctx.set(pe.items.valid, 0)
        log["free"] = cycle
        for _ in range(program.arch.mac_drain):              # the sweep reads at C + mac_drain
            await ctx.tick()
        for row in range(p.rows):
            ctx.set(pe.run.sweep, 1)
            ctx.set(pe.run.sweep_row, row)
            ctx.set(pe.run.sweep_bias, p.bias_base + row)
            await ctx.tick()
        ctx.set(pe.run.sweep, 0)
        for _ in range(timing.REQUANT_TAIL):                 # the last activation's write
            await ctx.tick()
        ctx.set(pe.run.busy, 0)
        # the banks return to the bus a cycle after the array stops (the PE registers ``busy``),
        # as the top's registered load ports reach them at the earliest
        await ctx.tick()
        for row in range(p.rows):
            ctx.set(pe.load.re, 1)
            ctx.set(pe.load.bank, 1 - p.layer % 2)
            ctx.set(pe.load.addr, p.row_base + row)
            await ctx.tick()
            log["out"].append(ctx.get(pe.load.rdata))
        ctx.set(pe.load.re, 0)
        log["acc"] = [ctx.get(pe.memories["acc"].data[r]) for r in range(p.rows)]

    sim.add_testbench(bench)
    sim.run()
    return log


def expected_pops(program, pass_index, x, pushes):
    """s_k = max(b_k + 1, s_{k-1} + w_{k-1}) and F = s_{K-1} + w_{K-1} (docs/timing.md)."""
    start, end = pass_columns(program, pass_index, 0)
    width = np.maximum(end - start, 1)
    columns = [j for j in range(len(start)) if x[j] != 0]
    s = []
    for k, b in enumerate(pushes):
        s.append(b + 1 if k == 0 else max(b + 1, s[-1] + width[columns[k - 1]]))
    return s, s[-1] + width[columns[-1]]


def signed16(values):
    return [v - (1 << 16) if v >> 15 else v for v in values]


def check(pe, program, x, pass_index=0, **kwargs):
    log = run_pe(pe, program, pass_index, x, **kwargs)
    s, free = expected_pops(program, pass_index, x, log["push"])
    assert log["pop"] == s
    assert log["free"] == free
    p = program.passes[pass_index]
    reference = predict_int(program, np.asarray(x)[None])[0]
    np.testing.assert_array_equal(signed16(log["out"]), reference[p.row_base:p.row_base + p.rows])
    assert log["acc"] == [0] * p.rows                       # the sweep clears the accumulators
    return log


def test_hand_made_columns():
    rng = np.random.default_rng(0)
    codes = rng.integers(1, 16, size=(8, 10)) * (rng.random((8, 10)) < 0.45)
    codes[:, 3] = 0                                           # an empty column
    pe, program = one_pe(ARCH, codes, bias=rng.integers(-500, 500, 8), shift=2, relu=True)
    x = rng.integers(-40, 40, size=10)
    check(pe, program, x)


def test_queue_pushed_at_b_poppable_at_b_plus_1_and_full_stalls():
    arch = dataclasses.replace(ARCH, fifo_depth=2)
    codes = np.ones((4, 6), np.int64)                         # 4 entries per column: slow PE
    pe, program = one_pe(arch, codes)
    x = np.arange(1, 7)
    log = check(pe, program, x)
    assert log["pop"][0] == log["push"][0] + 1
    # full: the third push waits until one cycle after the first pop
    assert log["push"][2] == log["pop"][0] + 1
    assert 0 in log["ready"]


def test_pointer_banks_even_and_odd_bases():
    """A two-tile layer: pass 0 has ptr_base 0, pass 1 an odd ptr_base (in_len + 1 = 5)."""
    arch = dataclasses.replace(ARCH, acc_depth=4)
    rng = np.random.default_rng(1)
    codes = rng.integers(1, 16, size=(7, 4)) * (rng.random((7, 4)) < 0.7)
    pe, program = one_pe(arch, codes)
    assert [p.ptr_base % 2 for p in program.passes] == [0, 1]
    x = np.array([5, -3, 7, 2])
    check(pe, program, x, pass_index=0)
    pe, program = one_pe(arch, codes)
    check(pe, program, x, pass_index=1)


@pytest.mark.parametrize("entry_stage", [0, 1])
def test_mac_bypass_back_to_back_same_row(entry_stage):
    """Single-entry columns all hitting row 0 issue in consecutive cycles (read-after-write
    through the transparent port), and two cycles apart around an empty column; with the entry
    stage too (every stage after it a cycle later, the forwarding's distances the same)."""
    codes = np.zeros((3, 8), np.int64)
    codes[0, :] = [1, 2, 3, 4, 0, 5, 6, 7]
    codes[2, 5:] = 9
    pe, program = one_pe(dataclasses.replace(ARCH, entry_stage=entry_stage), codes)
    x = np.array([3, -4, 5, 6, 9, 7, -8, 2])
    log = check(pe, program, x)
    assert list(np.diff(log["pop"]))[:5] == [1] * 5            # no bubble for the hazard


def test_slow_pushes_leave_the_pe_idle_between_columns():
    codes = np.ones((2, 5), np.int64)
    pe, program = one_pe(ARCH, codes)
    check(pe, program, np.array([1, 2, 3, 4, 5]), gap=3)


@pytest.mark.parametrize("entry_stage,group_feed,pe_copies", [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 1)])
def test_pipeline_latencies_are_the_timing_constants(entry_stage, group_feed, pe_copies):
    """An entry issued at t writes its accumulator at t + MAC_WRITE_LATENCY (a cycle later with
    ``entry_stage``, another with ``pe_copies``), a sweep row read at X writes its activation at
    X + REQUANT_WRITE_LATENCY (a cycle later with ``group_feed``; docs/timing.md): the depths
    the control unit checks against the drain and REQUANT_TAIL. (With ``pe_copies`` the PE reads
    the sweep a cycle after the control unit, from its own copy.)"""
    codes = np.zeros((2, 1), np.int64)
    codes[0, 0] = 5                                       # one entry, row 0
    arch = dataclasses.replace(ARCH, entry_stage=entry_stage, group_feed=group_feed, pe_copies=pe_copies)
    pe, program = one_pe(arch, codes, bias=np.array([3, 0]))
    p = program.passes[0]
    acc, bank = pe.memories, 1 - p.layer % 2
    seen = {}

    async def bench(ctx):
        ctx.set(pe.run.desc, descriptor_values(p, program.arch))
        if pe_copies:
            values = descriptor_values(p, program.arch)
            ctx.set(pe.desc_ahead, {name: values[name] for name in pe.desc_ahead.shape().members})
            await ctx.tick().repeat(2)                    # into the PE's copies
        ctx.set(pe.run.busy, 1)
        ctx.set(pe.items.payload.sparse, {"value": 2, "index": 0})
        ctx.set(pe.items.valid, 1)
        await ctx.tick()
        ctx.set(pe.items.valid, 0)
        for cycle in range(1, 20):
            if ctx.get(pe.queue.r_en) and ctx.get(pe.queue.r_rdy):
                seen["pop"] = cycle
            if "write" not in seen and ctx.get(acc["acc"].data[0]) != 0:
                seen["write"] = cycle - 1                 # written in the cycle before it shows
            await ctx.tick()
        ctx.set(pe.run.sweep, 1)
        ctx.set(pe.run.sweep_row, 0)
        ctx.set(pe.run.sweep_bias, p.bias_base)
        seen["sweep"] = 20
        for cycle in range(20, 30):
            if "activation" not in seen and ctx.get(acc[f"act{bank}"].data[p.row_base]) != 0:
                seen["activation"] = cycle - 1
            await ctx.tick()
            ctx.set(pe.run.sweep, 0)

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    issue = seen["pop"] + 1                               # the bounds arrive, the entry issues
    mac = (timing.MAC_WRITE_LATENCY + timing.ENTRY_STAGES * entry_stage
           + timing.MAC_OUTPUT_STAGES * pe_copies)
    assert seen["write"] == issue + mac
    assert arch.mac_write_latency == mac
    latency = timing.REQUANT_WRITE_LATENCY + timing.REQUANT_OUTPUT_STAGES * group_feed
    assert seen["activation"] == seen["sweep"] + timing.SWEEP_COPY_STAGES * pe_copies + latency
    assert arch.requant_write_latency == latency


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shift", [0, 1, 5, 15, 16, 17, 30, 33, 40])
def test_requantisation_rounds_saturates_and_rectifies_at_every_shift(shift, relu):
    """The sweep's last stages (saturation decided beside the sum, against bounds made from
    the shift) against the reference, with biases on either side of each saturation bound
    ((high + 1)·2^s − half and low·2^s − half), at the rounding's ties and in between; shifts
    past the sum's width (every result 0) included."""
    rng = np.random.default_rng(shift)
    codes = rng.integers(1, 16, size=(8, 4))
    codes[:, 1] = 0
    x = np.array([2, 0, -3, 1])
    low, high = signed_range(ARCH.act_bits)
    half = (1 << shift) >> 1
    codebook = np.arange(ARCH.codebook_size) * 3 - 7
    codebook[0] = 0
    acc = codebook[codes] @ x
    targets = [((high + 1) << shift) - half, ((high + 1) << shift) - half - 1,
               (low << shift) - half, (low << shift) - half - 1,
               half, -half, 0, int(rng.integers(-(1 << 40), 1 << 40))]
    bias_low, bias_high = -(1 << 31), (1 << 31) - 1
    bias = np.clip(np.array(targets) - acc, bias_low, bias_high)
    pe, program = one_pe(ARCH, codes, codebook=codebook, bias=bias, shift=shift, relu=relu)
    check(pe, program, x)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_carry_save_sum_is_the_sum_modulo_the_width(count):
    """``carry_save_sum`` (the binary term's adder) against Python's sum, modulo 2^width, on
    random operands and on all-ones ones (every carry)."""
    width = 9
    rng = np.random.default_rng(count)
    cases = [list(rng.integers(0, 1 << width, count)) for _ in range(40)] + [[(1 << width) - 1] * count]
    inputs = [Signal(width, name=f"x{k}") for k in range(count)]
    total = Signal(width)
    m = Module()
    m.d.comb += total.eq(carry_save_sum(inputs, width))
    seen = []

    async def bench(ctx):
        for values in cases:
            for signal, value in zip(inputs, values):
                ctx.set(signal, int(value))
            seen.append(ctx.get(total))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [sum(int(v) for v in values) % (1 << width) for values in cases]
