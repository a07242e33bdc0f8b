"""The demo's two networks co-verified on all 1,000 held-out MNIST images on Verilator, the way
docs/verification.md records it: ``zeroskip compress`` → ``zeroskip compile`` (16 PEs, the
demo's array) → ``zeroskip verify --input test_images.npy``, every command the console script.
Each image must pass: outputs bit-exact with the array's reference, the RTL cycle counter equal
to the simulator's.

Slow (minutes: training, a 16-PE Verilator build unless cached, ~0.25 s (LeNet-300-100) to
~0.45 s (binary MLP) of simulation per image on 2 cores). ``ZEROSKIP_CLAIM_IMAGES=20`` runs the
same flow on the first 20 images (a check of the test itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.rtl, pytest.mark.slow]

ZEROSKIP = str(Path(sys.executable).parent / "zeroskip")
IMAGES = int(os.environ.get("ZEROSKIP_CLAIM_IMAGES", "1000"))
ARCH = ["--arch", "small", "--sparse-depth", "2048", "--pes", "16"]    # demo_arch(16)
TIMEOUT = 4 * 3600                                                      # a hang fails, late


def zeroskip(*argv, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([ZEROSKIP, *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, timeout=TIMEOUT)
    assert done.returncode == 0, f"zeroskip {' '.join(map(str, argv))}: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from zeroskip.hw.rtl.toolchain import SimulatorUnavailable, require_simulator
    from zeroskip.models.data import mnist_split

    try:
        require_simulator("verilator")
    except SimulatorUnavailable as error:
        pytest.fail(str(error))   # co-verification never skips: the message says how to get one
    work = tmp_path_factory.mktemp("claims")
    x_train, _, x_test, y_test = mnist_split(0)
    assert 1 <= IMAGES <= len(x_test)
    np.save(work / "test_images.npy", x_test[:IMAGES])
    np.save(work / "calibration.npy", x_train[:500])
    return work


def verify_all(work: Path, model: str, name: str) -> dict:
    zeroskip("compile", model, *ARCH, "--calibration", "calibration.npy", "-o", name, "-q",
             cwd=work)
    done = zeroskip("verify", name, "--simulator", "verilator", "--input", "test_images.npy",
                    "--json", f"verify-{name}.json", "-q", cwd=work)
    assert f"{IMAGES}/{IMAGES} inputs PASS on verilator" in done.stdout
    report = json.loads((work / f"verify-{name}.json").read_text())
    assert report["passed"] and report["simulator"] == "verilator"
    assert len(report["results"]) == IMAGES
    assert all(r["ok"] and r["first_difference"] is None and r["rtl_cycles"] == r["sim_cycles"]
               for r in report["results"])
    return report


def test_lenet300_eie_on_every_held_out_image(images):
    zeroskip("compress", "lenet300", "--eie", "--interchange", "lenet300.npz",
             "-o", "lenet300.zsk", "-q", cwd=images)
    report = verify_all(images, "lenet300.npz", "lenet300-16pe")
    cycles = [r["rtl_cycles"] for r in report["results"]]
    assert len(set(cycles)) > 1          # sparse timing follows the input's zeros


def test_binary_xnor_mlp_on_every_held_out_image(images):
    zeroskip("compress", "binary-mlp", "--mode", "xnor", "-o", "binary-xnor.npz", "-q",
             cwd=images)
    report = verify_all(images, "binary-xnor.npz", "binary-xnor-16pe")
    cycles = {r["rtl_cycles"] for r in report["results"]}
    assert len(cycles) == 1              # binary timing does not depend on the data
