"""Storage accounting, stage by stage, with every overhead counted (Deep Compression Tables 1-2).

Per weighted layer, in bits:

- dense:     (weights + biases) × 32
- pruned:    entries × (32 + r) + rows × p + biases × 32
             entries = surviving weights + filler zeros (relative index width r, see ``sparse``),
             p = bits per row pointer = bit_length(entries)
- quantized: entries × (ceil(log2 K) + r) + K × 32 + rows × p + biases × 32
             (K codebook entries in float32, code 0 = pruned included)
- huffman:   the layer's section of the compressed model file, byte for byte (section header,
             codebook, biases, pointers, both Huffman length tables, both bit streams)

The Huffman total also counts the file's own overhead (magic, version, JSON header, checksum),
so it equals the size of the ``.zsk`` file.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .modelfile import Section

FLOAT_BITS = 32


@dataclass(frozen=True)
class LayerStorage:
    name: str
    weights: int           # weight count of the dense layer
    biases: int
    nonzero: int           # surviving (unpruned) weights
    entries: int           # stored sparse entries: nonzero + fillers
    fillers: int
    bits: int              # weight bits: 2**bits centroids (2**bits - 1 in the EIE mode)
    code_bits: int         # fixed-width code field: ceil(log2 K)
    index_bits: int        # relative index width r
    codebook_size: int     # K
    ptr_bits: int
    dense_bits: int
    pruned_bits: int
    quantized_bits: int
    huffman_bits: int      # the file section, in bits (a whole number of bytes)
    huffman_code_bits: int  # Huffman-coded weight codes alone
    huffman_index_bits: int  # Huffman-coded relative indices alone

    @property
    def density(self) -> float:
        return self.nonzero / self.weights if self.weights else 0.0

    @property
    def bytes_compressed(self) -> int:
        return self.huffman_bits // 8

    def to_json(self) -> dict:
        out = asdict(self)
        out.update(density=self.density, bytes_compressed=self.bytes_compressed)
        return out


def account_layer(name: str, weights: int, biases: int, bits: int, section: Section,
                  codebook_size: int) -> LayerStorage:
    sparse = section.sparse
    rows = sparse.shape[0]
    r = sparse.index_bits
    entries = sparse.entries
    nonzero = entries - sparse.fillers
    pointers = rows * section.ptr_bits
    bias_bits = biases * FLOAT_BITS
    code_bits = max(1, math.ceil(math.log2(codebook_size)))
    return LayerStorage(
        name=name, weights=weights, biases=biases, nonzero=nonzero, entries=entries,
        fillers=sparse.fillers, bits=bits, code_bits=code_bits, index_bits=r,
        codebook_size=codebook_size, ptr_bits=section.ptr_bits,
        dense_bits=(weights + biases) * FLOAT_BITS,
        pruned_bits=entries * (FLOAT_BITS + r) + pointers + bias_bits,
        quantized_bits=(entries * (code_bits + r) + codebook_size * FLOAT_BITS + pointers
                        + bias_bits),
        huffman_bits=len(section.data) * 8,
        huffman_code_bits=section.code_stream_bits,
        huffman_index_bits=section.gap_stream_bits,
    )


@dataclass(frozen=True)
class StorageReport:
    layers: tuple[LayerStorage, ...]
    file_overhead_bytes: int  # magic, version, JSON header, CRC

    def total(self, stage: str) -> int:
        """Total bits of ``stage`` (dense, pruned, quantized, huffman)."""
        bits = sum(getattr(layer, f"{stage}_bits") for layer in self.layers)
        return bits + (self.file_overhead_bytes * 8 if stage == "huffman" else 0)

    def ratio(self, stage: str) -> float:
        return self.total("dense") / self.total(stage)

    @property
    def file_bytes(self) -> int:
        return self.total("huffman") // 8

    def to_json(self) -> dict:
        return {
            "layers": [layer.to_json() for layer in self.layers],
            "file_overhead_bytes": self.file_overhead_bytes,
            "total_bytes": {stage: self.total(stage) / 8
                            for stage in ("dense", "pruned", "quantized", "huffman")},
            "ratio": {stage: self.ratio(stage) for stage in ("pruned", "quantized", "huffman")},
        }


def _kb(bits: int) -> str:
    return f"{bits / 8 / 1024:.1f}"


def format_table(report: StorageReport, title: str = "") -> str:
    """A table in the spirit of the paper's Tables 1-2 (P = pruning, Q = quantization,
    H = Huffman; bits are per stored entry, KB = 1024 bytes)."""
    head = (f"{'layer':<7}{'weights':>9}{'kept':>7}{'fillers':>8}"
            f"{'w-bits':>7}{'w-bits':>7}{'idx':>5}{'idx':>6}"
            f"{'dense':>9}{'pruned':>8}{'P+Q':>8}{'P+Q+H':>8}{'ratio':>8}")
    sub = (f"{'':<7}{'':>9}{'':>7}{'':>8}{'P+Q':>7}{'P+Q+H':>7}{'P+Q':>5}{'P+Q+H':>6}"
           f"{'KB':>9}{'KB':>8}{'KB':>8}{'KB':>8}{'P+Q+H':>8}")
    lines = [title] if title else []
    lines += [head, sub, "-" * len(head)]
    for layer in report.layers:
        per_entry = max(layer.entries, 1)
        lines.append(
            f"{layer.name:<7}{layer.weights:>9}{100 * layer.density:>6.1f}%{layer.fillers:>8}"
            f"{layer.code_bits:>7}{layer.huffman_code_bits / per_entry:>7.2f}"
            f"{layer.index_bits:>5}{layer.huffman_index_bits / per_entry:>6.2f}"
            f"{_kb(layer.dense_bits):>9}{_kb(layer.pruned_bits):>8}{_kb(layer.quantized_bits):>8}"
            f"{_kb(layer.huffman_bits):>8}{layer.dense_bits / layer.huffman_bits:>7.1f}x")
    lines.append(f"{'header':<7}{'':>9}{'':>7}{'':>8}{'':>7}{'':>7}{'':>5}{'':>6}{'':>9}{'':>8}"
                 f"{'':>8}{_kb(report.file_overhead_bytes * 8):>8}")
    lines.append("-" * len(head))
    weights = sum(layer.weights for layer in report.layers)
    nonzero = sum(layer.nonzero for layer in report.layers)
    fillers = sum(layer.fillers for layer in report.layers)
    lines.append(
        f"{'total':<7}{weights:>9}{100 * nonzero / weights:>6.1f}%{fillers:>8}{'':>7}{'':>7}"
        f"{'':>5}{'':>6}{_kb(report.total('dense')):>9}{_kb(report.total('pruned')):>8}"
        f"{_kb(report.total('quantized')):>8}{_kb(report.total('huffman')):>8}"
        f"{report.ratio('huffman'):>7.1f}x")
    lines.append(f"{'ratio':<7}{'':>9}{'':>7}{'':>8}{'':>7}{'':>7}{'':>5}{'':>6}{'1.0x':>9}"
                 f"{report.ratio('pruned'):>7.1f}x{report.ratio('quantized'):>7.1f}x"
                 f"{report.ratio('huffman'):>7.1f}x")
    return "\n".join(lines)
