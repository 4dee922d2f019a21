"""The scheduled inbox and the import_csv command, through a real worker."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from batches.models import ImportJob, InboxFile
from batches.periodic import DEFAULT_SCHEDULES
from batches.tasks import scan_inbox
from catalogue.models import Airport
from tests.support.imports import wait_for_finish
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow


def test_inbox_imports_a_file_once_even_when_the_periodic_task_runs_twice(
    celery_worker, settings, airports_csv
):
    content = airports_csv.read_bytes()
    default_storage.save(f"{settings.IMPORT_INBOX_DIR}/airports__weekly.csv", ContentFile(content))

    scan_inbox.delay()
    scan_inbox.delay()  # refused by the overlap lock, or finds the inbox empty
    job = wait_for(lambda: ImportJob.objects.first(), timeout=30, message="an inbox job")
    job = wait_for_finish(job.id)
    scan_inbox.apply_async()  # a later run after the first finished
    wait_for(lambda: not default_storage.listdir(settings.IMPORT_INBOX_DIR)[1], timeout=10)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.source, job.dataset, job.original_name) == (
        "inbox",
        "airports",
        "airports__weekly.csv",
    )
    assert ImportJob.objects.count() == 1
    assert Airport.objects.count() == 3376
    inbox_file = InboxFile.objects.get()
    assert inbox_file.job == job
    assert inbox_file.archived_path.startswith(settings.IMPORT_ARCHIVE_DIR)
    assert default_storage.exists(inbox_file.archived_path)


@pytest.mark.django_db(transaction=True)
def test_inbox_file_seen_before_is_archived_without_a_second_import(
    settings, airports_csv, clean_redis
):
    from batches.services.inbox import inbox_scan

    content = airports_csv.read_bytes()[:2000].rsplit(b"\n", 1)[0] + b"\n"
    default_storage.save(f"{settings.IMPORT_INBOX_DIR}/airports/first.csv", ContentFile(content))
    first = inbox_scan()
    default_storage.save(f"{settings.IMPORT_INBOX_DIR}/airports__again.csv", ContentFile(content))

    second = inbox_scan()

    assert len(first) == 1
    assert second == []
    assert ImportJob.objects.count() == 1 == InboxFile.objects.count()
    assert default_storage.listdir(settings.IMPORT_INBOX_DIR)[1] == []
    archived = default_storage.listdir(settings.IMPORT_ARCHIVE_DIR)[0]
    day_dir = f"{settings.IMPORT_ARCHIVE_DIR}/{archived[0]}"
    assert default_storage.exists(day_dir)


@pytest.mark.django_db(transaction=True)
def test_an_inbox_file_over_the_limit_fails_visibly_once_and_the_next_file_still_imports(
    settings, airports_csv, clean_redis
):
    from batches.services.inbox import inbox_scan
    from ops.models import Alert

    small = airports_csv.read_bytes()[:2000].rsplit(b"\n", 1)[0] + b"\n"
    big = airports_csv.read_bytes()[:5000].rsplit(b"\n", 1)[0] + b"\n"
    settings.IMPORT_MAX_UPLOAD_BYTES = 3000
    inbox = settings.IMPORT_INBOX_DIR
    default_storage.save(f"{inbox}/airports__a_big.csv", ContentFile(big))
    default_storage.save(f"{inbox}/airports__b_small.csv", ContentFile(small))

    first = inbox_scan()
    second = inbox_scan()

    refused = ImportJob.objects.get(original_name="airports__a_big.csv")
    imported = ImportJob.objects.get(original_name="airports__b_small.csv")
    assert first == [refused.id, imported.id]
    assert second == []
    assert refused.status == ImportJob.Status.FAILED
    assert refused.error == (
        f"airports__a_big.csv: the file is {len(big):,} bytes; the upload limit is 3,000 bytes"
    )
    assert imported.status != ImportJob.Status.FAILED
    assert not default_storage.listdir(inbox)[1]
    assert default_storage.exists(InboxFile.objects.get(job=refused).archived_path)
    # Issue 15's alert policy: a refused file is for its sender to fix (job page, the
    # dashboard's recent import failures), not an ops alert.
    assert not Alert.objects.exists()


def test_an_inbox_file_that_cannot_be_taken_does_not_stop_the_others(
    settings, airports_csv, monkeypatch, db
):
    from batches.services import inbox as inbox_services
    from ops.models import Alert

    content = airports_csv.read_bytes()[:2000].rsplit(b"\n", 1)[0] + b"\n"
    inbox = settings.IMPORT_INBOX_DIR
    default_storage.save(f"{inbox}/airports__a.csv", ContentFile(content))
    default_storage.save(f"{inbox}/airports__b.csv", ContentFile(content + b"ZZZ,Z,Z,,USA,1,2\n"))
    real_import = inbox_services.inbox_file_import

    def storage_fails_for_a(*, entry, settled):
        if entry.path.endswith("airports__a.csv"):
            raise OSError("disk quota exceeded")
        return real_import(entry=entry, settled=settled)

    monkeypatch.setattr(inbox_services, "inbox_file_import", storage_fails_for_a)

    taken = inbox_services.inbox_scan()

    assert len(taken) == 1
    assert ImportJob.objects.get().original_name == "airports__b.csv"
    assert default_storage.exists(f"{inbox}/airports__a.csv")  # tried again next scan
    alert = Alert.objects.get(kind="inbox_file_failed")
    assert "disk quota exceeded" in alert.message


def test_periodic_tasks_are_declared_with_the_overlap_lock():
    from celery import current_app

    from schedules.locking import PeriodicOnceTask

    assert [entry["task"] for entry in DEFAULT_SCHEDULES] == [
        "batches.scan_inbox",
        "batches.resume_stalled_imports",
        "batches.delete_abandoned_uploads",
    ]
    for entry in DEFAULT_SCHEDULES:
        task = current_app.tasks[entry["task"]]
        assert isinstance(task, PeriodicOnceTask)
        assert task.soft_time_limit < task.time_limit < 3600
    assert isinstance(scan_inbox, PeriodicOnceTask)


def test_import_csv_waits_and_reports_the_totals(celery_worker, airports_csv):
    out, err = io.StringIO(), io.StringIO()

    call_command("import_csv", "airports", str(airports_csv), "--wait", stdout=out, stderr=err)

    assert "succeeded: 3,376 rows, 3,376 new, 0 updated, 0 unchanged, 0 rejected" in out.getvalue()
    assert Airport.objects.count() == 3376
    job = ImportJob.objects.get()
    assert job.source == "cli"
    # The bar's rate is the job's rows over the job's duration (or less, as the bar
    # closes a moment later), never the rows over the bar's own few microseconds.
    bar = err.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "3376/3376" in bar
    shown_rate = float(re.search(r"([\d.]+)rows/s", bar).group(1))
    assert shown_rate <= 3376 / job.duration.total_seconds() * 1.05


def test_import_csv_exits_non_zero_when_the_import_fails(celery_worker, tmp_path):
    bad = tmp_path / "airports.csv"
    bad.write_text("iata,name\nAAA,Alpha\n")
    err = io.StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("import_csv", "airports", str(bad), "--wait", stdout=io.StringIO(), stderr=err)

    assert exit_info.value.code == 1
    assert "missing column 'latitude'" in err.getvalue()


def test_import_csv_partial_failure_exits_3_and_writes_the_error_file(celery_worker, tmp_path):
    data = tmp_path / "airports.csv"
    data.write_text(
        "iata,name,city,state,country,latitude,longitude\n"
        "AAA,Alpha,X,,USA,1,2\nBBB,Beta,X,,USA,north,2\n"
    )
    errors = tmp_path / "errors.csv"

    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "import_csv", "airports", str(data), "--wait", "--errors-to", str(errors),
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip

    assert exit_info.value.code == 3
    assert "row 3, column 'latitude': 'north' is not a number" in errors.read_text()


@pytest.mark.django_db
def test_import_csv_refuses_an_unknown_dataset_and_a_missing_file(tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")

    with pytest.raises(CommandError, match="unknown dataset 'nope'"):
        call_command("import_csv", "nope", str(data))
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_csv", "airports", str(tmp_path / "missing.csv"))
