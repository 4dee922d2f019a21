"""Reads for following imports: progress, chunks, and the merged error file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import Count, Q, Sum
from django.utils import timezone

from batches.models import ImportChunk, ImportJob, ImportRowError
from common.csv_safety import csv_safe_cell
from common.display import duration_display


def job_progress(*, job_id: int) -> dict:
    """Rows done, rows/s and the estimated time left, from the chunk rows."""
    job = ImportJob.objects.get(id=job_id)
    finished = [ImportChunk.Status.DONE, ImportChunk.Status.FAILED, ImportChunk.Status.CANCELLED]
    if job.mode == ImportJob.Mode.ALL_OR_NOTHING:
        finished.append(ImportChunk.Status.VALIDATED)
    counts = job.chunks.aggregate(
        rows_done=Sum("row_count", filter=Q(status__in=finished)),
        rejected=Sum("rows_rejected"),
    )
    by_status = dict(job.chunks.values("status").annotate(n=Count("id")).values_list("status", "n"))
    rows_done = counts["rows_done"] or 0
    end = job.finished_at or timezone.now()
    elapsed = (end - job.started_at).total_seconds() if job.started_at else 0.0
    rate = rows_done / elapsed if elapsed > 0 else 0.0
    left = max(job.rows_total - rows_done, 0)
    return {
        "id": job.id,
        "status": job.status,
        "status_display": job.get_status_display(),
        "finished": job.is_finished and job.finished_at is not None,
        "rows_total": job.rows_total,
        "rows_done": rows_done,
        "percent": round(100 * rows_done / job.rows_total, 1) if job.rows_total else 0,
        "rows_per_second": round(rate),
        "eta_seconds": round(left / rate) if rate and not job.is_finished else None,
        "eta_display": duration_display(left / rate if rate and not job.is_finished else None),
        "duration_display": duration_display(job.duration),
        "elapsed_seconds": round(elapsed, 3),
        "rows_new": job.rows_new,
        "rows_updated": job.rows_updated,
        "rows_unchanged": job.rows_unchanged,
        "rows_rejected": job.rows_rejected if job.finished_at else counts["rejected"] or 0,
        "chunks": {status: by_status.get(status, 0) for status in ImportChunk.Status.values},
        "error": job.error,
    }


def job_waiting_for_broker(*, job_id: int) -> bool:
    """Accepted (QUEUED, held in PostgreSQL) but its planner has not reached the broker:
    Redis was unreachable, and the relay sends it as soon as Redis answers."""
    return ImportJob.objects.filter(
        id=job_id, status=ImportJob.Status.QUEUED, dispatch_due_at__isnull=False
    ).exists()


WAITING_FOR_BROKER = (
    "Import #{id} accepted{details}; the broker is unreachable, it will start as soon as "
    "Redis answers."
)


def job_chunks(*, job_id: int):
    return ImportChunk.objects.filter(job_id=job_id).order_by("index")


def job_chunk_errors(*, job_id: int, limit: int = 3) -> list[str]:
    """The first failed chunks' errors, in words, each with its rows (`rows 2-1,001: ...`)."""
    failed = (
        ImportChunk.objects.filter(job_id=job_id, status=ImportChunk.Status.FAILED)
        .order_by("index")
        .values_list("first_row", "row_count", "error")[:limit]
    )
    return [
        f"rows {first:,}-{first + count - 1:,}: {error or 'failed'}"
        for first, count, error in failed
    ]


def job_error_csv_lines(*, job_id: int) -> Iterator[str]:
    """The rejected rows of every chunk, in file order, with the row number and why."""
    job = ImportJob.objects.get(id=job_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(["row", "error", *(csv_safe_cell(name) for name in job.header)])
    yield flush()
    errors = (
        ImportRowError.objects.filter(job_id=job_id)
        .order_by("row_number", "id")
        .values_list("row_number", "message", "values")
    )
    for row_number, message, values in errors.iterator(chunk_size=2_000):
        writer.writerow(
            [row_number, csv_safe_cell(message), *(csv_safe_cell(v) for v in values or [])]
        )
        yield flush()
