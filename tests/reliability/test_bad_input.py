"""Hostile and broken input: each file or form post gets a clear, specific error and
does no partial damage. Runs the import services in this process (no worker): the
fault scenarios beside this file cover the transport.

Row-level details of the same checks are in tests/batches/test_bad_input.py; this
corpus checks each case end to end against a table that already holds rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import string

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from batches.csvfiles import (
    ImportFileError,
    inspect_file,
    plan_ranges,
    plan_ranges_by_line,
    read_range,
)
from batches.models import ImportChunk, ImportJob, ImportRowError
from batches.selectors import job_error_csv_lines
from batches.services.chunks import chunk_import
from batches.services.finishing import job_finish
from batches.services.planning import job_plan
from batches.services.uploads import job_create, job_queue
from catalogue.models import Airport, DailySales
from common.csv_safety import csv_bytes, csv_safe_cell

pytestmark = pytest.mark.django_db

HEADER = "iata,name,city,state,country,latitude,longitude\n"
GOOD = "AAA,Alpha Field,Springfield,IL,USA,39.1,-89.2\n"
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)",
            "\t=1+1", "-2+3", "\r=1"]  # fmt: skip


@pytest.fixture(autouse=True)
def existing_rows(settings, tmp_path):
    """Every case starts with rows already in the table; none may change."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMPORT_CHUNK_ROWS = 3
    Airport.objects.create(iata="KEEP", name="Kept", country="USA", latitude=1, longitude=2)
    return settings


def run_inline(content: bytes, *, dataset: str = "airports", name: str = "data.csv", **options):
    job = job_create(dataset=dataset, file=ContentFile(content, name=name), name=name, **options)
    job_queue(job_id=job.id)
    job_plan(job_id=job.id)
    job.refresh_from_db()
    phases = [ImportJob.Phase.WRITE]
    if job.mode == ImportJob.Mode.ALL_OR_NOTHING:
        phases.insert(0, ImportJob.Phase.VALIDATE)
    for phase in phases:
        if job.finished_at:
            break
        for chunk_id in job.chunks.order_by("index").values_list("id", flat=True):
            chunk_import(chunk_id=chunk_id, phase=phase)
        job_finish(job_id=job.id, phase=phase)
        job.refresh_from_db()
    return job


FILE_ERRORS = [
    ("empty", b"", {}, "the file is empty"),
    ("header only", HEADER.encode(), {}, "the file has a header but no data rows"),
    ("blank lines only", b"\n\n\r\n", {}, "the file has no rows"),
    ("wrong delimiter", (HEADER + GOOD).replace(",", ";").encode(), {"delimiter": ","},
     "unexpected column 'iata;name;city;state;country;latitude;longitude' (column 1)"),
    ("invalid utf-8 header", b"iata,n\xe4me\n" + GOOD.encode(), {},
     "row 1 (the header): byte 6 (0xe4) is not valid utf-8"),
    ("invalid utf-16", (HEADER + GOOD).encode("utf-16") + b"\x00\xdc", {},
     "is not valid UTF-16 LE: an unpaired surrogate"),
    ("utf-16 without a byte order mark", (HEADER + GOOD).encode("utf-16-le"), {},
     "this is not a CSV text file"),
    ("missing column", HEADER.replace(",latitude", "").encode() + b"AAA,A,B,C,USA,2\n", {},
     "missing column 'latitude'"),
    ("extra column", HEADER.replace("\n", ",extra\n").encode() + GOOD.encode(), {},
     "unexpected column 'extra' (column 8)"),
    ("duplicated column", HEADER.replace("\n", ",name\n").encode() + GOOD.encode(), {},
     "column 'name' appears more than once (columns 2 and 8)"),
    ("binary named .csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), {},
     "this is a PNG image, not a CSV file"),
    ("header too long", b"a" * 70_000 + b"\n", {}, "the header) is longer than 64 KiB"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [case[1:] for case in FILE_ERRORS],
    ids=[case[0] for case in FILE_ERRORS],
)
def test_an_unusable_file_fails_the_job_with_a_specific_message_and_writes_nothing(
    content, options, message
):
    job = run_inline(content, **options)

    assert job.status == ImportJob.Status.FAILED
    assert message in job.error
    assert job.error.startswith("data.csv: ")  # names the file
    assert list(Airport.objects.values_list("iata", flat=True)) == ["KEEP"]
    assert not ImportChunk.objects.exists()


ROW_ERRORS = [
    ("ragged row", "BBB,Beta,X,,USA,1\n", "row 3 has 6 fields; the header has 7"),
    ("too many fields", "BBB,Beta,X,,USA,1,2,3\n", "row 3 has 8 fields; the header has 7"),
    ("value too long", "TOOLONGCODE,Beta,X,,USA,1,2\n",
     "row 3, column 'iata': is 11 characters long; at most 8 allowed"),
    ("invalid number", "BBB,Beta,X,,USA,north,2\n",
     "row 3, column 'latitude': 'north' is not a number"),
    ("number out of range", "BBB,Beta,X,,USA,1234,2\n",
     "row 3, column 'latitude': '1234' has more than 3 digits before the decimal point"),
    ("not finite", "BBB,Beta,X,,USA,NaN,2\n", "row 3, column 'latitude': 'NaN' is not a finite"),
    ("duplicate natural key", "AAA,Again,X,,USA,1,2\n",
     "row 3: duplicate key (iata) = (AAA); row 2 has the same key and was kept"),
    ("required value missing", ",Beta,X,,USA,1,2\n", "row 3, column 'iata': a value is required"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("row", "message"), [case[1:] for case in ROW_ERRORS], ids=[case[0] for case in ROW_ERRORS]
)
def test_a_bad_row_is_rejected_naming_row_and_column_and_the_good_rows_import(row, message):
    job = run_inline((HEADER + GOOD + row + "CCC,Gamma,Y,,USA,3,4\n").encode())

    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    error = ImportRowError.objects.get(job=job)
    assert error.row_number == 3
    assert message in error.message
    assert sorted(Airport.objects.values_list("iata", flat=True)) == ["AAA", "CCC", "KEEP"]
    assert (job.rows_new, job.rows_rejected) == (2, 1)


def test_an_invalid_date_is_rejected_naming_the_value():
    header = "day,store_code,sku,units,unit_price,discount,revenue,currency\n"
    content = header + "2026-11-02,S1,SKU-1,1,2.5,0,2.5,EUR\n2026-02-30,S1,SKU-2,1,2.5,0,2.5,EUR\n"

    job = run_inline(content.encode(), dataset="daily_sales")

    message = ImportRowError.objects.get(job=job).message
    assert message == "row 3, column 'day': '2026-02-30' is not a date (expected YYYY-MM-DD)"
    assert DailySales.objects.count() == 1


def test_a_byte_order_mark_is_not_part_of_the_first_column_name():
    job = run_inline(codecs.BOM_UTF8 + (HEADER + GOOD).encode())

    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.header[0] == "iata"


def test_latin1_bytes_in_a_utf8_file_reject_that_row_and_suggest_the_encoding():
    content = (HEADER + GOOD).encode() + "ZRH,Zürich,Zürich,,CH,47.4,8.5\n".encode("latin-1")

    job = run_inline(content)

    message = ImportRowError.objects.get(job=job).message
    assert message.startswith("row 3: byte ")
    assert "is not valid utf-8; choose the file's encoding (for example latin-1)" in message
    assert run_inline(content.replace(GOOD.encode(), b""), encoding="latin-1").status == (
        ImportJob.Status.SUCCEEDED
    )
    assert Airport.objects.get(iata="ZRH").city == "Zürich"


def test_all_or_nothing_with_one_bad_row_changes_no_row():
    content = (HEADER + GOOD * 1 + "BBB,B,X,,USA,1,2\n" * 1 + "CCC,C,X,,USA,north,2\n").encode()

    job = run_inline(content, mode=ImportJob.Mode.ALL_OR_NOTHING)

    assert job.status == ImportJob.Status.FAILED
    assert "nothing was written" in job.error
    assert list(Airport.objects.values_list("iata", flat=True)) == ["KEEP"]


# --- uploads through the admin ------------------------------------------------------------


def _upload(client, *files, dataset="airports"):
    return client.post(
        "/admin/batches/importjob/upload/",
        {"dataset": dataset, "mode": "valid_rows", "encoding": "utf-8", "delimiter": "",
         "file": list(files) if len(files) > 1 else files[0]},
    )  # fmt: skip


def test_a_file_over_the_upload_limit_is_refused_with_its_size_and_the_limit(
    admin_client, settings
):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    big = SimpleUploadedFile("big.csv", (HEADER + GOOD * 5).encode(), content_type="text/csv")

    response = _upload(admin_client, big)

    assert response.status_code == 200
    size = len((HEADER + GOOD * 5).encode())
    assert f"big.csv: the file is {size} bytes; the upload limit is 100 bytes" in (
        response.content.decode()
    )
    assert not ImportJob.objects.exists()


def test_many_files_in_one_post_are_refused_before_anything_is_stored(admin_client):
    files = [SimpleUploadedFile(f"f{n}.csv", (HEADER + GOOD).encode()) for n in range(5)]

    response = _upload(admin_client, *files)

    assert response.status_code == 400  # Django's DATA_UPLOAD_MAX_NUMBER_FILES = 1
    assert not ImportJob.objects.exists()


def test_a_file_that_is_not_csv_is_refused_by_name(admin_client):
    response = _upload(admin_client, SimpleUploadedFile("sheet.xlsx", b"iata,name\n"))

    assert "sheet.xlsx: only CSV files can be imported (.csv, .txt, .tsv)" in (
        response.content.decode()
    )
    assert not ImportJob.objects.exists()


# --- formulas and markup ------------------------------------------------------------------


def test_formula_cells_are_stored_as_data_but_escaped_in_the_error_file():
    out = io.StringIO()
    csv.writer(out).writerows(
        [f"X{n}", value, "", "", "USA", "north", "2"] for n, value in enumerate(FORMULAS)
    )
    bad_rows = out.getvalue()
    header = HEADER.replace("name", "=cmd|name")
    job = run_inline((header + bad_rows).encode(), delimiter=",")
    assert job.status == ImportJob.Status.FAILED  # the header names an unknown column

    job = run_inline((HEADER + bad_rows + '"@HYPER",ok,,,USA,1,2\n').encode())
    assert Airport.objects.get(iata="@HYPER").name == "ok"  # stored verbatim: it is data
    rows = list(csv.reader(io.StringIO("".join(job_error_csv_lines(job_id=job.id)))))
    names = [row[3] for row in rows[1:]]
    assert names == ["'" + value for value in FORMULAS]
    assert all(
        not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
    )


@pytest.mark.parametrize("value", FORMULAS)
def test_every_csv_writer_of_the_platform_escapes_formula_cells(value):
    assert csv_safe_cell(value) == "'" + value  # the one function every writer uses
    report = csv_bytes(header=[value], rows=[[value, "plain"]]).decode("utf-8-sig")
    assert all(
        cell in ("'" + value, "plain") for row in csv.reader(io.StringIO(report)) for cell in row
    )


def test_markup_in_a_header_is_escaped_on_the_job_page(admin_client):
    job = run_inline((HEADER.replace("\n", ",<script>alert(1)</script>\n") + GOOD).encode())
    assert job.status == ImportJob.Status.FAILED

    page = admin_client.get(f"/admin/batches/importjob/{job.id}/follow/").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_markup_in_cells_and_file_names_is_escaped_in_the_preview_and_lists(admin_client):
    content = (HEADER + "AAA,<img src=x onerror=alert(1)>,X,,USA,north,2\n").encode()
    response = _upload(admin_client, SimpleUploadedFile("<i onmouseover=alert(1)>.csv", content))
    job = ImportJob.objects.get()

    preview = admin_client.get(response["Location"]).content.decode()
    listing = admin_client.get("/admin/batches/importjob/").content.decode()

    assert "<img src=x onerror=alert(1)>" not in preview
    assert "&lt;img src=x onerror=alert(1)&gt;" in preview
    assert "<i onmouseover=alert(1)>" not in listing
    assert "&lt;i onmouseover=alert(1)&gt;.csv" in listing
    assert job.original_name == "<i onmouseover=alert(1)>.csv"


# --- schedules in the admin ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"task": "no.such.task"}, "No registered Celery task is called &#x27;no.such.task&#x27;"),
        ({"args": "[1, 2"}, "Not valid JSON"),
        ({"args": '{"a": 1}'}, "Must be a JSON list"),
        ({"kwargs": "[]"}, "Must be a JSON object"),
        ({"kwargs": '{"nope": 1}'}, "Does not match schedules.sleep_probe"),
    ],
    ids=["unregistered task", "args not json", "args not a list", "kwargs not an object",
         "unexpected kwarg"],
)  # fmt: skip
def test_a_periodic_task_with_an_unknown_task_or_bad_arguments_is_refused_and_not_saved(
    admin_client, fields, message
):
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    data = {
        "name": "bad", "task": "schedules.sleep_probe", "interval": every.pk, "args": "[]",
        "kwargs": "{}", "enabled": "on", "catch_up": "run_once", "queue": "", "exchange": "",
        "routing_key": "", "headers": "{}", "priority": "", "expires": "", "expire_seconds": "",
        "description": "", "start_time": "", "one_off": "",
    }  # fmt: skip
    data.update(fields)

    response = admin_client.post("/admin/django_celery_beat/periodictask/add/", data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PeriodicTask.objects.filter(name="bad").exists()


# --- properties -----------------------------------------------------------------------------

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)  # fmt: skip


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_the_csv_reader_turns_any_bytes_into_rows_or_its_own_error(data):
    handle = io.BytesIO(data)
    try:
        layout = inspect_file(handle)
    except ImportFileError:
        return
    total = 0
    for chunk in plan_ranges(handle, data_offset=layout.data_offset, chunk_rows=2):
        records, undecodable = read_range(
            handle, offset=chunk.offset, length=chunk.length, first_row=chunk.first_row,
            encoding=layout.encoding, delimiter=layout.delimiter,
        )  # fmt: skip
        total += len(list(records)) + len(undecodable)
    assert total >= 0


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    header=st.lists(
        st.text(string.ascii_lowercase, min_size=1, max_size=6), min_size=1, max_size=4, unique=True
    ),
    rows=st.lists(st.lists(cells, min_size=4, max_size=4), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    chunk_rows=st.integers(1, 5),
)
def test_rows_written_as_csv_read_back_the_same_across_chunk_boundaries(
    header, rows, delimiter, chunk_rows
):
    width = len(header)
    rows = [row[:width] for row in rows if any(cell.strip() for cell in row[:width])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    handle = io.BytesIO(buffer.getvalue().encode())

    layout = inspect_file(handle, delimiter=delimiter)
    read = []
    for chunk in plan_ranges(handle, data_offset=layout.data_offset, chunk_rows=chunk_rows):
        records, undecodable = read_range(
            handle, offset=chunk.offset, length=chunk.length, first_row=chunk.first_row,
            encoding="utf-8", delimiter=delimiter,
        )  # fmt: skip
        assert not undecodable
        read.extend(cells for _, cells in records)

    assert layout.header == [name.strip() for name in header]
    assert read == rows


cron_text = st.text(alphabet="0123456789*/,-abcdefghijklmnopqrstuvwxyz ", max_size=10)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(minute=cron_text, hour=cron_text, day_of_week=cron_text)
def test_the_crontab_validator_accepts_only_what_beat_can_schedule(minute, hour, day_of_week):
    from celery.schedules import crontab

    from schedules.forms import ValidatedCrontabForm

    form = ValidatedCrontabForm(
        data={
            "minute": minute,
            "hour": hour,
            "day_of_week": day_of_week,
            "day_of_month": "*",
            "month_of_year": "*",
            "timezone": "UTC",
        }
    )
    if form.is_valid():
        schedule = crontab(minute=minute, hour=hour, day_of_week=day_of_week)
        now = schedule.now()
        assert now + schedule.remaining_estimate(now) >= now  # beat can place its next run
    else:
        assert form.errors  # refused with a message on a field, never a crash


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(args=st.one_of(st.text(max_size=20), st.builds(str, st.lists(st.integers(), max_size=3))),
       kwargs=st.text(max_size=20))  # fmt: skip
def test_the_periodic_task_validator_never_crashes_on_arbitrary_arguments(args, kwargs):
    import json

    from schedules.forms import ValidatedPeriodicTaskForm

    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    form = ValidatedPeriodicTaskForm(
        data={
            "name": "prop",
            "task": "schedules.sleep_probe",
            "interval": every.pk,
            "args": args,
            "kwargs": kwargs,
            "enabled": "on",
            "catch_up": "run_once",
            "headers": "{}",
        }
    )
    valid = form.is_valid()
    if valid:
        parsed_args = json.loads(form.cleaned_data["args"] or "[]")
        parsed_kwargs = json.loads(form.cleaned_data["kwargs"] or "{}")
        assert isinstance(parsed_args, list)
        assert isinstance(parsed_kwargs, dict)
        assert len(parsed_args) + len(parsed_kwargs) <= 1  # sleep_probe(seconds=1.0)
    else:
        assert "args" in form.errors or "kwargs" in form.errors or form.errors


def test_a_resource_that_leaves_out_a_field_with_a_default_imports_with_that_default(
    monkeypatch,
):
    from import_export.resources import ModelResource

    from batches import registry

    class PartialSalesResource(ModelResource):
        class Meta:
            model = DailySales
            import_id_fields = ("day", "store_code", "sku")
            fields = ("day", "store_code", "sku", "units", "unit_price", "revenue")

    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))
    registry.register("partial_sales", PartialSalesResource)
    content = "day,store_code,sku,units,unit_price,revenue\n2026-11-02,S1,SKU-1,1,2.50,2.50\n"

    job = run_inline(content.encode(), dataset="partial_sales")

    assert job.status == ImportJob.Status.SUCCEEDED, job.chunks.get().error
    assert DailySales.objects.get().discount == 0


record_bytes = st.lists(
    st.sampled_from(
        [b"a", b"bc", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b" ", b"\t", b"\xc3\xa9"]
    ),
    max_size=12,
).map(b"".join)


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(record_bytes, max_size=30),
    chunk_rows=st.integers(1, 6),
    first_rows=st.none() | st.integers(1, 7),
    block=st.integers(1, 64),
)
def test_planning_by_blocks_cuts_the_file_where_planning_line_by_line_does(
    lines, chunk_rows, first_rows, block
):
    data = b"h1,h2\n" + b"\n".join(lines)
    handle = io.BytesIO(data)
    sizes = {"chunk_rows": chunk_rows, "first_rows": first_rows}
    by_line = list(plan_ranges_by_line(handle, data_offset=6, **sizes))
    by_block = list(plan_ranges(handle, data_offset=6, block=block, **sizes))
    assert by_block == by_line
    # Only the first range is smaller; the ranges still cover the same rows.
    assert [r.rows for r in by_line[1:-1]] == [chunk_rows] * len(by_line[1:-1])
    if by_line and first_rows and len(by_line) > 1:
        assert by_line[0].rows == min(first_rows, chunk_rows)
    plain = list(plan_ranges_by_line(handle, data_offset=6, chunk_rows=chunk_rows))
    assert sum(r.rows for r in by_line) == sum(r.rows for r in plain)
