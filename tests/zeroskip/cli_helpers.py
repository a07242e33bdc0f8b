"""What the CLI tests share: the console script next to this interpreter, and a small
two-layer weight-shared model (not a test module)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from zeroskip.models.interchange import SharedLayer

ZEROSKIP = str(Path(sys.executable).parent / "zeroskip")


def small_layers(seed: int = 0) -> list[SharedLayer]:
    """12 → 20 (ReLU) → 6, 40 % of the weights kept, 15 shared values per layer."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out, act in ((12, 20, "relu"), (20, 6, "none")):
        book = np.concatenate([[0.0], rng.normal(0, 0.3, 15)]).astype(np.float32)
        codes = np.where(rng.random((n_out, n_in)) < 0.4, rng.integers(1, 16, (n_out, n_in)), 0)
        out.append(SharedLayer(book, codes.astype(np.uint8),
                               rng.normal(0, 0.1, n_out).astype(np.float32), act))
    return out
