"""The one table printer every command uses: columns sized to their contents, the first one
left-aligned and the rest right-aligned, numbers formatted per column, a rule under the header
and before the totals."""

from __future__ import annotations


def format_table(headers: list[str], rows: list[list], formats: list[str] | None = None,
                 totals: list[list] | None = None, subheaders: list[str] | None = None,
                 title: str | None = None, align: str | None = None) -> str:
    """``rows`` and ``totals`` hold one value per column: numbers are formatted with that
    column's format spec (``formats``, e.g. ``".1%"``, ``".0f"``; ``""`` as they are), strings
    are printed as they are, ``None`` leaves the cell empty. ``align``: one ``<`` or ``>`` per
    column (default: the first left, the rest right)."""
    formats = formats or [""] * len(headers)
    body = [[_cell(v, f) for v, f in zip(row, formats)] for row in rows]
    tail = [[_cell(v, f) for v, f in zip(row, formats)] for row in totals or []]
    heads = [headers] + ([subheaders] if subheaders else [])
    widths = [max(len(str(r[i])) for r in heads + body + tail) for i in range(len(headers))]

    align = align or "<" + ">" * (len(headers) - 1)

    def line(cells) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    out = [title] if title else []
    out += [line(h) for h in heads] + [rule] + [line(r) for r in body]
    if tail:
        out += [rule] + [line(r) for r in tail]
    return "\n".join(out)


def _cell(value, spec: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return format(value, spec)
