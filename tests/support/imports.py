"""Creating import jobs and waiting for them, for every test that imports a file."""

from __future__ import annotations

from django.core.files.base import ContentFile

from batches.models import ImportJob
from batches.services.uploads import job_create
from tests.support.processes import wait_for


def make_job(
    dataset: str,
    content: bytes | str,
    *,
    name: str = "upload.csv",
    user=None,
    mode: str = ImportJob.Mode.VALID_ROWS,
    encoding: str = "",
    delimiter: str = "",
) -> ImportJob:
    """A PENDING job for `content`, stored the way an upload is."""
    data = content.encode() if isinstance(content, str) else content
    return job_create(
        dataset=dataset,
        file=ContentFile(data, name=name),
        name=name,
        user=user,
        mode=mode,
        encoding=encoding,
        delimiter=delimiter,
    )


def wait_for_finish(job_id: int, *, timeout: float = 60) -> ImportJob:
    """Poll until the job has ended (its finishing transaction committed)."""

    def finished():
        job = ImportJob.objects.get(id=job_id)
        return job if job.finished_at and job.is_finished else None

    return wait_for(finished, timeout=timeout, message=f"import #{job_id} to finish")
