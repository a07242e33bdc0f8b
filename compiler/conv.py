"""The compiler's half of conv layers (docs/conv.md): convolutions and pooling as ``LayerIR``s
whose matrix is the window's ``[out_channels, k·k·C]``, and ``lower_layers``, which threads the
feature map's shape through a model's layers (flatten folds into the next FC layer's columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.compiler.ir import LayerIR
from zeroskip.compiler.quantize import sparse_formats
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.conv import ConvGeometry, fm_stride, gather
from zeroskip.hw.fixedpoint import max_offset, signed_range
from zeroskip.hw.kinds import lane_problem
from zeroskip.hw.program import KIND_CONV, OP_MAC, OP_MAX, LayerInfo, Pass


class WindowedIR:
    """What every layer run once per output pixel shares (sparse and binary convs): its vectors
    are the feature maps of its ``geometry``, and the window must suit the array."""

    @property
    def vector_in(self) -> int:
        return self.geometry.in_len

    @property
    def vector_out(self) -> int:
        return self.geometry.out_len

    @property
    def channel_base(self) -> int:
        return self.geometry.channel_base

    def written(self, pes: int) -> np.ndarray:
        return self.geometry.written(pes)

    def info(self) -> LayerInfo:
        """The kind's ``LayerInfo`` with the maps' lengths and the window's fields."""
        info = super().info()
        info.in_len, info.out_len = self.vector_in, self.vector_out
        for name, value in self.geometry.layer_fields().items():
            setattr(info, name, value)
        return info

    def window_problem(self, a: ArchConfig) -> str | None:
        """Why the array cannot run this window, or None."""
        g = self.geometry
        problem = g.problem(a.pes)
        if problem is None and a.pes & (a.pes - 1):
            problem = f"conv layers need a power-of-two number of PEs, the array has {a.pes}"
        if problem is None and g.columns > a.max_vector:
            problem = (f"its window has {g.columns} columns, more than the array's act_depth x "
                       f"pes = {a.max_vector}")
        return problem


@dataclass
class ConvLayerIR(WindowedIR, LayerIR):
    """A pruned, weight-shared convolution; ``codes`` [out_channels, k·k·C], column
    ``(ky·k + kx)·C + c``. Rows stay in channel order (no balancing: the next layer reads the
    channels where they are)."""

    geometry: ConvGeometry | None = None
    #: made by ``row_conv``: one pass per output row of the model's layer (docs/conv.md)
    row_pass: bool = False
    kind = KIND_CONV

    def check(self, ir, index: int) -> None:
        super().check(ir, index)
        problem = self.window_problem(ir.arch)
        if problem:
            raise ZeroskipError(f"layer {index} ({self.name}): {problem}")

    def to_patches(self, xq: np.ndarray, pes: int) -> np.ndarray:
        """Feature maps [batch, in_len] → every pixel's window [batch · P, k·k·C]."""
        return gather(xq, self.geometry.windows(pes)).reshape(-1, self.in_len)

    def to_map(self, y: np.ndarray, batch: int) -> np.ndarray:
        """Per-pixel outputs [batch · P, out_channels] → output maps [batch, P · S_out]."""
        g = self.geometry
        out = np.zeros((batch, g.pixels, g.out_stride), np.int64)
        out[..., g.channel_base: g.channel_base + g.out_channels] = y.reshape(batch, g.pixels, -1)
        return out.reshape(batch, -1)

    def choose_formats(self, index, xq, in_frac, arch, calibrated):
        out, out_frac = sparse_formats(self, index, self.to_patches(xq, arch.pes), in_frac, arch,
                                       calibrated)
        return self.to_map(out, xq.shape[0]), out_frac

    def row_work(self):
        return None

    def plan_passes(self, index: int, arch: ArchConfig, used) -> list[Pass]:
        passes = super().plan_passes(index, arch, used)
        fields = self.geometry.pass_fields(arch.pes)
        lanes = int(self.lane_pass(arch))
        for p in passes:
            p.in_len = self.geometry.in_channels
            p.lanes = lanes
            for name, value in fields.items():
                setattr(p, name, value)
        return passes

    def lane_pass(self, arch: ArchConfig) -> bool:
        """Whether the layer runs as lane passes (docs/timing.md "Lane passes"): the array has
        them and every column's weights lie in its lane's PE (depthwise convs, pools)."""
        if not arch.lane_passes:
            return False
        rows, columns, _ = self.nonzero()
        counts = np.zeros((arch.pes, self.in_len), np.int64)
        np.add.at(counts, (rows % arch.pes, columns), 1)
        return lane_problem(arch, self.geometry, counts) is None

    def meta(self, arch: ArchConfig) -> dict:
        meta = super().meta(arch)
        g = self.geometry
        meta.update(kind="conv", op="max" if g.op == OP_MAX else "mac", kernel=g.kernel,
                    stride=g.stride, pad=g.pad, pixels=g.pixels,
                    in_map=[g.in_height, g.in_width, g.in_channels],
                    out_map=[g.out_height, g.out_width, g.out_channels])
        if self.row_pass:
            meta["row_passes"] = True
        return meta


@dataclass
class MaxPoolLayerIR(ConvLayerIR):
    """Max pooling: the identity over channels at every kernel position, run with OP_MAX. The
    scale passes through (shift 0); the bias is ``-max_offset`` (docs/conv.md)."""

    def choose_formats(self, index, xq, in_frac, arch, calibrated):
        g = self.geometry
        windows = g.windows(arch.pes)
        patches = gather(xq, windows).reshape(xq.shape[0], g.pixels, g.kernel ** 2, -1)
        inside = (windows.index >= 0).reshape(g.pixels, g.kernel ** 2, -1)
        low = signed_range(arch.act_bits)[0]
        return self.pooled(np.where(inside[None], patches, low).max(axis=2), in_frac, arch)

    def pooled(self, y: np.ndarray, in_frac: int, arch: ArchConfig):
        """The formats of a max (the scale passes through, shift 0, bias ``-max_offset``) and
        the next boundary's maps from the maxima ``y`` [batch, P, out_channels]."""
        self.in_frac, self.w_frac, self.out_frac = in_frac, 0, in_frac
        self.codebook_q = np.array([0, 1], np.int64)
        self.bias_q = np.full(self.out_len, -max_offset(arch.act_bits), np.int64)
        if self.relu:
            y = np.maximum(y, 0)
        return self.to_map(y.reshape(-1, self.geometry.out_channels), y.shape[0]), in_frac


def max_pool_ir(geometry: ConvGeometry, relu: bool, name: str) -> MaxPoolLayerIR:
    c, k = geometry.in_channels, geometry.kernel
    codes = np.zeros((c, k * k * c), np.int64)
    for kk in range(k * k):
        codes[np.arange(c), kk * c + np.arange(c)] = 1
    return MaxPoolLayerIR(codes=codes, codebook=np.array([0.0, 1.0]), bias=np.zeros(c),
                          relu=relu, name=name, geometry=geometry)


def avg_pool_ir(geometry: ConvGeometry, relu: bool, name: str) -> ConvLayerIR:
    """Average pooling: the identity over channels sharing one weight, 1/(k·k) (a fixed scale;
    padding positions count as zeros, as ONNX's count_include_pad)."""
    identity = max_pool_ir(geometry, relu, name)
    k = geometry.kernel
    return ConvLayerIR(codes=identity.codes, codebook=np.array([0.0, 1.0 / (k * k)]),
                       bias=np.zeros(geometry.in_channels), relu=relu, name=name,
                       geometry=geometry)


def _is_map_input(layer) -> bool:
    return all(hasattr(layer, name) for name in ("height", "width", "channels"))


def _is_pool(layer) -> bool:
    return hasattr(layer, "op") and hasattr(layer, "kernel") and not hasattr(layer, "codes")


def _is_conv(layer) -> bool:
    return hasattr(layer, "kernel") and hasattr(layer, "codes")


def _is_binary_conv(layer) -> bool:
    """A folded binary conv (``FoldedLayer.conv``: its input map and window)."""
    return hasattr(layer, "weights") and getattr(layer, "conv", None) is not None


def lower_layers(layers, arch: ArchConfig, to_ir, block_pools: bool = False,
                 row_passes: bool = False) -> list:
    """Model layers → IR layers. A conv model starts with its input map (``MapInput``); each
    conv or pool layer maps the current map to the next; a folded binary conv names the map it
    reads (``FoldedLayer.conv``) and brings its pool along (``binary_conv.binary_conv_irs``);
    the first FC layer after a map reads it flattened in (y, x, c) order, its columns moved to
    where the map's activations lie.
    ``block_pools``: a stride-1 conv followed by a 2x2 stride-2 max pool computes 2x2 blocks of
    output pixels per pass (``blocked_conv``), the same outputs in fewer cycles.
    ``row_passes``: a depthwise conv (or average pool) with 'same' padding computes a whole
    output row per pass (``row_conv``), where its row fits the accumulators."""
    layers = list(layers)
    irs, shape = [], None                     # shape: (height, width, channels, stride)
    skip = False
    for position, layer in enumerate(layers):
        index = len(irs)
        if skip:
            skip = False
            continue
        following = layers[position + 1] if position + 1 < len(layers) else None
        if block_pools and shape is not None and _is_conv(layer) and _blockable(layer, following,
                                                                               shape):
            conv = _conv_ir(layer, index, shape, arch)
            blocked, pooled = blocked_conv(conv, following, index, arch)
            irs += [blocked, pooled]
            g = pooled.geometry
            shape = (g.out_height, g.out_width, g.out_channels, g.out_stride)
            skip = True
            continue
        if _is_map_input(layer):
            if position:
                raise ZeroskipError(f"layer {position}: an input map must come first")
            shape = (int(layer.height), int(layer.width), int(layer.channels), int(layer.channels))
            continue
        if _is_conv(layer) or _is_pool(layer):
            if shape is None:
                raise ZeroskipError(f"layer {index} ({getattr(layer, 'name', '')}): a conv or pool "
                                    "layer needs a feature map (the model gives no input map)")
            ir = _conv_ir(layer, index, shape, arch) if _is_conv(layer) else \
                _pool_ir(layer, index, shape, arch)
            g = ir.geometry
            shape = (g.out_height, g.out_width, g.out_channels, g.out_stride)
            irs.append(ir)
            continue
        if _is_binary_conv(layer):            # and the max pool of its signs, if it has one
            from zeroskip.compiler.binary_conv import binary_conv_irs

            lowered = binary_conv_irs(layer, index, shape, arch)
            g = lowered[-1].geometry
            shape = (g.out_height, g.out_width, g.out_channels, g.out_stride)
            irs += lowered
            continue
        ir = to_ir(layer, index)
        if shape is not None:
            ir = _flattened(ir, index, shape)
            shape = None
        irs.append(ir)
    return with_row_passes(irs, arch) if row_passes else irs


def with_row_passes(irs: list, arch: ArchConfig) -> list:
    """``row_conv`` in place of every conv layer whose output channels each read one input
    channel (depthwise convs, average pools) where it applies; the other layers as they are.
    A row pass's window has k²·W·S columns, each with a pointer in every PE: where they do not
    fit ``ptr_depth`` the packer's error names it, as for any layer."""
    return [(row_conv(ir, arch) or ir) if _per_channel(ir) else ir for ir in irs]


def _per_channel(ir) -> bool:
    """A conv (``OP_MAC``) layer whose every row's weights lie in one input channel."""
    if type(ir) is not ConvLayerIR or ir.geometry.op != OP_MAC:
        return False
    rows, columns, _ = ir.nonzero()
    channel = columns % ir.geometry.in_channels
    first = np.full(len(ir.codes), -1)
    first[rows[::-1]] = channel[::-1]
    return bool(len(rows)) and bool(np.all(channel == first[rows]))


def row_conv(conv: ConvLayerIR, arch: ArchConfig) -> ConvLayerIR | None:
    """A conv with 'same' padding in x (``0 ≤ 1 + 2·pad − k < stride``) → one pass per output
    row: the maps' rows seen as the pixels of a one-pixel-wide map, [H, 1, W·S] in, [OH, 1, OW·G]
    out (G the output stride), the same bits in the same places, so the layers around it read and
    write the maps as they are. Output channel t·G + o is output pixel (·, t), channel o; window
    column (ky·k + pad)·W·S + x·S + c (the row's one inside kernel position) holds the weight of
    (ky, x − stride·t + pad). Each input activation is read once per output row instead of once
    per window holding it (k times for stride 1): for a depthwise conv as lane passes, the scan
    (docs/timing.md "Lane passes") falls from k²·C/N groups per pixel to about k·C/N. The weights
    are stored OW times. None where the row does not fit: OW·G / N rows per PE above
    ``acc_depth``, or more window columns than ``max_vector``, or not 'same' padding."""
    g = conv.geometry
    k, stride, pad = g.kernel, g.stride, g.pad
    if not 0 <= 1 + 2 * pad - k < stride or g.in_width == 1:
        return None
    if g.channel_base or g.out_stride != fm_stride(g.out_channels, arch.pes):
        return None               # the row would overwrite channels another layer rests in
    width, s_in, channels, out, group, out_w = (g.in_width, g.in_stride, g.in_channels,
                                                g.out_channels, g.out_stride, g.out_width)
    if out_w * group // arch.pes > arch.acc_depth or k * k * width * s_in > arch.max_vector:
        return None
    window = conv.codes.reshape(out, k, k, channels)
    codes = np.zeros((out_w, group, k, k, width, s_in), dtype=conv.codes.dtype)
    bias = np.zeros((out_w, group))
    for t in range(out_w):
        bias[t, :out] = conv.bias
        for kx in range(k):
            x = stride * t - pad + kx
            if 0 <= x < width:
                codes[t, :out, :, pad, x, :channels] = window[:, :, kx, :]
    geometry = ConvGeometry(g.in_height, 1, width * s_in, width * s_in, k, stride, pad,
                            out_w * group, out_w * group, g.op)
    if geometry.problem(arch.pes):
        return None
    return ConvLayerIR(codes=codes.reshape(out_w * group, -1), codebook=conv.codebook,
                       bias=bias.reshape(-1), relu=conv.relu, name=conv.name, geometry=geometry,
                       row_pass=True)


def _blockable(conv, pool, shape) -> bool:
    """A stride-1 conv whose even-sized output a 2x2 stride-2 max pool reads."""
    if pool is None or not _is_pool(pool) or pool.op != "max" or int(getattr(pool, "pad", 0)):
        return False
    if (int(pool.kernel), int(pool.stride)) != (2, 2) or int(conv.stride) != 1:
        return False
    if int(getattr(conv, "groups", 1)) != 1 or int(conv.kernel) + 1 > 15:
        return False
    height, width = shape[:2]
    out_h = height + 2 * int(conv.pad) - int(conv.kernel) + 1
    out_w = width + 2 * int(conv.pad) - int(conv.kernel) + 1
    return out_h > 0 and out_w > 0 and out_h % 2 == 0 and out_w % 2 == 0


@dataclass
class ChannelMaxLayerIR(MaxPoolLayerIR):
    """The max over the four channel groups a blocked conv writes per pixel: output channel o
    is the largest of input channels q·G + o, q = 0..3 (OP_MAX over a 1x1 window; G the
    group's channels, O or, on arrays with lane passes, O rounded up to N)."""

    def choose_formats(self, index, xq, in_frac, arch, calibrated):
        g = self.geometry
        maps = xq.reshape(xq.shape[0], g.pixels, g.in_stride)[..., :g.in_channels]
        groups = maps.reshape(xq.shape[0], g.pixels, 4, g.in_channels // 4)[..., :g.out_channels]
        return self.pooled(groups.max(axis=2), in_frac, arch)


def blocked_conv(conv: ConvLayerIR, pool, index: int, arch: ArchConfig):
    """A stride-1 conv and the 2x2 max pool after it → a conv computing each 2x2 block of output
    pixels in one pass (a (k+1)x(k+1) window at stride 2; output channel q·O + o is output
    pixel (2·by + dy, 2·bx + dx), q = 2·dy + dx, channel o: the block's four copies of the
    weights), then the max over the four channel groups. Every broadcast activation feeds up to
    four times the entries, and the outputs equal the unblocked layers' bit for bit. On arrays
    with lane passes each group starts at a multiple of N (``q·G + o``, G = O rounded up to N,
    the rows between empty), so channel o of every group lies in PE o mod N, where the max's
    output channel o is: the max runs as a lane pass (docs/timing.md "Lane passes")."""
    g, k, out = conv.geometry, conv.geometry.kernel, conv.out_len
    group = fm_stride(out, arch.pes) if arch.lane_passes else out
    window = conv.codes.reshape(out, k, k, g.in_channels)
    codes = np.zeros((4, group, k + 1, k + 1, g.in_channels), dtype=conv.codes.dtype)
    bias = np.zeros((4, group))
    for q, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        codes[q, :out, dy:dy + k, dx:dx + k, :] = window
        bias[q, :out] = conv.bias
    geometry = ConvGeometry(g.in_height, g.in_width, g.in_channels, g.in_stride, k + 1, 2, g.pad,
                            4 * group, fm_stride(4 * group, arch.pes), OP_MAC)
    _check(geometry, index, conv.name, arch)
    blocked = ConvLayerIR(codes=codes.reshape(4 * group, -1), codebook=conv.codebook,
                          bias=bias.reshape(-1), relu=conv.relu, name=conv.name,
                          geometry=geometry)
    name = str(getattr(pool, "name", "") or f"layer{index + 1}")
    pooled_geometry = ConvGeometry(geometry.out_height, geometry.out_width, 4 * group,
                                   geometry.out_stride, 1, 1, 0, out, fm_stride(out, arch.pes),
                                   OP_MAX)
    _check(pooled_geometry, index + 1, name, arch)
    picks = np.zeros((out, 4 * group), np.int64)
    for q in range(4):
        picks[np.arange(out), q * group + np.arange(out)] = 1
    pooled = ChannelMaxLayerIR(codes=picks, codebook=np.array([0.0, 1.0]), bias=np.zeros(out),
                               relu=getattr(pool, "act", "none") == "relu", name=name,
                               geometry=pooled_geometry)
    return blocked, pooled


def _conv_ir(layer, index: int, shape, arch: ArchConfig) -> ConvLayerIR:
    from zeroskip.compiler.passes import layer_ir

    base = layer_ir(layer, index)
    height, width, channels, stride = shape
    k, groups = int(layer.kernel), int(getattr(layer, "groups", 1))
    out = base.out_len
    if groups < 1 or channels % groups or out % groups:
        raise ZeroskipError(f"layer {index} ({base.name}): {groups} groups do not divide its "
                            f"{channels} input and {out} output channels")
    if base.in_len != channels // groups * k * k:
        raise ZeroskipError(f"layer {index} ({base.name}): takes "
                            f"{base.in_len // max(1, k * k) * groups} channels but its input map "
                            f"has {channels}")
    codes = block_diagonal(base.codes, channels, groups, k)
    geometry = ConvGeometry(height, width, channels, stride, k, int(layer.stride), int(layer.pad),
                            out, fm_stride(out, arch.pes), OP_MAC)
    _check(geometry, index, base.name, arch)
    return ConvLayerIR(codes=codes, codebook=base.codebook, bias=base.bias, relu=base.relu,
                       name=base.name, geometry=geometry)


def block_diagonal(codes: np.ndarray, channels: int, groups: int, k: int) -> np.ndarray:
    """A grouped conv's codes [out, channels/groups · k · k] (c, ky, kx) → the window's matrix
    [out, k · k · channels], column (ky·k + kx)·C + c: output channel o sees only its group's
    input channels (zeros elsewhere cost no entry; docs/conv.md on what this costs)."""
    out = codes.shape[0]
    per_in, per_out = channels // groups, out // groups
    grouped = codes.reshape(out, per_in, k, k).transpose(0, 2, 3, 1)          # [out, k, k, C/g]
    full = np.zeros((out, k, k, channels), dtype=codes.dtype)
    for g in range(groups):
        rows = slice(g * per_out, (g + 1) * per_out)
        full[rows, :, :, g * per_in:(g + 1) * per_in] = grouped[rows]
    return full.reshape(out, -1)


def _pool_ir(layer, index: int, shape, arch: ArchConfig) -> ConvLayerIR:
    height, width, channels, stride = shape
    name = str(getattr(layer, "name", "") or f"layer{index}")
    if layer.op not in ("max", "avg"):
        raise ZeroskipError(f"layer {index} ({name}): {layer.op!r} pooling is not lowered "
                            "(max and avg are)")
    geometry = ConvGeometry(height, width, channels, stride, int(layer.kernel), int(layer.stride),
                            int(getattr(layer, "pad", 0)), channels, fm_stride(channels, arch.pes),
                            OP_MAX if layer.op == "max" else OP_MAC)
    _check(geometry, index, name, arch)
    relu = getattr(layer, "act", "none") == "relu"
    if layer.op == "max":
        return max_pool_ir(geometry, relu, name)
    return avg_pool_ir(geometry, relu, name)


def _check(geometry: ConvGeometry, index: int, name: str, arch: ArchConfig) -> None:
    problem = geometry.problem(arch.pes)
    if problem:
        raise ZeroskipError(f"layer {index} ({name}): {problem}")


def _flattened(ir, index: int, shape):
    """An FC layer reading a map: column (y·W + x)·C + c moves to (y·W + x)·S + c (each kind
    says what its spare columns hold: ``spread_columns``)."""
    height, width, channels, stride = shape
    if ir.in_len != height * width * channels:
        raise ZeroskipError(f"layer {index} ({ir.name}): takes {ir.in_len} inputs but the "
                            f"flattened {height}x{width}x{channels} map has "
                            f"{height * width * channels}")
    if stride == channels:
        return ir
    where = (np.arange(height * width)[:, None] * stride + np.arange(channels)[None, :]).reshape(-1)
    ir.spread_columns(where, height * width * stride)
    return ir


def random_conv_program(arch: ArchConfig, seed: int, height: int = 6, width: int = 6,
                        channels: int = 3, convs=((4, 3, 1, 1),), pool: tuple | None = (2, 2),
                        classes: int | None = 5, density: float = 0.5, batch: int = 8,
                        input_density: float = 0.7, relu: bool = True, block_pools: bool = False,
                        row_passes: bool = False):
    """A seeded random conv network compiled for ``arch``, and float inputs for it
    (``random_conv_layers``'s network; ``block_pools`` and ``row_passes`` as
    ``compile_layers``'s). Returns ``(program, x)``. For tests and benchmarks."""
    from zeroskip.compiler.flow import compile_layers

    layers, x = random_conv_layers(arch, seed, height, width, channels, convs, pool, classes,
                                   density, batch, input_density, relu)
    return compile_layers(layers, arch, calibration=x, block_pools=block_pools,
                          row_passes=row_passes), x


def random_conv_layers(arch: ArchConfig, seed: int, height: int = 6, width: int = 6,
                       channels: int = 3, convs=((4, 3, 1, 1),), pool: tuple | None = (2, 2),
                       classes: int | None = 5, density: float = 0.5, batch: int = 8,
                       input_density: float = 0.7, relu: bool = True):
    """A seeded random conv network for ``arch``'s codebook, and float inputs for it: an input
    map [height, width, channels], convs ``(out_channels, kernel, stride, pad[, groups])``
    (``groups`` = channels for a depthwise conv; each followed by a ReLU unless ``relu`` is
    false), an optional max pool ``(kernel, stride)``, then (unless ``classes`` is None) an FC
    layer to ``classes``. ``density``: of the weights; ``input_density``: of the inputs.
    Returns ``(layers, x)`` with x [batch, height·width·channels]."""
    from zeroskip.models.interchange import MapInput, Pool, SharedConv, SharedLayer

    rng = np.random.default_rng(seed)
    k_size = arch.codebook_size

    def codes(shape):
        c = rng.integers(1, k_size, size=shape)
        c[rng.random(shape) >= density] = 0
        return c.astype(np.uint8 if k_size <= 256 else np.uint16)

    def book():
        return np.concatenate([[0.0], rng.uniform(-1, 1, k_size - 1)]).astype(np.float32)

    layers, c, h, w = [MapInput(height, width, channels)], channels, height, width
    for i, (out, k, stride, pad, *grouped) in enumerate(convs):
        groups = grouped[0] if grouped else 1
        layers.append(SharedConv(book(), codes((out, c // groups * k * k)),
                                 rng.uniform(-0.3, 0.3, out).astype(np.float32),
                                 "relu" if relu else "none", k,
                                 stride, pad, name=f"conv{i + 1}", groups=groups))
        c, h, w = out, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if pool is not None:
        layers.append(Pool("max", pool[0], pool[1], name="pool"))
        h, w = (h - pool[0]) // pool[1] + 1, (w - pool[0]) // pool[1] + 1
    if classes is not None:
        layers.append(SharedLayer(book(), codes((classes, h * w * c)),
                                  rng.uniform(-0.3, 0.3, classes).astype(np.float32), "none",
                                  name="fc"))
    x = rng.uniform(-1, 1, (batch, height * width * channels))
    x[rng.random(x.shape) >= input_density] = 0.0
    return layers, x
