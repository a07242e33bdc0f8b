"""Binary MLP (784-256-256-10) or binary conv net (``--model binary-cnn``) on the 1,000 held-out
MNIST images: BWN / XNOR x distillation.

Trains the float baseline once (it is also the teacher), then each binary variant; prints the
float baseline's accuracy, the binary model's (float forward and packed-bit integer reference),
the storage ratio against float32, and the training time (wall-clock and CPU seconds).

    .venv/bin/python benchmarks/binary_mlp.py [--model binary-mlp|binary-cnn] [--seed S]
                                              [--epochs N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from zeroskip.models import binary_layers
from zeroskip.models.compress_binary import BinaryRun, compress_binary, train_teacher
from zeroskip.models.data import mnist_split
from zeroskip.progress import Progress


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="binary-mlp", choices=("binary-mlp", "binary-cnn"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=BinaryRun.epochs)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    progress = Progress(args.quiet)

    base = BinaryRun(model=args.model, seed=args.seed, epochs=args.epochs)
    x, y, _, _ = mnist_split(args.seed)
    wall, cpu = time.perf_counter(), time.process_time()
    teacher = train_teacher(base, x, y, progress)
    teacher_wall, teacher_cpu = time.perf_counter() - wall, time.process_time() - cpu

    rows = []
    for mode in binary_layers.MODES:
        for distill in (False, True):
            run = BinaryRun(model=args.model, mode=mode, distill=distill, seed=args.seed,
                            epochs=args.epochs)
            cpu = time.process_time()
            report = compress_binary(run, progress, teacher=teacher).report
            rows.append({
                "mode": mode, "distill": distill,
                "accuracy_float": report["accuracy_float"],
                "accuracy_binary_float_forward": report["accuracy_binary_float_forward"],
                "accuracy_binary": report["accuracy_binary"],
                "reference_agreement": report["reference_agreement"],
                "compression_ratio": report["compression_ratio"],
                "binary_bytes": report["binary_bytes"],
                "float32_bytes": report["float32_bytes"],
                "train_seconds": report["train_seconds"],
                "cpu_seconds": time.process_time() - cpu,
            })

    title = ("binary MLP 784-256-256-10" if args.model == "binary-mlp" else
             "binary conv net (3x3 16, pool, 3x3 32, pool, fc 128, fc 10)")
    print(f"{title}, seed {args.seed}, {args.epochs} epochs, "
          f"1000 held-out images; float baseline trained in {teacher_wall:.1f} s "
          f"({teacher_cpu:.1f} CPU s)")
    head = (f"{'mode':<6}{'distill':>8}{'float':>8}{'binary':>8}{'integer':>9}{'agree':>7}"
            f"{'bytes':>8}{'ratio':>8}{'train s':>9}{'CPU s':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['mode']:<6}{'yes' if r['distill'] else 'no':>8}{r['accuracy_float']:>8.3f}"
              f"{r['accuracy_binary_float_forward']:>8.3f}{r['accuracy_binary']:>9.3f}"
              f"{r['reference_agreement']:>7.3f}{r['binary_bytes']:>8}"
              f"{r['compression_ratio']:>7.1f}x{r['train_seconds']:>9.1f}{r['cpu_seconds']:>7.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "seed": args.seed, "epochs": args.epochs,
                       "teacher_seconds": teacher_wall,
                       "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
