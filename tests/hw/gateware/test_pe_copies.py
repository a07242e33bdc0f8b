"""The PEs' own copies (``ArchConfig.pe_copies``, docs/timing.md "PE copies") on the whole array
under Amaranth's simulator: outputs == the reference's, and the cycle counter == the literal
timing equations (``handmade.timing_cycles``) == the cycle simulator, for sparse, binary and
conv programs, alone and with the other pipeline switches, loaded over the bus (a transfer two
cycles longer) and at elaboration. The switch costs a cycle per pass (the PEs' copies of the
sweep), and with the sweep overlap a pixel-pass restarts a cycle later."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_program
from zeroskip.hw import timing
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.gateware.top import Accelerator

from benches import run_program, simulate, tiny
from handmade import encode, random_layers
from switches import check, check_binary_passes, check_conv_program, counts_off_and_on, rungs_agree
from test_top import sparse_inputs


@pytest.mark.parametrize("relay", [0, 1])
def test_the_switch_costs_a_cycle_per_pass(relay):
    """Same program, copies off and on: each PE's ``free`` is registered (the control unit
    drains a cycle less for it) and the sweep is copied (a cycle more), so every input takes a
    cycle more per pass; each count matches its equations."""
    arch = tiny(pes=3, fifo_depth=2, acc_depth=2, act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64, registered_broadcast=relay, broadcast_relay=relay, entry_stage=relay)
    off, on, passes = counts_off_and_on("pe_copies", arch, [16, 12, 5], 5, 0.3, 0.5)
    assert passes > 2 and on == [cycles + passes for cycles in off]


@pytest.mark.parametrize("seed", range(4))
def test_random_sparse_programs(seed):
    rng = np.random.default_rng(900 + seed)
    arch = tiny(pes=int(rng.integers(1, 5)), fifo_depth=[1, 2, 3, 8][seed],
                acc_depth=int(rng.integers(2, 6)), act_depth=32, sparse_depth=128, ptr_depth=256,
                bias_depth=64, max_passes=32, pe_copies=1, broadcast_relay=int(seed < 3),
                registered_broadcast=int(seed < 2), bounds_lookahead=int(seed >= 1),
                padding_merge=seed % 2, group_feed=int(seed == 2), entry_stage=int(seed != 1))
    sizes = [int(v) for v in rng.integers(3, 24, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.05, 0.7))))
    inputs = sparse_inputs(rng, sizes[0], 2, density=float(rng.uniform(0.3, 1.0)))
    inputs.append(np.zeros(sizes[0], np.int64))
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


@pytest.mark.parametrize("switches,fifo", [({}, 2), ({"registered_broadcast": 1, "broadcast_relay": 1,
                                                       "bounds_lookahead": 1, "group_feed": 1,
                                                       "entry_stage": 1}, 1)])
def test_binary_passes(switches, fifo):
    check_binary_passes({"pe_copies": 1, **switches}, [30, 9, 5], 2, 3, fifo, seed=81 + fifo)


@pytest.mark.parametrize("switches", [
    {"registered_broadcast": 1, "broadcast_relay": 1, "group_feed": 1, "entry_stage": 1},
    {"bounds_lookahead": 1, "lane_passes": 1, "sweep_overlap": 1},
    {"sweep_overlap": 1, "entry_stage": 1}])
def test_conv_program(switches):
    check_conv_program({"pe_copies": 1, **switches})


def test_a_pixel_pass_restarts_a_cycle_later():
    """With the sweep overlap, a conv of many pixels and one output row per pass (so the
    restart, not the sweep, paces the pixel-passes): copies on take longer, and both counts
    match the simulator's."""
    arch = dataclasses.replace(PRESETS["small"], name="restart", pes=2, fifo_depth=2, act_depth=64,
                               acc_depth=1, sparse_depth=128, ptr_depth=256, bias_depth=64,
                               max_layers=4, max_passes=24, sweep_overlap=1)
    assert arch.pixel_restart == timing.PIXEL_RESTART
    assert dataclasses.replace(arch, pe_copies=1).pixel_restart == timing.PIXEL_RESTART + 1
    counts = []
    for copies in (0, 1):
        program, x = random_conv_program(dataclasses.replace(arch, pe_copies=copies), 4,
                                         density=0.5, batch=1, input_density=0.6, height=4,
                                         width=4, channels=2, convs=((2, 3, 1, 1),), pool=None,
                                         classes=2)
        counts.append(int(rungs_agree(program, x)[0]))
    assert counts[1] > counts[0]


def test_the_sweep_copies_follow_the_control_unit_a_cycle_later():
    """Each PE's sweep registers hold, cycle by cycle, what the control unit drove the cycle
    before (checked on a run of a program with several row tiles)."""
    arch = tiny(pes=2, fifo_depth=2, acc_depth=3, act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64, pe_copies=1)
    rng = np.random.default_rng(3)
    program = encode(arch, random_layers(rng, arch, [10, 8, 4], density=0.5))
    top = Accelerator(arch, program)
    seen = {"cycles": 0, "sweeping": 0, "differ": []}

    async def bench(ctx, host):
        await host.write_input(np.arange(1, 11))
        await host.start()
        run = top.control_unit.run
        before = None
        while not ctx.get(top.done):
            ours = (ctx.get(run.sweep), ctx.get(run.sweep_row), ctx.get(run.sweep_bias))
            for pe in top.pes:
                copy = (ctx.get(pe.sweep.sweep), ctx.get(pe.sweep.row), ctx.get(pe.sweep.bias))
                if before is not None and copy != before:
                    seen["differ"].append((seen["cycles"], pe.index, before, copy))
            before = ours
            seen["cycles"] += 1
            seen["sweeping"] += ours[0]
            await ctx.tick()

    simulate(top, bench)
    assert seen["sweeping"] == sum(p.rows for p in program.passes) > len(program.passes)
    assert seen["differ"] == []


@pytest.mark.parametrize("feed", [0, 1])
def test_the_next_pass_reads_the_last_row_swept(feed):
    """One output row per PE (R = 1), read by the next layer's first group at its first cycle
    (without the group feed at T, with it at T + 1): the PEs' last activation must be written
    before, though their sweep runs a cycle behind the control unit's (the tail waits for it)."""
    rng = np.random.default_rng(41 + feed)
    arch = tiny(pes=2, fifo_depth=2, acc_depth=4, act_depth=16, sparse_depth=64, ptr_depth=128,
                bias_depth=32, pe_copies=1, group_feed=feed)
    program = encode(arch, random_layers(rng, arch, [6, 2, 3], density=1.0))
    assert [p.rows for p in program.passes][:1] == [1]
    inputs = [rng.integers(1, 60, 6) for _ in range(3)]
    check(program, inputs, run_program(program, inputs))


def test_the_sweeps_pace_the_pixel_passes():
    """With the sweep overlap, a 1x1 conv of one input channel and eight output rows per PE:
    each pixel's sweep is longer than the next pixel's column phase, so a pixel-pass waits for
    the sweep of the file it takes, as the PEs' copies of the sweep show it (the control unit's
    own sweep ends a cycle earlier). Cycles as the simulator's, outputs as the reference's."""
    arch = dataclasses.replace(PRESETS["small"], name="paced", pes=2, fifo_depth=2, act_depth=128,
                               acc_depth=8, sparse_depth=128, ptr_depth=256, bias_depth=64,
                               max_layers=4, max_passes=24, sweep_overlap=1, pe_copies=1)
    program, x = random_conv_program(arch, 6, density=0.2, batch=1, input_density=1.0, height=3,
                                     width=3, channels=1, convs=((16, 1, 1, 0),), pool=None,
                                     classes=2)
    assert program.passes[0].rows == 8
    rungs_agree(program, x)
