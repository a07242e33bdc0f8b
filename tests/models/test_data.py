import numpy as np

from zeroskip.models.data import mnist_split, stratified_split


def test_split_sizes_range_and_dtype():
    x_train, y_train, x_test, y_test = mnist_split(0)
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0 and x_train.max() > 0.99


def test_split_is_stratified_and_shuffled():
    _, y_train, _, y_test = mnist_split(0)
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    assert not np.all(np.diff(y_train) >= 0)  # the source is sorted by class; ours is not


def test_split_is_disjoint():
    x_train, _, x_test, _ = mnist_split(0)
    train_rows = {row.tobytes() for row in x_train}
    overlap = sum(row.tobytes() in train_rows for row in x_test)
    assert overlap <= 2  # the subset itself may hold a duplicate image, nothing more


def test_split_is_deterministic_per_seed():
    a, b = mnist_split(3), mnist_split(3)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    c = mnist_split(4)
    assert not np.array_equal(a[1], c[1])


def test_stratified_split_indices():
    y = np.repeat(np.arange(3), 10)
    train, test = stratified_split(y, 6, 4, seed=0)
    assert len(set(train) | set(test)) == 30 and not set(train) & set(test)
    assert np.bincount(y[train]).tolist() == [6, 6, 6]
