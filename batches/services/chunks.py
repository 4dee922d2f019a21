"""Run one chunk: validate its rows and (in the write phase) upsert the valid ones.

Each chunk is one transaction holding its row lock, its upsert, its counts and its
rejected rows: a redelivered message waits for the lock and finds the chunk done.
"""

from __future__ import annotations

import gc
import logging
import re

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from batches import registry
from batches.csvfiles import read_range
from batches.models import ImportChunk, ImportJob, ImportRowError
from batches.rows import Rejected
from batches.services.notifications import chunk_alert_killed_worker
from batches.writer import claim_keys, upsert_lines

logger = logging.getLogger(__name__)

Phase = ImportJob.Phase


def chunk_import(*, chunk_id: int, phase: str = Phase.WRITE) -> dict:
    """Validate one chunk and (in the write phase) upsert its valid rows, atomically.

    The chunk row is locked for the whole run: a redelivered message waits, then
    finds the chunk done and does nothing. Its counts and rejected rows are
    replaced, never added to, so a re-run cannot double-count.
    """
    done_states = (
        {ImportChunk.Status.DONE}
        if phase == Phase.WRITE
        else {ImportChunk.Status.VALIDATED, ImportChunk.Status.DONE}
    )
    if chunk_delivery_start(chunk_id=chunk_id):
        return chunk_summary(ImportChunk.objects.get(id=chunk_id))
    with transaction.atomic():
        # of=("self",): lock the chunk only. Locking the job row too would run the
        # chunks of one import one at a time and block cancel and the callback.
        chunk = (
            ImportChunk.objects.select_for_update(of=("self",))
            .select_related("job")
            .get(id=chunk_id)
        )
        job = chunk.job
        if chunk.status in done_states or chunk.status in (
            ImportChunk.Status.FAILED,
            ImportChunk.Status.CANCELLED,
        ):
            return chunk_summary(chunk)
        if job.status == ImportJob.Status.CANCELLED:
            chunk.status = ImportChunk.Status.CANCELLED
            chunk.finished_at = timezone.now()
            chunk.save(update_fields=["status", "finished_at"])
            return chunk_summary(chunk)
        dataset = registry.get(job.dataset)
        plan = dataset.spec.plan(job.header, ignore_extra_columns=dataset.ignore_extra_columns)
        # Parsing allocates a container per row and keeps none in cycles: the cyclic
        # collector only costs time here (about a third of the parse), so pause it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            with default_storage.open(job.file, "rb") as handle:
                records, undecodable = read_range(
                    handle,
                    offset=chunk.offset,
                    length=chunk.length,
                    first_row=chunk.first_row,
                    encoding=job.encoding,
                    delimiter=job.delimiter,
                )
                validated = plan.validate(records)
        finally:
            if collecting:
                gc.enable()
        rejected = [Rejected(u.row_number, [], u.message, u.values) for u in undecodable]
        rejected.extend(validated.rejected)
        lines = _without_cross_chunk_duplicates(
            job=job, plan=plan, validated=validated, rejected=rejected
        )
        new = updated = 0
        if phase == Phase.WRITE:
            new, updated = upsert_lines(plan=plan, lines=lines)
        ImportRowError.objects.filter(chunk=chunk).delete()
        ImportRowError.objects.bulk_create(
            [
                ImportRowError(
                    job_id=job.id,
                    chunk=chunk,
                    row_number=r.row_number,
                    column=", ".join(r.columns)[:200],
                    message=r.message,
                    values=r.values,
                )
                for r in sorted(rejected, key=lambda r: r.row_number)
            ],
            batch_size=2_000,
        )
        now = timezone.now()
        chunk.rows_new = new
        chunk.rows_updated = updated
        chunk.rows_unchanged = len(lines) - new - updated if phase == Phase.WRITE else 0
        chunk.rows_rejected = len(rejected)
        chunk.status = (
            ImportChunk.Status.DONE if phase == Phase.WRITE else ImportChunk.Status.VALIDATED
        )
        chunk.attempts += 1
        chunk.deliveries = 0
        chunk.error = ""
        chunk.finished_at = now
        chunk.save()
    # After the commit, not inside: holding the chunk's lock while waiting for the job
    # row's would invert the order cancel/finish/retry take them in (job, then chunks)
    # and deadlock against them.
    ImportJob.objects.filter(id=job.id).update(last_progress_at=now)
    return chunk_summary(chunk)


def chunk_delivery_start(*, chunk_id: int) -> bool:
    """Count this delivery (committed before any work); True if the chunk is poisoned.

    A delivery that dies with its worker (acks_late + reject_on_worker_lost) is
    redelivered; if the chunk itself kills the process (a row that exhausts memory,
    a crash in a C extension) that would go on forever. Deliveries that never ended
    accumulate here, and after IMPORT_CHUNK_MAX_DELIVERIES the chunk is failed
    without being processed: the task returns, so the chord and the job complete.
    """
    now = timezone.now()
    with transaction.atomic():
        chunk = (
            ImportChunk.objects.select_for_update(of=("self",))
            .select_related("job")
            .get(id=chunk_id)
        )
        chunk.deliveries += 1
        fields = ["deliveries"]
        open_states = (ImportChunk.Status.PENDING, ImportChunk.Status.RUNNING)
        if chunk.status in open_states:
            chunk.status = ImportChunk.Status.RUNNING
            chunk.started_at = now
            fields += ["status", "started_at"]
        limit = settings.IMPORT_CHUNK_MAX_DELIVERIES
        poisoned = chunk.status in open_states and chunk.deliveries > limit
        if poisoned:
            killed = chunk.deliveries - 1
            last_row = chunk.first_row + chunk.row_count - 1
            chunk.status = ImportChunk.Status.FAILED
            chunk.error = (
                f"killed its worker {killed} times; rows {chunk.first_row:,}-{last_row:,} "
                f"not imported"
            )
            chunk.attempts += 1
            chunk.deliveries = 0
            chunk.finished_at = now
            fields += ["error", "attempts", "finished_at"]
            # In this transaction, so the failed chunk and its alert are seen together.
            chunk_alert_killed_worker(job=chunk.job, chunk_index=chunk.index, error=chunk.error)
        chunk.save(update_fields=fields)
    if poisoned:
        logger.error("chunk %s of import #%s %s", chunk.index, chunk.job_id, chunk.error)
    return poisoned


def chunk_delivery_end(*, chunk_id: int) -> None:
    """The delivery ended without a result (a retry is scheduled): it did not die."""
    ImportChunk.objects.filter(id=chunk_id).update(deliveries=0)


@transaction.atomic
def chunk_fail(*, chunk_id: int, error: str) -> dict:
    """Record a chunk that failed for good; the chord callback still runs and reports it."""
    chunk = ImportChunk.objects.select_for_update().get(id=chunk_id)
    chunk.deliveries = 0
    if chunk.status not in (ImportChunk.Status.DONE, ImportChunk.Status.VALIDATED):
        chunk.status = ImportChunk.Status.FAILED
        chunk.error = error[:2000]
        chunk.attempts += 1
        chunk.finished_at = timezone.now()
    chunk.save(update_fields=["status", "error", "attempts", "finished_at", "deliveries"])
    return chunk_summary(chunk)


def chunk_summary(chunk: ImportChunk) -> dict:
    return {
        "chunk": chunk.id,
        "status": chunk.status,
        "new": chunk.rows_new,
        "updated": chunk.rows_updated,
        "unchanged": chunk.rows_unchanged,
        "rejected": chunk.rows_rejected,
    }


def _without_cross_chunk_duplicates(
    *, job: ImportJob, plan, validated, rejected: list[Rejected]
) -> list[str]:
    """Claim the valid rows' keys; reject the rows whose key another chunk holds."""
    if job.chunks_total <= 1:
        return validated.lines  # one chunk: its own check has seen every key
    taken = claim_keys(job_id=job.id, rows=validated.line_rows, keys=validated.line_keys)
    if not taken:
        return validated.lines
    lines = []
    for line, row, key in zip(
        validated.lines, validated.line_rows, validated.line_keys, strict=True
    ):
        other = taken.get(row)
        if other is None:
            lines.append(line)
            continue
        columns, shown = plan.key_display(key)
        rejected.append(
            Rejected(
                row,
                columns,
                f"row {row}: duplicate key {shown} also on row {other}",
                [_copy_unescape(cell) for cell in line.split("\t")],
            )
        )
    return lines


def _copy_unescape(cell: str) -> str:
    if cell == "\\N":
        return ""
    if "\\" not in cell:
        return cell
    return _COPY_ESCAPE.sub(lambda m: _COPY_CODES.get(m.group(1), m.group(1)), cell)


_COPY_ESCAPE = re.compile(r"\\(.)")
_COPY_CODES = {"t": "\t", "n": "\n", "r": "\r"}
