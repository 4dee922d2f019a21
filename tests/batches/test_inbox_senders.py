"""The inbox as real senders write into it: slowly, under a temporary name, with a
marker, twice the same file; the scan service (or the scheduled task) and a real worker."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from batches.models import ImportJob, InboxFile
from batches.services import inbox as inbox_services
from batches.services.inbox import inbox_scan
from batches.tasks import scan_inbox
from catalogue.models import Airport
from tests.support.imports import wait_for_finish
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def inbox(settings) -> Path:
    folder = Path(settings.MEDIA_ROOT) / settings.IMPORT_INBOX_DIR
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def airports(airports_csv) -> bytes:
    return airports_csv.read_bytes()


def airport_rows(content: bytes, start: int, stop: int) -> bytes:
    """The header and data rows [start, stop) of the airports file."""
    lines = content.splitlines(keepends=True)
    return lines[0] + b"".join(lines[1 + start : 1 + stop])


def archived_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / settings.IMPORT_ARCHIVE_DIR
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_file_written_slowly_across_several_scans_is_imported_once_whole(
    celery_worker, settings, inbox, airports
):
    settings.IMPORT_INBOX_SETTLE_SECONDS = 1.0
    target = inbox / "airports__slow.csv"
    pieces = [airports[start : start + 15_000] for start in range(0, len(airports), 15_000)]
    assert len(pieces) >= 10  # cut anywhere, mid-line included, as a network copy does

    with target.open("wb") as sender:
        for piece in pieces:
            sender.write(piece)
            sender.flush()
            scan_inbox.delay()  # what beat sends; an overlapping one is refused by its lock
            time.sleep(0.3)  # a pause shorter than the settle interval
            assert not ImportJob.objects.exists(), "taken while it was being written"

    def taken() -> ImportJob | None:
        scan_inbox.delay()
        return ImportJob.objects.first() if not target.exists() else None

    job = wait_for_finish(wait_for(taken, timeout=20, interval=0.5, message="the take").id)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert ImportJob.objects.count() == 1
    assert Airport.objects.count() == job.rows_new == 3376
    [archived] = archived_files(settings)
    assert archived.read_bytes() == airports


def test_a_file_renamed_into_place_is_taken_once_and_never_under_its_temporary_name(
    celery_worker, settings, inbox, airports
):
    settings.IMPORT_INBOX_SETTLE_SECONDS = 0.2
    temporary = inbox / ".airports__renamed.csv.Xq81Zk"  # rsync's temporary name
    content = airport_rows(airports, 0, 500)
    with temporary.open("wb") as sender:
        sender.write(content[:5000])
        sender.flush()
        assert inbox_scan() == []
        sender.write(content[5000:])
    os.utime(temporary, (time.time() - 3600, time.time() - 3600))  # complete, long ago
    assert inbox_scan() == []

    temporary.rename(inbox / "airports__renamed.csv")
    [job_id] = inbox_scan()

    job = wait_for_finish(job_id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.original_name == "airports__renamed.csv"
    assert Airport.objects.count() == 500
    assert not any(inbox.iterdir())


def test_part_tmp_and_filepart_uploads_are_left_alone_until_renamed(
    celery_worker, settings, inbox, airports
):
    uploads = {
        "airports__a.csv.part": airport_rows(airports, 0, 100),
        "airports__b.csv.tmp": airport_rows(airports, 100, 200),
        "airports__c.csv.filepart": airport_rows(airports, 200, 300),
        "airports__d.CSV.PART": airport_rows(airports, 300, 400),
    }
    for name, content in uploads.items():
        (inbox / name).write_bytes(content)

    assert inbox_scan() == []
    assert inbox_scan() == []
    for name in uploads:
        (inbox / name).rename(inbox / name.rsplit(".", 1)[0])
    job_ids = inbox_scan()

    jobs = [wait_for_finish(job_id) for job_id in job_ids]
    assert sorted(job.original_name for job in jobs) == [
        "airports__a.csv", "airports__b.csv", "airports__c.csv", "airports__d.CSV",
    ]  # fmt: skip
    assert {job.status for job in jobs} == {ImportJob.Status.SUCCEEDED}
    assert Airport.objects.count() == 400


def test_with_the_marker_convention_a_file_is_taken_only_with_its_marker(
    celery_worker, settings, inbox, airports
):
    settings.IMPORT_INBOX_REQUIRE_MARKER = True
    folder = inbox / "airports"  # the dataset's folder
    folder.mkdir()
    (folder / "2026-12-07.csv").write_bytes(airport_rows(airports, 0, 300))
    os.utime(folder / "2026-12-07.csv", (time.time() - 3600, time.time() - 3600))

    assert inbox_scan() == []  # settled long ago, but not marked
    (folder / "2026-12-07.csv.done").write_bytes(b"")
    [job_id] = inbox_scan()

    job = wait_for_finish(job_id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert Airport.objects.count() == 300
    assert not any(folder.iterdir())  # the file and its marker left the inbox
    assert [p.name.split("-", 1)[1] for p in archived_files(settings)] == ["2026-12-07.csv"]


@pytest.mark.django_db(transaction=True)
def test_a_marked_file_is_complete_at_once_without_the_settle_wait(
    settings, inbox, airports, clean_redis, monkeypatch
):
    settings.IMPORT_INBOX_SETTLE_SECONDS = 30
    (inbox / "airports__marked.csv").write_bytes(airport_rows(airports, 0, 10))
    (inbox / "airports__marked.csv.done").write_bytes(b"")
    waits = []
    monkeypatch.setattr("batches.services.inbox._settle_wait", lambda: waits.append("settle"))

    taken = inbox_scan()

    assert waits == []  # the marker says the file is complete: no settle wait
    assert len(taken) == 1
    assert not any(inbox.iterdir())


def test_two_files_with_the_same_content_import_once_and_both_are_archived(
    celery_worker, settings, inbox, airports
):
    content = airport_rows(airports, 0, 200)
    (inbox / "airports__monday.csv").write_bytes(content)
    (inbox / "airports__resent.csv").write_bytes(content)

    [job_id] = inbox_scan()

    job = wait_for_finish(job_id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.original_name == "airports__monday.csv"
    assert ImportJob.objects.count() == 1 == InboxFile.objects.count()
    assert Airport.objects.count() == 200
    names = sorted(p.name.split("-", 1)[1] for p in archived_files(settings))
    assert names == ["airports__monday.csv", "duplicate-airports__resent.csv"]
    assert all(p.read_bytes() == content for p in archived_files(settings))
    assert not any(inbox.iterdir())


def test_a_file_that_changes_while_it_is_taken_is_not_archived_and_is_taken_whole_later(
    celery_worker, settings, inbox, airports, monkeypatch
):
    target = inbox / "airports__growing.csv"
    target.write_bytes(airport_rows(airports, 0, 200))
    real_job_create = inbox_services.job_create
    calls = []

    def sender_appends_meanwhile(**kwargs):
        calls.append(kwargs["checksum"])
        if len(calls) == 1:
            with target.open("ab") as sender:
                sender.write(airport_rows(airports, 200, 300).split(b"\n", 1)[1])
        return real_job_create(**kwargs)

    monkeypatch.setattr(inbox_services, "job_create", sender_appends_meanwhile)

    assert inbox_scan() == []  # the job of the first take was rolled back unseen
    assert not ImportJob.objects.exists()
    assert not InboxFile.objects.exists()
    assert archived_files(settings) == []  # nor was its copy archived
    assert target.exists()
    [job_id] = inbox_scan()

    job = wait_for_finish(job_id)
    assert len(calls) == 2
    assert job.status == ImportJob.Status.SUCCEEDED
    assert ImportJob.objects.count() == 1 == InboxFile.objects.count()
    assert Airport.objects.count() == job.rows_new == 300
    [archived] = archived_files(settings)
    assert archived.read_bytes() == airport_rows(airports, 0, 300)


@pytest.mark.django_db(transaction=True)
def test_a_file_that_is_renamed_away_between_the_two_looks_is_skipped(
    settings, inbox, airports, clean_redis, monkeypatch
):
    target = inbox / "airports__moved.csv"
    target.write_bytes(airport_rows(airports, 0, 10))
    monkeypatch.setattr(inbox_services, "_settle_wait", lambda: target.rename(inbox / ".moved"))

    assert inbox_scan() == []
    assert not ImportJob.objects.exists()
    assert default_storage.exists(f"{settings.IMPORT_INBOX_DIR}/.moved")
