"""CSV cells a spreadsheet would run as formulas are escaped before they are written."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A leading single quote makes Excel, LibreOffice and Sheets show the text verbatim.
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_bytes(*, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([csv_safe_cell(cell) for cell in row])
    # UTF-8 with BOM so Excel opens accented product names correctly.
    return buffer.getvalue().encode("utf-8-sig")
