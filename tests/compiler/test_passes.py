"""Each pass alone, and the user errors the flow reports."""

import dataclasses

import numpy as np
import pytest
from compiler_helpers import Layer, arch, random_layer

from zeroskip.compiler import compile_layers
from zeroskip.compiler.ir import CompileIR
from zeroskip.compiler.passes import (DEFAULT_FLOW, layer_ir, partition, run_flow, tile,
                                      validate)
from zeroskip.errors import ZeroskipError


def ir_for(layers, a, **options):
    return CompileIR(arch=a, layers=[layer_ir(l, i) for i, l in enumerate(layers)], **options)


def test_partition_and_tile():
    rng = np.random.default_rng(0)
    ir = tile(partition(ir_for([random_layer(rng, 70, 5)], arch(pes=4, acc_depth=8))))
    layer = ir.layers[0]
    assert layer.local_rows.tolist() == [18, 18, 17, 17]
    assert layer.tile_rows == [8, 8, 2]


def test_flow_is_a_list_of_named_passes_and_stops_where_asked():
    rng = np.random.default_rng(1)
    names = [step.__name__ for step in DEFAULT_FLOW]
    assert names == ["validate", "quantize", "balance", "partition", "tile", "encode",
                     "pack_images", "emit"]
    ir = run_flow(ir_for([random_layer(rng, 9, 5)], arch()), DEFAULT_FLOW[:6])
    assert ir.layers[0].encoded is not None and ir.program is None


def bad(layer, **changes):
    return dataclasses.replace(layer, **changes)


@pytest.mark.parametrize("make, message", [
    (lambda l: [bad(l, codebook=np.where(np.arange(16) == 3, np.nan, l.codebook))],
     "layer 0: codebook contains NaN"),
    (lambda l: [bad(l, codebook=l.codebook + 1)], "layer 0: codebook entry 0 must be 0.0"),
    (lambda l: [bad(l, codes=np.full_like(l.codes, 16))], "layer 0: codes values must be in 0..15 (codebook size 16)"),
    (lambda l: [bad(l, codes=-np.ones((9, 5), np.int64))], "layer 0: codes values must be in 0..15"),
    (lambda l: [bad(l, codes=l.codes.astype(np.float32))], "layer 0: codes must be integers"),
    (lambda l: [bad(l, bias=np.zeros(3))], "layer 0: bias must have shape (9,) to match codes, got (3,)"),
    (lambda l: [bad(l, bias=np.full(9, np.inf))], "layer 0: bias contains NaN or infinity"),
    (lambda l: [bad(l, act="tanh")], "layer 0: act must be 'relu' or 'none', got 'tanh'"),
    (lambda l: [l, l], "layer 1: takes 5 inputs but layer 0 has 9 outputs"),
    (lambda l: [], "the model has no layers"),
    (lambda l: [object()], "layer 0: unknown layer type object"),
])
def test_bad_layers_are_one_line_errors(make, message):
    layer = random_layer(np.random.default_rng(2), 9, 5)
    with pytest.raises(ZeroskipError, match=None) as error:
        compile_layers(make(layer), arch())
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_bad_calibration_and_input_frac():
    layer = random_layer(np.random.default_rng(3), 9, 5)
    with pytest.raises(ZeroskipError, match=r"calibration data has shape \(4, 6\)"):
        compile_layers([layer], arch(), calibration=np.zeros((4, 6)))
    with pytest.raises(ZeroskipError, match="calibration data contains NaN"):
        compile_layers([layer], arch(), calibration=np.full((4, 5), np.nan))
    with pytest.raises(ZeroskipError, match="input_frac must be an integer"):
        compile_layers([layer], arch(), input_frac=99)


def test_codes_wider_than_the_architecture():
    rng = np.random.default_rng(4)
    layer = Layer(np.concatenate([[0.0], rng.normal(size=31)]).astype(np.float32),
                  np.full((4, 3), 20, np.uint8), np.zeros(4, np.float32))
    with pytest.raises(ZeroskipError, match=r"layer 0 \(layer0\): code 20 needs code_bits 5 but the architecture's is 4; try --code-bits 5"):
        compile_layers([layer], arch())
    small_codes = dataclasses.replace(layer, codes=np.full((4, 3), 2, np.uint8))
    program = compile_layers([small_codes], arch())          # unused codebook tail is fine
    assert program.codebook.shape == (1, 16)


@pytest.mark.parametrize("changes, message", [
    ({"sparse_depth": 30}, r"layer 1 does not fit: layers 0..1 need \d+ sparse lines \(PE \d\) but the architecture's 'sparse_depth' is 30"),
    ({"ptr_depth": 40}, "layer 1 does not fit: layers 0..1 need 52 pointers but the architecture's 'ptr_depth' is 40; "
                        r"try --ptr-depth 52 or larger or more PEs \(--pes\)"),
    ({"max_passes": 1}, "layer 1 does not fit: layers 0..1 need 2 passes but the architecture's 'max_passes' is 1; "
                        "try 'max_passes': 2 or larger in an architecture file$"),
    ({"bias_depth": 12}, "layer 1 does not fit: layers 0..1 need 18 bias words"),
    ({"max_layers": 1}, "the model has 2 layers but the architecture's 'max_layers' is 1"),
])
def test_a_layer_that_does_not_fit_names_the_memory(changes, message):
    rng = np.random.default_rng(5)
    layers = [random_layer(rng, 30, 20, 0.9), random_layer(rng, 40, 30, 0.9, act="none")]
    compile_layers(layers, arch())
    with pytest.raises(ZeroskipError, match=message):
        compile_layers(layers, arch(**changes))


def test_a_first_layer_that_does_not_fit():
    rng = np.random.default_rng(5)
    with pytest.raises(ZeroskipError, match="layer 0 does not fit: it needs 19 sparse lines"):
        compile_layers([random_layer(rng, 30, 20, 0.9)], arch(sparse_depth=4))


def test_vectors_longer_than_the_array():
    rng = np.random.default_rng(6)
    with pytest.raises(ZeroskipError, match=r"layer 0 \(layer0\): 1100 outputs exceed the array's act_depth x pes = 1024; try --act-depth 275 or larger"):
        compile_layers([random_layer(rng, 1100, 3)], arch())
