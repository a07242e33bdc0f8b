"""``cost.params`` / ``cost.macs``: per-image parameters and multiply-accumulates, against
numbers worked by hand (Caffe's LeNet-5, grouped and depthwise convs, a branching graph)."""

import numpy as np

from zeroskip.models import cost, zoo
from zeroskip.models.layers import (Add, AvgPool2D, BatchNorm, ChannelShuffle, Concat, Conv2D,
                                    Dense, Flatten, GlobalAvgPool, MaxPool2D, ReLU, Reshape)
from zeroskip.models.network import Graph, Network, Node


def test_lenet5_by_hand():
    net = zoo.build("lenet5", 0)
    # conv1 20@24x24 from 1x5x5, conv2 50@8x8 from 20x5x5, fc 800x500, fc 500x10
    conv1, conv2, fc1, fc2 = 20 * 24 * 24 * 25, 50 * 8 * 8 * 20 * 25, 800 * 500, 500 * 10
    assert conv1 == 288_000
    assert cost.macs(net) == conv1 + conv2 + fc1 + fc2 == 2_293_000
    assert cost.params(net) == (500 + 20) + (25_000 + 50) + (400_000 + 500) + (5_000 + 10)
    weighted = [c for c in cost.layer_costs(net) if c.macs]
    assert [c.macs for c in weighted] == [conv1, conv2, fc1, fc2]
    assert weighted[0].output_shape == (24, 24, 20)


def test_groups_stride_and_padding_divide_the_macs():
    rng = np.random.default_rng(0)
    net = Network("n", [Reshape((6, 6, 4)),
                        Conv2D(4, 8, 3, rng, pad=1, groups=2),          # 6x6x8, 2 inputs x 9 each
                        BatchNorm(8), ReLU(),
                        Conv2D(8, 8, 3, rng, stride=2, pad=1, groups=8),  # depthwise, 3x3x8
                        MaxPool2D(2, 1), GlobalAvgPool(), Flatten(), Dense(8, 3, rng)])
    assert cost.macs(net, (144,)) == 6 * 6 * 8 * 2 * 9 + 3 * 3 * 8 * 1 * 9 + 8 * 3
    # batch-norm scales and shifts count as parameters until folded
    assert cost.params(net) == (8 * 2 * 9 + 8) + 2 * 8 + (8 * 9 + 8) + (24 + 3)


def test_a_graph_counts_every_branch_and_nothing_for_joins():
    rng = np.random.default_rng(1)
    graph = Graph("g", [Node("image", Reshape((4, 4, 2)), ("input",)),
                        Node("a", Conv2D(2, 4, 1, rng), ("image",)),           # 4x4x4 x 2
                        Node("b", Conv2D(2, 4, 3, rng, pad=1), ("image",)),    # 4x4x4 x 18
                        Node("cat", Concat(), ("a", "b")),
                        Node("shuffle", ChannelShuffle(2), ("cat",)),
                        Node("c", Conv2D(8, 8, 1, rng, groups=4), ("shuffle",)),  # 4x4x8 x 2
                        Node("add", Add(), ("c", "shuffle")),
                        Node("pool", AvgPool2D(2, 2), ("add",)),
                        Node("flat", Flatten(), ("pool",)),
                        Node("fc", Dense(32, 10, rng), ("flat",))])
    assert cost.macs(graph, (32,)) == 16 * 4 * 2 + 16 * 4 * 18 + 16 * 8 * 2 + 32 * 10
    assert cost.params(graph) == (8 + 4) + (72 + 4) + (16 + 8) + (320 + 10)
    names = [c.name for c in cost.layer_costs(graph, (32,))]
    assert names == [node.name for node in graph.nodes]


def test_the_mobilenet_stem_and_its_standard_twin():
    """The survey's point, checked on our own zoo: a standard conv costs k·k·M·N per pixel, the
    separable pair k·k·M + M·N."""
    if "mobilenet" not in zoo.MODELS:
        return
    separable = cost.macs(zoo.build("mobilenet", 0))
    standard = cost.macs(zoo.build("mobilenet-standard", 0))
    assert standard > separable > 0


def test_the_zoo_widths_keep_the_survey_s_complexity_comparisons():
    """The zoo's widths (docs/seednets.md, "Widths"): MobileNet at least 5x below its twin's MACs,
    ShuffleNet at no more than MobileNet's, and ShuffleNet's scale rounded to whole groups."""
    mobilenet = cost.macs(zoo.build("mobilenet", 0))
    assert cost.macs(zoo.build("mobilenet-standard", 0)) >= 5 * mobilenet
    assert cost.macs(zoo.build("shufflenet", 0)) <= mobilenet
    assert cost.macs(zoo.shufflenet(0, scale=3.0)) > mobilenet      # 2.5 is the largest that fits
    stem = zoo.shufflenet(0, scale=2.5).nodes[1].layer
    assert stem.params["W"].shape[0] == 60 and 60 % (2 * 2) == 0
