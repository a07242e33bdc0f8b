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
    from zeroskip.table import format_table as render

    rows = []
    for layer in report.layers:
        per_entry = max(layer.entries, 1)
        rows.append([layer.name, layer.weights, f"{100 * layer.density:.1f}%", layer.fillers,
                     layer.code_bits, layer.huffman_code_bits / per_entry, layer.index_bits,
                     layer.huffman_index_bits / per_entry, _kb(layer.dense_bits),
                     _kb(layer.pruned_bits), _kb(layer.quantized_bits), _kb(layer.huffman_bits),
                     f"{layer.dense_bits / layer.huffman_bits:.1f}x"])
    rows.append(["header"] + [None] * 10 + [_kb(report.file_overhead_bytes * 8), None])
    weights = sum(layer.weights for layer in report.layers)
    nonzero = sum(layer.nonzero for layer in report.layers)
    fillers = sum(layer.fillers for layer in report.layers)
    totals = [["total", weights, f"{100 * nonzero / weights:.1f}%", fillers, None, None, None, None,
               _kb(report.total("dense")), _kb(report.total("pruned")),
               _kb(report.total("quantized")), _kb(report.total("huffman")),
               f"{report.ratio('huffman'):.1f}x"],
              ["ratio"] + [None] * 7 + ["1.0x", f"{report.ratio('pruned'):.1f}x",
                                        f"{report.ratio('quantized'):.1f}x",
                                        f"{report.ratio('huffman'):.1f}x", None]]
    return render(["layer", "weights", "kept", "fillers", "w-bits", "w-bits", "idx", "idx", "dense",
                   "pruned", "P+Q", "P+Q+H", "ratio"], rows,
                  ["", "", "", "", "", ".2f", "", ".2f", "", "", "", "", ""], totals=totals,
                  subheaders=["", "", "", "", "P+Q", "P+Q+H", "P+Q", "P+Q+H", "KB", "KB", "KB", "KB",
                              "P+Q+H"], title=title or None)
