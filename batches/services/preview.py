"""The upload preview: the header and the first rows checked before anything is written."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.storage import default_storage

from batches import registry
from batches.compatible import CompatibleChunk
from batches.csvfiles import (
    ImportFileError,
    inspect_file,
    iter_records,
    raw_file,
    read_range,
    wide_label,
)
from batches.features import HOOK_FAST_PATHS
from batches.headers import HeaderError
from batches.models import ImportJob
from batches.rejections import Rejected
from batches.rowhooks import validated_after_hook, with_original_cells
from batches.services.planning import header_check


def job_preview(*, job: ImportJob, rows: int | None = None) -> dict:
    """Validate the header and the first rows synchronously, for the upload preview."""
    limit = rows or settings.IMPORT_PREVIEW_ROWS
    dataset = registry.get(job.dataset)
    preview: dict = {
        "header": [],
        "rows": [],
        "error": "",
        "columns": dataset.column_names,
        "path": dataset.path,
        "path_explanation": dataset.profile.explanation,
    }
    try:
        with default_storage.open(job.file, "rb") as handle:
            layout = inspect_file(handle, encoding=job.encoding, delimiter=job.delimiter or None)
            preview["header"] = layout.header
            preview["delimiter"] = layout.delimiter
            preview["encoding"] = layout.encoding
            if job.source_encoding:
                preview["converted_from"] = wide_label(job.source_encoding)
            header_check(dataset, layout.header)
            preview["absent"] = [c for c in dataset.column_names if c not in layout.header]
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
            rejected = _checked(dataset, layout.header, cells)
    except (ImportFileError, HeaderError) as exc:
        preview["error"] = str(exc)
        return preview
    problems = {r.row_number: r for r in rejected}
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


def _checked(dataset, header: list[str], cells: list) -> list[Rejected]:
    """The sample's rejected rows, by the path the import takes (so the two agree).

    The compatible path runs the Resource's hooks and the writes as a dry run, in a
    savepoint it rolls back, as import_data(dry_run=True) does.
    """
    if dataset.is_fast:
        plan = dataset.spec.plan(header, ignore_extra_columns=dataset.ignore_extra_columns)
        return plan.validate(iter(cells)).rejected
    if dataset.path in HOOK_FAST_PATHS:
        records = list(cells)
        after = validated_after_hook(dataset, header, records, first_index=1, dry_run=True)
        if after is not None:
            return with_original_cells(after[1].rejected, records)
        cells = records
    run = CompatibleChunk(dataset, header, dry_run=True)
    return run.run(iter(cells), first_index=1, write=True).rejected


class _BytesHandle:
    """The preview's sample, shaped like a storage file for `read_range`."""

    def __init__(self, data: bytes):
        self.file = io.BytesIO(data)
