"""The chord callback: a job's totals from its chunk rows, and how it ended."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models import Count, Q, Sum

from batches.models import ImportChunk, ImportJob, ImportKey
from batches.selectors import job_chunk_errors
from batches.services import sending
from batches.services.transitions import job_mark_ended, job_mark_running

Phase = ImportJob.Phase
Status = ImportJob.Status
TOTALS = ["rows_new", "rows_updated", "rows_unchanged", "rows_rejected"]


def job_finish(*, job_id: int, phase: str = Phase.WRITE) -> str:
    """Chord callback: totals from the chunk rows, final status, email; idempotent.

    Computed from the chunk rows, never from the chord's results, so a redelivered
    callback neither recounts nor emails twice (it finds `finished_at` set).
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(id=job_id)
        if job.finished_at is not None:
            return job.status  # redelivered callback: already finished and notified
        if phase != job.phase:
            # A stale callback of the validate chord (a redelivery, or the stall sweep's
            # resent chord) after the write phase began: that phase's callback finishes.
            return job.status
        chunks = job.chunks.aggregate(
            new=Sum("rows_new"),
            updated=Sum("rows_updated"),
            unchanged=Sum("rows_unchanged"),
            rejected=Sum("rows_rejected"),
            failed=Count("id", filter=Q(status=ImportChunk.Status.FAILED)),
            unfinished=Count(
                "id",
                filter=Q(status__in=[ImportChunk.Status.PENDING, ImportChunk.Status.RUNNING]),
            ),
            total=Count("id"),
        )
        job.rows_new = chunks["new"] or 0
        job.rows_updated = chunks["updated"] or 0
        job.rows_unchanged = chunks["unchanged"] or 0
        job.rows_rejected = chunks["rejected"] or 0
        failed = chunks["failed"]
        cancelled = job.status == Status.CANCELLED
        if chunks["unfinished"] and not cancelled:
            # Another chord over some of these chunks is still running (a retry):
            # its callback will finish the job.
            return job.status
        if not cancelled and phase == Phase.VALIDATE and not (failed or job.rows_rejected):
            _write_phase_start(job)
            return job.status
        status, error = job.status, None
        if cancelled:
            pass  # stays cancelled; gets its totals and finish time
        elif phase == Phase.VALIDATE:
            status = Status.FAILED
            error = (
                f"All or nothing: {job.rows_rejected:,} rows rejected"
                + (f" and {failed} chunks failed" if failed else "")
                + "; nothing was written."
            )
        elif failed and failed == chunks["total"]:
            status = Status.FAILED
            error = "Every chunk failed. " + _first_errors(job_id, failed)
        elif failed or job.rows_rejected:
            status = Status.PARTIALLY_FAILED
            if failed:
                error = (
                    f"{failed} of {chunks['total']} chunks failed; they can be retried. "
                    + _first_errors(job_id, failed)
                )
        else:
            status = Status.SUCCEEDED
        retryable = job.chunks.filter(
            status__in=[ImportChunk.Status.FAILED, ImportChunk.Status.CANCELLED]
        ).exists()
        if not retryable:
            # Kept while failed chunks can be retried, so a retry still sees the keys
            # of the rows already written; jobs_delete_abandoned drops them later.
            # Otherwise dropped once the job's end is committed: the user sees the
            # result without waiting for the DELETE (about 0.5 s a million rows), and
            # a DELETE that fails is left to jobs_delete_abandoned as well.
            transaction.on_commit(partial(_claims_drop, job_id), robust=True)
        job_mark_ended(job=job, status=status, error=error, fields=TOTALS)
        return job.status


def _claims_drop(job_id: int) -> None:
    ImportKey.objects.filter(job_id=job_id).delete()


def _first_errors(job_id: int, failed: int) -> str:
    shown = job_chunk_errors(job_id=job_id)
    more = f" (and {failed - len(shown)} more chunks)" if failed > len(shown) else ""
    return "First errors: " + "; ".join(shown) + more + "."


def _write_phase_start(job: ImportJob) -> None:
    """All or nothing, every row valid: run the chunks again, writing this time."""
    job.chunks.update(status=ImportChunk.Status.PENDING, finished_at=None, deliveries=0)
    job_mark_running(job=job, phase=Phase.WRITE, fields=TOTALS)
    job_id = job.id
    chunk_ids = list(job.chunks.order_by("index").values_list("id", flat=True))
    due = job.dispatch_due_at
    transaction.on_commit(
        lambda: sending.chord_start(job_id=job_id, chunk_ids=chunk_ids, phase=Phase.WRITE, due=due)
    )
