"""Default periodic tasks of the imports app (see schedules/defaults.py for the format)."""

DEFAULT_SCHEDULES = [
    {
        "name": "imports: scan inbox",
        "task": "batches.scan_inbox",
        "interval": 60,
        "description": "Imports each new CSV file in IMPORT_INBOX_DIR once (by checksum) "
        "and moves it to IMPORT_ARCHIVE_DIR.",
    },
]
