"""Journey 3: an admin defines a report, previews it, sends a test, sees the run; and
finds the platform's own report ready after `make run`."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from batches.models import ImportJob
from catalogue.models import Category, DailySales, Product
from ops.models import Alert, Heartbeat, QueueSample
from reporting.business_days import last_completed_business_day, local_day_bounds
from reporting.models import ReportDefinition
from schedules.models import TaskRun
from tests.browser.support import (
    assert_accessible,
    run_admin_action,
    save_guide_picture,
    save_screenshot,
)
from tests.support.processes import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture
def recent_sales(transactional_db):
    """Sales on each of the last ten days, so whichever business day the report picks
    has rows."""
    bakery = Category.objects.create(code="BAK", name="Bakery")
    bread = Product.objects.create(sku="SKU-1", name="Sourdough", category=bakery, unit_price=4)
    today = timezone.localdate()
    DailySales.objects.bulk_create(
        DailySales(
            day=today - dt.timedelta(days=back),
            store_code="S001",
            sku=bread.sku,
            units=10 + back,
            unit_price=Decimal("4.00"),
            revenue=Decimal("4.00") * (10 + back),
        )
        for back in range(10)
    )


def test_admin_creates_a_report_previews_it_sends_a_test_and_sees_the_run(
    admin_page, celery_worker, recent_sales
):
    page = admin_page

    # Create the definition through the add form.
    page.goto("/admin/reporting/reportdefinition/add/")
    page.get_by_label("Name").fill("Daily sales for the board")
    page.get_by_label("Kind").select_option("end_of_day")  # the platform report is the default
    page.get_by_label("To:", exact=True).fill("board@example.com, cfo@example.com")
    page.get_by_label("Send hour").fill("18")
    page.get_by_label("Send minute").fill("0")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "was added successfully" in page.inner_text(".messagelist")

    # The changelist row shows the schedule in words and links to the preview.
    row = page.locator("#result_list tbody tr", has_text="Daily sales for the board")
    assert "18:00" in row.inner_text()
    assert_accessible(page)
    save_guide_picture(page, "report-definitions")
    row.get_by_role("link", name="preview").click()

    # Preview: subject, recipients and the HTML body rendered in the page.
    page.wait_for_url("**/preview/**")
    assert "Preview:" in page.get_by_role("heading", level=1).inner_text()
    assert "board@example.com" in page.inner_text("#content")
    assert "Sourdough" in page.locator("pre").inner_text()  # the text body
    html_body = page.frame_locator("iframe[title='HTML body']").locator("body")
    assert "Sourdough" in html_body.inner_text(timeout=5_000)  # the HTML body, as mailed
    assert_accessible(page)
    save_guide_picture(page, "report-preview")

    # Send a test to myself with the changelist action.
    page.goto("/admin/reporting/reportdefinition/")
    row = page.locator("#result_list tbody tr", has_text="Daily sales for the board")
    row.get_by_role("checkbox").check()
    run_admin_action(page, "Send a test of the last business day to me")
    assert "queued to ada@example.com" in page.inner_text(".messagelist")

    # The worker sends it; the run list records it.
    wait_for(lambda: mail.outbox, timeout=30, message="the test email in the outbox")
    assert mail.outbox[0].to == ["ada@example.com"]
    page.goto("/admin/reporting/reportrun/")
    run_row = page.locator("#result_list tbody tr", has_text="Daily sales for the board")
    assert "test to self" in run_row.inner_text()
    assert "sent" in run_row.inner_text()
    assert_accessible(page)
    save_guide_picture(page, "report-runs")


def a_day_on_the_platform(start: dt.datetime) -> None:
    """A plausible business day from `start` (local midnight): imports, runs, alerts, queues."""

    def at(hours: float) -> dt.datetime:
        return start + dt.timedelta(hours=hours)

    for dataset, status, hours, rows in [
        ("airports", "succeeded", 7, {"rows_total": 3376, "rows_new": 3376}),
        ("products", "succeeded", 8, {"rows_total": 400, "rows_updated": 12, "rows_unchanged": 388}),
        ("daily_sales", "partially_failed", 9.5,
         {"rows_total": 16000, "rows_new": 15991, "rows_rejected": 9, "error": "9 rows rejected"}),
        ("daily_sales", "succeeded", 16, {"rows_total": 16000, "rows_new": 16000}),
    ]:  # fmt: skip
        job = ImportJob.objects.create(dataset=dataset, status=status, file="f.csv", **rows)
        ImportJob.objects.filter(pk=job.pk).update(created_at=at(hours))
    for minute in range(0, 600, 30):
        TaskRun.objects.create(task_name="batches.scan_inbox", status="succeeded",
                               queued_at=at(8 + minute / 60))  # fmt: skip
    TaskRun.objects.create(task_name="batches.scan_inbox", status="failed", queued_at=at(12.25),
                           error="OperationalError: connection reset")  # fmt: skip
    TaskRun.objects.create(task_name="schedules.prune_history", status="skipped", queued_at=at(3))
    Alert.objects.create(kind="queue_latency", subject="imports", severity="amber", message="slow",
                         status="resolved", first_seen_at=at(9.6), last_seen_at=at(9.9),
                         resolved_at=at(10))  # fmt: skip
    Alert.objects.create(kind="import_failed", subject="daily_sales #3", message="9 rows rejected",
                         first_seen_at=at(9.6), last_seen_at=at(9.6))  # fmt: skip
    for queue, latencies, depths in [
        ("default", [0.01, 0.02, 0.05], [0, 0, 1]),
        ("imports", [0.02, 0.4, 12.5], [0, 310, 1200]),
        ("reports", [0.01, 0.01, 0.03], [0, 0, 0]),
        ("ops", [0.01, 0.02, 0.02], [0, 0, 0]),
    ]:
        for number, (latency, depth) in enumerate(zip(latencies, depths, strict=True)):
            when = at(8 + number * 2)
            Heartbeat.objects.create(queue=queue, celery_task_id=f"hb-{queue}-{number}",
                                     sent_at=when, started_at=when, latency=latency)  # fmt: skip
            QueueSample.objects.create(queue=queue, sampled_at=when, depth=depth, consumers=2)


def test_the_platform_report_is_ready_to_preview_and_send_after_make_run(
    admin_page, admin_user_browser, celery_worker, settings
):
    settings.DEMO_ADMIN_USERNAME = admin_user_browser.username
    call_command("ensure_default_reports")  # what `make run` does
    definition = ReportDefinition.objects.get()
    day = last_completed_business_day(definition=definition, at=timezone.now())
    a_day_on_the_platform(local_day_bounds(day=day, timezone=definition.timezone)[0])
    page = admin_page

    # The list shows it, enabled, with its next five sends.
    page.goto("/admin/reporting/reportdefinition/")
    row = page.locator("#result_list tbody tr", has_text="Platform end of day")
    assert row.locator("li").count() == 5
    assert "18:00" in row.inner_text()

    # Its page: kind, recipients, content options, the schedule in words, the next sends.
    row.get_by_role("link", name="Platform end of day").click()
    page.wait_for_url("**/change/")
    page.wait_for_load_state("load")  # the page is long (every time zone and country)
    content = page.inner_text("#content")
    assert "Monday to Friday" in content
    assert "ada@example.com" in page.get_by_label("To:", exact=True).input_value()
    assert_accessible(page)
    save_screenshot(page, "report_platform_definition")

    # Preview at once: the platform's day, as mailed.
    page.get_by_role("link", name="Preview").click()
    page.wait_for_url("**/preview/**")
    html_body = page.frame_locator("iframe[title='HTML body']").locator("body")
    assert "daily_sales" in html_body.inner_text(timeout=5_000)
    assert_accessible(page)

    # Send a test at once, from the definition's page.
    page.go_back()
    page.get_by_role("button", name="Send a test to me").click()
    assert "queued to ada@example.com" in page.inner_text(".messagelist")
    wait_for(lambda: mail.outbox, timeout=30, message="the test email in the outbox")
    [message] = mail.outbox
    assert message.subject == f"Platform end of day — {day.isoformat()}"
    [(html, _)] = message.alternatives
    email = page.context.new_page()
    email.set_content(html)
    assert "Queue slow to start tasks" in email.inner_text("body")
    save_screenshot(email, "report_platform_email")
