"""Deep Compression of LeNet-300-100 and LeNet-5 on the 1,000 held-out MNIST images.

Runs the whole pipeline (dense → pruned → shared → fine-tuned → Huffman) with the tuned
defaults (training on 3,500 images; the other 500 of the 4,000 are the validation split the
pipeline decides on: extra retraining epochs after a pruning step) and prints, per run, the stage times (wall-clock and CPU seconds of the process), the
compression ratio after each stage, the accuracies and the storage table. LeNet-300-100 runs
twice: the paper's setting (5-bit weights and indices) and the EIE target (4-bit codes with
code 0 reserved, 4-bit indices), which is what ``zeroskip demo`` uses.

    .venv/bin/python benchmarks/compress_lenet.py [--model lenet300|lenet5|both]
                                                  [--eie on|off|both] [--seed S] [--json [FILE]]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from zeroskip.models.compress import compress, default_config
from zeroskip.models.data import mnist_split
from zeroskip.progress import Progress

STAGES = ("dense", "prune", "share", "finetune", "huffman", "total")


def runs(model: str, eie: str) -> list[tuple[str, bool]]:
    models = ("lenet300", "lenet5") if model == "both" else (model,)
    out = []
    for name in models:
        modes = {"on": (True,), "off": (False,), "both": (False, True)}[eie]
        if name == "lenet5":
            modes = (False,)  # the EIE target concerns fully-connected nets
        out += [(name, mode) for mode in modes]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("lenet300", "lenet5", "both"), default="both")
    parser.add_argument("--eie", choices=("on", "off", "both"), default="both",
                        help="LeNet-300-100 in the EIE 4-bit mode, the paper's mode, or both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE",
                        help="write the results as JSON (to stdout without FILE)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    progress = Progress(args.quiet)
    data = mnist_split(args.seed)

    results = []
    for model, eie in runs(args.model, args.eie):
        cpu = time.process_time()
        result = compress(default_config(model, eie=eie, seed=args.seed), data=data,
                          progress=progress)
        report = result.report()
        report["cpu_seconds"] = time.process_time() - cpu
        results.append((result, report))

    lines = []
    for result, report in results:
        label = f"{report['model']}{' (EIE 4-bit)' if report['eie'] else ''}"
        acc = result.accuracy
        lines += [
            "",
            result.table(),
            f"{label}: stage seconds (wall) " + ", ".join(
                f"{stage} {result.seconds[stage]:.1f}" for stage in STAGES)
            + f"; CPU {report['cpu_seconds']:.1f} s",
            f"{label}: ratio pruned {report['compression_ratio_pruned']:.1f}x, quantized "
            f"{report['compression_ratio_quantized']:.1f}x, Huffman "
            f"{report['compression_ratio']:.1f}x ({report['dense_bytes']} -> "
            f"{report['file_bytes']} bytes); accuracy dense {acc['dense']:.3f}, compressed "
            f"{acc['compressed']:.3f} (drop {100 * (acc['dense'] - acc['compressed']):.1f} pp)",
        ]
    summary = [f"{'run':<22}{'dense':>7}{'pruned':>8}{'compr.':>8}{'drop pp':>8}{'kept':>7}"
               f"{'P':>7}{'P+Q':>7}{'P+Q+H':>7}{'bytes':>8}{'wall s':>8}{'CPU s':>7}"
               f"{'val drop':>9}  extra epochs"]
    for result, report in results:
        label = f"{report['model']}{'-eie4' if report['eie'] else ''}"
        acc, storage = result.accuracy, result.storage
        kept = sum(l.nonzero for l in storage.layers) / sum(l.weights for l in storage.layers)
        summary.append(
            f"{label:<22}{acc['dense']:>7.3f}{acc['pruned']:>8.3f}{acc['compressed']:>8.3f}"
            f"{100 * (acc['dense'] - acc['compressed']):>8.1f}{100 * kept:>6.1f}%"
            f"{storage.ratio('pruned'):>6.1f}x{storage.ratio('quantized'):>6.1f}x"
            f"{storage.ratio('huffman'):>6.1f}x{report['file_bytes']:>8}"
            f"{result.seconds['total']:>8.1f}{report['cpu_seconds']:>7.1f}"
            + (f"{100 * (result.validation['dense'] - result.validation['compressed']):>9.1f}"
               f"  {result.extra_epochs}" if result.validation else f"{'-':>9}  -"))
    machine = {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
               "python": platform.python_version(), "numpy": np.__version__,
               "date": time.strftime("%Y-%m-%d")}
    if args.json == "-":
        json.dump({"machine": machine, "runs": [r for _, r in results]}, sys.stdout, indent=2)
        print()
        return 0
    print("\n".join(lines[1:] + ["", *summary,
                                 f"machine: {machine['cpus']} CPUs, load average "
                                 f"{', '.join(f'{x:.1f}' for x in machine['load_average'])}"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "runs": [r for _, r in results]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
