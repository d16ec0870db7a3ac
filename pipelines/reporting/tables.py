"""Markdown tables for the evaluation report."""
from __future__ import annotations

import math
from typing import Mapping, Sequence


def fmt(v, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, (int, float)):
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str], first: str = "method",
                   digits: int = 2, notes: Mapping[tuple, str] | None = None) -> str:
    """Rows of dicts -> a GitHub markdown table with ``first`` then ``columns`` (missing values '–').

    ``notes[(row_index, column)]`` is appended to that cell (e.g. '(2 NaN)')."""
    notes = notes or {}
    head = "| " + " | ".join([first, *columns]) + " |"
    sep = "|" + "|".join(["---"] + ["---:"] * len(columns)) + "|"
    lines = [head, sep]
    for i, r in enumerate(rows):
        cells = [str(r.get(first, ""))]
        for c in columns:
            cell = fmt(r.get(c), digits)
            if (i, c) in notes:
                cell += f" {notes[(i, c)]}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
