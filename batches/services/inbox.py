"""The inbox: each new CSV file in IMPORT_INBOX_DIR is imported once and archived."""

from __future__ import annotations

import logging
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from batches import registry
from batches.csvfiles import file_checksum, raw_file
from batches.models import ImportJob, InboxFile
from batches.services.notifications import inbox_alert_file_failed, inbox_alert_file_taken
from batches.services.transitions import job_mark_ended
from batches.services.uploads import ALLOWED_EXTENSIONS, ImportRejected, job_create, job_queue

logger = logging.getLogger(__name__)


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
            inbox_alert_file_failed(path=path, exc=exc)
            continue
        inbox_alert_file_taken(path=path)
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
        job = ImportJob.objects.create(
            dataset=dataset,
            file=archived,
            original_name=name,
            size_bytes=default_storage.size(archived),
            checksum=checksum,
            source=ImportJob.Source.INBOX,
        )
        job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=str(exc))
    inbox_file.job = job
    inbox_file.archived_path = archived
    inbox_file.save(update_fields=["job", "archived_path"])
    if job.status == ImportJob.Status.PENDING:
        job_queue(job_id=job.id)
    return job.id
