"""The inbox: each new CSV file in IMPORT_INBOX_DIR is imported once, whole, and archived.

Senders write files slowly (an SFTP upload, a copy over the network), so a file is
taken only once it is complete:

- names senders give files in progress are never taken: dot-files (rsync's
  `.name.XXXXXX`), `*.part`, `*.tmp`, `*.filepart`;
- a file with a marker (`<name>.done`, written by the sender after the file) is
  complete; with IMPORT_INBOX_REQUIRE_MARKER a file without one is never taken;
- any other file must keep the same size and modification time over
  IMPORT_INBOX_SETTLE_SECONDS (two looks, one scan);
- the copy in the archive is checked against the inbox file (SHA-256, size and the
  settled look) as the last step of the transaction that creates the job: a file
  that changed while it was being taken is not archived, its job is rolled back
  before any worker sees it, and a later scan takes it whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from batches import registry
from batches.csvfiles import file_checksum
from batches.models import ImportJob, InboxFile
from batches.services.notifications import inbox_alert_file_failed, inbox_alert_file_taken
from batches.services.transitions import job_mark_ended
from batches.services.uploads import ALLOWED_EXTENSIONS, ImportRejected, job_create, job_queue

logger = logging.getLogger(__name__)

# Suffixes senders give a file while they write it, renaming it when it is complete.
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".filepart")
MARKER_SUFFIX = ".done"


@dataclass(frozen=True)
class InboxEntry:
    """A data file in the inbox: its storage path, its dataset, its marker's path if any."""

    path: str
    dataset: str
    marker: str = ""


@dataclass(frozen=True)
class Look:
    """What the storage says of a file at one moment."""

    size: int
    modified: dt.datetime


class InboxFileChanged(Exception):
    """The inbox file changed while it was being taken: it is left for a later scan."""


def in_progress_name(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or lowered.endswith(IN_PROGRESS_SUFFIXES)


def _entries_of(folder: str, names: list[str], dataset_of) -> list[InboxEntry]:
    present = set(names)
    found = []
    for name in names:
        if in_progress_name(name) or not name.lower().endswith(ALLOWED_EXTENSIONS):
            continue
        dataset = dataset_of(name)
        if dataset is None:
            continue
        marker = name + MARKER_SUFFIX
        found.append(
            InboxEntry(
                path=f"{folder}/{name}",
                dataset=dataset,
                marker=f"{folder}/{marker}" if marker in present else "",
            )
        )
    return found


def _dataset_in_name(name: str) -> str | None:
    if "__" in name:
        return name.split("__", 1)[0]
    logger.warning("inbox file %s names no dataset (use <dataset>__name.csv)", name)
    return None


def inbox_candidates() -> list[InboxEntry]:
    """The data files waiting in the inbox, in name order; files in progress left out.

    A file names its dataset as `<dataset>__anything.csv`, or sits in a folder
    named after the dataset (`<inbox>/<dataset>/anything.csv`).
    """
    inbox = settings.IMPORT_INBOX_DIR.rstrip("/")
    if not default_storage.exists(inbox):
        return []
    folders, files = default_storage.listdir(inbox)
    found = _entries_of(inbox, files, _dataset_in_name)
    known = {d.name for d in registry.all_datasets()}
    for folder in folders:
        if folder in known:
            names = default_storage.listdir(f"{inbox}/{folder}")[1]
            found += _entries_of(f"{inbox}/{folder}", names, lambda _name, d=folder: d)
    return sorted(found, key=lambda entry: entry.path)


def inbox_look(path: str) -> Look | None:
    """The file's size and modification time; None if it is gone (renamed, deleted)."""
    try:
        return Look(
            size=default_storage.size(path), modified=default_storage.get_modified_time(path)
        )
    except FileNotFoundError:
        return None


def inbox_settled() -> list[tuple[InboxEntry, Look]]:
    """The inbox files complete enough to take, each with the look it settled at.

    A marked file is complete now. Another is complete when two looks
    IMPORT_INBOX_SETTLE_SECONDS apart agree (one wait per scan, whatever the number
    of files); with IMPORT_INBOX_REQUIRE_MARKER it waits for its marker instead.
    """
    entries = []
    for entry in inbox_candidates():
        try:
            registry.get(entry.dataset)
        except registry.DatasetNotFound as exc:
            logger.warning("inbox file %s: %s", entry.path, exc)
            continue
        if entry.marker or not settings.IMPORT_INBOX_REQUIRE_MARKER:
            entries.append(entry)
    first = {entry.path: inbox_look(entry.path) for entry in entries if not entry.marker}
    if first:
        _settle_wait()
    settled = []
    for entry in entries:
        look = inbox_look(entry.path)
        if look is None:
            continue
        if not entry.marker and look != first[entry.path]:
            logger.info("inbox file %s is still being written; taken when it settles", entry.path)
            continue
        settled.append((entry, look))
    return settled


def _settle_wait() -> None:
    time.sleep(settings.IMPORT_INBOX_SETTLE_SECONDS)


def inbox_scan() -> list[int]:
    """Import every complete inbox file once (by checksum) and archive it; job ids."""
    job_ids = []
    for entry, look in inbox_settled():
        try:
            job_id = inbox_file_import(entry=entry, settled=look)
        except InboxFileChanged as exc:
            logger.warning("%s", exc)
            continue
        except Exception as exc:
            # One file that cannot be taken (storage trouble, say) must not stop the
            # files after it; it stays in the inbox for the next scan, and ops hear of it.
            logger.exception("inbox file %s could not be taken", entry.path)
            inbox_alert_file_failed(path=entry.path, exc=exc)
            continue
        inbox_alert_file_taken(path=entry.path)
        if job_id:
            job_ids.append(job_id)
    return job_ids


def inbox_file_import(*, entry: InboxEntry, settled: Look) -> int | None:
    """Take one inbox file: copy it to the archive, import it unless its checksum was
    seen before, and remove it (and its marker) from the inbox.

    Raises InboxFileChanged, leaving the inbox as it was and nothing else behind, if
    the file is not, at the end of the take, exactly what was copied.
    """
    path = entry.path
    name = PurePosixPath(path).name
    with default_storage.open(path, "rb") as handle:
        checksum = file_checksum(handle)
    seen = InboxFile.objects.filter(checksum=checksum).exists()
    day = timezone.now().strftime("%Y/%m/%d")
    prefix = "duplicate-" if seen else ""
    with default_storage.open(path, "rb") as handle:
        archived = default_storage.save(
            f"{settings.IMPORT_ARCHIVE_DIR}/{day}/{uuid.uuid4().hex[:8]}-{prefix}{name}",
            File(handle, name=name),
        )
    stored: list[str] = [archived]
    try:
        with transaction.atomic():
            job_id = _take(
                entry=entry, checksum=checksum, archived=archived, name=name, stored=stored
            )
            # The last step before the commit: what the job will read is the file as
            # the sender left it, or nothing is committed.
            _check_unchanged(path=path, settled=settled, checksum=checksum, archived=archived)
    except InboxFileChanged:
        for copy in stored:
            with contextlib.suppress(FileNotFoundError):
                default_storage.delete(copy)
        raise
    for done in (path, entry.marker):
        if done:
            default_storage.delete(done)
    return job_id


def _take(*, entry: InboxEntry, checksum: str, archived: str, name: str, stored: list[str]):
    """The inbox file's row and job, in the caller's transaction; the job's id or None."""
    inbox_file, created = InboxFile.objects.get_or_create(
        checksum=checksum, defaults={"path": entry.path, "dataset": entry.dataset}
    )
    if not created:
        logger.info("inbox file %s was imported before (%s); archived only", entry.path, checksum)
        return None
    try:
        job = job_create(
            dataset=entry.dataset,
            name=name,
            source=ImportJob.Source.INBOX,
            stored_path=archived,
            checksum=checksum,
        )
    except ImportRejected as exc:
        # Too big, say: left in the inbox it would be refused again on every scan.
        # It is archived and taken; a failed job says why, in the admin and as an alert.
        job = ImportJob.objects.create(
            dataset=entry.dataset,
            file=archived,
            original_name=name,
            size_bytes=default_storage.size(archived),
            checksum=checksum,
            source=ImportJob.Source.INBOX,
        )
        job_mark_ended(job=job, status=ImportJob.Status.FAILED, error=str(exc))
    if job.file != archived:
        stored.append(job.file)  # a UTF-16/32 file's converted copy
    inbox_file.job = job
    inbox_file.archived_path = archived
    inbox_file.save(update_fields=["job", "archived_path"])
    if job.status == ImportJob.Status.PENDING:
        job_queue(job_id=job.id)
    return job.id


def _check_unchanged(*, path: str, settled: Look, checksum: str, archived: str) -> None:
    if inbox_look(path) == settled and default_storage.size(archived) == settled.size:
        with default_storage.open(archived, "rb") as copy, default_storage.open(path, "rb") as now:
            if file_checksum(copy) == checksum == file_checksum(now):
                return
    raise InboxFileChanged(
        f"inbox file {path} changed while it was being taken; it is left in the inbox "
        f"and taken whole once it settles"
    )
