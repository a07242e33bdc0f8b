import numpy as np
import pytest

from zeroskip.models.layers import (Conv2D, Dense, Dropout, Flatten, MaxPool2, ReLU, Reshape,
                                    build_layer, softmax_cross_entropy)


def numeric_grad(f, x, eps=1e-3):
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = f()
        x[i] = old - eps
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def check_layer_grads(layer, x, rng):
    """Compare backward() with central differences of sum(y * r) for a random r."""
    x = x.astype(np.float64)
    for key in layer.params:
        layer.params[key] = layer.params[key].astype(np.float64)
        layer.grads[key] = np.zeros_like(layer.params[key])
    r = rng.standard_normal(layer.forward(x).shape)
    loss = lambda: float((layer.forward(x) * r).sum())  # noqa: E731
    layer.forward(x)
    dx = layer.backward(r)
    if dx is not None:
        np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-6)
    for key in layer.params:
        layer.forward(x)
        layer.backward(r)
        analytic = layer.grads[key].copy()
        np.testing.assert_allclose(analytic, numeric_grad(loss, layer.params[key]),
                                   rtol=1e-5, atol=1e-6)


def test_dense_forward_known_answer():
    layer = Dense(3, 2)
    layer.params["W"][...] = [[1, 2, 3], [0, -1, 0]]
    layer.params["b"][...] = [0.5, 1]
    np.testing.assert_allclose(layer.forward(np.array([[1.0, 1, 1]], np.float32)), [[6.5, 0]])


def test_dense_gradients():
    rng = np.random.default_rng(0)
    check_layer_grads(Dense(5, 4, rng), rng.standard_normal((3, 5)), rng)


def test_conv_matches_direct_convolution():
    rng = np.random.default_rng(1)
    layer = Conv2D(2, 3, 3, rng)
    layer.params["b"][...] = rng.standard_normal(3)
    x = rng.standard_normal((2, 6, 5, 2)).astype(np.float32)
    y = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    expected = np.zeros((2, 4, 3, 3))
    for n in range(2):
        for i in range(4):
            for j in range(3):
                for o in range(3):
                    patch = x[n, i:i + 3, j:j + 3, :]  # [kh, kw, c]
                    expected[n, i, j, o] = (patch.transpose(2, 0, 1) * W[o]).sum() + b[o]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_conv_gradients():
    rng = np.random.default_rng(2)
    check_layer_grads(Conv2D(2, 3, 3, rng), rng.standard_normal((2, 5, 6, 2)), rng)


def test_conv_first_layer_skips_input_gradient():
    rng = np.random.default_rng(3)
    layer = Conv2D(1, 2, 3, rng, input_grad=False)
    y = layer.forward(rng.standard_normal((1, 4, 4, 1)).astype(np.float32))
    assert layer.backward(np.ones_like(y)) is None
    assert np.any(layer.grads["W"] != 0)


def test_maxpool_forward_and_gradient():
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    pool = MaxPool2()
    np.testing.assert_array_equal(pool.forward(x)[0, :, :, 0], [[5, 7], [13, 15]])
    dx = pool.backward(np.ones((1, 2, 2, 1)))
    assert dx.sum() == 4 and dx[0, 1, 1, 0] == 1 and dx[0, 0, 0, 0] == 0
    rng = np.random.default_rng(4)
    check_layer_grads(MaxPool2(), rng.standard_normal((2, 4, 6, 3)), rng)


def test_relu_flatten_reshape():
    rng = np.random.default_rng(5)
    check_layer_grads(ReLU(), rng.standard_normal((3, 4)) + 0.05, rng)
    x = rng.standard_normal((2, 3, 4, 5))
    flat = Flatten()
    assert flat.forward(x).shape == (2, 60)
    assert flat.backward(np.ones((2, 60))).shape == x.shape
    assert Reshape((28, 28, 1)).forward(np.zeros((3, 784))).shape == (3, 28, 28, 1)


def test_dropout_inverted_scaling_and_inference_identity():
    drop = Dropout(0.5, np.random.default_rng(0))
    x = np.ones((200, 100), np.float32)
    np.testing.assert_array_equal(drop.forward(x, training=False), x)
    y = drop.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs(y.mean() - 1.0) < 0.05
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)
    with pytest.raises(ValueError):
        Dropout(1.0)


def test_softmax_cross_entropy_value_and_gradient():
    logits = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    loss, grad = softmax_cross_entropy(logits, np.array([0, 0]))
    assert loss == pytest.approx((np.log(2) + np.log(4 / 3)) / 2)
    rng = np.random.default_rng(6)
    z = rng.standard_normal((4, 5))
    labels = np.array([0, 3, 1, 4])
    _, g = softmax_cross_entropy(z.copy(), labels)
    num = numeric_grad(lambda: softmax_cross_entropy(z, labels)[0], z)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


def test_build_layer_inverts_spec():
    for layer in (Dense(3, 4), Conv2D(2, 5, 3, input_grad=False), MaxPool2(), ReLU(), Flatten(),
                  Reshape((4, 4, 1)), Dropout(0.25)):
        assert build_layer(layer.spec()).spec() == layer.spec()
    with pytest.raises(ValueError):
        build_layer({"kind": "lstm"})


def test_batchnorm_gradients_in_training_mode():
    """Training mode normalises with the batch statistics: backward must differentiate them
    too (central differences over the whole batch)."""
    from zeroskip.models.layers import BatchNorm

    rng = np.random.default_rng(5)
    bn = BatchNorm(3)
    bn.params["gamma"][...] = rng.uniform(0.5, 2.0, 3)
    bn.params["beta"][...] = rng.uniform(-1, 1, 3)
    x = rng.standard_normal((4, 2, 2, 3)) * 3 + 1
    r = rng.standard_normal(x.shape)
    loss = lambda: float((bn.forward(x, training=True).astype(np.float64) * r).sum())  # noqa: E731
    bn.forward(x, training=True)
    dx = bn.backward(r)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=2e-2, atol=2e-3)
    for key in ("gamma", "beta"):
        bn.forward(x, training=True)
        bn.backward(r)
        np.testing.assert_allclose(bn.grads[key], numeric_grad(loss, bn.params[key]),
                                   rtol=2e-2, atol=2e-3)


def test_batchnorm_eval_mode_uses_the_running_statistics_and_folds_exactly():
    from zeroskip.models.layers import BatchNorm

    rng = np.random.default_rng(6)
    conv = Conv2D(2, 3, 3, rng, pad=1)
    bn = BatchNorm(3, momentum=0.0)          # running statistics = the last batch's
    x = rng.standard_normal((5, 4, 4, 2)).astype(np.float32)
    y = conv.forward(x)
    bn.forward(y, training=True)
    assert np.allclose(bn.running_mean, y.reshape(-1, 3).mean(axis=0), atol=1e-6)
    assert np.allclose(bn.running_var, y.reshape(-1, 3).var(axis=0), atol=1e-5)
    normalised = bn.forward(y)
    assert np.allclose(normalised.reshape(-1, 3).mean(axis=0), 0, atol=1e-5)
    assert np.allclose(normalised.reshape(-1, 3).std(axis=0), 1, atol=1e-3)
    bn.fold_into(conv)
    np.testing.assert_allclose(conv.forward(x), normalised, rtol=1e-5, atol=1e-5)
    assert build_layer(bn.spec()).spec() == bn.spec()
