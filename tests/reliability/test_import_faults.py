"""Imports under fault: real subprocess workers killed, stopped and starved, real Redis
and PostgreSQL. Each scenario ends with `assert_import_truth`: every CSV row is in the
table exactly once or reported rejected, no job or chunk is left running, and the
admin page shows the job's true status."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from batches import services
from batches.models import ImportChunk, ImportJob
from catalogue.models import DailySales
from tests.reliability.conftest import FAULT_TASKS, assert_import_truth, make_job, wait_finished
from tests.reliability.faulty import DIE_ONCE_DAY, POISON_DAY, SLOW_DAY, deliveries, sales_csv
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
    job = make_job(sales_csv(30, faults={15: SLOW_DAY}))  # chunk 1 sleeps on row 15
    services.job_queue(job_id=job.id)
    wait_for(lambda: deliveries(SLOW_DAY) == 1, timeout=30, message="chunk 1 to reach its slow row")
    assert _chunk_status(job.id, 1) == ImportChunk.Status.RUNNING

    for pid in _pool_children(worker):
        os.kill(pid, signal.SIGKILL)  # what the OOM killer does

    job = wait_finished(job.id, timeout=60)
    assert deliveries(SLOW_DAY) == 2  # redelivered once, not lost, not run a third time
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.rows_new == 30
    assert_import_truth(admin_client, job, rows=30)


def test_a_chunk_that_kills_its_worker_once_is_redelivered_and_completes(
    worker_process, fault_env, admin_client
):
    worker_process(queues="imports", concurrency=1, env=fault_env, extra_args=FAULT_TASKS)
    job = make_job(sales_csv(20, faults={3: DIE_ONCE_DAY}))
    services.job_queue(job_id=job.id)

    job = wait_finished(job.id, timeout=60)
    assert deliveries(DIE_ONCE_DAY) == 2
    assert job.status == ImportJob.Status.SUCCEEDED
    assert_import_truth(admin_client, job, rows=20)


@pytest.mark.xfail(
    strict=True,
    reason="batches has no delivery counter: import_chunk (acks_late, reject_on_worker_lost) "
    "is redelivered forever when its chunk kills the pool process; ImportChunk.attempts only "
    "counts finished runs",
)
def test_a_chunk_that_kills_its_worker_every_time_fails_after_bounded_deliveries_and_alerts(
    worker_process, fault_env, admin_client
):
    from ops.models import Alert

    fault_env["IMPORT_CHUNK_MAX_DELIVERIES"] = "3"
    worker_process(queues="imports", concurrency=1, env=fault_env, extra_args=FAULT_TASKS)
    job = make_job(sales_csv(30, faults={14: POISON_DAY}))  # poisons chunk 1 of 3
    services.job_queue(job_id=job.id)

    def finished_or_looping():
        job.refresh_from_db()
        return job.finished_at is not None or deliveries(POISON_DAY) > 4

    wait_for(finished_or_looping, timeout=90, message="the import to end or loop")
    assert deliveries(POISON_DAY) == 3, "the poisoned chunk is delivered again and again"
    job = wait_finished(job.id, timeout=10)
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
