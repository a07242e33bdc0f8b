"""Binary convolutions (XNOR-Net / BWN conv layers) → binary conv passes on the PE array.

docs/binary-mode.md ("Binary conv passes") is the specification. A folded conv layer
(``FoldedLayer.conv``: its input map and window; weight bits [out, k·k·C] in window order
``(ky·k + kx)·C + c``) becomes a ``BinaryConvLayerIR``: a binary layer whose pass runs once per
output pixel, its weights stored tap by tap (``program.pack_binary_window_lines``), its output
map at ``fm_stride(out, N)``. The rows beyond the output channels (spare rows: zero weight bits)
get a threshold that always fires (``T = −bound − 1``), so a spare channel holds +1, known to
whoever reads the map. The layer's max pool of the signs (``FoldedLayer.pool``) is the sparse
``OP_MAX`` pass over the ±1 map (``conv.max_pool_ir``; its spare channels hold 0), and the first
binary dense layer after a map reads it flattened at its stride (``BinaryLayerIR.spread_columns``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.compiler.binary import BinaryLayerIR, binary_layer_ir, binary_outputs, layer_meta
from zeroskip.compiler.conv import WindowedIR, _check, max_pool_ir
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.conv import ConvGeometry, fm_stride, gather
from zeroskip.hw.fixedpoint import binary_window_dot, quantize_planes, threshold_word, wrap
from zeroskip.hw.program import (KIND_BINARY_CONV, OP_MAC, OP_MAX, LayerInfo,
                                 binary_pass_chunks, pack_binary_window_lines)


@dataclass
class BinaryConvLayerIR(WindowedIR, BinaryLayerIR):
    """A binary convolution: ``weights`` bool [out_channels, k·k·C] (True = +1), window order;
    rows stay in channel order (the next layer reads the channels where they are)."""

    geometry: ConvGeometry | None = None
    kind: int = KIND_BINARY_CONV

    @property
    def pass_in_len(self) -> int:
        """A window pass's ``in_len`` is C, the input channels."""
        return self.geometry.in_channels

    @property
    def spare_rows(self) -> int:
        return self.geometry.out_stride - self.geometry.out_channels

    def weight_chunks(self, arch: ArchConfig) -> int:
        g = self.geometry
        return binary_pass_chunks(g.in_channels, g.kernel, arch)

    def pass_fields(self, pes: int) -> dict:
        return self.geometry.pass_fields(pes)

    def pack_tile(self, weights: np.ndarray, rows: int, arch: ArchConfig) -> np.ndarray:
        g = self.geometry
        return pack_binary_window_lines(weights, rows, g.kernel, g.in_channels, arch)

    def threshold_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The spare rows' thresholds too: ``−bound − 1``, not flipped (always +1)."""
        spare = self.spare_rows
        return (np.concatenate([self.thresholds, np.full(spare, -self.dot_bound - 1, np.int64)]),
                np.concatenate([self.flip, np.zeros(spare, bool)]))

    def bias_words(self) -> np.ndarray:
        if self.binarize:
            return threshold_word(*self.threshold_rows())
        return np.zeros(self.geometry.out_stride, dtype=np.int64)

    def outputs(self, xq: np.ndarray, arch: ArchConfig) -> np.ndarray:
        """Every output pixel's window against the weight bits, spare rows included: the output
        maps [batch, P · S_out] as the array writes them."""
        g = self.geometry
        windows = g.windows(arch.pes)
        weights = np.zeros((g.out_stride, g.columns), dtype=bool)
        weights[: g.out_channels] = self.weights
        patches = gather(np.asarray(xq, np.int64), windows)                  # [batch, P, columns]
        dot = wrap(binary_window_dot(patches, windows.index >= 0, weights, self.planes),
                   arch.acc_bits)
        return binary_outputs(self, dot, arch).reshape(len(xq), -1)

    def check(self, ir, index: int) -> None:
        """The window's geometry, and what the broadcaster's window walk needs (docs/binary-mode.md:
        N and ``line_bits`` powers of two, N ≤ ``line_bits``); then a binary layer's checks."""
        a = ir.arch
        problem = self.window_problem(a)
        if problem is None and not self.binarize:
            problem = ("a binary conv must binarise its outputs (batch norm + sign); only a "
                       "fully-connected last layer writes integer dot products")
        if problem is None and a.line_bits & (a.line_bits - 1):
            problem = (f"binary conv passes need power-of-two line_bits, the architecture has "
                       f"{a.line_bits}-bit lines")
        if problem is None and a.pes > a.line_bits:
            problem = (f"a binary pass needs pes <= line_bits, but the architecture has {a.pes} "
                       f"PEs and {a.line_bits}-bit lines")
        if problem:
            raise ZeroskipError(f"layer {index} ({self.name}): {problem}")
        super().check(ir, index)

    def meta(self, arch: ArchConfig) -> dict:
        """A binary layer's entry; ``busiest_pe_weights``: the tallest PE's rows × every pixel's
        items (its window's positions inside the map × chunks × planes)."""
        g = self.geometry
        meta = layer_meta(self, arch)
        taps = g.kernel ** 2 - g.windows(arch.pes).padding                  # [P] inside positions
        items = int(taps.sum()) * max(self.planes, 1) * (self.weight_chunks(arch) // g.kernel ** 2)
        meta.update(kind="binary-conv", busiest_pe_weights=int(sum(self.tile_rows) * items),
                    kernel=g.kernel, stride=g.stride, pad=g.pad, pixels=g.pixels,
                    in_map=[g.in_height, g.in_width, g.in_channels],
                    out_map=[g.out_height, g.out_width, g.out_channels])
        return meta

    def permute(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> None:
        if cols is not None:
            raise ZeroskipError(f"layer {self.name}: a binary conv reads its map where it lies; "
                                "its input channels cannot be reordered")
        super().permute(rows=rows)


def binary_conv_irs(layer, index: int, shape, arch: ArchConfig) -> list:
    """A folded binary conv → its ``BinaryConvLayerIR`` and, with a ``pool``, the max pool of
    its signs (layer ``index + 1``). ``shape``: (height, width, channels, stride) of the map the
    previous layer writes, or None for the host's dense input (stride = channels)."""
    ir = binary_layer_ir(layer, index, BinaryConvLayerIR)       # checks the window and the pool
    height, width, channels, kernel, stride, pad = (int(v) for v in layer.conv)
    if shape is None and index:
        raise ZeroskipError(f"layer {index} ({ir.name}): a binary conv reads the input image or "
                            f"a feature map, but layer {index - 1} writes a vector")
    if shape is not None and tuple(shape[:3]) != (height, width, channels):
        raise ZeroskipError(f"layer {index} ({ir.name}): reads a {height}x{width}x{channels} map "
                            f"but layer {index - 1} writes {shape[0]}x{shape[1]}x{shape[2]}")
    in_stride = channels if shape is None else shape[3]
    out = ir.out_len
    ir.geometry = ConvGeometry(height, width, channels, in_stride, kernel, stride, pad, out,
                               fm_stride(out, arch.pes), OP_MAC)
    _check(ir.geometry, index, ir.name, arch)
    if layer.pool is None:
        return [ir]
    pool_kernel, pool_stride = (int(v) for v in layer.pool)
    g = ir.geometry
    pooled = ConvGeometry(g.out_height, g.out_width, out, g.out_stride, pool_kernel, pool_stride,
                          0, out, fm_stride(out, arch.pes), OP_MAX)
    name = f"{ir.name}.pool"
    _check(pooled, index + 1, name, arch)
    return [ir, max_pool_ir(pooled, False, name)]


# -- random binary conv nets (the RTL regression's programs) -------------------------------------
def random_thresholds(rng: np.random.Generator, fan_in: int, planes: int, rows: int):
    """Thresholds around the dot's typical size (some beyond its reach: always / never), some
    flipped: a random binarising row of ``fan_in`` columns."""
    top = (1 << planes) - 1 if planes else 1
    bound = fan_in * top
    spread = max(1, int(np.sqrt(fan_in) * top))
    thresholds = rng.integers(-spread, spread + 1, rows)
    extreme = rng.random(rows) < 0.1
    thresholds[extreme] = rng.choice([-bound - 1, bound + 1], int(extreme.sum()))
    return thresholds.astype(np.int64), rng.random(rows) < 0.3


def random_weight_bits(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """Weight bits of a random bias (+1 half the time, rarely or mostly), a few rows all +1 or
    all −1."""
    weights = rng.random((rows, columns)) < rng.choice([0.5, 0.5, 0.1, 0.9])
    weights[rng.random(rows) < 0.05] = rng.random() < 0.5
    return weights


def binary_conv_net(rng: np.random.Generator, height: int, width: int, channels: int, convs,
                    dense=(5,), planes: int = 8, binarize_last: bool = False) -> list:
    """A random folded binary conv net (``FoldedLayer``s, as ``binary_fold.fold`` writes them):
    convs ``(out_channels, kernel, stride, pad, pool)`` (pool: ``(kernel, stride)`` or None),
    every one binarising, the first reading ``planes`` bit planes (0: bipolar); then dense
    layers of the sizes ``dense`` reading the last map flattened (y, x, c), the last one writing
    its integer dot products (or bits, ``binarize_last``)."""
    from zeroskip.models.binary_fold import FoldedLayer

    layers, h, w, c = [], height, width, channels
    for i, (out, k, stride, pad, pool) in enumerate(convs):
        bits = planes if i == 0 else 0
        thresholds, flip = random_thresholds(rng, k * k * c, bits, out)
        layer = FoldedLayer(f"conv{i + 1}", random_weight_bits(rng, out, k * k * c), bits,
                            thresholds=thresholds, flip=flip, conv=(h, w, c, k, stride, pad),
                            pool=None if pool is None else tuple(pool))
        layers.append(layer)
        h, w, c = layer.out_shape
    n_in = h * w * c
    for j, n_out in enumerate(dense):
        bits = planes if not layers else 0
        weights = random_weight_bits(rng, n_out, n_in)
        if j == len(dense) - 1 and not binarize_last:
            layers.append(FoldedLayer(f"fc{j + 1}", weights, bits,
                                      scale=rng.uniform(0.1, 1, n_out),
                                      offset=rng.normal(0, 1, n_out)))
        else:
            thresholds, flip = random_thresholds(rng, n_in, bits, n_out)
            layers.append(FoldedLayer(f"fc{j + 1}", weights, bits, thresholds=thresholds,
                                      flip=flip))
        n_in = n_out
    return layers


def centre_thresholds(rng: np.random.Generator, layers: list, x_int: np.ndarray) -> list:
    """The layers with each binarising row's threshold moved to a random quantile of its dot
    products over the inputs ``x_int`` (the first layer's integers: unsigned for bit planes,
    signed for bipolar bits), around the one that makes half the row's outputs (after its pool)
    +1, and a tenth of the rows beyond the dot's reach (always / never): random thresholds
    leave the bits of pooled maps nearly constant, these keep them mixed, so the outputs depend
    on the input. Walks the net on the packed-bit reference."""
    from dataclasses import replace

    from zeroskip.models import binary_ref

    out, acts = [], np.asarray(x_int)
    for index, layer in enumerate(layers):
        if index == 0 and not layer.input_bits:
            acts = acts >= 0                                     # bipolar input bits
        if layer.conv is not None:
            dot = binary_ref.conv_dot(layer, acts)
        else:
            dot = binary_ref.layer_dot(layer, acts if layer.input_bits else binary_ref.pack_bits(acts))
        if layer.binary_output:
            rows = len(layer.thresholds)
            samples = np.sort(dot.reshape(-1, rows), axis=0)
            # a pool ORs n bits: each fires with 1 − 0.5^(1/n), so that about half its outputs do
            window = 1 if layer.pool is None else layer.pool[0] ** 2
            quantile = np.clip(rng.normal(0.5 ** (1 / window), 0.15, rows), 0.02, 0.98)
            quantile = np.where(layer.flip, 1 - quantile, quantile)
            pick = (quantile * (len(samples) - 1)).astype(np.int64)
            thresholds = samples[pick, np.arange(rows)]
            bound = layer.dot_bound()
            extreme = rng.random(rows) < 0.1
            thresholds[extreme] = rng.choice([-bound - 1, bound + 1], int(extreme.sum()))
            layer = replace(layer, thresholds=thresholds.astype(np.int64))
            acts = binary_ref.layer_output_bits(layer, dot)
            if layer.pool is not None:
                acts = binary_ref.pool_bits(layer, acts)
        out.append(layer)
    return out


def _random_channels(rng: np.random.Generator, arch: ArchConfig) -> int:
    """Fewer channels than PEs, a multiple of them, anything, more rows than one accumulator
    file holds (row tiles), or more than a line's bits (several chunks per kernel position)."""
    pes = arch.pes
    kind = int(rng.integers(0, 5))
    if kind == 0:
        return int(rng.integers(1, pes + 1))
    if kind == 1:
        return pes * int(rng.integers(1, 3))
    if kind == 2:
        return int(rng.integers(1, 3 * pes + 2))
    if kind == 3:
        return pes * arch.acc_depth + int(rng.integers(1, pes + 1))
    return arch.line_bits + int(rng.integers(1, pes + 2))


def random_binary_conv_spec(rng: np.random.Generator, arch: ArchConfig, max_side: int = 8) -> dict:
    """``binary_conv_net``'s arguments, drawn: a map of 3 to ``max_side`` pixels a side, 1 to 3
    convs (kernels 1, 3, 5; strides 1, 2; pads 0 .. k−1), each pooled or not (2x2 stride 2 or
    1, 3x3 stride 1 or 2), 1 or 2 dense layers, bit planes 1..8 (sometimes bipolar) first; no
    more layers (a pool is one) than the architecture's ``max_layers``."""
    height, width = (int(v) for v in rng.integers(3, max_side + 1, 2))
    channels = int(rng.integers(1, 4)) if rng.random() < 0.8 else _random_channels(rng, arch)
    dense = [int(rng.integers(2, 12)) for _ in range(int(rng.integers(1, 3)))]
    budget = max(1, arch.max_layers - len(dense))
    del dense[max(1, arch.max_layers - 1):]
    n_convs = int(rng.integers(1, min(3, budget) + 1))
    convs, h, w = [], height, width
    for index in range(n_convs):
        k = int(rng.choice([1, 3, 5]))
        pad = int(rng.integers(0, k))
        if min(h, w) + 2 * pad < k:
            pad = k - 1
        stride = int(rng.choice([1, 2]))
        h, w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        pool = None
        room = budget - (len(convs) + sum(c[4] is not None for c in convs)) - (n_convs - index)
        if room > 0 and rng.random() < 0.5 and min(h, w) >= 2:
            pool = [(2, 2), (2, 1), (3, 1), (3, 2)][int(rng.integers(0, 4 if min(h, w) >= 3 else 2))]
            h, w = (h - pool[0]) // pool[1] + 1, (w - pool[0]) // pool[1] + 1
        convs.append((_random_channels(rng, arch), k, stride, pad, pool))
    planes = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 8]))
    return dict(height=height, width=width, channels=channels, convs=convs, dense=dense,
                planes=min(planes, arch.act_bits - 1), binarize_last=bool(rng.random() < 0.3))


def random_binary_conv_program(arch: ArchConfig, seed: int, batch: int = 4, max_side: int = 8,
                               attempts: int = 20):
    """A seeded random folded binary conv net (``random_binary_conv_spec``) compiled for
    ``arch``, drawn again (smaller maps after every few attempts) until it fits. Returns
    ``(program, x, layers)``: x float inputs [batch, H·W·C] in the map's (y, x, c) order (in
    [0, 1] for bit planes, [−1, 1] for a bipolar first layer; some zeros, some ones), also the
    calibration; layers the ``FoldedLayer``s compiled. For the RTL regression and tests."""
    from zeroskip.compiler.flow import compile_layers

    for attempt in range(attempts):
        rng = np.random.default_rng([seed, attempt])
        spec = random_binary_conv_spec(rng, arch, max(3, max_side - attempt // 4))
        layers = binary_conv_net(rng, **spec)
        x = rng.uniform(0.0 if spec["planes"] else -1.0, 1.0, (batch, layers[0].in_features))
        x[rng.random(x.shape) < rng.uniform(0, 0.5)] = 0.0
        x[rng.random(x.shape) < 0.05] = 1.0
        if rng.random() < 0.8:
            layers = centre_thresholds(rng, layers, quantize_planes(x, spec["planes"])
                                       if spec["planes"] else x)
        try:
            return compile_layers(layers, arch, calibration=x), x, layers
        except ZeroskipError:
            continue
    raise ZeroskipError(f"seed {seed}: no random binary conv net fits {arch.name} in {attempts} "
                        "attempts")
