"""Store an uploaded file and create its job; queue a job once it is confirmed.

`job_create` stores the upload streamed (never read whole); a UTF-16/32 file is
stored converted to UTF-8, so every later step reads an ASCII-compatible file.
"""

from __future__ import annotations

import tempfile
import uuid
from contextlib import nullcontext
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import get_valid_filename

from batches import registry
from batches.csvfiles import (
    ImportFileError,
    WideEncoding,
    file_checksum,
    raw_file,
    transcode_to_utf8,
    wide_encoding,
)
from batches.filekinds import not_text_reason
from batches.models import ImportJob
from batches.services.sending import plan_send
from batches.services.transitions import job_mark_queued

ALLOWED_EXTENSIONS = (".csv", ".txt", ".tsv")


class ImportRejected(ValueError):
    """The file was refused before any job ran (too big, wrong type, unknown dataset)."""


def upload_check(*, name: str, size: int, head: bytes | None = None, encoding: str = "") -> None:
    """Refuse a file before it is stored: too big, not text (by its first bytes, when
    given: an image, an archive, a spreadsheet, ... named for what it is), not .csv."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if size > limit:
        raise ImportRejected(
            f"{name}: the file is {size:,} bytes; the upload limit is {limit:,} bytes"
        )
    if head is not None:
        try:
            wide = wide_encoding(head, encoding or None)
        except ImportFileError:
            wide = None  # a contradicting byte order mark: the preview says so
        reason = None if wide is not None else not_text_reason(head)
        if reason:
            raise ImportRejected(f"{name}: {reason}")
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
    checksum: str = "",
) -> ImportJob:
    """Store the file (streamed, never read whole) and create a PENDING job for it.

    A UTF-16/32 file (by its byte order mark, or a utf-16*/utf-32* `encoding`) is
    stored converted to UTF-8 and the job says so (`encoding` utf-8, `source_encoding`
    what it was); `stored_path` (an inbox file already in storage) then gets a
    converted copy under the upload folder. One that does not convert is stored as it
    came: the preview and the planner report where it is invalid. The size limit and
    the checksum are those of the bytes as they came (`checksum`, if the caller has
    just computed it, is not computed again).
    """
    registry.get(dataset)  # unknown dataset: DatasetNotFound before anything is stored
    if file is None and not stored_path:
        raise ValueError("job_create needs a file or a stored_path")
    size = default_storage.size(stored_path) if stored_path else file.size  # type: ignore[union-attr]
    upload_check(name=name, size=size)
    safe = get_valid_filename(PurePosixPath(name).name) or "upload.csv"
    upload_path = f"{settings.IMPORT_UPLOAD_DIR}/{uuid.uuid4().hex}/{safe}"
    source_encoding = ""
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
    """PENDING -> QUEUED, and send the planner once the transaction commits.

    The job is accepted once this commits, whether or not the broker answers: the
    planner is due in the job row until it is sent (`selectors.job_waiting_for_broker`
    tells the user which), and `batches.relay_imports` sends it when the broker is back.
    """
    due = job_mark_queued(job_id=job_id)
    if due:
        transaction.on_commit(lambda: plan_send(job_id=job_id, due=due))
    return due is not None
