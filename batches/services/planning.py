"""Plan a queued job: settle the file's layout, split it into chunks, start the chord."""

from __future__ import annotations

import contextlib
import itertools
import logging

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from batches import registry
from batches.checks import dataset_problems
from batches.compatible import check_compatible_header
from batches.csvfiles import ImportFileError, inspect_file, plan_ranges
from batches.headers import HeaderError
from batches.models import ImportChunk, ImportJob
from batches.services import sending
from batches.services.chunks import chunk_delivery_end, chunk_import
from batches.services.transitions import job_mark_ended, job_mark_running

Phase = ImportJob.Phase
logger = logging.getLogger(__name__)


def header_check(dataset: registry.Dataset, header: list[str]) -> None:
    """Raise HeaderError if the file's header does not fit the dataset's path."""
    if dataset.is_fast:
        dataset.spec.plan(header, ignore_extra_columns=dataset.ignore_extra_columns)
    else:
        check_compatible_header(dataset, header)


def job_plan(*, job_id: int) -> str:
    """Split the stored file into chunk byte ranges and start the chord; idempotent.

    The planner locks the job and plans only a QUEUED one: a second delivery finds it
    RUNNING (or finished) and returns. A file of several chunks in the write phase
    is planned in two steps, so its first rows are written within a second whatever
    its size: the first chunk (IMPORT_FIRST_CHUNK_ROWS rows) is committed, the
    planner writes it itself (`_first_chunk_try`), then splits the rest and starts the
    chord over the chunks not done. Between the steps the job stays QUEUED: a planner
    that dies there is delivered again (or sent again by the relay) and resumes,
    planning the same first range again and keeping its chunk.
    """
    with contextlib.ExitStack() as stack:
        with transaction.atomic():
            job = _queued_job(job_id)
            if job is None:
                return ImportJob.objects.get(id=job_id).status
            handle = stack.enter_context(default_storage.open(job.file, "rb"))
            planned = _plan_first(job, handle)
            if isinstance(planned, str):
                return planned  # failed, or planned whole (one chunk, or validate first)
        first_id, ranges = planned
        tried = _first_chunk_try(first_id) if first_id is not None else 0
        with transaction.atomic():
            job = _queued_job(job_id)
            if job is None:
                return ImportJob.objects.get(id=job_id).status
            return _plan_rest(job, handle, ranges, tried=tried)


def _queued_job(job_id: int) -> ImportJob | None:
    """The job, locked, if the planner has it to plan (a cancelled one gets its end)."""
    job = ImportJob.objects.select_for_update().get(id=job_id)
    if job.status == ImportJob.Status.CANCELLED:
        fields = []
        if not job.rows_total and job.chunks.exists():
            # Cancelled while the planner wrote the first chunk: what that chunk did.
            done = job.chunks.aggregate(
                rows_total=Sum("row_count"), chunks_total=Count("id"), rows_new=Sum("rows_new"),
                rows_updated=Sum("rows_updated"), rows_unchanged=Sum("rows_unchanged"),
                rows_rejected=Sum("rows_rejected"),
            )  # fmt: skip
            for name, value in done.items():
                setattr(job, name, value or 0)
            fields += list(done)
        if not job.finished_at:
            job.finished_at = timezone.now()
            fields.append("finished_at")
        if fields:
            job.save(update_fields=fields)
        return None
    if job.status != ImportJob.Status.QUEUED:
        return None  # redelivered: already planned
    return job


def _plan_first(job: ImportJob, handle):
    """Settle the layout and the first range. Returns the job's status when the job
    ended here or was planned whole, else (the first chunk's id, or None when it is
    not to be tried by the planner, and the ranges still to plan)."""
    dataset = registry.get(job.dataset)
    name = job.original_name or job.file
    problems = dataset_problems(dataset)
    if problems:
        error = f"{name}: the dataset cannot be imported: " + " ".join(m for _, m in problems)
        job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=error)
        return job.status
    phase = _first_phase(job)
    resumed = job.chunks.order_by("index").first()  # a planner that died after step one
    try:
        layout = inspect_file(handle, encoding=job.encoding, delimiter=job.delimiter or None)
        header_check(dataset, layout.header)
        ranges = plan_ranges(
            handle,
            data_offset=layout.data_offset,
            chunk_rows=settings.IMPORT_CHUNK_ROWS,
            first_rows=resumed.row_count if resumed else settings.IMPORT_FIRST_CHUNK_ROWS,
        )
        first = next(ranges, None)
        second = next(ranges, None)
    except (ImportFileError, HeaderError) as exc:
        job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=f"{name}: {exc}")
        return job.status
    if first is None:
        error = f"{name}: the file has a header but no data rows"
        job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=error)
        return job.status
    job.encoding = layout.encoding
    job.delimiter = layout.delimiter
    job.header = layout.header
    job.data_offset = layout.data_offset
    job.chunk_rows = settings.IMPORT_CHUNK_ROWS
    rest = itertools.chain([second] if second else [], ranges)
    if resumed is not None:
        if (resumed.offset, resumed.length, resumed.first_row) != (
            first.offset,
            first.length,
            first.first_row,
        ):
            raise RuntimeError(f"import #{job.id}: the stored file changed since its first chunk")
        if second is None or phase != Phase.WRITE:
            return _plan_rest(job, handle, rest, tried=0)
        return None, rest  # resumed: tried once already, by the planner that died
    chunk = ImportChunk.objects.create(
        job=job, index=0, offset=first.offset, length=first.length,
        first_row=first.first_row, row_count=first.rows,
    )  # fmt: skip
    if second is None or phase != Phase.WRITE:
        return _plan_rest(job, handle, rest, tried=0)
    # More than one chunk: the first one's keys must be claimed (`chunks_total` > 1).
    job.chunks_total = 2
    job.save(update_fields=["encoding", "delimiter", "header", "data_offset", "chunk_rows",
                            "chunks_total"])  # fmt: skip
    return chunk.id, rest


def _first_phase(job: ImportJob) -> str:
    """All or nothing validates every chunk first; the other mode writes at once."""
    return Phase.VALIDATE if job.mode == ImportJob.Mode.ALL_OR_NOTHING else Phase.WRITE


def _first_chunk_try(chunk_id: int) -> int:
    """The planner writes the first chunk itself, once: 0 if it did, 1 if that try
    failed (then its chunk task has one try fewer: IMPORT_CHUNK_MAX_RETRIES holds)."""
    try:
        chunk_import(chunk_id=chunk_id, phase=Phase.WRITE)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        logger.warning(
            "chunk %s: the planner's try failed; its chunk task tries again",
            chunk_id,
            exc_info=True,
        )
        with contextlib.suppress(Exception):
            chunk_delivery_end(chunk_id=chunk_id)  # ended alive: not a poison delivery
        return 1
    return 0


def _plan_rest(job: ImportJob, handle, ranges, *, tried: int) -> str:
    """Every range after the first as a chunk, the job RUNNING, the chord on commit."""
    phase = _first_phase(job)
    start = job.chunks.count()
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
            for index, r in enumerate(ranges, start)
        ]
    )
    totals = job.chunks.aggregate(rows=Sum("row_count"), chunks=Count("id"))
    job.rows_total = totals["rows"] or 0
    job.chunks_total = totals["chunks"]
    job_mark_running(
        job=job,
        phase=phase,
        fields=[
            "encoding", "delimiter", "header", "data_offset", "chunk_rows",
            "rows_total", "chunks_total",
        ],
    )  # fmt: skip
    open_chunks = list(
        job.chunks.exclude(status=ImportChunk.Status.DONE)
        .order_by("index")
        .values_list("id", "index")
    )
    chunk_ids = [chunk_id for chunk_id, _ in open_chunks]
    tries = {chunk_id: tried for chunk_id, index in open_chunks if index == 0 and tried}
    transaction.on_commit(
        lambda: sending.chord_start(
            job_id=job.id, chunk_ids=chunk_ids, phase=phase, due=job.dispatch_due_at, tried=tries
        )
    )
    return job.status
