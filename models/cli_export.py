"""``zeroskip export MODEL -o MODEL.onnx``: a compressed model as a standard ONNX graph.

MODEL is anything ``zeroskip compile`` reads that holds weight-shared layers (a compressed model
file, an interchange ``.npz``, a weight-shared ONNX model). The graph (Conv, Relu, MaxPool,
Flatten, Gemm; docs/onnx.md) runs in onnxruntime: its float weights are the codebook values,
0.0 where pruned, and importing it back gives the same codebooks and codes, so compiling the
export gives the program the model itself compiles to.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="compressed model file (.zsk), interchange .npz or "
                                      "weight-shared ONNX model")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.onnx",
                        help="ONNX file to write (atomically)")


def run(args) -> int:
    from zeroskip.files import write_atomic

    from .interchange import load_model
    from .onnx import export

    layers = load_model(args.model)
    data = export(layers, source=str(args.model))
    write_atomic(args.output, data)
    if not args.quiet:
        print(f"wrote {args.output} ({len(layers)} layers, {len(data)} bytes)")
    return 0
