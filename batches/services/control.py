"""What a person does to a job: cancel it, retry its failed chunks."""

from __future__ import annotations

from django.db import transaction

from batches.models import ImportChunk, ImportJob
from batches.services import sending
from batches.services.transitions import job_mark_cancelled, job_mark_running

Phase = ImportJob.Phase


@transaction.atomic
def job_cancel(*, job_id: int) -> bool:
    """Stop a job: chunks not yet started are skipped; rows already committed stay."""
    job = ImportJob.objects.select_for_update().get(id=job_id)
    if job.is_finished:
        return False
    job_mark_cancelled(job=job)
    return True


@transaction.atomic
def job_retry_failed_chunks(*, job_id: int) -> int:
    """Re-run only the failed (and cancelled) chunks of a finished job; returns how many."""
    job = ImportJob.objects.select_for_update().get(id=job_id)
    if not job.is_finished or job.finished_at is None:
        return 0  # still running (a cancelled job finishes when its chord callback runs)
    retry = job.chunks.filter(status__in=[ImportChunk.Status.FAILED, ImportChunk.Status.CANCELLED])
    chunk_ids = list(retry.order_by("index").values_list("id", flat=True))
    if not chunk_ids:
        return 0
    all_or_nothing = job.mode == ImportJob.Mode.ALL_OR_NOTHING
    phase = (
        Phase.VALIDATE
        if all_or_nothing and not job.chunks.filter(status=ImportChunk.Status.DONE).exists()
        else Phase.WRITE
    )
    retry.update(status=ImportChunk.Status.PENDING, error="", finished_at=None, deliveries=0)
    job_mark_running(job=job, phase=phase)
    due = job.dispatch_due_at
    transaction.on_commit(
        lambda: sending.chord_start(job_id=job_id, chunk_ids=chunk_ids, phase=phase, due=due)
    )
    return len(chunk_ids)
