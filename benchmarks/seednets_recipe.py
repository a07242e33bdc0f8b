"""The survey networks' training recipe, on the validation split: each network's dense stage
(``compress.default_config(NAME).dense``) with and without the shift augmentation, printing
accuracy on the training images, the validation split (what chooses) and the 1,000 held-out
images (what is reported, never chosen on).

    .venv/bin/python benchmarks/seednets_recipe.py [--models mobilenet,...] [--shifts 0,2]
                                                   [--epochs E] [--lr-decay D] [--alpha A]
                                                   [--seed S] [--json FILE]

``--epochs`` and ``--lr-decay`` replace the dense stage's; ``--alpha`` builds MobileNet and its
standard twin at that width multiplier (``zoo.mobilenet``), and ShuffleNet at that scale
(``zoo.shufflenet``), instead of the zoo's widths.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from zeroskip.files import write_atomic
from zeroskip.models import zoo
from zeroskip.models.compress import default_config
from zeroskip.models.data import mnist_split, validation_split
from zeroskip.models.network import fold_batchnorm
from zeroskip.models.train import dense_params, fit
from zeroskip.progress import Progress

SURVEY = ("squeezenet", "mobilenet", "mobilenet-standard", "shufflenet")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SURVEY))
    parser.add_argument("--shifts", default="0,2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr-decay", type=float)
    parser.add_argument("--alpha", type=float, help="width (default: the zoo's)")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    progress = Progress(args.quiet)
    x, y, x_test, y_test = mnist_split(args.seed)
    x, y, x_val, y_val = validation_split(x, y, seed=args.seed)
    rows = []
    for name in args.models.split(","):
        config = default_config(name, seed=args.seed)
        for shift in (int(s) for s in args.shifts.split(",")):
            schedule = dataclasses.replace(config.dense, shift=shift)
            if args.epochs is not None:
                schedule = dataclasses.replace(schedule, epochs=args.epochs)
            if args.lr_decay is not None:
                schedule = dataclasses.replace(schedule, lr_decay=args.lr_decay)
            start, cpu = time.perf_counter(), time.process_time()
            with threadpool_limits(limits=1, user_api="blas"):
                if name in ("mobilenet", "mobilenet-standard"):
                    width = args.alpha or zoo.MOBILENET_ALPHA
                    net = zoo.mobilenet(args.seed, alpha=width,
                                        standard=name == "mobilenet-standard")
                elif name == "shufflenet":
                    width = args.alpha or zoo.SHUFFLENET_SCALE
                    net = zoo.shufflenet(args.seed, scale=width)
                else:
                    width = 1.0
                    net = zoo.build(name, args.seed, config.dropout)
                fit(net, dense_params(net), x, y, schedule, np.random.default_rng(args.seed),
                    progress, f"{name} shift {shift}")
                net = fold_batchnorm(net)
                rows.append({"model": name, "shift": shift, "epochs": schedule.epochs,
                             "lr_decay": schedule.lr_decay, "alpha": width,
                             "train": net.accuracy(x, y), "validation": net.accuracy(x_val, y_val),
                             "held_out": net.accuracy(x_test, y_test),
                             "seconds": time.perf_counter() - start,
                             "cpu_seconds": time.process_time() - cpu})
    print(f"dense stage, seed {args.seed}: {len(x)} training images, {len(x_val)} validation, "
          f"{len(x_test)} held-out")
    print(f"{'model':<20}{'alpha':>6}{'shift':>6}{'epochs':>7}{'decay':>6}{'train':>8}{'valid.':>8}"
          f"{'held-out':>9}{'s':>7}{'CPU s':>7}")
    for r in rows:
        print(f"{r['model']:<20}{r['alpha']:>6g}{r['shift']:>6}{r['epochs']:>7}{r['lr_decay']:>6g}"
              f"{r['train']:>8.3f}"
              f"{r['validation']:>8.3f}{r['held_out']:>9.3f}{r['seconds']:>7.0f}"
              f"{r['cpu_seconds']:>7.0f}")
    if args.json:
        write_atomic(args.json, json.dumps({"rows": rows}, indent=1).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
