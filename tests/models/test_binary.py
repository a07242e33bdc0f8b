import argparse
import json

import numpy as np
import pytest

from zeroskip.errors import ZeroskipError
from zeroskip.models import binary_fold, binary_layers, binary_ref, binary_storage, binary_zoo, cli_compress, compress_binary
from zeroskip.models.binary_layers import BinaryDense, Sign
from zeroskip.models.layers import BatchNorm
from zeroskip.models.data import mnist_split
from zeroskip.models.layers import Conv2D
from zeroskip.models.optim import Adam
from zeroskip.models.train import Schedule, fit


def numeric_grad(f, x, eps=1e-3):
    g = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        g.reshape(-1)[i] = (up - down) / (2 * eps)
    return g


def test_sign_of_zero_is_plus_one():
    assert binary_layers.sign(np.array([-0.5, 0.0, 2.0])).tolist() == [-1.0, 1.0, 1.0]


def test_batchnorm_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    bn = BatchNorm(3)
    bn.params["gamma"][...] = [1.5, -0.7, 0.3]
    x = rng.standard_normal((6, 3)).astype(np.float64)
    proj = rng.standard_normal((6, 3))

    def loss():
        return float((bn.forward(x.astype(np.float32), training=True) * proj).sum())

    loss()
    dx = bn.backward(proj.astype(np.float32))
    assert np.allclose(dx, numeric_grad(loss, x), atol=2e-2)
    assert np.allclose(bn.grads["gamma"], numeric_grad(loss, bn.params["gamma"]), atol=2e-2)


def test_batchnorm_eval_uses_running_statistics():
    bn = BatchNorm(2, momentum=0.0)
    x = np.array([[1.0, 10.0], [3.0, 30.0]], np.float32)
    bn.forward(x, training=True)
    assert np.allclose(bn.running_mean, [2.0, 20.0]) and np.allclose(bn.running_var, [1.0, 100.0])
    assert np.allclose(bn.forward(np.array([[2.0, 30.0]], np.float32)), [[0.0, 1.0]], atol=1e-4)


def test_input_quantisation_rounds_half_up_and_clips():
    x = np.array([[-0.2, 0.5 / 255, 1.5 / 255, 2.5 / 255, 1.2]])
    assert binary_layers.quantize_input(x, 255).tolist() == [[0, 1, 2, 3, 255]]
    pixels = np.arange(256, dtype=np.float32) / np.float32(255)
    assert binary_ref.quantize_pixels(pixels).tolist() == list(range(256))


def test_binary_dense_forward_is_alpha_times_the_sign_dot_product():
    rng = np.random.default_rng(1)
    layer = BinaryDense(5, 4, rng)
    x = binary_layers.sign(rng.standard_normal((3, 5)))
    w = layer.params["W"]
    expected = (x @ np.sign(w).T) * np.abs(w).mean(axis=1)
    assert np.allclose(layer.forward(x), expected, rtol=1e-6)


def test_first_layer_sees_pixels_as_integers():
    layer = BinaryDense(3, 2, input_levels=255)
    layer.params["W"][...] = [[0.5, -0.5, 0.5], [-0.25, -0.25, 0.25]]
    x = np.array([[1.0, 2 / 255, 254 / 255]], np.float32)
    dot = np.array([255 - 2 + 254, -255 - 2 + 254])
    assert np.allclose(layer.forward(x), dot * np.array([0.5, 0.25]) / 255)


def test_straight_through_estimator_passes_gradient_only_where_abs_le_1():
    layer = BinaryDense(3, 1, binarize_input=True)
    layer.params["W"][...] = [[0.5, 1.5, -0.2]]  # 1.5: outside the STE window
    x = np.array([[0.3, -2.0, 0.9]], np.float32)
    layer.forward(x, training=True)
    dx = layer.backward(np.ones((1, 1), np.float32))
    assert dx[0, 1] == 0 and dx[0, 0] != 0 and dx[0, 2] != 0
    assert layer.grads["W"][0, 1] == 0 and layer.grads["W"][0, 0] != 0
    sign = Sign()
    sign.forward(np.array([[-1.5, 0.2]], np.float32))
    assert sign.backward(np.ones((1, 2), np.float32)).tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1)])
@pytest.mark.parametrize("xnor", [False, True])
def test_binary_conv_is_a_float_conv_with_binarised_weights_and_inputs(xnor, stride, pad):
    rng = np.random.default_rng(2)
    conv = binary_layers.BinaryConv2D(2, 3, 3, rng, binarize_input=xnor, beta_momentum=0.0,
                                      stride=stride, pad=pad)
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    y = conv.forward(x, training=True)
    ref = Conv2D(2, 3, 3, stride=stride, pad=pad)      # pads the signs with zeros: no +1
    w = conv.params["W"]
    ref.params["W"][...] = np.sign(w) * np.abs(w).mean(axis=(1, 2, 3))[:, None, None, None]
    xin = binary_layers.sign(x) if xnor else x
    expected = ref.forward(xin)
    if xnor:  # per-patch beta = mean |patch|, the padding counted as zeros
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        patches = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
        patches = patches[:, ::stride, ::stride]
        expected = expected * np.abs(patches).mean(axis=(3, 4, 5))[..., None]
    assert np.allclose(y, expected, rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = conv.backward(dy)
    assert dx.shape == x.shape and conv.grads["W"].shape == w.shape
    if not xnor:  # straight through: the input gradient of the equivalent float conv
        ref.forward(xin)
        assert np.allclose(dx, ref.backward(dy), atol=1e-5)
    assert np.abs(conv.grads["W"]).sum() > 0


def test_latent_weights_are_clipped_after_every_update():
    net = binary_zoo.binary_mlp("bwn", sizes=(4, 3, 2))
    net.layers[0].params["W"][...] = 0.99
    params = binary_layers.trainable_params(net)
    for p in params:
        p.layer.grads[p.key][...] = -1.0  # push every weight up
    Adam(lr=0.5).step(params)
    w = net.layers[0].params["W"]
    assert w.max() == 1.0 and w.min() >= -1.0


def test_xnor_beta_is_a_running_mean_frozen_at_inference():
    layer = BinaryDense(4, 2, binarize_input=True, beta_momentum=0.0)
    x = np.array([[0.5, -0.5, 0.5, -0.5], [2.0, -2.0, 2.0, -2.0]], np.float32)
    layer.forward(x, training=True)
    assert layer.running_beta == pytest.approx(1.25)
    a = layer.forward(x[:1])
    b = layer.forward(x[1:])
    assert np.allclose(a, b)  # same signs, same (frozen) beta


def test_unknown_mode_is_a_one_line_error():
    with pytest.raises(ZeroskipError, match="--mode 'xor': unknown binary mode"):
        binary_zoo.binary_mlp("xor")
    with pytest.raises(ZeroskipError, match="unknown binary mode"):
        compress_binary.BinaryRun(mode="ternary")


@pytest.mark.parametrize("bound", [5, 300])
def test_thresholds_reproduce_every_affine_decision(bound):
    rng = np.random.default_rng(bound)
    a = np.concatenate([rng.standard_normal(40), [0.0, 0.0, 1.0, -1.0, 1e-9]])
    c = np.concatenate([rng.standard_normal(40) * bound, [1.0, -1.0, 2.0, 2.0, 5.0]])
    t, flip = binary_fold.threshold_from_affine(a, c, bound)
    dots = np.arange(-bound, bound + 1)[:, None]
    expected = a * dots + c >= 0
    got = np.where(flip, dots <= t, dots >= t)
    assert np.array_equal(got, expected)
    assert t.min() >= -bound - 1 and t.max() <= bound + 1
    assert flip.tolist()[-5:] == [False, False, False, True, False]


def test_fold_refuses_full_precision_layers():
    with pytest.raises(ZeroskipError, match="fc1: dense has no packed-bit form"):
        binary_fold.fold(binary_zoo.binary_mlp("bwn", first_full_precision=True))


@pytest.fixture(scope="module")
def mnist():
    return mnist_split(0)


def pre_sign_values(net, x):
    """The float forward's batch-norm outputs of each layer (what sign / argmax see)."""
    out = []
    for layer in net.layers:
        x = layer.forward(x)
        if isinstance(layer, BatchNorm):
            out.append(x)
    return out


@pytest.mark.parametrize("mode", binary_layers.MODES)
def test_folded_reference_matches_the_float_forward(mnist, mode):
    x, y, x_test, y_test = mnist
    net = binary_zoo.binary_mlp(mode, sizes=(784, 64, 64, 10), seed=1)
    fit(net, binary_layers.trainable_params(net), x[:1000], y[:1000], Schedule(2, 0.01, "adam", 100),
        np.random.default_rng(0))
    x_eval = x_test[:300]
    folded = binary_fold.fold(net)
    ref_pred = assert_folded_matches_the_float_forward(net, folded, x_eval)
    assert np.mean(ref_pred == y_test[:300]) > 0.5  # it has learned something


def assert_folded_matches_the_float_forward(net, folded, x_eval):
    """Every binarised layer's bits are the float forward's signs (exact ties aside); the last
    layer's scaled integer dots are its logits. Returns the reference's predictions."""
    dots = binary_ref.trace(folded, binary_ref.quantize_pixels(x_eval))
    floats = pre_sign_values(net, x_eval)
    for layer, dot, value in zip(folded[:-1], dots[:-1], floats[:-1]):
        value = value.reshape(len(value), -1)            # a conv's map in (y, x, c) order
        bits = binary_ref.layer_output_bits(layer, dot)
        differ = bits != (value >= 0)
        assert not np.any(differ & (np.abs(value) > 1e-4))  # only exact ties may differ
        assert differ.mean() < 1e-3
    # the last layer: integer dots, scaled, rank the classes as the float logits do
    last = folded[-1]
    assert np.allclose(dots[-1] * last.scale + last.offset, floats[-1], atol=1e-3)
    ref_pred = binary_ref.predict(folded, binary_ref.quantize_pixels(x_eval))
    assert np.array_equal(ref_pred, floats[-1].argmax(axis=1))
    return ref_pred


@pytest.fixture(scope="module", params=binary_layers.MODES)
def trained_cnn(request, mnist):
    x, y, x_test, _ = mnist
    net = binary_zoo.binary_cnn(request.param, channels=(4, 8), hidden=32, seed=1)
    fit(net, binary_layers.trainable_params(net), x[:600], y[:600], Schedule(1, 0.01, "adam", 100),
        np.random.default_rng(0))
    return net, x_test[:150]


def test_folded_binary_cnn_matches_the_float_forward(trained_cnn, mnist):
    net, x_eval = trained_cnn
    folded = binary_fold.fold(net)
    assert [(layer.name, layer.conv, layer.pool) for layer in folded] == [
        ("conv1", (28, 28, 1, 3, 1, 1), (2, 2)), ("conv2", (14, 14, 4, 3, 1, 1), (2, 2)),
        ("fc1", None, None), ("fc2", None, None)]
    dots = binary_ref.trace(folded, binary_ref.quantize_pixels(x_eval))
    assert dots[0].shape == (150, 28 * 28 * 4)          # before the pool, (y, x, c)
    assert_folded_matches_the_float_forward(net, folded, x_eval)


def test_a_padded_tap_adds_nothing_to_a_bipolar_dot():
    # one 3x3 conv over a 2x2 map of +1 bits, all weights +1: the corner pixel's window has 4
    # taps inside, so its dot is 4 (not 9, as +1 padding would make it, nor 4 - 5 = -1 as -1)
    layer = binary_fold.FoldedLayer("conv1", np.ones((1, 9), bool), 0, thresholds=np.zeros(1,
                                    np.int64), flip=np.zeros(1, bool), conv=(2, 2, 1, 3, 1, 1))
    assert binary_ref.conv_dot(layer, np.ones((1, 4), bool)).tolist() == [[4, 4, 4, 4]]
    assert binary_ref.conv_dot(layer, np.zeros((1, 4), bool)).tolist() == [[-4, -4, -4, -4]]


def test_a_binary_cnn_saves_loads_and_compiles_tiled_over_space(trained_cnn, tmp_path, capsys):
    from zeroskip.cli import main

    net, x_eval = trained_cnn
    folded = binary_fold.fold(net)
    path = tmp_path / "cnn.npz"
    binary_ref.save(path, folded)
    loaded = binary_ref.load(path)
    assert [(l.conv, l.pool) for l in loaded] == [(l.conv, l.pool) for l in folded]
    x_int = binary_ref.quantize_pixels(x_eval)
    assert np.array_equal(binary_ref.predict(loaded, x_int), binary_ref.predict(folded, x_int))
    # the small preset's activation banks hold no 28x28x16 map: the compiler tiles it over
    # space (docs/conv.md), and the array's last dots are the packed-bit reference's
    from zeroskip.hw.tiled import TiledProgram, load_any
    from zeroskip.hw.reference import predict_int

    assert main(["compile", str(path), "-o", str(tmp_path / "prog")]) == 0
    assert "tiled over space" in capsys.readouterr().out
    tiled = load_any(str(tmp_path / "prog"))
    assert isinstance(tiled, TiledProgram)
    xq = x_int[:6].reshape(6, -1).astype(np.int64)
    dots = tiled.run(xq, lambda name, program, q: (predict_int(program, q), None))[0]
    assert np.array_equal(tiled.logical_output(dots), binary_ref.last_dots(loaded, x_int[:6]))


def test_fold_refuses_a_pool_of_values_rather_than_of_signs():
    from zeroskip.models.layers import Flatten, MaxPool2, Reshape
    from zeroskip.models.network import Network

    rng = np.random.default_rng(0)
    net = Network("n", [Reshape((4, 4, 1)),
                        binary_layers.BinaryConv2D(1, 2, 3, rng, input_levels=255, pad=1),
                        BatchNorm(2), MaxPool2(),
                        binary_layers.BinaryConv2D(2, 2, 3, rng, binarize_input=True, pad=1),
                        BatchNorm(2), Flatten(), BinaryDense(8, 2, rng), BatchNorm(2)])
    with pytest.raises(ZeroskipError, match="layer conv1: a max pool must follow a Sign"):
        binary_fold.fold(net)


def test_storage_counts_binary_weights_thresholds_and_full_precision_layers():
    layers = binary_storage.storage(binary_zoo.binary_mlp("bwn"))
    assert [r.bits for r in layers] == [1, 1, 1]
    # fc1: 784 x 8-bit inputs -> |dot| <= 199920, threshold in 19 bits + a flip bit
    assert layers[0].extra_bits == 256 * (19 + 1)
    assert layers[0].bytes == (200704 + 256 * 20) // 8
    assert layers[2].extra_bits == 10 * 64  # scale + offset in float32
    assert binary_storage.compression_ratio(layers) >= 25
    fp = binary_storage.storage(binary_zoo.binary_mlp("bwn", first_full_precision=True))
    assert fp[0].bits == 32 and binary_storage.compression_ratio(fp) < 2


def _cli_args(**overrides):
    parser = argparse.ArgumentParser()
    cli_compress.add_binary_arguments(parser)
    args = parser.parse_args([])
    args.quiet = True
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_cli_writes_report_and_folded_model(tmp_path):
    report_path, model_path = tmp_path / "r.json", tmp_path / "m.npz"
    args = _cli_args(mode="xnor", distill=True, epochs=1, teacher_epochs=1,
                     json=str(report_path), output=str(model_path))
    assert cli_compress.run_binary(args) == 0
    report = json.loads(report_path.read_text())
    for key in ("accuracy_float", "accuracy_binary", "compression_ratio", "layers"):
        assert key in report
    assert [layer["name"] for layer in report["layers"]] == ["fc1", "fc2", "fc3"]
    assert report["reference_agreement"] == 1.0
    assert report["accuracy_binary"] == report["accuracy_binary_float_forward"]
    assert report["compression_ratio"] >= 25
    folded = binary_ref.load(model_path)
    x_test, y_test = mnist_split(0)[2:]
    assert binary_ref.accuracy(folded, binary_ref.quantize_pixels(x_test), y_test) == \
        report["accuracy_binary"]


def test_cli_trains_folds_and_writes_a_binary_cnn(tmp_path):
    report_path, model_path = tmp_path / "r.json", tmp_path / "m.npz"
    args = _cli_args(model="binary-cnn", mode="xnor", epochs=1, teacher_epochs=1,
                     json=str(report_path), output=str(model_path))
    assert cli_compress.run_binary(args) == 0
    report = json.loads(report_path.read_text())
    assert report["model"] == "binary-cnn"
    assert [layer["name"] for layer in report["layers"]] == ["conv1", "conv2", "fc1", "fc2"]
    assert report["layers"][1]["weights"] == 32 * 16 * 9        # out x (c x k x k), 1 bit each
    assert report["reference_agreement"] > 0.99
    folded = binary_ref.load(model_path)
    x_test, y_test = mnist_split(0)[2:]
    assert binary_ref.accuracy(folded, binary_ref.quantize_pixels(x_test), y_test) == \
        report["accuracy_binary"] > 0.5
    with pytest.raises(ZeroskipError, match="binary-mlp's only"):
        cli_compress.run_binary(_cli_args(model="binary-cnn", first_full_precision=True))


def test_cli_rejects_bad_mode_and_folded_output_of_float_layers(tmp_path):
    with pytest.raises(ZeroskipError, match="unknown binary mode"):
        cli_compress.run_binary(_cli_args(mode="nope"))
    with pytest.raises(ZeroskipError, match="no folded integer form"):
        cli_compress.run_binary(_cli_args(first_full_precision=True, output=str(tmp_path / "m.npz")))


@pytest.mark.slow
@pytest.mark.parametrize("mode", binary_layers.MODES)
@pytest.mark.parametrize("distill", [False, True])
def test_zoo_binary_mlp_reaches_90_percent_at_25x(mode, distill):
    result = compress_binary.compress_binary(compress_binary.BinaryRun(mode=mode, distill=distill))
    report = result.report
    assert report["accuracy_binary"] >= 0.90
    assert report["accuracy_binary"] == report["accuracy_binary_float_forward"]
    assert report["compression_ratio"] >= 25


def test_a_binary_run_does_not_depend_on_the_callers_blas_threads():
    """BLAS splits a product among its threads, which changes a float sum's order: the run
    pins its own thread count, so one seed gives one model on any machine."""
    from threadpoolctl import threadpool_limits

    run = compress_binary.BinaryRun(mode="xnor", epochs=1, teacher_epochs=1, train_limit=1000)
    models = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            result = compress_binary.compress_binary(run)
        models.append([layer.params[name].copy() for layer in result.student.layers
                       for name in sorted(getattr(layer, "params", {}))])
    for one, two in zip(*models, strict=True):
        assert np.array_equal(one, two)
    with pytest.raises(ZeroskipError, match="blas-threads"):
        compress_binary.BinaryRun(blas_threads=0)
