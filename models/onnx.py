"""ONNX in and out (docs/onnx.md): a model trained elsewhere enters zeroskip, a compressed one
leaves it as a standard graph that onnxruntime runs.

``load(path)`` reads a sequential ONNX graph into an ``OnnxModel``: a list of ``Op``s in the
graph's own (NCHW, channels-first) layout, batch norm folded into the layer before it, Softmax at
the end, Dropout and Identity dropped. From it, ``network()`` builds zeroskip's numpy
``Network`` (which takes the ONNX model's inputs and gives its outputs) and ``array_layers()``
the compiler's layers (``MapInput``, ``SharedConv``, ``Pool``, ``SharedLayer``) of a
weight-shared model. ``export(layers)`` is the way back: the compiler's layers of a compressed
model as ONNX bytes, float weights = codebook values, 0.0 where pruned; each weight's codebook
rides along in the model's metadata (``zeroskip.codebook.<initializer>``), so importing the
export gives back the same codebooks and codes.

Every problem with a file is one ``ZeroskipError`` line naming the file (and the node).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from zeroskip.errors import ZeroskipError

from .layers import chw_to_hwc

#: the most distinct non-zero values a weight tensor may have to count as weight-shared (the
#: compiler's widest codebook: code_bits 12)
MAX_SHARED_VALUES = 2 ** 12 - 1
#: metadata key prefix of an exported weight's codebook
CODEBOOK_KEY = "zeroskip.codebook."
#: the opset ``export`` writes (Conv, Gemm, MaxPool, AveragePool, Flatten, Relu: all stable)
EXPORT_OPSET = 13
#: the batch dimension inside constant-folded shape values (``Shape`` of an activation)
BATCH = -(2 ** 62)

#: shape arithmetic that exporters emit around Reshape (``x.view(x.size(0), -1)``), folded away
SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice")


@dataclass
class Op:
    """One step of a sequential model, in ONNX's layout: ``conv`` (weight [out, C, k, k]),
    ``dense`` (weight [out, in]), ``relu``, ``maxpool``/``avgpool`` (kernel, stride, pad),
    ``globalavgpool``, ``flatten`` (a map to (c, y, x) rows), ``to_map`` (rows to a [C, H, W]
    map); ``shape`` is the per-sample shape it produces."""

    kind: str
    name: str
    shape: tuple
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    kernel: int = 0
    stride: int = 1
    pad: int = 0
    count_include_pad: bool = False
    weight_name: str = ""
    groups: int = 1
    inputs: list = field(default_factory=list)   # what it reads: the model's input or op outputs
    output: str = ""                             # its ONNX output (unique in the graph)
    op_type: str = ""                            # the ONNX operator it came from


@dataclass
class OnnxModel:
    """A sequential ONNX model: its input's per-sample shape ((F,) or (C, H, W)) and its ops."""

    source: str
    input_name: str
    input_shape: tuple
    ops: list[Op]
    codebooks: dict = field(default_factory=dict)   # weight initializer -> stored codebook
    output: str = ""                                # the op whose result the model returns

    def is_sequential(self) -> bool:
        """Whether each op reads the one before it (the first the input) and the last is the
        output: a plain stack of layers, no branches."""
        previous = self.input_name
        for op in self.ops:
            if op.inputs != [previous]:
                return False
            previous = op.output
        return previous == (self.output or previous)

    def network(self, name: str | None = None):
        """zeroskip's numpy ``Network`` computing what the graph computes (without a final
        Softmax): it takes the ONNX input ([n, C, H, W] or [n, F]) and returns [n, F] rows
        (a model ending in a map returns it NHWC)."""
        from .layers import (Add, AvgPool2D, ChannelShuffle, Concat, Conv2D, Dense, Flatten,
                             FromNCHW, GlobalAvgPool, MaxPool2D, ReLU)
        from .network import Graph, Network, Node

        layers = [FromNCHW(self.input_shape)] if len(self.input_shape) == 3 else []
        built = []
        for op in self.ops:
            if op.kind == "conv":
                out, c, k, _ = op.weight.shape
                first = not any(isinstance(x, (Conv2D, Dense)) for x in layers)
                layer = Conv2D(c * op.groups, out, k, stride=op.stride, pad=op.pad,
                               input_grad=not first, groups=op.groups)
            elif op.kind == "dense":
                layer = Dense(op.weight.shape[1], op.weight.shape[0])
            elif op.kind == "relu":
                layer = ReLU()
            elif op.kind == "maxpool":
                layer = MaxPool2D(op.kernel, op.stride, op.pad)
            elif op.kind == "avgpool":
                layer = AvgPool2D(op.kernel, op.stride, op.pad, op.count_include_pad)
            elif op.kind == "globalavgpool":
                layer = GlobalAvgPool()
            elif op.kind == "flatten":
                layer = Flatten(channels_first=True)
            elif op.kind == "concat":
                layer = Concat()
            elif op.kind == "add":
                layer = Add()
            elif op.kind == "shuffle":
                layer = ChannelShuffle(op.groups)
            else:                                             # to_map
                layer = FromNCHW(op.shape)
            if op.weight is not None:
                layer.params["W"][...] = op.weight
                layer.params["b"][...] = op.bias
            layers.append(layer)
            built.append(layer)
        stem = os.path.splitext(os.path.basename(self.source))[0] or "onnx"
        if self.is_sequential():
            return Network(name or stem, layers)
        # the graph's nodes take the ONNX nodes' names when those are unique, else their outputs
        names = [op.name for op in self.ops]
        if len(set(names)) != len(names) or "input" in names:
            names = [op.output for op in self.ops]
        rename = dict(zip((op.output for op in self.ops), names))
        nodes, entry = [], "input"
        if len(self.input_shape) == 3:                     # the NCHW input made a map first
            entry = "input.nhwc"
            while entry in names:
                entry += "_"
            nodes.append(Node(entry, layers[0], ("input",)))
        rename[self.input_name] = entry
        for op, layer in zip(self.ops, built):
            nodes.append(Node(rename[op.output], layer, tuple(rename[i] for i in op.inputs)))
        return Graph(name or stem, nodes, rename[self.output])

    def weighted_names(self) -> list[str]:
        return [op.name for op in self.ops if op.weight is not None]

    def is_shared(self) -> bool:
        """Whether every weight tensor holds at most ``MAX_SHARED_VALUES`` distinct non-zeros."""
        return all(len(np.unique(op.weight[op.weight != 0])) <= MAX_SHARED_VALUES
                   for op in self.ops if op.weight is not None)

    def array_layers(self) -> list:
        """The compiler's layers of a weight-shared model: an input map first when the model
        starts with one ([C, H, W] → ``MapInput(H, W, C)``), then ``SharedConv``, ``Pool`` and
        ``SharedLayer``; ReLUs fused into the layer before them, and the first FC layer after a
        map gets its columns moved from ONNX's (c, y, x) order to the array's (y, x, c)."""
        from .interchange import MapInput, Pool, SharedConv, SharedLayer

        self.check_unbranched()
        out: list = []
        flat_from = None                          # the (C, H, W) map the rows were flattened from
        if len(self.input_shape) == 3:
            c, h, w = self.input_shape
            out.append(MapInput(h, w, c))
        for position, op in enumerate(self.ops):
            where = f"{self.source}: node '{op.name}'"
            if op.kind == "relu":
                last = out[-1] if out else None
                if last is not None and getattr(last, "act", None) == "relu":
                    continue
                if last is None or isinstance(last, MapInput) or not hasattr(last, "act"):
                    raise ZeroskipError(f"{where} (Relu) follows no layer the array can fuse it "
                                        "into")
                out[-1] = _with_act(last, "relu")
            elif op.kind in ("conv", "dense"):
                book, codes = self.shared(op)
                bias = op.bias.astype(np.float32)
                if op.kind == "conv":
                    out.append(SharedConv(book, codes.reshape(len(codes), -1), bias, "none",
                                          op.kernel, op.stride, op.pad, name=op.name,
                                          groups=op.groups))
                else:
                    if flat_from is not None:
                        codes = codes[:, chw_to_hwc(flat_from)]
                        flat_from = None
                    out.append(SharedLayer(book, codes, bias, "none", name=op.name))
            elif op.kind in ("maxpool", "avgpool"):
                if op.kind == "avgpool" and op.pad and not op.count_include_pad:
                    raise ZeroskipError(f"{where} (AveragePool) pads and leaves the padding out "
                                        "of its averages (count_include_pad 0), which the array "
                                        "does not run (it divides by k x k)")
                out.append(Pool(op.kind[:3], op.kernel, op.stride, op.pad, name=op.name))
            elif op.kind == "globalavgpool":
                _, h, w = self._input_of(position)
                if h != w:
                    raise ZeroskipError(f"{where} (GlobalAveragePool) pools a {h}x{w} map; the "
                                        "array's pooling windows are square")
                out.append(Pool("avg", h, 1, name=op.name))
            elif op.kind == "flatten":
                shape = self._input_of(position)
                if len(shape) == 3 and any(isinstance(layer, MapInput) for layer in out):
                    flat_from = shape
            else:
                raise ZeroskipError(f"{where} (Reshape) makes a feature map after the input; "
                                    "the array takes maps only as the model's input")
        if flat_from is not None or not any(hasattr(layer, "codes") for layer in out):
            raise ZeroskipError(f"{self.source}: the model must end in a Gemm/MatMul layer "
                                "(after any Flatten) to run on the array")
        return out

    def check_unbranched(self) -> None:
        """The array runs a chain of layers: the first op that branches, joins branches or
        shuffles channels is one line naming its node."""
        previous = self.input_name
        for op in self.ops:
            where = f"{self.source}: node '{op.name}' ({op.op_type or op.kind})"
            if op.kind in ("concat", "add"):
                raise ZeroskipError(f"{where} joins {len(op.inputs)} branches; branching graphs "
                                    "are not lowered onto the array yet")
            if op.inputs != [previous]:
                read = next((o.name for o in self.ops if o.output == op.inputs[0]),
                            op.inputs[0])
                raise ZeroskipError(f"{where} reads '{read}', not the node before it; "
                                    "branching graphs are not lowered onto the array yet")
            if op.kind == "shuffle":
                raise ZeroskipError(f"{where} shuffles channels, which is not lowered onto the "
                                    "array yet")
            previous = op.output

    def _input_of(self, position: int) -> tuple:
        return self.ops[position - 1].shape if position else self.input_shape

    def shared(self, op: Op) -> tuple[np.ndarray, np.ndarray]:
        """``(codebook, codes)`` of a weight-shared tensor: the codebook its export stored, or
        0.0 followed by its distinct non-zero values in increasing order."""
        weight = op.weight.astype(np.float32)
        values = np.unique(weight[weight != 0])
        if len(values) > MAX_SHARED_VALUES:
            raise ZeroskipError(
                f"{self.source}: node '{op.name}': its weights have {len(values)} distinct "
                f"values, not weight-shared (at most {MAX_SHARED_VALUES}); compress the model "
                "first")
        book = self.codebooks.get(op.weight_name)
        if book is None or book[0] != 0.0 or not np.isin(values, book).all():
            book = np.concatenate([[0.0], values]).astype(np.float32)
        from .interchange import code_dtype

        order = np.argsort(book, kind="stable")
        found = np.searchsorted(book[order], weight, side="left")
        codes = order[np.minimum(found, len(book) - 1)]
        codes[weight == 0] = 0
        return book, codes.astype(code_dtype(len(book)))


def _with_act(layer, act: str):
    import dataclasses

    return dataclasses.replace(layer, act=act)


# --- reading ---------------------------------------------------------------------------------

def read_model(path: str | os.PathLike):
    """The ``onnx.ModelProto`` of a file, checked; a truncated or foreign file is one line."""
    import onnx
    from google.protobuf.message import DecodeError

    from zeroskip.inputs import read_file

    data = read_file(path, "ONNX model", limit=2 ** 31)
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError, TypeError, UnicodeDecodeError) as error:
        raise ZeroskipError(f"{path}: not an ONNX model (cannot parse it: "
                            f"{_first_line(error)})") from None
    if not model.graph.node:
        raise ZeroskipError(f"{path}: not an ONNX model (no graph nodes; truncated?)")
    _load_external_data(model, path)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as error:
        raise ZeroskipError(f"{path}: not a valid ONNX model ({_first_line(error)})") from None
    return model


def _load_external_data(model, path) -> None:
    """Weights saved next to the model (``torch.onnx.export``'s default writes ``MODEL.onnx.data``):
    read from files inside the model's directory only."""
    from onnx import external_data_helper

    tensors = [t for t in model.graph.initializer if external_data_helper.uses_external_data(t)]
    if not tensors:
        return
    base = os.path.dirname(os.path.abspath(path))
    for tensor in tensors:
        info = external_data_helper.ExternalDataInfo(tensor)
        location = os.path.normpath(os.path.join(base, info.location))
        if os.path.isabs(info.location) or not location.startswith(base + os.sep) \
                or not os.path.isfile(location):
            raise ZeroskipError(f"{path}: weight '{tensor.name}' is stored in "
                                f"'{info.location}', which is not a file beside the model")
    try:
        external_data_helper.load_external_data_for_model(model, base)
    except (OSError, ValueError, RuntimeError) as error:
        raise ZeroskipError(f"{path}: cannot read its external weights "
                            f"({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def load(path: str | os.PathLike) -> OnnxModel:
    """Read an ONNX file into an ``OnnxModel`` (``ZeroskipError`` naming the file on any
    problem: unsupported operators, branches, shapes it cannot resolve)."""
    return from_proto(read_model(path), str(path))


def load_array_layers(path: str | os.PathLike) -> list:
    """The compiler's layers of a weight-shared ONNX model."""
    return load(path).array_layers()


def from_proto(model, source: str) -> OnnxModel:
    """An ``OnnxModel`` from a parsed (and checked) ``ModelProto``."""
    try:
        return _Importer(model, source).run()
    except ZeroskipError:
        raise
    except (KeyError, ValueError, IndexError, TypeError, AttributeError, OverflowError) as error:
        # what the checker lets through (tensor data that disagrees with its dims, ...)
        raise ZeroskipError(f"{source}: a damaged ONNX model ({type(error).__name__}: "
                            f"{_first_line(error)})") from None


class _Importer:
    """Walks a topologically sorted ONNX graph along its one chain of activations."""

    def __init__(self, model, source: str):
        from onnx import numpy_helper

        self.model, self.source, self.graph = model, source, model.graph
        self.consts: dict[str, np.ndarray] = {}
        for tensor in self.graph.initializer:           # external data is loaded by now
            self.consts[tensor.name] = numpy_helper.to_array(tensor)
        self.shapes: dict[str, tuple] = {}                # activation -> per-sample shape
        self.ops: list[Op] = []
        self.made_by: dict[str, Op] = {}                 # activation -> the weighted op whose
        #                                                  output it is (a bias or BN folds in)
        self.softmax: str | None = None
        self.fixed_batch: int | None = None
        self.counts = {"conv": 0, "fc": 0}
        self.source_of: dict[str, str] = {}             # activation -> the op output it is
        self.linear: dict[str, bool] = {}                # activation -> read once all the way
        #                                                  from its op (a fold changes nothing else)
        self.uses: dict[str, int] = {}                   # activation -> nodes (and outputs) reading it
        for node in self.graph.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        for value in self.graph.output:
            self.uses[value.name] = self.uses.get(value.name, 0) + 1
        self.shuffles: dict[str, tuple] = {}             # a channel shuffle under way: activation
        #                                                  -> (step, groups, map activation)

    def fail(self, node, problem: str):
        raise ZeroskipError(f"{self.source}: node '{self._name(node)}' ({node.op_type}) {problem}")

    def _name(self, node) -> str:
        return node.name or (node.output[0] if node.output else node.op_type)

    # -- the graph's one input and one output
    def _input(self) -> tuple[str, tuple]:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            names = ", ".join(f"'{i.name}'" for i in inputs) or "none"
            raise ZeroskipError(f"{self.source}: the graph needs exactly one input, it has "
                                f"{names}")
        value = inputs[0]
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor.elem_type != 1:   # FLOAT
            raise ZeroskipError(f"{self.source}: input '{value.name}' must be a float32 tensor")
        if not tensor.HasField("shape"):
            raise ZeroskipError(f"{self.source}: input '{value.name}' has no shape; export "
                                "the model with a fixed input shape")
        dims = list(tensor.shape.dim)
        if len(dims) not in (2, 4):
            raise ZeroskipError(f"{self.source}: input '{value.name}' has {len(dims)} "
                                "dimensions; expected [batch, features] or [batch, C, H, W]")
        shape = []
        for axis, dim in enumerate(dims[1:], start=1):
            if not dim.HasField("dim_value") or dim.dim_value < 1:
                what = f"'{dim.dim_param}'" if dim.dim_param else "unknown"
                raise ZeroskipError(f"{self.source}: input '{value.name}' has a dynamic "
                                    f"dimension {what} at axis {axis} (only the batch, axis 0, "
                                    "may be dynamic); export with a fixed input shape")
            shape.append(int(dim.dim_value))
        if dims[0].HasField("dim_value") and dims[0].dim_value > 0:
            self.fixed_batch = int(dims[0].dim_value)
        return value.name, tuple(shape)

    def run(self) -> OnnxModel:
        input_name, input_shape = self._input()
        if len(self.graph.output) != 1:
            raise ZeroskipError(f"{self.source}: the graph needs exactly one output, it has "
                                f"{len(self.graph.output)}")
        self.shapes[input_name] = input_shape
        self.source_of[input_name], self.linear[input_name] = input_name, False
        self.current = input_name
        for node in self.graph.node:
            self.node(node)
        output = self.graph.output[0].name
        if output not in self.shapes or output in self.shuffles:
            raise ZeroskipError(f"{self.source}: the graph's output '{output}' is not made by "
                                "the layers zeroskip imports")
        result = self.source_of[output]
        ops = self.ops
        if ops and ops[0].kind == "to_map" and len(input_shape) == 1 \
                and [op for op in ops if input_name in op.inputs] == [ops[0]]:
            input_shape, ops = ops[0].shape, ops[1:]        # flat rows reshaped into images
            for op in ops:
                op.inputs = [input_name if i == self.ops[0].output else i for i in op.inputs]
            result = input_name if result == self.ops[0].output else result
        if not any(op.weight is not None for op in ops):
            raise ZeroskipError(f"{self.source}: the graph has no Conv, Gemm or MatMul layer")
        codebooks = {}
        for prop in self.model.metadata_props:
            if prop.key.startswith(CODEBOOK_KEY):
                try:
                    book = np.array(json.loads(prop.value), dtype=np.float32)
                except (ValueError, TypeError):
                    continue                                  # not ours: ignored
                if book.ndim == 1 and len(book) and np.all(np.isfinite(book)):
                    codebooks[prop.key[len(CODEBOOK_KEY):]] = book
        return OnnxModel(self.source, input_name, input_shape, ops, codebooks, result)

    # -- one node
    def node(self, node) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            self.fail(node, f"from domain '{node.domain}' is not supported")
        if op == "Constant":
            from onnx import numpy_helper

            attr = {a.name: a for a in node.attribute}
            if "value" not in attr:
                self.fail(node, "is not supported (only a tensor 'value')")
            self.consts[node.output[0]] = numpy_helper.to_array(attr["value"].t)
            return
        if op in SHAPE_OPS and all(i in self.consts or i in self.shapes or i == ""
                                   for i in node.input) and not (
                op != "Shape" and any(i in self.shapes for i in node.input)):
            self.fold(node)
            return
        if self.softmax is not None:
            self.fail(node, f"follows Softmax '{self.softmax}'; Softmax is supported only as the "
                            "last node")
        activations = [i for i in node.input if i in self.shapes]
        handler = getattr(self, f"op_{op}", None)
        if handler is None and not (op == "Concat" and activations):
            self.fail(node, "is not supported")
        shuffled = [i for i in activations if i in self.shuffles]
        if shuffled and op not in ("Transpose", "Reshape"):
            self.fail(node, f"reads '{shuffled[0]}', a step of a channel shuffle; only the "
                            "pattern Reshape [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], "
                            "Reshape [N, C, H, W] is supported")
        if op in ("Concat", "Add") and len(activations) > 1:
            self.join(node, activations, op.lower())
            return
        if len(activations) != 1:
            self.fail(node, "takes no activation or several (only Concat and Add join "
                            "branches)")
        self.current = activations[0]
        handler(node, self.shapes[self.current])

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def const(self, node, index: int, what: str) -> np.ndarray:
        if index >= len(node.input) or node.input[index] == "":
            self.fail(node, f"has no {what}")
        name = node.input[index]
        if name not in self.consts:
            self.fail(node, f"takes its {what} '{name}' from the graph, not a constant")
        return np.asarray(self.consts[name])

    def produce(self, node, shape: tuple, op: Op | None = None,
                inputs: list[str] | None = None) -> None:
        """``node`` makes an activation from the current one (or from ``inputs``): through
        ``op`` (a new step), or as the same values (Identity, Dropout, a folded bias or batch
        norm)."""
        read = inputs if inputs is not None else [self.current]
        made_by = op if op is not None else self.made_by.get(self.current)
        out = node.output[0]
        if op is not None:
            op.shape, op.output, op.op_type = shape, out, op.op_type or node.op_type
            op.inputs = [self.source_of[i] for i in read]
            self.ops.append(op)
            self.source_of[out], self.linear[out] = out, True
        else:
            self.source_of[out] = self.source_of[self.current]
            self.linear[out] = self.linear[self.current] and self.uses.get(self.current, 0) == 1
        self.current = out
        self.shapes[out] = shape
        if made_by is not None and made_by.weight is not None:
            self.made_by[out] = made_by

    def folds_into(self) -> Op | None:
        """The weighted op that made the current activation, if nothing came after it and
        nothing else reads it on the way (folding then changes only what this node reads)."""
        op = self.made_by.get(self.current)
        if op is None or op.output != self.source_of[self.current] \
                or not self.linear[self.current] or self.uses.get(self.current, 0) != 1:
            return None
        return op

    def join(self, node, activations: list[str], kind: str) -> None:
        """Concat (channels of maps, features of rows) or Add (equal shapes) of branches."""
        shapes = [self.shapes[a] for a in activations]
        if kind == "add":
            if len(node.input) != 2 or len(set(shapes)) != 1:
                self.fail(node, f"adds {' and '.join(str(list(s)) for s in shapes)}; only two "
                                "activations of the same shape are supported")
            shape = shapes[0]
        else:
            rank = len(shapes[0])
            axis = self.attrs(node).get("axis")
            if len(activations) != len(node.input):
                self.fail(node, "joins activations and constants; only activations are "
                                "supported")
            if any(len(s) != rank or s[1:] != shapes[0][1:] for s in shapes) \
                    or axis not in (1, -rank):
                self.fail(node, f"concatenates {', '.join(str(list(s)) for s in shapes)} on "
                                f"axis {axis}; only the channels of equal maps (axis 1) or the "
                                "features of rows are supported")
            shape = (sum(s[0] for s in shapes), *shapes[0][1:])
        self.current = activations[0]
        self.produce(node, shape, Op(kind, self._name(node), ()), inputs=activations)

    def layer_name(self, node, prefix: str) -> str:
        self.counts[prefix] += 1
        return node.name or f"{prefix}{self.counts[prefix]}"

    # -- constant folding of shape arithmetic
    def fold(self, node) -> None:
        attrs = self.attrs(node)
        op = node.op_type

        def value(i):
            return np.asarray(self.consts[node.input[i]])

        if op == "Shape":
            result = np.array([BATCH, *self.shapes[node.input[0]]], np.int64) \
                if node.input[0] in self.shapes else np.array(value(0).shape, np.int64)
            start, end = attrs.get("start", 0), attrs.get("end")
            result = result[start:end]
        elif op == "Gather":
            result = np.take(value(0), value(1), axis=attrs.get("axis", 0))
        elif op == "Unsqueeze":
            axes = attrs.get("axes") if "axes" in attrs else value(1).tolist()
            result = value(0)
            for axis in sorted(int(a) % (result.ndim + len(axes)) for a in axes):
                result = np.expand_dims(result, axis)
        elif op == "Squeeze":
            axes = attrs.get("axes") if "axes" in attrs else (
                value(1).tolist() if len(node.input) > 1 and node.input[1] else None)
            result = np.squeeze(value(0), axis=None if axes is None else tuple(axes))
        elif op == "Concat":
            result = np.concatenate([value(i) for i in range(len(node.input))],
                                    axis=attrs.get("axis", 0))
        elif op == "Cast":
            from onnx import helper

            result = value(0).astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
        else:                                                   # Slice (opset >= 10)
            data, starts, ends = value(0), value(1), value(2)
            axes = value(3) if len(node.input) > 3 and node.input[3] else range(len(starts))
            steps = value(4) if len(node.input) > 4 and node.input[4] else [1] * len(starts)
            index = [slice(None)] * data.ndim
            for s, e, a, st in zip(starts, ends, axes, steps):
                index[int(a)] = slice(int(s), int(e), int(st))
            result = data[tuple(index)]
        self.consts[node.output[0]] = result

    # -- layers
    def op_Gemm(self, node, shape):
        a = self.attrs(node)
        if a.get("transA", 0):
            self.fail(node, "with transA=1 is not supported")
        if len(shape) != 1:
            self.fail(node, f"takes a {'x'.join(map(str, shape))} map; Flatten it first")
        b = self.const(node, 1, "weight").astype(np.float64)
        weight = (b if a.get("transB", 0) else b.T) * a.get("alpha", 1.0)
        bias = np.zeros(weight.shape[0])
        if len(node.input) > 2 and node.input[2]:
            c = self.const(node, 2, "bias").astype(np.float64) * a.get("beta", 1.0)
            bias = self.broadcast_bias(node, c, (weight.shape[0],))
        self.dense(node, shape, weight, bias, node.input[1])

    def op_MatMul(self, node, shape):
        if node.input[0] != self.current:
            self.fail(node, "multiplies a constant by the activation; only activation x "
                            "weight is supported")
        if len(shape) != 1:
            self.fail(node, f"takes a {'x'.join(map(str, shape))} map; Flatten it first")
        b = self.const(node, 1, "weight")
        if b.ndim != 2:
            self.fail(node, f"has a {b.ndim}-D weight; expected [in, out]")
        self.dense(node, shape, b.T.astype(np.float64), np.zeros(b.shape[1]), node.input[1])

    def dense(self, node, shape, weight, bias, weight_name):
        if weight.ndim != 2 or weight.shape[1] != shape[0]:
            self.fail(node, f"has a weight of shape {list(weight.shape)} for {shape[0]} inputs")
        op = Op("dense", self.layer_name(node, "fc"), (), weight, bias, weight_name=weight_name)
        self.produce(node, (weight.shape[0],), op)

    def broadcast_bias(self, node, c, shape) -> np.ndarray:
        """A constant added to an activation of per-sample ``shape`` ((out,) or (out, H, W)),
        as one value per output channel (ONNX broadcasting: ``[out, 1, 1]`` for a map)."""
        c = np.asarray(c, np.float64)
        try:
            if c.ndim > len(shape) + 1 or (c.ndim == len(shape) + 1 and c.shape[0] != 1):
                raise ValueError
            full = np.broadcast_to(c, (1, *shape))[0]
        except ValueError:
            self.fail(node, f"adds a constant of shape {list(c.shape)} that does not broadcast "
                            f"to its input {list(shape)}")
        per_channel = full.reshape(shape[0], -1)
        if (per_channel != per_channel[:, :1]).any():
            self.fail(node, f"adds a constant of shape {list(c.shape)} that is not one value "
                            "per channel")
        return per_channel[:, 0].copy()

    def op_Add(self, node, shape):
        last = self.folds_into()
        other = [i for i in node.input if i != self.current]
        if last is None or len(other) != 1 or other[0] not in self.consts:
            self.fail(node, "is not supported (only a constant bias after MatMul, Gemm or Conv)")
        last.bias = last.bias + self.broadcast_bias(node, self.consts[other[0]], shape)
        self.produce(node, shape)

    def op_Conv(self, node, shape):
        a = self.attrs(node)
        if len(shape) != 3:
            self.fail(node, "takes rows, not a map; Reshape them into [C, H, W] first")
        group = a.get("group", 1)
        if not isinstance(group, int) or group < 1 or shape[0] % group:
            self.fail(node, f"with group {group} does not divide its {shape[0]} input channels")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(node, f"with dilations {list(a['dilations'])} is not supported (only 1)")
        weight = self.const(node, 1, "weight").astype(np.float64)
        if weight.ndim != 4:
            self.fail(node, f"has a {weight.ndim}-D weight; only 2-D convolutions are supported")
        out, c, kh, kw = weight.shape
        if kh != kw:
            self.fail(node, f"has a {kh}x{kw} kernel; only square kernels are supported")
        if c * group != shape[0]:
            self.fail(node, f"has weights for {c} x {group} group(s) = {c * group} channels but "
                            f"its input has {shape[0]}")
        if out % group:
            self.fail(node, f"with group {group} does not divide its {out} output channels")
        stride, pad = self.window(node, a, kh, shape)
        bias = np.zeros(out)
        if len(node.input) > 2 and node.input[2]:
            bias = self.const(node, 2, "bias").astype(np.float64).reshape(-1)
            if bias.shape != (out,):
                self.fail(node, f"has a bias of {bias.size} values for {out} outputs")
        _, h, w = shape
        oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
        if oh < 1 or ow < 1:
            self.fail(node, f"has a {kh}x{kw} kernel larger than its padded {h}x{w} input")
        op = Op("conv", self.layer_name(node, "conv"), (), weight, bias, kernel=kh, stride=stride,
                pad=pad, weight_name=node.input[1], groups=int(group))
        self.produce(node, (out, oh, ow), op)

    def window(self, node, a, k, shape) -> tuple[int, int]:
        strides = list(a.get("strides", [1, 1]))
        if len(strides) != 2 or strides[0] != strides[1]:
            self.fail(node, f"with strides {strides} is not supported (equal strides only)")
        stride = int(strides[0])
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            _, h, w = shape
            totals = {max((-(-n // stride) - 1) * stride + k - n, 0) for n in (h, w)}
            if len(totals) != 1 or next(iter(totals)) % 2:
                self.fail(node, f"with auto_pad {auto} pads unevenly; only symmetric padding is "
                                "supported")
            return stride, next(iter(totals)) // 2
        pads = list(a.get("pads", [0, 0, 0, 0])) if auto in ("NOTSET", "") else [0, 0, 0, 0]
        if len(set(pads)) != 1:
            self.fail(node, f"with pads {pads} is not supported (the same padding on every "
                            "side only)")
        return stride, int(pads[0])

    def op_BatchNormalization(self, node, shape):
        a = self.attrs(node)
        last = self.folds_into()
        if a.get("training_mode", 0):
            self.fail(node, "in training mode is not supported")
        if last is None:
            self.fail(node, "does not follow a Conv or Gemm it can be folded into")
        scale, beta, mean, var = (self.const(node, i, what).astype(np.float64).reshape(-1)
                                  for i, what in ((1, "scale"), (2, "bias"), (3, "mean"),
                                                  (4, "variance")))
        out = last.weight.shape[0]
        if not all(len(v) == out for v in (scale, beta, mean, var)):
            self.fail(node, f"has parameters for other than {out} channels")
        g = scale / np.sqrt(var + a.get("epsilon", 1e-5))
        last.weight = last.weight * g.reshape(-1, *[1] * (last.weight.ndim - 1))
        last.bias = (last.bias - mean) * g + beta
        self.produce(node, shape)

    def op_Relu(self, node, shape):
        self.produce(node, shape, Op("relu", self._name(node), ()))

    def pool(self, node, shape, kind):
        a = self.attrs(node)
        if len(shape) != 3:
            self.fail(node, "takes rows, not a map")
        if a.get("ceil_mode", 0):
            self.fail(node, "with ceil_mode 1 is not supported")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(node, "with dilations is not supported")
        if a.get("storage_order", 0):
            self.fail(node, "with storage_order 1 is not supported")
        kernel = list(a.get("kernel_shape", []))
        if len(kernel) != 2 or kernel[0] != kernel[1]:
            self.fail(node, f"with kernel {kernel} is not supported (square 2-D windows only)")
        k = int(kernel[0])
        stride, pad = self.window(node, a, k, shape)
        if pad >= k:
            self.fail(node, f"pads {pad}, not less than its kernel {k}")
        c, h, w = shape
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        if oh < 1 or ow < 1:
            self.fail(node, f"has a {k}x{k} window larger than its padded {h}x{w} input")
        if len(node.output) > 1 and node.output[1]:
            self.fail(node, "with an Indices output is not supported")
        self.produce(node, (c, oh, ow), Op(kind, self._name(node), (), kernel=k, stride=stride,
                                             pad=pad,
                                             count_include_pad=bool(a.get("count_include_pad",
                                                                          0))))

    def op_MaxPool(self, node, shape):
        self.pool(node, shape, "maxpool")

    def op_AveragePool(self, node, shape):
        self.pool(node, shape, "avgpool")

    def op_GlobalAveragePool(self, node, shape):
        if len(shape) != 3:
            self.fail(node, "takes rows, not a map")
        self.produce(node, (shape[0], 1, 1), Op("globalavgpool", self._name(node), ()))

    def op_Flatten(self, node, shape):
        if self.attrs(node).get("axis", 1) != 1:
            self.fail(node, "with an axis other than 1 is not supported")
        self.flatten(node, shape)

    def flatten(self, node, shape):
        if len(shape) == 1:
            self.produce(node, shape)
        else:
            self.produce(node, (int(np.prod(shape)),), Op("flatten", self._name(node), ()))

    def op_Reshape(self, node, shape):
        target = self.const(node, 1, "target shape").astype(np.int64).reshape(-1).tolist()
        if self.attrs(node).get("allowzero", 0) and 0 in target:
            self.fail(node, "with allowzero and a zero in its shape is not supported")
        size = int(np.prod(shape))
        if not target or not (target[0] in (BATCH, 0) or target[0] == self.fixed_batch
                              or (target[0] == -1 and -1 not in target[1:])):
            self.fail(node, f"reshapes to {target}: its first dimension must stay the batch")
        rest = [shape[i] if v == 0 and i < len(shape) else v
                for i, v in enumerate(target[1:])]
        if rest.count(-1) > 1 or any(v < -1 or v == BATCH for v in rest):
            self.fail(node, f"reshapes to {target}, which it cannot resolve to fixed sizes")
        if -1 in rest:
            known = int(np.prod([v for v in rest if v != -1]))
            if known == 0 or size % known:
                self.fail(node, f"cannot reshape {size} values to {target}")
            rest[rest.index(-1)] = size // known
        if int(np.prod(rest)) != size:
            self.fail(node, f"cannot reshape {size} values to {target}")
        rest = tuple(int(v) for v in rest)
        step = self.shuffles.get(self.current)
        if step is not None:
            self.end_shuffle(node, step, rest)
        elif len(shape) == 3 and len(rest) == 4 and rest[0] * rest[1] == shape[0] \
                and rest[2:] == tuple(shape[1:]) and rest[0] > 1:
            self.shuffles[node.output[0]] = ("split", rest[0], self.current)   # [g, C/g, H, W]
            self.shapes[node.output[0]] = rest
        elif len(rest) == 1:
            self.flatten(node, shape)
        elif len(rest) == 3 and len(shape) == 1:
            self.produce(node, rest, Op("to_map", self._name(node), ()))
        elif rest == tuple(shape):
            self.produce(node, shape)
        else:
            self.fail(node, f"reshapes {list(shape)} to {list(rest)}, which is not supported "
                            "(only maps to rows and rows to [C, H, W] maps)")

    def op_Transpose(self, node, shape):
        step = self.shuffles.get(self.current)
        perm = list(self.attrs(node).get("perm", []))
        if step is None or step[0] != "split" or perm != [0, 2, 1, 3, 4]:
            self.fail(node, f"with perm {perm} is supported only inside a channel shuffle "
                            "(Reshape [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], Reshape "
                            "[N, C, H, W])")
        self.shuffles[node.output[0]] = ("swapped", step[1], step[2])
        self.shapes[node.output[0]] = (shape[1], shape[0], *shape[2:])

    def end_shuffle(self, node, step, rest) -> None:
        kind, groups, source = step
        shape = self.shapes[source]
        if kind != "swapped" or rest != tuple(shape):
            self.fail(node, f"reshapes a channel-shuffle step to {list(rest)}; only the "
                            "pattern Reshape [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], "
                            f"Reshape {['N', *shape]} is supported")
        self.current = source
        self.produce(node, shape, Op("shuffle", self._name(node), (), groups=groups,
                                     op_type="channel shuffle"))

    def op_Softmax(self, node, shape):
        if len(shape) != 1 or self.attrs(node).get("axis", -1) not in (-1, 1):
            self.fail(node, "is supported only over the features of rows, as the last node")
        self.softmax = self._name(node)
        self.produce(node, shape)

    def op_Dropout(self, node, shape):
        if len(node.output) > 1 and node.output[1] and any(
                node.output[1] in n.input for n in self.graph.node):
            self.fail(node, "with a used mask output is not supported")
        self.produce(node, shape)

    def op_Identity(self, node, shape):
        self.produce(node, shape)


# --- writing ---------------------------------------------------------------------------------

def export(layers, source: str = "model", name: str = "zeroskip") -> bytes:
    """The compiler's layers of a compressed model (``load_model``'s) as ONNX bytes: Conv, Relu,
    MaxPool/AveragePool, Flatten and Gemm, float weights ``codebook[codes]``, the input
    ``[N, C, H, W]`` for a conv model (``[N, in]`` otherwise), the output ``[N, classes]``.
    Each weight's codebook is stored in the metadata for an exact re-import."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from .interchange import MapInput, Pool, SharedConv, SharedLayer

    layers = list(layers)
    if not layers:
        raise ZeroskipError(f"{source}: no layers to export")
    nodes, inits, meta = [], [], {}
    current, shape = "input", None                 # shape: (C, H, W) while a map
    if isinstance(layers[0], MapInput):
        first = layers.pop(0)
        shape = (int(first.channels), int(first.height), int(first.width))
        input_dims = ["N", *shape]
    elif isinstance(layers[0], SharedLayer):
        input_dims = ["N", int(layers[0].codes.shape[1])]
    else:
        raise ZeroskipError(f"{source}: layer 0 is a {type(layers[0]).__name__}; only "
                            "weight-shared (Deep Compression) models can be exported")
    names = set()

    def unique(base: str) -> str:
        candidate, n = base, 1
        while candidate in names:
            n += 1
            candidate = f"{base}_{n}"
        names.add(candidate)
        return candidate

    def add(op_type, inputs, name, **attrs):
        nonlocal current
        out = unique(f"{name}_out") if op_type != "Relu" else unique(f"{name}_relu_out")
        nodes.append(helper.make_node(op_type, [current, *inputs], [out], name=unique(name),
                                      **attrs))
        current = out

    def weights(layer, name, tensor):
        w_name, b_name = unique(f"{name}.weight"), unique(f"{name}.bias")
        inits.append(numpy_helper.from_array(tensor.astype(np.float32), w_name))
        inits.append(numpy_helper.from_array(layer.bias.astype(np.float32), b_name))
        meta[CODEBOOK_KEY + w_name] = json.dumps([float(v) for v in
                                                  np.asarray(layer.codebook, np.float32)])
        return [w_name, b_name]

    for index, layer in enumerate(layers):
        name = str(getattr(layer, "name", "") or f"layer{index}")
        if isinstance(layer, SharedConv):
            if shape is None:
                raise ZeroskipError(f"{source}: layer {index} ({name}) is a convolution after "
                                    "the feature map was flattened")
            k, c, groups = int(layer.kernel), shape[0], int(getattr(layer, "groups", 1))
            out = layer.codes.shape[0]
            if layer.in_channels != c:
                raise ZeroskipError(f"{source}: layer {index} ({name}) takes "
                                    f"{layer.in_channels} channels, its input map has {c}")
            tensor = layer.codebook[layer.codes].reshape(out, c // groups, k, k)
            s, p = int(layer.stride), int(layer.pad)
            add("Conv", weights(layer, name, tensor), name, kernel_shape=[k, k],
                strides=[s, s], pads=[p] * 4, **({"group": groups} if groups != 1 else {}))
            shape = (out, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif isinstance(layer, Pool):
            if shape is None:
                raise ZeroskipError(f"{source}: layer {index} ({name}) pools rows, not a map")
            k, s, p = int(layer.kernel), int(layer.stride), int(layer.pad)
            if layer.op == "max":
                add("MaxPool", [], name, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
            else:
                add("AveragePool", [], name, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                    count_include_pad=1)
            shape = (shape[0], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif isinstance(layer, SharedLayer):
            matrix = layer.weights()
            if shape is not None:
                size = int(np.prod(shape))
                if matrix.shape[1] != size:
                    raise ZeroskipError(f"{source}: layer {index} ({name}) takes "
                                        f"{matrix.shape[1]} inputs, the map before it has {size}")
                add("Flatten", [], unique("flatten"), axis=1)
                chw = np.empty_like(matrix)
                chw[:, chw_to_hwc(shape)] = matrix   # the array's (y, x, c) → ONNX's (c, y, x)
                matrix, shape = chw, None
            add("Gemm", weights(layer, name, matrix), name, transB=1)
        else:
            raise ZeroskipError(f"{source}: layer {index} ({name}) is a "
                                f"{type(layer).__name__}; only weight-shared (Deep Compression) "
                                "models can be exported")
        if getattr(layer, "act", "none") == "relu":
            add("Relu", [], f"{name}_relu")
    if shape is not None:
        raise ZeroskipError(f"{source}: the model ends in a feature map, not a fully-connected "
                            "layer")
    nodes[-1].output[0] = "output"
    classes = int(layers[-1].codes.shape[0])
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", EXPORT_OPSET)],
                              producer_name="zeroskip")
    model.ir_version = 8                       # onnxruntime since 1.10 reads it
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model.SerializeToString()
