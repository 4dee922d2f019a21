"""The periodic task list at a glance: 12 tasks with their run history fit a 1366 px
laptop screen without sideways scrolling, each with a strip of its last 20 runs whose
marks say their outcome and time and lead to the run; and the list works on a phone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from schedules.models import ScheduleOptions, TaskRun
from tests.browser.support import (
    LAPTOP,
    PHONE,
    assert_accessible,
    assert_fits_viewport,
    save_guide_picture,
    save_screenshot,
)

pytestmark = pytest.mark.browser

LIST_URL = "/admin/django_celery_beat/periodictask/"
# (name, task, schedule, overlap, a pattern of run outcomes repeated over 24 runs)
TASKS = [
    ("imports: scan inbox", "batches.scan_inbox", 60, "skip", ["succeeded"] * 7 + ["skipped"]),
    ("imports: resume stalled imports", "batches.resume_stalled_imports", 60, "skip",
     ["succeeded"]),
    ("imports: delete abandoned uploads", "batches.delete_abandoned_uploads", 3600, "skip",
     ["succeeded"] * 5 + ["failed"]),
    ("catalogue: refresh prices", "schedules.sleep_probe", 900, "skip", ["succeeded"]),
    ("schedules: prune history", "schedules.prune_history", "47 3 * * *", "skip",
     ["succeeded"] * 3 + ["missed"]),
    ("Platform end of day", "reporting.send_scheduled_report", "0 18 * * 1-5", "queue_one",
     ["succeeded"] * 9 + ["failed", "succeeded", "expired"]),
    ("nightly stock sync", "schedules.sleep_probe", "30 2 * * *", "allow",
     ["succeeded", "succeeded", "failed", "failed", "succeeded"]),
    ("probe every 5 minutes", "schedules.sleep_probe", 300, "skip",
     ["succeeded"] * 4 + ["skipped"]),
]  # fmt: skip
# The newest run of a task that is running now.
RUNNING_NOW = {"probe every 5 minutes"}
HEARTBEAT_QUEUES = ["default", "imports", "reports", "ops"]


def _schedule(spec) -> dict:
    if isinstance(spec, int):
        interval, _ = IntervalSchedule.objects.get_or_create(every=spec, period="seconds")
        return {"interval": interval}
    minute, hour, _, _, days = spec.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_week=days, day_of_month="*", month_of_year="*",
        timezone="Europe/London",
    )  # fmt: skip
    return {"crontab": crontab}


@pytest.fixture
def twelve_tasks_with_history(transactional_db) -> list[PeriodicTask]:
    """12 periodic tasks as `make run` has them after a few days: 8 with 24 runs each
    (the strip shows the last 20), and the 4 quiet heartbeats, one with a failure."""
    now = timezone.now()
    tasks = []
    for number, (name, task_name, schedule, overlap, pattern) in enumerate(TASKS):
        task = PeriodicTask.objects.create(
            name=name, task=task_name, kwargs="{}" if "probe" not in name else '{"seconds": 1}',
            **_schedule(schedule),
        )  # fmt: skip
        ScheduleOptions.objects.create(periodic_task=task, overlap=overlap, platform_owned=True)
        step = dt.timedelta(minutes=5 + number)
        TaskRun.objects.bulk_create(
            TaskRun(
                periodic_task=task,
                task_name=task_name,
                trigger="beat",
                status="started"
                if run == 23 and name in RUNNING_NOW
                else pattern[run % len(pattern)],
                queued_at=now - step * (24 - run),
                duration=dt.timedelta(seconds=1.5),
            )
            for run in range(24)
        )
        tasks.append(task)
    interval = _schedule(30)
    for queue in HEARTBEAT_QUEUES:
        task = PeriodicTask.objects.create(
            name=f"ops: heartbeat {queue}", task="ops.heartbeat", kwargs=f'{{"queue": "{queue}"}}',
            queue=queue, **interval,
        )  # fmt: skip
        ScheduleOptions.objects.create(periodic_task=task, platform_owned=True)
        tasks.append(task)
    TaskRun.objects.create(
        periodic_task=tasks[-2], task_name="ops.heartbeat", status="failed",
        queued_at=now - dt.timedelta(hours=2), error="Redis went away",
    )  # fmt: skip
    return tasks


def test_twelve_tasks_fit_a_laptop_screen_with_a_strip_of_their_last_runs(
    page_for, admin_user_browser, twelve_tasks_with_history
):
    page = page_for(admin_user_browser, viewport=LAPTOP)
    page.goto(LIST_URL)

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 12
    assert_fits_viewport(page)
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers[1:]] == [
        "name", "schedule", "next run", "enabled", "overlap", "last 20 runs",
    ]  # fmt: skip
    # The table fits its box: nothing is cut off or behind a scrollbar of its own.
    table = page.locator("#result_list").bounding_box()
    box = page.locator("#changelist .results").bounding_box()
    assert table["x"] + table["width"] <= box["x"] + box["width"] + 1, (table, box)

    # A task with a history shows its 20 newest runs, each saying what and when.
    inbox = rows.filter(has_text="imports: scan inbox")
    marks = inbox.locator(".run-strip a")
    assert marks.count() == 20
    labels = [marks.nth(n).get_attribute("aria-label") for n in range(20)]
    assert all(label == marks.nth(n).get_attribute("title") for n, label in enumerate(labels))
    assert sum(label.startswith("skipped ") for label in labels) >= 2
    assert labels == sorted(labels, key=lambda label: label.split(" ", 1)[1])  # oldest first
    running = rows.filter(has_text="probe every 5 minutes").locator("a.run-running")
    assert running.count() == 1

    # The heartbeats (quiet tasks) say so in a few words on one line, not a sentence
    # wrapped over four.
    for queue in HEARTBEAT_QUEUES:
        note = rows.filter(has_text=f"ops: heartbeat {queue}").locator(".run-note")
        assert note.inner_text() in ("no failure recorded", "failures only")
        assert note.bounding_box()["height"] < 24, queue
    assert_accessible(page)
    save_guide_picture(page, "periodic-tasks")

    # A mark leads to its run.
    label = marks.last.get_attribute("aria-label")
    marks.last.click()
    page.wait_for_url("**/schedules/taskrun/*/change/")
    content = page.inner_text("#content")
    assert "batches.scan_inbox" in content
    assert label.split(" ", 1)[0] in content  # the outcome the mark said


def test_the_periodic_task_list_fits_a_phone_and_passes_axe(
    page_for, admin_user_browser, twelve_tasks_with_history
):
    page = page_for(admin_user_browser, viewport=PHONE)
    page.goto(LIST_URL)

    assert page.locator("#result_list tbody tr").count() == 12
    assert_fits_viewport(page)
    assert_accessible(page)
    save_screenshot(page, "periodic_tasks_phone")
