"""Report attachments: CSV and XLSX read back, formula-safe, numbers staying numbers."""

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from reporting.attachments import XLSX_MIMETYPE, attachments_build, xlsx_bytes

FORMULA = '=HYPERLINK("http://evil.example","click")'
HEADER = ["name", "units", "revenue", "change", "ratio", "day", "at", "flag", "note"]
ROWS = [
    [FORMULA, 3, Decimal("12.50"), Decimal("-3.50"), 0.25, dt.date(2026, 11, 20),
     dt.datetime(2026, 11, 20, 17, 0, tzinfo=dt.UTC), True, "+1 call me"],
    ["-5", -5, Decimal("0.00"), None, 1.5e3, None, None, False, "#N/A"],
    ["@SUM(A1)", 0, Decimal("1"), Decimal("1"), 0.0, None, None, None, "bell\x07 and tab\tinside"],
]  # fmt: skip


def read_xlsx(content: bytes):
    return load_workbook(io.BytesIO(content)).active


def test_xlsx_keeps_numbers_as_numbers_and_never_writes_a_formula():
    content = xlsx_bytes(header=HEADER, rows=ROWS, title="Sales: day", timezone="Europe/Berlin")
    sheet = read_xlsx(content)
    assert sheet.title == "Sales  day"  # ":" is not allowed in a sheet name
    assert [cell.value for cell in sheet[1]] == HEADER
    first, second, third = (sheet[row] for row in (2, 3, 4))
    assert first[0].value == "'" + FORMULA
    assert first[0].data_type == "s"
    assert (first[1].value, first[2].value, first[3].value, first[4].value) == (3, 12.5, -3.5, 0.25)
    assert all(cell.data_type == "n" for cell in first[1:5])
    assert first[5].value == dt.datetime(2026, 11, 20)  # a date cell
    assert first[6].value == dt.datetime(2026, 11, 20, 18, 0)  # local time, no zone
    assert first[7].value is True
    assert first[8].value == "'+1 call me"
    assert second[0].value == "-5"  # text that reads as a number stays text, unescaped
    assert second[1].value == -5
    assert second[8].value == "#N/A"
    assert second[8].data_type == "s"  # text, not an error value
    assert third[0].value == "'@SUM(A1)"
    assert third[8].value == "bell and tab\tinside"  # a control character XML can't carry
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    assert "<f " not in sheet_xml


def test_csv_and_xlsx_attachments_carry_the_same_table():
    files = attachments_build(
        formats=["csv", "xlsx"], basename="daily-2026-11-20", header=HEADER, rows=ROWS,
        title="Daily", timezone="UTC",
    )  # fmt: skip
    assert [(file.name, file.mimetype) for file in files] == [
        ("daily-2026-11-20.csv", "text/csv"), ("daily-2026-11-20.xlsx", XLSX_MIMETYPE),
    ]  # fmt: skip
    rows = list(csv.reader(io.StringIO(files[0].content.decode("utf-8-sig"))))
    assert rows[1][:5] == ["'" + FORMULA, "3", "12.50", "-3.50", "0.25"]
    sheet = read_xlsx(files[1].content)
    assert sheet.max_row == len(rows) == 4


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="Unknown attachment format 'pdf'"):
        attachments_build(formats=["pdf"], basename="x", header=[], rows=[], title="x",
                          timezone="UTC")  # fmt: skip
