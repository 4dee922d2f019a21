"""Pause on failure, through a team's plain task: after N failed runs in a row the
schedule pauses itself, says why in the audit trail and opens an ops alert; Resume
clears all three, and the failures before it no longer count."""

import json

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ops.models import Alert
from schedules.models import ScheduleChange, ScheduleOptions, TaskRun
from schedules.services.failures import periodic_tasks_failure_pause_check
from tests.support.processes import wait_for

LIST_URL = "/admin/django_celery_beat/periodictask/"


def _post(admin_client, action, task):
    return admin_client.post(LIST_URL, {"action": action, "_selected_action": [task.pk]})


def _run_and_wait_failed(admin_client, task, count):
    _post(admin_client, "run_now", task)
    wait_for(
        lambda: TaskRun.objects.filter(periodic_task=task, status="failed").count() == count,
        timeout=20,
        message=f"failure {count} recorded",
    )


def test_a_schedule_pauses_after_n_failures_in_a_row_and_resumes_cleanly(
    celery_worker, admin_client
):
    every = IntervalSchedule.objects.create(every=3600, period="seconds")
    task = PeriodicTask.objects.create(
        name="north stock", task="team.sync_stock", interval=every,
        kwargs=json.dumps({"warehouse": "north", "fail": True}),
    )  # fmt: skip
    ScheduleOptions.objects.create(periodic_task=task, pause_after_failures=2)

    _run_and_wait_failed(admin_client, task, 1)
    task.refresh_from_db()
    assert task.enabled
    _run_and_wait_failed(admin_client, task, 2)

    wait_for(lambda: Alert.objects.filter(status="open").exists(), timeout=10, message="alert")
    task.refresh_from_db()
    assert task.enabled is False
    paused = ScheduleChange.objects.get(action="paused")
    assert (paused.user, paused.source) == (None, "pause on failure")
    assert paused.after["note"].startswith("paused after 2 failed runs in a row; last error: ")
    assert "warehouse north did not answer" in paused.after["note"]
    alert = Alert.objects.get(status="open")
    assert (alert.kind, alert.subject) == ("schedule_paused", f"north stock (#{task.pk})")
    page = admin_client.get(f"{LIST_URL}{task.pk}/change/").content.decode()
    assert "after 2 failed runs in a row" in page

    _post(admin_client, "resume_tasks", task)

    task.refresh_from_db()
    assert task.enabled
    assert task.schedule_options.paused_for_failures_at is None
    alert.refresh_from_db()
    assert alert.status == "resolved"
    resumed = ScheduleChange.objects.get(action="resumed")
    assert (resumed.user.username, resumed.source) == ("admin", "admin")
    # The failures before the resume no longer count: one more does not pause it.
    _run_and_wait_failed(admin_client, task, 3)
    assert periodic_tasks_failure_pause_check(periodic_task_ids=[task.pk]) == []
    task.refresh_from_db()
    assert task.enabled
