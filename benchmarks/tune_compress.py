"""Choosing a compression default without the held-out images: candidates on development seeds,
judged on the validation split only.

The claims (tests/models/test_claims.py) are measured on seeds 0-2's 1,000 held-out images. A
default chosen by looking at those figures would be fitted to them, so this script never
measures held-out images at all (``compress`` gets no test part): each candidate runs on the
development seeds (default 10-15), and the figure of merit is the mean validation drop
(dense - compressed accuracy on the 500 validation images carved from the training part),
subject to the compression ratio.

    python benchmarks/tune_compress.py [--model lenet300] [--eie on|off] [--seeds 10,11,...]
                                       [--candidates NAME,...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace

from zeroskip.models.compress import compress, default_config
from zeroskip.models.data import mnist_split


def candidates(model: str, eie: bool) -> dict:
    """The configurations compared: today's default, the one before it (no shifts), and single
    changes to that one (then combined), as they were measured."""
    base = default_config(model, eie=eie)
    unshifted = {phase: replace(getattr(base, phase), shift=0) for phase in ("dense", "prune", "finetune")}
    before = replace(base, **unshifted)          # the default until 2026-12-05
    prune = before.prune
    return {
        "default": base,
        "no-shift": before,
        "paper-dropout": replace(before, retrain_dropout=True),
        "lr-decay": replace(before, prune=replace(prune, lr_decay=0.8)),
        "paper-dropout+lr-decay": replace(before, retrain_dropout=True,
                                          prune=replace(prune, lr_decay=0.8)),
        "prune-8-epochs": replace(before, prune=replace(prune, epochs=8)),
        "distill-0.5": replace(before, retrain_distill=0.5),
        "steps-6x6": replace(before, prune_steps=6, prune=replace(prune, epochs=6)),
        "steps-8x4": replace(before, prune_steps=8, prune=replace(prune, epochs=4)),
        "budget-0.5pp": replace(before, prune_budget=0.005),
        "quality-x0.95": replace(before, quality=tuple(0.95 * q for q in before.quality)),
        "quality-x0.9": replace(before, quality=tuple(0.9 * q for q in before.quality)),
        "quality-x0.95+budget-0.5pp": replace(before, prune_budget=0.005,
                                              quality=tuple(0.95 * q for q in before.quality)),
        # the seednets' augmentation (docs/seednets.md) in the retraining only; in every phase
        # it is today's default
        "retrain-shift-2": replace(before, prune=replace(prune, shift=2)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet300")
    parser.add_argument("--eie", choices=("on", "off"), default="off")
    parser.add_argument("--seeds", default="10,11,12,13,14,15")
    parser.add_argument("--candidates", default="", help="comma-separated subset")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if any(s in (0, 1, 2) for s in seeds):
        print("tune_compress: seeds 0-2 are the claims' seeds; develop on others", file=sys.stderr)
        return 2
    pool = candidates(args.model, args.eie == "on")
    chosen = args.candidates.split(",") if args.candidates else list(pool)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} {args.model} "
          f"eie={args.eie} seeds {seeds}; validation split only, no held-out image measured")
    rows = []
    for name in chosen:
        drops, ratios = [], []
        for seed in seeds:
            x_train, y_train, _, _ = mnist_split(seed)
            result = compress(replace(pool[name], seed=seed), data=(x_train, y_train, None, None))
            val = result.validation
            drops.append(val["dense"] - val["compressed"])
            ratios.append(result.storage.ratio("huffman"))
            rows.append(dict(candidate=name, seed=seed, val_dense=val["dense"],
                             val_compressed=val["compressed"], ratio=ratios[-1],
                             extra_epochs=result.extra_epochs))
            print(f"{name:24s} seed {seed:3d}: validation {val['dense']:.3f} -> "
                  f"{val['compressed']:.3f} (drop {100 * drops[-1]:+.1f} pp), {ratios[-1]:.1f}x",
                  flush=True)
        print(f"{name:24s} MEAN: drop {100 * sum(drops) / len(drops):+.2f} pp, worst "
              f"{100 * max(drops):+.1f} pp, ratio {min(ratios):.1f}-{max(ratios):.1f}x", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
