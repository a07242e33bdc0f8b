"""The conv contract (hw/conv.py, docs/conv.md): the window's groups worked by hand, the
descriptor's increments, and conv programs saved, loaded and checked like any other."""

import dataclasses
import json

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_program
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.conv import ConvGeometry, fm_stride
from zeroskip.hw.program import OP_MAX, load_program
from zeroskip.hw.reference import predict_int, quantize_input


def test_window_of_a_corner_pixel_worked_by_hand():
    """5x5x3 map at stride 4, 3x3 window, stride 2, pad 1, on 4 PEs: pixel (0, 0)'s window
    starts at (-1, -1). Row ky = 0 and column kx = 0 lie in the padding (five positions, one
    group each); the four inside positions hold channels 0..2 of pixels (0,0), (0,1), (1,0),
    (1,1): indices 0, 4, 20, 24 — one aligned group each."""
    g = ConvGeometry(5, 5, 3, 4, 3, 2, 1, 8, 8)
    assert (g.out_height, g.out_width, g.columns) == (3, 3, 27)
    w = g.windows(4)
    assert w.groups[0] == 9 and w.reads[0] == 4 and w.padding[0] == 5
    inside = w.index[0].reshape(9, 3)
    assert inside[[4, 5, 7, 8], 0].tolist() == [0, 4, 20, 24]
    assert (inside[[0, 1, 2, 3, 6]] == -1).all()
    assert w.group[0].reshape(9, 3)[:, 0].tolist() == list(range(9))


def test_unaligned_channels_span_two_groups():
    """A dense 3-channel input (stride 3) on 4 PEs: pixel 1's channels are indices 3, 4, 5 —
    lane 3 of group 0, then lanes 0, 1 of group 1."""
    g = ConvGeometry(1, 2, 3, 3, 1, 1, 0, 4, 4)
    w = g.windows(4)
    assert w.index[1].tolist() == [3, 4, 5]
    assert w.group[1].tolist() == [0, 1, 1] and w.groups[1] == 2


def test_descriptor_increments():
    g = ConvGeometry(6, 7, 3, 4, 3, 2, 1, 5, 8, OP_MAX)
    fields = g.pass_fields(4)
    assert fields["row_step"] == 28 and fields["pixel_step"] == 8 and fields["line_step"] == 56
    assert fields["origin"] == 32 and fields["out_step"] == 2
    assert ConvGeometry.from_pass(fields, 3, 5, 4) == g
    with pytest.raises(ZeroskipError, match="field 'origin' = 33 disagrees"):
        ConvGeometry.from_pass({**fields, "origin": 33}, 3, 5, 4)


@pytest.mark.parametrize("geometry, problem", [
    (ConvGeometry(4, 4, 2, 2, 3, 1, 3, 4, 4), "pad below the kernel"),
    (ConvGeometry(2, 2, 2, 2, 5, 1, 0, 4, 4), "larger than the padded"),
    (ConvGeometry(4, 4, 2, 1, 3, 1, 0, 4, 4), "input stride 1 is below"),
    (ConvGeometry(4, 4, 2, 2, 3, 1, 0, 5, 6), "not a multiple of 4"),
])
def test_geometries_the_array_cannot_run(geometry, problem):
    assert problem in geometry.problem(4)


def test_conv_program_saves_and_loads(tmp_path):
    arch = dataclasses.replace(PRESETS["small"], act_depth=512)
    program, x = random_conv_program(arch, 0, convs=((6, 3, 2, 1),), pool=(2, 1))
    program.save(str(tmp_path / "p"))
    loaded = load_program(str(tmp_path / "p"))
    xq = quantize_input(program, x)
    assert np.array_equal(predict_int(loaded, xq), predict_int(program, xq))

    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    manifest["layers"][0]["pad"] = 3
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ZeroskipError, match="layer 0 kernel 3, stride 2, pad 3"):
        load_program(str(tmp_path / "p"))


def test_output_stride_is_channels_rounded_to_pes():
    assert [fm_stride(c, 16) for c in (1, 16, 20, 50)] == [16, 16, 32, 64]


def test_a_layer_writes_its_channels_from_its_channel_base():
    """``channel_base`` places row 0 in a wider output map: the layer writes channels
    [base, base + fm_stride(O)) of every pixel and nothing else; it must start at a multiple of
    N inside the stride."""
    g = ConvGeometry(2, 1, 4, 4, 1, 1, 0, 3, 12, channel_base=4)
    assert g.problem(4) is None
    assert g.written(4).reshape(2, 12).tolist() == [[False] * 4 + [True] * 4 + [False] * 4] * 2
    assert "do not start at a multiple of 4" in ConvGeometry(2, 1, 4, 4, 1, 1, 0, 3, 12,
                                                             channel_base=2).problem(4)
    assert "inside the output stride 8" in ConvGeometry(2, 1, 4, 4, 1, 1, 0, 3, 8,
                                                        channel_base=8).problem(4)


def test_the_reference_refuses_a_read_of_what_no_layer_wrote():
    """The banks keep what a layer does not write (a shortcut resting beside a later layer's
    output). A program whose layer reads a position no layer wrote for this input would read a
    stale value on the hardware: the reference names the layer. Here the bottleneck's depthwise
    layer is moved from beside the resting shortcut onto it, so the add reads channels nobody
    wrote."""
    from zeroskip.compiler.graph import random_graph_program

    program, x, _ = random_graph_program(PRESETS["small"], 3, "bottleneck", width=4)
    xq = quantize_input(program, x)
    predict_int(program, xq)
    depthwise = program.layers[2]
    assert depthwise.channel_base == 4
    layers = list(program.layers)
    layers[2] = dataclasses.replace(depthwise, channel_base=0)
    passes = [dataclasses.replace(p, row_base=p.row_base - 1) if p.layer == 2 else p
              for p in program.passes]
    moved = dataclasses.replace(program, layers=layers, passes=passes)
    with pytest.raises(ZeroskipError, match=r"^layer 3: reads activation 8 of its source bank, "
                                            r"which no earlier layer wrote"):
        predict_int(moved, xq)
