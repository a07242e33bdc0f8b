"""Lane passes (``ArchConfig.lane_passes``, docs/timing.md "Lane passes") on the whole array
under Amaranth's simulator: depthwise convs and pools push each non-zero lane of a group into
its own PE's queue. Outputs == the reference's and the cycle counter == the cycle simulator's,
alone and with each other switch; a program that breaks the lane rule is refused."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_program
from zeroskip.compiler.graph import random_graph_program
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.kinds import DecodedProgram

from switches import rungs_agree


def arch(pes: int = 4, fifo: int = 2, **switches):
    return dataclasses.replace(PRESETS["small"], name="lanes", pes=pes, fifo_depth=fifo,
                               act_depth=256, acc_depth=4, sparse_depth=256, ptr_depth=512,
                               bias_depth=128, max_layers=8, max_passes=32, **switches)



def lane_layers(program):
    return sorted({p.layer for p in program.passes if p.lanes})


@pytest.mark.parametrize("kind,switches", [
    ("bottleneck", {"lane_passes": 1}),
    ("shuffle", {"lane_passes": 1, "registered_broadcast": 1}),
    ("shuffle2", {"lane_passes": 1, "bounds_lookahead": 1, "padding_merge": 1}),
])
def test_depthwise_graphs(kind, switches):
    """A MobileNetV2 bottleneck and ShuffleNet units: the depthwise layer runs as lane passes;
    one-deep queues on the registered broadcast make the every-queue-has-room rule bite."""
    fifo = 1 if "registered_broadcast" in switches else 2
    program, x, _ = random_graph_program(arch(fifo=fifo, **switches), 3, kind, batch=2)
    depthwise = [i for i, layer in enumerate(program.layers) if "depthwise" in layer.name]
    assert depthwise and set(depthwise) <= set(lane_layers(program))
    rungs_agree(program, x)


def test_pools_and_the_switch_changes_the_timing():
    """A conv, a max pool and an FC head: the pool (and only it) becomes a lane pass and the
    program takes fewer cycles, with the same outputs."""
    cycles = []
    for switch in (0, 1):
        program, x = random_conv_program(arch(pes=4, lane_passes=switch), 5, height=6, width=6,
                                         channels=3, convs=((8, 3, 1, 1),), pool=(2, 2),
                                         classes=3, batch=2, input_density=0.8)
        names = [program.layers[i].name for i in lane_layers(program)]
        assert names == (["pool"] if switch else [])
        cycles.append(rungs_agree(program, x))
    assert all(on < off for off, on in zip(*cycles))


def test_blocked_pools():
    """``block_pools`` on an array with lane passes: the blocked conv's four channel groups
    start at multiples of N, and the max over them is a lane pass."""
    program, x = random_conv_program(arch(pes=4, lane_passes=1), 7, height=6, width=6,
                                     channels=2, convs=((6, 3, 1, 1),), pool=(2, 2), classes=3,
                                     batch=2, block_pools=True)
    assert [program.layers[i].name for i in lane_layers(program)] == ["pool"]
    assert program.layers[0].out_channels == 4 * 8
    rungs_agree(program, x)


def test_one_pe_runs_every_conv_as_lane_passes():
    """With one PE every column is in lane 0's PE: a full 3x3 conv is a lane pass too."""
    program, x = random_conv_program(arch(pes=1, lane_passes=1), 6, height=4, width=4, channels=2,
                                     convs=((3, 3, 1, 1),), pool=None, classes=None, batch=2)
    assert lane_layers(program) == [0]
    rungs_agree(program, x)


def depthwise_program(switch: int = 1):
    """The bottleneck's program and the index of its depthwise layer's pass."""
    program, _, _ = random_graph_program(arch(lane_passes=switch), 3, "bottleneck", batch=2)
    return program, next(i for i, p in enumerate(program.passes)
                         if program.layers[p.layer].name == "depthwise")


def test_a_dense_conv_marked_as_lanes_is_refused():
    """A 1x1 conv's columns have entries in every PE: as a lane pass only the lane's PE would
    take each item and the others' entries would be skipped; the decoder names one."""
    program, _ = depthwise_program()
    conv = next(i for i, p in enumerate(program.passes)
                if program.layers[p.layer].name == "expand")
    program.passes[conv] = dataclasses.replace(program.passes[conv], lanes=1)
    with pytest.raises(ZeroskipError, match=rf"program pass {conv}: a lane pass, but column \d+ "
                                            r"has entries in PE \d+, not in its lane's PE \d+"):
        DecodedProgram(program)


def test_a_lane_pass_needs_the_switch():
    program, index = depthwise_program(switch=0)
    program.passes[index] = dataclasses.replace(program.passes[index], lanes=1)
    with pytest.raises(ZeroskipError, match="field 'lanes' = 1, but the architecture's "
                                            "descriptors have no such field"):
        program.descriptors
    with pytest.raises(ZeroskipError, match="the architecture has no lane passes"):
        DecodedProgram(program)


def test_a_fused_shortcut_listed_first_still_runs_as_lanes():
    """A stride-2 ShuffleNet unit whose graph lists the pooled shortcut before the branch (as the
    zoo's does): the layer computing both orders its members by where their inputs lie, so the
    depthwise conv's and the shortcut pool's rows both fall in their inputs' lanes."""
    from zeroskip.compiler.graph import compile_graph, example_graph
    from zeroskip.models.network import Graph

    rng = np.random.default_rng(4)
    graph = example_graph("shuffle2", rng, 6, 4, 8, classes=3)
    nodes = list(graph.nodes)
    shortcut = next(n for n in nodes if n.name == "shortcut")
    nodes.remove(shortcut)
    nodes.insert(next(i for i, n in enumerate(nodes) if n.name == "gconv1"), shortcut)
    x = rng.uniform(-1, 1, (2, 6 * 6 * 4))
    program = compile_graph(Graph("shuffle2-shortcut-first", nodes), arch(lane_passes=1),
                            calibration=x, input_shape=(6, 6, 4))
    fused = [program.layers[i].name for i in lane_layers(program)]
    assert "depthwise+shortcut" in fused
    rungs_agree(program, x)
