"""What the end-of-day report says, and how many queries it takes to say it."""

import csv
import datetime as dt
import io
from decimal import Decimal

from django.utils import timezone

from batches.models import ImportJob
from catalogue.services import demo_data_generate
from common.csv_safety import csv_safe_cell
from ops.services import alert_raise
from reporting.rendering import report_render
from schedules.models import TaskRun
from tests.reporting.conftest import FORMULA_NAME, FRIDAY


def csv_rows(rendered):
    return list(csv.reader(io.StringIO(rendered.attachment.decode("utf-8-sig"))))


def test_report_shows_sales_by_category_top_items_and_day_over_day_change(sales, make_definition):
    rendered = report_render(definition=make_definition(), business_date=FRIDAY)
    assert rendered.subject == "Daily sales — 2026-11-20"
    text = rendered.text_body
    assert "Revenue: 115.99 (+29.99, +34.9% day over day)" in text
    assert "Units:   37 (+9 day over day)" in text
    assert "- Bakery: 80.00 revenue, 20 units (+16.00, +25.0%)" in text
    assert "- Beverages: 26.00 revenue, 16 units (+4.00, +18.2%)" in text
    assert "- (unknown product): 9.99 revenue, 1 units (+9.99)" in text
    assert "1. SKU-1 Sourdough (Bakery): 80.00 revenue, 20 units" in text
    assert "compared with Thursday 19 November 2026" in text
    assert "<td>Bakery</td>" in rendered.html_body
    # Autoescaped in HTML, verbatim in text.
    assert "=HYPERLINK(&quot;http://evil.example&quot;" in rendered.html_body


def test_csv_attachment_escapes_cells_that_would_run_as_formulas(sales, make_definition):
    rows = csv_rows(report_render(definition=make_definition(), business_date=FRIDAY))
    assert rows[0] == [
        "sku", "product", "category", "units", "revenue", "previous_revenue", "change", "stores",
    ]  # fmt: skip
    by_sku = {row[0]: row for row in rows[1:]}
    assert by_sku["SKU-3"][1] == "'" + FORMULA_NAME
    assert by_sku["SKU-1"] == ["SKU-1", "Sourdough", "Bakery", "20", "80.00", "64.00", "16.00", "2"]
    assert set(by_sku) == {"SKU-1", "SKU-2", "SKU-3", "SKU-X"}


def test_every_dangerous_leading_character_is_escaped():
    for dangerous in ["=1+1", "+1+A1", "-1-cmd", "@SUM(A1)", "\tx", "\rx", "-", "+"]:
        assert csv_safe_cell(dangerous) == "'" + dangerous
    assert csv_safe_cell("Sourdough") == "Sourdough"
    assert csv_safe_cell(None) == ""


def test_numbers_stay_numbers_so_a_written_file_imports_again_as_it_is():
    for number in [Decimal("-3.50"), -5, 2.5, "-5", "+1", "-0.25", "+1.5e3", "-.5"]:
        assert csv_safe_cell(number) == str(number)


def test_report_shows_the_platforms_day_imports_and_open_alerts(sales, make_definition):
    definition = make_definition()
    inside = timezone.make_aware(dt.datetime(2026, 11, 20, 9, 0), timezone=dt.UTC)
    outside = timezone.make_aware(dt.datetime(2026, 11, 21, 9, 0), timezone=dt.UTC)
    for status, rejected, created_at in [
        (ImportJob.Status.SUCCEEDED, 0, inside),
        (ImportJob.Status.PARTIALLY_FAILED, 7, inside),
        (ImportJob.Status.FAILED, 0, outside),
    ]:
        job = ImportJob.objects.create(
            dataset="daily_sales", status=status, file="x.csv", rows_total=100,
            rows_new=90, rows_updated=3, rows_rejected=rejected,
        )  # fmt: skip
        ImportJob.objects.filter(pk=job.pk).update(created_at=created_at)
    for status, queued_at in [
        (TaskRun.Status.SUCCEEDED, inside),
        (TaskRun.Status.FAILED, inside),
        (TaskRun.Status.SKIPPED, inside),
        (TaskRun.Status.FAILED, outside),
    ]:
        TaskRun.objects.create(
            task_name="batches.scan_inbox", status=status, queued_at=queued_at,
            error="boom" if status == TaskRun.Status.FAILED else "",
        )  # fmt: skip
    alert_raise(kind="queue_stalled", subject="imports", message="no heartbeat")
    text = report_render(definition=definition, business_date=FRIDAY).text_body
    assert "Imports: 2 jobs, 186 rows in, 7 rejected, 1 failed or partially failed" in text
    assert "daily_sales: partially_failed, 7 of 100 rows rejected" in text
    assert "Periodic runs: 3, 1 succeeded, 1 failed, 1 skipped (overlap), 0 missed" in text
    assert "- batches.scan_inbox: failed at 10:00: boom" in text
    assert "- batches.scan_inbox: skipped at 10:00"  # Berlin time in text
    assert "Open ops alerts: 1" in text
    assert "queue_stalled: imports" in text


def test_report_runs_a_fixed_handful_of_queries_whatever_the_data_size(
    make_definition, django_assert_max_num_queries
):
    definition = make_definition()
    demo_data_generate(rows=2_000, end_day=FRIDAY, products=50)
    with django_assert_max_num_queries(12):
        small = report_render(definition=definition, business_date=FRIDAY)
    demo_data_generate(rows=40_000, end_day=FRIDAY, products=200)
    with django_assert_max_num_queries(12):
        large = report_render(definition=definition, business_date=FRIDAY)
    assert len(small.detail_rows) < len(large.detail_rows) == 200


def test_a_day_without_sales_renders_an_empty_report(make_definition):
    rendered = report_render(definition=make_definition(), business_date=FRIDAY)
    assert "No sales recorded for this day." in rendered.text_body
    assert csv_rows(rendered)[1:] == []
