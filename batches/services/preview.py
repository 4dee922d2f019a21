"""The upload preview: the header and the first rows checked before anything is written."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.storage import default_storage

from batches import registry
from batches.csvfiles import (
    ImportFileError,
    inspect_file,
    iter_records,
    raw_file,
    read_range,
    wide_label,
)
from batches.models import ImportJob
from batches.rows import HeaderError, Rejected


def job_preview(*, job: ImportJob, rows: int | None = None) -> dict:
    """Validate the header and the first rows synchronously, for the upload preview."""
    limit = rows or settings.IMPORT_PREVIEW_ROWS
    dataset = registry.get(job.dataset)
    preview: dict = {"header": [], "rows": [], "error": "", "columns": dataset.spec.column_names}
    try:
        with default_storage.open(job.file, "rb") as handle:
            layout = inspect_file(handle, encoding=job.encoding, delimiter=job.delimiter or None)
            preview["header"] = layout.header
            preview["delimiter"] = layout.delimiter
            preview["encoding"] = layout.encoding
            if job.source_encoding:
                preview["converted_from"] = wide_label(job.source_encoding)
            plan = dataset.spec.plan(
                layout.header, ignore_extra_columns=dataset.ignore_extra_columns
            )
            raw = raw_file(handle)
            raw.seek(layout.data_offset)
            sample = bytearray()
            records = 0
            for record in iter_records(raw):
                sample += record
                if record.strip():
                    records += 1
                if records >= limit:
                    break
            if not records:
                raise ImportFileError("the file has a header but no data rows")
            numbered, undecodable = read_range(
                _BytesHandle(bytes(sample)),
                offset=0,
                length=len(sample),
                first_row=2,
                encoding=layout.encoding,
                delimiter=layout.delimiter,
            )
            cells = list(numbered)
            validated = plan.validate(iter(cells))
    except (ImportFileError, HeaderError) as exc:
        preview["error"] = str(exc)
        return preview
    problems = {r.row_number: r for r in validated.rejected}
    for u in undecodable:
        problems[u.row_number] = Rejected(u.row_number, [], u.message, u.values)
    ordered = sorted([(n, c) for n, c in cells] + [(u.row_number, u.values) for u in undecodable])
    for number, values in ordered:
        problem = problems.get(number)
        preview["rows"].append(
            {
                "number": number,
                "cells": [
                    {"value": value, "error": problem.field_errors.get(name, "") if problem else ""}
                    for name, value in zip(layout.header, values, strict=False)
                ],
                "error": problem.message if problem else "",
            }
        )
    preview["rejected"] = len(problems)
    return preview


class _BytesHandle:
    """The preview's sample, shaped like a storage file for `read_range`."""

    def __init__(self, data: bytes):
        self.file = io.BytesIO(data)
