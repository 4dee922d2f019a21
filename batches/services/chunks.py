"""Run one chunk: validate its rows and (in the write phase) upsert the valid ones.

Each chunk is one transaction holding its row lock, its upsert, its counts and its
rejected rows: a redelivered message waits for the lock and finds the chunk done.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from functools import partial

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from batches import registry
from batches.columnar import columnar_rows
from batches.compatible import CompatibleChunk
from batches.csvfiles import UndecodableRow, read_bytes, records_in
from batches.dberrors import database_error_message
from batches.features import HOOK_FAST_PATHS
from batches.models import ImportChunk, ImportJob, ImportRowError
from batches.rejections import Rejected
from batches.rowhooks import validated_after_hook, with_original_cells
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
        first_index = _first_index(chunk)
        with default_storage.open(job.file, "rb") as handle:
            data = read_bytes(handle, offset=chunk.offset, length=chunk.length)
        read_records = partial(
            records_in,
            data,
            offset=chunk.offset,
            first_row=chunk.first_row,
            encoding=job.encoding,
            delimiter=job.delimiter,
        )
        undecodable: list[UndecodableRow] = []
        if dataset.is_fast:
            plan = dataset.spec.plan(job.header, ignore_extra_columns=dataset.ignore_extra_columns)
            validated = columnar_rows(
                plan,
                data,
                first_row=chunk.first_row,
                first_index=first_index,
                encoding=job.encoding,
                delimiter=job.delimiter,
            )
            if validated is None:  # read row by row (its bytes are then decoded again)
                records, undecodable = read_records()
                validated = _validated_rows(plan, records, first_index=first_index)
            new, updated, unchanged, rejected = _fast_rows(
                job=job, plan=plan, validated=validated, phase=phase
            )
        else:
            outcome = None
            if dataset.path in HOOK_FAST_PATHS:
                records, undecodable = read_records()
                outcome = _rows_after_hook(
                    job=job, dataset=dataset, records=records, read_records=read_records,
                    first_index=first_index, phase=phase,
                )  # fmt: skip
            if outcome is None:  # the rows from the first again, if the hook's path gave up
                records, undecodable = read_records()
                outcome = _compatible_rows(
                    job=job, dataset=dataset, records=records, first_index=first_index,
                    phase=phase,
                )  # fmt: skip
            new, updated, unchanged, rejected = outcome
        rejected.extend(Rejected(u.row_number, [], u.message, u.values) for u in undecodable)
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
        chunk.rows_unchanged = unchanged if phase == Phase.WRITE else 0
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


def _first_index(chunk: ImportChunk) -> int:
    """The chunk's first row as import_data() numbers rows (data rows from 1, blank
    lines not counted): passed to the Resource's hooks and widgets as `row_number`."""
    before = ImportChunk.objects.filter(job_id=chunk.job_id, index__lt=chunk.index)
    return 1 + (before.aggregate(rows=Sum("row_count"))["rows"] or 0)


@contextmanager
def _collector_paused():
    # Reading rows allocates a container per row (a list, the hook's dict) and keeps
    # none in cycles: the cyclic collector only costs time here (about a third of the
    # parse, half of the hook's pass), so pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _validated_rows(plan, records, *, first_index: int):
    with _collector_paused():
        return plan.validate(records, first_index=first_index)


def _fast_rows(*, job: ImportJob, plan, validated, phase: str):
    """The fast path, rows validated to COPY text: claim keys, upsert (in the write
    phase)."""
    rejected = list(validated.rejected)
    lines, rows = _without_cross_chunk_duplicates(
        job=job, plan=plan, validated=validated, rejected=rejected
    )
    if phase != Phase.WRITE:
        return 0, 0, 0, rejected
    written = upsert_lines(plan=plan, lines=lines, rows=rows)
    for row, message in written.failed:
        # The original cells, for the error file: the row is re-read from its line.
        rejected.append(
            Rejected(row, [], f"row {row}: {message}", _cells_of(plan, lines, rows, row))
        )
    unchanged = len(lines) - written.new - written.updated - len(written.failed)
    return written.new, written.updated, unchanged, rejected


def _cells_of(plan, lines: list[str], rows: list[int], row: int) -> list[str]:
    return plan.cells_of_line(lines[rows.index(row)])


def _rows_after_hook(
    *, job: ImportJob, dataset, records, read_records, first_index: int, phase: str
):
    """The fast path after the Resource's row hook, or with its instance hook; None: the
    chunk takes the compatible path (`batches.rowhooks`, `batches.instancehooks`). `read_records()` reads the chunk again from its first row,
    for the file's cells of the rows rejected."""
    with _collector_paused():
        after = validated_after_hook(
            dataset, job.header, records, first_index=first_index, dry_run=phase != Phase.WRITE
        )
    if after is None:
        return None
    plan, validated = after
    new, updated, unchanged, rejected = _fast_rows(
        job=job, plan=plan, validated=validated, phase=phase
    )
    if rejected:
        with_original_cells(rejected, read_records()[0])
    return new, updated, unchanged, rejected


def _compatible_rows(*, job: ImportJob, dataset, records, first_index: int, phase: str):
    """The compatible path; the validate phase writes in a savepoint it rolls back."""
    run = CompatibleChunk(dataset, job.header, dry_run=phase != Phase.WRITE)

    def claim(rows: list[int], keys: list[str]) -> dict[int, int]:
        if job.chunks_total <= 1:
            return {}
        return claim_keys(job_id=job.id, rows=rows, keys=keys)

    outcome = run.run(records, first_index=first_index, write=True, claim=claim)
    if phase != Phase.WRITE:
        return 0, 0, 0, outcome.rejected
    return outcome.new, outcome.updated, outcome.unchanged, outcome.rejected


def _without_cross_chunk_duplicates(
    *, job: ImportJob, plan, validated, rejected: list[Rejected]
) -> tuple[list[str], list[int]]:
    """Claim the valid rows' keys; reject the rows whose key another chunk holds."""
    if job.chunks_total <= 1:
        return validated.lines, validated.line_rows  # one chunk: it has seen every key
    taken = claim_keys(job_id=job.id, rows=validated.line_rows, keys=validated.line_keys)
    if not taken:
        return validated.lines, validated.line_rows
    lines, rows = [], []
    for line, row, key in zip(
        validated.lines, validated.line_rows, validated.line_keys, strict=True
    ):
        other = taken.get(row)
        if other is None:
            lines.append(line)
            rows.append(row)
            continue
        columns, shown = plan.key_display(key)
        rejected.append(
            Rejected(
                row,
                columns,
                f"row {row}: duplicate key {shown} also on row {other}",
                plan.cells_of_line(line),
            )
        )
    return lines, rows


def chunk_failure_text(exc: BaseException, *, retries: int | None = None) -> str:
    """A chunk's failure in words (a database error names the model field)."""
    text = database_error_message(exc)
    return f"{text} (after {retries} retries)" if retries is not None else text
