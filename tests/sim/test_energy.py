"""Energy tables: the default loads, every action has a price, bad tables are one-line errors."""

import json

import pytest

from zeroskip.errors import ZeroskipError
from zeroskip.sim import ACTIONS, load_energy_table
from zeroskip.sim.energy import COMPONENTS, DEFAULT_TABLE


def write_table(tmp_path, actions):
    path = tmp_path / "table.json"
    path.write_text(json.dumps({"actions": actions}))
    return str(path)


def test_default_table_prices_every_action():
    table = load_energy_table()
    assert set(table.pj) == set(ACTIONS)
    assert set(table.component.values()) <= set(COMPONENTS)
    assert table.pj["sparse_line_read"] > table.pj["mac"] > table.pj["padding_entry"]
    with open(DEFAULT_TABLE) as f:
        assert all("source" in entry for entry in json.load(f)["actions"].values())


def full(**changes):
    actions = {name: {"pj": 1.0, "component": "memory"} for name in ACTIONS}
    actions.update(changes)
    return actions


def test_price_and_components(tmp_path):
    table = load_energy_table(write_table(tmp_path, full(mac={"pj": 2.5, "component": "arithmetic"})))
    energy = table.price({"mac": 4, "act_read": 3})
    assert energy["mac"] == 10.0 and energy["act_read"] == 3.0 and energy["bias_read"] == 0.0
    assert table.by_component(energy) == {"memory": 3.0, "arithmetic": 10.0, "queue": 0.0,
                                          "control": 0.0, "static": 0.0}


@pytest.mark.parametrize("actions, message", [
    (full(bogus={"pj": 1, "component": "memory"}), "unknown action 'bogus'"),
    ({k: v for k, v in full().items() if k != "mac"}, "action 'mac' has no price"),
    (full(mac={"pj": -1, "component": "memory"}), "action 'mac' needs a non-negative"),
    (full(mac={"pj": "x", "component": "memory"}), "action 'mac' needs a non-negative"),
    (full(mac={"pj": 1, "component": "cpu"}), "action 'mac' has component"),
    (full(mac=3), "action 'mac' must be an object"),
])
def test_bad_tables_name_the_key(tmp_path, actions, message):
    with pytest.raises(ZeroskipError, match=message):
        load_energy_table(write_table(tmp_path, actions))


def test_unreadable_tables(tmp_path):
    with pytest.raises(ZeroskipError, match="no such energy table"):
        load_energy_table(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ZeroskipError, match="not a readable JSON"):
        load_energy_table(str(bad))
    bad.write_text("[1, 2]")
    with pytest.raises(ZeroskipError, match="'actions'"):
        load_energy_table(str(bad))
