"""Journey 1: an admin schedules a task for weekdays at 18:00, reads the schedule in
plain words with its next five runs, runs it now and finds the run in its history."""

import re

import pytest

from schedules.models import TaskRun
from tests.browser.support import (
    assert_accessible,
    login,
    run_admin_action,
    save_guide_picture,
    save_screenshot,
)
from tests.support.processes import wait_for

pytestmark = pytest.mark.browser


def test_admin_schedules_a_weekday_task_runs_it_now_and_sees_the_run(
    new_page, make_user, celery_worker
):
    make_user("ada", superuser=True)
    page = new_page()
    login(page, "ada")

    page.get_by_role("link", name="Periodic tasks", exact=True).click()
    page.get_by_role("link", name=re.compile("Add periodic task", re.I)).click()
    page.get_by_label("Name:").fill("Nightly probe")
    page.get_by_label("Task (registered):").select_option("schedules.sleep_probe")

    # The crontab is created where a person creates it: the "+" next to the field,
    # which opens Django's add-related popup.
    with page.expect_popup() as popup_info:
        page.locator("#add_id_crontab").click()
    popup = popup_info.value
    popup.get_by_label("Minute(s):").fill("0")
    popup.get_by_label("Hour(s):").fill("18")
    popup.get_by_label("Day(s) Of The Week:").fill("1-5")
    popup.get_by_role("button", name="Save", exact=True).click()
    popup.wait_for_event("close")
    assert "18" in page.locator("#id_crontab option:checked").inner_text()

    page.get_by_label("Keyword Arguments:").fill('{"seconds": 0.1}')
    page.get_by_role("button", name="Save and continue editing").click()
    assert "was added successfully" in page.inner_text(".messagelist")

    # The schedule in plain words, and the next five runs, all on weekdays at 18:00.
    schedule_words = page.locator(".field-schedule_in_words .readonly").inner_text()
    assert schedule_words == "At 18:00, Monday through Friday (UTC)"
    next_runs = page.locator(".field-next_five_runs li").all_inner_texts()
    assert len(next_runs) == 5
    for run in next_runs:
        assert re.match(r"(Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 18:00 ", run), run
    assert_accessible(page)
    save_screenshot(page, "schedule_created")

    # Run it now from the changelist, as an admin action.
    page.get_by_role("link", name="Periodic tasks", exact=True).first.click()
    row = page.locator("#result_list tbody tr", has_text="Nightly probe")
    assert "At 18:00, Monday through Friday" in row.inner_text()
    row.get_by_role("checkbox").check()
    run_admin_action(page, "Run selected tasks now (same lock and history)")
    assert "Nightly probe" in page.inner_text(".messagelist")
    assert_accessible(page)

    wait_for(
        lambda: TaskRun.objects.filter(status=TaskRun.Status.SUCCEEDED).exists(),
        timeout=30,
        message="the manual run to succeed in the worker",
    )

    # The run is in the task's history: on its page, and in the full run list.
    page.locator("#result_list tbody tr", has_text="Nightly probe").get_by_role(
        "link", name="Nightly probe"
    ).click()
    history = page.locator(".field-recent_runs table")
    assert re.search(r"succeeded\s+manual", history.inner_text())
    strip = page.locator(".field-last_runs .run-strip a")
    assert strip.count() == 1
    assert strip.first.get_attribute("aria-label").startswith("succeeded ")
    save_guide_picture(page, "periodic-task-change")
    page.get_by_role("link", name="All runs of this task").click()
    run_row = page.locator("#result_list tbody tr").first
    assert "schedules.sleep_probe" in run_row.inner_text()
    assert "succeeded" in run_row.inner_text()
    assert "manual" in run_row.inner_text()
    assert_accessible(page)
    save_screenshot(page, "schedule_run_history")
