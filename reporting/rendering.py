"""Turn a definition and a business date into an email: subject, both bodies, attachments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string

from common.csv_safety import csv_bytes
from reporting import registry
from reporting.attachments import Attachment, attachments_build
from reporting.models import ReportDefinition

DEFAULT_TEMPLATE_PREFIX = "reporting/reports/default"


@dataclass
class RenderedReport:
    subject: str
    text_body: str
    html_body: str
    attachments: list[Attachment]
    detail_header: Sequence[str]
    detail_rows: Sequence[Sequence[Any]]
    empty: bool
    empty_means: str

    @property
    def attachment(self) -> bytes:
        """The first attachment's bytes (the CSV, unless the definition sends XLSX only)."""
        return self.attachments[0].content if self.attachments else b""

    @property
    def attachment_name(self) -> str:
        return self.attachments[0].name if self.attachments else ""

    @cached_property
    def detail_csv(self) -> bytes:
        return csv_bytes(header=self.detail_header, rows=self.detail_rows)


def cell_display(value: Any, *, zone: ZoneInfo) -> tuple[str, bool]:
    """A detail or summary value as the email shows it, and whether it is a number."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, float):
        return str(round(value, 3)), True
    if isinstance(value, int | Decimal):
        return str(value), True
    if isinstance(value, dt.datetime):
        local = value.astimezone(zone) if value.tzinfo else value
        return f"{local:%Y-%m-%d %H:%M}", False
    if isinstance(value, dt.date):
        return value.isoformat(), False
    return str(value), False


def report_subject(*, definition: ReportDefinition, business_date: dt.date) -> str:
    return f"{definition.name} — {business_date.isoformat()}"


def report_render(*, definition: ReportDefinition, business_date: dt.date) -> RenderedReport:
    kind = registry.get(definition.kind)
    day = registry.ReportDay(
        definition=definition,
        business_date=business_date,
        parameters=kind.parameters_clean(definition.parameters or {}),
    )
    content = kind.build(day)
    subject = report_subject(definition=definition, business_date=business_date)
    header, rows = list(content.detail_header), [list(row) for row in content.detail_rows]
    body_rows = settings.REPORTING_BODY_MAX_ROWS
    zone = ZoneInfo(definition.timezone)
    context = {
        "business_date": business_date,
        "timezone": definition.timezone,
        **content.context,
        "definition": definition,
        "subject": subject,
        "kind": kind,
        "summary": [
            (label, cell_display(value, zone=zone)[0] or "—")
            for label, value in content.summary.items()
        ],
        "detail_header": header,
        "detail_rows": rows,
        # The default templates show the first rows; the attachment has them all.
        "detail_cells": [[cell_display(v, zone=zone) for v in row] for row in rows[:body_rows]],
        "detail_rows_more": max(len(rows) - body_rows, 0),
        "empty": content.is_empty,
    }
    prefix = kind.template_prefix or DEFAULT_TEMPLATE_PREFIX
    slug = "".join(ch if ch.isalnum() else "-" for ch in definition.name.lower()).strip("-")
    return RenderedReport(
        subject=subject,
        text_body=render_to_string(f"{prefix}.txt", context),
        html_body=render_to_string(f"{prefix}.html", context),
        attachments=attachments_build(
            formats=definition.attachment_format_list,
            basename=f"{slug or 'report'}-{business_date.isoformat()}",
            header=header,
            rows=rows,
            title=definition.name,
            timezone=definition.timezone,
        ),
        detail_header=header,
        detail_rows=rows,
        empty=content.is_empty,
        empty_means=kind.empty_means,
    )
