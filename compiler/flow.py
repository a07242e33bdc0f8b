"""The compiler's entry points: layers (or a model file) → ``Program``."""

from __future__ import annotations

import os
import time

import numpy as np

from zeroskip.compiler.ir import CompileIR
from zeroskip.compiler.binary import is_binary_model_file
from zeroskip.compiler.conv import lower_layers
from zeroskip.compiler.passes import DEFAULT_FLOW, run_flow, to_ir
from zeroskip.hw.arch import ArchConfig, load_arch
from zeroskip.hw.program import Program


def compile_layers(layers, arch: ArchConfig, calibration: np.ndarray | None = None,
                   balance: bool = False, input_frac: int | None = None,
                   block_pools: bool = False, row_passes: bool = False) -> Program:
    """Lower fully-connected layers onto ``arch``.

    ``layers``: objects with ``codebook`` (float[K], entry 0 == 0.0), ``codes`` (int [out, in],
    0 = pruned), ``bias`` (float[out]) and ``act`` ('relu' | 'none'); or binary layers
    (``zeroskip.models.binary_fold.FoldedLayer``: ``weights`` bool [out, in], ``input_bits``,
    ``thresholds``/``flip`` or ``scale``/``offset``), mixed freely (docs/binary-mode.md). ``calibration``: float
    inputs [batch, in] that set the fixed-point scales (docs/fixed-point.md); without them,
    inputs are assumed in [-1, 1]. ``balance``: permute rows for even PE work (outputs come back
    in the model's order through ``Program.output_index``). ``input_frac`` fixes the input's
    fractional bits. ``block_pools`` and ``row_passes``: the conv mappings of
    ``conv.lower_layers`` (docs/conv.md).
    """
    start = time.perf_counter()
    arch = load_arch(arch)
    ir = CompileIR(arch=arch, layers=lower_layers(layers, arch, to_ir, block_pools, row_passes),
                   calibration=calibration, input_frac=input_frac, balance=balance)
    ir.meta["compiler"] = {"balance": bool(balance), "block_pools": bool(block_pools),
                           "row_passes": bool(row_passes),
                           "input_frac": None if input_frac is None else int(input_frac),
                           "calibration": None if calibration is None else int(np.atleast_2d(calibration).shape[0]),
                           "flow": [step.__name__ for step in DEFAULT_FLOW]}
    program = run_flow(ir).program
    program.meta["compiler"]["seconds"] = round(time.perf_counter() - start, 3)
    return program


def compile_file(path: str, arch: ArchConfig, calibration: np.ndarray | None = None,
                 balance: bool = False, input_frac: int | None = None,
                 block_pools: bool = False, row_passes: bool = False) -> Program:
    """Compile a compressed model file or interchange ``.npz`` (read by
    ``zeroskip.models.interchange.load_array_layers``), or a folded binary model
    (``zeroskip.models.binary_ref.save``; told apart by its ``format`` array). A conv network
    whose maps do not fit the activation banks becomes a ``TiledProgram``
    (``zeroskip.compiler.spatial``, docs/conv.md "Spatial tiling")."""
    from zeroskip.models.binary_ref import load as load_binary
    from zeroskip.models.interchange import load_array_layers

    from zeroskip.compiler.graph import compile_graph_file, load_graph

    graph = None if is_binary_model_file(path) else load_graph(path)
    if graph is not None:
        return compile_graph_file(path, graph, arch, calibration=calibration, balance=balance,
                                  input_frac=input_frac, row_passes=row_passes)
    from zeroskip.compiler.spatial import compile_spatial

    layers = load_binary(path) if is_binary_model_file(path) else load_array_layers(path)
    program = compile_spatial(layers, arch, calibration=calibration,
                              balance=balance, input_frac=input_frac, block_pools=block_pools,
                              row_passes=row_passes)
    program.meta["source"] = str(path)
    return program


def compile(model, arch: ArchConfig | str = "small", calibration: np.ndarray | None = None,
            balance: bool = False, input_frac: int | None = None,
            input_shape: tuple | None = None) -> Program:
    """The one-call form: ``model`` is a file (compressed model, interchange ``.npz``, ONNX or
    folded binary model), a list of layers, or a weight-shared ``models.network.Graph``
    (branches, concat, add, shuffle: ``zeroskip.compiler.graph``; ``input_shape`` (h, w, c)
    unless it starts with an nchw or reshape node); ``arch`` a preset name, JSON file or
    config. A chain of layers whose maps do not fit the activation banks is tiled over space
    (a ``TiledProgram``, docs/conv.md "Spatial tiling")."""
    from zeroskip.compiler.graph import compile_graph, is_graph

    if is_graph(model):
        return compile_graph(model, arch, calibration=calibration, input_shape=input_shape,
                             balance=balance, input_frac=input_frac)
    if isinstance(model, (str, os.PathLike)):
        return compile_file(os.fspath(model), arch, calibration=calibration, balance=balance,
                            input_frac=input_frac)
    from zeroskip.compiler.spatial import compile_spatial

    return compile_spatial(model, arch, calibration=calibration, balance=balance,
                           input_frac=input_frac)
