"""The sample domain's report kind (discovered by the reporting app at start-up).

The end-of-day sales report: totals, categories and top items with their change
against the previous business day, every product's line for the attachment, and the
platform's day (imports, periodic runs, open alerts) from the reporting selectors.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from catalogue import selectors
from reporting import registry
from reporting import selectors as platform


def _change(current: Decimal | int, previous: Decimal | int) -> dict[str, Any]:
    delta = current - previous
    percent = None if not previous else round(Decimal(delta) * 100 / Decimal(previous), 1)
    return {"delta": delta, "percent": percent}


class EndOfDayReport(registry.ReportKind):
    key = "end_of_day"
    label = "End of day: sales and platform activity"
    template_prefix = "catalogue/reports/end_of_day"
    empty_means = "no sales lines on the day"
    detail_header = [
        "sku", "product", "category", "units", "revenue", "previous_revenue", "change", "stores",
    ]  # fmt: skip

    def build(self, day: registry.ReportDay) -> registry.ReportContent:
        business_date, previous = day.business_date, day.previous_business_date
        totals = selectors.sales_totals(day=business_date, previous_day=previous)
        categories = selectors.sales_by_category(day=business_date, previous_day=previous)
        for row in categories:
            row["change"] = _change(row["revenue"], row["previous_revenue"])
        top = selectors.top_products(
            day=business_date, previous_day=previous, limit=settings.REPORTING_TOP_ITEMS
        )
        detail = selectors.product_detail(day=business_date, previous_day=previous)
        start, end = day.window
        context = {
            "previous_date": previous,
            "totals": totals,
            "revenue_change": _change(totals["revenue"], totals["previous_revenue"]),
            "units_change": _change(totals["units"], totals["previous_units"]),
            "categories": categories,
            "top_products": top,
            "imports": platform.imports_of_day(start=start, end=end),
            "periodic": platform.periodic_runs_of_day(start=start, end=end),
            "alerts": platform.open_alerts(),
            "window_start": start,
            "window_end": end,
        }
        columns = ["sku", "name", "category", "units", "revenue", "previous_revenue", "change",
                   "stores"]  # fmt: skip
        rows = [[line[column] for column in columns] for line in detail]
        return registry.ReportContent(
            context=context,
            summary={"revenue": totals["revenue"], "units": totals["units"]},
            detail_header=self.detail_header,
            detail_rows=rows,
            empty=totals["lines"] == 0,
        )


registry.register(EndOfDayReport())
