"""High-frequency platform tasks (SCHEDULES_HISTORY_EXCLUDE, ops heartbeats by default)
do not flood the run history: their successes are not recorded, their failures are,
and so is the first success after a failure, so "N failures in a row" stays exact."""

from django.conf import settings as django_settings

from schedules.models import TaskRun
from tests.schedules.probe_tasks import hold
from tests.support.processes import wait_for


def _history():
    return list(
        TaskRun.objects.filter(task_name="tests.schedules.hold")
        .order_by("queued_at", "id")
        .values_list("status", "error")
    )


def test_heartbeats_are_excluded_by_default():
    assert "ops.heartbeat" in django_settings.SCHEDULES_HISTORY_EXCLUDE


def test_an_excluded_task_records_failures_and_the_recovery_but_not_routine_successes(
    celery_worker, settings
):
    settings.SCHEDULES_HISTORY_EXCLUDE = ["tests.schedules.hold"]
    beat = {"headers": {"periodic_task_name": "often"}}  # as beat sends it

    assert hold.apply_async(["a"], **beat).get(timeout=10) == "a"
    assert _history() == []

    failed = hold.apply_async(["b"], {"fail": True}, **beat)
    wait_for(lambda: len(_history()) == 1, timeout=10, message="the failure recorded")
    run = TaskRun.objects.get(celery_task_id=failed.id)
    assert (run.status, run.error) == ("failed", "ValueError: boom in b")
    assert run.started_at is not None
    assert run.worker

    assert hold.apply_async(["c"], **beat).get(timeout=10) == "c"
    wait_for(lambda: len(_history()) == 2, timeout=10, message="the recovery recorded")
    assert hold.apply_async(["d"], **beat).get(timeout=10) == "d"
    assert hold.apply_async(["e"], **beat).get(timeout=10) == "e"

    assert _history() == [("failed", "ValueError: boom in b"), ("succeeded", "")]
    assert not TaskRun.objects.filter(status__in=["queued", "started"]).exists()


def test_a_run_now_of_an_excluded_task_is_still_recorded(celery_worker, settings):
    settings.SCHEDULES_HISTORY_EXCLUDE = ["tests.schedules.hold"]

    result = hold.apply_async(["m"], schedules_trigger="manual", schedules_queued_by="alice")

    assert result.get(timeout=10) == "m"
    wait_for(
        lambda: TaskRun.objects.filter(celery_task_id=result.id, status="succeeded").exists(),
        timeout=10,
        message="the manual run recorded",
    )
    assert TaskRun.objects.get(celery_task_id=result.id).queued_by == "alice"
