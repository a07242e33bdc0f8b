"""What a network costs per image: parameters and multiply-accumulates (MACs), the survey's
"Million Mult-Adds" and "Million Parameters" columns.

MACs count what a dense implementation multiplies: a convolution ``out_h·out_w·out_c·(in_c /
groups)·k·k``, a fully-connected layer ``in·out``; pools, joins (concat, add), shuffles, ReLUs
and reshapes count 0, and so do batch norms (folded into the conv before them for inference).
Shapes come from one forward pass of a zero image, so ``Network`` and ``Graph`` count alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import Conv2D, Dense, Join
from .network import Graph, Network


@dataclass(frozen=True)
class LayerCost:
    """One layer's cost per image: its name, kind, output shape, parameters and MACs."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


def params(net: Network) -> int:
    """Every trainable number of ``net``: the weights and biases of its conv and dense layers
    (and the scales and shifts of any batch norm not yet folded)."""
    return int(sum(value.size for layer in net.layers for value in layer.params.values()))


def _layer_macs(layer, output: np.ndarray) -> int:
    if isinstance(layer, Conv2D):
        # output positions x output channels x (in_channels / groups) x k x k
        return int(output[0].size * np.prod(layer.params["W"].shape[1:]))
    if isinstance(layer, Dense):
        return int(layer.params["W"].size)
    return 0


def layer_costs(net: Network, input_shape: tuple[int, ...] = (784,)) -> list[LayerCost]:
    """Per layer (per node of a ``Graph``), in order, the cost of one image of ``input_shape``
    (without the batch axis; the zoo's networks read 784-long rows)."""
    x = np.zeros((1, *input_shape), np.float32)
    costs = []

    def record(name, layer, y):
        size = int(sum(v.size for v in layer.params.values()))
        costs.append(LayerCost(name, layer.kind, tuple(y.shape[1:]), size, _layer_macs(layer, y)))

    if isinstance(net, Graph):
        values = {net.input_name: x}
        for node in net.nodes:
            xs = [values[i] for i in node.inputs]
            y = node.layer.forward(xs if isinstance(node.layer, Join) else xs[0], False)
            values[node.name] = y
            record(node.name, node.layer, y)
        return costs
    for index, layer in enumerate(net.layers):
        x = layer.forward(x, False)
        record(f"{index}:{layer.kind}", layer, x)
    return costs


def macs(net: Network, input_shape: tuple[int, ...] = (784,)) -> int:
    """Multiply-accumulates per image of ``input_shape`` (the dense count: zeros included)."""
    return sum(cost.macs for cost in layer_costs(net, input_shape))
