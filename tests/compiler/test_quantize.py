"""Fixed-point scale choice: no saturation on the calibration data, a guaranteed bound without."""

import numpy as np
import pytest
from compiler_helpers import arch, float_forward, random_layer

from zeroskip.compiler import compile_layers
from zeroskip.compiler.ir import CompileIR
from zeroskip.compiler.passes import layer_ir, quantize, validate
from zeroskip.compiler.quantize import int_matmul
from zeroskip.hw.fixedpoint import frac_for_range, quantize as fx_quantize, requantize, signed_range, wrap


def formats(layers, a, calibration=None, input_frac=None):
    ir = CompileIR(arch=a, layers=[layer_ir(l, i) for i, l in enumerate(layers)],
                   calibration=calibration, input_frac=input_frac)
    return quantize(validate(ir))


def unclipped_outputs(layer, xq, a):
    """Pre-saturation requantised outputs and the raw accumulator for integer inputs."""
    acc = int_matmul(xq, layer.codes, layer.codebook_q)
    y = acc + layer.bias_q[None, :]
    shift = layer.shift
    rounded = (y + (1 << (shift - 1))) >> shift if shift else y
    return acc, rounded


def test_int_matmul_is_exact():
    rng = np.random.default_rng(0)
    x = rng.integers(-2 ** 15, 2 ** 15, (3, 50))
    codes = rng.integers(0, 16, (7, 50))
    table = np.concatenate([[0], rng.integers(-2 ** 15, 2 ** 15, 15)])
    assert np.array_equal(int_matmul(x, codes, table), x @ table[codes].T)


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_calibrated_scales_do_not_saturate_on_the_calibration_data(scale):
    rng = np.random.default_rng(1)
    layers = [random_layer(rng, 40, 30, 0.5), random_layer(rng, 25, 40, 0.5),
              random_layer(rng, 10, 25, 0.5, act="none")]
    a = arch()
    x = rng.normal(0, scale, (50, 30))
    ir = formats(layers, a, calibration=x)
    low, high = signed_range(a.act_bits)
    acc_low, acc_high = signed_range(a.acc_bits)
    xq = fx_quantize(x, ir.layers[0].in_frac, a.act_bits)
    assert np.abs(xq).max() <= high and np.abs(x * 2.0 ** ir.layers[0].in_frac).max() <= high + 0.5
    for layer in ir.layers:
        acc, rounded = unclipped_outputs(layer, xq, a)
        assert acc_low <= acc.min() and acc.max() <= acc_high          # no wrap-around
        relevant = np.maximum(rounded, 0) if layer.relu else rounded
        assert low <= relevant.min() and relevant.max() <= high          # no saturation
        assert relevant.max() > high // 4 or -relevant.min() > high // 4   # and the range is used
        assert 0 <= layer.shift <= 63
        xq = requantize(acc, layer.bias_q, layer.shift, layer.relu, a.acc_bits, a.act_bits)


def test_scales_chain_and_codebook_zero_stays_zero():
    rng = np.random.default_rng(2)
    layers = [random_layer(rng, 20, 10), random_layer(rng, 5, 20, act="none")]
    ir = formats(layers, arch(), calibration=rng.uniform(-1, 1, (8, 10)))
    assert ir.layers[1].in_frac == ir.layers[0].out_frac
    for layer in ir.layers:
        assert layer.codebook_q[0] == 0
        assert np.abs(layer.codebook_q).max() <= signed_range(16)[1]


def test_input_frac_overrides_the_range():
    rng = np.random.default_rng(3)
    ir = formats([random_layer(rng, 8, 6)], arch(), calibration=rng.uniform(-1, 1, (4, 6)),
                 input_frac=9)
    assert ir.layers[0].in_frac == 9


def test_without_calibration_the_bound_holds_for_worst_case_inputs_in_unit_range():
    rng = np.random.default_rng(4)
    layers = [random_layer(rng, 30, 20, 0.6, scale=2.0), random_layer(rng, 10, 30, 0.6, act="none")]
    a = arch()
    ir = formats(layers, a)
    assert ir.layers[0].in_frac == 14                   # 1.0 fits 16-bit signed with 14 bits
    # the worst input for each first-layer output is the sign pattern of its weights
    weights = layers[0].codebook.astype(np.float64)[layers[0].codes]
    x = np.concatenate([np.sign(weights), -np.sign(weights), rng.uniform(-1, 1, (20, 20))])
    xq = fx_quantize(x, ir.layers[0].in_frac, a.act_bits)
    low, high = signed_range(a.act_bits)
    for layer in ir.layers:
        acc, rounded = unclipped_outputs(layer, xq, a)
        assert np.array_equal(acc, wrap(acc, a.acc_bits))
        assert low <= rounded.min() and rounded.max() <= high
        xq = requantize(acc, layer.bias_q, layer.shift, layer.relu, a.acc_bits, a.act_bits)


def test_weight_scale_drops_to_keep_the_accumulator_from_wrapping():
    rng = np.random.default_rng(5)
    layer = random_layer(rng, 4, 3000, 1.0, scale=1.0)
    a = arch(act_depth=1024, acc_depth=64)
    ir = formats([layer], a, calibration=np.ones((1, 3000)))
    acc, _ = unclipped_outputs(ir.layers[0], fx_quantize(np.ones((1, 3000)), ir.layers[0].in_frac, 16), a)
    assert np.abs(acc).max() <= signed_range(a.acc_bits)[1]
    assert ir.layers[0].w_frac < frac_for_range(np.abs(layer.codebook).max(), a.weight_bits)
