"""Bad files and bad rows: each gives a clear message naming the row and column."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from batches.models import ImportJob, ImportRowError
from batches.selectors import job_error_csv_lines
from batches.services.uploads import ImportRejected, job_create
from catalogue.models import Airport, Category, DailySales, Product
from tests.batches.conftest import SALES_HEADER, run_inline, sales_rows
from tests.support.imports import make_job

pytestmark = pytest.mark.django_db

HEADER = "iata,name,city,state,country,latitude,longitude\n"
ROW_A = "AAA,Alpha Field,Springfield,IL,USA,39.1,-89.2\n"
ROW_B = "BBB,Beta Field,Shelbyville,,USA,39.3,-89.4\n"


def errors_of(job: ImportJob) -> list[tuple[int, str]]:
    return list(ImportRowError.objects.filter(job=job).values_list("row_number", "message"))


def test_utf8_with_byte_order_mark_imports_and_keeps_the_first_column_name():
    job = run_inline(make_job("airports", "\ufeff" + HEADER + ROW_A))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.header[0] == "iata"
    assert Airport.objects.get(iata="AAA").name == "Alpha Field"


def test_explicit_latin1_encoding_reads_accented_characters():
    content = (HEADER + "ZRH,Zürich Kloten,Zürich,,Schweiz,47.46,8.55\n").encode("latin-1")

    job = run_inline(make_job("airports", content, encoding="latin-1"))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert Airport.objects.get(iata="ZRH").city == "Zürich"


def test_invalid_utf8_rejects_the_row_naming_row_and_byte():
    content = (HEADER + ROW_A).encode() + b"ZRH,Z\xfcrich,Z\xfcrich,,CH,47.4,8.5\n" + ROW_B.encode()

    job = run_inline(make_job("airports", content))

    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    assert Airport.objects.count() == 2
    [(row, message)] = errors_of(job)
    assert row == 3
    offset = len((HEADER + ROW_A).encode()) + 5
    assert message.startswith(f"row 3: byte {offset} (0xfc) is not valid utf-8")
    assert "latin-1" in message


def test_semicolon_delimiter_is_detected_and_tab_can_be_given():
    semicolons = (HEADER + ROW_A).replace(",", ";")
    tabs = (HEADER + ROW_B).replace(",", "\t")

    first = run_inline(make_job("airports", semicolons))
    second = run_inline(make_job("airports", tabs, delimiter="\t"))

    assert (first.status, first.delimiter) == (ImportJob.Status.SUCCEEDED, ";")
    assert (second.status, second.delimiter) == (ImportJob.Status.SUCCEEDED, "\t")
    assert Airport.objects.count() == 2


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("name,city,state,country,latitude,longitude\n", "missing column 'iata'"),
        (HEADER.strip() + ",elevation\n", "unexpected column 'elevation' (column 8)"),
        (
            "iata,name,name,city,state,country,latitude,longitude\n",
            "column 'name' appears more than once (columns 2 and 3)",
        ),
    ],
    ids=["missing", "extra", "duplicated"],
)
def test_header_problems_fail_the_import_naming_the_column(header, message):
    job = run_inline(make_job("airports", header + ROW_A, name="bad.csv"))

    assert job.status == ImportJob.Status.FAILED
    assert message in job.error
    assert job.error.startswith("bad.csv: ")
    assert "Expected columns: iata, name, city, state, country, latitude, longitude" in job.error
    assert not Airport.objects.exists()


def test_optional_columns_may_be_left_out():
    job = run_inline(make_job("airports", "iata,name,country,latitude,longitude\nCCC,C,USA,1,2\n"))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert Airport.objects.get(iata="CCC").state == ""


def test_ragged_rows_are_rejected_with_their_field_count():
    content = HEADER + ROW_A + "CCC,Gamma,Town,XX,USA,1.0\n" + "DDD,D,T,,USA,1,2,extra\n"

    job = run_inline(make_job("airports", content))

    assert job.rows_rejected == 2
    assert errors_of(job) == [
        (3, "row 3 has 6 fields; the header has 7"),
        (4, "row 4 has 8 fields; the header has 7"),
    ]


def test_invalid_values_are_rejected_per_column_as_import_data_would():
    # import_data() reads the fields in order: a widget's ValueError marks a field
    # invalid and goes on, any other exception ('three': decimal.InvalidOperation)
    # ends the row; the database's refusals (too long, NOT NULL) come at save. A
    # decimal with more places is rounded by the database, and IntegerWidget
    # truncates 3.7 to 3 (issue 12: the rows and values import_data() gives).
    content = SALES_HEADER + (
        "2026-11-31,S001,SKU-1,3,2.50,0,7.50,EUR\n"
        "2026-11-02,S001,SKU-2,three,2.50,0,7.50,EURO\n"
        "2026-11-02,S0000000000000001,SKU-3,3,2.50,0,7.50,EUR\n"
        "2026-11-02,S001,SKU-4,,2.50,0,7.50,EUR\n"
        "2026-11-02,S001,SKU-5,3,2.50,,7.50,\n"
        "2026-11-02,S001,SKU-6,3.7,2.505,0,7.50,EUR\n"
    )

    job = run_inline(make_job("daily_sales", content))

    assert errors_of(job) == [
        (2, "row 2, column 'day': '2026-11-31' is not a date (expected YYYY-MM-DD)"),
        (3, "row 3, column 'units': 'three' is not a whole number"),
        (4, "row 4, column 'store_code': is 17 characters long; at most 16 allowed"),
        (
            5,
            "row 5, column 'units': is empty; DailySales.units cannot be empty and has no default",
        ),
    ]
    # Empty cells with a model default take the default.
    line = DailySales.objects.get(sku="SKU-5")
    assert (str(line.discount), line.currency) == ("0.00", "EUR")
    rounded = DailySales.objects.get(sku="SKU-6")
    assert (rounded.units, str(rounded.unit_price)) == (3, "2.51")
    assert job.status == ImportJob.Status.PARTIALLY_FAILED


def test_duplicate_keys_within_the_file_reject_the_later_row_naming_both():
    content = HEADER + ROW_A + ROW_B + ROW_A.replace("Alpha Field", "Alpha Again")

    job = run_inline(make_job("airports", content))

    assert errors_of(job) == [
        (4, "row 4: duplicate key (iata) = (AAA); row 2 has the same key and was kept")
    ]
    assert Airport.objects.get(iata="AAA").name == "Alpha Field"


def test_unknown_foreign_key_is_rejected_naming_the_value():
    Category.objects.create(code="BAK", name="Bakery")
    content = "sku,name,category,unit_price,active\nP1,Bread,BAK,2.00,1\nP2,Milk,DAI,1.00,true\n"

    job = run_inline(make_job("products", content))

    assert errors_of(job) == [(3, "row 3, column 'category': no category with code 'DAI'")]
    assert Product.objects.get(sku="P1").category.code == "BAK"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.encode(), "the file has a header but no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "this is a PNG image, not a CSV file"),
    ],
    ids=["empty", "header-only", "binary"],
)
def test_unusable_files_fail_with_a_clear_message(content, message):
    job = run_inline(make_job("airports", content, name="data.csv"))

    assert job.status == ImportJob.Status.FAILED
    assert message in job.error


def test_files_over_the_upload_limit_or_not_csv_are_refused(settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100

    with pytest.raises(ImportRejected, match="the upload limit is 100 bytes"):
        make_job("airports", HEADER + ROW_A * 5)
    with pytest.raises(ImportRejected, match="only CSV files can be imported"):
        job_create(
            dataset="airports", file=ContentFile(b"PK\x03\x04", name="a.xlsx"), name="a.xlsx"
        )
    assert not ImportJob.objects.exists()


def test_all_or_nothing_writes_nothing_when_a_row_is_invalid():
    content = SALES_HEADER + sales_rows(2500) + "2026-13-01,S1,SKU-1,1,1,0,1,EUR\n"

    job = run_inline(make_job("daily_sales", content, mode=ImportJob.Mode.ALL_OR_NOTHING))

    assert job.status == ImportJob.Status.FAILED
    assert job.error == "All or nothing: 1 rows rejected; nothing was written."
    assert not DailySales.objects.exists()
    assert errors_of(job)[0][0] == 2502


def test_all_or_nothing_writes_everything_when_every_row_is_valid():
    content = SALES_HEADER + sales_rows(2500)

    job = run_inline(make_job("daily_sales", content, mode=ImportJob.Mode.ALL_OR_NOTHING))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert DailySales.objects.count() == 2500 == job.rows_new


def test_error_file_lists_rejected_rows_with_why_and_escapes_formulas():
    content = HEADER + ROW_A + "=A(1),Evil,,,USA,north,1\n" + "-2,x,,,USA,1,2,3\n"
    job = run_inline(make_job("airports", content))

    lines = list(job_error_csv_lines(job_id=job.id))

    assert lines[0] == "row,error,iata,name,city,state,country,latitude,longitude\r\n"
    assert lines[1].startswith("3,\"row 3, column 'latitude': 'north' is not a number\",")
    assert "'=A(1)" in lines[1]
    assert lines[2].startswith("4,row 4 has 8 fields; the header has 7,-2,")  # a number stays one
