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


def bank_length(program: Program) -> int:
    """Activations a bank model needs: the longest vector any layer reads or writes."""
    return max(max(layer.in_len, layer.out_len) for layer in program.layers)


class ActivationBanks:
    """The array's two activation banks for a batch, as the reference, the simulator and the
    compiler's quantize pass model them: the input starts in bank 0, layer i reads bank i mod 2
    and writes the other, and the positions it does not write keep what an earlier layer wrote
    (a value resting in its bank, docs/conv.md "Graphs"). ``known`` marks, per bank, the
    positions some layer (or the input) wrote."""

    def __init__(self, inputs: np.ndarray, length: int):
        self.banks = [np.zeros((inputs.shape[0], length), np.int64) for _ in range(2)]
        self.known = [np.zeros(length, bool) for _ in range(2)]
        self.banks[0][:, :inputs.shape[1]] = inputs
        self.known[0][:inputs.shape[1]] = True

    def source(self, layer: int, length: int) -> np.ndarray:
        """The first ``length`` activations layer ``layer`` reads (a view)."""
        return self.banks[layer % 2][:, :length]

    def target(self, layer: int, length: int) -> np.ndarray:
        """A copy of the first ``length`` activations of the bank layer ``layer`` writes."""
        return self.banks[1 - layer % 2][:, :length].copy()

    def write(self, layer: int, out: np.ndarray, written: np.ndarray | None = None) -> None:
        """Layer ``layer``'s outputs into its destination bank: the positions ``written`` marks
        (bool), or all of ``out``'s."""
        columns = np.flatnonzero(written) if written is not None else np.arange(out.shape[1])
        self.banks[1 - layer % 2][:, columns] = out[:, columns]
        self.known[1 - layer % 2][columns] = True


def trace_int(program: Program, xq: np.ndarray) -> list[np.ndarray]:
    """Integer activations at every layer boundary for integer inputs [batch, in]: each layer's
    whole weight matrix, rebuilt from the decoded images, by its kind's arithmetic.

    The array's two activation banks are modelled as they are: layer i reads bank i mod 2 and
    writes the other, and the positions it does not write keep what an earlier layer wrote (a
    value resting in its bank, docs/conv.md "Graphs"). A layer that reads a position no layer of
    this input wrote is an error, as the hardware would read a stale value there."""
    decoded = program.decoded
    xs = np.atleast_2d(np.asarray(xq, dtype=np.int64))
    banks = ActivationBanks(xs, bank_length(program))
    acts = [xs]
    for index, layer in enumerate(program.layers):
        missing = _unwritten_read(program, layer, banks.known[index % 2])
        if missing is not None:
            raise ZeroskipError(f"layer {index}: reads activation {missing} of its source bank, "
                                "which no earlier layer wrote for this input")
        kind = decoded.kind(index)
        out = kind.forward(program, layer, decoded.weights(index), decoded.bias(index)[None, :],
                           banks.source(index, layer.in_len))
        banks.write(index, out, kind.written(program, layer))
        acts.append(banks.target(index, layer.out_len))
    return acts


def _unwritten_read(program: Program, layer, known: np.ndarray) -> int | None:
    """The first position a layer reads that ``known`` lacks, or None: a windowed layer reads
    its windows' positions inside the map, the others their whole input."""
    if layer.geometry is not None:
        index = layer.geometry.windows(program.arch.pes).index
        read = np.unique(index[index >= 0])
    else:
        read = np.arange(layer.in_len)
    bad = read[~known[read]]
    return int(bad[0]) if len(bad) else None


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
