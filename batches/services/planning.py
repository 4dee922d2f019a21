"""Plan a queued job: settle the file's layout, split it into chunks, start the chord."""

from __future__ import annotations

import itertools

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from batches import registry
from batches.checks import dataset_problems
from batches.compatible import check_compatible_header
from batches.csvfiles import ImportFileError, inspect_file, plan_ranges
from batches.headers import HeaderError
from batches.models import ImportChunk, ImportJob
from batches.services import sending
from batches.services.transitions import job_mark_ended, job_mark_running

Phase = ImportJob.Phase


def header_check(dataset: registry.Dataset, header: list[str]) -> None:
    """Raise HeaderError if the file's header does not fit the dataset's path."""
    if dataset.is_fast:
        dataset.spec.plan(header, ignore_extra_columns=dataset.ignore_extra_columns)
    else:
        check_compatible_header(dataset, header)


def job_plan(*, job_id: int) -> str:
    """Split the stored file into chunk byte ranges and start the chord; idempotent.

    The first chunk is committed and sent on its own as soon as its range is known
    (`_plan_first_chunk`), so its rows are written while the rest of the file is
    being split; the chord then runs every chunk (the first one, already done or
    running under its row lock, is a no-op there). The planner locks the job and plans
    only a QUEUED one: a second delivery finds it RUNNING (or finished) and returns,
    or, QUEUED with its first chunk planned, plans the others.
    """
    _plan_first_chunk(job_id=job_id)
    return _plan_all(job_id=job_id)


def _plan_first_chunk(*, job_id: int) -> None:
    """Commit the first chunk of a file of several and send it; nothing otherwise.

    The job stays QUEUED, with its layout (which the chunk reads) and two chunks in
    `chunks_total` for now, so the chunk claims its keys against the others as every
    chunk does. Any problem with the file is left to `_plan_all`, which reports it.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(id=job_id)
        if job.status != ImportJob.Status.QUEUED or job.chunks.exists():
            return
        dataset = registry.get(job.dataset)
        if dataset_problems(dataset):
            return
        try:
            with default_storage.open(job.file, "rb") as handle:
                layout = inspect_file(
                    handle, encoding=job.encoding, delimiter=job.delimiter or None
                )
                header_check(dataset, layout.header)
                ranges = plan_ranges(
                    handle, data_offset=layout.data_offset, chunk_rows=settings.IMPORT_CHUNK_ROWS
                )
                first_two = list(itertools.islice(ranges, 2))
        except (ImportFileError, HeaderError):
            return
        if len(first_two) < 2:
            return  # one chunk: planned whole
        first = first_two[0]
        chunk = ImportChunk.objects.create(
            job=job,
            index=0,
            offset=first.offset,
            length=first.length,
            first_row=first.first_row,
            row_count=first.rows,
        )
        _keep_layout(job, layout)
        job.chunks_total = 2
        job.save(update_fields=[*LAYOUT_FIELDS, "chunks_total"])
        phase = _first_phase(job)
        transaction.on_commit(lambda: sending.chunk_send(chunk_id=chunk.id, phase=phase))


LAYOUT_FIELDS = ["encoding", "delimiter", "header", "data_offset", "chunk_rows"]


def _keep_layout(job: ImportJob, layout) -> None:
    job.encoding = layout.encoding
    job.delimiter = layout.delimiter
    job.header = layout.header
    job.data_offset = layout.data_offset
    job.chunk_rows = settings.IMPORT_CHUNK_ROWS


def _first_phase(job: ImportJob) -> str:
    return Phase.VALIDATE if job.mode == ImportJob.Mode.ALL_OR_NOTHING else Phase.WRITE


def _plan_all(*, job_id: int) -> str:
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
        name = job.original_name or job.file
        problems = dataset_problems(dataset)
        if problems:
            error = f"{name}: the dataset cannot be imported: " + " ".join(m for _, m in problems)
            job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=error)
            return job.status
        # The first chunk, sent early: the layout it was read with is the job's.
        planned = set(job.chunks.values_list("index", flat=True))
        try:
            with default_storage.open(job.file, "rb") as handle:
                if not planned:
                    layout = inspect_file(
                        handle, encoding=job.encoding, delimiter=job.delimiter or None
                    )
                    header_check(dataset, layout.header)
                    _keep_layout(job, layout)
                ranges = list(
                    plan_ranges(handle, data_offset=job.data_offset, chunk_rows=job.chunk_rows)
                )
        except (ImportFileError, HeaderError) as exc:
            job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=f"{name}: {exc}")
            return job.status
        if not ranges:
            error = f"{name}: the file has a header but no data rows"
            job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=error)
            return job.status
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
                if index not in planned
            ]
        )
        job.rows_total = sum(r.rows for r in ranges)
        job.chunks_total = len(ranges)
        phase = _first_phase(job)
        job_mark_running(
            job=job, phase=phase, fields=[*LAYOUT_FIELDS, "rows_total", "chunks_total"]
        )
        chunk_ids = list(job.chunks.order_by("index").values_list("id", flat=True))
        if planned:
            # The chunk sent early goes last: its second delivery then finds it done,
            # instead of holding a worker process waiting for its row lock.
            chunk_ids = chunk_ids[1:] + chunk_ids[:1]
        transaction.on_commit(
            lambda: sending.chord_start(
                job_id=job.id, chunk_ids=chunk_ids, phase=phase, due=job.dispatch_due_at
            )
        )
        return job.status
