import numpy as np
import pytest

from zeroskip.models import zoo
from zeroskip.models.layers import Dense, ReLU
from zeroskip.models.network import Network
from zeroskip.models.share import share_weights
from zeroskip.models.train import (CodebookParam, Schedule, WeightParam, dense_params, fit,
                                   masked_params, shared_params)


def blobs(n=300, seed=0):
    """Three separable Gaussian classes in 8 dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = rng.standard_normal((3, 8)) * 3
    x = (centers[y] + rng.standard_normal((n, 8))).astype(np.float32)
    return x, y


def small_net(seed=0):
    rng = np.random.default_rng(seed)
    return Network("blobs", [Dense(8, 16, rng), ReLU(), Dense(16, 3, rng)])


def test_fit_lowers_the_loss_and_learns():
    x, y = blobs()
    net = small_net()
    before = net.loss(x, y)
    history = fit(net, dense_params(net), x, y, Schedule(epochs=10, lr=0.05),
                  np.random.default_rng(0))
    assert net.loss(x, y) < before / 4
    assert history.loss[-1] < history.loss[0]
    assert net.accuracy(x, y) > 0.95


def test_fit_is_deterministic_for_a_seed():
    x, y = blobs()
    results = []
    for _ in range(2):
        net = small_net()
        fit(net, dense_params(net), x, y, Schedule(epochs=2, lr=0.05), np.random.default_rng(7))
        results.append(net.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a["W"], b["W"])


def test_masked_training_keeps_pruned_weights_zero():
    x, y = blobs()
    net = small_net()
    masks = [np.random.default_rng(1).random(layer.params["W"].shape) < 0.5
             for layer in net.weighted()]
    fit(net, masked_params(net, masks), x, y, Schedule(epochs=3, lr=0.05), np.random.default_rng(0))
    for layer, mask in zip(net.weighted(), masks):
        assert np.all(layer.params["W"][~mask] == 0)
        assert np.all(layer.params["W"][mask] != 0)


def test_codebook_gradient_is_the_sum_over_each_cluster():
    layer = Dense(3, 2)
    codes = np.array([[0, 1, 2], [2, 1, 1]])
    param = CodebookParam(layer, np.array([0.0, 0.5, -1.0], np.float32), codes)
    np.testing.assert_array_equal(layer.params["W"], [[0, 0.5, -1], [-1, 0.5, 0.5]])
    layer.grads["W"][...] = [[10, 1, 2], [3, 4, 5]]
    np.testing.assert_allclose(param.grad(), [0.0, 1 + 4 + 5, 2 + 3])  # code 0 never moves
    param.value[:] = [7.0, 2.0, 3.0]
    param.sync()
    np.testing.assert_array_equal(layer.params["W"], [[0, 2, 3], [3, 2, 2]])


def test_trained_quantization_lowers_the_loss():
    x, y = blobs(600, seed=3)
    net = small_net(seed=3)
    fit(net, dense_params(net), x, y, Schedule(epochs=10, lr=0.05), np.random.default_rng(0))
    books, codes = [], []
    for layer in net.weighted():  # 3 centroids: a coarse quantization with room to improve
        book, code = share_weights(layer.params["W"], np.ones(layer.params["W"].shape, bool), 3)
        books.append(book)
        codes.append(code)
    params = shared_params(net, books, codes)
    shared_loss = net.loss(x, y)
    fit(net, params, x, y, Schedule(epochs=5, lr=1e-3, optimizer="adam"), np.random.default_rng(0))
    assert net.loss(x, y) < 0.9 * shared_loss
    for layer, param, code in zip(net.weighted(), params[0::2], codes):
        np.testing.assert_array_equal(layer.params["W"], param.value[code])  # codes unchanged
        assert param.value[0] == 0.0


def test_weight_param_decays_weights_not_biases():
    layer = Dense(2, 2)
    assert WeightParam(layer, "W").decay and not WeightParam(layer, "b").decay


def test_zoo_shapes():
    x = np.zeros((2, 784), np.float32)
    assert zoo.lenet300().logits(x).shape == (2, 10)
    assert zoo.lenet5().logits(x).shape == (2, 10)
    assert [l.params["W"].shape for l in zoo.lenet300().weighted()] == [(300, 784), (100, 300),
                                                                       (10, 100)]
    assert [l.params["W"].size for l in zoo.lenet5().weighted()] == [500, 25000, 400000, 5000]
    assert zoo.lenet5().layer_names() == ["conv1", "conv2", "fc1", "fc2"]


def test_random_shifts_move_each_image_by_its_own_offset_within_the_bound():
    from zeroskip.models.train import random_shifts

    rng = np.random.default_rng(0)
    x = np.zeros((400, 28 * 28), np.float32)
    x[:, 10 * 28 + 12] = 1.0                        # one lit pixel at (10, 12)
    shifted = random_shifts(x, 2, rng)
    assert shifted.shape == x.shape and np.all(shifted.sum(axis=1) == 1.0)
    where = shifted.reshape(400, 28, 28).nonzero()
    offsets = set(zip(where[1] - 10, where[2] - 12))
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    edge = np.zeros((50, 16), np.float32)
    edge[:, 0] = 1.0                                 # a corner pixel can leave the image
    assert (random_shifts(edge, 1, rng).sum(axis=1) == 0).any()
    with pytest.raises(ValueError, match="rows of 10 values are no square image"):
        random_shifts(np.zeros((2, 10)), 1, rng)
