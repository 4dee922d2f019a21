"""Periodic tasks that keep failing open an alert; a success resolves it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ops.conditions import platform_status
from ops.models import Alert
from ops.services import ops_checks_run
from schedules.models import TaskRun
from tests.ops.tasks import fail_on_purpose
from tests.support.processes import wait_for


def _runs(task_name, statuses):
    """Newest last, a minute apart, ending now."""
    now = timezone.now()
    for n, status in enumerate(statuses):
        TaskRun.objects.create(
            task_name=task_name,
            status=status,
            queued_at=now - timedelta(minutes=len(statuses) - n),
            error="ValueError: boom" if status == "failed" else "",
        )


def _check():
    return ops_checks_run(status=platform_status(read_workers=False))


@pytest.mark.django_db
def test_three_failures_in_a_row_open_a_red_alert_and_successes_resolve_it(clean_redis):
    _runs("reporting.send_due", ["succeeded", "failed", "failed", "failed"])
    _check()
    alert = Alert.objects.get(kind="task_failing", subject="reporting.send_due", status="open")
    assert alert.severity == "red"
    assert "failed 3 times in a row" in alert.message
    assert "ValueError: boom" in alert.message

    _runs("reporting.send_due", ["succeeded"])
    _check()
    alert.refresh_from_db()
    assert (alert.status, alert.severity) == ("open", "amber"), "3 of 5 failed: still a high rate"

    _runs("reporting.send_due", ["succeeded", "succeeded"])
    _check()
    alert.refresh_from_db()
    assert alert.status == "resolved"


@pytest.mark.django_db
def test_a_high_failure_rate_without_a_streak_opens_an_amber_alert(clean_redis):
    _runs(
        "batches.scan_inbox", ["failed", "succeeded", "failed", "succeeded", "failed", "succeeded"]
    )
    _check()
    alert = Alert.objects.get(kind="task_failing", subject="batches.scan_inbox")
    assert alert.severity == "amber"
    assert "failed 3 of its last 6 runs (50%" in alert.message


@pytest.mark.django_db
def test_occasional_failures_and_skips_raise_nothing(clean_redis):
    _runs("schedules.tick", ["succeeded"] * 5 + ["failed"] + ["skipped"] * 4)
    _check()
    assert not Alert.objects.filter(kind="task_failing").exists()


@pytest.mark.slow
def test_beat_scheduled_task_failing_repeatedly_opens_a_failure_alert_once(
    ops_settings, ops_env, celery_worker, beat_process
):
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="always fails", task=fail_on_purpose.name, interval=every_second
    )
    beat = beat_process(env=ops_env())
    alert = wait_for(
        lambda: Alert.objects.filter(
            kind="task_failing", subject=fail_on_purpose.name, status="open"
        ).first(),
        timeout=30,
        message=f"failure alert from beat's checks; beat log:\n{beat.log()[-2000:]}",
    )
    assert alert.severity == "red"
    assert "row 7 rejected" in alert.message
    first_seen = alert.last_seen_at
    wait_for(
        lambda: Alert.objects.filter(id=alert.id, last_seen_at__gt=first_seen).exists(),
        timeout=10,
        message="a later check touching the same alert",
    )
    assert Alert.objects.filter(kind="task_failing", subject=fail_on_purpose.name).count() == 1
