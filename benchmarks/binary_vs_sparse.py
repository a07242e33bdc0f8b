"""Binary vs sparse on one array: the 4-bit Deep-Compression LeNet-300-100 and the binary MLP
(784-256-256-10; BWN or XNOR, with or without distillation) compiled onto the same array
(``zeroskip.demo.demo_arch(pes)``), the 1,000 held-out MNIST images through the cycle simulator.

Per model: accuracy (the model's own, and the array's), cycles, µs at the array's clock and
energy per image (means; the 45 nm table), and weight storage from each flow's own accounting
(sparse: the compression report's 4-bit codes + relative indices + pointers + codebook + biases,
and the Huffman-coded file; binary: the binary report's weight bits + thresholds / scales).

    .venv/bin/python benchmarks/binary_vs_sparse.py [--pes 8] [--mode xnor|bwn] [--distill]
                                                    [--all] [--seed S] [--cache DIR] [--json FILE]

``--cache DIR`` reuses trained models: ``lenet300.npz`` + ``lenet300.json`` (what ``zeroskip
compress lenet300 --eie --interchange lenet300.npz --json lenet300.json`` writes) and
``binary-<mode>[-distill].npz`` + ``.json`` (``zeroskip compress binary-mlp --mode M
[--distill] -o ... --json ...``); whatever is missing is trained and written there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from zeroskip.demo import CALIBRATION_IMAGES, demo_arch, print_side_by_side, run_on_array
from zeroskip.files import write_atomic
from zeroskip.models import binary_layers, binary_ref
from zeroskip.models.data import mnist_split
from zeroskip.progress import Progress

SPARSE = "lenet300"


def binary_stem(mode: str, distill: bool) -> str:
    return f"binary-{mode}{'-distill' if distill else ''}"


def _cached(cache: Path | None, stem: str) -> tuple[Path, Path] | None:
    if cache is None:
        return None
    model, report = cache / f"{stem}.npz", cache / f"{stem}.json"
    return (model, report) if model.exists() and report.exists() else None


def sparse_model(seed: int, data, cache: Path | None, progress: Progress):
    """The 4-bit EIE-mode LeNet-300-100 (as ``zeroskip demo``): its layers and report."""
    from zeroskip.models import compress as pipeline
    from zeroskip.models.interchange import load_array_layers, save_interchange

    found = _cached(cache, SPARSE)
    if found:
        return load_array_layers(found[0]), json.loads(found[1].read_text())
    result = pipeline.compress(pipeline.default_config(SPARSE, eie=True, seed=seed), data=data,
                               progress=progress)
    layers, report = result.model.fc_layers(SPARSE), result.report()
    if cache is not None:
        save_interchange(cache / f"{SPARSE}.npz", layers)
        write_atomic(cache / f"{SPARSE}.json", json.dumps(report, indent=2))
    return layers, report


def binary_model(mode: str, distill: bool, seed: int, cache: Path | None, progress: Progress,
                 teacher: dict):
    """The folded binary MLP and its report; ``teacher`` memoises the float baseline."""
    from zeroskip.models.compress_binary import BinaryRun, compress_binary, train_teacher

    stem = binary_stem(mode, distill)
    found = _cached(cache, stem)
    if found:
        return binary_ref.load(found[0]), json.loads(found[1].read_text())
    run = BinaryRun(mode=mode, distill=distill, seed=seed)
    if "net" not in teacher:
        x, y, _, _ = mnist_split(seed)
        teacher["net"] = train_teacher(run, x, y, progress)
    result = compress_binary(run, progress, teacher=teacher["net"])
    if cache is not None:
        binary_ref.save(cache / f"{stem}.npz", result.folded)
        write_atomic(cache / f"{stem}.json", json.dumps(result.report, indent=2))
    return result.folded, result.report


def sparse_storage(report: dict) -> dict:
    quantized = sum(layer["quantized_bits"] for layer in report["layers"]) // 8
    return {"weight_bytes": quantized, "ratio": report["dense_bytes"] / quantized,
            "file_bytes": report["file_bytes"], "file_ratio": report["compression_ratio"],
            "float32_bytes": report["dense_bytes"]}


def binary_storage(report: dict) -> dict:
    return {"weight_bytes": report["binary_bytes"], "ratio": report["compression_ratio"],
            "file_bytes": None, "file_ratio": None, "float32_bytes": report["float32_bytes"]}


def print_storage(rows: list[dict]) -> None:
    print("\nWeight storage (each flow's own accounting; float32 = weights + biases x 32 bit)")
    head = (f"{'model':<28}{'float32 B':>11}{'stored B':>10}{'ratio':>8}{'Huffman file B':>16}"
            f"{'ratio':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        s = r["storage"]
        file_part = (f"{s['file_bytes']:>16}{s['file_ratio']:>7.1f}x" if s["file_bytes"]
                     else f"{'-':>16}{'-':>8}")
        print(f"{r['name']:<28}{s['float32_bytes']:>11}{s['weight_bytes']:>10}{s['ratio']:>7.1f}x"
              f"{file_part}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pes", type=int, default=8, help="PEs of the array (demo_arch(pes))")
    parser.add_argument("--mode", default="xnor", choices=binary_layers.MODES, help="binary MLP flavour")
    parser.add_argument("--distill", action="store_true", help="the distilled binary MLP")
    parser.add_argument("--all", action="store_true",
                        help="all four binary MLPs (BWN, XNOR; with and without distillation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", metavar="DIR", help="reuse / keep trained models here")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    progress = Progress(args.quiet)
    cache = Path(args.cache) if args.cache else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)

    from zeroskip.compiler import compile_layers

    data = mnist_split(args.seed)
    x_train, _, x_test, y_test = data
    arch = demo_arch(args.pes)
    variants = ([(m, d) for m in binary_layers.MODES for d in (False, True)] if args.all
                else [(args.mode, args.distill)])

    layers, report = sparse_model(args.seed, data, cache, progress)
    models = [("LeNet-300-100, 4-bit sparse", layers, report["accuracy_compressed"],
               sparse_storage(report))]
    teacher: dict = {}
    for mode, distill in variants:
        folded, report = binary_model(mode, distill, args.seed, cache, progress, teacher)
        models.append((f"binary MLP ({mode}{', distilled' if distill else ''})", folded,
                       report["accuracy_binary"], binary_storage(report)))

    rows = []
    for name, model_layers, accuracy, storage in models:
        start = time.perf_counter()
        program = compile_layers(model_layers, arch, calibration=x_train[:CALIBRATION_IMAGES])
        row = run_on_array(name, program, x_test, y_test, accuracy)
        row.update(storage=storage, sim_seconds=time.perf_counter() - start)
        rows.append(row)
        progress(f"{name}: compiled and simulated in {row['sim_seconds']:.1f} s")

    print_side_by_side(rows)
    print_storage(rows)
    if args.json:
        write_atomic(args.json, json.dumps({"arch": arch.to_dict(), "seed": args.seed,
                                            "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
