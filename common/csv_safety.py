"""Every CSV or spreadsheet cell the platform writes goes through `csv_safe_cell`.

A cell that a spreadsheet would run as a formula (text starting with = + - @, tab or
CR) gets a leading single quote, which Excel, LibreOffice and Sheets show verbatim.
Numbers stay numbers: `-5` or `+1.5e3` is read as a number, never as a formula, and a
file of rejected rows must import again as it is once corrected (OWASP's CSV
injection guidance escapes formulas, not signed numbers).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_safe_cell(value: Any) -> str:
    """The text to write for one cell: formulas escaped, numbers and other text as is."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):  # bool is an int and reads True/False
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_bytes(*, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([csv_safe_cell(cell) for cell in row])
    # UTF-8 with BOM so Excel opens accented product names correctly.
    return buffer.getvalue().encode("utf-8-sig")
