"""ONNX models built with ``onnx.helper`` for the tests (not a test module): a small conv net
with the operators exporters emit, a LeNet-300-100-shaped MLP, weight sharing, onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def graph_model(nodes, inits, input_dims, output_dims=("N", None), opset: int = 13,
                metadata: dict | None = None) -> onnx.ModelProto:
    """A model from ``nodes`` whose first input is ``x`` and last output ``y``; ``inits`` a
    dict name -> array."""
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_dims))],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def f32(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def conv_net(rng, bn: bool = True, softmax: bool = True, view_reshape: bool = True,
             pool: str = "MaxPool") -> onnx.ModelProto:
    """[N, 3, 9, 9] → Conv 3x3 s1 p1 (+BN) → Relu → pool 2 → Conv 3x3 s2 p1 + Add bias → Relu
    → Reshape(N, -1) the way torch's ``x.view(x.size(0), -1)`` exports (or Flatten) → MatMul +
    Add → Relu → Dropout → Gemm → Softmax."""
    inits = {"w1": f32(rng, 4, 3, 3, 3), "b1": f32(rng, 4), "w2": f32(rng, 5, 4, 3, 3),
             "b2": f32(rng, 1, 5, 1, 1), "w3": f32(rng, 20, 12), "b3": f32(rng, 12),
             "w4": f32(rng, 6, 12), "b4": f32(rng, 6)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    last = "c1"
    if bn:
        inits.update(scale=rng.uniform(0.5, 1.5, 4).astype(np.float32), beta=f32(rng, 4),
                     mean=f32(rng, 4), var=rng.uniform(0.5, 2, 4).astype(np.float32))
        nodes.append(helper.make_node("BatchNormalization", ["c1", "scale", "beta", "mean", "var"],
                                      ["bn1"], name="bn1", epsilon=1e-3))
        last = "bn1"
    nodes += [helper.make_node("Relu", [last], ["r1"], name="relu1"),
              helper.make_node(pool, ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2],
                               strides=[2, 2]),
              helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3],
                               strides=[2, 2], pads=[1, 1, 1, 1]),
              helper.make_node("Add", ["c2", "b2"], ["c2b"], name="conv2_bias"),
              helper.make_node("Relu", ["c2b"], ["r2"], name="relu2")]
    if view_reshape:
        inits["zero"], inits["minus1"] = np.array([0], np.int64), np.array([-1], np.int64)
        nodes += [helper.make_node("Shape", ["r2"], ["s"], name="shape"),
                  helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
                  helper.make_node("Concat", ["n", "minus1"], ["target"], name="concat", axis=0),
                  helper.make_node("Reshape", ["r2", "target"], ["f"], name="view")]
    else:
        nodes.append(helper.make_node("Flatten", ["r2"], ["f"], name="flatten", axis=1))
    nodes += [helper.make_node("MatMul", ["f", "w3"], ["m3"], name="fc1"),
              helper.make_node("Add", ["m3", "b3"], ["a3"], name="fc1_bias"),
              helper.make_node("Relu", ["a3"], ["r3"], name="relu3"),
              helper.make_node("Dropout", ["r3"], ["d3"], name="drop"),
              helper.make_node("Gemm", ["d3", "w4", "b4"], ["logits" if softmax else "y"],
                               name="fc2", transB=1)]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1))
    return graph_model(nodes, inits, ["N", 3, 9, 9], ["N", 6])


def mlp(rng, sizes=(784, 300, 100, 10), shared_bits: int | None = None,
        density: float = 1.0) -> onnx.ModelProto:
    """A Gemm/Relu MLP; ``shared_bits``: every weight one of 2**bits values (0 = pruned with
    probability 1 - ``density``)."""
    nodes, inits, last = [], {}, "x"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = f32(rng, n_out, n_in, scale=1 / np.sqrt(n_in))
        if shared_bits is not None:
            values = np.concatenate([[0.0], rng.uniform(-0.3, 0.3, 2 ** shared_bits - 1)])
            w = values[rng.integers(1, len(values), w.shape)].astype(np.float32)
            w[rng.random(w.shape) >= density] = 0.0
        inits[f"w{i}"], inits[f"b{i}"] = w, f32(rng, n_out, scale=0.1)
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [last, f"w{i}", f"b{i}"],
                                      [out if out == "y" else f"g{i}"], name=f"fc{i + 1}",
                                      transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out], name=f"relu{i + 1}"))
        last = out
    return graph_model(nodes, inits, ["N", sizes[0]], ["N", sizes[-1]])


def run_onnxruntime(model: onnx.ModelProto | bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.astype(np.float32)})[0]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def shared(model: onnx.ModelProto, rng, bits: int = 4, density: float = 0.5,
           prefix: str = "w") -> onnx.ModelProto:
    """A copy of ``model`` whose weight initializers (names starting with ``prefix``) each hold
    at most 2**bits - 1 distinct non-zero values, the rest pruned to 0.0."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for i, tensor in enumerate(model.graph.initializer):
        if not tensor.name.startswith(prefix):
            continue
        w = numpy_helper.to_array(tensor)
        values = rng.uniform(-0.5, 0.5, 2 ** bits - 1)
        new = values[rng.integers(0, len(values), w.shape)]
        new[rng.random(w.shape) >= density] = 0.0
        model.graph.initializer[i].CopyFrom(numpy_helper.from_array(new.astype(np.float32),
                                                                    tensor.name))
    return model


def sklearn_mlp(x: np.ndarray, y: np.ndarray, hidden=(300, 100), epochs: int = 20,
                seed: int = 0):
    """A dense MLP trained by scikit-learn (``MLPClassifier``: Adam, L2 1e-4, ReLU), outside
    zeroskip: ``epochs`` passes over (x, y) in batches of 64."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from threadpoolctl import threadpool_limits

    classifier = MLPClassifier(hidden, max_iter=epochs, batch_size=64, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1, "blas"):   # small products: 1 thread
        warnings.simplefilter("ignore", ConvergenceWarning)    # a fixed number of epochs
        return classifier.fit(x, y)


def sklearn_to_onnx(classifier) -> onnx.ModelProto:
    """A scikit-learn ``MLPClassifier`` (ReLU hidden layers, softmax output) as the ONNX graph
    a converter would write: per layer a MatMul by its ``coefs_`` [in, out] and an Add of its
    ``intercepts_``, Relu between layers, Softmax at the end (the class probabilities
    ``predict_proba`` gives)."""
    if classifier.activation != "relu" or classifier.out_activation_ != "softmax":
        raise ValueError("only ReLU MLPs with a softmax output")
    nodes, inits, last = [], {}, "x"
    layers = list(zip(classifier.coefs_, classifier.intercepts_))
    for i, (w, b) in enumerate(layers):
        inits[f"W{i}"], inits[f"B{i}"] = w.astype(np.float32), b.astype(np.float32)
        nodes += [helper.make_node("MatMul", [last, f"W{i}"], [f"mm{i}"], name=f"dense{i}"),
                  helper.make_node("Add", [f"mm{i}", f"B{i}"], [f"z{i}"], name=f"dense{i}_bias")]
        last = f"z{i}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [last], [f"h{i}"], name=f"relu{i}"))
            last = f"h{i}"
    nodes.append(helper.make_node("Softmax", [last], ["y"], name="softmax", axis=1))
    return graph_model(nodes, inits, ["N", layers[0][0].shape[0]], ["N", layers[-1][0].shape[1]])


def lenet5(rng, pad: int = 2) -> onnx.ModelProto:
    """A LeNet-5-shaped conv net as PyTorch would export it, He-initialised (dense, untrained):
    [N, 1, 28, 28] → Conv 20@5x5 (padding ``pad``) → Relu → MaxPool 2 → Conv 50@5x5 → Relu →
    MaxPool 2 → Flatten → Gemm 500 → Relu → Gemm 10."""
    side = ((28 + 2 * pad - 4) // 2 - 4) // 2
    flat = 50 * side * side

    def he(*shape):
        return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)

    inits = {"conv1.weight": he(20, 1, 5, 5), "conv1.bias": np.zeros(20, np.float32),
             "conv2.weight": he(50, 20, 5, 5), "conv2.bias": np.zeros(50, np.float32),
             "fc1.weight": he(500, flat), "fc1.bias": np.zeros(500, np.float32),
             "fc2.weight": he(10, 500), "fc2.bias": np.zeros(10, np.float32)}
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    nodes = [helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                              kernel_shape=[5, 5], pads=[pad] * 4),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", **pool),
             helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2",
                              kernel_shape=[5, 5]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", **pool),
             helper.make_node("Flatten", ["p2"], ["f"], name="flatten", axis=1),
             helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], name="fc1",
                              transB=1),
             helper.make_node("Relu", ["g1"], ["r3"], name="relu3"),
             helper.make_node("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["y"], name="fc2",
                              transB=1)]
    return graph_model(nodes, inits, ["N", 1, 28, 28], ["N", 10])


def fire_net(rng) -> onnx.ModelProto:
    """A SqueezeNet Fire module between a stem and a classifier: [N, 3, 8, 8] → Conv 8@3x3 s2
    → Relu → squeeze Conv 4@1x1 → Relu → (expand 1x1 6 → Relu ‖ expand 3x3 6 pad 1 → Relu)
    → Concat (12 channels) → GlobalAveragePool → Flatten → Gemm 5."""
    inits = {"w0": f32(rng, 8, 3, 3, 3), "b0": f32(rng, 8), "ws": f32(rng, 4, 8, 1, 1),
             "bs": f32(rng, 4), "we1": f32(rng, 6, 4, 1, 1), "be1": f32(rng, 6),
             "we3": f32(rng, 6, 4, 3, 3), "be3": f32(rng, 6), "wfc": f32(rng, 5, 12),
             "bfc": f32(rng, 5)}
    node = helper.make_node
    nodes = [node("Conv", ["x", "w0", "b0"], ["c0"], name="stem", kernel_shape=[3, 3],
                  strides=[2, 2]),
             node("Relu", ["c0"], ["r0"], name="stem_relu"),
             node("Conv", ["r0", "ws", "bs"], ["s"], name="squeeze", kernel_shape=[1, 1]),
             node("Relu", ["s"], ["sr"], name="squeeze_relu"),
             node("Conv", ["sr", "we1", "be1"], ["e1"], name="expand1x1", kernel_shape=[1, 1]),
             node("Relu", ["e1"], ["e1r"], name="expand1x1_relu"),
             node("Conv", ["sr", "we3", "be3"], ["e3"], name="expand3x3", kernel_shape=[3, 3],
                  pads=[1] * 4),
             node("Relu", ["e3"], ["e3r"], name="expand3x3_relu"),
             node("Concat", ["e1r", "e3r"], ["cat"], name="fire_concat", axis=1),
             node("GlobalAveragePool", ["cat"], ["g"], name="gap"),
             node("Flatten", ["g"], ["f"], name="flatten", axis=1),
             node("Gemm", ["f", "wfc", "bfc"], ["y"], name="fc", transB=1)]
    return graph_model(nodes, inits, ["N", 3, 8, 8], ["N", 5])


def residual_net(rng, bn: bool = True) -> onnx.ModelProto:
    """A ResNet basic block: [N, 4, 6, 6] → Conv 4@3x3 pad 1 (+BN) → Relu → Conv 4@3x3 pad 1
    (+BN) → Add the block's input → Relu → Flatten → Gemm 3."""
    inits = {"w1": f32(rng, 4, 4, 3, 3), "w2": f32(rng, 4, 4, 3, 3), "b2": f32(rng, 4),
             "wfc": f32(rng, 3, 4 * 6 * 6), "bfc": f32(rng, 3)}
    node = helper.make_node
    nodes = [node("Relu", ["x"], ["xr"], name="in_relu"),
             node("Conv", ["xr", "w1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1] * 4)]
    last = "c1"
    if bn:
        inits.update(scale=rng.uniform(0.5, 1.5, 4).astype(np.float32), beta=f32(rng, 4),
                     mean=f32(rng, 4), var=rng.uniform(0.5, 2, 4).astype(np.float32))
        nodes.append(node("BatchNormalization", ["c1", "scale", "beta", "mean", "var"], ["bn1"],
                          name="bn1"))
        last = "bn1"
    nodes += [node("Relu", [last], ["r1"], name="relu1"),
              node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3],
                   pads=[1] * 4),
              node("Add", ["c2", "xr"], ["sum"], name="residual"),
              node("Relu", ["sum"], ["r2"], name="relu2"),
              node("Flatten", ["r2"], ["f"], name="flatten", axis=1),
              node("Gemm", ["f", "wfc", "bfc"], ["y"], name="fc", transB=1)]
    return graph_model(nodes, inits, ["N", 4, 6, 6], ["N", 3])


def shuffle_net(rng, groups: int = 2) -> onnx.ModelProto:
    """A ShuffleNet-style unit: [N, 4, 6, 6] → grouped Conv 1x1 8 (``groups``) → Relu →
    channel shuffle (Reshape [N, g, 8/g, 6, 6], Transpose [0, 2, 1, 3, 4], Reshape
    [N, 8, 6, 6]) → depthwise Conv 3x3 pad 1 → Concat with the input's 3x3 average pool
    (12 channels) → Relu → Flatten → Gemm 3."""
    inits = {"w1": f32(rng, 8, 4 // groups, 1, 1), "b1": f32(rng, 8),
             "split": np.array([0, groups, 8 // groups, 6, 6], np.int64),
             "merge": np.array([-1, 8, 6, 6], np.int64),
             "wd": f32(rng, 8, 1, 3, 3), "bd": f32(rng, 8),
             "wfc": f32(rng, 3, 12 * 6 * 6), "bfc": f32(rng, 3)}
    node = helper.make_node
    nodes = [node("Conv", ["x", "w1", "b1"], ["c1"], name="gconv1", kernel_shape=[1, 1],
                  group=groups),
             node("Relu", ["c1"], ["r1"], name="relu1"),
             node("Reshape", ["r1", "split"], ["s1"], name="shuffle_split"),
             node("Transpose", ["s1"], ["s2"], name="shuffle_transpose", perm=[0, 2, 1, 3, 4]),
             node("Reshape", ["s2", "merge"], ["s3"], name="shuffle"),
             node("Conv", ["s3", "wd", "bd"], ["d"], name="dwconv", kernel_shape=[3, 3],
                  pads=[1] * 4, group=8),
             node("AveragePool", ["x"], ["p"], name="pool", kernel_shape=[3, 3], pads=[1] * 4,
                  count_include_pad=1),
             node("Concat", ["d", "p"], ["cat"], name="concat", axis=1),
             node("Relu", ["cat"], ["r"], name="relu2"),
             node("Flatten", ["r"], ["f"], name="flatten", axis=1),
             node("Gemm", ["f", "wfc", "bfc"], ["y"], name="fc", transB=1)]
    return graph_model(nodes, inits, ["N", 4, 6, 6], ["N", 3])
