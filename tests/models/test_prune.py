import numpy as np
import pytest

from zeroskip.models.layers import Dense, ReLU
from zeroskip.models.network import Network
from zeroskip.models.prune import (density, iterative_prune, prune_mask, quality_ramp,
                                   threshold)
from zeroskip.models.train import Schedule


def test_threshold_is_quality_times_std():
    w = np.array([-2.0, 2.0, -2.0, 2.0])  # std 2
    assert threshold(w, 0.75) == pytest.approx(1.5)
    assert threshold(w, 0.75, std=4.0) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        threshold(w, -1.0)


def test_prune_mask_exact_ratio_on_planted_magnitudes():
    # 1000 weights: magnitudes 1..1000 with alternating signs; std = sqrt(mean(k^2))
    k = np.arange(1, 1001, dtype=np.float64)
    w = k * np.where(k % 2 == 0, 1, -1)
    std = np.std(w)
    for keep in (0.66, 0.26, 0.09, 0.08):
        # threshold halfway between magnitude (1000 * (1 - keep)) and the next one
        q = (1000 * (1 - keep) + 0.5) / std
        mask = prune_mask(w, q)
        assert mask.sum() == round(1000 * keep)
        assert np.all(np.abs(w[mask]) > np.abs(w[~mask]).max())


def test_quality_ramp():
    assert quality_ramp(2.0, 4) == [0.5, 1.0, 1.5, 2.0]


def test_iterative_prune_masks_shrink_and_stick():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 20)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    net = Network("toy", [Dense(20, 30, rng), ReLU(), Dense(30, 2, rng)])
    masks = iterative_prune(net, [1.0, 0.5], 2, Schedule(epochs=1, lr=0.01), x, y, rng)
    for layer, mask in zip(net.weighted(), masks):
        assert np.all(layer.params["W"][~mask] == 0)  # retraining did not revive any
        assert np.all(layer.params["W"][mask] != 0)
        assert mask.mean() < 1.0
    # with quality 1.0 of a Gaussian-initialised layer, at most ~32 % survive the final step
    assert density(masks)[0] < 0.4
    with pytest.raises(ValueError):
        iterative_prune(net, [1.0], 1, Schedule(epochs=1, lr=0.01), x, y, rng)
