"""zeroskip energy: the table that prices the actions, and its editable template."""

import json

from zeroskip.cli import main
from zeroskip.sim.energy import ACTIONS, load_energy_table


def test_template_is_an_editable_table_with_sources(tmp_path, capsys):
    assert main(["energy", "--template"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["actions"]) == set(ACTIONS)
    assert all(entry["source"] for entry in data["actions"].values())
    data["name"] = "edited"
    data["actions"]["mac"]["pj"] = 2.5
    (tmp_path / "t.json").write_text(json.dumps(data))
    table = load_energy_table(str(tmp_path / "t.json"))
    assert table.name == "edited" and table.pj["mac"] == 2.5
    assert main(["energy", "--energy", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("edited") and "2.500" in out


def test_a_broken_table_is_one_line(tmp_path, capsys):
    (tmp_path / "t.json").write_text('{"actions": {"mac": {"pj": -1}}}')
    assert main(["energy", "--energy", str(tmp_path / "t.json")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
