"""Convolutions on the array (docs/conv.md): the feature-map layout, a conv layer's geometry, the
descriptor fields it becomes, and the sliding window's group sequence — defined once for the
compiler, the reference, the simulator and the gateware.

A feature map [height, width, channels] with ``stride`` S ≥ channels activations per pixel is
the vector ``(y·width + x)·S + c``; like every vector, index i lives in PE ``i mod N`` at local
address ``i div N``. A conv layer's output uses ``S_out = fm_stride(out_channels, N)``, a
multiple of N, so output channel o of every pixel lands in PE ``o mod N`` where its weights
live. The window of output pixel (oy, ox) covers kernel positions (ky, kx) in row-major order;
column ``(ky·k + kx)·C + c`` of the layer's weight matrix multiplies input channel c there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.program import KIND_CONV, OP_MAC, OP_MAX, column_count


def fm_stride(channels: int, pes: int) -> int:
    """Activations per pixel of a feature map the array writes: channels rounded up to N."""
    return -(-int(channels) // pes) * pes


@dataclass(frozen=True)
class ConvGeometry:
    """One conv (or pooling) layer's shapes. ``op``: OP_MAC (convolution, average pooling) or
    OP_MAX (max pooling: the window's maximum per channel)."""

    in_height: int
    in_width: int
    in_channels: int
    in_stride: int          #: S: activations per input pixel (≥ in_channels)
    kernel: int
    stride: int
    pad: int
    out_channels: int
    out_stride: int         #: S_out: activations per output pixel (a multiple of N)
    op: int = OP_MAC
    #: the output map's channel where row 0 lands (a multiple of N): the layer writes channels
    #: [channel_base, channel_base + fm_stride(out_channels)) of every pixel and leaves the others
    #: as they are, so a value resting in the bank beside them survives (docs/conv.md, "Graphs")
    channel_base: int = 0

    @property
    def out_height(self) -> int:
        return (self.in_height + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.in_width + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def pixels(self) -> int:
        """Output pixels: each is one pixel-pass of every row tile."""
        return self.out_height * self.out_width

    @property
    def columns(self) -> int:
        """Columns of the weight matrix: k · k · in_channels."""
        return column_count(KIND_CONV, self.in_channels, self.kernel)

    @property
    def in_len(self) -> int:
        return self.in_height * self.in_width * self.in_stride

    @property
    def out_len(self) -> int:
        return self.pixels * self.out_stride

    def problem(self, pes: int) -> str | None:
        """Why the array cannot run this geometry, or None."""
        if min(self.in_height, self.in_width, self.in_channels, self.kernel, self.stride,
               self.out_channels) < 1:
            return "has a zero or negative size"
        if self.kernel > 15 or self.stride > 15 or not 0 <= self.pad < self.kernel:
            return (f"kernel {self.kernel}, stride {self.stride}, pad {self.pad}: the array takes "
                    "kernels and strides up to 15 and a pad below the kernel")
        if self.out_height < 1 or self.out_width < 1:
            return f"kernel {self.kernel} is larger than the padded {self.in_height}x{self.in_width} input"
        if self.in_stride < self.in_channels:
            return f"input stride {self.in_stride} is below its {self.in_channels} channels"
        if self.out_stride < self.out_channels or self.out_stride % pes:
            return f"output stride {self.out_stride} is not a multiple of {pes} PEs holding its channels"
        if self.channel_base % pes or self.channel_base + fm_stride(self.out_channels, pes) > self.out_stride:
            return (f"output channels {self.channel_base}..{self.channel_base + self.out_channels} "
                    f"do not start at a multiple of {pes} PEs inside the output stride {self.out_stride}")
        if self.op not in (OP_MAC, OP_MAX):
            return f"unknown op {self.op}"
        return None

    def pass_fields(self, pes: int) -> dict[str, int]:
        """The conv fields of this layer's pass descriptors (hw/program.py CONV_FIELDS)."""
        s = self.in_stride
        return {"op": self.op, "kernel": self.kernel, "stride": self.stride, "pad": self.pad,
                "in_height": self.in_height, "in_width": self.in_width,
                "out_height": self.out_height, "out_width": self.out_width,
                "col_step": s, "row_step": self.in_width * s, "pixel_step": self.stride * s,
                "line_step": self.stride * self.in_width * s,
                "origin": self.pad * (self.in_width + 1) * s, "out_step": self.out_stride // pes}

    def written(self, pes: int) -> np.ndarray:
        """bool [out_len]: the output positions the layer's sweeps write."""
        channels = np.zeros(self.out_stride, bool)
        channels[self.channel_base: self.channel_base + fm_stride(self.out_channels, pes)] = True
        return np.tile(channels, self.pixels)

    def layer_fields(self) -> dict[str, int]:
        """The conv fields of the layer's ``LayerInfo``."""
        return {"in_height": self.in_height, "in_width": self.in_width,
                "in_channels": self.in_channels, "in_stride": self.in_stride,
                "kernel": self.kernel, "stride": self.stride, "pad": self.pad,
                "out_channels": self.out_channels, "out_stride": self.out_stride, "op": self.op,
                "channel_base": self.channel_base}

    @classmethod
    def from_pass(cls, fields: dict, channels: int, out_channels: int, pes: int,
                  channel_base: int = 0) -> "ConvGeometry":
        """Rebuild the geometry from a descriptor's fields (and the layer's output offset, which
        the descriptor's ``row_base`` holds); the derived fields must agree."""
        geometry = cls(fields["in_height"], fields["in_width"], channels, fields["col_step"],
                       fields["kernel"], fields["stride"], fields["pad"], out_channels,
                       fields["out_step"] * pes, fields["op"], channel_base)
        problem = geometry.problem(pes)
        if problem:
            raise ZeroskipError(f"conv pass: {problem}")
        for name, want in geometry.pass_fields(pes).items():
            if fields[name] != want:
                raise ZeroskipError(f"conv pass: field '{name}' = {fields[name]} disagrees with "
                                    f"the window's geometry ({want})")
        return geometry

    # -- the sliding window, for every output pixel at once (it depends only on the geometry) ---
    def windows(self, pes: int) -> "Windows":
        return _windows(self, pes)


@dataclass(frozen=True)
class Windows:
    """Per output pixel P and column j: the input activation the window reads and its group.

    ``index`` int64 [P, columns]: global activation index, −1 where the kernel position lies
    in the padding. ``group`` int64 [P, columns]: the column's group in the pixel's group
    sequence. ``groups`` int64 [P]: G, groups of the sequence (a padding position is one group).
    ``reads`` int64 [P]: groups actually read (inside positions). ``padding`` int64 [P]: kernel
    positions in the padding."""

    index: np.ndarray
    group: np.ndarray
    groups: np.ndarray
    reads: np.ndarray
    padding: np.ndarray


@functools.lru_cache(maxsize=64)
def _windows(g: ConvGeometry, pes: int) -> Windows:
    k, c = g.kernel, g.in_channels
    oy, ox = np.divmod(np.arange(g.pixels), g.out_width)
    ky, kx = np.divmod(np.arange(k * k), k)
    iy = oy[:, None] * g.stride - g.pad + ky[None, :]                        # [P, k·k]
    ix = ox[:, None] * g.stride - g.pad + kx[None, :]
    inside = (iy >= 0) & (iy < g.in_height) & (ix >= 0) & (ix < g.in_width)
    base = (iy * g.in_width + ix) * g.in_stride                              # B per position
    first = np.floor_divide(base, pes)
    count = np.where(inside, (base + c - 1) // pes - first + 1, 1)           # groups per position
    offset = np.cumsum(count, axis=1) - count                                # first group's place
    index = base[:, :, None] + np.arange(c)[None, None, :]                   # [P, k·k, C]
    group = offset[:, :, None] + index // pes - first[:, :, None]
    index = np.where(inside[:, :, None], index, -1)
    pixels = g.pixels
    return Windows(index=index.reshape(pixels, -1), group=group.reshape(pixels, -1),
                   groups=count.sum(axis=1), reads=np.where(inside, count, 0).sum(axis=1),
                   padding=(~inside).sum(axis=1))


def gather(source: np.ndarray, windows: Windows) -> np.ndarray:
    """[batch, in_len] feature maps → [batch, P, columns] window activations (0 in the padding)."""
    index = windows.index
    padded = np.concatenate([source, np.zeros((source.shape[0], 1), source.dtype)], axis=1)
    return padded[:, np.where(index >= 0, index, source.shape[1])]

