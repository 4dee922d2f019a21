"""Every change of `ImportJob.status`: one function per transition, nowhere else.

    PENDING ──job_mark_queued──> QUEUED ──job_mark_running──> RUNNING
    RUNNING ──job_mark_ended──> SUCCEEDED | PARTIALLY_FAILED | FAILED
    any not finished ──job_mark_cancelled──> CANCELLED (its callback still ends it)
    finished ──job_mark_running──> RUNNING (retry of failed chunks; also the switch
    from the validate to the write phase, which keeps the status)
    PENDING | QUEUED ──job_mark_ended(FAILED)──> FAILED (a file that cannot be planned
    or taken)

The caller holds the job's row lock (`select_for_update`) and its transaction; the
functions write only the fields they name. A transition that needs a message sent
(QUEUED: the planner; RUNNING: a chord) sets `dispatch_due_at` in the same write, so
PostgreSQL holds the request until the send clears it (`batches.services.sending`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from batches.models import ImportChunk, ImportJob
from batches.services.notifications import job_alert_ended, job_email_uploader

Status = ImportJob.Status


def job_mark_queued(*, job_id: int) -> dt.datetime | None:
    """PENDING -> QUEUED by a conditional update: only one caller wins and gets the
    time its planner became due (None for the others)."""
    now = timezone.now()
    won = ImportJob.objects.filter(id=job_id, status=Status.PENDING).update(
        status=Status.QUEUED, last_progress_at=now, dispatch_due_at=now
    )
    return now if won else None


def job_mark_running(*, job: ImportJob, phase: str, fields: Iterable[str] = ()) -> None:
    """QUEUED (planned) or finished (retried) -> RUNNING in `phase`; `fields` are the
    caller's other changes to the job, saved with it. The caller starts a chord on
    commit: it is due from now."""
    now = timezone.now()
    job.dispatch_due_at = now
    job.status = Status.RUNNING
    job.phase = phase
    job.started_at = job.started_at or now
    job.finished_at = None
    job.error = ""
    job.last_progress_at = now
    job.save(
        update_fields=[
            "status", "phase", "started_at", "finished_at", "error", "last_progress_at",
            "dispatch_due_at", *fields,
        ]
    )  # fmt: skip


def job_mark_ended(
    *, job: ImportJob, status: str, error: str | None = None, fields: Iterable[str] = ()
) -> None:
    """-> a finished status (a cancelled job keeps CANCELLED and gets its finish time).

    A platform failure's alert is raised in this transaction (nobody sees such a failed
    job without it), or a retried job's alert resolved; the uploader's email goes after
    the commit. `error` None keeps the job's.
    """
    job.status = status
    if error is not None:
        job.error = error
    job.finished_at = timezone.now()
    job.started_at = job.started_at or job.finished_at
    job.dispatch_due_at = None  # a finished job needs no message
    job.save(
        update_fields=["status", "error", "finished_at", "started_at", "dispatch_due_at", *fields]
    )
    job_alert_ended(job=job)
    transaction.on_commit(functools.partial(job_email_uploader, job_id=job.id))


def job_mark_cancelled(*, job: ImportJob) -> None:
    """-> CANCELLED; chunks not started are cancelled, running ones finish.

    A running job is finished by its chord callback; one that never started is
    finished here (no chord will run).
    """
    now = timezone.now()
    running = job.status == Status.RUNNING
    job.status = Status.CANCELLED
    if not running:
        job.finished_at = now
        job.dispatch_due_at = None
    job.save(update_fields=["status", "finished_at", "dispatch_due_at"])
    job.chunks.filter(status=ImportChunk.Status.PENDING).update(
        status=ImportChunk.Status.CANCELLED, finished_at=now
    )
