"""LeNet-300-100 and LeNet-5, trained and pruned and weight-shared for real (Deep Compression,
EIE's 4-bit codes), compiled for 16 PEs and run on the RTL under cocotb: on held-out MNIST
images the outputs are bit-exact against the reference and the cycle counter equals the
simulator's. LeNet-5 runs its convolutions and pooling as conv passes (docs/conv.md).

The default suite trains it briefly (a few epochs: a real, pruned network, lower accuracy) and
runs it on Verilator, loading the program over the bus into a build of the empty 16-PE array
(cached across runs; Icarus simulates 16 PEs at ~170 cycles/s, Verilator at ~9,000).
``-m slow`` runs the full compression the demo uses, loaded from its hex images at start, on
both simulators.
"""

import dataclasses

import numpy as np
import pytest

from zeroskip.hw.arch import PRESETS
from zeroskip.hw.kinds import decode_layer
from zeroskip.hw.reference import quantize_input
from zeroskip.hw.rtl.run import build_and_run
from zeroskip.ladder import check_rtl

pytestmark = pytest.mark.rtl

#: small with 16 PEs and the memories LeNet-5's maps need (one build serves both networks)
ARCH = dataclasses.replace(PRESETS["small"], pes=16, act_depth=2048, ptr_depth=4096)
IMAGES = 10
#: LeNet-5 images on the RTL in the default suite (about 75,000 cycles each)
LENET5_IMAGES = 2


def _compressed_lenet(quick: bool, model: str = "lenet300"):
    from zeroskip.models.compress import compress, default_config
    from zeroskip.models.data import mnist_split
    from zeroskip.models.train import Schedule

    split = mnist_split(0)
    fast = dict(prune_steps=1, dense=Schedule(3, 0.05, l2=5e-4), prune=Schedule(1, 0.01, l2=5e-4),
                finetune=Schedule(1, 1e-4, optimizer="adam")) if quick else {}
    if quick and model == "lenet5":                    # its own learning rates, one epoch each
        fast.update(dense=Schedule(1, 0.02, l2=5e-4), prune=Schedule(1, 0.02, l2=5e-4))
    result = compress(default_config(model, eie=True, **fast), data=split)
    return result.model.array_layers(model), split


def _program(layers, split, images: int = IMAGES):
    from zeroskip.compiler import compile_layers

    x_train, _, x_test, y_test = split
    program = compile_layers(layers, ARCH, calibration=x_train[:500])
    return program, x_test[:images], y_test[:images]


@pytest.fixture(scope="module")
def quick_lenet():
    return _program(*_compressed_lenet(quick=True))


def _verify(program, images, simulator, bus_load=False):
    xq = quantize_input(program, images)
    result = build_and_run(ARCH, program, xq, simulator, bus_load=bus_load)
    assert result.bus_load == bus_load
    checks = check_rtl(program, xq, result.outputs, result.cycles)
    assert [c.describe() for c in checks if not c.ok] == []
    assert len(checks) == len(images) and result.fingerprint != 0
    return result


def test_lenet300_quick_on_verilator(quick_lenet):
    program, images, labels = quick_lenet
    assert [l.in_len for l in program.layers] == [784, 300, 100]
    density = float(np.mean(decode_layer(program, 0) != 0))
    assert 0.01 < density < 0.5        # pruned, not dense, not empty
    result = _verify(program, images, "verilator", bus_load=True)
    predicted = program.logical_output(result.outputs).argmax(axis=1)
    assert np.mean(predicted == labels) >= 0.5    # a real, if briefly trained, classifier


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_lenet300_full_compression(simulator):
    program, images, labels = _program(*_compressed_lenet(quick=False))
    result = _verify(program, images, simulator)
    predicted = program.logical_output(result.outputs).argmax(axis=1)
    assert np.mean(predicted == labels) >= 0.8


def test_lenet5_quick_on_verilator():
    """LeNet-5 (conv 20@5x5, pool, conv 50@5x5, pool, fc 500, fc 10), trained one epoch,
    pruned, 4-bit shared: conv, max-pool and FC passes on the RTL, bit- and cycle-exact."""
    from zeroskip.hw.program import KIND_CONV, OP_MAX

    layers, split = _compressed_lenet(quick=True, model="lenet5")
    program, images, labels = _program(layers, split, LENET5_IMAGES)
    kinds = [(layer.kind, layer.op) for layer in program.layers]
    assert kinds[:4] == [(KIND_CONV, 0), (KIND_CONV, OP_MAX), (KIND_CONV, 0), (KIND_CONV, OP_MAX)]
    result = _verify(program, images, "verilator")
    assert (result.cycles > 50_000).all()              # every pixel of every map, not a stub
    # the same network with 2x2 blocks of output pixels per pass (docs/conv.md): the same
    # outputs from other passes, bit- and cycle-exact too
    from zeroskip.compiler import compile_layers

    blocked = compile_layers(layers, ARCH, calibration=split[0][:500], block_pools=True)
    assert blocked.layers[0].kernel == 6 and blocked.layers[0].stride == 2
    fast = _verify(blocked, images, "verilator")
    assert np.array_equal(blocked.logical_output(fast.outputs), program.logical_output(result.outputs))
    assert (fast.cycles < result.cycles).all()
