"""Imports under fault: real subprocess workers killed, stopped and starved, real Redis
and PostgreSQL. Each scenario ends with `assert_import_truth`: every CSV row is in the
table exactly once or reported rejected, no job or chunk is left running, and the
admin page shows the job's true status."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from batches.models import ImportChunk, ImportJob
from batches.services.chunks import chunk_import
from batches.services.finishing import job_finish
from batches.services.planning import job_plan
from batches.services.uploads import job_queue
from catalogue.models import DailySales
from tests.reliability.conftest import FAULT_TASKS, assert_import_truth
from tests.reliability.faulty import DIE_ONCE_DAY, POISON_DAY, SLOW_DAY, deliveries, sales_csv
from tests.support.imports import make_job, wait_for_finish
from tests.support.processes import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def _pool_children(worker) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def _chunk_status(job_id: int, index: int) -> str | None:
    return (
        ImportChunk.objects.filter(job_id=job_id, index=index)
        .values_list("status", flat=True)
        .first()
    )


def test_sigkill_of_the_pool_process_mid_chunk_redelivers_it_and_no_row_is_lost_or_doubled(
    worker_process, fault_env, admin_client
):
    worker = worker_process(queues="imports", concurrency=1, env=fault_env, extra_args=FAULT_TASKS)
    job = make_job("fault_sales", sales_csv(30, faults={15: SLOW_DAY}))  # chunk 1 sleeps on row 15
    job_queue(job_id=job.id)
    wait_for(lambda: deliveries(SLOW_DAY) == 1, timeout=30, message="chunk 1 to reach its slow row")
    assert _chunk_status(job.id, 1) == ImportChunk.Status.RUNNING

    for pid in _pool_children(worker):
        os.kill(pid, signal.SIGKILL)  # what the OOM killer does

    job = wait_for_finish(job.id, timeout=60)
    assert deliveries(SLOW_DAY) == 2  # redelivered once, not lost, not run a third time
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.rows_new == 30
    assert_import_truth(admin_client, job, rows=30)


def test_a_chunk_that_kills_its_worker_once_is_redelivered_and_completes(
    worker_process, fault_env, admin_client
):
    worker_process(queues="imports", concurrency=1, env=fault_env, extra_args=FAULT_TASKS)
    job = make_job("fault_sales", sales_csv(20, faults={3: DIE_ONCE_DAY}))
    job_queue(job_id=job.id)

    job = wait_for_finish(job.id, timeout=60)
    assert deliveries(DIE_ONCE_DAY) == 2
    assert job.status == ImportJob.Status.SUCCEEDED
    assert_import_truth(admin_client, job, rows=20)


def test_a_chunk_that_kills_its_worker_every_time_fails_after_bounded_deliveries_and_alerts(
    worker_process, fault_env, admin_client
):
    from ops.models import Alert

    fault_env["IMPORT_CHUNK_MAX_DELIVERIES"] = "3"
    worker_process(queues="imports", concurrency=1, env=fault_env, extra_args=FAULT_TASKS)
    job = make_job("fault_sales", sales_csv(30, faults={14: POISON_DAY}))  # poisons chunk 1 of 3
    job_queue(job_id=job.id)

    def finished_or_looping():
        job.refresh_from_db()
        return job.finished_at is not None or deliveries(POISON_DAY) > 4

    wait_for(finished_or_looping, timeout=90, message="the import to end or loop")
    assert deliveries(POISON_DAY) == 3, "the poisoned chunk is delivered again and again"
    job = wait_for_finish(job.id, timeout=10)
    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    poisoned = job.chunks.get(index=1)
    assert poisoned.status == ImportChunk.Status.FAILED
    assert "3 times" in poisoned.error
    assert DailySales.objects.count() == 20  # the other two chunks, each row once
    assert job.rows_new == 20
    alert = Alert.objects.get(kind="import_failed", subject=f"import #{job.id}")
    assert alert.status == Alert.Status.OPEN
    page = admin_client.get(f"/admin/batches/importjob/{job.id}/change/", follow=True).content
    assert b'<strong id="status">partially failed</strong>' in page
    assert b"3 times" in page


def test_sigterm_with_chunks_and_a_report_retry_reserved_restores_them_and_each_completes_once(
    worker_process, fault_env, smtp_server, admin_client
):
    import datetime as dt

    from reporting.models import ReportRun
    from reporting.services import report_definition_create, report_run_create

    env = {
        **fault_env,
        "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
        "RELIABILITY_SMTP_PORT": str(smtp_server.port),
        "REPORTING_SEND_RETRY_BACKOFF": "8",
        "REPORTING_SEND_RETRY_BACKOFF_MAX": "8",
    }
    smtp_server.refuse = 1  # the first attempt fails: a retry is scheduled (ETA message)
    definition = report_definition_create(name="Daily", to_recipients="ceo@example.com")
    run = report_run_create(
        definition=definition, business_date=dt.date(2026, 11, 20), kind=ReportRun.Kind.MANUAL
    )
    first = worker_process(queues="imports,reports", concurrency=2, env=env, extra_args=FAULT_TASKS)
    wait_for(lambda: smtp_server.refusals == 1, timeout=30, message="the refused first send")
    job = make_job("fault_sales", sales_csv(40, faults={5: SLOW_DAY}))
    job_queue(job_id=job.id)
    wait_for(lambda: deliveries(SLOW_DAY) == 1, timeout=30, message="chunk 0 running")

    first.signal(signal.SIGTERM)  # a deploy: warm shutdown
    first.process.wait(timeout=30)
    assert "Restoring" in first.log() or ImportJob.objects.get(id=job.id).finished_at is None
    worker_process(queues="imports,reports", concurrency=2, env=env, extra_args=FAULT_TASKS)

    job = wait_for_finish(job.id, timeout=60)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert deliveries(SLOW_DAY) == 1  # the running chunk finished before the worker left
    assert_import_truth(admin_client, job, rows=40)
    wait_for(
        lambda: ReportRun.objects.get(id=run.id).status == ReportRun.Status.SENT,
        timeout=30,
        message="the report to be sent after the restart",
    )
    assert len(smtp_server.messages) == 1  # exactly once
    page = admin_client.get(f"/admin/reporting/reportrun/{run.id}/change/").content.decode()
    assert "sent" in page


def test_a_chunk_message_delivered_again_while_it_runs_waits_and_writes_nothing_twice(
    worker_process, fault_env, admin_client
):
    from batches.tasks import import_chunk

    worker_process(queues="imports", concurrency=3, env=fault_env, extra_args=FAULT_TASKS)
    job = make_job("fault_sales", sales_csv(30, faults={5: SLOW_DAY}))
    job_queue(job_id=job.id)
    wait_for(lambda: deliveries(SLOW_DAY) == 1, timeout=30, message="chunk 0 running")
    chunk = job.chunks.get(index=0)

    # What a visibility-timeout redelivery does: the same chunk, in parallel.
    duplicate = import_chunk.delay(chunk.id, "write")

    assert duplicate.get(timeout=30)["status"] == ImportChunk.Status.DONE
    job = wait_for_finish(job.id, timeout=30)
    assert deliveries(SLOW_DAY) == 1  # the duplicate waited for the row lock, then did nothing
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.rows_new == 30
    assert_import_truth(admin_client, job, rows=30)


def test_a_chord_body_run_early_and_again_leaves_the_totals_right(fault_env, admin_client):
    # The services in the order a misbehaving transport could run them: the Redis chord
    # counter counts a header task that ran twice, so the body can fire before the
    # last chunk has finished, and fires again at the real end.
    job = make_job("fault_sales", sales_csv(30))
    job_queue(job_id=job.id)
    job_plan(job_id=job.id)
    first, *rest = job.chunks.order_by("index").values_list("id", flat=True)
    chunk_import(chunk_id=first)

    job_finish(job_id=job.id)  # early: two chunks not run yet
    for chunk_id in rest:
        chunk_import(chunk_id=chunk_id)
    job_finish(job_id=job.id)  # the real end
    job_finish(job_id=job.id)  # and a redelivery of it

    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_total, job.rows_new) == (30, 30)
    assert_import_truth(admin_client, job, rows=30)


def test_a_chunk_past_its_time_limit_is_stopped_and_recorded_as_failed(
    worker_process, fault_env, admin_client
):
    env = {**fault_env, "RELIABILITY_CHUNK_SOFT_LIMIT": "1", "RELIABILITY_SLOW_SECONDS": "6"}
    worker_process(queues="imports", concurrency=2, env=env, extra_args=FAULT_TASKS)
    job = make_job("fault_sales", sales_csv(20, faults={12: SLOW_DAY}))
    job_queue(job_id=job.id)

    job = wait_for_finish(job.id, timeout=30)
    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    stopped = job.chunks.get(index=1)
    assert stopped.status == ImportChunk.Status.FAILED
    assert stopped.error == "the chunk ran past its time limit"
    assert deliveries(SLOW_DAY) == 1  # stopped, recorded, not run again
    assert DailySales.objects.count() == 10  # chunk 0; chunk 1 rolled back, nothing half-written
    page = admin_client.get(f"/admin/batches/importjob/{job.id}/change/", follow=True).content
    assert b"the chunk ran past its time limit" in page
    assert b'<strong id="status">partially failed</strong>' in page


def test_different_chunks_of_one_import_run_in_parallel(worker_process, fault_env):
    worker_process(queues="imports", concurrency=2, env=fault_env, extra_args=FAULT_TASKS)
    # Chunks 1 and 2: the planner writes chunk 0 itself before it sends the others.
    job = make_job("fault_sales", sales_csv(30, faults={13: SLOW_DAY, 23: SLOW_DAY}))
    job_queue(job_id=job.id)

    wait_for(lambda: deliveries(SLOW_DAY) == 2, timeout=30, message="both slow rows reached")

    assert not job.chunks.filter(index__in=[1, 2], status=ImportChunk.Status.DONE).exists()
    assert wait_for_finish(job.id, timeout=30).status == ImportJob.Status.SUCCEEDED
