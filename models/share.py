"""Weight sharing by k-means (Deep Compression, sec. 3).

Each layer's surviving weights are clustered in one dimension; a weight is then stored as the
index of its centroid. Centroids start evenly spaced over ``[min, max]`` (linear initialisation,
which the paper found best: it keeps the rare large weights represented). Code 0 is reserved for
the pruned weight 0.0 in every mode, so ``codebook[0] == 0.0`` and ``codebook[codes]`` rebuilds the
layer. With ``b`` bits there are ``2**b`` centroids (codes 1..2**b), except in the EIE mode where
the codes themselves must fit ``b`` bits: then ``2**b - 1`` centroids remain (EIE hard-wires
codebook slot 0 to zero).
"""

from __future__ import annotations

import numpy as np


def n_centroids(bits: int, reserve_zero: bool) -> int:
    """Learned centroids for ``bits``: ``2**bits``, or ``2**bits - 1`` when code 0 must fit too."""
    if not 1 <= bits <= 8:
        raise ValueError(f"weight bits must be in 1..8, got {bits}")
    return 2 ** bits - 1 if reserve_zero else 2 ** bits


def linear_init(values: np.ndarray, k: int) -> np.ndarray:
    """``k`` centroids evenly spaced over ``[min(values), max(values)]``."""
    return np.linspace(values.min(), values.max(), k)


def kmeans_1d(values: np.ndarray, centroids: np.ndarray,
              max_iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's algorithm in 1-D from sorted initial ``centroids``: (centroids, labels).

    In one dimension the nearest centroid is found by bisecting the midpoints, and the update
    keeps the centroids sorted. An empty cluster keeps its centroid.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    centroids = np.sort(np.asarray(centroids, dtype=np.float64))
    labels = np.full(len(values), -1)
    for _ in range(max_iterations):
        new_labels = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=len(centroids))
        sums = np.bincount(labels, weights=values, minlength=len(centroids))
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled]
    return centroids, labels


def share_weights(weights: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the masked weights into ``k`` centroids.

    Returns ``(codebook, codes)``: codebook float32 ``[k + 1]`` with ``codebook[0] == 0.0``, codes
    of ``weights``' shape with 0 where pruned and 1..k elsewhere.
    """
    mask = np.asarray(mask, bool)
    codes = np.zeros(weights.shape, dtype=np.uint8 if k < 256 else np.uint16)
    codebook = np.zeros(k + 1, np.float32)
    survivors = weights[mask]
    if survivors.size == 0:
        return codebook, codes
    centroids, labels = kmeans_1d(survivors, linear_init(survivors, k))
    codebook[1:] = centroids
    codes[mask] = labels + 1
    return codebook, codes
