"""Imports that lose their messages, kill their workers, repeat keys across chunks, or are
never confirmed: each is driven to a true end by the real services, worker and broker."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from batches.models import ImportChunk, ImportJob, ImportKey
from batches.selectors import job_error_csv_lines
from batches.services import sending
from batches.services.chunks import chunk_delivery_start, chunk_fail, chunk_import
from batches.services.control import job_retry_failed_chunks
from batches.services.finishing import job_finish
from batches.services.planning import job_plan
from batches.services.relay import RELAY_LOCK, jobs_relay, relay_tick
from batches.services.sweeps import jobs_delete_abandoned, jobs_resume_stalled
from batches.services.uploads import job_queue
from catalogue.models import DailySales
from ops.models import Alert
from tests.batches.conftest import SALES_HEADER, run_inline, sales_rows, wait_for_uploader_email
from tests.support.imports import make_job, wait_for_finish
from tests.support.processes import BASE_DIR, subprocess_env

LONG_AGO = dt.timedelta(hours=2)


def _backdate(job: ImportJob, by: dt.timedelta = LONG_AGO) -> None:
    ImportJob.objects.filter(id=job.id).update(last_progress_at=timezone.now() - by)


@pytest.fixture
def lost_chords(monkeypatch):
    """Chords sent by the services go nowhere (what a Redis restart does to them)."""
    monkeypatch.setattr(sending, "chord_start", lambda **_: None)
    return monkeypatch


def _planned_with_lost_messages(monkeypatch, content: str, **kwargs) -> ImportJob:
    monkeypatch.setattr(sending, "chord_start", lambda **_: None)
    job = make_job("daily_sales", content, **kwargs)
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)
    job_plan(job_id=job.id)
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    return job


# --- 1. a chunk that kills its worker every time ---------------------------------------------


def test_a_chunk_whose_deliveries_keep_dying_is_failed_unprocessed_and_the_job_ends_partial(
    transactional_db, lost_chords, importer, settings
):
    settings.IMPORT_CHUNK_MAX_DELIVERIES = 3
    job = make_job("daily_sales", SALES_HEADER + sales_rows(2500), user=importer)
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)
    job_plan(job_id=job.id)
    poisoned = job.chunks.get(index=1)
    for _ in range(3):  # three deliveries counted, each then killed with its worker
        assert chunk_delivery_start(chunk_id=poisoned.id) is False

    for chunk_id in job.chunks.order_by("index").values_list("id", flat=True):
        chunk_import(chunk_id=chunk_id)  # the 4th delivery of chunk 1 is refused
    chunk_import(chunk_id=poisoned.id)  # and a redelivery of it changes nothing
    job_finish(job_id=job.id)

    job.refresh_from_db()
    poisoned.refresh_from_db()
    assert poisoned.status == ImportChunk.Status.FAILED
    assert poisoned.error == "killed its worker 3 times; rows 1,002-2,001 not imported"
    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    assert job.error == (
        "1 of 3 chunks failed; they can be retried. First errors: rows 1,002-2,001: "
        "killed its worker 3 times; rows 1,002-2,001 not imported."
    )
    assert DailySales.objects.count() == 1500 == job.rows_new
    alert = Alert.objects.get(kind="import_chunk_killed_worker")
    assert alert.subject == f"import #{job.id} chunk 1"
    assert "rows 1,002-2,001 not imported" in alert.message
    assert Alert.objects.filter(kind="import_failed", subject=f"import #{job.id}").exists()
    assert "partially failed" in mail.outbox[-1].subject

    # Fixed (more memory, say): a retry runs the chunk again from a clean count.
    assert job_retry_failed_chunks(job_id=job.id) == 1
    chunk_import(chunk_id=poisoned.id)
    job_finish(job_id=job.id)
    job.refresh_from_db()
    assert (job.status, job.rows_new, DailySales.objects.count()) == ("succeeded", 2500, 2500)


def test_a_chunk_killed_fewer_times_than_the_limit_is_processed_and_its_count_reset(
    transactional_db, lost_chords, settings
):
    settings.IMPORT_CHUNK_MAX_DELIVERIES = 3
    job = make_job("daily_sales", SALES_HEADER + sales_rows(10))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)
    job_plan(job_id=job.id)
    chunk = job.chunks.get()
    for _ in range(2):
        chunk_delivery_start(chunk_id=chunk.id)

    chunk_import(chunk_id=chunk.id)  # the third delivery: within the limit

    chunk.refresh_from_db()
    assert (chunk.status, chunk.deliveries, chunk.rows_new) == ("done", 0, 10)


# --- 2. stalled imports ---------------------------------------------------------------------


def test_a_running_import_whose_chunk_messages_were_lost_is_resent_and_finishes(
    celery_worker, monkeypatch, importer
):
    job = _planned_with_lost_messages(monkeypatch, SALES_HEADER + sales_rows(2500), user=importer)
    _backdate(job)

    outcome = jobs_resume_stalled()

    assert outcome == {"requeued": [], "resent": [job.id]}
    job = wait_for_finish(job.id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_total, job.rows_new, DailySales.objects.count()) == (2500, 2500, 2500)
    assert "succeeded" in wait_for_uploader_email().subject
    assert jobs_resume_stalled() == {"requeued": []}  # nothing left to drive


def test_a_job_whose_chord_callback_was_lost_is_finished_by_the_sweep(
    transactional_db, lost_chords
):
    job = _planned_with_lost_messages(lost_chords, SALES_HEADER + sales_rows(1500))
    for chunk_id in job.chunks.values_list("id", flat=True):
        chunk_import(chunk_id=chunk_id)  # every chunk ran; the callback never came
    _backdate(job)

    assert jobs_resume_stalled() == {"requeued": [], "finished": [job.id]}
    assert jobs_resume_stalled() == {"requeued": []}

    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_new, DailySales.objects.count()) == (1500, 1500)
    assert not ImportKey.objects.filter(job_id=job.id).exists()


def test_the_sweep_leaves_a_recent_job_and_a_chunk_that_is_genuinely_running_alone(
    transactional_db, monkeypatch, settings
):
    settings.IMPORT_STALL_SECONDS = 60
    job = _planned_with_lost_messages(monkeypatch, SALES_HEADER + sales_rows(10))
    assert jobs_resume_stalled() == {"requeued": []}  # planned just now

    chunk = job.chunks.get()
    ImportChunk.objects.filter(id=chunk.id).update(
        status=ImportChunk.Status.RUNNING, started_at=timezone.now() - LONG_AGO
    )
    _backdate(job)
    locked, release = threading.Event(), threading.Event()

    def worker_holding_the_chunk():  # what chunk_import does for its whole run
        try:
            with transaction.atomic():
                ImportChunk.objects.select_for_update().get(id=chunk.id)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=worker_holding_the_chunk)
    thread.start()
    try:
        assert locked.wait(10)
        assert jobs_resume_stalled() == {"requeued": [], "running": [job.id]}
    finally:
        release.set()
        thread.join()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING


def test_an_upload_whose_planner_could_not_be_sent_stays_due_and_the_relay_sends_it(
    celery_worker, tmp_path, settings
):
    upload = tmp_path / "sales.csv"
    upload.write_text(SALES_HEADER + sales_rows(20))
    env = subprocess_env(
        MEDIA_ROOT=settings.MEDIA_ROOT, REDIS_URL="redis://127.0.0.1:9/0", REDIS_TEST_DB="0"
    )  # nothing listens on port 9: the broker is down as the upload commits

    command = subprocess.run(
        [sys.executable, "manage.py", "import_csv", "daily_sales", str(upload)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.QUEUED, command.stderr[-2000:]
    assert job.dispatch_due_at is not None
    assert "the broker is unreachable (OperationalError" in command.stderr  # logged, one line
    assert "Traceback" not in command.stderr
    ImportJob.objects.filter(id=job.id).update(dispatch_due_at=timezone.now())
    assert jobs_relay() == {}  # due for less than the grace: its own sender may still send it

    ImportJob.objects.filter(id=job.id).update(dispatch_due_at=timezone.now() - LONG_AGO)
    assert jobs_relay() == {"planner": [job.id]}
    assert jobs_relay() == {}  # sent once: no longer due

    job = wait_for_finish(job.id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.dispatch_due_at is None
    assert DailySales.objects.count() == 20


def _planned_while_the_broker_is_unreachable(monkeypatch, content: str) -> ImportJob:
    """Planned by the real planner, whose chord send finds the broker unreachable."""

    def unreachable(header):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(sending, "chord", unreachable)
    job = make_job("daily_sales", content)
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)
    job_plan(job_id=job.id)
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert job.dispatch_due_at is not None  # the chord is still due
    ImportJob.objects.filter(id=job.id).update(dispatch_due_at=timezone.now() - LONG_AGO)
    return job


def test_a_chord_the_broker_never_got_is_sent_by_the_relay(celery_worker, monkeypatch):
    job = _planned_while_the_broker_is_unreachable(monkeypatch, SALES_HEADER + sales_rows(2500))

    assert jobs_relay() == {"chunks": [job.id]}

    job = wait_for_finish(job.id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_new, job.dispatch_due_at) == (2500, None)
    assert DailySales.objects.count() == 2500


def test_the_relay_finishes_a_job_whose_chunks_all_ended_without_a_callback(
    transactional_db, monkeypatch
):
    job = _planned_while_the_broker_is_unreachable(monkeypatch, SALES_HEADER + sales_rows(1500))
    for chunk_id in job.chunks.values_list("id", flat=True):
        chunk_import(chunk_id=chunk_id)

    assert jobs_relay() == {"finished": [job.id]}
    assert jobs_relay() == {}

    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_new, job.dispatch_due_at) == (1500, None)


def test_the_relay_redrives_unfinished_imports_once_when_redis_lost_its_data(
    celery_worker, monkeypatch, clean_redis, settings
):
    # Sent, as far as PostgreSQL knows (nothing due), then lost with Redis's data: the
    # clean test Redis has no marker key, as a Redis that restarted empty has none.
    job = _planned_with_lost_messages(monkeypatch, SALES_HEADER + sales_rows(2500))
    ImportJob.objects.filter(id=job.id).update(dispatch_due_at=None)
    assert jobs_relay() == {}

    assert relay_tick(owner="test") == {"chunks": [job.id]}

    job = wait_for_finish(job.id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert DailySales.objects.count() == 2500
    clean_redis.delete(RELAY_LOCK)
    assert relay_tick(owner="test") == {}  # the marker is back: no second re-drive


def test_the_relay_sends_the_planner_again_when_a_queued_job_has_not_started(
    celery_worker, settings
):
    job = make_job("daily_sales", SALES_HEADER + sales_rows(20))
    ImportJob.objects.filter(id=job.id).update(
        status=ImportJob.Status.QUEUED, last_progress_at=timezone.now()
    )  # sent (nothing due), then lost after the broker handed it out
    assert jobs_relay() == {}  # not yet IMPORT_REQUEUE_SECONDS

    _backdate(job)
    assert jobs_relay() == {"planner": [job.id]}
    assert jobs_relay() == {}  # re-sent once per IMPORT_REQUEUE_SECONDS

    job = wait_for_finish(job.id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert DailySales.objects.count() == 20


def test_the_relay_sends_the_chunks_again_when_a_running_job_makes_no_progress(
    celery_worker, monkeypatch
):
    job = _planned_with_lost_messages(monkeypatch, SALES_HEADER + sales_rows(2500))
    ImportJob.objects.filter(id=job.id).update(
        dispatch_due_at=None, last_progress_at=timezone.now()
    )  # the chord reached the broker, then its messages were lost (a worker SIGKILLed)
    assert jobs_relay() == {}  # not yet IMPORT_REQUEUE_SECONDS without progress

    _backdate(job)
    assert jobs_relay() == {"chunks": [job.id]}
    assert jobs_relay() == {}  # re-sent once per IMPORT_REQUEUE_SECONDS

    job = wait_for_finish(job.id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert DailySales.objects.count() == 2500


def test_a_redrive_after_redis_lost_its_data_that_fails_is_tried_at_the_next_tick(
    transactional_db, clean_redis, monkeypatch
):
    from batches.services import relay

    def redis_gone_again():
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(relay, "broker_queues_declare", redis_gone_again)
    with pytest.raises(BrokerError):
        relay_tick(owner="test")
    assert not clean_redis.keys("ops:broker:marker:*")  # the loss is still to handle

    monkeypatch.undo()
    clean_redis.delete(RELAY_LOCK)
    assert relay_tick(owner="test") == {}
    assert clean_redis.keys("ops:broker:marker:*")


def test_a_queued_job_whose_planner_message_was_lost_is_sent_again_by_the_sweep(
    celery_worker, settings
):
    job = make_job("daily_sales", SALES_HEADER + sales_rows(20))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)  # sent, lost
    assert jobs_resume_stalled() == {"requeued": []}  # not yet overdue

    _backdate(job)
    assert jobs_resume_stalled() == {"requeued": [job.id]}
    assert jobs_resume_stalled() == {"requeued": []}  # re-sent once

    job = wait_for_finish(job.id)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert DailySales.objects.count() == 20


def test_planning_twice_is_a_no_op(transactional_db, lost_chords):
    job = make_job("daily_sales", SALES_HEADER + sales_rows(1500))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)

    assert job_plan(job_id=job.id) == ImportJob.Status.RUNNING
    assert job_plan(job_id=job.id) == ImportJob.Status.RUNNING

    assert job.chunks.count() == 2


# --- 4. duplicate keys across chunks --------------------------------------------------------


def _with_duplicate_across_chunks() -> str:
    rows = sales_rows(2500).splitlines(keepends=True)
    rows[1800] = rows[10]  # row 1802 repeats row 12's key (chunk 1 vs chunk 0)
    return SALES_HEADER + "".join(rows)


def test_a_key_repeated_in_another_chunk_is_rejected_naming_the_other_row(celery_worker):
    job = make_job("daily_sales", _with_duplicate_across_chunks())

    job_queue(job_id=job.id)
    job = wait_for_finish(job.id)

    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    assert (job.rows_new, job.rows_rejected, DailySales.objects.count()) == (2499, 1, 2499)
    error = job.row_errors.get()
    kept, dropped = sorted([12, 1802], key=lambda n: n == error.row_number)
    assert error.row_number == dropped
    assert error.message == (
        f"row {dropped}: duplicate key (day, store_code, sku) = (2026-11-01, S010, SKU-00000) "
        f"also on row {kept}"
    )
    assert error.column == "day, store_code, sku"
    assert list(job_error_csv_lines(job_id=job.id))[1].startswith(
        f'{dropped},"row {dropped}: duplicate key'
    )
    assert not ImportKey.objects.filter(job_id=job.id).exists()  # cleaned when finished


def test_all_or_nothing_refuses_a_file_with_a_key_repeated_across_chunks(
    transactional_db, lost_chords
):
    job = make_job("daily_sales", _with_duplicate_across_chunks(), mode="all_or_nothing")

    job = run_inline(job)

    assert job.status == ImportJob.Status.FAILED
    assert job.error == "All or nothing: 1 rows rejected; nothing was written."
    assert job.row_errors.get().row_number == 1802
    assert DailySales.objects.count() == 0


def test_all_or_nothing_write_phase_finds_its_own_claims_not_duplicates(
    transactional_db, lost_chords
):
    job = make_job("daily_sales", SALES_HEADER + sales_rows(2500), mode="all_or_nothing")

    job = run_inline(job)  # validate claims every key; the write phase meets them again

    assert (job.status, job.rows_new, job.rows_rejected) == ("succeeded", 2500, 0)
    assert DailySales.objects.count() == 2500


def test_claims_of_a_job_with_failed_chunks_are_kept_for_its_retry(transactional_db, lost_chords):
    job = _planned_with_lost_messages(lost_chords, _with_duplicate_across_chunks())
    lost_chords.setattr(sending, "chord_start", lambda **_: None)
    first, second, third = job.chunks.order_by("index")
    chunk_import(chunk_id=first.id)
    chunk_fail(chunk_id=second.id, error="OperationalError: server closed")
    chunk_import(chunk_id=third.id)
    job_finish(job_id=job.id)
    assert ImportKey.objects.filter(job_id=job.id).count() == 1500  # chunks 0 and 2

    job_retry_failed_chunks(job_id=job.id)
    chunk_import(chunk_id=second.id)
    job_finish(job_id=job.id)

    job.refresh_from_db()
    assert (job.rows_new, job.rows_rejected) == (2499, 1)
    assert job.row_errors.get().message.endswith("also on row 12")
    assert not ImportKey.objects.filter(job_id=job.id).exists()


# --- 5. abandoned uploads -------------------------------------------------------------------


def test_uploads_never_confirmed_are_deleted_with_their_file_after_the_ttl(
    transactional_db, settings
):
    settings.IMPORT_PENDING_TTL_HOURS = 24
    old = make_job("daily_sales", SALES_HEADER + sales_rows(5))
    recent = make_job("daily_sales", SALES_HEADER + sales_rows(5))
    confirmed = make_job("daily_sales", SALES_HEADER + sales_rows(5))
    ImportJob.objects.filter(id__in=[old.id, confirmed.id]).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    ImportJob.objects.filter(id=confirmed.id).update(status=ImportJob.Status.QUEUED)
    assert default_storage.exists(old.file)

    assert jobs_delete_abandoned() == {"deleted": [old.id], "keys": 0}
    assert jobs_delete_abandoned() == {"deleted": [], "keys": 0}

    assert not ImportJob.objects.filter(id=old.id).exists()
    assert not default_storage.exists(old.file)
    assert set(ImportJob.objects.values_list("id", flat=True)) == {recent.id, confirmed.id}
    assert default_storage.exists(recent.file)
    assert default_storage.exists(confirmed.file)


@pytest.mark.parametrize("task_name", ["resume_stalled_imports", "delete_abandoned_uploads"])
def test_the_sweeps_run_as_tasks_on_the_worker(celery_worker, task_name):
    from batches import tasks

    result = getattr(tasks, task_name).delay()

    assert isinstance(result.get(timeout=30), dict)
