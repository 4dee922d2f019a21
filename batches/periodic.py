"""Default periodic tasks of the imports app (see schedules/defaults.py for the format)."""

DEFAULT_SCHEDULES = [
    {
        "name": "imports: scan inbox",
        "task": "batches.scan_inbox",
        "interval": 60,
        "description": "Imports each new CSV file in IMPORT_INBOX_DIR once (by checksum), "
        "once it is complete (settled, or marked), "
        "and moves it to IMPORT_ARCHIVE_DIR.",
    },
    {
        "name": "imports: resume stalled imports",
        "task": "batches.resume_stalled_imports",
        "interval": 60,
        "description": "Re-sends the planner of imports queued longer than "
        "IMPORT_REQUEUE_SECONDS (its message was lost), re-sends the lost chunks of running "
        "imports with no progress for IMPORT_STALL_SECONDS, and finishes those whose "
        "chord callback was lost.",
    },
    {
        "name": "imports: delete abandoned uploads",
        "task": "batches.delete_abandoned_uploads",
        "interval": 3600,
        "description": "Deletes uploads previewed but never confirmed, with their files, "
        "after IMPORT_PENDING_TTL_HOURS.",
    },
]
