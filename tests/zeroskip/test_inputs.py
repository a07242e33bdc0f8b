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
