"""A report's detail table as files: CSV and XLSX, both formula-safe.

Every text cell goes through `common.csv_safety.csv_safe_cell`, as in every file the
platform writes. In XLSX, numbers (int, float, Decimal) and dates stay typed cells, and
text is always written as a string cell: openpyxl would otherwise turn text starting
with "=" into a formula and text like "#N/A" into an error value.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from common.csv_safety import csv_bytes, csv_safe_cell

# Characters Excel does not allow in a sheet's name.
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\\/?*\[\]:]")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Attachment:
    name: str
    content: bytes
    mimetype: str


def _xlsx_cell(sheet, value: Any, zone: ZoneInfo) -> WriteOnlyCell:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)  # Excel has no time zones
    if value is None or isinstance(value, bool | int | float | Decimal | dt.date | dt.time):
        return WriteOnlyCell(sheet, value=value)
    cell = WriteOnlyCell(sheet, value=None)
    # Characters XML cannot carry (control codes) would make openpyxl refuse the file.
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", csv_safe_cell(value))
    cell.data_type = "s"  # text, never a formula or an error value
    return cell


def xlsx_bytes(
    *, header: Sequence[str], rows: Sequence[Sequence[Any]], title: str, timezone: str
) -> bytes:
    workbook = Workbook(write_only=True)
    clean_title = _SHEET_TITLE_FORBIDDEN.sub(" ", ILLEGAL_CHARACTERS_RE.sub("", title)).strip()
    sheet = workbook.create_sheet(title=(clean_title or "Report")[:31])
    zone = ZoneInfo(timezone)
    bold = Font(bold=True)
    header_cells = [_xlsx_cell(sheet, name, zone) for name in header]
    for cell in header_cells:
        cell.font = bold
    sheet.append(header_cells)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value, zone) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def attachments_build(
    *,
    formats: Sequence[str],
    basename: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str,
    timezone: str,
) -> list[Attachment]:
    files = []
    for file_format in formats:
        if file_format == "csv":
            content = csv_bytes(header=header, rows=rows)
            files.append(Attachment(f"{basename}.csv", content, "text/csv"))
        elif file_format == "xlsx":
            content = xlsx_bytes(header=header, rows=rows, title=title, timezone=timezone)
            files.append(Attachment(f"{basename}.xlsx", content, XLSX_MIMETYPE))
        else:
            raise ValueError(f"Unknown attachment format {file_format!r} (csv, xlsx)")
    return files
