"""Benchmark: render the end-of-day report over 1,000,000 daily sales lines.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python benchmarks/reporting_eod.py [--rows N]

Prints the render time (median of several runs, plus the first, cold run) and the number
of SQL queries one render runs, next to a baseline measured in the same run: the same
sales figures (per category, per product, top ten) computed in Python from every sales
line of the two days (what a report without database aggregation would do). Writes to the configured database: it
upserts the demo catalogue and the sales lines (generate_demo_data's service).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from catalogue.models import DailySales, Product  # noqa: E402
from catalogue.services import demo_data_generate  # noqa: E402
from reporting.models import ReportDefinition  # noqa: E402
from reporting.rendering import report_render  # noqa: E402

END_DAY = dt.date(2026, 11, 20)  # a Friday: the newest day of the generated data
# The generator fills days oldest first, so the newest day may be partial; the report is
# for the day before it, a full day (400 products x 40 stores = 16,000 lines).
REPORT_DAY = END_DAY - dt.timedelta(days=1)


def timed(function, repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def render_measured(render, *, repeats: int, what: str):
    """Render once cold (counting its queries), then `repeats` times; print both."""
    with CaptureQueriesContext(connection) as queries:
        cold_started = time.perf_counter()
        rendered = render()
        cold = time.perf_counter() - cold_started
    median, times, _ = timed(render, repeats)
    print(f"{what}: first {cold * 1000:.0f} ms, median of {repeats} {median * 1000:.0f} ms "
          f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")  # fmt: skip
    print(f"queries per render: {len(queries.captured_queries)}")
    return rendered, median


def python_side_baseline(day: dt.date, previous: dt.date) -> dict:
    """The same figures the report shows, computed in Python from every sales line."""
    products = {
        sku: (name, category)
        for sku, name, category in Product.objects.values_list("sku", "name", "category__name")
    }
    by_category: dict[tuple, Decimal] = defaultdict(Decimal)
    by_product: dict[tuple, Decimal] = defaultdict(Decimal)
    units: dict[str, int] = defaultdict(int)
    lines = DailySales.objects.filter(day__in=[day, previous]).values_list(
        "day", "sku", "units", "revenue"
    )
    for line_day, sku, line_units, revenue in lines.iterator(chunk_size=5000):
        category = products.get(sku, ("?", "?"))[1]
        by_category[category, line_day] += revenue
        by_product[sku, line_day] += revenue
        if line_day == day:
            units[sku] += line_units
    top = sorted(((by_product[sku, day], sku) for sku in units), reverse=True)[:10]
    return {"categories": by_category, "products": by_product, "top": top}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-generate", action="store_true")
    args = parser.parse_args()

    if not args.skip_generate:
        started = time.perf_counter()
        written = demo_data_generate(rows=args.rows, end_day=END_DAY, replace=True)
        print(f"generated {written:,} daily sales lines in {time.perf_counter() - started:.1f}s")
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {DailySales._meta.db_table}")
    total = DailySales.objects.count()
    day_lines = DailySales.objects.filter(day=REPORT_DAY).count()
    print(f"table: {total:,} lines; business day {REPORT_DAY}: {day_lines:,} lines")

    definition = ReportDefinition(
        name="Benchmark end of day", kind="end_of_day", timezone="Europe/Berlin"
    )

    def render():
        return report_render(definition=definition, business_date=REPORT_DAY)

    rendered, median = render_measured(render, repeats=args.repeats, what="end-of-day render")
    previous = REPORT_DAY - dt.timedelta(days=1)
    base_median, _, _ = timed(lambda: python_side_baseline(REPORT_DAY, previous), args.repeats)
    with CaptureQueriesContext(connection) as base_queries:
        python_side_baseline(REPORT_DAY, previous)

    print(f"CSV attachment: {len(rendered.detail_rows)} rows, {len(rendered.attachment):,} bytes; "
          f"HTML {len(rendered.html_body):,} chars, text {len(rendered.text_body):,} chars")  # fmt: skip
    print(f"baseline (the same sales figures computed in Python from every line of both days): "
          f"{base_median * 1000:.0f} ms, {len(base_queries.captured_queries)} queries")  # fmt: skip
    print(f"render / baseline: {median / base_median:.2f}x")


if __name__ == "__main__":
    main()
