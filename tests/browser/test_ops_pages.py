"""The admin home ("did the night go well?") and the ops dashboard in a browser, on a
laptop screen (1366x768) and a phone: what they show, to whom, and axe's verdict.

The pages read the state beat, the workers and the checks store; here that state is
written as they write it (heartbeats, the workers' liveness records, the checks' last
run), after a night of imports, periodic runs, an alert and two reports. The laptop
runs take the ops guide's pictures (admin-home, ops-dashboard).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.browser.support import (
    LAPTOP,
    PHONE,
    assert_accessible,
    assert_fits_viewport,
    save_guide_picture,
    save_screenshot,
)
from tests.ops.live_state import platform_running

pytestmark = pytest.mark.browser


@pytest.fixture
def night(transactional_db, clean_redis):
    """The platform after a night: mostly fine, one import failed, one alert open."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from batches.models import ImportJob
    from ops.services import alert_raise
    from reporting.models import ReportDefinition
    from schedules.models import TaskRun

    platform_running(
        workers={"general@host": ["default", "ops", "reports"], "imports@host": ["imports"]}
    )

    now = timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    last_night = midnight + (now - midnight) / 2  # today, whatever time the test runs
    outcomes = [
        ("succeeded", 14, 0),
        ("failed", 1, 0),
        ("running", 1, 0),
        ("succeeded", 12, 1),
        ("partially_failed", 1, 1),
    ]
    for status, count, days_back in outcomes:
        for n in range(count):
            job = ImportJob.objects.create(
                dataset="daily_sales", status=status, original_name=f"sales-{n}.csv"
            )
            ImportJob.objects.filter(id=job.id).update(
                created_at=last_night - dt.timedelta(days=days_back, seconds=n)
            )
    runs = [
        ("succeeded", 46, 0),
        ("failed", 2, 0),
        ("skipped", 3, 0),
        ("missed", 1, 0),
        ("succeeded", 48, 1),
        ("expired", 1, 1),
    ]
    TaskRun.objects.bulk_create(
        TaskRun(
            task_name="team.nightly_sync",
            status=status,
            queued_at=last_night - dt.timedelta(days=days_back, seconds=n),
        )
        for status, count, days_back in runs
        for n in range(count)
    )
    alert_raise(
        kind="import_failed",
        subject="import #4812",
        message="2 of 9 chunks failed (OperationalError); they can be retried.",
        severity="amber",
    )
    for name, hour, zone in [
        ("Daily sales", 18, "Europe/Berlin"),
        ("Platform end of day", 19, "UTC"),
    ]:
        crontab = CrontabSchedule.objects.create(
            minute="0", hour=str(hour), day_of_week="1-5", timezone=zone
        )
        task = PeriodicTask.objects.create(
            name=f"report: {name}", crontab=crontab, task="reporting.send_report"
        )
        ReportDefinition.objects.create(
            name=name, to_recipients="team@example.com", timezone=zone, periodic_task=task
        )


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_the_admin_home_says_how_the_night_went_and_links_each_part(
    page_for, admin_user_browser, night, viewport
):
    page = page_for(admin_user_browser, viewport)
    page.goto("/admin/")
    state = page.locator("#ops-home-state")
    assert "Overall:" in state.inner_text()
    assert "AMBER" in state.inner_text(), "an amber alert is open"
    imports = page.locator("#ops-home-imports_by_day")
    assert imports.get_by_role("row").nth(1).inner_text().split() == ["today", "14", "1", "1"]
    assert imports.get_by_role("row").nth(2).inner_text().split() == ["yesterday", "12", "0", "1"]
    runs = page.locator("#ops-home-periodic_runs").get_by_role("row").nth(1).inner_text().split()
    assert runs == ["today", "46", "2", "3", "1", "0", "0"]
    assert "Import failed: import #4812" in page.locator("#ops-home-open_alerts").inner_text()
    sends = page.locator("#ops-home-next_report_sends").inner_text()
    assert "Daily sales" in sends
    assert "Platform end of day" in sends
    assert_fits_viewport(page)
    assert_accessible(page)
    if viewport == LAPTOP:
        save_guide_picture(page, "admin-home")
    save_screenshot(page, f"ops_admin_home_{'laptop' if viewport == LAPTOP else 'phone'}")

    # Each count leads to what it counts.
    imports.get_by_role("link", name="1", exact=True).first.click()
    page.wait_for_url("**/admin/batches/importjob/**")
    assert "1 import job" in page.inner_text("#changelist")


def test_the_admin_home_shows_a_person_only_what_they_may_open(page_for, make_user, night):
    viewer = make_user("iris", perms=("batches.view_import",))
    page = page_for(viewer, LAPTOP)
    page.goto("/admin/")
    assert page.locator("#ops-home-imports_by_day").is_visible()
    for hidden in (
        "#ops-home-state",
        "#ops-home-open_alerts",
        "#ops-home-periodic_runs",
        "#ops-home-next_report_sends",
    ):
        assert page.locator(hidden).count() == 0, hidden
    assert "import #4812" not in page.inner_text("#content")
    assert_accessible(page)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_the_ops_dashboard_fits_and_reads_the_workers_records(
    page_for, admin_user_browser, night, viewport
):
    page = page_for(admin_user_browser, viewport)
    page.goto("/admin/ops/dashboard/")
    assert page.get_by_role("heading", level=1).inner_text() == "Ops dashboard"
    workers = page.locator("#ops-workers").inner_text()
    assert "general@host: default, ops, reports" in workers
    assert "imports@host: imports" in workers
    assert "last ran" in page.locator("#ops-checks").inner_text()
    assert_fits_viewport(page)
    assert_accessible(page)
    if viewport == LAPTOP:
        save_guide_picture(page, "ops-dashboard")
    save_screenshot(page, f"ops_dashboard_{'laptop' if viewport == LAPTOP else 'phone'}")
