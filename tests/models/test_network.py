"""``network.fold_batchnorm``: batch norms merged into the layers before them, in sequential
networks and graphs, inference unchanged; what cannot fold is refused by name."""

import numpy as np
import pytest

from zeroskip.models.layers import BatchNorm, Conv2D, Dense, GlobalAvgPool, Flatten, ReLU, Reshape
from zeroskip.models.network import Graph, Network, Node, fold_batchnorm


def trained_statistics(net, rng):
    """Running statistics and affine parameters away from the identity."""
    for layer in net.layers:
        if isinstance(layer, BatchNorm):
            layer.params["gamma"][...] = rng.uniform(0.5, 2, layer.params["gamma"].shape)
            layer.params["beta"][...] = rng.uniform(-1, 1, layer.params["beta"].shape)
            layer.running_mean[...] = rng.uniform(-1, 1, layer.running_mean.shape)
            layer.running_var[...] = rng.uniform(0.2, 3, layer.running_var.shape)


def test_a_sequential_network_folds_to_the_same_function_without_batch_norms():
    rng = np.random.default_rng(0)
    net = Network("n", [Reshape((6, 6, 1)), Conv2D(1, 4, 3, rng), BatchNorm(4), ReLU(),
                        Conv2D(4, 4, 3, rng, groups=4, pad=1), BatchNorm(4), ReLU(),
                        GlobalAvgPool(), Flatten(), Dense(4, 3, rng), BatchNorm(3)])
    trained_statistics(net, rng)
    x = rng.standard_normal((7, 36)).astype(np.float32)
    want = net.forward(x)
    folded = fold_batchnorm(net)
    assert not any(isinstance(layer, BatchNorm) for layer in folded.layers)
    assert len(folded.layers) == len(net.layers) - 3
    np.testing.assert_allclose(folded.forward(x), want, rtol=1e-4, atol=1e-5)


def test_a_graph_folds_and_its_readers_follow_the_conv():
    rng = np.random.default_rng(1)
    graph = Graph("g", [Node("image", Reshape((5, 5, 2)), ("input",)),
                        Node("conv", Conv2D(2, 3, 1, rng), ("image",)),
                        Node("conv_bn", BatchNorm(3), ("conv",)),
                        Node("relu", ReLU(), ("conv_bn",)),
                        Node("gap", GlobalAvgPool(), ("relu",)),
                        Node("flat", Flatten(), ("gap",)),
                        Node("fc", Dense(3, 2, rng), ("flat",)),
                        Node("fc_bn", BatchNorm(2), ("fc",))])
    trained_statistics(graph, rng)
    x = rng.standard_normal((4, 50)).astype(np.float32)
    want = graph.forward(x)
    folded = fold_batchnorm(graph)
    assert [n.name for n in folded.nodes] == ["image", "conv", "relu", "gap", "flat", "fc"]
    assert folded.nodes[2].inputs == ("conv",) and folded.output == "fc"
    np.testing.assert_allclose(folded.forward(x), want, rtol=1e-4, atol=1e-5)


def test_a_network_without_batch_norms_is_returned_as_it_is():
    net = Network("plain", [Dense(3, 2)])
    assert fold_batchnorm(net) is net


def test_batch_norms_that_cannot_fold_are_refused_by_name():
    with pytest.raises(ValueError, match="a batch norm must follow a conv or dense layer"):
        fold_batchnorm(Network("n", [Dense(3, 3), ReLU(), BatchNorm(3)]))
    rng = np.random.default_rng(2)
    shared = Graph("g", [Node("fc", Dense(3, 3, rng), ("input",)),
                         Node("fc_bn", BatchNorm(3), ("fc",)),
                         Node("other", ReLU(), ("fc",))], output="fc_bn")
    with pytest.raises(ValueError, match="'fc_bn': a batch norm must be the only reader"):
        fold_batchnorm(shared)
