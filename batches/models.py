"""Import jobs, their chunks, the rows they rejected, and files seen in the inbox.

An `ImportJob` is one CSV file being imported into one registered dataset. The
planner splits the stored file into `ImportChunk` byte ranges; one Celery task per
chunk validates and upserts its rows and records its own counts, so job totals are
always computed from these rows (a redelivered chunk or callback cannot count twice).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        PARTIALLY_FAILED = "partially_failed", "partially failed"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    class Mode(models.TextChoices):
        VALID_ROWS = "valid_rows", "import the valid rows, report the rest"
        ALL_OR_NOTHING = "all_or_nothing", "all or nothing"

    class Source(models.TextChoices):
        ADMIN = "admin", "admin upload"
        CLI = "cli", "command line"
        INBOX = "inbox", "inbox"

    class Phase(models.TextChoices):
        # All-or-nothing jobs run a validate chord (no writes), then the write chord.
        VALIDATE = "validate", "validate"
        WRITE = "write", "write"

    FINISHED = (Status.SUCCEEDED, Status.PARTIALLY_FAILED, Status.FAILED, Status.CANCELLED)

    dataset = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.VALID_ROWS)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    # Path of the stored file in the default Django storage.
    file = models.CharField(max_length=500)
    original_name = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=64, blank=True, db_index=True)
    # Encoding of the stored file, which the planner and chunks read.
    encoding = models.CharField(max_length=40, default="utf-8")
    # The upload's encoding when it was UTF-16/32 ("utf-16-le", ...): job_create stored
    # it converted to UTF-8 (or, if it was invalid, as it came). Empty otherwise.
    source_encoding = models.CharField(max_length=40, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    header = models.JSONField(default=list, blank=True)
    # Byte offset where data rows start (after the BOM and header).
    data_offset = models.BigIntegerField(default=0)
    chunk_rows = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(null=True, blank=True)
    # The job's transactional outbox: since when a message the job needs (its planner,
    # or a chord of its chunks) is due but not yet handed to the broker. Set in the
    # transaction that makes the message necessary, cleared by the successful send;
    # `batches.relay_imports` sends what stays due (the broker was unreachable).
    dispatch_due_at = models.DateTimeField(null=True, blank=True)

    rows_total = models.BigIntegerField(default=0)
    rows_new = models.BigIntegerField(default=0)
    rows_updated = models.BigIntegerField(default=0)
    rows_unchanged = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    # Which chord runs now ("validate" or "write"): the stall sweep re-sends chunks in it.
    phase = models.CharField(max_length=10, default="write")
    # Why a job failed as a whole (bad header, empty file, ...); row errors are in ImportRowError.
    error = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_jobs",
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("run_import", "Can upload files and run, cancel or retry imports"),
            ("view_import", "Can follow imports and download their error files"),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="importjob_status_created"),
            models.Index(fields=["dataset", "-created_at"], name="importjob_dataset_created"),
            models.Index(
                fields=["dispatch_due_at"],
                condition=models.Q(dispatch_due_at__isnull=False),
                name="importjob_dispatch_due",
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.dataset} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration(self) -> dt.timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class ImportChunk(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        VALIDATED = "validated", "validated"
        DONE = "done", "done"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    offset = models.BigIntegerField()
    length = models.BigIntegerField()
    # Row number of the chunk's first record; the header is row 1.
    first_row = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Deliveries since the chunk last ended a run (done, failed or retry scheduled),
    # counted and committed before any work: more than one means earlier deliveries died
    # with their worker. Past IMPORT_CHUNK_MAX_DELIVERIES the chunk is failed unprocessed.
    deliveries = models.PositiveIntegerField(default=0)
    rows_new = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="importchunk_job_index"),
        ]
        indexes = [models.Index(fields=["job", "status"], name="importchunk_job_status")]

    def __str__(self) -> str:
        return f"chunk {self.index} of import #{self.job_id} ({self.status})"


class ImportRowError(models.Model):
    """A rejected row: where it is, what was wrong, and its raw cells for the error file."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    chunk = models.ForeignKey(
        ImportChunk, null=True, blank=True, on_delete=models.CASCADE, related_name="row_errors"
    )
    row_number = models.BigIntegerField()
    column = models.CharField(max_length=200, blank=True)
    message = models.TextField()
    values = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["job", "row_number", "id"]
        indexes = [models.Index(fields=["job", "row_number"], name="importrowerror_job_row")]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.message}"


class ImportKey(models.Model):
    """A natural key claimed by one row of a running import.

    Chunks run in parallel, so a key repeated in two chunks is only seen here: each
    chunk claims its keys, and a row whose key another row already claimed is
    rejected. Deleted when the job finishes.
    """

    # The key is the primary key: one index and no sequence. The key's text itself (as
    # COPY text; a key over 1,000 characters by its SHA-256), in the "C" collation: a
    # file's keys mostly come in order, so a chunk's claims go to the end of the index
    # in byte order, compared with memcmp (hashes went all over it).
    pk = models.CompositePrimaryKey("job", "key")
    # No database constraint: its deferred check per claimed row at commit cost as much
    # as the insert. Django's CASCADE still deletes a job's claims with the job.
    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    key = models.TextField(db_collation="C")
    row_number = models.BigIntegerField()

    def __str__(self) -> str:
        return f"row {self.row_number} of import #{self.job_id}"


class InboxFile(models.Model):
    """A file the inbox has taken; the unique checksum makes each file import once."""

    checksum = models.CharField(max_length=64, unique=True)
    path = models.CharField(max_length=500)
    archived_path = models.CharField(max_length=500, blank=True)
    dataset = models.CharField(max_length=100)
    job = models.OneToOneField(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbox_file"
    )
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.path} ({self.checksum[:12]})"
