"""Magnitude pruning (Han et al., "Learning both Weights and Connections", 2015).

A weight survives while ``|w| > quality × std(layer)``, where ``std`` is the standard deviation
of the layer's dense weights before pruning. Pruning is iterative: the quality ramps up over a
few steps, and each step retrains the survivors under the mask so they take over the work of the
pruned connections. Masks only ever lose weights.
"""

from __future__ import annotations

import numpy as np

from zeroskip.progress import QUIET, Progress

from .network import Network
from .train import Schedule, fit, masked_params


def threshold(weights: np.ndarray, quality: float, std: float | None = None) -> float:
    """The pruning threshold ``quality × std`` (std of ``weights`` unless given)."""
    if quality < 0:
        raise ValueError(f"pruning quality must be >= 0, got {quality}")
    return float(quality) * float(np.std(weights) if std is None else std)


def prune_mask(weights: np.ndarray, quality: float, std: float | None = None) -> np.ndarray:
    """Boolean mask of the weights that survive: ``|w| > threshold``."""
    return np.abs(weights) > threshold(weights, quality, std)


def density(masks: list[np.ndarray]) -> list[float]:
    return [float(m.mean()) for m in masks]


def quality_ramp(quality: float, steps: int) -> list[float]:
    """The qualities of the iterative steps: ``quality × k / steps`` for k = 1..steps."""
    return [quality * k / steps for k in range(1, steps + 1)]


def iterative_prune(net: Network, qualities: list[float], steps: int, schedule: Schedule,
                    x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                    progress: Progress = QUIET, x_val=None, y_val=None) -> list[np.ndarray]:
    """Prune ``net`` in place, layer ``i`` up to ``qualities[i]``; returns the final masks."""
    layers = net.weighted()
    if len(qualities) != len(layers):
        raise ValueError(f"{len(qualities)} qualities for {len(layers)} weighted layers")
    stds = [float(np.std(layer.params["W"])) for layer in layers]
    masks = [np.ones(layer.params["W"].shape, bool) for layer in layers]
    for step in range(steps):
        for i, layer in enumerate(layers):
            q = quality_ramp(qualities[i], steps)[step]
            masks[i] &= prune_mask(layer.params["W"], q, stds[i])
            layer.params["W"] *= masks[i]
        kept = ", ".join(f"{100 * d:.1f}%" for d in density(masks))
        progress(f"prune step {step + 1}/{steps}: kept {kept}")
        fit(net, masked_params(net, masks), x, y, schedule, rng, progress,
            f"retrain {step + 1}/{steps}", x_val, y_val)
    return masks
