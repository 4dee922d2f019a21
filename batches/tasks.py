"""Celery entry points of the import pipeline; each calls one service.

The services never import this module: they send these tasks by name
(`batches.services.sending`), so the import graph stays one-way.

Chunk tasks never raise into the chord: with the Redis result backend a failed
header task turns the callback into a ChordError and the import would never be
finished or reported. A chunk retries database errors with backoff, then records
itself as failed and returns, so `finish_import` always runs and reports it.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError

from batches.services.chunks import (
    chunk_delivery_end,
    chunk_fail,
    chunk_failure_text,
    chunk_import,
)
from batches.services.finishing import job_finish
from batches.services.inbox import inbox_scan
from batches.services.planning import job_plan
from batches.services.sweeps import jobs_delete_abandoned, jobs_resume_stalled
from schedules.locking import PeriodicOnceTask

logger = logging.getLogger(__name__)

RETRYABLE = (OperationalError, InterfaceError)


@shared_task(
    name="batches.plan_import",
    # Nobody reads the planner's result; tracking it would also make the send subscribe
    # to the result backend first, which fails differently (and for good, in a web
    # process) when Redis is down, instead of the broker's OperationalError.
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=900,
    time_limit=960,
    autoretry_for=RETRYABLE,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def plan_import(job_id: int) -> str:
    return job_plan(job_id=job_id)


@shared_task(
    bind=True,
    name="batches.import_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=1500,
    time_limit=1560,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=10,
)
def import_chunk(self, chunk_id: int, phase: str = "write", tried: int = 0) -> dict:
    # `tried`: tries made before this task (the planner's try of the first chunk).
    retries = self.request.retries + tried
    try:
        return chunk_import(chunk_id=chunk_id, phase=phase)
    except RETRYABLE as exc:
        if retries < settings.IMPORT_CHUNK_MAX_RETRIES:
            countdown = get_exponential_backoff_interval(
                factor=1, retries=retries, maximum=120, full_jitter=True
            )
            logger.warning("chunk %s: %s; retrying in %ss", chunk_id, exc, countdown)
            try:
                chunk_delivery_end(chunk_id=chunk_id)  # ended alive: not a poison delivery
            except RETRYABLE:
                # The database is still going away (a restart takes seconds): scheduling
                # the retry matters more than the counter, which then counts this
                # delivery once towards the poison limit.
                logger.warning("chunk %s: delivery count not reset; retrying anyway", chunk_id)
            raise self.retry(exc=exc, countdown=countdown) from exc
        logger.exception("chunk %s failed for good after %s retries", chunk_id, retries)
        return chunk_fail(chunk_id=chunk_id, error=chunk_failure_text(exc, retries=retries))
    except SoftTimeLimitExceeded:
        return chunk_fail(chunk_id=chunk_id, error="the chunk ran past its time limit")
    except Exception as exc:
        # Not a transient database error: retrying would fail the same way.
        logger.exception("chunk %s failed", chunk_id)
        return chunk_fail(chunk_id=chunk_id, error=chunk_failure_text(exc))


@shared_task(
    name="batches.finish_import",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=150,
    autoretry_for=RETRYABLE,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=10,
)
def finish_import(job_id: int, phase: str = "write") -> str:
    return job_finish(job_id=job_id, phase=phase)


@shared_task(
    base=PeriodicOnceTask,
    name="batches.scan_inbox",
    once={"graceful": True},
    soft_time_limit=600,
    time_limit=660,
)
def scan_inbox() -> list[int]:
    return inbox_scan()


@shared_task(
    base=PeriodicOnceTask,
    name="batches.resume_stalled_imports",
    once={"graceful": True},
    soft_time_limit=240,
    time_limit=300,
)
def resume_stalled_imports() -> dict:
    return jobs_resume_stalled()


@shared_task(
    base=PeriodicOnceTask,
    name="batches.delete_abandoned_uploads",
    once={"graceful": True},
    soft_time_limit=300,
    time_limit=360,
)
def delete_abandoned_uploads() -> dict:
    return jobs_delete_abandoned()
