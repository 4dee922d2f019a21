"""Sweeps run by beat: drive imports whose messages were lost, drop abandoned uploads."""

from __future__ import annotations

import datetime as dt
import functools
import logging

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from batches.models import ImportChunk, ImportJob, ImportKey
from batches.services import sending
from batches.services.finishing import job_finish
from batches.services.notifications import job_alert_chord_lost

logger = logging.getLogger(__name__)


def jobs_resume_stalled() -> dict:
    """Drive imports whose messages were lost to completion; safe to run at any time.

    - QUEUED longer than IMPORT_REQUEUE_SECONDS (its message was lost): send
      `plan_import` again; planning a job twice is a no-op. The relay
      (`batches.services.relay`) does the same within seconds; this is the net for a
      deployment whose workers run no relay.
    - RUNNING (or cancelled, not finished) with no progress for IMPORT_STALL_SECONDS:
      see `job_resume`.
    """
    now = timezone.now()
    requeue_before = now - dt.timedelta(seconds=settings.IMPORT_REQUEUE_SECONDS)
    requeued = []
    queued = ImportJob.objects.filter(status=ImportJob.Status.QUEUED).filter(
        Q(last_progress_at__lt=requeue_before)
        | Q(last_progress_at__isnull=True, created_at__lt=requeue_before)
    )
    for job_id in queued.values_list("id", flat=True)[:500]:
        # The conditional update claims the re-send: overlapping sweeps send it once.
        claimed = (
            ImportJob.objects.filter(id=job_id, status=ImportJob.Status.QUEUED)
            .filter(Q(last_progress_at__lt=requeue_before) | Q(last_progress_at__isnull=True))
            .update(last_progress_at=now)
        )
        if claimed:
            logger.warning(
                "import #%s queued since before %s: sending its planner again",
                job_id,
                requeue_before.isoformat(),
            )
            sending.plan_send(job_id=job_id)
            requeued.append(job_id)
    stall_before = now - dt.timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    stalled = ImportJob.objects.filter(
        status__in=[ImportJob.Status.RUNNING, ImportJob.Status.CANCELLED],
        finished_at__isnull=True,
        last_progress_at__lt=stall_before,
    )
    outcomes: dict[str, list[int]] = {}
    for job_id in stalled.values_list("id", flat=True)[:500]:
        outcomes.setdefault(job_resume(job_id=job_id), []).append(job_id)
    return {"requeued": requeued, **outcomes}


def job_resume(*, job_id: int) -> str:
    """Re-drive one stalled job: re-send its lost chunks, or finish it.

    A chunk being processed holds its row lock for its whole run, so the chunks
    `skip_locked` leaves out are genuinely running and are left alone; an unlocked
    chunk still PENDING, or RUNNING since before the stall cut-off, lost its message
    (or its worker) and is sent again, in a new chord whose callback finishes the
    job. A duplicate delivery of a chunk waits for its lock and then does nothing.
    If every chunk has ended but the job has not (the chord callback was lost, e.g.
    its counter lived in a Redis that restarted), the job is finished here.
    Returns what it did: "resent", "finished", "running" or "busy".
    """
    stall_before = timezone.now() - dt.timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True)
            .filter(id=job_id, finished_at__isnull=True, last_progress_at__lt=stall_before)
            .first()
        )
        if job is None:
            return "busy"  # finishing, being cancelled, progressed, or another sweep has it
        phase = job.phase
        open_chunks = job.chunks.filter(
            status__in=[ImportChunk.Status.PENDING, ImportChunk.Status.RUNNING]
        )
        if open_chunks.exists():
            lost = list(
                open_chunks.select_for_update(skip_locked=True)
                .filter(
                    Q(status=ImportChunk.Status.PENDING)
                    | Q(started_at__isnull=True)
                    | Q(started_at__lt=stall_before)
                )
                .order_by("index")
                .values_list("id", flat=True)
            )
            if not lost:
                return "running"
            job.last_progress_at = job.dispatch_due_at = timezone.now()
            job.save(update_fields=["last_progress_at", "dispatch_due_at"])
            due = job.dispatch_due_at
            logger.warning(
                "import #%s made no progress since %s: sending %s chunks again",
                job_id, stall_before.isoformat(), len(lost),
            )  # fmt: skip
            transaction.on_commit(
                lambda: sending.chord_start(job_id=job_id, chunk_ids=lost, phase=phase, due=due)
            )
            return "resent"
    logger.warning("import #%s: every chunk ended but the job did not; finishing it", job_id)
    job_finish(job_id=job_id, phase=phase)
    job_alert_chord_lost(job=ImportJob.objects.get(id=job_id))
    return "finished"


def jobs_delete_abandoned() -> dict:
    """Delete uploads previewed but never confirmed, with their files, after the TTL.

    Also drops the duplicate-key claims of jobs finished that long ago (kept while
    their failed chunks could be retried).
    """
    before = timezone.now() - dt.timedelta(hours=settings.IMPORT_PENDING_TTL_HOURS)
    deleted = []
    abandoned = ImportJob.objects.filter(status=ImportJob.Status.PENDING, created_at__lt=before)
    for job_id in abandoned.values_list("id", flat=True)[:1000]:
        with transaction.atomic():
            job = (
                ImportJob.objects.select_for_update(skip_locked=True)
                .filter(id=job_id, status=ImportJob.Status.PENDING)
                .first()
            )
            if job is None:
                continue  # confirmed (queued) meanwhile, or another clean-up has it
            path = job.file
            job.delete()
            transaction.on_commit(functools.partial(_upload_delete, path))
        deleted.append(job_id)
    if deleted:
        logger.info("deleted %s abandoned uploads: %s", len(deleted), deleted)
    keys, _ = ImportKey.objects.filter(job__finished_at__lt=before).delete()
    return {"deleted": deleted, "keys": keys}


def _upload_delete(path: str) -> None:
    # Only files the upload form stored: an inbox file's archive copy is kept.
    if path.startswith(f"{settings.IMPORT_UPLOAD_DIR}/") and default_storage.exists(path):
        default_storage.delete(path)
