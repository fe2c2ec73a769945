"""CSV the product writes (API, dashboard and so fleetctl's export): spreadsheet formulas neutralised (OWASP)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# OWASP "CSV Injection": a cell a spreadsheet would read as a formula starts with one of these. Leading
# whitespace is stripped first, because spreadsheets skip it too (`" =1+1"` is a formula to them).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def safe_cell(v: object) -> object:
    """A text cell that would start a formula gets a leading `'`; numbers and booleans are left alone (a
    negative number is data, not a formula)."""
    if isinstance(v, str) and (v[:1] in ("\t", "\r", "\n") or v.lstrip()[:1] in FORMULA_START):
        return "'" + v
    return v


# A cell whose first character is neither one of these nor white space cannot start a formula (lstrip() would
# leave it alone): safe_cell is asked only about the others, not about each of an export's 190,000 cells.
_FIRST = frozenset(FORMULA_START)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([safe_cell(h) for h in header])
    for row in rows:
        w.writerow([safe_cell(c) if isinstance(c, str) and (c[:1] in _FIRST or c[:1].isspace()) else c
                    for c in row])  # fmt: skip
    return buf.getvalue()
