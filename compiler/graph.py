"""Branching graphs on the array (docs/conv.md, "Graphs"): Fire modules, residual additions,
channel shuffles and concatenations lowered to a chain of array layers the existing hardware
runs, every rung unchanged.

The array runs layers one after another, each reading one feature map (its source bank, from
address 0) and writing the next. A graph is lowered by *fusing*: every array layer computes,
over one window geometry (k, stride, pad), all the graph nodes that are ready at once, and
carries every value still needed later as identity rows (weight 1 at the window's centre) into
its output map. Then:

- a concatenation, a channel shuffle and a dropout are free: they only say which channels of
  the current map hold a value (``resolve``);
- expand 1x1 ‖ expand 3x3 over one input is ONE 3x3 layer whose 1x1 rows have weights only at
  the centre tap (pruned zeros cost nothing);
- a residual add ``y = conv(z) + x`` folds into the conv: its rows also take x's channels with
  weight 1 (``[W | I]``), x having been carried there;
- a ReLU fuses into the layer computing its input; a value that may be negative but must cross
  a ReLU layer unchanged (a linear bottleneck's shortcut) is carried as two channels,
  relu(v) and relu(−v), and read back with weights +1 and −1.

A layer's codebook is the union of its nodes' weights (and 1, −1 for carries, 1/k² for
average pools): one layer slot, one codebook. ``compile_graph`` is the entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from zeroskip.compiler.conv import ConvLayerIR, MaxPoolLayerIR
from zeroskip.compiler.ir import LayerIR
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.conv import ConvGeometry, fm_stride, gather
from zeroskip.hw.fixedpoint import signed_range
from zeroskip.hw.program import OP_MAC, OP_MAX

FC = "fc"        #: a fully-connected layer's "geometry": it reads the whole current vector


@dataclass
class Term:
    """Part of a node's sum: ``weights`` [out, channels of ``source``, k, k] over the window
    (k, pad) of the value ``source`` (for an FC node: [out, features, 1, 1])."""

    source: str
    weights: np.ndarray
    kernel: int
    pad: int


@dataclass
class Compute:
    """A graph node the array computes: the sum of its terms plus ``bias``, then a ReLU when
    ``relu``. ``op``: OP_MAC, OP_MAX (max pooling: the window's maximum) or FC."""

    name: str
    op: object
    stride: int
    terms: list[Term]
    bias: np.ndarray
    shape: tuple                 #: (height, width, channels), or (features,) for FC outputs
    relu: bool = False


@dataclass
class View:
    """A node that only renames channels: ``alias`` (dropout, a fused ReLU), ``concat``,
    ``shuffle`` (``groups``) or ``flatten`` (``chw``: channels-first order)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    shape: tuple
    groups: int = 1
    chw: bool = False


@dataclass
class GraphIR:
    """A graph's values: the input map, the computed nodes and the views, in graph order."""

    input_name: str
    input_shape: tuple           #: (height, width, channels)
    nodes: dict = field(default_factory=dict)     #: name -> Compute | View
    order: list = field(default_factory=list)     #: names, topological
    output: str = ""

    def shape(self, name: str) -> tuple:
        return self.input_shape if name == self.input_name else self.nodes[name].shape

    def bases(self, name: str) -> set[str]:
        """The computed values (or the input) a value's channels come from."""
        node = self.nodes.get(name)
        if isinstance(node, View):
            return set().union(*(self.bases(i) for i in node.inputs))
        return {name}

    def nonneg(self, name: str) -> bool:
        """Whether a value is never negative: a ReLU's output, or non-negative weights and
        bias over non-negative values (pools of a ReLU's output)."""
        node = self.nodes.get(name)
        if node is None:
            return False
        if isinstance(node, View):
            return all(self.nonneg(i) for i in node.inputs)
        if node.relu:
            return True
        return (np.all(node.bias >= 0) and all(np.all(t.weights >= 0) and self.nonneg(t.source)
                                               for t in node.terms))


def _fail(node: str, kind: str, problem: str):
    raise ZeroskipError(f"node {node!r} ({kind}): {problem}")


def _weights(layer) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(layer.params["W"], np.float64), np.asarray(layer.params["b"], np.float64))


def graph_ir(graph, input_shape: tuple | None = None) -> GraphIR:
    """A ``models.network.Graph`` (weights already weight-shared) → ``GraphIR``. The input map's
    shape comes from a first ``nchw`` or 3-D ``reshape`` node, else ``input_shape`` (h, w, c)."""
    from zeroskip.models.layers import (Add, AvgPool2D, Concat, Conv2D, Dense, Dropout, Flatten,
                                        FromNCHW, GlobalAvgPool, MaxPool2, MaxPool2D, ReLU,
                                        Reshape, ChannelShuffle)

    nodes = list(graph.nodes)
    aliases = {}
    first = nodes[0] if nodes else None
    if first is not None and first.inputs == (graph.input_name,) and (
            isinstance(first.layer, FromNCHW)
            or (isinstance(first.layer, Reshape) and len(first.layer.shape) == 3)):
        dims = first.layer.shape
        input_shape = (dims[1], dims[2], dims[0]) if isinstance(first.layer, FromNCHW) else dims
        aliases[first.name] = graph.input_name
        nodes = nodes[1:]
    if input_shape is None or len(input_shape) not in (1, 3):
        raise ZeroskipError(f"graph {graph.name!r}: its input map's shape is unknown (give "
                            "input_shape (height, width, channels), or (features,), or start "
                            "with an nchw or reshape node)")
    ir = GraphIR(graph.input_name, tuple(int(v) for v in input_shape))
    consumers = {n.name: [] for n in graph.nodes}
    consumers[graph.input_name] = []
    for n in graph.nodes:
        for i in n.inputs:
            consumers[i].append(n.name)

    def only_via(name: str, target: str) -> bool:
        """Every reader of ``name`` leads to ``target`` through views alone."""
        if name == graph.output:
            return False
        for reader in consumers.get(name, []):
            if reader == target:
                continue
            if not (isinstance(ir.nodes.get(reader), View) and only_via(reader, target)):
                return False
        return bool(consumers.get(name))

    def add(node):
        ir.nodes[node.name] = node
        ir.order.append(node.name)

    for n in nodes:
        layer, kind = n.layer, n.layer.kind
        inputs = tuple(aliases.get(i, i) for i in n.inputs)
        shapes = [ir.shape(i) for i in inputs]
        src, shape = inputs[0], shapes[0]
        is_map = len(shape) == 3
        if isinstance(layer, (Conv2D, MaxPool2, MaxPool2D, AvgPool2D, GlobalAvgPool)) and not is_map:
            _fail(n.name, kind, "reads rows, not a feature map")
        if isinstance(layer, Conv2D):
            w, b = _weights(layer)
            out, k, groups, c = w.shape[0], layer.kernel, layer.groups, shape[2]
            if w.shape[1] * groups != c:
                _fail(n.name, kind, f"takes {w.shape[1] * groups} channels but its input has {c}")
            full = np.zeros((out, c, k, k))
            per_in, per_out = c // groups, out // groups
            for g in range(groups):
                full[g * per_out:(g + 1) * per_out, g * per_in:(g + 1) * per_in] = \
                    w[g * per_out:(g + 1) * per_out]
            s, p = layer.stride, layer.pad
            add(Compute(n.name, OP_MAC, s, [Term(src, full, k, p)], b,
                        (_out(shape[0], k, s, p), _out(shape[1], k, s, p), out)))
        elif isinstance(layer, (MaxPool2, MaxPool2D, AvgPool2D, GlobalAvgPool)):
            if isinstance(layer, MaxPool2):
                k, s, p, op = 2, 2, 0, OP_MAX
            elif isinstance(layer, GlobalAvgPool):
                if shape[0] != shape[1]:
                    _fail(n.name, kind, f"pools a {shape[0]}x{shape[1]} map; the array's windows "
                                        "are square")
                k, s, p, op = shape[0], 1, 0, OP_MAC
            else:
                k, s, p = layer.kernel, layer.stride, layer.pad
                op = OP_MAX if isinstance(layer, MaxPool2D) else OP_MAC
                if op == OP_MAC and p and not layer.count_include_pad:
                    _fail(n.name, kind, "pads and leaves the padding out of its averages, which "
                                        "the array does not run (it divides by k x k)")
            c = shape[2]
            window = np.zeros((c, c, k, k))
            window[np.arange(c), np.arange(c)] = 1.0 if op == OP_MAX else 1.0 / (k * k)
            add(Compute(n.name, op, s, [Term(src, window, k, p)], np.zeros(c),
                        (_out(shape[0], k, s, p), _out(shape[1], k, s, p), c)))
        elif isinstance(layer, Dense):
            w, b = _weights(layer)
            if is_map or w.shape[1] != shape[0]:
                _fail(n.name, kind, f"takes {w.shape[1]} features but reads {shape}")
            add(Compute(n.name, FC, 1, [Term(src, w[:, :, None, None], 1, 0)], b, (w.shape[0],)))
        elif isinstance(layer, Dropout):
            add(View(n.name, "alias", inputs, shape))
        elif isinstance(layer, Flatten):
            if not is_map:
                add(View(n.name, "alias", inputs, shape))
            else:
                add(View(n.name, "flatten", inputs, (int(np.prod(shape)),),
                         chw=layer.channels_first))
        elif isinstance(layer, ChannelShuffle):
            if not is_map or shape[2] % layer.groups:
                _fail(n.name, kind, f"{layer.groups} groups do not divide its input {shape}")
            add(View(n.name, "shuffle", inputs, shape, groups=layer.groups))
        elif isinstance(layer, Concat):
            if any(len(s) != len(shape) or s[:-1] != shape[:-1] for s in shapes):
                _fail(n.name, kind, f"joins shapes {shapes} that differ beyond the channels")
            add(View(n.name, "concat", inputs, shape[:-1] + (sum(s[-1] for s in shapes),)))
        elif isinstance(layer, Add):
            if any(s != shape for s in shapes):
                _fail(n.name, kind, f"adds shapes {shapes} that differ")
            add(_residual(ir, n.name, inputs, consumers))
        elif isinstance(layer, ReLU):
            bases = sorted(ir.bases(src))
            fusable = [b for b in bases if not ir.nonneg(b)]
            if all(isinstance(ir.nodes.get(b), Compute) and only_via(b, n.name) for b in fusable):
                for base in fusable:             # the ReLU fuses into the layers computing them
                    ir.nodes[base].relu = True
                add(View(n.name, "alias", inputs, shape))
            else:                                # also read without it: its own identity rows
                identity = _identity(src, shape[-1])
                add(Compute(n.name, OP_MAC if is_map else FC, 1, [identity], np.zeros(shape[-1]),
                            shape, relu=True))
        else:
            _fail(n.name, kind, "is a kind the array does not run")
    ir.output = aliases.get(graph.output, graph.output)
    return ir


def _out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def _same(node: Compute) -> bool:
    """A stride-1 node whose window keeps the map's size (it can share a layer with carries)."""
    if node.op == FC:
        return len(node.shape) == 1
    return node.op == OP_MAC and node.stride == 1 and all(t.kernel == 2 * t.pad + 1
                                                          for t in node.terms)


def _identity(source: str, channels: int) -> Term:
    eye = np.zeros((channels, channels, 1, 1))
    eye[np.arange(channels), np.arange(channels)] = 1.0
    return Term(source, eye, 1, 0)


def _residual(ir: GraphIR, name: str, inputs, consumers) -> Compute:
    """``add``: folded into an operand computed for this sum alone (its rows also take the
    other operands with weight 1), else a layer of identity sums."""
    folded, terms, bias = [], [], 0.0
    for source in inputs:
        node = ir.nodes.get(source)
        if (isinstance(node, Compute) and _same(node) and not node.relu
                and consumers.get(source) == [name] and source not in folded):
            folded.append(source)
            terms += node.terms
            bias = bias + node.bias
    for source in inputs:
        if source not in folded:
            terms.append(_identity(source, ir.shape(source)[-1]))
    shape = ir.shape(inputs[0])
    for source in folded:                           # read by this sum alone: gone
        del ir.nodes[source]
        ir.order.remove(source)
    return Compute(name, OP_MAC if len(shape) == 3 else FC, 1, terms,
                   np.zeros(shape[-1]) + bias, shape)


# -- scheduling: which nodes each array layer computes, and what it carries ----------------------
@dataclass
class Boundary:
    """The map between two array layers: its size and where each value's channels lie.
    ``where[value] = (pos, neg)``: channel c of the value is ``pos[c]``, or, where
    ``neg[c] ≥ 0``, ``pos[c] − neg[c]`` (relu(v) and relu(−v) carried through a ReLU layer)."""

    height: int
    width: int
    channels: int
    stride: int
    where: dict
    rows: bool = False          #: a vector of features (after an FC layer), not a map


def resolve(ir: GraphIR, b: Boundary, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(pos, neg) per channel (per feature for rows) of a value in the boundary map."""
    node = ir.nodes.get(name)
    if not isinstance(node, View):
        return b.where[name]
    parts = [resolve(ir, b, i) for i in node.inputs]
    pos, neg = parts[0]
    if node.kind == "concat":
        return np.concatenate([p for p, _ in parts]), np.concatenate([n for _, n in parts])
    if node.kind == "shuffle":
        order = np.arange(len(pos)).reshape(node.groups, -1).T.reshape(-1)
        return pos[order], neg[order]
    if node.kind == "flatten":
        pixel = np.arange(b.height * b.width) * b.stride
        if node.chw:
            index = lambda v: np.where(v[:, None] >= 0, v[:, None] + pixel[None, :], -1).reshape(-1)  # noqa: E731
        else:
            index = lambda v: np.where(v[None, :] >= 0, pixel[:, None] + v[None, :], -1).reshape(-1)  # noqa: E731
        return index(pos), index(neg)
    return pos, neg


@dataclass
class Window:
    """An array layer's geometry: ``op`` OP_MAC / OP_MAX with a k x k window, or FC."""

    op: object
    kernel: int = 1
    stride: int = 1
    pad: int = 0

    def embeds(self, node: Compute, b: Boundary) -> bool:
        if node.op != self.op:
            return False
        if self.op == FC:
            return True
        if node.stride != self.stride or b.rows:
            return False
        for t in node.terms:
            d = self.pad - t.pad
            if d < 0 or d + t.kernel > self.kernel:
                return False
        return node.shape[:2] == self.out_size(b)

    def out_size(self, b: Boundary) -> tuple[int, int]:
        return (_out(b.height, self.kernel, self.stride, self.pad),
                _out(b.width, self.kernel, self.stride, self.pad))

    def carries(self, b: Boundary) -> bool:
        """Whether a value can pass through unchanged (identity at the centre tap)."""
        if self.op == FC:
            return b.rows               # rows pass through an FC layer; a flattened map does not
        return self.stride == 1 and self.kernel == 2 * self.pad + 1

    def label(self) -> str:
        if self.op == FC:
            return "a fully-connected layer"
        kind = "max pool" if self.op == OP_MAX else "window"
        return f"a {self.kernel}x{self.kernel} stride-{self.stride} {kind}"


def _windows_of(node: Compute) -> Window:
    if node.op == FC:
        return Window(FC)
    widest = max(node.terms, key=lambda t: t.kernel)
    return Window(node.op, widest.kernel, node.stride, widest.pad)


def schedule(ir: GraphIR, arch: ArchConfig):
    """Graph → the array layers' IRs, where the graph's output lies in the last layer's output
    vector (``output_positions``, in the output's (y, x, c) or feature order), and the groups of
    layers whose outputs share a map (``shared_fracs``, one scale each)."""
    plan = _plan(ir, arch)
    return _lower(ir, plan, _resting(ir, plan), arch)


@dataclass
class Step:
    """One array layer of the plan: its window, the nodes it computes, the values it carries,
    and the map it reads (``source``) as the plan had it, every value carried."""

    window: Window
    members: list
    carried: list
    source: Boundary


def _plan(ir: GraphIR, arch: ArchConfig) -> list[Step]:
    """The greedy schedule: among the ready nodes' windows, the one that computes the most of
    them and can carry whatever else is still needed."""
    h, w, c = ir.input_shape if len(ir.input_shape) == 3 else (1, 1, ir.input_shape[0])
    b = Boundary(h, w, c, c, {ir.input_name: (np.arange(c), np.full(c, -1))},
                 rows=len(ir.input_shape) == 1)
    pending = [name for name in ir.order if isinstance(ir.nodes[name], Compute)]
    plan = []
    while pending:
        ready = [n for n in pending
                 if all(ir.bases(t.source) <= b.where.keys() for t in ir.nodes[n].terms)]
        best = None
        for candidate in [_windows_of(ir.nodes[n]) for n in ready]:
            members = [n for n in ready if candidate.embeds(ir.nodes[n], b)]
            left = [n for n in pending if n not in members]
            needed = set().union(ir.bases(ir.output), *(ir.bases(t.source) for n in left
                                                      for t in ir.nodes[n].terms))
            carried = [v for v in b.where if v in needed]
            if carried and not candidate.carries(b):
                continue
            if best is None or len(members) > len(best[1]):
                best = (candidate, members, carried)
        if best is None:
            first = ir.nodes[ready[0]] if ready else ir.nodes[pending[0]]
            window = _windows_of(first)
            raise ZeroskipError(
                f"node {first.name!r}: needs {window.label()} while other branches' values must "
                "be kept at full size; the array reads one map per layer, so such branches are "
                "not lowered (docs/conv.md, \"Graphs\")")
        window, members, carried = best
        plan.append(Step(window, members, carried, b))
        _, b = _build_layer(ir, b, window, members, carried, len(plan) - 1, arch)
        pending = [n for n in pending if n not in members]
    _, neg = resolve(ir, b, ir.output)
    if np.any(neg >= 0):          # a split output: one more layer joins relu(v) − relu(−v)
        ir.nodes["output"] = Compute("output", OP_MAC, 1, [_identity(ir.output, len(neg))],
                                     np.zeros(len(neg)), ir.shape(ir.output))
        plan.append(Step(Window(OP_MAC), ["output"], [], b))
    return plan


def _resting(ir: GraphIR, plan: list[Step]) -> set[int]:
    """The layers r whose source map, instead of being carried through layers r and r + 1,
    rests in its bank while layer r + 1 writes beside it, for layer r + 2 to read both (the
    array's layers alternate banks, so r + 2 reads the bank r reads). That is a shortcut at no
    cycle: nothing in the map is read between r and r + 2, layer r + 1 keeps the map's size,
    and the layers writing the map and beside it requantise (so they can share one scale)."""
    readers: dict[str, set[int]] = {}
    for index, step in enumerate(plan):
        for name in step.members:
            for t in ir.nodes[name].terms:
                for value in ir.bases(t.source):
                    readers.setdefault(value, set()).add(index)
    final = ir.bases(ir.output)
    resting: set[int] = set()
    for r in range(1, len(plan) - 2):
        source, writer = plan[r].source, plan[r + 1]
        if r - 2 in resting or source.rows or not source.where:
            continue
        values = list(source.where)
        if any(v in final or {j for j in readers.get(v, ()) if j > r} != {r + 2} for v in values):
            continue
        if plan[r - 1].window.op != OP_MAC or writer.window.op != OP_MAC:
            continue
        if writer.window.out_size(writer.source) != (source.height, source.width):
            continue
        resting.add(r)
    return resting


def _lower(ir: GraphIR, plan: list[Step], resting: set[int], arch: ArchConfig):
    """The plan's layers, the values of a resting map not carried, the layer after writing
    beside them at its ``channel_base`` (the map's stride widened for both)."""
    h, w, c = ir.input_shape if len(ir.input_shape) == 3 else (1, 1, ir.input_shape[0])
    b = Boundary(h, w, c, c, {ir.input_name: (np.arange(c), np.full(c, -1))},
                 rows=len(ir.input_shape) == 1)
    layers, shared, rest = [], [], None
    for index, step in enumerate(plan):
        # a resting map's values are not carried by the layer reading it, nor by the next
        carried = [] if index in resting else [v for v in step.carried if v in b.where]
        layer, after = _build_layer(ir, b, step.window, step.members, carried, index, arch)
        if rest is not None:            # write beside the resting map, in its bank
            base = fm_stride(rest.channels, arch.pes)
            stride = base + fm_stride(after.channels, arch.pes)
            layer.geometry = replace(layer.geometry, channel_base=base, out_stride=stride)
            where = dict(rest.where)
            for value, (pos, neg) in after.where.items():
                where[value] = (pos + base, np.where(neg >= 0, neg + base, -1))
            after = Boundary(after.height, after.width, base + after.channels, stride, where)
            layers[-2].geometry = replace(layers[-2].geometry, out_stride=stride)
            layers[-1].geometry = replace(layers[-1].geometry, in_stride=stride)
            shared.append([index - 2, index])
        rest = b if index in resting else None
        layers.append(layer)
        b = after
    pos, _ = resolve(ir, b, ir.output)
    if len(ir.shape(ir.output)) == 3 and not b.rows:
        pos = (np.arange(b.height * b.width)[:, None] * b.stride + pos[None, :]).reshape(-1)
    return layers, pos.astype(np.int64), shared


def _build_layer(ir: GraphIR, b: Boundary, window: Window, members: list[str],
                 carried: list[str], index: int, arch: ArchConfig):
    """One array layer: its weight matrix over the boundary map, rows for the members (both
    signs for one without a ReLU in a ReLU layer that may be negative) and the carries."""
    if arch.lane_passes and window.op != FC:
        # the members in the order their inputs lie in the map, so that per-channel members'
        # rows can fall in their inputs' lanes (``_channel_place``)
        members = sorted(members, key=lambda n: _lowest_input(ir, b, ir.nodes[n]))
    nodes = [ir.nodes[n] for n in members]
    relu = any(n.relu for n in nodes)
    k = window.kernel
    columns = (b.height * b.width * b.stride) if window.op == FC else k * k * b.channels
    blocks, biases, where = [], [], {}
    rows = 0

    for node in nodes:
        out = node.shape[-1]
        full = np.zeros((out, columns))
        for t in node.terms:
            pos, neg = resolve(ir, b, t.source)
            if window.op == OP_MAX and np.any(neg >= 0):
                _fail(node.name, "max pool", "pools a value carried as two signed halves, which "
                                             "the array does not run")
            if window.op == FC:
                wt = t.weights[:, :, 0, 0]
                np.add.at(full, (slice(None), pos), wt)
                inside = neg >= 0
                np.add.at(full, (slice(None), neg[inside]), -wt[:, inside])
                continue
            d = window.pad - t.pad
            grid = full.reshape(out, k, k, b.channels)
            for ch in range(len(pos)):
                grid[:, d:d + t.kernel, d:d + t.kernel, pos[ch]] += t.weights[:, ch]
                if neg[ch] >= 0:
                    grid[:, d:d + t.kernel, d:d + t.kernel, neg[ch]] -= t.weights[:, ch]
        split = relu and not node.relu and not ir.nonneg(node.name) and window.op == OP_MAC
        place = (_channel_place(ir, b, node, window, rows, arch.pes) if arch.lane_passes
                 else np.arange(out))
        placed, placed_bias = np.empty_like(full), np.empty(out)
        placed[place], placed_bias[place] = full, node.bias
        blocks.append(placed)
        biases.append(placed_bias)
        where[node.name] = (rows + place, np.full(out, -1))
        if split:
            blocks.append(-placed)
            biases.append(-placed_bias)
            where[node.name] = (rows + place, rows + out + place)
            rows += out
        rows += out
    centre = (k // 2) * k + k // 2
    for value in carried:
        pos, neg = b.where[value]
        n = len(pos)
        exact = np.all(neg < 0)
        keep = np.zeros((n, columns))
        keep.reshape(n, k * k, b.channels)[np.arange(n), centre, pos] = 1.0
        if window.op == OP_MAX:
            blocks.append(keep)
            biases.append(np.zeros(n))
            new_neg = np.full(n, -1)
            if not exact:
                other = np.zeros((n, columns))
                inside = np.flatnonzero(neg >= 0)
                other.reshape(n, k * k, b.channels)[inside, centre, neg[inside]] = 1.0
                blocks.append(other)
                biases.append(np.zeros(n))
                new_neg = np.where(neg >= 0, rows + n + np.arange(n), -1)
            where[value] = (rows + np.arange(n), new_neg)
            rows += n * (1 if exact else 2)
            continue
        inside = np.flatnonzero(neg >= 0)
        keep.reshape(n, k * k, b.channels)[inside, centre, neg[inside]] = -1.0
        blocks.append(keep)
        biases.append(np.zeros(n))
        if relu and not (exact and ir.nonneg(value)):
            blocks.append(-keep)
            biases.append(np.zeros(n))
            where[value] = (rows + np.arange(n), rows + n + np.arange(n))
            rows += 2 * n
        else:
            where[value] = (rows + np.arange(n), np.full(n, -1))
            rows += n
    matrix = np.concatenate(blocks)
    bias = np.concatenate(biases)
    name = "+".join(members)
    if window.op == FC:
        next_b = Boundary(1, 1, rows, rows, where, rows=True)
        return _shared_ir(LayerIR, matrix, bias, relu, name, index, arch), next_b
    oh, ow = window.out_size(b)
    geometry = ConvGeometry(b.height, b.width, b.channels, b.stride, k, window.stride, window.pad,
                            rows, fm_stride(rows, arch.pes), window.op)
    problem = geometry.problem(arch.pes)
    if problem:
        raise ZeroskipError(f"layer {index} ({name}): {problem}")
    next_b = Boundary(oh, ow, rows, geometry.out_stride, where)
    if window.op == OP_MAX:
        layer = GraphMaxLayerIR(codes=(matrix != 0).astype(np.int64), codebook=np.array([0.0, 1.0]),
                                bias=np.zeros(rows), relu=relu, name=name, geometry=geometry)
        return layer, next_b
    return _shared_ir(ConvLayerIR, matrix, bias, relu, name, index, arch, geometry=geometry), next_b


def _lowest_input(ir: GraphIR, b: Boundary, node: Compute) -> int:
    """The lowest map position a node's first term reads (0 without terms)."""
    pos = resolve(ir, b, node.terms[0].source)[0] if node.terms else ()
    return int(np.min(pos)) if len(pos) else 0


def _channel_place(ir: GraphIR, b: Boundary, node: Compute, window: Window, rows: int,
                   pes: int) -> np.ndarray:
    """The row of each of the node's output channels, relative to its block's first row
    ``rows``. A per-channel node (depthwise conv, pool: channel o reads input channel o alone)
    whose input channels fill the positions [lo, lo + out) in some order (after a channel
    shuffle, say), with ``rows`` ≡ lo (mod N), writes channel o at its input's place, so that
    each column's weights lie in the PE of its activation's lane (docs/timing.md "Lane passes";
    called on arrays with lane passes only); any other node writes its channels in order."""
    out = node.shape[-1]
    order = np.arange(out)
    if window.op == FC or len(node.terms) != 1:
        return order
    pos, neg = resolve(ir, b, node.terms[0].source)
    w = node.terms[0].weights
    lo = int(pos.min()) if len(pos) else 0
    if (len(pos) != out or np.any(neg >= 0) or (rows - lo) % pes
            or not np.array_equal(np.sort(pos), lo + order)):
        return order
    across = w.copy()
    across[order, order] = 0
    return order if across.any() else np.asarray(pos, np.int64) - lo


def _shared_ir(cls, matrix: np.ndarray, bias: np.ndarray, relu: bool, name: str, index: int,
               arch: ArchConfig, **extra):
    """The layer's codebook: 0, then every distinct weight of its nodes, carries and pools."""
    values = np.unique(matrix[matrix != 0])
    if len(values) >= arch.codebook_size:
        need = int(len(values)).bit_length()
        raise ZeroskipError(f"layer {index} ({name}): its codebook needs {len(values)} "
                            f"distinct weights (its nodes', carries' and pools' together), more "
                            f"than code_bits {arch.code_bits} holds ({arch.codebook_size - 1}); try "
                            f"--code-bits {need} (with --run-bits or --line-bits so that "
                            "line_bits stays a multiple of code_bits + run_bits)")
    codebook = np.concatenate([[0.0], values])
    codes = np.where(matrix != 0, np.searchsorted(values, matrix) + 1, 0).astype(np.int64)
    return cls(codes=codes, codebook=codebook, bias=bias.astype(np.float64), relu=relu,
               name=name, **extra)


@dataclass
class GraphMaxLayerIR(MaxPoolLayerIR):
    """A max-pool layer of a graph: each row the maximum of its own entries' activations (its
    pool's window, or one carried activation at the centre)."""

    def choose_formats(self, index, xq, in_frac, arch, calibrated):
        g = self.geometry
        windows = g.windows(arch.pes)
        patches = gather(xq, windows)                                   # [batch, P, columns]
        low = signed_range(arch.act_bits)[0]
        seen = np.where(windows.index[None] >= 0, patches, low)
        y = np.full(patches.shape[:2] + (g.out_channels,), low, np.int64)
        for row in range(g.out_channels):
            used = np.flatnonzero(self.codes[row])
            y[..., row] = seen[..., used].max(axis=-1)
        return self.pooled(y, in_frac, arch)


def compile_graph(graph, arch, calibration=None, input_shape=None, balance: bool = False,
                  input_frac: int | None = None, row_passes: bool = False):
    """A ``models.network.Graph`` whose weights are weight-shared → ``Program``. Inputs (and
    ``calibration``) are the input map flattened in (y, x, c) order; outputs are the graph's
    output in (y, x, c) or feature order. ``row_passes``: as ``compile_layers``'s
    (``conv.with_row_passes``, after the schedule)."""
    import time

    from zeroskip.compiler.ir import CompileIR
    from zeroskip.compiler.passes import DEFAULT_FLOW, run_flow
    from zeroskip.hw.arch import load_arch

    start = time.perf_counter()
    arch = load_arch(arch)
    gir = graph_ir(graph, input_shape)
    layers, positions, shared = schedule(gir, arch)
    from zeroskip.compiler.spatial import segment_end, tile_network

    end = segment_end(layers, arch)
    if end:                     # maps larger than the banks: tiled over space (docs/conv.md)
        options = {"balance": bool(balance), "graph": graph.name, "row_passes": bool(row_passes)}
        return tile_network(layers, end, arch, options, calibration=calibration,
                            input_frac=input_frac, output_positions=positions,
                            shared_fracs=shared)
    if row_passes:
        from zeroskip.compiler.conv import with_row_passes

        layers = with_row_passes(layers, arch)
    ir = CompileIR(arch=arch, layers=layers, calibration=calibration, input_frac=input_frac,
                   balance=balance, output_positions=positions, shared_fracs=shared)
    ir.meta["compiler"] = {"balance": bool(balance), "graph": graph.name,
                           "row_passes": bool(row_passes),
                           "input_frac": None if input_frac is None else int(input_frac),
                           "calibration": None if calibration is None
                           else int(np.atleast_2d(calibration).shape[0]),
                           "flow": ["schedule"] + [step.__name__ for step in DEFAULT_FLOW]}
    program = run_flow(ir).program
    program.meta["compiler"]["seconds"] = round(time.perf_counter() - start, 3)
    return program


def is_graph(model) -> bool:
    """Whether ``model`` is a ``models.network.Graph`` (nodes naming their inputs)."""
    from zeroskip.models.network import Graph

    return isinstance(model, Graph)


def compile_graph_file(path: str, graph, arch, **options):
    """``compile_graph`` for a model file's graph: any problem is one line naming the file."""
    try:
        program = compile_graph(graph, arch, **options)
    except ZeroskipError as error:
        message = str(error)
        raise ZeroskipError(message if message.startswith(f"{path}:") else f"{path}: {message}") \
            from None
    program.meta["source"] = str(path)
    return program


def load_graph(path: str):
    """The ``Graph`` of a compressed model file or ONNX model that branches (joins, reads
    another node than the one before it, or shuffles channels), or None for a chain (which the
    layer path compiles)."""
    from zeroskip.models import modelfile
    from zeroskip.models.interchange import _head, is_onnx

    head = _head(path, len(modelfile.MAGIC))
    if head == modelfile.MAGIC:
        model = modelfile.load(path)
        if "output" not in model.network or _is_chain(model.network):
            return None
        return model.to_network()
    if not head.startswith(b"PK") and is_onnx(path, head):
        from zeroskip.models import onnx

        model = onnx.load(path)
        if model.is_sequential() and not any(op.kind == "shuffle" for op in model.ops):
            return None
        return model.network()
    return None


def _is_chain(network: dict) -> bool:
    previous = network.get("input", "input")
    for spec in network["layers"]:
        if spec.get("inputs") != [previous] or spec["kind"] == "shuffle":
            return False
        previous = spec.get("node")
    return previous == network["output"]


# -- example graphs, weight-shared at random: for tests, the regression and benchmarks ---------
GRAPH_KINDS = ("fire", "shuffle", "shuffle2", "bottleneck")


def example_graph(kind: str, rng: np.random.Generator, size: int = 6, channels: int = 4,
                  width: int = 8, groups: int = 2, values: int = 4, density: float = 0.6,
                  classes: int | None = 3):
    """A small weight-shared ``Graph`` of one kind, on a ``size`` x ``size`` x ``channels``
    input: ``fire`` (squeeze 1x1 → expand 1x1 ‖ expand 3x3 → concat), ``shuffle`` (ShuffleNet
    unit, stride 1: grouped 1x1 → shuffle → depthwise 3x3 → grouped 1x1, + shortcut, ReLU),
    ``shuffle2`` (stride 2: 3x3 average-pooled shortcut ‖ branch → concat → ReLU) or
    ``bottleneck`` (MobileNetV2: expand 1x1 → depthwise 3x3 → linear project 1x1 + a shortcut
    that may be negative). A 1x1 stem conv comes first; with ``classes``, a global average
    pool, flatten and FC layer last. Each weighted layer has ``values`` shared weights. The
    graph reads rows [n, size·size·channels] in (y, x, c) order (a first ``reshape`` node)."""
    from zeroskip.models.layers import (Add, AvgPool2D, ChannelShuffle, Concat, Conv2D, Dense,
                                        Flatten, GlobalAvgPool, ReLU, Reshape)
    from zeroskip.models.network import Graph, Node

    if kind not in GRAPH_KINDS:
        raise ValueError(f"unknown example graph {kind!r} (known: {', '.join(GRAPH_KINDS)})")

    def shared(layer):
        w = layer.params["W"]
        book = rng.uniform(-0.8, 0.8, values) / np.sqrt(w[0].size) * 2
        codes = rng.integers(0, values, w.shape)
        layer.params["W"][...] = np.where(rng.random(w.shape) < density, book[codes], 0.0)
        layer.params["b"][...] = rng.uniform(-0.1, 0.1, w.shape[0])
        return layer

    def conv(cin, cout, k, stride=1, pad=0, g=1):
        return shared(Conv2D(cin, cout, k, stride=stride, pad=pad, groups=g))

    nodes, c = [], width
    stem_relu = kind != "bottleneck"
    nodes.append(Node("image", Reshape((size, size, channels)), ("input",)))   # (y, x, c) rows
    nodes.append(Node("stem", conv(channels, c, 1), ("image",)))
    last = "stem"
    if stem_relu:
        nodes.append(Node("stem_relu", ReLU(), ("stem",)))
        last = "stem_relu"
    if kind == "fire":
        squeeze, expand = c // 2, c
        nodes += [Node("squeeze", conv(c, squeeze, 1), (last,)),
                  Node("squeeze_relu", ReLU(), ("squeeze",)),
                  Node("expand1x1", conv(squeeze, expand, 1), ("squeeze_relu",)),
                  Node("expand1x1_relu", ReLU(), ("expand1x1",)),
                  Node("expand3x3", conv(squeeze, expand, 3, pad=1), ("squeeze_relu",)),
                  Node("expand3x3_relu", ReLU(), ("expand3x3",)),
                  Node("concat", Concat(), ("expand1x1_relu", "expand3x3_relu"))]
        last, c = "concat", 2 * expand
    elif kind in ("shuffle", "shuffle2"):
        mid = c
        stride = 1 if kind == "shuffle" else 2
        out = c if stride == 1 else c
        nodes += [Node("gconv1", conv(c, mid, 1, g=groups), (last,)),
                  Node("gconv1_relu", ReLU(), ("gconv1",)),
                  Node("shuffle", ChannelShuffle(groups), ("gconv1_relu",)),
                  Node("depthwise", conv(mid, mid, 3, stride=stride, pad=1, g=mid), ("shuffle",)),
                  Node("gconv2", conv(mid, out, 1, g=groups), ("depthwise",))]
        if stride == 1:
            nodes += [Node("add", Add(), ("gconv2", last)), Node("unit_relu", ReLU(), ("add",))]
        else:
            nodes += [Node("shortcut", AvgPool2D(3, 2, 1, count_include_pad=True), (last,)),
                      Node("concat", Concat(), ("shortcut", "gconv2")),
                      Node("unit_relu", ReLU(), ("concat",))]
            c = c + out
        last = "unit_relu"
    else:
        wide = 2 * c
        nodes += [Node("expand", conv(c, wide, 1), (last,)),
                  Node("expand_relu", ReLU(), ("expand",)),
                  Node("depthwise", conv(wide, wide, 3, pad=1, g=wide), ("expand_relu",)),
                  Node("depthwise_relu", ReLU(), ("depthwise",)),
                  Node("project", conv(wide, c, 1), ("depthwise_relu",)),
                  Node("add", Add(), ("project", last))]
        last = "add"
    if classes is not None:
        nodes += [Node("gap", GlobalAvgPool(), (last,)), Node("flatten", Flatten(), ("gap",)),
                  Node("fc", shared(Dense(c, classes)), ("flatten",))]
    return Graph(kind, nodes)


def random_graph_program(arch, seed: int, kind: str, size: int = 6, channels: int = 4,
                         width: int = 8, classes: int | None = 3, batch: int = 8,
                         input_density: float = 0.7, density: float = 0.6):
    """``(program, x, graph)``: ``example_graph(kind)`` seeded, compiled for ``arch`` with its
    float inputs x [batch, size·size·channels] ((y, x, c) order) as calibration."""
    rng = np.random.default_rng(seed)
    graph = example_graph(kind, rng, size, channels, width, density=density, classes=classes)
    x = rng.uniform(-1, 1, (batch, size * size * channels))
    x[rng.random(x.shape) >= input_density] = 0.0
    program = compile_graph(graph, arch, calibration=x, input_shape=(size, size, channels))
    return program, x, graph
