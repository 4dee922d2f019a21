"""The registry of report kinds. A kind builds the template context and the detail rows
for one business date; rendering and sending are the same for every kind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.conf import settings

from reporting import selectors
from reporting.business_days import previous_business_day
from reporting.models import ReportDefinition


@dataclass
class ReportContent:
    context: dict[str, Any]
    detail_header: list[str]
    detail_rows: list[list[Any]] = field(default_factory=list)


class ReportKind(Protocol):
    key: str
    label: str
    template_prefix: str

    def build(self, *, definition: ReportDefinition, business_date: dt.date) -> ReportContent: ...


def _change(current: Decimal | int, previous: Decimal | int) -> dict[str, Any]:
    delta = current - previous
    percent = None if not previous else round(Decimal(delta) * 100 / Decimal(previous), 1)
    return {"delta": delta, "percent": percent}


def local_day_bounds(*, day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day as aware instants (23 or 25 hours across DST)."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


class EndOfDayReport:
    key = "end_of_day"
    label = "End of day: sales and platform activity"
    template_prefix = "reporting/end_of_day"
    detail_header = [
        "sku", "product", "category", "units", "revenue", "previous_revenue", "change", "stores",
    ]  # fmt: skip

    def build(self, *, definition: ReportDefinition, business_date: dt.date) -> ReportContent:
        previous = previous_business_day(definition=definition, day=business_date)
        totals = selectors.sales_totals(day=business_date, previous_day=previous)
        categories = selectors.sales_by_category(day=business_date, previous_day=previous)
        for row in categories:
            row["change"] = _change(row["revenue"], row["previous_revenue"])
        top = selectors.top_products(
            day=business_date, previous_day=previous, limit=settings.REPORTING_TOP_ITEMS
        )
        detail = selectors.product_detail(day=business_date, previous_day=previous)
        start, end = local_day_bounds(day=business_date, timezone=definition.timezone)
        context = {
            "business_date": business_date,
            "previous_date": previous,
            "timezone": definition.timezone,
            "totals": totals,
            "revenue_change": _change(totals["revenue"], totals["previous_revenue"]),
            "units_change": _change(totals["units"], totals["previous_units"]),
            "categories": categories,
            "top_products": top,
            "imports": selectors.imports_of_day(start=start, end=end),
            "periodic": selectors.periodic_runs_of_day(start=start, end=end),
            "alerts": selectors.open_alerts(),
            "window_start": start,
            "window_end": end,
        }
        rows = [
            [
                line["sku"],
                line["name"],
                line["category"],
                line["units"],
                line["revenue"],
                line["previous_revenue"],
                line["change"],
                line["stores"],
            ]
            for line in detail
        ]
        return ReportContent(context=context, detail_header=self.detail_header, detail_rows=rows)


REPORT_KINDS: dict[str, ReportKind] = {EndOfDayReport.key: EndOfDayReport()}


def report_kind_choices() -> list[tuple[str, str]]:
    return [(key, kind.label) for key, kind in REPORT_KINDS.items()]


def report_kind_get(key: str) -> ReportKind:
    try:
        return REPORT_KINDS[key]
    except KeyError:
        raise ValueError(f"Unknown report kind {key!r}; known: {', '.join(REPORT_KINDS)}") from None
