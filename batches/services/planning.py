"""Plan a queued job: settle the file's layout, split it into chunks, start the chord."""

from __future__ import annotations

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

    The planner locks the job and plans only a QUEUED one: a second delivery finds it
    RUNNING (or finished) and returns.
    """
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
        try:
            with default_storage.open(job.file, "rb") as handle:
                layout = inspect_file(
                    handle, encoding=job.encoding, delimiter=job.delimiter or None
                )
                header_check(dataset, layout.header)
                ranges = list(
                    plan_ranges(
                        handle,
                        data_offset=layout.data_offset,
                        chunk_rows=settings.IMPORT_CHUNK_ROWS,
                    )
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
            ]
        )
        job.encoding = layout.encoding
        job.delimiter = layout.delimiter
        job.header = layout.header
        job.data_offset = layout.data_offset
        job.chunk_rows = settings.IMPORT_CHUNK_ROWS
        job.rows_total = sum(r.rows for r in ranges)
        job.chunks_total = len(ranges)
        phase = Phase.VALIDATE if job.mode == ImportJob.Mode.ALL_OR_NOTHING else Phase.WRITE
        job_mark_running(
            job=job,
            phase=phase,
            fields=[
                "encoding", "delimiter", "header", "data_offset", "chunk_rows",
                "rows_total", "chunks_total",
            ],
        )  # fmt: skip
        chunk_ids = list(job.chunks.order_by("index").values_list("id", flat=True))
        transaction.on_commit(
            lambda: sending.chord_start(
                job_id=job.id, chunk_ids=chunk_ids, phase=phase, due=job.dispatch_due_at
            )
        )
        return job.status
