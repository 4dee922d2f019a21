"""A file that is not CSV text is named for what it is, with the step that helps,
instead of advice about encodings: at upload, on the command line and in a job."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import zipfile

import openpyxl
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from batches.filekinds import not_text_reason
from batches.models import ImportJob
from batches.services.uploads import job_create
from tests.batches.conftest import run_inline
from tests.batches.test_admin import upload
from tests.support.processes import subprocess_env

pytestmark = pytest.mark.django_db

HEADER = "iata,name,city,state,country,latitude,longitude\n"


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["iata", "name"])
    book.active.append(["AAA", "Alpha"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            # OpenDocument stores its mimetype entry first and uncompressed.
            compress = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=compress)
    return buffer.getvalue()


FILES = [
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "this is a PNG image, not a CSV file: export the data itself as CSV"),
    ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(64), "this is a JPEG image"),
    ("gif", b"GIF89a\x01\x00\x01\x00" + bytes(16), "this is a GIF image"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "this is a PDF document, not a CSV file: export the data as CSV"),
    ("zip", zip_bytes([("airports.csv", HEADER.encode())]), "this is a zip archive, not a CSV file: extract it first and upload the CSV file inside"),
    ("gzip", gzip.compress(HEADER.encode()), "this is a gzip-compressed file, not a CSV file: decompress it first"),
    ("xlsx", xlsx_bytes(), "this is an Excel spreadsheet (.xlsx), not a CSV file: in Excel choose File > Save As > CSV UTF-8"),
    ("ods", zip_bytes([("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"), ("content.xml", b"<x/>")]),
     "this is an OpenDocument spreadsheet (.ods), not a CSV file: in LibreOffice choose File > Save As > Text CSV"),
    ("xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "this is an old-style Excel spreadsheet (.xls)"),
    ("other binary", b"\x7fELF\x02\x01\x01\x00" + bytes(64), "this is not a CSV text file (binary content: a NUL byte at byte 7)"),
    ("nul bytes", b"abc\x00def", "this is not a CSV text file (binary content: a NUL byte at byte 3)"),
]  # fmt: skip
IDS = [case[0] for case in FILES]


@pytest.mark.parametrize(("kind", "content", "message"), FILES, ids=IDS)
def test_a_file_that_is_not_text_is_named_for_what_it_is(kind, content, message):
    reason = not_text_reason(content[:8192])

    assert reason is not None
    assert reason.startswith(message), reason
    assert "latin-1" not in reason


@pytest.mark.parametrize(
    "content",
    [
        (HEADER + "AAA,Älpha,X,,USA,1,2\n").encode("utf-8"),
        (HEADER + "AAA,Älpha,X,,USA,1,2\n").encode("latin-1"),
        "\ufeff".encode() + HEADER.encode(),
        (HEADER + "AAA,A\tB,X,,USA,1,2\r\n").encode(),
    ],
    ids=["utf-8", "latin-1", "utf-8 bom", "tab and crlf"],
)
def test_csv_text_in_any_ascii_compatible_encoding_is_not_flagged(content):
    assert not_text_reason(content) is None


@pytest.mark.parametrize(("kind", "content", "message"), FILES, ids=IDS)
def test_the_upload_form_says_what_the_file_is_and_creates_no_job(
    client, importer, kind, content, message
):
    client.force_login(importer)

    response = upload(client, content, name="airports.csv")

    assert response.status_code == 200
    assert message.replace(">", "&gt;") in response.content.decode()
    assert "choose the file" not in response.content.decode()
    assert not ImportJob.objects.exists()


def test_an_image_named_png_is_named_an_image_not_a_wrong_extension(client, importer):
    client.force_login(importer)

    response = upload(client, FILES[0][1], name="photo.png")

    assert "photo.png: this is a PNG image" in response.content.decode()


def test_utf16_with_a_byte_order_mark_is_text_and_is_taken(client, importer):
    client.force_login(importer)

    response = upload(client, (HEADER + "AAA,A,X,,USA,1,2\n").encode("utf-16"))

    assert response.status_code == 302
    assert ImportJob.objects.get().source_encoding == "utf-16-le"


def test_utf16_without_a_byte_order_mark_is_taken_when_its_encoding_is_chosen(client, importer):
    client.force_login(importer)

    response = upload(
        client, (HEADER + "AAA,A,X,,USA,1,2\n").encode("utf-16-le"), encoding="utf-16-le"
    )

    assert response.status_code == 302


@pytest.mark.parametrize(("kind", "content", "message"), FILES[:7], ids=IDS[:7])
def test_import_csv_says_what_the_file_is(tmp_path, kind, content, message):
    path = tmp_path / "airports.csv"
    path.write_bytes(content)

    with pytest.raises(CommandError) as raised:
        call_command("import_csv", "airports", str(path))

    assert str(raised.value).startswith(f"airports.csv: {message}")
    assert not ImportJob.objects.exists()


def test_a_job_made_from_a_stored_file_fails_naming_what_the_file_is():
    # The inbox stores what it finds; the planner names the file's kind too.
    job = job_create(
        dataset="airports", file=ContentFile(xlsx_bytes(), name="sales.csv"), name="sales.csv"
    )

    job = run_inline(job)

    assert job.status == ImportJob.Status.FAILED
    assert job.error.startswith("sales.csv: this is an Excel spreadsheet (.xlsx)")


def test_import_csv_exits_1_naming_the_file_in_one_line_in_its_own_process(
    transactional_db, tmp_path
):
    path = tmp_path / "report.csv"
    path.write_bytes(FILES[0][1])

    result = subprocess.run(
        [sys.executable, "manage.py", "import_csv", "airports", str(path)],
        cwd=settings.BASE_DIR, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr  # (Python 3.12 adds celery_once's SyntaxWarning)
    assert result.stderr.strip().splitlines()[-1] == (
        "CommandError: report.csv: this is a PNG image, not a CSV file: export the data itself "
        "as CSV (UTF-8) and upload that; a picture of a table cannot be imported"
    )
