"""The numpy reference: executes a compiled program bit-exactly by the fixed-point rules.

``predict`` is the top rung the cycle simulator, the Amaranth simulation and the RTL are all
compared against; ``trace`` returns every layer's integer activations. It reads only the program
(decoding its images), so it checks the whole path from compiler output to arithmetic.
"""

from __future__ import annotations

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.fixedpoint import dequantize
from zeroskip.hw.kinds import kind_of
from zeroskip.hw.program import Program


def quantize_input(program: Program, x: np.ndarray) -> np.ndarray:
    """Float input [in] or [batch, in] → integer activations at the first layer's scale."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] != program.in_len or x.ndim not in (1, 2):
        raise ZeroskipError(f"input has shape {x.shape}; the program takes [{program.in_len}] "
                            f"or [batch, {program.in_len}]")
    if not np.all(np.isfinite(x)):
        raise ZeroskipError("input contains NaN or infinite values")
    first = program.layers[0]
    return kind_of(first.kind).quantize_input(first, x, program.arch.act_bits)


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
    """Integer activations at every layer boundary for integer inputs [batch, in]: each layer's
    whole weight matrix, rebuilt from the decoded images, by its kind's arithmetic."""
    decoded = program.decoded
    acts = [np.atleast_2d(np.asarray(xq, dtype=np.int64))]
    for index, layer in enumerate(program.layers):
        kind = decoded.kind(index)
        acts.append(kind.forward(program, layer, decoded.weights(index),
                                 decoded.bias(index)[None, :], acts[-1]))
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
