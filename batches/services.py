"""Import services: store a file, plan it into chunks, run chunks, finish, cancel, retry.

The pipeline: `job_create` stores the upload (a UTF-16/32 file converted to UTF-8,
so every later step reads an ASCII-compatible file) and computes its checksum;
`job_queue` sends `batches.plan_import` on commit; the planner splits the file
into `ImportChunk` byte ranges and starts a chord of `batches.import_chunk` tasks
whose callback `batches.finish_import` computes the totals from the chunk rows.

All-or-nothing jobs run the chord twice: a validate phase that writes nothing,
then, only if no row was rejected, the write phase.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import re
import tempfile
import uuid
from contextlib import nullcontext
from pathlib import PurePosixPath

from celery import chord
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.text import get_valid_filename
from kombu.exceptions import OperationalError as BrokerError

from batches import registry
from batches.csvfiles import (
    ImportFileError,
    WideEncoding,
    file_checksum,
    inspect_file,
    iter_records,
    plan_ranges,
    raw_file,
    read_range,
    transcode_to_utf8,
    wide_encoding,
    wide_label,
)
from batches.models import ImportChunk, ImportJob, ImportKey, ImportRowError, InboxFile
from batches.rows import HeaderError, Rejected
from batches.writer import claim_keys, upsert_lines

logger = logging.getLogger(__name__)

VALIDATE = "validate"
WRITE = "write"
ALLOWED_EXTENSIONS = (".csv", ".txt", ".tsv")


class ImportRejected(ValueError):
    """The file was refused before any job ran (too big, wrong type, unknown dataset)."""


# --- creating and queueing ----------------------------------------------------------------


def upload_check(*, name: str, size: int) -> None:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if size > limit:
        raise ImportRejected(
            f"{name}: the file is {size:,} bytes; the upload limit is {limit:,} bytes"
        )
    if not name.lower().endswith(ALLOWED_EXTENSIONS):
        allowed = ", ".join(ALLOWED_EXTENSIONS)
        raise ImportRejected(f"{name}: only CSV files can be imported ({allowed})")


@transaction.atomic
def job_create(
    *,
    dataset: str,
    file: File | None = None,
    name: str,
    user=None,
    mode: str = ImportJob.Mode.VALID_ROWS,
    encoding: str = "",
    delimiter: str = "",
    source: str = ImportJob.Source.ADMIN,
    stored_path: str = "",
) -> ImportJob:
    """Store the file (streamed, never read whole) and create a PENDING job for it.

    A UTF-16/32 file (by its byte order mark, or a utf-16*/utf-32* `encoding`) is
    stored converted to UTF-8 and the job says so (`encoding` utf-8, `source_encoding`
    what it was); `stored_path` (an inbox file already in storage) then gets a
    converted copy under the upload folder. One that does not convert is stored as it
    came: the preview and the planner report where it is invalid. The size limit and
    the checksum are those of the bytes as they came.
    """
    registry.get(dataset)  # unknown dataset: DatasetNotFound before anything is stored
    if file is None and not stored_path:
        raise ValueError("job_create needs a file or a stored_path")
    size = default_storage.size(stored_path) if stored_path else file.size  # type: ignore[union-attr]
    upload_check(name=name, size=size)
    safe = get_valid_filename(PurePosixPath(name).name) or "upload.csv"
    upload_path = f"{settings.IMPORT_UPLOAD_DIR}/{uuid.uuid4().hex}/{safe}"
    checksum = source_encoding = ""
    opened = default_storage.open(stored_path, "rb") if stored_path else nullcontext(file)
    with opened as original:
        wide = _wide_encoding_of(original, encoding=encoding)
        if wide is not None:
            source_encoding = encoding = wide.codec
            converted = _store_converted(original, wide=wide, path=upload_path)
            if converted:
                stored_path, checksum = converted
                encoding = "utf-8"
        if not stored_path:
            stored_path = default_storage.save(upload_path, file)  # type: ignore[arg-type]
    if not checksum:
        with default_storage.open(stored_path, "rb") as handle:
            checksum = file_checksum(handle)
    return ImportJob.objects.create(
        dataset=dataset,
        file=stored_path,
        original_name=name,
        size_bytes=size,
        checksum=checksum,
        mode=mode,
        encoding=encoding or "utf-8",
        source_encoding=source_encoding,
        delimiter=delimiter,
        source=source,
        created_by=user,
    )


def _wide_encoding_of(original, *, encoding: str) -> WideEncoding | None:
    raw = raw_file(original)
    raw.seek(0)
    head = raw.read(4096)
    raw.seek(0)
    try:
        return wide_encoding(head, encoding)
    except ImportFileError:
        return None  # its byte order mark contradicts the encoding: inspect_file says so


def _store_converted(original, *, wide: WideEncoding, path: str) -> tuple[str, str] | None:
    """Store a UTF-16/32 file as UTF-8 at `path`: (stored path, sha256 of the original).

    None if it is not valid in its encoding. Converted into a local temporary file
    first, so an invalid file leaves nothing half-written in the storage.
    """
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as utf8:
        try:
            checksum = transcode_to_utf8(original, utf8, wide=wide)
        except ImportFileError:
            return None
        stored = default_storage.save(path, File(utf8, name=PurePosixPath(path).name))
    return stored, checksum


@transaction.atomic
def job_queue(*, job_id: int) -> bool:
    """PENDING -> QUEUED, and send the planner once the transaction commits."""
    updated = ImportJob.objects.filter(id=job_id, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.QUEUED, last_progress_at=timezone.now()
    )
    if updated:
        transaction.on_commit(lambda: plan_send(job_id=job_id))
    return bool(updated)


def plan_send(*, job_id: int) -> bool:
    """Send `batches.plan_import`; a broker that is down is logged, not raised.

    The job is committed QUEUED either way: raising here would only lose the upload
    page's response (the commit has happened), and `jobs_resume_stalled` re-sends
    the planner of a job queued longer than IMPORT_REQUEUE_SECONDS.
    """
    from batches.tasks import plan_import

    try:
        plan_import.delay(job_id)
    except BrokerError:
        logger.exception(
            "import #%s: could not send plan_import (broker down); it stays queued and "
            "is re-sent by batches.resume_stalled_imports",
            job_id,
        )
        return False
    return True


# --- planning -------------------------------------------------------------------------------


def job_plan(*, job_id: int) -> str:
    """Split the stored file into chunk byte ranges and start the chord; idempotent."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(id=job_id)
        if job.status == ImportJob.Status.CANCELLED:
            if not job.finished_at:
                job.finished_at = timezone.now()
                job.save(update_fields=["finished_at"])
            return job.status
        if job.status != ImportJob.Status.QUEUED:
            return job.status  # redelivered: already planned
        dataset = registry.get(job.dataset)
        try:
            with default_storage.open(job.file, "rb") as handle:
                layout = inspect_file(
                    handle, encoding=job.encoding, delimiter=job.delimiter or None
                )
                dataset.spec.plan(layout.header, ignore_extra_columns=dataset.ignore_extra_columns)
                ranges = list(
                    plan_ranges(
                        handle,
                        data_offset=layout.data_offset,
                        chunk_rows=settings.IMPORT_CHUNK_ROWS,
                    )
                )
        except (ImportFileError, HeaderError) as exc:
            return _job_fail(job, f"{job.original_name or job.file}: {exc}")
        if not ranges:
            return _job_fail(
                job, f"{job.original_name or job.file}: the file has a header but no data rows"
            )
        ImportChunk.objects.bulk_create(
            [
                ImportChunk(
                    job=job,
                    index=index,
                    offset=r.offset,
                    length=r.length,
                    first_row=r.first_row,
                    row_count=r.rows,
                )
                for index, r in enumerate(ranges)
            ]
        )
        now = timezone.now()
        job.encoding = layout.encoding
        job.delimiter = layout.delimiter
        job.header = layout.header
        job.data_offset = layout.data_offset
        job.chunk_rows = settings.IMPORT_CHUNK_ROWS
        job.rows_total = sum(r.rows for r in ranges)
        job.chunks_total = len(ranges)
        job.status = ImportJob.Status.RUNNING
        job.phase = VALIDATE if job.mode == ImportJob.Mode.ALL_OR_NOTHING else WRITE
        job.started_at = now
        job.last_progress_at = now
        job.save()
        phase = job.phase
        chunk_ids = list(job.chunks.order_by("index").values_list("id", flat=True))
        transaction.on_commit(lambda: _chord_start(job_id=job.id, chunk_ids=chunk_ids, phase=phase))
        return job.status


def _chord_start(*, job_id: int, chunk_ids: list[int], phase: str) -> None:
    from batches.tasks import finish_import, import_chunk

    chord(import_chunk.si(chunk_id, phase) for chunk_id in chunk_ids)(
        finish_import.si(job_id, phase)
    )


def _job_fail(job: ImportJob, error: str) -> str:
    job.status = ImportJob.Status.FAILED
    job.error = error
    job.finished_at = timezone.now()
    job.started_at = job.started_at or job.finished_at
    job.save(update_fields=["status", "error", "finished_at", "started_at"])
    _job_ended(job)
    return job.status


# --- chunks ---------------------------------------------------------------------------------


def chunk_import(*, chunk_id: int, phase: str = WRITE) -> dict:
    """Validate one chunk and (in the write phase) upsert its valid rows, atomically.

    The chunk row is locked for the whole run: a redelivered message waits, then
    finds the chunk done and does nothing. Its counts and rejected rows are
    replaced, never added to, so a re-run cannot double-count.
    """
    done_states = (
        {ImportChunk.Status.DONE}
        if phase == WRITE
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
        if phase == WRITE:
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
        chunk.rows_unchanged = len(lines) - new - updated if phase == WRITE else 0
        chunk.rows_rejected = len(rejected)
        chunk.status = ImportChunk.Status.DONE if phase == WRITE else ImportChunk.Status.VALIDATED
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
            job = chunk.job
            message = (
                f"Import #{job.id} ({job.dataset}, {job.original_name or job.file}): chunk "
                f"{chunk.index} {chunk.error}. Its rows may exhaust the worker's memory or "
                f"crash it; the rest of the import goes on."
            )
            # In this transaction, so the failed chunk and its alert are seen together.
            _alert_raise(
                kind="import_chunk_killed_worker",
                subject=f"import #{job.id} chunk {chunk.index}",
                message=message,
            )
        chunk.save(update_fields=fields)
    if poisoned:
        logger.error("chunk %s of import #%s %s", chunk.index, chunk.job_id, chunk.error)
    return poisoned


def chunk_delivery_end(*, chunk_id: int) -> None:
    """The delivery ended without a result (a retry is scheduled): it did not die."""
    ImportChunk.objects.filter(id=chunk_id).update(deliveries=0)


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


def chunk_summary(chunk: ImportChunk) -> dict:
    return {
        "chunk": chunk.id,
        "status": chunk.status,
        "new": chunk.rows_new,
        "updated": chunk.rows_updated,
        "unchanged": chunk.rows_unchanged,
        "rejected": chunk.rows_rejected,
    }


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


# --- finishing ------------------------------------------------------------------------------


def job_finish(*, job_id: int, phase: str = WRITE) -> str:
    """Chord callback: totals from the chunk rows, final status, email; idempotent."""
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
        if chunks["unfinished"] and job.status != ImportJob.Status.CANCELLED:
            # Another chord over some of these chunks is still running (a retry):
            # its callback will finish the job.
            return job.status
        if job.status != ImportJob.Status.CANCELLED and phase == VALIDATE:
            if failed or job.rows_rejected:
                job.status = ImportJob.Status.FAILED
                job.error = (
                    f"All or nothing: {job.rows_rejected:,} rows rejected"
                    + (f" and {failed} chunks failed" if failed else "")
                    + "; nothing was written."
                )
            else:
                job.chunks.update(status=ImportChunk.Status.PENDING, finished_at=None, deliveries=0)
                job.phase = WRITE
                job.last_progress_at = timezone.now()
                job.save(
                    update_fields=[
                        "rows_new",
                        "rows_updated",
                        "rows_unchanged",
                        "phase",
                        "last_progress_at",
                    ]
                )
                chunk_ids = list(job.chunks.order_by("index").values_list("id", flat=True))
                transaction.on_commit(
                    lambda: _chord_start(job_id=job_id, chunk_ids=chunk_ids, phase=WRITE)
                )
                return job.status
        elif job.status != ImportJob.Status.CANCELLED:
            if failed and failed == chunks["total"]:
                job.status = ImportJob.Status.FAILED
                job.error = "Every chunk failed; see the chunks for the errors."
            elif failed or job.rows_rejected:
                job.status = ImportJob.Status.PARTIALLY_FAILED
                if failed:
                    job.error = f"{failed} of {chunks['total']} chunks failed; they can be retried."
            else:
                job.status = ImportJob.Status.SUCCEEDED
        job.finished_at = timezone.now()
        job.save()
        retryable = job.chunks.filter(
            status__in=[ImportChunk.Status.FAILED, ImportChunk.Status.CANCELLED]
        ).exists()
        if not retryable:
            # Kept while failed chunks can be retried, so a retry still sees the keys
            # of the rows already written; jobs_delete_abandoned drops them later.
            ImportKey.objects.filter(job_id=job_id).delete()
        _job_ended(job)
        return job.status


def _job_ended(job: ImportJob) -> None:
    """Called in the transaction that ends the job: a failure's alert commits with the
    status (nobody sees a failed job without it); the uploader's email goes after commit."""
    if job.status in (ImportJob.Status.FAILED, ImportJob.Status.PARTIALLY_FAILED):
        _alert(job)
    transaction.on_commit(functools.partial(job_email_uploader, job_id=job.id))


def job_email_uploader(*, job_id: int) -> None:
    """Email the uploader how the import ended."""
    _email_uploader(ImportJob.objects.select_related("created_by").get(id=job_id))


def _email_uploader(job: ImportJob) -> None:
    user = job.created_by
    if not (user and user.email):
        return
    lines = [
        f"Import #{job.id} of {job.original_name or job.file} into {job.dataset}: "
        f"{job.get_status_display()}.",
        "",
        f"Rows in file: {job.rows_total:,}",
        f"New: {job.rows_new:,}  Updated: {job.rows_updated:,}  "
        f"Unchanged: {job.rows_unchanged:,}  Rejected: {job.rows_rejected:,}",
    ]
    if job.duration:
        lines.append(f"Duration: {job.duration.total_seconds():.1f} s")
    if job.error:
        lines += ["", job.error]
    if job.rows_rejected:
        lines += ["", "The rejected rows and why are in the error file on the import's page."]
    lines += ["", f"/admin/batches/importjob/{job.id}/change/"]
    send_mail(
        subject=f"Import #{job.id} {job.dataset}: {job.get_status_display()}",
        message="\n".join(lines),
        from_email=None,
        recipient_list=[user.email],
    )


def _alert_raise(*, kind: str, subject: str, message: str, severity: str = "red") -> None:
    from ops.services import alert_raise

    alert_raise(kind=kind, subject=subject, message=message, severity=severity)


def _alert(job: ImportJob) -> None:
    _alert_raise(
        kind="import_failed",
        subject=f"import #{job.id}",
        message=(
            f"Import #{job.id} ({job.dataset}, {job.original_name or job.file}) ended "
            f"{job.get_status_display()}: {job.rows_rejected:,} rows rejected. {job.error}"
        ).strip(),
        severity="red" if job.status == ImportJob.Status.FAILED else "amber",
    )


# --- following: cancel and retry ------------------------------------------------------------


@transaction.atomic
def job_cancel(*, job_id: int) -> bool:
    """Stop a job: chunks not yet started are skipped; rows already committed stay."""
    job = ImportJob.objects.select_for_update().get(id=job_id)
    if job.is_finished:
        return False
    running = job.status == ImportJob.Status.RUNNING
    job.status = ImportJob.Status.CANCELLED
    if not running:
        # No chord will finish it: nothing was started yet.
        job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    job.chunks.filter(status=ImportChunk.Status.PENDING).update(
        status=ImportChunk.Status.CANCELLED, finished_at=timezone.now()
    )
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
        VALIDATE
        if all_or_nothing and not job.chunks.filter(status=ImportChunk.Status.DONE).exists()
        else WRITE
    )
    retry.update(status=ImportChunk.Status.PENDING, error="", finished_at=None, deliveries=0)
    job.status = ImportJob.Status.RUNNING
    job.finished_at = None
    job.error = ""
    job.phase = phase
    job.last_progress_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "error", "phase", "last_progress_at"])
    transaction.on_commit(lambda: _chord_start(job_id=job_id, chunk_ids=chunk_ids, phase=phase))
    return len(chunk_ids)


# --- sweeps: stalled imports, lost sends, abandoned uploads ---------------------------------


def jobs_resume_stalled() -> dict:
    """Drive imports whose messages were lost to completion; safe to run at any time.

    - QUEUED longer than IMPORT_REQUEUE_SECONDS (the planner's send failed, or its
      message was lost): send `plan_import` again; planning a job twice is a no-op.
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
            plan_send(job_id=job_id)
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
            job.last_progress_at = timezone.now()
            job.save(update_fields=["last_progress_at"])
            logger.warning(
                "import #%s made no progress since %s: sending %s chunks again",
                job_id, stall_before.isoformat(), len(lost),
            )  # fmt: skip
            transaction.on_commit(lambda: _chord_start(job_id=job_id, chunk_ids=lost, phase=phase))
            return "resent"
    logger.warning("import #%s: every chunk ended but the job did not; finishing it", job_id)
    job_finish(job_id=job_id, phase=phase)
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


# --- preview --------------------------------------------------------------------------------


def job_preview(*, job: ImportJob, rows: int | None = None) -> dict:
    """Validate the header and the first rows synchronously, for the upload preview."""
    limit = rows or settings.IMPORT_PREVIEW_ROWS
    dataset = registry.get(job.dataset)
    preview: dict = {"header": [], "rows": [], "error": "", "columns": dataset.spec.column_names}
    try:
        with default_storage.open(job.file, "rb") as handle:
            layout = inspect_file(handle, encoding=job.encoding, delimiter=job.delimiter or None)
            preview["header"] = layout.header
            preview["delimiter"] = layout.delimiter
            preview["encoding"] = layout.encoding
            if job.source_encoding:
                preview["converted_from"] = wide_label(job.source_encoding)
            plan = dataset.spec.plan(
                layout.header, ignore_extra_columns=dataset.ignore_extra_columns
            )
            raw = raw_file(handle)
            raw.seek(layout.data_offset)
            sample = bytearray()
            records = 0
            for record in iter_records(raw):
                sample += record
                if record.strip():
                    records += 1
                if records >= limit:
                    break
            if not records:
                raise ImportFileError("the file has a header but no data rows")
            numbered, undecodable = read_range(
                _BytesHandle(bytes(sample)),
                offset=0,
                length=len(sample),
                first_row=2,
                encoding=layout.encoding,
                delimiter=layout.delimiter,
            )
            cells = list(numbered)
            validated = plan.validate(iter(cells))
    except (ImportFileError, HeaderError) as exc:
        preview["error"] = str(exc)
        return preview
    problems = {r.row_number: r for r in validated.rejected}
    for u in undecodable:
        problems[u.row_number] = Rejected(u.row_number, [], u.message, u.values)
    ordered = sorted([(n, c) for n, c in cells] + [(u.row_number, u.values) for u in undecodable])
    for number, values in ordered:
        problem = problems.get(number)
        preview["rows"].append(
            {
                "number": number,
                "cells": [
                    {"value": value, "error": problem.field_errors.get(name, "") if problem else ""}
                    for name, value in zip(layout.header, values, strict=False)
                ],
                "error": problem.message if problem else "",
            }
        )
    preview["rejected"] = len(problems)
    return preview


class _BytesHandle:
    def __init__(self, data: bytes):
        import io

        self.file = io.BytesIO(data)


# --- inbox ----------------------------------------------------------------------------------


def inbox_candidates() -> list[tuple[str, str]]:
    """(storage path, dataset) of the CSV files waiting in the inbox.

    A file names its dataset as `<dataset>__anything.csv`, or sits in a folder
    named after the dataset (`<inbox>/<dataset>/anything.csv`).
    """
    inbox = settings.IMPORT_INBOX_DIR.rstrip("/")
    if not default_storage.exists(inbox):
        return []
    folders, files = default_storage.listdir(inbox)
    found = []
    for name in files:
        if name.lower().endswith(ALLOWED_EXTENSIONS) and "__" in name:
            found.append((f"{inbox}/{name}", name.split("__", 1)[0]))
        elif name.lower().endswith(ALLOWED_EXTENSIONS):
            logger.warning("inbox file %s names no dataset (use <dataset>__name.csv)", name)
    known = {d.name for d in registry.all_datasets()}
    for folder in folders:
        if folder not in known:
            continue
        for name in default_storage.listdir(f"{inbox}/{folder}")[1]:
            if name.lower().endswith(ALLOWED_EXTENSIONS):
                found.append((f"{inbox}/{folder}/{name}", folder))
    return sorted(found)


def inbox_scan() -> list[int]:
    """Import every new inbox file once (by checksum) and archive it; returns job ids."""
    job_ids = []
    for path, dataset in inbox_candidates():
        try:
            registry.get(dataset)
        except registry.DatasetNotFound as exc:
            logger.warning("inbox file %s: %s", path, exc)
            continue
        try:
            job_id = inbox_file_import(path=path, dataset=dataset)
        except Exception as exc:
            # One file that cannot be taken (storage trouble, say) must not stop the
            # files after it; it stays in the inbox for the next scan, and ops hear of it.
            logger.exception("inbox file %s could not be taken", path)
            _alert_raise(
                kind="inbox_file_failed",
                subject=path,
                message=f"Inbox file {path} could not be taken: {type(exc).__name__}: {exc}",
            )
            continue
        if job_id:
            job_ids.append(job_id)
    return job_ids


@transaction.atomic
def inbox_file_import(*, path: str, dataset: str) -> int | None:
    """Take one inbox file: import it unless its checksum was seen before; archive it."""
    with default_storage.open(path, "rb") as handle:
        checksum = file_checksum(handle)
        name = PurePosixPath(path).name
        day = timezone.now().strftime("%Y/%m/%d")
        inbox_file, created = InboxFile.objects.get_or_create(
            checksum=checksum, defaults={"path": path, "dataset": dataset}
        )
        prefix = "" if created else "duplicate-"
        archived = default_storage.save(
            f"{settings.IMPORT_ARCHIVE_DIR}/{day}/{uuid.uuid4().hex[:8]}-{prefix}{name}",
            File(raw_file(handle), name=name),
        )
    transaction.on_commit(lambda: default_storage.delete(path))
    if not created:
        logger.info("inbox file %s was imported before (%s); archived only", path, checksum)
        return None
    try:
        job = job_create(
            dataset=dataset, name=name, source=ImportJob.Source.INBOX, stored_path=archived
        )
    except ImportRejected as exc:
        # Too big, say: left in the inbox it would be refused again on every scan.
        # It is archived and taken; a failed job says why, in the admin and as an alert.
        job = _job_refused(
            dataset=dataset, name=name, path=archived, checksum=checksum, error=str(exc)
        )
    inbox_file.job = job
    inbox_file.archived_path = archived
    inbox_file.save(update_fields=["job", "archived_path"])
    if job.status == ImportJob.Status.PENDING:
        job_queue(job_id=job.id)
    return job.id


def _job_refused(*, dataset: str, name: str, path: str, checksum: str, error: str) -> ImportJob:
    """A FAILED inbox job for a file job_create refused; the uploader/ops are told."""
    now = timezone.now()
    job = ImportJob.objects.create(
        dataset=dataset,
        file=path,
        original_name=name,
        size_bytes=default_storage.size(path),
        checksum=checksum,
        source=ImportJob.Source.INBOX,
        status=ImportJob.Status.FAILED,
        error=error,
        started_at=now,
        finished_at=now,
    )
    _job_ended(job)
    return job
