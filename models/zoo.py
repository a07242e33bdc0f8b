"""The zoo: the Deep Compression paper's MNIST networks (LeNet-300-100, LeNet-5) and the
survey's small-network designs at MNIST scale (SqueezeNet, MobileNet and its standard-conv
twin, ShuffleNet; docs/seednets.md). Every entry reads [n, 784] rows of 28x28 images."""

from __future__ import annotations

import numpy as np

from .layers import (Add, AvgPool2D, BatchNorm, ChannelShuffle, Concat, Conv2D, Dense, Dropout,
                     Flatten, GlobalAvgPool, MaxPool2, MaxPool2D, ReLU, Reshape)
from .network import Graph, Network, Node

MODELS = ("lenet300", "lenet5", "squeezenet", "mobilenet", "mobilenet-standard", "shufflenet")


def lenet300(seed: int = 0, dropout: float = 0.0) -> Network:
    """LeNet-300-100: 784-300-100-10, ReLU between layers."""
    rng = np.random.default_rng(seed)
    drop = (lambda: [Dropout(dropout, rng)]) if dropout else (lambda: [])
    return Network("lenet300", [
        Dense(784, 300, rng), ReLU(), *drop(),
        Dense(300, 100, rng), ReLU(), *drop(),
        Dense(100, 10, rng),
    ])


def lenet5(seed: int = 0, dropout: float = 0.0) -> Network:
    """Caffe's LeNet-5: conv 20@5x5, pool, conv 50@5x5, pool, fc 500 + ReLU, fc 10."""
    rng = np.random.default_rng(seed)
    drop = [Dropout(dropout, rng)] if dropout else []
    return Network("lenet5", [
        Reshape((28, 28, 1)),
        Conv2D(1, 20, 5, rng, input_grad=False), MaxPool2(),
        Conv2D(20, 50, 5, rng), MaxPool2(),
        Flatten(),
        Dense(800, 500, rng), ReLU(), *drop,
        Dense(500, 10, rng),
    ])


class _GraphBuilder:
    """Appends named nodes; ``add`` returns the new node's name (the next node's input)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Node] = []

    def add(self, name: str, layer, *inputs: str) -> str:
        self.nodes.append(Node(name, layer, inputs))
        return name

    def conv(self, name: str, source: str, cin: int, cout: int, k: int, stride: int = 1,
             pad: int = 0, groups: int = 1, bn: bool = False, relu: bool = True,
             first: bool = False) -> str:
        """A conv node, then (``bn``) its batch norm, then (``relu``) a ReLU."""
        last = self.add(name, Conv2D(cin, cout, k, self.rng, input_grad=not first, stride=stride,
                                     pad=pad, groups=groups), source)
        if bn:
            last = self.add(f"{name}_bn", BatchNorm(cout), last)
        return self.add(f"{name}_relu", ReLU(), last) if relu else last


def squeezenet(seed: int = 0) -> Graph:
    """SqueezeNet at MNIST scale: a 3x3 conv, then Fire modules (squeeze 1x1 → expand 1x1 ‖
    expand 3x3, concatenated; s1x1 = e1x1 / 2 < e1x1 + e3x3) with the simple bypass around
    every second one, max pools after conv1 and fire3 only (late downsampling), and conv10
    (1x1 to the 10 classes) averaged over the map instead of an FC layer."""
    g = _GraphBuilder(seed)
    last = g.add("image", Reshape((28, 28, 1)), "input")
    last = g.conv("conv1", last, 1, 32, 3, first=True)                     # 26x26x32
    last = g.add("pool1", MaxPool2D(2, 2), last)                           # 13x13

    def fire(name, source, cin, squeeze, expand):
        s = g.conv(f"{name}_squeeze", source, cin, squeeze, 1)
        e1 = g.conv(f"{name}_expand1x1", s, squeeze, expand, 1)
        e3 = g.conv(f"{name}_expand3x3", s, squeeze, expand, 3, pad=1)
        return g.add(f"{name}_concat", Concat(), e1, e3)

    fire2 = fire("fire2", last, 32, 8, 16)
    fire3 = g.add("bypass3", Add(), fire("fire3", fire2, 32, 8, 16), fire2)
    last = g.add("pool3", MaxPool2D(2, 2), fire3)                          # 6x6
    fire4 = fire("fire4", last, 32, 16, 32)
    fire5 = g.add("bypass5", Add(), fire("fire5", fire4, 64, 16, 32), fire4)
    last = g.conv("conv10", fire5, 64, 10, 1, relu=False)
    last = g.add("gap", GlobalAvgPool(), last)
    g.add("flatten", Flatten(), last)
    return Graph("squeezenet", g.nodes)


#: MobileNet's depthwise-separable blocks at MNIST scale: (input channels, output channels,
#: stride) at width multiplier 1, after a 3x3 stride-2 stem of 16 channels (28 → 14 → 7 → 4)
MOBILENET_BLOCKS = ((16, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2))
#: the zoo's widths (docs/seednets.md, "Widths"): MobileNet at α = 2 (2.35 M MACs, about
#: LeNet-5's 2.29 M) and ShuffleNet at 2.5× (1.92 M, no more than MobileNet), chosen on the
#: validation split of development seeds 10 and 11
MOBILENET_ALPHA = 2.0
SHUFFLENET_SCALE = 2.5


def mobilenet(seed: int = 0, alpha: float = MOBILENET_ALPHA, standard: bool = False,
              stem_stride: int = 2, blocks=MOBILENET_BLOCKS) -> Network:
    """MobileNet at MNIST scale: a 3x3 stride-2 stem, then depthwise 3x3 + pointwise 1x1
    blocks, each conv followed by batch norm and ReLU, global average pooling and one FC layer.
    ``alpha`` scales every width; ``standard`` replaces each block by one standard 3x3 conv of
    the same input, output and stride (the MACs comparison of the MobileNet paper)."""
    rng = np.random.default_rng(seed)

    def width(c):
        return max(1, int(round(c * alpha)))

    def conv_bn_relu(cin, cout, k, stride=1, groups=1, first=False):
        return [Conv2D(cin, cout, k, rng, input_grad=not first, stride=stride, pad=k // 2,
                       groups=groups), BatchNorm(cout), ReLU()]

    layers = [Reshape((28, 28, 1)), *conv_bn_relu(1, width(16), 3, stem_stride, first=True)]
    for cin, cout, stride in blocks:
        cin, cout = width(cin), width(cout)
        if standard:
            layers += conv_bn_relu(cin, cout, 3, stride)
        else:
            layers += conv_bn_relu(cin, cin, 3, stride, groups=cin) + conv_bn_relu(cin, cout, 1)
    layers += [GlobalAvgPool(), Flatten(), Dense(width(128), 10, rng)]
    return Network("mobilenet-standard" if standard else "mobilenet", layers)


def shufflenet(seed: int = 0, groups: int = 2, scale: float = SHUFFLENET_SCALE) -> Graph:
    """ShuffleNet at MNIST scale: a 3x3 stride-2 stem, then two stages, each a stride-2 unit
    (3x3 average-pooled shortcut ‖ the branch, concatenated: channels double) and a stride-1
    unit (the branch added to its input). The branch: grouped 1x1 → BN → ReLU → channel
    shuffle → depthwise 3x3 → BN → grouped 1x1 → BN; a ReLU after the join. Global average
    pooling and one FC layer. ``scale`` multiplies every width (the paper's "ShuffleNet s×"):
    the stem has 24·s channels, rounded to a multiple of 2·groups."""
    g = _GraphBuilder(seed)
    stem = max(1, int(round(24 * scale / (2 * groups)))) * 2 * groups
    last = g.add("image", Reshape((28, 28, 1)), "input")
    last = g.conv("stem", last, 1, stem, 3, stride=2, pad=1, bn=True, first=True)  # 14x14

    def branch(name, source, cin, mid, cout, stride):
        b = g.conv(f"{name}_gconv1", source, cin, mid, 1, groups=groups, bn=True)
        b = g.add(f"{name}_shuffle", ChannelShuffle(groups), b)
        b = g.conv(f"{name}_depthwise", b, mid, mid, 3, stride=stride, pad=1, groups=mid,
                   bn=True, relu=False)
        return g.conv(f"{name}_gconv2", b, mid, cout, 1, groups=groups, bn=True, relu=False)

    def unit(name, source, cin, stride):
        if stride == 1:
            joined = g.add(f"{name}_add", Add(), branch(name, source, cin, cin // 2, cin, 1),
                           source)
        else:
            shortcut = g.add(f"{name}_shortcut", AvgPool2D(3, 2, 1, count_include_pad=True),
                             source)
            joined = g.add(f"{name}_concat", Concat(), shortcut,
                           branch(name, source, cin, cin, cin, 2))
        return g.add(f"{name}_relu", ReLU(), joined)

    last = unit("stage2a", last, stem, 2)        # 7x7, 2·stem channels
    last = unit("stage2b", last, 2 * stem, 1)
    last = unit("stage3a", last, 2 * stem, 2)    # 4x4, 4·stem channels
    last = unit("stage3b", last, 4 * stem, 1)
    last = g.add("gap", GlobalAvgPool(), last)
    last = g.add("flatten", Flatten(), last)
    g.add("fc", Dense(4 * stem, 10, g.rng), last)
    return Graph("shufflenet", g.nodes)


def build(name: str, seed: int = 0, dropout: float = 0.0) -> Network:
    """The zoo network ``name``, untrained; ``dropout`` applies to the LeNets' FC layers."""
    if name == "lenet300":
        return lenet300(seed, dropout)
    if name == "lenet5":
        return lenet5(seed, dropout)
    if name == "squeezenet":
        return squeezenet(seed)
    if name in ("mobilenet", "mobilenet-standard"):
        return mobilenet(seed, standard=name == "mobilenet-standard")
    if name == "shufflenet":
        return shufflenet(seed)
    raise ValueError(f"unknown model {name!r} (one of {', '.join(MODELS)})")
