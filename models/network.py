"""A sequential network: a list of layers, a loss, and evaluation helpers."""

from __future__ import annotations

import numpy as np

from .layers import Conv2D, Dense, Layer, build_layer, softmax_cross_entropy

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
        return cls(spec["name"], [build_layer(s) for s in spec["layers"]])
