"""``zeroskip bench seednets`` on LeNet-5, dense and Deep-Compressed, with one epoch per phase:
the rows' keys, the cache (a second run trains nothing), cycles equal to a direct simulation
of the compiled program, one image co-verified on Verilator (which must be there: the test
fails without it), the table, the plot, and bad input as one line with exit 2."""

import json
from pathlib import Path

import numpy as np
import pytest

from zeroskip.cli import main
from zeroskip.compiler import compile_file
from zeroskip.models import cost, zoo
from zeroskip.models.data import mnist_split
from zeroskip.sim import seednets, simulate

IMAGES = 4
ARGS = ["bench", "seednets", "--networks", "lenet5,lenet5-dc", "--epochs-scale", "0.01",
        "--images", str(IMAGES), "-q"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    from zeroskip.hw.rtl.toolchain import require_simulator

    require_simulator("verilator")          # no Verilator is a failure, never a skip
    work = tmp_path_factory.mktemp("seednets")
    cache, out, plot = work / "cache", work / "report.json", work / "plot.png"
    status = main(ARGS + ["--rtl", "1", "--cache", str(cache), "--json", str(out),
                          "--plot", str(plot)])
    return status, json.loads(out.read_text()), cache, plot


def test_rows_carry_every_column(first_run):
    status, report, _, plot = first_run
    assert status == 0
    rows = {row["name"]: row for row in report["networks"]}
    assert list(rows) == ["lenet5", "lenet5-dc"]
    net = zoo.build("lenet5", 0)
    for row in rows.values():
        for key in ("params", "macs", "accuracy", "bytes", "rtl_checked", "array_model",
                    "accuracy_array_model"):
            assert key in row, key
        assert row["params"] == cost.params(net)
        assert row["macs"] == cost.macs(net)
        assert 0.5 < row["accuracy"] <= 1.0
        for array in seednets.ARRAYS:       # measured, or the compiler's one line saying why not
            assert (f"cycles_{array}" in row) != (f"error_{array}" in row)
    dense, compressed = rows["lenet5"], rows["lenet5-dc"]
    assert dense["bytes"] == 4 * dense["params"] and dense["array_model"] == "shared, unpruned"
    assert compressed["bytes"] == len((Path(compressed["cache_entry"]) / "array.zsk").read_bytes())
    assert compressed["bytes"] < dense["bytes"] / 10
    assert compressed["nonzero_params"] < compressed["params"]
    assert compressed["macs_nonzero"] < compressed["macs"]
    for array in seednets.ARRAYS:           # the compressed LeNet-5 fits both arrays
        assert compressed[f"cycles_{array}"] > compressed[f"ideal_cycles_{array}"] > 0
        assert compressed[f"energy_nj_{array}"] > 0
        assert 0 <= compressed[f"accuracy_array_{array}"] <= 1
        by_kind = compressed[f"cycles_by_kind_{array}"]
        assert set(by_kind) == {"conv 5x5", "max pool", "fc"}     # LeNet-5's layer kinds
        assert sum(t["layers"] for t in by_kind.values()) == len(compressed[f"layers_{array}"])
        # the layers' cycles add up to the image's, but for the few cycles of the start
        assert 0 <= compressed[f"cycles_{array}"] - sum(t["cycles"] for t in by_kind.values()) < 16
    assert compressed["rtl_checked"] == 1 and compressed["rtl_failed"] == 0
    claims = {c["claim"]: c["holds"] for c in report["claims"]}
    assert all(isinstance(claims[c], bool) for c in claims if c.startswith("lenet5"))
    assert claims["squeezenet: <= 1/10 of lenet5's parameters"] is None     # not run
    assert not dense["cached"] and not compressed["cached"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cycles_and_energy_equal_a_direct_simulation(first_run):
    _, report, _, _ = first_run
    x_train, _, x_test, _ = mnist_split(0)
    for row in report["networks"]:
        zsk = Path(row["cache_entry"]) / "array.zsk"
        for array, arch in seednets.ARRAYS.items():
            if f"cycles_{array}" not in row:
                continue
            program = compile_file(str(zsk), arch, calibration=x_train[:seednets.CALIBRATION])
            result = simulate(program, x_test[:IMAGES])
            assert row[f"cycles_{array}"] == pytest.approx(float(result.cycles.mean()))
            assert row[f"energy_nj_{array}"] == pytest.approx(result.energy_pj / IMAGES / 1000)


def test_fit_enlarges_only_the_memories_the_compiler_names(first_run):
    _, report, _, _ = first_run
    dense = next(r for r in report["networks"] if r["name"] == "lenet5")
    zsk = Path(dense["cache_entry"]) / "array.zsk"
    x_train = mnist_split(0)[0][:seednets.CALIBRATION]
    small = seednets.SMALL16
    program, notes = seednets.compile_fitting(zsk, small, x_train)
    if program is not None:              # the unpruned LeNet-5 fits: nothing to fit
        assert notes == {}
        return
    assert "'sparse_depth'" in notes["error"]
    program, notes = seednets.compile_fitting(zsk, small, x_train, fit=True)
    (field, (before, after)), = notes["fitted"].items()
    assert field == "sparse_depth" and before == small.sparse_depth < after
    assert program.arch == seednets.dataclasses.replace(small, sparse_depth=after)
    assert program.sparse.shape[1] <= after


def test_a_second_run_trains_nothing(first_run, tmp_path, monkeypatch, capsys):
    _, first, cache, _ = first_run

    def no_training(*args, **kwargs):
        raise AssertionError("retrained a cached row")

    monkeypatch.setattr(seednets, "train_row", no_training)
    out = tmp_path / "again.json"
    assert main(ARGS + ["--rtl", "0", "--cache", str(cache), "--json", str(out)]) == 0
    again = json.loads(out.read_text())
    for before, after in zip(first["networks"], again["networks"], strict=True):
        assert after["cached"]
        for key in ("accuracy", "bytes", "params", "macs", "cycles_eie64", "accuracy_array_model"):
            assert after[key] == before[key], key
    printed = capsys.readouterr().out
    assert "lenet5-dc" in printed and "M MACs" in printed


def test_the_timing_switches_apply_to_both_arrays(first_run, tmp_path, capsys):
    """``--lane-passes 1`` from the cache: LeNet-5's pools run as lane passes on both arrays,
    in fewer cycles, with the same outputs (the same accuracy on the array)."""
    _, first, cache, _ = first_run
    out = tmp_path / "lanes.json"
    assert main(ARGS + ["--rtl", "0", "--cache", str(cache), "--json", str(out),
                        "--lane-passes", "1"]) == 0
    lanes = json.loads(out.read_text())
    assert all(arch["lane_passes"] == 1 for arch in lanes["arrays"].values())
    assert all(arch["lane_passes"] == 0 for arch in first["arrays"].values())
    assert "both arrays with lane passes" in capsys.readouterr().out
    for before, after in zip(first["networks"], lanes["networks"], strict=True):
        for array in seednets.ARRAYS:
            if f"cycles_{array}" not in before:
                continue
            assert after[f"accuracy_array_{array}"] == before[f"accuracy_array_{array}"]
            assert after[f"cycles_{array}"] < before[f"cycles_{array}"]
            pools = lambda r: r[f"cycles_by_kind_{array}"]["max pool"]["cycles"]   # noqa: E731
            assert pools(after) < pools(before) / 2


def test_another_configuration_is_another_entry():
    row = seednets.parse_row("lenet5-dc")
    assert row.compressed and row.model == "lenet5"
    keys = {seednets.cache_key(row, seednets.row_config(row, scale)) for scale in (1.0, 0.01)}
    assert len(keys) == 2
    distilled = seednets.parse_row("mobilenet-distilled")
    assert distilled.distill_from == "mobilenet-standard" and not distilled.compressed
    assert seednets.row_config(distilled).distill_from == "mobilenet-standard"



def test_a_distilled_row_takes_its_teacher_from_the_cache_only_when_its_configuration_matches(
        tmp_path):
    import dataclasses

    from zeroskip.models.compress import default_config
    from zeroskip.models.network import fold_batchnorm

    config = dataclasses.replace(seednets.row_config(seednets.parse_row("mobilenet-distilled")),
                                 seed=3)
    assert seednets.cached_teacher(tmp_path, config) is None          # an empty cache
    teacher_row = seednets.parse_row("mobilenet-standard")
    net = fold_batchnorm(zoo.build("mobilenet-standard", 3))

    def store(teacher_config):
        seednets.save(tmp_path, seednets.Trained(
            teacher_row, seednets.cache_key(teacher_row, teacher_config), b"zsk", {}, net),
            teacher_config)

    store(seednets.row_config(teacher_row, 0.01))                     # fewer epochs: not it
    assert seednets.cached_teacher(tmp_path, config) is None
    store(default_config("mobilenet-standard", seed=3))
    teacher = seednets.cached_teacher(tmp_path, config)
    x = np.random.default_rng(0).random((2, 784)).astype(np.float32)
    assert np.array_equal(teacher.logits(x), net.logits(x))

def shared_model(name):
    """The zoo network ``name`` (batch norms folded) as a weight-shared ``.zsk`` model."""
    from zeroskip.models import modelfile
    from zeroskip.models.network import fold_batchnorm

    net = fold_batchnorm(zoo.build(name, 0))
    books, codes = [], []
    for layer in net.weighted():
        book = np.array([0.0, -0.5, 0.5], np.float32)
        books.append(book)
        codes.append(np.where(layer.params["W"] < 0, 1, 2))
    return modelfile.from_network(net, books, codes, [4] * len(books))


def test_layer_kinds_name_what_the_compiler_lowers():
    kinds = seednets.layer_kinds(shared_model("lenet5"))
    assert kinds == {"conv1": "conv 5x5", "pool1": "max pool", "conv2": "conv 5x5",
                     "pool2": "max pool", "fc1": "fc", "fc2": "fc"}
    kinds = seednets.layer_kinds(shared_model("mobilenet"))
    assert kinds["conv2"] == "depthwise 3x3" and kinds["conv3"] == "conv 1x1"
    assert kinds["pool1"] == "global avg pool" and kinds["fc1"] == "fc"
    kinds = seednets.layer_kinds(shared_model("shufflenet"))
    assert {"depthwise 3x3", "grouped 1x1", "avg pool", "add", "concat"} <= set(kinds.values())


def test_claims_are_judged_on_the_rows():
    def row(name, macs=1000, accuracy=0.97, params=1000, bytes_=4000, checked=2):
        return {"name": name, "macs": macs, "accuracy": accuracy, "params": params,
                "bytes": bytes_, "rtl_checked": checked, "rtl_failed": 0}

    def verdicts(rows):
        return {c["claim"].split(":")[0] + ("" if "95 %" not in c["claim"] else " 95"): c["holds"]
                for c in seednets.claims({"networks": rows})}

    good = verdicts([row("mobilenet", macs=100), row("mobilenet-standard", macs=600,
                                                          accuracy=0.975),
                     row("shufflenet", macs=90, accuracy=0.966), row("lenet5", params=431080),
                     row("squeezenet", params=16000)])
    assert good == {"mobilenet 95": True, "mobilenet-standard 95": True, "shufflenet 95": True,
                    "lenet5 95": True, "squeezenet 95": True, "mobilenet": True,
                    "shufflenet": True, "squeezenet": True, "squeezenet-dc": None,
                    "distillation measured": None}
    bad = verdicts([row("mobilenet", macs=100, accuracy=0.94),
                    row("mobilenet-standard", macs=400, accuracy=0.96),
                    row("shufflenet", macs=101, checked=1), row("lenet5", params=100_000),
                    row("squeezenet", params=10_001)])
    assert bad == {"mobilenet 95": False, "mobilenet-standard 95": True, "shufflenet 95": False,
                   "lenet5 95": True, "squeezenet 95": True, "mobilenet": False,
                   "shufflenet": False, "squeezenet": False, "squeezenet-dc": None,
                   "distillation measured": None}


@pytest.mark.parametrize("args, named", [
    (["--networks", "lenet7"], "unknown network 'lenet7'"),
    (["--networks", "lenet5-dc,lenet5-dc"], "named twice"),
    (["--networks", "lenet5", "--rtl", "-1"], "--rtl -1"),
    (["--networks", "lenet5", "--images", "0"], "--images 0"),
    (["--networks", "lenet5", "--energy", "no-such-table.json"], "no-such-table.json"),
])
def test_bad_input_is_one_line_exit_2(args, named, tmp_path, capsys):
    assert main(["bench", "seednets", "-q", "--cache", str(tmp_path / "c")] + args) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and "\n" not in err
    assert not (tmp_path / "c").exists()
