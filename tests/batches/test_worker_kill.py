"""A real worker process killed in the middle of a chunk: the chunk runs again, once."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from django.conf import settings

from batches.models import ImportChunk, ImportJob
from batches.services.uploads import job_queue
from catalogue.models import DailySales
from tests.batches.conftest import SALES_HEADER, sales_rows
from tests.support.imports import make_job, wait_for_finish
from tests.support.processes import subprocess_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.fault]


def test_killed_pool_process_mid_chunk_is_redelivered_and_rows_are_written_once(
    worker_process,
):
    worker = worker_process(
        queues="imports",
        concurrency=2,
        env=subprocess_env(MEDIA_ROOT=settings.MEDIA_ROOT, IMPORT_CHUNK_ROWS="25000"),
    )
    job = make_job("daily_sales", SALES_HEADER + sales_rows(100_000))
    job_queue(job_id=job.id)

    running = wait_for(
        lambda: ImportChunk.objects.filter(job=job, status=ImportChunk.Status.RUNNING).first(),
        timeout=60,
        interval=0.02,
        message="a chunk running",
    )
    for child in psutil.Process(worker.pid).children(recursive=True):
        os.kill(child.pid, signal.SIGKILL)  # the pool processes, not the worker itself
    job = wait_for_finish(job.id, timeout=120)

    assert job.status == ImportJob.Status.SUCCEEDED, (job.error, worker.log()[-2000:])
    assert DailySales.objects.count() == 100_000 == job.rows_new + job.rows_unchanged
    assert job.rows_total == 100_000
    assert running.index in job.chunks.filter(status="done").values_list("index", flat=True)
    assert "WorkerLostError" in worker.log() or "exited with" in worker.log()
