"""``zeroskip run --port sim`` on the demo's two programs: outputs and cycle counters against
``zeroskip sim`` on the same held-out MNIST images.

The programs are the ones ``zeroskip demo -o DIR`` writes (``DIR/lenet300_8pe``,
``DIR/binary_mlp_8pe``); give that directory with ``--demo DIR``. ``--make`` writes them first,
with the demo's own steps (the same training, seeds, calibration and compilation), without the
demo's RTL co-verification step. Each program runs through the
command line exactly as a user runs it: ``zeroskip run PROG --port sim --input X.npy --output
A.npy --check`` (the board's design under Verilator behind a pseudo-terminal), then ``zeroskip
sim PROG --input X.npy --output B.npy --json S.json``; the script compares A and B bit for bit
and the cycle counters ``run`` printed with the simulator's per-input counts.

    .venv/bin/python benchmarks/board_run.py --demo out/demo [--make] [--images 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

PROGRAMS = ("lenet300_8pe", "binary_mlp_8pe")


def zeroskip(*argv: str) -> tuple[int, str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "zeroskip.cli", *argv], capture_output=True,
                          text=True)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def make_demo_programs(out: str, seed: int = 0, mode: str = "xnor") -> None:
    """The two programs ``zeroskip demo -o out`` saves (its steps 1 to 3)."""
    from pathlib import Path

    from zeroskip import demo
    from zeroskip.compiler import compile_layers
    from zeroskip.models.data import mnist_split

    options = argparse.Namespace(out=out, seed=seed, quiet=True, mode=mode, rtl_images=1)
    Path(out).mkdir(parents=True, exist_ok=True)
    sparse_layers, _ = demo.sparse_model(options)
    binary_layers, _ = demo.binary_model(options, Path(out))
    x_train = mnist_split(seed)[0]
    arch = demo.demo_arch(demo.SIM_PES)
    for stem, layers in (("lenet300", sparse_layers), ("binary_mlp", binary_layers)):
        program = compile_layers(layers, arch, calibration=x_train[:demo.CALIBRATION_IMAGES])
        program.save(os.path.join(out, f"{stem}_{demo.SIM_PES}pe"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", required=True, help="the directory `zeroskip demo -o` wrote")
    parser.add_argument("--make", action="store_true",
                        help="write the demo's programs into --demo first (trains both networks)")
    parser.add_argument("--images", type=int, default=5, help="held-out MNIST images per program")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.make:
        make_demo_programs(args.demo)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.npy")
        status, text, _ = zeroskip("-q", "data", "mnist", "--count", str(args.images), "-o", x)
        if status:
            print(text, file=sys.stderr)
            return 2
        for name in PROGRAMS:
            program = os.path.join(args.demo, name)
            board_out, sim_out = os.path.join(tmp, f"{name}_run.npy"), os.path.join(tmp, f"{name}_sim.npy")
            sim_json = os.path.join(tmp, f"{name}_sim.json")
            status, run_text, run_s = zeroskip("run", program, "--port", "sim", "--input", x,
                                               "--output", board_out, "--check")
            print(run_text.strip(), file=sys.stderr)
            sim_status, sim_text, _ = zeroskip("-q", "sim", program, "--input", x, "--output",
                                               sim_out, "--json", sim_json)
            if sim_status:
                print(sim_text, file=sys.stderr)
                return 2
            run_cycles = [int(c) for c in re.findall(r"input \d+/\d+: (\d+) cycles", run_text)]
            report = json.load(open(sim_json))
            sim_cycles = [int(c) for c in report["per_input"]["cycles"]]
            same = (status == 0 and os.path.exists(board_out)
                    and np.array_equal(np.load(board_out), np.load(sim_out)))
            if args.images == 1:      # one input: run prints no per-input line, only the mean
                found = re.search(r"on sim: (\d+) cycles per input", run_text)
                run_cycles = [int(found[1])] if found else []
            link = re.search(r"(\d+) frames in ([\d.]+) s", run_text)
            rows.append({"program": name, "images": args.images, "run_status": status,
                         "outputs_identical_to_sim": bool(same), "run_cycles": run_cycles,
                         "sim_cycles": sim_cycles, "frames": int(link[1]) if link else None,
                         "link_seconds": float(link[2]) if link else None,
                         "run_seconds": round(run_s, 1)})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['program']}: {r['images']} images, run exit {r['run_status']}, outputs "
                  f"identical to sim: {r['outputs_identical_to_sim']}, cycles (run) "
                  f"{r['run_cycles']}, sim {r['sim_cycles']}, {r['frames']} frames in "
                  f"{r['link_seconds']} s on the link, {r['run_seconds']} s in all")
    return 0 if all(r["run_status"] == 0 and r["outputs_identical_to_sim"]
                    and r["run_cycles"] == r["sim_cycles"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
