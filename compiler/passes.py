"""The compiler's passes: small named steps, each ``CompileIR -> CompileIR`` and testable alone.

``DEFAULT_FLOW`` runs them in order (like hls4ml's optimizer passes or QONNX transformations):
validate → quantize → balance → partition → tile → encode → pack → emit.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from zeroskip.compiler.balance import balanced_row_order
from zeroskip.compiler.binary import binary_layer_ir
from zeroskip.compiler.encode import tile_count
from zeroskip.compiler.ir import CompileIR, LayerIR
from zeroskip.compiler.pack import override_hint, pack
from zeroskip.compiler.quantize import choose_formats
from zeroskip.errors import ZeroskipError
from zeroskip.hw.placement import local_rows
from zeroskip.hw.program import Program

ACTIVATIONS = {"relu": True, "none": False}


@runtime_checkable
class SharedModelLayer(Protocol):
    """What the compiler takes as a weight-shared layer (``zeroskip.models.interchange.SharedLayer``
    and anything shaped like it); checked by the models' own ``layer_problem``."""

    codebook: np.ndarray        #: float [K], entry 0 == 0.0
    codes: np.ndarray           #: int [out, in], 0 = pruned
    bias: np.ndarray            #: float [out]
    act: str                    #: 'relu' or 'none'


@runtime_checkable
class FoldedModelLayer(Protocol):
    """What the compiler takes as a binary layer (``zeroskip.models.binary_fold.FoldedLayer``);
    checked by the models' own ``binary_ref.check_layer``."""

    weights: np.ndarray         #: bool [out, in], True = +1
    input_bits: int             #: 0 = bipolar bits, b = b-bit unsigned planes


def to_ir(layer: SharedModelLayer | FoldedModelLayer, index: int):
    """Any supported layer → the IR class of its kind."""
    if isinstance(layer, FoldedModelLayer):
        return binary_layer_ir(layer, index)
    if hasattr(layer, "codes") or hasattr(layer, "codebook"):   # incomplete ones: one clear line
        return layer_ir(layer, index)
    raise ZeroskipError(f"layer {index}: unknown layer type {type(layer).__name__} (neither a "
                        f"sparse layer with codebook/codes/bias/act nor a binary layer with "
                        f"weights/input_bits)")


def layer_ir(layer, index: int) -> LayerIR:
    """Duck-typed layer (``codebook``, ``codes``, ``bias``, ``act``) → checked ``LayerIR``, by
    the models' own validator (``interchange.layer_problem``), any float or integer dtypes."""
    from zeroskip.models.interchange import layer_problem

    for name in ("codebook", "codes", "bias", "act"):
        if not hasattr(layer, name):
            raise ZeroskipError(f"layer {index}: missing attribute '{name}'")
    codes = np.asarray(layer.codes)
    if codes.ndim != 2 or codes.size == 0:
        raise ZeroskipError(f"layer {index}: codes must be a non-empty 2-D [out, in] array, "
                            f"got shape {codes.shape}")
    codebook = np.asarray(layer.codebook)
    bias = np.asarray(layer.bias)
    if codebook.dtype.kind in "fiu":
        codebook = codebook.astype(np.float64)
    if bias.dtype.kind in "fiu":
        bias = bias.astype(np.float64)
    act = str(np.asarray(layer.act).item()) if not isinstance(layer.act, str) else layer.act
    problem = layer_problem(codebook, codes, bias, act, exact_dtypes=False)
    if problem is not None:
        field, message = problem
        raise ZeroskipError(f"layer {index}: {field} {message}")
    return LayerIR(codes=codes, codebook=codebook, bias=bias, relu=ACTIVATIONS[act],
                   name=str(getattr(layer, "name", "") or f"layer{index}"))


def validate(ir: CompileIR) -> CompileIR:
    """Shapes chain, codes index their codebook, everything finite and within the array."""
    check_layers(ir)
    return check_inputs(ir)


def check_layers(ir: CompileIR, banks: bool = True) -> CompileIR:
    """``validate``'s first part, layer by layer: within the architecture, the shapes chain,
    and (with ``banks``) every vector within the activation banks (a conv network's larger maps
    are tiled over space first: ``zeroskip.compiler.spatial``)."""
    if not ir.layers:
        raise ZeroskipError("the model has no layers")
    for index, layer in enumerate(ir.layers):
        layer.check(ir, index)
        if index and layer.vector_in != ir.layers[index - 1].vector_out:
            raise ZeroskipError(f"layer {index}: takes {layer.vector_in} inputs but layer "
                                f"{index - 1} has {ir.layers[index - 1].vector_out} outputs")
        problem = bank_problem(layer, ir.arch) if banks else None
        if problem:
            raise ZeroskipError(f"layer {index} ({layer.name}): {problem}")
    return ir


def bank_problem(layer, arch) -> str | None:
    """Why a layer's input or output vector does not fit the activation banks, or None."""
    for what, n in (("inputs", layer.vector_in), ("outputs", layer.vector_out)):
        if n > arch.max_vector:
            return (f"{n} {what} exceed the array's act_depth x pes = {arch.max_vector}; "
                    f"{override_hint('act_depth', -(-n // arch.pes))}")
    return None


def check_inputs(ir: CompileIR) -> CompileIR:
    """``validate``'s last part: the calibration inputs and ``input_frac``."""
    if ir.calibration is not None:
        x = np.asarray(ir.calibration, dtype=np.float64)
        x = x[None, :] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] != ir.layers[0].vector_in or x.shape[0] == 0:
            raise ZeroskipError(f"calibration data has shape {np.shape(ir.calibration)}; expected "
                                f"[batch, {ir.layers[0].vector_in}]")
        if not np.all(np.isfinite(x)):
            raise ZeroskipError("calibration data contains NaN or infinite values")
        ir.calibration = x
    if ir.input_frac is not None and not (isinstance(ir.input_frac, (int, np.integer))
                                          and -30 <= ir.input_frac <= 30):
        raise ZeroskipError(f"input_frac must be an integer in -30..30, got {ir.input_frac!r}")
    if ir.input_frac is not None:
        ir.input_frac = int(ir.input_frac)          # numpy integers do not go into JSON
    return ir


def quantize(ir: CompileIR) -> CompileIR:
    """Fixed-point formats per layer boundary (see ``zeroskip.compiler.quantize``)."""
    choose_formats(ir)
    return ir


def balance(ir: CompileIR) -> CompileIR:
    """With ``ir.balance``: permute each layer's rows for even PE work, and the next layer's
    columns to match (its inputs arrive in the permuted order)."""
    if not ir.balance:
        return ir
    a = ir.arch
    previous = None
    for layer in ir.layers:
        if previous is not None:
            layer.permute(cols=previous)
        work = layer.row_work()
        if work is None:                # every row has the same work: rows stay in order
            previous = None
            continue
        order = balanced_row_order(work, a.pes, a.acc_depth)
        layer.permute(rows=order)
        layer.row_order = order
        previous = order
    return ir


def partition(ir: CompileIR) -> CompileIR:
    """Row i → PE i mod N: the local rows each PE holds."""
    for layer in ir.layers:
        layer.local_rows = local_rows(layer.out_len, ir.arch.pes)
    return ir


def tile(ir: CompileIR) -> CompileIR:
    """Row tiles of at most ``acc_depth`` local rows: one pass each."""
    a = ir.arch
    for layer in ir.layers:
        tallest = int(layer.local_rows.max())
        tiles = tile_count(layer.out_len, a.pes, a.acc_depth)
        layer.tile_rows = [min(a.acc_depth, tallest - t * a.acc_depth) for t in range(tiles)]
    return ir


def encode(ir: CompileIR) -> CompileIR:
    """Each layer's (tile, PE) column streams of (code, run) entries, padding included."""
    for layer in ir.layers:
        layer.encode(ir.arch)
    return ir


def pack_images(ir: CompileIR) -> CompileIR:
    """Sparse lines, pointers, biases, codebooks and pass descriptors."""
    pack(ir)
    return ir


def emit(ir: CompileIR) -> CompileIR:
    """The ``Program``, checked against the architecture."""
    meta = dict(ir.meta)
    meta["layers"] = [layer.meta(ir.arch) for layer in ir.layers]
    affine = ir.layers[-1].output_affine()
    ir.program = Program(arch=ir.arch, layers=[layer.info() for layer in ir.layers],
                         passes=ir.passes, sparse=ir.sparse, ptr=ir.ptr, bias=ir.bias,
                         codebook=ir.codebook, output_index=ir.output_index, meta=meta,
                         output_affine=affine)
    ir.program.check_fits()
    return ir


DEFAULT_FLOW = [validate, quantize, balance, partition, tile, encode, pack_images, emit]


def run_flow(ir: CompileIR, flow=None) -> CompileIR:
    for step in DEFAULT_FLOW if flow is None else flow:
        ir = step(ir)
    return ir
