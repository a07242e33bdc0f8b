"""Inputs of conv programs (zeroskip/inputs.py, docs/conv.md): NCHW images, one image, or rows
flattened in NCHW order all reach the array as the map vector (y·W + x)·C + c; a wrong image
shape is one line naming it."""

import dataclasses

import numpy as np
import pytest

from zeroskip.compiler.conv import random_conv_program
from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import PRESETS
from zeroskip.hw.reference import quantize_input
from zeroskip.inputs import activations

ARCH = dataclasses.replace(PRESETS["small"], act_depth=512)


def test_nchw_images_become_map_vectors():
    program, x = random_conv_program(ARCH, 0, height=5, width=4, channels=3)
    hwc = x.reshape(-1, 5, 4, 3)
    nchw = hwc.transpose(0, 3, 1, 2)
    want = quantize_input(program, x)
    assert np.array_equal(activations(nchw, program, False, "--input x.npy"), want)
    assert np.array_equal(activations(nchw[0], program, False, "--input x.npy"), want[:1])
    flat = nchw.reshape(len(x), -1)
    assert np.array_equal(activations(flat, program, False, "--input x.npy"), want)
    with pytest.raises(ZeroskipError, match=r"--input x.npy: shape \(8, 4, 5, 3\); the program "
                                            r"takes images \[n, 3, 5, 4\] \(NCHW\)"):
        activations(hwc.transpose(0, 2, 1, 3), program, False, "--input x.npy")


def test_sim_takes_nchw_image_files(tmp_path):
    """``zeroskip sim --input`` with a 4-D NCHW .npy file, and a 4-D file for an FC program is
    one line."""
    import subprocess
    import sys
    from pathlib import Path

    program, x = random_conv_program(ARCH, 1, height=5, width=4, channels=3)
    program.save(str(tmp_path / "p"))
    np.save(tmp_path / "x.npy", x.reshape(-1, 5, 4, 3).transpose(0, 3, 1, 2))
    zeroskip = str(Path(sys.executable).parent / "zeroskip")
    run = subprocess.run([zeroskip, "-q", "sim", str(tmp_path / "p"), "--input",
                          str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    from zeroskip.sim import simulate
    assert np.array_equal(np.load(tmp_path / "y.npy"), simulate(program, x).outputs)

    from zeroskip.compiler import compile_layers
    from zeroskip.models.interchange import SharedLayer
    fc = compile_layers([SharedLayer(np.array([0, 1], np.float32), np.eye(60, dtype=np.uint8),
                                     np.zeros(60, np.float32), "none")], ARCH)
    fc.save(str(tmp_path / "fc"))
    run = subprocess.run([zeroskip, "sim", str(tmp_path / "fc"), "--input", str(tmp_path / "x.npy")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "shape (8, 3, 5, 4); the program takes [60] or [batch, 60]" in run.stderr
