"""The numpy reference: executes a compiled program bit-exactly by the fixed-point rules.

``predict`` is the top rung the cycle simulator, the Amaranth simulation and the RTL are all
compared against; ``trace`` returns every layer's integer activations. It reads only the program
(decoding its images), so it checks the whole path from compiler output to arithmetic.
"""

from __future__ import annotations


import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.fixedpoint import (binarize, binary_dot, dequantize, quantize, quantize_planes,
                                    requantize, wrap)
from zeroskip.hw.program import KIND_BINARY, KIND_SPARSE, Program, decode_binary_layer, decode_layer


def _layer_matrix(program: Program, index: int) -> np.ndarray:
    """Integer weight matrix [out, in] of a sparse layer (codebook values at weight scale)."""
    cache = program.__dict__.setdefault("_reference_cache", {})
    if index not in cache:
        if program.layers[index].kind == KIND_BINARY:
            cache[index] = decode_binary_layer(program, index)
        else:
            cache[index] = program.codebook[index][decode_layer(program, index)]
    return cache[index]


def _layer_bias(program: Program, index: int) -> np.ndarray:
    """Bias [out] of a layer, gathered from the per-PE bias images."""
    a = program.arch
    layer = program.layers[index]
    bias = np.zeros(layer.out_len, dtype=np.int64)
    for p in program.passes:
        if p.layer != index:
            continue
        local = p.row_base + np.arange(p.rows)
        for pe in range(a.pes):
            rows = local * a.pes + pe
            ok = rows < layer.out_len
            bias[rows[ok]] = program.bias[pe, p.bias_base + np.arange(p.rows)[ok]]
    return bias


def quantize_input(program: Program, x: np.ndarray) -> np.ndarray:
    """Float input [in] or [batch, in] → integer activations at the first layer's scale."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] != program.in_len or x.ndim not in (1, 2):
        raise ZeroskipError(f"input has shape {x.shape}; the program takes [{program.in_len}] "
                            f"or [batch, {program.in_len}]")
    if not np.all(np.isfinite(x)):
        raise ZeroskipError("input contains NaN or infinite values")
    first = program.layers[0]
    if first.kind == KIND_BINARY and first.planes:
        return quantize_planes(x, first.planes)     # unsigned b-bit input planes
    return quantize(x, first.in_frac, program.arch.act_bits)


def integer_inputs(program: Program, xq) -> np.ndarray:
    """Integer activations [in] or [batch, in] → int64 [batch, in], or one error line."""
    xs = np.atleast_2d(np.asarray(xq))
    if xs.ndim != 2 or xs.shape[1] != program.in_len:
        raise ZeroskipError(f"integer input has shape {np.shape(xq)}; the program takes "
                            f"[{program.in_len}] or [batch, {program.in_len}]")
    if not np.issubdtype(xs.dtype, np.integer):
        raise ZeroskipError("expected integer activations (quantize float inputs with "
                            "quantize_input)")
    return xs.astype(np.int64)


def trace_int(program: Program, xq: np.ndarray) -> list[np.ndarray]:
    """Integer activations at every layer boundary for integer inputs [batch, in]."""
    a = program.arch
    acts = [np.atleast_2d(np.asarray(xq, dtype=np.int64))]
    for index, layer in enumerate(program.layers):
        bias = _layer_bias(program, index)[None, :]
        if layer.kind == KIND_BINARY:
            dot = wrap(binary_dot(acts[-1], _layer_matrix(program, index), layer.planes), a.acc_bits)
            acts.append(binarize(dot, bias, layer.out_frac) if layer.binarize else
                        requantize(dot, bias, layer.shift, False, a.acc_bits, a.act_bits))
            continue
        if layer.kind != KIND_SPARSE:
            raise ZeroskipError(f"layer {index}: unknown kind {layer.kind}")
        acc = wrap(acts[-1] @ _layer_matrix(program, index).T, a.acc_bits)
        acts.append(requantize(acc, bias, layer.shift, layer.relu, a.acc_bits, a.act_bits))
    return acts


def predict_int(program: Program, xq: np.ndarray) -> np.ndarray:
    """Integer outputs [batch, out] in the array's order (what the hardware's banks hold)."""
    return trace_int(program, xq)[-1]


def trace(program: Program, x: np.ndarray) -> list[np.ndarray]:
    """Dequantized activations at every layer boundary (input first), float inputs."""
    xq = quantize_input(program, x)
    fracs = [program.layers[0].in_frac] + [l.out_frac for l in program.layers]
    out = [dequantize(q, f).astype(np.float32) for q, f in zip(trace_int(program, xq), fracs)]
    out[-1] = program.logical_output(out[-1])
    return [o[0] for o in out] if np.asarray(x).ndim == 1 else out


def predict(program: Program, x: np.ndarray) -> np.ndarray:
    """Float input [in] or [batch, in] → dequantized float32 output of the same batch shape."""
    return trace(program, x)[-1]
