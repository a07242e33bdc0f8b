"""Networks: ``Network``, a sequential list of layers, and ``Graph``, a DAG of named nodes (branches
that a ``Concat`` or an ``Add`` joins), each with a loss and evaluation helpers."""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from .layers import (BatchNorm, Conv2D, Dense, Join, Layer, build_layer,
                     softmax_cross_entropy)

WEIGHTED = (Dense, Conv2D)


class Network:
    """Layers applied in order; ``name`` identifies the architecture (``lenet300``, ``lenet5``)."""

    def __init__(self, name: str, layers: list[Layer]):
        self.name = name
        self.layers = list(layers)

    def weighted(self) -> list[Dense | Conv2D]:
        """The layers that carry weights, in order: what pruning and sharing act on."""
        return [layer for layer in self.layers if isinstance(layer, WEIGHTED)]

    def layer_names(self) -> list[str]:
        """Paper-style names: ``conv1, conv2, ..., fc1, fc2, ...``."""
        names, counts = [], {"conv": 0, "fc": 0}
        for layer in self.weighted():
            prefix = "conv" if isinstance(layer, Conv2D) else "fc"
            counts[prefix] += 1
            names.append(f"{prefix}{counts[prefix]}")
        return names

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dy: np.ndarray) -> None:
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if dy is None:  # a first layer that needs no input gradient
                break

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, training: bool = True) -> float:
        """Forward, cross-entropy, backward: fills every weighted layer's ``grads``."""
        loss, dlogits = softmax_cross_entropy(self.forward(x, training), y)
        self.backward(dlogits)
        return loss

    def logits(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)])

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.logits(x).argmax(axis=1) == y))

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        return softmax_cross_entropy(self.logits(x), y)[0]

    def get_weights(self) -> list[dict[str, np.ndarray]]:
        return [{k: v.copy() for k, v in layer.params.items()} for layer in self.weighted()]

    def set_weights(self, weights: list[dict[str, np.ndarray]]) -> None:
        for layer, params in zip(self.weighted(), weights, strict=True):
            for key, value in params.items():
                layer.params[key][...] = value

    def spec(self) -> dict:
        return {"name": self.name, "layers": [layer.spec() for layer in self.layers]}

    @classmethod
    def from_spec(cls, spec: dict) -> "Network":
        """The network a ``spec()`` describes: a ``Graph`` when it names its output."""
        if "output" in spec:
            return Graph.from_spec(spec)
        return cls(spec["name"], [build_layer(s) for s in spec["layers"]])


@dataclass
class Node:
    """One node of a ``Graph``: ``layer`` applied to the activations ``inputs`` names (the
    graph's input or earlier nodes); a ``Join`` layer takes several, any other layer one."""

    name: str
    layer: Layer
    inputs: tuple[str, ...]


class Graph(Network):
    """A network whose nodes name their inputs (a DAG, nodes in topological order): Fire
    modules, residual additions, channel shuffles. It trains, evaluates and compresses like a
    ``Network``; ``layers`` are its nodes' layers in order (weighted ones: ``weighted()``)."""

    def __init__(self, name: str, nodes: list[Node], output: str | None = None,
                 input_name: str = "input"):
        self.name, self.nodes, self.input_name = name, list(nodes), input_name
        if not self.nodes:
            raise ValueError("a graph needs at least one node")
        seen = {input_name}
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(f"graph node name {node.name!r} is used twice")
            missing = [i for i in node.inputs if i not in seen]
            if missing:
                raise ValueError(f"graph node {node.name!r} reads {missing[0]!r}, which no "
                                 "earlier node makes")
            join = isinstance(node.layer, Join)
            if (join and len(node.inputs) < 2) or (not join and len(node.inputs) != 1):
                raise ValueError(f"graph node {node.name!r} ({node.layer.kind}) takes "
                                 f"{len(node.inputs)} inputs")
            seen.add(node.name)
        self.output = output if output is not None else self.nodes[-1].name
        if self.output not in seen - {input_name}:
            raise ValueError(f"graph output {self.output!r} is no node")
        self.layers = [node.layer for node in self.nodes]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        values = {self.input_name: x}
        for node in self.nodes:
            xs = [values[i] for i in node.inputs]
            values[node.name] = node.layer.forward(
                xs if isinstance(node.layer, Join) else xs[0], training)
        return values[self.output]

    def backward(self, dy: np.ndarray) -> None:
        """Gradients flow back node by node; an activation read by several nodes gets the sum
        of theirs. Nodes the output does not depend on get none."""
        grads = {self.output: dy}
        for node in reversed(self.nodes):
            g = grads.pop(node.name, None)
            if g is None:
                continue
            dx = node.layer.backward(g)
            dxs = dx if isinstance(node.layer, Join) else [dx]
            for name, d in zip(node.inputs, dxs, strict=True):
                if d is not None and name != self.input_name:
                    grads[name] = grads[name] + d if name in grads else d

    def spec(self) -> dict:
        return {"name": self.name, "input": self.input_name, "output": self.output,
                "layers": [{**node.layer.spec(), "node": node.name, "inputs": list(node.inputs)}
                           for node in self.nodes]}

    @classmethod
    def from_spec(cls, spec: dict) -> "Graph":
        nodes = []
        for s in spec["layers"]:
            layer_spec = {k: v for k, v in s.items() if k not in ("node", "inputs")}
            inputs = s.get("inputs")
            if not isinstance(s.get("node"), str) or not isinstance(inputs, list) \
                    or not all(isinstance(i, str) for i in inputs):
                raise ValueError("a graph layer needs a node name and a list of inputs")
            nodes.append(Node(s["node"], build_layer(layer_spec), tuple(inputs)))
        return cls(spec["name"], nodes, spec["output"], spec.get("input", "input"))

    def consumers(self) -> dict[str, list[Node]]:
        """For each activation (the input, every node), the nodes that read it."""
        readers: dict[str, list[Node]] = {self.input_name: []}
        for node in self.nodes:
            readers[node.name] = []
            for name in node.inputs:
                readers[name].append(node)
        return readers


def fold_batchnorm(net: Network) -> Network:
    """``net`` without its batch normalisations, each merged into the conv or dense layer it
    follows (whose weights change in place: ``net`` is consumed). Inference is unchanged up to
    float rounding; ``net`` itself when it has none."""
    if not any(isinstance(layer, BatchNorm) for layer in net.layers):
        return net
    if isinstance(net, Graph):
        return _fold_graph(net)
    layers = []
    for layer in net.layers:
        if isinstance(layer, BatchNorm):
            if not layers or not isinstance(layers[-1], WEIGHTED):
                raise ValueError(f"{net.name}: a batch norm must follow a conv or dense layer")
            layer.fold_into(layers[-1])
        else:
            layers.append(layer)
    return Network(net.name, layers)


def _fold_graph(graph: Graph) -> Graph:
    nodes, renamed = {}, {}
    readers = graph.consumers()
    for node in graph.nodes:
        inputs = tuple(renamed.get(i, i) for i in node.inputs)
        if isinstance(node.layer, BatchNorm):
            source = nodes.get(inputs[0])
            if source is None or not isinstance(source.layer, WEIGHTED) \
                    or len(readers[inputs[0]]) != 1:
                raise ValueError(f"graph node {node.name!r}: a batch norm must be the only "
                                 "reader of a conv or dense node")
            node.layer.fold_into(source.layer)
            renamed[node.name] = inputs[0]
            continue
        nodes[node.name] = Node(node.name, node.layer, inputs)
    return Graph(graph.name, list(nodes.values()), renamed.get(graph.output, graph.output),
                 graph.input_name)
