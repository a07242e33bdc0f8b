"""The zoo's survey networks (docs/seednets.md) are built as their papers describe them: the
Fire module's squeeze narrower than its expands and its bypass, MobileNet's depthwise +
pointwise blocks with a batch norm after each conv and its standard twin, ShuffleNet's grouped
1x1 convs around a shuffle and a depthwise conv; each computes [n, 10] and keeps its function
through a spec round trip and batch-norm folding."""

import numpy as np
import pytest

from zeroskip.models import zoo
from zeroskip.models.layers import (Add, AvgPool2D, BatchNorm, ChannelShuffle, Concat, Conv2D,
                                    Dense, ReLU)
from zeroskip.models.network import Graph, fold_batchnorm

SURVEY = ("squeezenet", "mobilenet", "mobilenet-standard", "shufflenet")


def n_params(net):
    return sum(layer.params["W"].size + layer.params["b"].size for layer in net.weighted())


def node(graph, name):
    return next(n for n in graph.nodes if n.name == name)


@pytest.mark.parametrize("name", SURVEY)
def test_each_survey_network_computes_logits_and_survives_its_spec_and_folding(name):
    rng = np.random.default_rng(0)
    net = zoo.build(name, seed=3)
    x = rng.random((6, 784), dtype=np.float32)
    net.forward(x, training=True)              # running statistics away from (0, 1)
    want = net.forward(x)
    assert want.shape == (6, 10)
    rebuilt = (Graph.from_spec(net.spec()) if isinstance(net, Graph) else None)
    if rebuilt is not None:
        assert [n.name for n in rebuilt.nodes] == [n.name for n in net.nodes]
    folded = fold_batchnorm(net)
    assert not any(isinstance(layer, BatchNorm) for layer in folded.layers)
    np.testing.assert_allclose(folded.forward(x), want, rtol=1e-4, atol=1e-4)


def test_squeezenet_has_fire_modules_a_bypass_late_pools_and_a_tenth_of_lenet5s_weights():
    net = zoo.build("squeezenet")
    for fire in ("fire2", "fire3", "fire4", "fire5"):
        squeeze = node(net, f"{fire}_squeeze").layer
        e1, e3 = node(net, f"{fire}_expand1x1").layer, node(net, f"{fire}_expand3x3").layer
        assert (squeeze.kernel, e1.kernel, e3.kernel) == (1, 1, 3)
        s1x1 = squeeze.params["b"].size
        assert s1x1 < e1.params["b"].size + e3.params["b"].size
        assert node(net, f"{fire}_concat").inputs == (f"{fire}_expand1x1_relu",
                                                      f"{fire}_expand3x3_relu")
    assert isinstance(node(net, "bypass3").layer, Add)
    assert node(net, "bypass3").inputs == ("fire3_concat", "fire2_concat")
    pools = [n.name for n in net.nodes if "pool" in n.layer.kind]
    assert pools == ["pool1", "pool3", "gap"]        # no pool after fire4/fire5: late
    assert not any(isinstance(layer, Dense) for layer in net.layers)   # conv10 + average pool
    assert n_params(net) <= n_params(zoo.build("lenet5")) / 10


def test_mobilenet_is_depthwise_and_pointwise_blocks_with_batch_norms_and_a_standard_twin():
    net, twin = zoo.build("mobilenet"), zoo.build("mobilenet-standard")
    convs = [layer for layer in net.layers if isinstance(layer, Conv2D)]
    depthwise = [c for c in convs if c.groups > 1]
    assert len(depthwise) == len(zoo.MOBILENET_BLOCKS)
    assert all(c.groups == c.in_channels == c.params["b"].size and c.kernel == 3
               for c in depthwise)
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Conv2D):
            assert isinstance(net.layers[i + 1], BatchNorm) and isinstance(net.layers[i + 2], ReLU)
        if isinstance(layer, Conv2D) and layer.groups > 1:
            pointwise = net.layers[i + 3]
            assert isinstance(pointwise, Conv2D) and pointwise.kernel == 1
    twin_convs = [layer for layer in twin.layers if isinstance(layer, Conv2D)]
    assert all(c.groups == 1 and c.kernel == 3 for c in twin_convs)
    assert len(twin_convs) == 1 + len(zoo.MOBILENET_BLOCKS)
    half = zoo.mobilenet(alpha=0.5)
    assert [c.params["b"].size for c in half.layers if isinstance(c, Conv2D)][:3] == [8, 8, 16]


def test_shufflenet_units_shuffle_between_grouped_convs_and_join_by_add_or_concat():
    net = zoo.build("shufflenet")
    for unit in ("stage2a", "stage2b", "stage3a", "stage3b"):
        g1, g2 = node(net, f"{unit}_gconv1").layer, node(net, f"{unit}_gconv2").layer
        assert g1.groups == g2.groups == 2 and g1.kernel == g2.kernel == 1
        shuffle = node(net, f"{unit}_shuffle")
        assert isinstance(shuffle.layer, ChannelShuffle) and shuffle.inputs == (f"{unit}_gconv1_relu",)
        dw = node(net, f"{unit}_depthwise").layer
        assert dw.groups == dw.in_channels and dw.kernel == 3
    assert isinstance(node(net, "stage2b_add").layer, Add)
    assert isinstance(node(net, "stage2a_concat").layer, Concat)
    shortcut = node(net, "stage2a_shortcut").layer
    assert isinstance(shortcut, AvgPool2D) and (shortcut.kernel, shortcut.stride) == (3, 2)


def test_unknown_networks_are_named():
    with pytest.raises(ValueError, match="unknown model 'alexnet'"):
        zoo.build("alexnet")
