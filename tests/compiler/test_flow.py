"""compile_layers / compile_file end to end: the reference's output against the float model."""

import numpy as np
import pytest
from compiler_helpers import arch, float_forward, random_layer, write_interchange

from zeroskip.compiler import compile_file, compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw import reference
from zeroskip.hw.kinds import decode_layer
from zeroskip.hw.program import load_program


def error_bound(program, layers, x):
    """A rigorous bound on |reference − float| per output, from the program's scales.

    Per layer, with true input x and fixed-point input within E of it:
    |Ŵx̂ − Wx| ≤ |Ŵ|·E + e_w·Σ_j≠pruned |x_j|, plus the bias rounding and the output rounding
    (ReLU does not enlarge errors). Inputs must not saturate, which the scales guarantee here.
    """
    x = np.atleast_2d(np.asarray(x, np.float64))
    error = np.full_like(x, 2.0 ** -(program.layers[0].in_frac + 1))
    for layer, info in zip(layers, program.layers):
        codebook = np.asarray(layer.codebook, np.float64)
        weights_q = np.round(codebook * 2.0 ** info.w_frac) * 2.0 ** -info.w_frac
        present = (layer.codes != 0).astype(np.float64)
        e_w = 2.0 ** -(info.w_frac + 1)
        e_b = 2.0 ** -(info.in_frac + info.w_frac + 1)
        e_out = 2.0 ** -(info.out_frac + 1)
        error = (error @ np.abs(weights_q[layer.codes]).T + e_w * (np.abs(x) @ present.T)
                 + e_b + e_out)
        x = x @ codebook[layer.codes].T + layer.bias
        if layer.act == "relu":
            x = np.maximum(x, 0)
    return error, x


@pytest.mark.parametrize("calibrated", [True, False])
def test_reference_matches_the_float_model_within_the_derived_tolerance(calibrated):
    rng = np.random.default_rng(0)
    layers = [random_layer(rng, 60, 40, 0.3), random_layer(rng, 30, 60, 0.3),
              random_layer(rng, 10, 30, 0.5, act="none")]
    x = rng.uniform(-1, 1, (40, 40))
    program = compile_layers(layers, arch(pes=4, acc_depth=8),
                             calibration=x if calibrated else None)
    got = reference.predict(program, x).astype(np.float64)
    bound, want = error_bound(program, layers, x)
    assert np.array_equal(want, float_forward(layers, x))
    slack = 2.0 ** -20 * np.abs(want) + 1e-12          # predict returns float32
    assert np.all(np.abs(got - want) <= bound + slack)
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()


def test_calibration_tightens_the_error():
    rng = np.random.default_rng(1)
    layers = [random_layer(rng, 50, 30, 0.4), random_layer(rng, 20, 50, 0.4, act="none")]
    x = rng.uniform(-0.1, 0.1, (30, 30))
    want = float_forward(layers, x)
    errors = [np.abs(reference.predict(compile_layers(layers, arch(), calibration=c), x) - want).max()
              for c in (None, x)]
    assert errors[1] < errors[0] / 4


def test_program_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    layers = [random_layer(rng, 70, 20, 0.3), random_layer(rng, 9, 70, 0.3, act="none")]
    x = rng.uniform(-1, 1, (8, 20))
    program = compile_layers(layers, arch(pes=4, acc_depth=8), calibration=x, balance=True)
    program.save(str(tmp_path / "prog"))
    loaded = load_program(str(tmp_path / "prog"))
    for name, image in program.images().items():
        assert np.array_equal(loaded.images()[name], image), name
    assert loaded.passes == program.passes and loaded.layers == program.layers
    assert np.array_equal(loaded.output_index, program.output_index)
    assert np.array_equal(reference.predict(loaded, x), reference.predict(program, x))
    assert loaded.meta["layers"][0]["passes"] == 3


def test_compile_file_reads_the_interchange_format(tmp_path):
    rng = np.random.default_rng(3)
    layers = [random_layer(rng, 16, 12, 0.5), random_layer(rng, 4, 16, 0.5, act="none")]
    write_interchange(tmp_path / "model.npz", layers)
    from_file = compile_file(str(tmp_path / "model.npz"), arch())
    direct = compile_layers(layers, arch())
    assert from_file.meta["source"].endswith("model.npz")
    for name, image in direct.images().items():
        assert np.array_equal(from_file.images()[name], image), name


def test_compile_file_missing_model(tmp_path):
    with pytest.raises(ZeroskipError, match="no such file"):
        compile_file(str(tmp_path / "nope.npz"), arch())


def test_compile_file_accepts_sample_arrays_riding_along(tmp_path):
    # the shared alexnet_fc8_eie.npz carries ``x`` and ``y_ref`` next to the layer
    rng = np.random.default_rng(4)
    layer = random_layer(rng, 8, 6, 0.5, act="none")
    np.savez(tmp_path / "m.npz", codebook_0=layer.codebook, codes_0=layer.codes,
             bias_0=layer.bias, act_0=np.array("none"), x=np.ones(6, np.float32))
    program = compile_file(str(tmp_path / "m.npz"), arch())
    assert np.array_equal(decode_layer(program, 0), layer.codes)


def test_numpy_integer_input_frac_saves(tmp_path):
    rng = np.random.default_rng(5)
    program = compile_layers([random_layer(rng, 8, 6)], arch(), input_frac=np.int64(10))
    program.save(str(tmp_path / "p"))
    assert load_program(str(tmp_path / "p")).layers[0].in_frac == 10


def test_compile_takes_a_file_or_layers(tmp_path):
    """``zeroskip.compiler.compile``: the same program from the layers and from their file."""
    from zeroskip.compiler import compile as compile_model
    from zeroskip.models.interchange import SharedLayer, save_interchange

    rng = np.random.default_rng(3)
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0.0
    codes = (rng.integers(1, 16, (12, 20)) * (rng.random((12, 20)) < 0.3)).astype(np.uint8)
    layers = [SharedLayer(codebook, codes, np.zeros(12, np.float32), "relu")]
    path = tmp_path / "one.npz"
    save_interchange(path, layers)
    from_layers = compile_model(layers, "small")
    from_file = compile_model(path, "small")
    assert np.array_equal(from_layers.sparse, from_file.sparse)
    assert from_layers.descriptors == from_file.descriptors
