"""The binary MLP (XNOR-Net, 784-256-256-10, batch norm + sign folded into integer thresholds)
compiled for the demo's 16-PE array and run on the RTL under cocotb: on held-out MNIST images
the outputs are bit-exact against the reference and the cycle counter equals the simulator's,
and the four rungs agree — the model's packed-bit reference (``zeroskip.models.binary_ref``),
the array's reference (``predict_int``), the cycle simulator and the RTL.

Trained for seconds (one epoch on 600 images: a real, if weak, classifier) and loaded over the
bus into the empty 16-PE build on Verilator (cached across runs; Icarus simulates 16 PEs ~50×
slower). The demo's fully trained model goes through ``zeroskip verify`` on all 1,000 held-out
images: docs/verification.md.
"""

import numpy as np
import pytest

from zeroskip.demo import CALIBRATION_IMAGES, classify, demo_arch
from zeroskip.hw.program import KIND_BINARY
from zeroskip.hw.reference import predict_int, quantize_input, trace_int
from zeroskip.hw.rtl.run import build_and_run
from zeroskip.ladder import check_rtl
from zeroskip.models import binary_ref
from zeroskip.sim import simulate_int

pytestmark = pytest.mark.rtl

ARCH = demo_arch(16)
IMAGES = 12


@pytest.fixture(scope="module")
def binary_mlp():
    """The demo's XNOR MLP, trained briefly and folded; compiled for 16 PEs."""
    from zeroskip.compiler import compile_layers
    from zeroskip.models.compress_binary import BinaryRun, compress_binary
    from zeroskip.models.data import mnist_split

    result = compress_binary(BinaryRun(mode="xnor", seed=0, epochs=1, teacher_epochs=1,
                                       train_limit=600))
    x_train, _, x_test, y_test = mnist_split(0)
    program = compile_layers(result.folded, ARCH, calibration=x_train[:CALIBRATION_IMAGES])
    return result.folded, program, x_test[:IMAGES], y_test[:IMAGES]


@pytest.fixture(scope="module")
def rtl_run(binary_mlp):
    _, program, images, _ = binary_mlp
    xq = quantize_input(program, images)
    return xq, build_and_run(ARCH, program, xq, "verilator", bus_load=True)


def test_binary_mlp_on_verilator(binary_mlp, rtl_run):
    folded, program, _, labels = binary_mlp
    xq, result = rtl_run
    assert [(l.kind, l.in_len, l.out_len, l.planes, l.binarize) for l in program.layers] == [
        (KIND_BINARY, 784, 256, 8, True), (KIND_BINARY, 256, 256, 0, True),
        (KIND_BINARY, 256, 10, 0, False)]
    assert result.bus_load and result.fingerprint != 0
    checks = check_rtl(program, xq, result.outputs, result.cycles)
    assert len(checks) == IMAGES
    assert [c.describe() for c in checks if not c.ok] == []
    predicted = classify(program, result.outputs)
    assert np.mean(predicted == labels) >= 0.5       # a real, if briefly trained, classifier


def test_model_reference_array_reference_simulator_and_rtl_agree(binary_mlp, rtl_run):
    """binary_ref's last-layer dots == predict_int == simulate_int == the RTL (logical order),
    every hidden layer's bits == the array's ±1 activations, and the same classes."""
    folded, program, images, _ = binary_mlp
    xq, result = rtl_run
    x_int = binary_ref.quantize_pixels(images)
    assert np.array_equal(xq, x_int)               # the array's input planes are the model's pixels
    dots = binary_ref.trace(folded, x_int)
    reference = predict_int(program, xq)
    simulated = simulate_int(program, xq)
    assert np.array_equal(program.logical_output(reference), dots[-1])
    assert np.array_equal(program.logical_output(simulated.outputs_int), dots[-1])
    assert np.array_equal(program.logical_output(result.outputs), dots[-1])
    assert np.array_equal(result.cycles, simulated.cycles)
    assert len(np.unique(dots[-1])) > 10            # real scores, not a constant
    for layer, dot, acts in zip(folded[:-1], dots[:-1], trace_int(program, xq)[1:-1]):
        bits = binary_ref.layer_output_bits(layer, dot)
        assert 0.05 < bits.mean() < 0.95
        assert np.array_equal(acts, np.where(bits, 1, -1))
    assert np.array_equal(classify(program, result.outputs), binary_ref.predict(folded, x_int))


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_demo_binary_mlp_in_memory_init(simulator):
    """The demo's fully trained XNOR MLP (seed 0), loaded from its hex images at start, on both
    simulators: bit-exact, cycles equal, and classes as its packed-bit reference's."""
    from zeroskip.compiler import compile_layers
    from zeroskip.models.compress_binary import BinaryRun, compress_binary
    from zeroskip.models.data import mnist_split

    folded = compress_binary(BinaryRun(mode="xnor", seed=0)).folded
    x_train, _, x_test, y_test = mnist_split(0)
    program = compile_layers(folded, ARCH, calibration=x_train[:CALIBRATION_IMAGES])
    images, labels = x_test[:IMAGES], y_test[:IMAGES]
    xq = quantize_input(program, images)
    result = build_and_run(ARCH, program, xq, simulator)
    assert not result.bus_load
    checks = check_rtl(program, xq, result.outputs, result.cycles)
    assert [c.describe() for c in checks if not c.ok] == []
    predicted = classify(program, result.outputs)
    assert np.array_equal(predicted, binary_ref.predict(folded, binary_ref.quantize_pixels(images)))
    assert np.mean(predicted == labels) >= 0.8
