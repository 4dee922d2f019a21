"""Turn a definition and a business date into an email: subject, both bodies, CSV."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string

from common.csv_safety import csv_bytes
from reporting import registry
from reporting.models import ReportDefinition


@dataclass
class RenderedReport:
    subject: str
    text_body: str
    html_body: str
    attachment_name: str
    attachment: bytes
    detail_header: list[str]
    detail_rows: list[list[Any]]


def report_subject(*, definition: ReportDefinition, business_date: dt.date) -> str:
    return f"{definition.name} — {business_date.isoformat()}"


def report_render(*, definition: ReportDefinition, business_date: dt.date) -> RenderedReport:
    kind = registry.get(definition.kind)
    content = kind.build(definition=definition, business_date=business_date)
    subject = report_subject(definition=definition, business_date=business_date)
    context = {**content.context, "definition": definition, "subject": subject}
    slug = "".join(ch if ch.isalnum() else "-" for ch in definition.name.lower()).strip("-")
    return RenderedReport(
        subject=subject,
        text_body=render_to_string(f"{kind.template_prefix}.txt", context),
        html_body=render_to_string(f"{kind.template_prefix}.html", context),
        attachment_name=f"{slug or 'report'}-{business_date.isoformat()}.csv",
        attachment=csv_bytes(header=content.detail_header, rows=content.detail_rows),
        detail_header=content.detail_header,
        detail_rows=content.detail_rows,
    )
