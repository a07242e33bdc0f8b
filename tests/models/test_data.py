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


def test_split_is_disjoint_and_matches_its_indices():
    from zeroskip.models.data import _mnist_raw

    x, y = _mnist_raw()
    train, test = stratified_split(y, 400, 100, seed=0)
    assert len(set(train.tolist()) | set(test.tolist())) == 5000  # disjoint, covers everything
    x_train, y_train, x_test, y_test = mnist_split(0)
    np.testing.assert_array_equal(x_train, x[train])
    np.testing.assert_array_equal(y_test, y[test])


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


def test_validation_split_is_stratified_disjoint_and_seeded():
    from zeroskip.models.data import validation_split

    x_train, y_train, x_test, _ = mnist_split(0)
    x_fit, y_fit, x_val, y_val = validation_split(x_train, y_train, 50, seed=0)
    assert len(y_fit) == 3500 and len(y_val) == 500
    assert np.bincount(y_val).tolist() == [50] * 10
    assert np.bincount(y_fit).tolist() == [350] * 10
    # together they are exactly the training images, and none is a held-out one
    rows = {row.tobytes() for row in x_train}
    assert {row.tobytes() for row in x_fit} | {row.tobytes() for row in x_val} == rows
    assert not {row.tobytes() for row in x_val} & {row.tobytes() for row in x_fit}
    assert not {row.tobytes() for row in x_val} & {row.tobytes() for row in x_test}
    again = validation_split(x_train, y_train, 50, seed=0)
    np.testing.assert_array_equal(again[2], x_val)
    other = validation_split(x_train, y_train, 50, seed=1)
    assert not np.array_equal(other[2], x_val)


def test_validation_split_needs_images_to_train_on():
    import pytest

    from zeroskip.models.data import validation_split

    y = np.repeat(np.arange(3), 4)
    with pytest.raises(ValueError, match="class 0 has 4 training images"):
        validation_split(np.zeros((12, 2)), y, 4)
    with pytest.raises(ValueError, match=">= 1"):
        validation_split(np.zeros((12, 2)), y, 0)
