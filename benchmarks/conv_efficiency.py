"""Efficiency of conv layers on the array (docs/conv.md), each against the same layer lowered as
a plain FC layer with the windows unrolled on the host (im2col: one FC pass per output pixel,
the patch sent as the pass's input vector).

Layers (random weights and inputs, seeded; N PEs, ``small`` otherwise):

- a 3x3 conv, 64 → 64 on 14x14 (pad 1), 50 % weights, 40 % non-zero activations;
- a 1x1 conv, 64 → 64 on 14x14, the same densities;
- a depthwise 3x3 conv, 64 channels on 14x14 (pad 1), the same densities, lowered
  block-diagonally (docs/conv.md);
- with ``--model lenet5.zsk``: LeNet-5's conv2 on the maps its conv1 + pool1 make of MNIST
  test images (the model's own weights and activations), plain and with ``block_pools`` (2x2
  blocks of output pixels per pass: its FC lowering then has the blocked window's columns).

Per layer: cycles per image, the ideal (the busiest PE's MACs per pixel-pass, summed), the
efficiency ideal / cycles, window padding cycles, and the same for the im2col FC lowering.

    .venv/bin/python benchmarks/conv_efficiency.py [--pes 16] [--images 8] [--model lenet5.zsk]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from zeroskip.compiler import compile_layers
from zeroskip.compiler.conv import random_conv_program
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.conv import gather
from zeroskip.hw.kinds import decode_layer
from zeroskip.hw.reference import quantize_input, trace_int
from zeroskip.models.interchange import SharedLayer
from zeroskip.sim.simulator import simulate_int
from zeroskip.table import format_table


def im2col_fc(program, layer: int, maps: np.ndarray):
    """The conv layer ``layer`` of ``program`` as an FC layer over its windows: cycles and ideal
    cycles per image (pass cycles only: no program head or tail per pixel)."""
    info = program.layers[layer]
    g = info.geometry
    codes = decode_layer(program, layer)                               # [rows, k·k·C]
    book = np.zeros(program.arch.codebook_size)
    book[1:] = 1.0                                                     # timing needs the codes only
    fc = compile_layers([SharedLayer(book.astype(np.float32), codes.astype(np.uint8),
                                     np.zeros(len(codes), np.float32), "none")],
                        program.arch, input_frac=info.in_frac)
    patches = gather(maps, g.windows(program.arch.pes)).reshape(-1, g.columns)
    result = simulate_int(fc, np.clip(patches, -(1 << 15), (1 << 15) - 1))
    per_image = lambda v: v.reshape(len(maps), g.pixels).sum(axis=1)   # noqa: E731
    return per_image(result.pass_cycles.sum(axis=1)), per_image(result.ideal_cycles)


def measure(name: str, program, maps: np.ndarray) -> list:
    """One table row: ``program``'s first layer (a conv) on the array for the input ``maps``,
    and its im2col FC lowering."""
    sim = simulate_int(program, maps)
    cycles, ideal = sim.layer_cycles[:, 0], sim.layer_ideal_cycles[:, 0]
    fc_cycles, fc_ideal = im2col_fc(program, 0, maps)
    g = program.layers[0].geometry
    return [name, g.pixels, cycles.mean(), ideal.mean(), ideal.sum() / cycles.sum(),
            sim.layer_padding[:, 0].mean(), fc_cycles.mean(), fc_ideal.sum() / fc_cycles.sum(),
            fc_cycles.sum() / cycles.sum()]


@dataclasses.dataclass(frozen=True, eq=False)
class Depthwise:
    """A depthwise conv as a model hands it over (``groups`` = channels)."""

    codebook: np.ndarray
    codes: np.ndarray
    bias: np.ndarray
    act: str
    kernel: int
    stride: int
    pad: int
    groups: int
    name: str = "depthwise"


def depthwise(arch, seed: int, images: int):
    """A depthwise 3x3 conv of 64 channels on 14x14: the program and integer input maps."""
    from zeroskip.models.interchange import MapInput

    rng = np.random.default_rng(seed)
    codes = rng.integers(1, arch.codebook_size, (64, 9)) * (rng.random((64, 9)) < 0.5)
    book = np.concatenate([[0.0], rng.uniform(-1, 1, arch.codebook_size - 1)])
    layer = Depthwise(book.astype(np.float32), codes.astype(np.uint8),
                      rng.uniform(-0.3, 0.3, 64).astype(np.float32), "relu", 3, 1, 1, 64)
    x = rng.uniform(-1, 1, (images, 14 * 14 * 64)) * (rng.random((images, 14 * 14 * 64)) < 0.4)
    program = compile_layers([MapInput(14, 14, 64), layer], arch, calibration=x)
    return program, quantize_input(program, x)


def first_layer_program(program, layer: int):
    """A program of ``layer`` alone (its maps come from the caller)."""
    from zeroskip.hw.program import Program

    passes = [dataclasses.replace(p, layer=0) for p in program.passes if p.layer == layer]
    info = program.layers[layer]
    return Program(arch=program.arch, layers=[info], passes=passes, sparse=program.sparse,
                   ptr=program.ptr, bias=program.bias,
                   codebook=program.codebook[layer:layer + 1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pes", type=int, default=16)
    parser.add_argument("--images", type=int, default=8, help="images (random maps) per layer")
    parser.add_argument("--model", help="a compressed LeNet-5 (zeroskip compress lenet5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    arch = dataclasses.replace(PRESETS["small"], pes=args.pes, act_depth=2048, ptr_depth=8192,
                               sparse_depth=4096, name=f"small{args.pes}")
    rows = []
    for name, kernel, pad in (("3x3 conv 64->64, 14x14", 3, 1), ("1x1 conv 64->64, 14x14", 1, 0)):
        program, x = random_conv_program(arch, args.seed, height=14, width=14, channels=64,
                                         convs=((64, kernel, 1, pad),), pool=None, classes=None,
                                         density=0.5, batch=args.images, input_density=0.4)
        rows.append(measure(name, program, quantize_input(program, x)))
    rows.append(measure("depthwise 3x3, 64 ch, 14x14", *depthwise(arch, args.seed, args.images)))
    if args.model:
        from zeroskip.models.data import mnist_split

        from zeroskip.compiler import compile_file

        x_train, _, x_test, _ = mnist_split()
        images = x_test[:args.images]
        lenet = compile_file(args.model, arch, calibration=x_train[:256])
        maps = trace_int(lenet, quantize_input(lenet, images))[2]       # after conv1 + pool1
        rows.append(measure("LeNet-5 conv2 (MNIST maps)", first_layer_program(lenet, 2), maps))
        blocked = compile_file(args.model, arch, calibration=x_train[:256], block_pools=True)
        rows.append(measure("LeNet-5 conv2, 2x2 blocks", first_layer_program(blocked, 2),
                            trace_int(blocked, quantize_input(blocked, images))[2]))
    print(format_table(["layer", "pixels", "cycles", "ideal", "effic.", "window pad",
                        "im2col FC cycles", "FC effic.", "FC / conv"], rows,
                       ["", "d", ".0f", ".0f", ".1%", ".0f", ".0f", ".1%", ".2f"]))
    print(f"per image, {arch.pes} PEs, mean over {args.images} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
