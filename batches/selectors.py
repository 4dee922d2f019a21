"""Reads for following imports: progress, chunks, and the merged error file."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator

from django.db.models import Count, Q, Sum
from django.utils import timezone

from batches.models import ImportChunk, ImportJob, ImportRowError
from common.csv_safety import csv_safe_cell
from common.display import duration_display

CHUNKS_PER_PAGE = 50
FIRST_ERRORS = 5
_ENDED = (ImportChunk.Status.DONE, ImportChunk.Status.FAILED, ImportChunk.Status.CANCELLED)
_OPEN = (ImportChunk.Status.PENDING, ImportChunk.Status.RUNNING)


def _floor_percent(done: int, total: int, *, open_chunks: int) -> float:
    """One decimal, rounded down; never 100 while a chunk is still open."""
    if not total:
        return 0
    percent = math.floor(1000 * done / total) / 10
    return min(percent, 99.9) if open_chunks else min(percent, 100.0)


def job_phase(job: ImportJob, *, chunks: dict[str, int]) -> tuple[str, str]:
    """(phase, what it means in words) of a job, from its status and chunk counts.

    The planner splits the file and creates the chunks in the transaction that makes
    the job running, so a running job always has its chunks. All-or-nothing jobs check
    every chunk (writing nothing), then write; the others check and write each chunk
    in one go. Finishing: every chunk has ended and the callback adds up the totals.
    """
    if job.status == ImportJob.Status.PENDING:
        return "waiting", "Waiting for the upload to be confirmed on its preview page."
    if job.status == ImportJob.Status.QUEUED:
        return "queued", "Queued: a worker will split the file into chunks."
    if job.is_finished:
        if job.finished_at is None:  # cancelled while running: chunks still ending
            return "finishing", "Cancelled: the chunks already running finish their rows."
        took = f" in {duration_display(job.duration)}" if job.duration else ""
        return "finished", f"Finished{took}."
    open_chunks = sum(chunks.get(status, 0) for status in _OPEN)
    if not open_chunks:
        return "finishing", "Finishing: every chunk has ended; adding up the totals."
    two_phases = job.mode == ImportJob.Mode.ALL_OR_NOTHING
    if job.phase == ImportJob.Phase.VALIDATE:
        return "checking", "Phase 1 of 2, checking: every row is checked, nothing is written yet."
    if two_phases:
        return "writing", "Phase 2 of 2, writing: every row was valid; the chunks write them."
    return "writing", "Writing: each chunk checks its rows and writes the valid ones."


def job_progress(*, job_id: int) -> dict:
    """The job's phase and how far it is, its counts, rows/s and time left.

    Two queries whatever the job's size: the job row, and one aggregate over its
    chunks (per-status counts and row sums, from the job+status index).
    """
    job = ImportJob.objects.get(id=job_id)
    validating = job.phase == ImportJob.Phase.VALIDATE
    # Rows the current phase has been through: checked (validate) or written (write).
    phase_done = [ImportChunk.Status.FAILED]
    phase_done.append(ImportChunk.Status.VALIDATED if validating else ImportChunk.Status.DONE)
    if validating:
        phase_done.append(ImportChunk.Status.DONE)
    counts = job.chunks.aggregate(
        rows_done=Sum("row_count", filter=Q(status__in=phase_done)),
        rows_new=Sum("rows_new"),
        rows_updated=Sum("rows_updated"),
        rows_unchanged=Sum("rows_unchanged"),
        rows_rejected=Sum("rows_rejected"),
        **{f"n_{status}": Count("id", filter=Q(status=status)) for status in ImportChunk.Status},
    )
    by_status = {status: counts[f"n_{status}"] or 0 for status in ImportChunk.Status.values}
    open_chunks = sum(by_status[status] for status in _OPEN)
    phase, phase_display = job_phase(job, chunks=by_status)
    rows_done = counts["rows_done"] or 0
    end = job.finished_at or timezone.now()
    elapsed = (end - job.started_at).total_seconds() if job.started_at else 0.0
    rate = rows_done / elapsed if elapsed > 0 else 0.0
    left = max(job.rows_total - rows_done, 0)
    running = not job.is_finished and open_chunks > 0
    eta = left / rate if rate and running else None
    # While the job runs its own totals are not set yet: the chunks' sums are.
    finished = job.is_finished and job.finished_at is not None
    totals = {
        name: getattr(job, name) if finished else counts[name] or 0
        for name in ("rows_new", "rows_updated", "rows_unchanged", "rows_rejected")
    }
    return {
        "id": job.id,
        "status": job.status,
        "status_display": job.get_status_display(),
        "finished": finished,
        "phase": phase,
        "phase_display": phase_display,
        "rows_total": job.rows_total,
        "rows_done": rows_done,
        "percent": _floor_percent(rows_done, job.rows_total, open_chunks=open_chunks),
        "rows_per_second": round(rate),
        "eta_seconds": round(eta) if eta is not None else None,
        "eta_display": duration_display(eta),
        "duration_display": duration_display(job.duration),
        "elapsed_seconds": round(elapsed, 3),
        **totals,
        "chunks_total": job.chunks_total,
        "chunks": by_status,
        "chunks_display": _chunks_in_words(job, by_status),
        "error": job.error,
    }


def _chunks_in_words(job: ImportJob, by_status: dict[str, int]) -> str:
    if not job.chunks_total:
        if job.status in (ImportJob.Status.PENDING, ImportJob.Status.QUEUED):
            return "Not split into chunks yet."
        return "The file was not split into chunks" + (
            ": see the error above." if job.error else "."
        )
    parts = [f"{count:,} {status}" for status, count in by_status.items() if count]
    return f"{job.chunks_total:,} chunks: " + ", ".join(parts) + "."


def job_live(*, job_id: int, chunk_page: int = 1) -> dict:
    """What the job page shows and polls: progress, one page of chunks, first errors.

    Five queries whatever the job's size (job, chunk aggregate, one page of at most
    CHUNKS_PER_PAGE chunks, the first FIRST_ERRORS rejected rows, the first failed
    chunks): a poll of a 200-chunk job costs what a poll of a 2-chunk job does.
    """
    progress = job_progress(job_id=job_id)
    pages = max(1, math.ceil(progress["chunks_total"] / CHUNKS_PER_PAGE))
    page = min(max(chunk_page, 1), pages)
    start = (page - 1) * CHUNKS_PER_PAGE
    chunks = (
        ImportChunk.objects.filter(job_id=job_id, index__gte=start, index__lt=start + CHUNKS_PER_PAGE)
        .order_by("index")
        .values(
            "index", "first_row", "row_count", "status", "attempts", "rows_new",
            "rows_updated", "rows_unchanged", "rows_rejected", "error",
        )
    )  # fmt: skip
    rows = [
        {
            **chunk,
            "status_display": ImportChunk.Status(chunk["status"]).label,
            "rows": f"{chunk['first_row']:,}-{chunk['first_row'] + chunk['row_count'] - 1:,}",
        }
        for chunk in chunks
    ]
    rejected = ImportRowError.objects.filter(job_id=job_id).order_by("row_number", "id")
    first_errors = job_chunk_errors(job_id=job_id) + [
        message for message in rejected.values_list("message", flat=True)[:FIRST_ERRORS]
    ]
    return {
        **progress,
        "chunk_page": page,
        "chunk_pages": pages,
        "chunks_per_page": CHUNKS_PER_PAGE,
        "chunk_rows": rows,
        "first_errors": first_errors,
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
