"""UTF-16/32 files (Excel's "Unicode Text" export is UTF-16 LE, BOM, tabs): converted
to UTF-8 as they are stored, then imported like any other file."""

from __future__ import annotations

import codecs
import hashlib
import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from batches import csvfiles
from batches.csvfiles import ImportFileError, transcode_to_utf8, wide_encoding
from batches.models import ImportJob, ImportRowError, InboxFile
from batches.selectors import job_error_csv_lines
from batches.services.inbox import inbox_scan
from batches.services.preview import job_preview
from batches.services.uploads import ImportRejected
from catalogue.models import Airport, DailySales
from tests.batches.conftest import SALES_HEADER, run_inline, sales_rows
from tests.support.imports import make_job, wait_for_finish

BOMS = {
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}
HEADER = ["iata", "name", "city", "state", "country", "latitude", "longitude"]
ROWS = [
    ["ZRH", "Zürich Kloten", "Zürich", "", "Schweiz", "47.46", "8.55"],
    ["GVA", "Genève Cointrin", "Genève", "", "Suisse", "46.24", "6.11"],
    ["NRT", "成田国際空港", "成田 🛫", "", "日本", "35.76", "140.39"],
]


def unicode_text(rows=ROWS, *, delimiter: str = "\t") -> str:
    return "".join(delimiter.join(row) + "\r\n" for row in [HEADER, *rows])


def encoded(text: str, codec: str = "utf-16-le", *, bom: bool = True) -> bytes:
    """`text` as Excel's Unicode Text stores it by default: UTF-16 LE after a BOM."""
    return (BOMS[codec] if bom else b"") + text.encode(codec)


def assert_imported() -> None:
    assert dict(Airport.objects.values_list("iata", "city")) == {
        "ZRH": "Zürich",
        "GVA": "Genève",
        "NRT": "成田 🛫",
    }
    assert Airport.objects.get(iata="NRT").name == "成田国際空港"


# --- the conversion itself ------------------------------------------------------------------


class ReadSizes(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)


@pytest.mark.parametrize("block", [1, 3, 7, 64])
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_conversion_streams_in_blocks_and_carries_characters_split_between_them(
    monkeypatch, codec, block
):
    monkeypatch.setattr(csvfiles, "TRANSCODE_BLOCK", block)
    original = encoded(unicode_text(), codec)  # 🛫 is a surrogate pair in UTF-16
    source, target = ReadSizes(original), io.BytesIO()

    checksum = transcode_to_utf8(source, target, wide=wide_encoding(original[:4096]))

    assert target.getvalue() == unicode_text().encode("utf-8")  # no BOM written
    assert checksum == hashlib.sha256(original).hexdigest()
    assert max(source.sizes) == block  # never the whole file


@pytest.mark.parametrize(
    ("head", "encoding", "codec", "bom_length"),
    [
        (encoded("a,b\n", "utf-16-le"), "", "utf-16-le", 2),
        (encoded("a,b\n", "utf-16-be"), "utf-8", "utf-16-be", 2),
        (encoded("a,b\n", "utf-32-le"), "", "utf-32-le", 4),
        (encoded("a,b\n", "utf-32-be"), "UTF-8-SIG", "utf-32-be", 4),
        (encoded("a,b\n", "utf-16-le", bom=False), "utf-16", "utf-16-le", 0),
        (encoded("a,b\n", "utf-16-be", bom=False), "UTF16", "utf-16-be", 0),
        (encoded("a,b\n", "utf-16-be", bom=False), "utf-16-be", "utf-16-be", 0),
        (encoded("a,b\n", "utf-32-be", bom=False), "utf_32", "utf-32-be", 0),
        (encoded("a,b\n", "utf-16-le"), "utf-16", "utf-16-le", 2),
    ],
)
def test_the_byte_order_mark_or_the_chosen_encoding_makes_a_file_utf16_or_32(
    head, encoding, codec, bom_length
):
    wide = wide_encoding(head, encoding)

    assert (wide.codec, wide.bom_length) == (codec, bom_length)


@pytest.mark.parametrize("encoding", ["", "utf-8", "latin-1", "cp1252", "no-such-encoding"])
def test_files_without_a_utf16_or_32_mark_or_encoding_are_left_as_they_are(encoding):
    assert wide_encoding(b"\xef\xbb\xbfa,b\n", encoding) is None
    assert wide_encoding(encoded("a,b\n", bom=False), encoding) is None


# --- imports through the services -----------------------------------------------------------


@pytest.mark.django_db
def test_a_utf16_file_is_stored_as_utf8_and_the_job_says_what_it_was():
    original = encoded(unicode_text())

    job = make_job("airports", original, name="airports.txt")

    with default_storage.open(job.file, "rb") as stored:
        assert stored.read() == unicode_text().encode("utf-8")
    assert (job.encoding, job.source_encoding) == ("utf-8", "utf-16-le")
    # What identifies the upload is the bytes as they came.
    assert job.size_bytes == len(original)
    assert job.checksum == hashlib.sha256(original).hexdigest()
    preview = job_preview(job=job)
    assert preview["error"] == ""
    assert (preview["delimiter"], preview["converted_from"]) == ("\t", "UTF-16 LE")
    assert [cell["value"] for cell in preview["rows"][0]["cells"]][:3] == [
        "ZRH",
        "Zürich Kloten",
        "Zürich",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("codec", ["utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_be_and_utf32_files_with_a_bom_import(codec):
    job = run_inline(make_job("airports", encoded(unicode_text(delimiter=","), codec)))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.encoding, job.source_encoding, job.delimiter) == ("utf-8", codec, ",")
    assert_imported()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "codec"),
    [("utf-16", "utf-16-le"), ("utf-16", "utf-16-be"), ("utf-16le", "utf-16-le"),
     ("utf-32", "utf-32-le")],
)  # fmt: skip
def test_a_chosen_utf16_or_32_encoding_reads_a_file_without_bom(encoding, codec):
    job = make_job("airports", encoded(unicode_text(), codec, bom=False), encoding=encoding)

    job = run_inline(job)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.source_encoding == codec
    assert_imported()


@pytest.mark.django_db
def test_import_csv_with_encoding_utf16_reads_a_file_without_bom(tmp_path):
    path = tmp_path / "airports.txt"
    path.write_bytes(encoded(unicode_text(), bom=False))
    out = io.StringIO()

    call_command("import_csv", "airports", str(path), "--encoding", "utf-16", stdout=out)
    job = run_inline(ImportJob.objects.get())

    assert "converted from UTF-16 LE to UTF-8" in out.getvalue()
    assert (job.status, job.source, job.rows_new) == (ImportJob.Status.SUCCEEDED, "cli", 3)
    assert_imported()


@pytest.mark.django_db
def test_a_utf16_file_of_many_chunks_keeps_row_numbers_and_rejects_only_its_bad_row(
    monkeypatch,
):
    # An odd block size splits code units between blocks all through the file.
    monkeypatch.setattr(csvfiles, "TRANSCODE_BLOCK", 4099)
    rows = (
        sales_rows(1800)
        + "2026-11-02,S1,SKU-X,drei,2.50,0,7.50,EUR\n"
        + sales_rows(700, start=1800)
    )

    job = run_inline(make_job("daily_sales", encoded(SALES_HEADER + rows)))

    assert (job.status, job.chunks_total) == (ImportJob.Status.PARTIALLY_FAILED, 3)
    assert (job.rows_new, job.rows_rejected) == (2500, 1)
    assert DailySales.objects.count() == 2500
    assert list(ImportRowError.objects.values_list("row_number", "message")) == [
        (1802, "row 1802, column 'units': 'drei' is not a whole number")
    ]


# Row 3 is the second data row; the quoted newline in row 2 must not shift the count.
BEFORE_BAD = encoded(
    'iata,name,city,state,country,latitude,longitude\n"AAA","A\nA",X,,USA,1,2\nBBB,'
)
AT = len(BEFORE_BAD)  # byte offset of the bad code unit, counting the BOM


def _with_bad_bytes(bad: bytes) -> bytes:
    return BEFORE_BAD + bad + encoded("B,X,,USA,1,2\n", bom=False)


INVALID = [
    ("lone low surrogate", _with_bad_bytes(b"\x00\xdc"),
     f"row 3: byte {AT} (0x00dc) is not valid UTF-16 LE: an unpaired surrogate"),
    ("high surrogate without its pair", _with_bad_bytes(b"\x3d\xd8"),
     f"row 3: byte {AT} (0x3dd8) is not valid UTF-16 LE: an unpaired surrogate"),
    ("odd number of bytes", encoded("iata,name\nAAA,A\n") + b"B",
     "row 3: byte 34 (0x42) is not valid UTF-16 LE: the file ends in the middle of a "
     "character (its size is not a multiple of 2)"),
    ("utf-32 beyond unicode", encoded("iata\nAAA\n", "utf-32-le") + b"\x00\x00\x11\x00",
     "row 3: byte 40 (0x00001100) is not valid UTF-32 LE: not a Unicode character"),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_an_invalid_utf16_or_32_file_fails_naming_the_row_and_byte(content, message):
    job = make_job("airports", content, name="data.txt")
    preview = job_preview(job=job)

    job = run_inline(job)

    assert preview["error"] == message
    assert job.status == ImportJob.Status.FAILED
    assert job.error == f"data.txt: {message}"
    assert not Airport.objects.exists()
    with default_storage.open(job.file, "rb") as stored:
        assert stored.read() == content  # kept as it came, not half converted
    assert job.checksum == hashlib.sha256(content).hexdigest()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("codec", "encoding", "message"),
    [
        ("utf-16-le", "latin-1", "a UTF-16 LE byte order mark but encoding 'latin-1' was given"),
        ("utf-16-le", "utf-16-be", "UTF-16 LE byte order mark but encoding 'utf-16-be' was given"),
        ("utf-16-be", "utf-32", "a UTF-16 BE byte order mark but encoding 'utf-32' was given"),
    ],
)
def test_a_byte_order_mark_that_contradicts_the_chosen_encoding_fails_saying_so(
    codec, encoding, message
):
    job = run_inline(make_job("airports", encoded(unicode_text(), codec), encoding=encoding))

    assert job.status == ImportJob.Status.FAILED
    assert message in job.error


@pytest.mark.django_db
def test_nul_bytes_without_a_bom_or_a_chosen_encoding_are_still_refused_as_binary():
    job = run_inline(make_job("airports", encoded(unicode_text(), bom=False)))

    assert job.status == ImportJob.Status.FAILED
    assert "this is not a CSV text file (binary content: a NUL byte at byte 1)" in job.error


@pytest.mark.django_db
def test_the_upload_limit_applies_to_the_bytes_as_they_came(settings):
    original = encoded(unicode_text(), "utf-32-le")  # about four times its UTF-8 size
    settings.IMPORT_MAX_UPLOAD_BYTES = len(original) - 1

    with pytest.raises(ImportRejected, match=f"the file is {len(original):,} bytes"):
        make_job("airports", original)
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_the_upload_preview_says_where_an_invalid_utf16_file_is_broken(client, importer):
    client.force_login(importer)
    client.post(
        reverse("admin:batches_importjob_upload"),
        {
            "dataset": "airports",
            "mode": "valid_rows",
            "encoding": "utf-8",
            "delimiter": "",
            "file": SimpleUploadedFile("airports.txt", INVALID[0][1], content_type="text/plain"),
        },
    )

    preview = client.get(
        reverse("admin:batches_importjob_preview", args=[ImportJob.objects.get().id])
    )

    html = preview.content.decode()
    assert f"This file cannot be imported: row 3: byte {AT} (0x00dc) is not valid UTF-16" in html
    assert 'value="Import"' not in html


# --- the three entry points, through a real worker ------------------------------------------


@pytest.mark.slow
def test_excel_unicode_text_uploaded_in_the_admin_previews_and_imports(
    celery_worker, client, importer, settings
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100  # uploaded to a temporary file, as big ones are
    client.force_login(importer)
    bad = ["BAD", "Zürich Bahnhof", "Zürich", "", "Schweiz", "nord", "8.54"]
    content = encoded(unicode_text([*ROWS, bad]))

    response = client.post(
        reverse("admin:batches_importjob_upload"),
        {
            "dataset": "airports",
            "mode": "valid_rows",
            "encoding": "utf-8",  # the form's default: the BOM decides
            "delimiter": "",
            "file": SimpleUploadedFile("airports.txt", content, content_type="text/plain"),
        },
    )
    preview = client.get(response["Location"])
    html = preview.content.decode()
    job = ImportJob.objects.get()
    confirmed = client.post(reverse("admin:batches_importjob_preview", args=[job.id]))
    job = wait_for_finish(job.id)

    assert "encoding utf-8 (converted from UTF-16 LE when stored), delimiter <code>tab" in html
    assert '>Zürich Kloten</td><td class="">Zürich</td>' in html
    assert '>成田国際空港</td><td class="">成田 🛫</td>' in html
    assert "1</strong> of them would be rejected" in html
    assert confirmed.status_code == 302
    assert (job.status, job.rows_new, job.rows_rejected) == (
        ImportJob.Status.PARTIALLY_FAILED,
        3,
        1,
    )
    assert_imported()
    error_file = "".join(job_error_csv_lines(job_id=job.id))
    assert "5,\"row 5, column 'latitude': 'nord' is not a number\",BAD,Zürich Bahnhof," in (
        error_file
    )


@pytest.mark.slow
def test_import_csv_waits_for_a_utf16_file(celery_worker, tmp_path):
    path = tmp_path / "airports.txt"
    path.write_bytes(encoded(unicode_text()))
    out = io.StringIO()

    call_command("import_csv", "airports", str(path), "--wait", stdout=out, stderr=io.StringIO())

    assert "converted from UTF-16 LE to UTF-8" in out.getvalue()
    assert "succeeded: 3 rows, 3 new, 0 updated, 0 unchanged, 0 rejected" in out.getvalue()
    assert_imported()


@pytest.mark.slow
def test_an_inbox_file_in_utf16_is_imported_once(celery_worker, settings):
    original = encoded(unicode_text())
    inbox = settings.IMPORT_INBOX_DIR
    default_storage.save(f"{inbox}/airports__unicode.txt", ContentFile(original))

    [job_id] = inbox_scan()
    job = wait_for_finish(job_id)
    default_storage.save(f"{inbox}/airports/again.txt", ContentFile(original))
    again = inbox_scan()

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.source, job.encoding, job.source_encoding) == ("inbox", "utf-8", "utf-16-le")
    assert_imported()
    assert again == []
    assert ImportJob.objects.count() == 1 == InboxFile.objects.count()
    inbox_file = InboxFile.objects.get()
    # Exactly once is by the checksum of the file as dropped, which the job records too.
    assert inbox_file.checksum == job.checksum == hashlib.sha256(original).hexdigest()
    with default_storage.open(inbox_file.archived_path, "rb") as archived:
        assert archived.read() == original  # the archive keeps the file as it came
    assert job.file != inbox_file.archived_path
    assert job.file.startswith(f"{settings.IMPORT_UPLOAD_DIR}/")


def test_inspecting_a_utf16_file_that_was_not_converted_says_so():
    with pytest.raises(ImportFileError, match="the file is UTF-16 LE; it is read after conversion"):
        csvfiles.inspect_file(io.BytesIO(encoded(unicode_text())))
