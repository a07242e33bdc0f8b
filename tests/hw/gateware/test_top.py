"""The whole array on small programs: outputs == the numpy reference, cycle counter == the
timing equations (docs/timing.md) == the cycle simulator."""

from types import SimpleNamespace

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw import regmap
from zeroskip.hw.reference import predict_int, quantize_input
from zeroskip.hw.gateware.top import Accelerator
from zeroskip.sim import simulate_int

from benches import run_program, simulate, tiny
from handmade import encode, random_layers, timing_cycles


def sparse_inputs(rng, n, count, density=0.6, scale=60):
    return [rng.integers(-scale, scale, size=n) * (rng.random(n) < density) for _ in range(count)]


def check(program, inputs, results):
    for x, (outputs, cycles) in zip(inputs, results):
        np.testing.assert_array_equal(outputs, predict_int(program, np.asarray(x)[None])[0])
        assert cycles == timing_cycles(program, x)
        assert cycles == simulate_int(program, np.asarray(x)[None]).cycles


@pytest.mark.parametrize("sizes,seed", [([10, 9, 5], 1), ([7, 12, 3], 2)])
def test_handmade_network_matches_reference_and_timing(sizes, seed):
    arch = tiny()
    rng = np.random.default_rng(seed)
    program = encode(arch, random_layers(rng, arch, sizes, density=0.4))
    assert len(program.passes) > len(program.layers)          # row tiles exercised
    inputs = sparse_inputs(rng, sizes[0], 2) + [np.zeros(sizes[0], np.int64)]
    check(program, inputs, run_program(program, inputs))


def test_queue_stalls_and_padding_match_timing():
    """A one-entry queue stalls the broadcast; long zero runs need padding entries."""
    arch = tiny(fifo_depth=1, run_bits=2, code_bits=2, line_bits=16, acc_depth=8, act_depth=16)
    rng = np.random.default_rng(3)
    layers = random_layers(rng, arch, [9, 16], density=0.15)
    program = encode(arch, layers)
    entries = sum(int(program.ptr[p].max()) for p in range(arch.pes))
    useful = sum(int((np.asarray(l["codes"]) != 0).sum()) for l in layers)
    assert entries > useful                                    # padding entries present
    inputs = sparse_inputs(rng, 9, 2, density=0.9)
    check(program, inputs, run_program(program, inputs))


def test_compiled_program_and_elaboration_time_init():
    arch = tiny(pes=3, acc_depth=4, act_depth=16, sparse_depth=64)
    rng = np.random.default_rng(4)
    layers = []
    for n_in, n_out, act in ((12, 10, "relu"), (10, 4, "none")):
        codes = rng.integers(1, 16, size=(n_out, n_in)) * (rng.random((n_out, n_in)) < 0.3)
        codebook = np.linspace(-1, 1, 16).astype(np.float32)
        codebook[0] = 0
        layers.append(SimpleNamespace(codebook=codebook, codes=codes,
                                      bias=rng.normal(0, 0.1, n_out).astype(np.float32), act=act))
    x = rng.random((2, 12)) * (rng.random((2, 12)) < 0.5)
    program = compile_layers(layers, arch, calibration=x)
    xq = quantize_input(program, x)
    check(program, list(xq), run_program(program, list(xq), load_over_bus=False))


def test_refuses_program_for_another_configuration():
    arch = tiny()
    program = encode(tiny(pes=3), random_layers(np.random.default_rng(5), tiny(pes=3), [4, 3]))
    with pytest.raises(ZeroskipError, match="architecture"):
        Accelerator(arch, program)
    top = Accelerator(arch)
    errors = []

    async def bench(ctx, host):
        assert await host.read(regmap.REG_ID) == regmap.fingerprint(arch)
        try:
            await host.load_program(program)
        except ZeroskipError as error:
            errors.append(str(error))

    simulate(top, bench)
    assert errors and "fingerprints differ" in errors[0]


CONFIGS = {
    "one-pe": dict(pes=1, act_depth=32, ptr_depth=128, sparse_depth=64, bias_depth=64),
    "five-pes-10-entry-lines": dict(pes=5, code_bits=3, run_bits=3, line_bits=60, fifo_depth=3),
    "narrow": dict(pes=3, act_bits=8, weight_bits=8, acc_bits=16, fifo_depth=2, line_bits=24),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_configurations(name):
    arch = tiny(**CONFIGS[name])
    rng = np.random.default_rng(len(name))
    layers = random_layers(rng, arch, [11, 13, 6], density=0.35)
    if arch.act_bits == 8:
        for layer in layers:
            layer["codebook"] = layer["codebook"] // 4
    program = encode(arch, layers)
    inputs = sparse_inputs(rng, 11, 2, scale=100 if arch.act_bits > 8 else 20)
    check(program, inputs, run_program(program, inputs))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_random_regression(seed):
    rng = np.random.default_rng(100 + seed)
    arch = tiny(pes=int(rng.integers(1, 6)), fifo_depth=int(rng.integers(1, 5)),
                acc_depth=int(rng.integers(2, 6)), act_depth=32, sparse_depth=64, ptr_depth=128,
                bias_depth=64)
    sizes = [int(v) for v in rng.integers(3, 20, size=int(rng.integers(2, 4)))]
    program = encode(arch, random_layers(rng, arch, sizes, density=float(rng.uniform(0.1, 0.7))))
    inputs = sparse_inputs(rng, sizes[0], 3, density=float(rng.uniform(0.2, 1.0)))
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))


# -- binary passes (docs/binary-mode.md) ----------------------------------------------------------
def folded(rng, out_len, in_len, planes, binarize):
    from zeroskip.models.binary_fold import FoldedLayer
    weights = rng.random((out_len, in_len)) < 0.5
    if not binarize:
        return FoldedLayer("fc", weights, planes, scale=rng.uniform(0.1, 1, out_len),
                           offset=rng.normal(0, 1, out_len))
    bound = in_len * ((1 << planes) - 1 if planes else 1)
    return FoldedLayer("fc", weights, planes, thresholds=rng.integers(-bound // 6, bound // 6 + 1, out_len),
                       flip=rng.random(out_len) < 0.3)


@pytest.mark.parametrize("sizes,planes,pes,line_bits,acc_depth,fifo", [
    ([20, 9, 5], 2, 3, 16, 3, 8),          # bit planes, chunks of whole groups
    ([40, 12, 4], 0, 2, 16, 4, 1),         # bipolar, one-deep queues: stalls
    ([17, 10, 6], 0, 3, 16, 2, 2),         # groups straddle chunk boundaries (16 = 5·3 + 1)
    ([60, 9, 4], 3, 2, 64, 3, 4),          # 64-bit lines: two popcount chunks, the carry-save term
    ([56, 8, 4], 0, 2, 64, 4, 2),          # the same, bipolar
])
def test_binary_passes(sizes, planes, pes, line_bits, acc_depth, fifo):
    rng = np.random.default_rng(sum(sizes))
    arch = tiny(pes=pes, line_bits=line_bits, acc_depth=acc_depth, fifo_depth=fifo, sparse_depth=64,
                act_depth=32, bias_depth=64, ptr_depth=128, max_passes=16)
    layers = [folded(rng, n, k, planes if i == 0 else 0, i < len(sizes) - 2)
              for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:]))]
    program = compile_layers(layers, arch)
    assert {p.kind for p in program.passes} == {1}
    inputs = list(rng.integers(0, 1 << planes, (2, sizes[0])) if planes
                  else rng.integers(-5, 5, (2, sizes[0])))
    check(program, inputs, run_program(program, inputs))


def test_mixed_sparse_and_binary_program():
    rng = np.random.default_rng(9)
    arch = tiny(pes=2, line_bits=16, acc_depth=4, sparse_depth=64, act_depth=32, bias_depth=64,
                ptr_depth=128, max_passes=16)
    codes = rng.integers(1, 16, size=(10, 12)) * (rng.random((10, 12)) < 0.4)
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    sparse = SimpleNamespace(codebook=codebook, codes=codes, act="none",
                             bias=rng.normal(0, 0.1, 10).astype(np.float32))
    layers = [sparse, folded(rng, 8, 10, 0, True), folded(rng, 3, 8, 0, False)]
    x = rng.random((2, 12)) * (rng.random((2, 12)) < 0.6)
    program = compile_layers(layers, arch, calibration=x)
    assert {p.kind for p in program.passes} == {0, 1}
    xq = list(quantize_input(program, x))
    check(program, xq, run_program(program, xq))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_random_binary_regression(seed):
    rng = np.random.default_rng(200 + seed)
    pes = int(rng.integers(1, 5))
    arch = tiny(pes=pes, line_bits=int(rng.choice([8, 16, 24])), fifo_depth=int(rng.integers(1, 4)),
                acc_depth=int(rng.integers(1, 5)), sparse_depth=256, act_depth=32, bias_depth=64,
                ptr_depth=128, max_passes=32)
    planes = int(rng.choice([0, 1, 3]))
    sizes = [int(v) for v in rng.integers(3, 30, size=3)]
    layers = [folded(rng, n, k, planes if i == 0 else 0, i == 0)
              for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:]))]
    program = compile_layers(layers, arch)
    inputs = list(rng.integers(0, 1 << planes, (2, sizes[0])) if planes
                  else rng.integers(-5, 5, (2, sizes[0])))
    check(program, inputs, run_program(program, inputs, load_over_bus=bool(seed % 2)))
