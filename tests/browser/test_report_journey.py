"""Journey 3: an admin defines a report, previews it, sends a test, sees the run."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from catalogue.models import Category, DailySales, Product
from tests.browser.support import assert_accessible, save_screenshot
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
    page.get_by_label("To:", exact=True).fill("board@example.com, cfo@example.com")
    page.get_by_label("Send hour").fill("18")
    page.get_by_label("Send minute").fill("0")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "was added successfully" in page.inner_text(".messagelist")

    # The changelist row shows the schedule in words and links to the preview.
    row = page.locator("#result_list tbody tr", has_text="Daily sales for the board")
    assert "18:00" in row.inner_text()
    assert_accessible(page)
    row.get_by_role("link", name="preview").click()

    # Preview: subject, recipients and the HTML body rendered in the page.
    page.wait_for_url("**/preview/**")
    assert "Preview:" in page.get_by_role("heading", level=1).inner_text()
    assert "board@example.com" in page.inner_text("#content")
    assert "Sourdough" in page.locator("pre").inner_text()  # the text body
    html_body = page.frame_locator("iframe[title='HTML body']").locator("body")
    assert "Sourdough" in html_body.inner_text(timeout=5_000)  # the HTML body, as mailed
    assert_accessible(page)
    save_screenshot(page, "report_preview")

    # Send a test to myself with the changelist action.
    page.goto("/admin/reporting/reportdefinition/")
    row = page.locator("#result_list tbody tr", has_text="Daily sales for the board")
    row.get_by_role("checkbox").check()
    page.get_by_label("Action:").select_option(label="Send a test of the last business day to me")
    page.get_by_role("button", name="Go").click()
    assert "queued to ada@example.com" in page.inner_text(".messagelist")

    # The worker sends it; the run list records it.
    wait_for(lambda: mail.outbox, timeout=30, message="the test email in the outbox")
    assert mail.outbox[0].to == ["ada@example.com"]
    page.goto("/admin/reporting/reportrun/")
    run_row = page.locator("#result_list tbody tr", has_text="Daily sales for the board")
    assert "test to self" in run_row.inner_text()
    assert "sent" in run_row.inner_text()
    assert_accessible(page)
    save_screenshot(page, "report_runs")
