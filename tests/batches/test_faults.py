"""Failures through a real worker: retries, chunks failing for good, cancel, redelivery."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.core import mail
from django.db import OperationalError

from batches.models import ImportChunk, ImportJob, ImportRowError
from batches.selectors import job_error_csv_lines
from batches.services import chunks
from batches.services.chunks import chunk_import
from batches.services.control import job_cancel, job_retry_failed_chunks
from batches.services.uploads import job_queue
from batches.tasks import finish_import, import_chunk
from catalogue.models import DailySales
from ops.models import Alert
from tests.batches.conftest import SALES_HEADER, run_job, sales_rows, wait_for_uploader_email
from tests.support.imports import make_job, wait_for_finish
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.fault]


def flaky_upsert(monkeypatch, *, fail_days: set[str], times: int | None):
    """Make the upsert of chunks whose first row has the given day raise OperationalError.

    `times=None` fails them for good. The in-process worker runs this module's code,
    so the patch reaches the real worker's task.
    """
    real = chunks.upsert_lines
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def upsert(*, plan, lines, rows):
        first = lines[0].split("\t")[0] if lines else ""
        with lock:
            calls[first] = calls.get(first, 0) + 1
            count = calls[first]
        if first in fail_days and (times is None or count <= times):
            raise OperationalError("could not serialize access (injected)")
        return real(plan=plan, lines=lines, rows=rows)

    monkeypatch.setattr(chunks, "upsert_lines", upsert)
    return calls


def test_chunk_that_fails_then_succeeds_on_retry_imports_every_row(celery_worker, monkeypatch):
    calls = flaky_upsert(monkeypatch, fail_days={"2026-11-01"}, times=1)

    job = run_job(make_job("daily_sales", SALES_HEADER + sales_rows(3000)))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert DailySales.objects.count() == 3000 == job.rows_new
    assert calls["2026-11-01"] == 2  # first attempt failed, the retry wrote


def test_chunk_failing_for_good_leaves_a_partial_import_that_retry_completes(
    celery_worker, monkeypatch, importer
):
    calls = flaky_upsert(monkeypatch, fail_days={"2026-11-01"}, times=None)
    content = SALES_HEADER + sales_rows(1000) + sales_rows(999, start=1000) + "bad,row\n"
    job = make_job("daily_sales", content, user=importer)

    job = run_job(job)

    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    assert calls["2026-11-01"] == 3  # the first try and IMPORT_CHUNK_MAX_RETRIES=2 retries
    failed = job.chunks.get(status=ImportChunk.Status.FAILED)
    assert failed.index == 0
    assert "could not serialize access (injected)" in failed.error
    assert job.error.startswith("1 of 2 chunks failed; they can be retried. First errors: rows ")
    assert "could not serialize access (injected)" in job.error
    assert DailySales.objects.count() == 999 == job.rows_new
    errors = list(job_error_csv_lines(job_id=job.id))
    assert errors[1].startswith("2001,row 2001 has 2 fields; the header has 8,bad,row")
    assert "partially failed" in wait_for_uploader_email().subject
    alert = Alert.objects.get(kind="import_failed", subject=f"import #{job.id}")
    assert (alert.status, alert.severity) == ("open", "amber")

    monkeypatch.undo()
    assert job_retry_failed_chunks(job_id=job.id) == 1
    job = wait_for_finish(job.id)

    assert job.status == ImportJob.Status.PARTIALLY_FAILED  # the bad row is still rejected
    assert not job.chunks.filter(status=ImportChunk.Status.FAILED).exists()
    assert DailySales.objects.count() == 1999
    assert (job.rows_new, job.rows_rejected, job.error) == (1999, 1, "")
    alert.refresh_from_db()
    assert alert.status == "resolved", "the retry worked: the platform's failure is over"


def test_cancel_stops_the_chunks_not_started_and_retry_resumes_them(celery_worker, monkeypatch):
    real = chunks.upsert_lines
    # The first chunk writes at once; the others wait until the job is cancelled, so
    # the four worker threads hold at most four of the eleven when the cancel comes,
    # however slow the machine (a fixed sleep let every chunk start first under load).
    cancelled_now = threading.Event()
    writes = itertools.count()

    def held_upsert(*, plan, lines, rows):
        if next(writes) > 0:
            cancelled_now.wait(timeout=60)
        return real(plan=plan, lines=lines, rows=rows)

    monkeypatch.setattr(chunks, "upsert_lines", held_upsert)
    job = make_job("daily_sales", SALES_HEADER + sales_rows(12_000))
    job_queue(job_id=job.id)
    wait_for(
        lambda: job.chunks.filter(status=ImportChunk.Status.DONE).exists(),
        timeout=30,
        message="a first chunk done",
    )

    assert job_cancel(job_id=job.id)
    cancelled_now.set()
    job = wait_for_finish(job.id)

    assert job.status == ImportJob.Status.CANCELLED
    done = job.chunks.filter(status=ImportChunk.Status.DONE)
    cancelled = job.chunks.filter(status=ImportChunk.Status.CANCELLED)
    assert cancelled.exists()
    assert done.count() + cancelled.count() == 12
    assert DailySales.objects.count() == job.rows_new == 1000 * done.count()

    job_retry_failed_chunks(job_id=job.id)
    job = wait_for_finish(job.id)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert DailySales.objects.count() == 12_000 == job.rows_new


def test_redelivered_chunk_and_callback_write_and_count_nothing_twice(celery_worker):
    job = run_job(make_job("daily_sales", SALES_HEADER + sales_rows(2500)))
    before = list(job.chunks.values_list("id", "status", "rows_new", "attempts"))
    emails = len(mail.outbox)

    # The same messages delivered again, as after a worker lost with acks_late.
    for chunk_id, *_ in before:
        assert import_chunk.delay(chunk_id, "write").get(timeout=30)["status"] == "done"
    assert finish_import.delay(job.id, "write").get(timeout=30) == "succeeded"

    job.refresh_from_db()
    assert list(job.chunks.values_list("id", "status", "rows_new", "attempts")) == before
    assert (job.rows_total, job.rows_new, job.rows_updated) == (2500, 2500, 0)
    assert DailySales.objects.count() == 2500
    assert len(mail.outbox) == emails


@pytest.mark.django_db
def test_chunk_service_run_twice_counts_unchanged_rows_the_second_time():
    from tests.batches.conftest import run_inline

    job = run_inline(make_job("daily_sales", SALES_HEADER + sales_rows(1500)))
    chunk = job.chunks.get(index=1)
    # A crash after the commit but before the ack would redeliver a DONE chunk (a
    # no-op); here it is forced to run again to show the upsert writes nothing twice.
    ImportChunk.objects.filter(id=chunk.id).update(status=ImportChunk.Status.PENDING)

    summary = chunk_import(chunk_id=chunk.id)

    assert summary == {
        "chunk": chunk.id,
        "status": "done",
        "new": 0,
        "updated": 0,
        "unchanged": 500,
        "rejected": 0,
    }
    assert DailySales.objects.count() == 1500
    assert ImportRowError.objects.count() == 0
