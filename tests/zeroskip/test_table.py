"""zeroskip/table.py: the one table printer."""

from zeroskip.table import format_table


def test_columns_fit_their_contents_and_align():
    text = format_table(["layer", "cycles", "effic."], [["fc1", 1234.4, 0.5], ["fc2-long", 7, 1.0]],
                        ["", ".0f", ".1%"], totals=[["total", 1241.4, None]])
    lines = text.splitlines()
    assert lines[0] == "layer     cycles  effic."
    assert lines[1] == "-" * len(lines[0])
    assert lines[2] == "fc1         1234   50.0%"
    assert lines[3] == "fc2-long       7  100.0%"
    assert lines[4] == lines[1] and lines[5] == "total       1241"


def test_title_and_subheaders():
    text = format_table(["a", "w-bits"], [["x", 3]], subheaders=["", "P+Q"], title="T")
    assert text.splitlines()[:3] == ["T", "a  w-bits", "      P+Q"]
