"""Mini-batch training with the three parameterisations Deep Compression needs.

A ``Param`` is what the optimizer updates: ``value`` (changed in place), ``grad()`` read from the
network after a backward pass, ``sync()`` to push the new value into the network. Three kinds:

- ``WeightParam``: a layer's weights or bias as they are (dense training);
- ``WeightParam`` with a mask: pruned weights stay zero (gradient and value masked);
- ``CodebookParam``: shared weights ``W = codebook[codes]`` with codes fixed; the gradient of a
  centroid is the sum of the gradients of the weights in its cluster (Deep Compression, sec. 3.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zeroskip.progress import QUIET, Progress

from .layers import BatchNorm
from .network import Network
from .optim import make_optimizer


class WeightParam:
    def __init__(self, layer, key: str, mask: np.ndarray | None = None):
        self.layer, self.key, self.mask = layer, key, mask
        self.decay = key == "W"  # L2 on weights, not on biases

    @property
    def value(self) -> np.ndarray:
        return self.layer.params[self.key]

    def grad(self) -> np.ndarray:
        g = self.layer.grads[self.key]
        return g if self.mask is None else g * self.mask

    def sync(self) -> None:
        if self.mask is not None:
            self.layer.params[self.key] *= self.mask


class CodebookParam:
    """The centroids of one shared layer; code 0 is the pruned weight and stays 0.0."""

    decay = False

    def __init__(self, layer, codebook: np.ndarray, codes: np.ndarray):
        self.layer = layer
        self.value = np.array(codebook, dtype=np.float32)
        self.codes = np.asarray(codes).reshape(layer.params["W"].shape)
        self._flat = self.codes.ravel().astype(np.intp)
        self.sync()

    def grad(self) -> np.ndarray:
        g = np.bincount(self._flat, weights=self.layer.grads["W"].ravel(),
                        minlength=len(self.value)).astype(np.float32)
        g[0] = 0.0  # the reserved zero never moves
        return g

    def sync(self) -> None:
        self.value[0] = 0.0
        self.layer.params["W"][...] = self.value[self.codes]


def dense_params(net: Network) -> list[WeightParam]:
    """Weights and biases, and the batch normalisations' scales and shifts (dense training
    only: they are folded away before pruning)."""
    return ([WeightParam(layer, key) for layer in net.weighted() for key in ("W", "b")]
            + [WeightParam(layer, key) for layer in net.layers if isinstance(layer, BatchNorm)
               for key in ("gamma", "beta")])


def masked_params(net: Network, masks: list[np.ndarray]) -> list[WeightParam]:
    params = []
    for layer, mask in zip(net.weighted(), masks, strict=True):
        params += [WeightParam(layer, "W", mask.astype(np.float32)), WeightParam(layer, "b")]
    return params


def shared_params(net: Network, codebooks: list[np.ndarray],
                  codes: list[np.ndarray]) -> list:
    params = []
    for layer, book, code in zip(net.weighted(), codebooks, codes, strict=True):
        params += [CodebookParam(layer, book, code), WeightParam(layer, "b")]
    return params


@dataclass(frozen=True)
class Schedule:
    """How one training phase runs."""

    epochs: int
    lr: float
    optimizer: str = "sgd"
    batch_size: int = 64
    l2: float = 0.0
    lr_decay: float = 1.0  # multiply the learning rate by this after every epoch
    shift: int = 0         # translate each training image by up to this many pixels (augmentation)


@dataclass
class History:
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def fit(net: Network, params: list, x: np.ndarray, y: np.ndarray, schedule: Schedule,
        rng: np.random.Generator, progress: Progress = QUIET, label: str = "train",
        x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
        step_loss=None) -> History:
    """Train ``params`` of ``net`` on (x, y); one progress line per epoch.

    ``step_loss(batch_indices, images) -> loss`` replaces the cross-entropy step (it runs the
    forward and backward passes itself): distillation trains through it. ``images`` are
    ``x[batch_indices]``, each translated at random by up to ``schedule.shift`` pixels (square
    images, one per row)."""
    if step_loss is None:
        def step_loss(batch, images):
            return net.loss_and_grads(images, y[batch], training=True)
    history = History()
    optimizer = make_optimizer(schedule.optimizer, schedule.lr, schedule.l2)
    for param in params:
        param.sync()
    for epoch in range(schedule.epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), schedule.batch_size):
            batch = order[start:start + schedule.batch_size]
            images = random_shifts(x[batch], schedule.shift, rng) if schedule.shift else x[batch]
            losses.append(step_loss(batch, images))
            optimizer.step(params)
        history.loss.append(float(np.mean(losses)))
        line = f"{label} epoch {epoch + 1}/{schedule.epochs}: loss {history.loss[-1]:.4f}"
        if x_val is not None:
            history.accuracy.append(net.accuracy(x_val, y_val))
            line += f", held-out accuracy {history.accuracy[-1]:.4f}"
        progress(line)
        optimizer.lr *= schedule.lr_decay
    return history


def random_shifts(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each row of ``x`` (a square image, row-major) translated by its own random offset in
    [-max_shift, max_shift] on each axis, zeros shifted in: small data's classic regulariser
    for convolutional networks, which otherwise learn the 3,500 training digits by heart."""
    n, size = len(x), int(round(np.sqrt(x.shape[1])))
    if size * size != x.shape[1]:
        raise ValueError(f"shift augmentation: rows of {x.shape[1]} values are no square image")
    images = np.pad(x.reshape(n, size, size), ((0, 0), (max_shift, max_shift),
                                               (max_shift, max_shift)))
    dy, dx = (rng.integers(0, 2 * max_shift + 1, n) for _ in range(2))
    rows = (dy[:, None] + np.arange(size))[:, :, None]
    cols = (dx[:, None] + np.arange(size))[:, None, :]
    return images[np.arange(n)[:, None, None], rows, cols].reshape(n, -1)
