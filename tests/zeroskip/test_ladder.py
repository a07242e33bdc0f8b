"""The verification ladder: every rung on the same program and inputs, one comparison."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zeroskip.compiler import compile_layers
from zeroskip.errors import ZeroskipError
from zeroskip.hw.reference import quantize_input
from zeroskip.ladder import RungResult, climb, compare, run

HELPERS = Path(__file__).parents[1] / "compiler"
sys.path.insert(0, str(HELPERS))
from compiler_helpers import arch, random_layer  # noqa: E402


def two_layers(seed):
    rng = np.random.default_rng(seed)
    return [random_layer(rng, 9, 12, 0.5), random_layer(rng, 5, 9, 0.5, act="none")]


@pytest.fixture
def tiny_program():
    program = compile_layers(two_layers(3), arch(pes=2))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 12))
    x[rng.random(x.shape) < 0.4] = 0
    return program, quantize_input(program, x)


def test_reference_sim_and_amaranth_agree(tiny_program):
    program, xq = tiny_program
    report = climb(program, xq, ["reference", "sim", "amaranth"])
    assert report["passed"], report
    assert report["results"]["amaranth"]["cycles"] == report["results"]["sim"]["cycles"]
    assert report["results"]["reference"]["cycles"] is None


def test_compare_names_the_first_difference(tiny_program):
    program, xq = tiny_program
    ref = run("reference", program, xq)
    sim = run("sim", program, xq)
    wrong = RungResult("rtl", ref.outputs.copy(), sim.cycles + np.array([0, 1, 0]), 0.0)
    wrong.outputs[2, 1] += 1
    checks = compare(ref, wrong, sim)
    assert [c.ok for c in checks] == [True, False, False]
    assert checks[2].first_difference == (1, int(ref.outputs[2, 1]) + 1, int(ref.outputs[2, 1]))
    assert "cycle counts differ" in checks[1].describe()


def test_unknown_rung_is_one_line(tiny_program):
    program, xq = tiny_program
    with pytest.raises(ZeroskipError, match="unknown rung 'spice'"):
        climb(program, xq, ["reference", "spice"])


def test_contract_and_simulator_need_neither_amaranth_nor_cocotb(tmp_path):
    """compile -> reference -> simulate with Amaranth and cocotb made unimportable."""
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('amaranth', 'cocotb', 'cocotb_tools'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(HELPERS)!r})
import numpy as np
from compiler_helpers import random_layer
from zeroskip.compiler import compile_layers
from zeroskip.hw.program import load_program
from zeroskip.hw.reference import predict, quantize_input
from zeroskip.ladder import climb
from zeroskip.sim import simulate
rng = np.random.default_rng(1)
program = compile_layers([random_layer(rng, 7, 10, 0.5), random_layer(rng, 4, 7, 0.5)], 'small')
program.save({str(tmp_path / 'prog')!r})
program = load_program({str(tmp_path / 'prog')!r})
x = np.random.default_rng(0).uniform(-1, 1, (2, 10))
assert (simulate(program, x).outputs == predict(program, x)).all()
assert climb(program, quantize_input(program, x), ['reference', 'sim'])['passed']
assert not any(m.split('.')[0] in ('amaranth', 'cocotb') for m in sys.modules)
print('ok')
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_verify_rungs_cli_writes_one_report(tmp_path, capsys):
    import json

    from zeroskip.cli import main

    program = compile_layers(two_layers(5), arch(pes=2))
    program.save(str(tmp_path / "prog"))
    code = main(["verify", str(tmp_path / "prog"), "--rungs", "reference,sim,amaranth",
                 "--count", "2", "--json", str(tmp_path / "r.json"), "-q"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and report["rungs"] == ["reference", "sim", "amaranth"]
    assert report["results"]["amaranth"]["cycles"] == report["results"]["sim"]["cycles"]
    assert "amaranth   PASS" in out
