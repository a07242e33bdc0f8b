"""``zeroskip sweep`` (sim/sweep.py, sim/cli_sweep.py): rows equal ``zeroskip bench eie`` at the
same point, an interrupted sweep resumes from its cache, a Dask cluster (local, or a scheduler
and worker started here on 127.0.0.1) gives the serial rows, and bad input is one line, exit 2."""

import dataclasses
import json
import socket

import pytest

from zeroskip.cli import main
from zeroskip.hw.arch import FIELDS, PRESETS
from zeroskip.sim import cli_sweep, sweep

#: what may differ between two runs of the same points: who computed them, and whether cached
RUN_KEYS = ("worker", "cached")


def run_json(tmp_path, name, *args):
    out = tmp_path / f"{name}.json"
    assert main(["sweep", *args, "--json", str(out), "-q"]) == 0
    return json.loads(out.read_text())


def results(report):
    return [{k: v for k, v in row.items() if k not in RUN_KEYS} for row in report["rows"]]


def test_rows_equal_bench_eie_at_the_same_point(tmp_path):
    report = run_json(tmp_path, "sweep", "--serial", "--layers", "NT-LSTM", "--pes", "32,64",
                      "--fifo", "4", "--cache", str(tmp_path / "cache"))
    assert [(r["layer"], r["pes"], r["fifo_depth"]) for r in report["rows"]] == \
        [("NT-LSTM", 32, 4), ("NT-LSTM", 64, 4)]
    for row in report["rows"]:
        bench = tmp_path / f"bench{row['pes']}.json"
        assert main(["bench", "eie", "--layers", "NT-LSTM", "--pes", str(row["pes"]), "--fifo", "4",
                     "--json", str(bench), "-q"]) == 0
        (layer,) = json.loads(bench.read_text())["layers"]
        assert (row["cycles"], row["efficiency"], row["energy_pj"]) == \
            (layer["cycles"], layer["efficiency"], layer["energy_pj"])
        assert row["worker"] == sweep.SERIAL_WORKER and row["cached"] is False
    assert report["rows"][0]["cycles"] > report["rows"][1]["cycles"]       # half the PEs: slower


def test_every_numeric_field_is_a_flag():
    """Fields are read from the dataclass: one added later is sweepable without a change."""
    flags = cli_sweep.field_flags()
    assert set(flags) == set(FIELDS) - {"name"}
    assert flags["fifo_depth"] == ["--fifo-depth", "--fifo"] and flags["pes"] == ["--pes"]
    assert sweep.parse_values("clock_mhz", "400,800.5") == [400.0, 800.5]


def test_an_interrupted_sweep_resumes_with_only_the_rest(tmp_path, monkeypatch):
    real = sweep.compute_point
    computed = []

    def interrupted_after_two(point):
        if len(computed) == 2:
            raise KeyboardInterrupt
        computed.append((point.arch["fifo_depth"], point.layer))
        return real(point)

    args = dict(base=PRESETS["eie64"], axes={"fifo_depth": [2, 4, 8]}, layers=["NT-LSTM"],
                cache_dir=str(tmp_path / "cache"))
    monkeypatch.setattr(sweep, "compute_point", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(**args)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2

    computed.clear()
    monkeypatch.setattr(sweep, "compute_point", lambda point: computed.append(point) or real(point))
    resumed = sweep.run_sweep(**args)
    assert [p.arch["fifo_depth"] for p in computed] == [8]
    assert [r["cached"] for r in resumed["rows"]] == [True, True, False]
    assert (resumed["computed"], resumed["from_cache"]) == (1, 2)

    computed.clear()
    fresh = sweep.run_sweep(**{**args, "cache_dir": None})
    assert len(computed) == 3 and results(fresh) == results(resumed)


def test_cache_key_changes_with_what_decides_the_result():
    point = sweep.SweepPoint(PRESETS["eie64"].to_dict(), "NT-LSTM")
    keys = {point.key("e"), point.key("other table"),
            dataclasses.replace(point, seed=1).key("e"),
            dataclasses.replace(point, layer="Alex-8").key("e"),
            dataclasses.replace(point, arch={**point.arch, "fifo_depth": 4}).key("e")}
    assert len(keys) == 5


def test_two_worker_local_cluster_gives_the_serial_rows(tmp_path):
    args = ["--layers", "NT-LSTM,NT-We", "--pes", "32,64", "--no-cache"]
    serial = run_json(tmp_path, "serial", "--serial", *args)
    local = run_json(tmp_path, "local", "--workers", "2", "--timeout", "60", *args)
    assert results(local) == results(serial)
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in local["rows"])
    assert local["configurations"] == serial["configurations"]


def test_existing_scheduler_and_worker_on_localhost(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        (worker,) = cluster.workers.values()
        report = run_json(tmp_path, "remote", "--scheduler", cluster.scheduler_address,
                          "--layers", "NT-LSTM", "--fifo", "4,8", "--cache", str(tmp_path / "c"))
    assert [r["worker"] for r in report["rows"]] == [worker.address] * 2
    serial = run_json(tmp_path, "serial", "--serial", "--layers", "NT-LSTM", "--fifo", "4,8",
                      "--cache", str(tmp_path / "c"))
    assert results(serial) == results(report) and all(r["cached"] for r in serial["rows"])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["--no-such-field", "1,2"], "unrecognized arguments: --no-such-field"),
    (["--pes", "16,x"], "--pes: 'x' is not an integer"),
    (["--fifo", "4,,8"], "--fifo-depth '4,,8': expected comma-separated values"),
    (["--fifo", "0"], "sweep point --fifo-depth 0: architecture field 'fifo_depth' must be a positive"),
    (["--run-bits", "3,4"], "sweep point --run-bits 3: architecture field 'line_bits' (64)"),
    (["--layers", "Alex-9"], "--layers: unknown layer 'Alex-9'"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--timeout", "0"], "--timeout 0.0: must be a positive number of seconds"),
    (["--scheduler", "nowhere"], "--scheduler 'nowhere': expected an address like tcp://HOST:PORT"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "sweep.json"
    layers = [] if "--layers" in args else ["--layers", "NT-LSTM"]
    where = [] if {"--scheduler", "--workers", "--timeout"} & set(args) else ["--serial"]
    assert main(["sweep", *where, *args, *layers, "--json", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_unreachable_scheduler_times_out_exit_2(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    address = f"tcp://127.0.0.1:{closed_port()}"
    assert main(["sweep", "--scheduler", address, "--timeout", "1", "--layers", "NT-LSTM",
                 "--json", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--scheduler {address}: no Dask scheduler answered within 1 s" in err
    assert not out.exists()


def test_pareto_front_and_area_proxy():
    rows = [{"layer": "L", "a": a, "cycles": c, "energy_pj": e, "area_sram_bits": s, "efficiency": 0.5}
            for a, c, e, s in [(1, 10, 5, 3), (2, 12, 6, 3), (3, 8, 9, 3), (4, 10, 5, 2)]]
    front = [c["pareto"] for c in sweep.summarize(rows, ["a"])]
    assert front == [False, False, True, True]        # 1 is beaten by 4 (less area), 2 by 1 and 4
    small = PRESETS["small"]
    deeper = dataclasses.replace(small, fifo_depth=small.fifo_depth + 1)
    assert sweep.sram_bits(deeper) - sweep.sram_bits(small) == \
        small.pes * (small.act_bits + small.act_index_bits)
    assert sweep.sram_bits(dataclasses.replace(small, pes=8)) > sweep.sram_bits(small)


def test_pareto_plot_is_a_png(tmp_path):
    out = tmp_path / "pareto.png"
    assert main(["sweep", "--serial", "--layers", "NT-LSTM", "--fifo", "4,8", "--no-cache",
                 "--plot", str(out), "-q"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_point_that_does_not_compile_is_a_row_saying_why(tmp_path, capsys):
    """NT-LSTM's 2,400 rows in 8-row tiles on 64 PEs take 5 passes: 2 pass descriptors fail."""
    report = run_json(tmp_path, "fails", "--serial", "--layers", "NT-LSTM", "--acc-depth", "8",
                      "--max-passes", "2,64", "--no-cache")
    failed, ok = report["rows"]
    assert failed["cycles"] is None and "max_passes" in failed["error"] and "error" not in ok
    assert ok["cycles"] > 0
    assert [(c["failed"], c["pareto"]) for c in report["configurations"]] == \
        [(["NT-LSTM"], False), ([], True)]
    assert "failed: NT-LSTM" in capsys.readouterr().out
