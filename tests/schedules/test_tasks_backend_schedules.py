"""A team's standard-API task (Django's `@task`, tests/team/standard_tasks.py) gets what
a plain `@shared_task` gets: listed and validated in the periodic-task admin, declared
in the team's periodic.py, scheduled every second under *skip* by a real beat without
ever overlapping, recorded in the run history, paused after N failures with an ops
alert, and recovered after its worker is killed mid-run. Its results read back through
Django's own API. The same assertions as the plain task's (test_overlap.py,
test_failure_pause.py, test_killed_worker_admin.py)."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ops.models import Alert
from schedules.models import ScheduleChange, ScheduleOptions, TaskRun
from schedules.services.audit import periodic_task_write
from schedules.services.default_schedules import default_schedules_sync
from schedules.services.overlap import periodic_run_send
from schedules.services.reaper import runs_lost_reap
from schedules.tasks_backend import api
from tests.support.processes import subprocess_env, wait_for
from tests.team import standard_tasks as team

LIST_URL = "/admin/django_celery_beat/periodictask/"
SLOW = team.slow_count.module_path  # "tests.team.standard_tasks.slow_count"


def _schedule(name: str, task: str, *, overlap: str = "skip", every: int = 1, enabled=True,
              pause_after_failures=None, **kwargs) -> PeriodicTask:  # fmt: skip
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    options = {"overlap": overlap}
    if pause_after_failures:
        options["pause_after_failures"] = pause_after_failures
    periodic_task, _ = periodic_task_write(
        periodic_task=None,
        fields={"name": name, "task": task, "interval": interval,
                "kwargs": json.dumps(kwargs), "enabled": enabled},
        options=options,
        source="test",
    )  # fmt: skip
    return periodic_task


def _run_now(admin_client, task: PeriodicTask) -> str:
    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )
    return " ".join(str(message) for message in response.context["messages"])


def _statuses(task: PeriodicTask) -> list[str]:
    return list(TaskRun.objects.filter(periodic_task=task).values_list("status", flat=True))


def test_the_admin_lists_standard_tasks_beside_celery_tasks_and_checks_their_arguments(
    db, admin_client
):
    page = admin_client.get(f"{LIST_URL}add/").content.decode()
    assert f'value="{SLOW}"' in page
    assert 'value="team.slow_step"' in page
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    form = {
        "name": "standard tally", "regtask": team.tally.module_path, "task": "",
        "interval": every.pk, "args": "[]", "kwargs": '{"wrong": 1}', "enabled": "on",
        "catch_up": "run_once", "overlap": "skip", "expire_seconds": "", "priority": "",
        "queue": "", "exchange": "", "routing_key": "", "headers": "{}", "description": "",
        "start_time_0": "", "start_time_1": "", "one_off": "",
    }  # fmt: skip
    response = admin_client.post(f"{LIST_URL}add/", form)
    assert f"Does not match {team.tally.module_path}(key: str)" in response.content.decode()
    response = admin_client.post(f"{LIST_URL}add/", {**form, "kwargs": '{"key": "admin"}'})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PeriodicTask.objects.get(name="standard tally").task == team.tally.module_path


def test_a_teams_periodic_py_declares_a_standard_task_schedule(db):
    default_schedules_sync()
    task = PeriodicTask.objects.get(name="team: hourly standard tally")
    assert task.task == "tests.team.standard_tasks.tally"
    assert (task.schedule_options.overlap, task.schedule_options.pause_after_failures) == (
        "skip",
        2,
    )


def test_a_run_now_is_ready_through_djangos_api_before_a_worker_takes_it(
    db, clean_redis, admin_client
):
    task = _schedule("std lined up", team.lined_up.module_path, every=3600, key="now",
                     label="admin")  # fmt: skip
    assert "queued now" in _run_now(admin_client, task)  # no worker: it stays queued
    run = TaskRun.objects.get(periodic_task=task)
    result = team.lined_up.get_result(run.celery_task_id)
    assert result.status == "READY"
    assert (result.kwargs, result.args) == ({"key": "now", "label": "admin"}, [])
    assert (result.task.queue_name, result.task.priority) == ("reports", -50)
    assert result.enqueued_at is not None
    assert result.started_at is None
    # On the task's own queue, at the Redis priority step of its priority (-50: 6).
    assert [key for key in clean_redis.scan_iter("reports*")] == [b"reports\x06\x166"]


@pytest.mark.slow
def test_beat_every_second_for_a_three_second_standard_task_skips_and_never_overlaps(
    worker_process, beat_process, redis_client
):
    task = _schedule("standard step", SLOW, key="std-beat", seconds=3)
    worker_process(queues="default", concurrency=2)
    beat = beat_process()
    wait_for(
        lambda: _statuses(task).count("skipped") >= 2 and "succeeded" in _statuses(task),
        timeout=45,
        message="a run done and two skipped under skip",
    )
    beat.stop()
    assert int(redis_client.get("team:peak:std-beat") or 0) == 1, "two runs ran at once"
    skipped = TaskRun.objects.filter(periodic_task=task, status="skipped").first()
    assert "still holds the lock" in skipped.error
    assert skipped.task_name == SLOW
    done = TaskRun.objects.filter(periodic_task=task, status="succeeded").first()
    result = team.slow_count.get_result(done.celery_task_id)  # Django's own API
    assert (result.status, result.return_value) == (api.TaskResultStatus.SUCCESSFUL, 1)
    assert result.kwargs == {"key": "std-beat", "seconds": 3}


def test_a_standard_task_schedule_pauses_after_n_failures_with_an_alert_and_resumes(
    celery_worker, admin_client
):
    task = _schedule("std north stock", team.sync_stock.module_path, every=3600,
                     pause_after_failures=2, warehouse="north", fail=True)  # fmt: skip
    for count in (1, 2):
        assert "queued now" in _run_now(admin_client, task)
        wait_for(
            lambda count=count: _statuses(task).count("failed") == count,
            timeout=20,
            message=f"failure {count} recorded",
        )
    wait_for(lambda: Alert.objects.filter(status="open").exists(), timeout=10, message="alert")
    task.refresh_from_db()
    assert task.enabled is False
    paused = ScheduleChange.objects.get(action="paused", periodic_task=task)
    assert "warehouse north did not answer" in paused.after["note"]
    alert = Alert.objects.get(status="open")
    assert (alert.kind, alert.subject) == ("schedule_paused", f"std north stock (#{task.pk})")
    run = TaskRun.objects.filter(periodic_task=task, status="failed").first()
    assert run.error == "ConnectionError: warehouse north did not answer"
    result = team.sync_stock.get_result(run.celery_task_id)
    assert result.status == api.TaskResultStatus.FAILED
    assert result.errors[0].exception_class is ConnectionError
    assert result.errors[0].traceback.endswith("ConnectionError: warehouse north did not answer\n")

    admin_client.post(LIST_URL, {"action": "resume_tasks", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.enabled
    assert ScheduleOptions.objects.get(periodic_task=task).paused_for_failures_at is None
    alert.refresh_from_db()
    assert alert.status == "resolved"


@pytest.mark.slow
@pytest.mark.fault
def test_a_standard_task_killed_mid_run_is_recovered_and_its_result_says_worker_lost(
    worker_process, settings, admin_client
):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 1
    task = _schedule("std probe", SLOW, enabled=False, key="killed", seconds=30)
    env = subprocess_env(SCHEDULES_LOCK_MARGIN_SECONDS="1")
    worker = worker_process(queues="default", concurrency=1, env=env)
    # As *Run now* sends it, with a 4 s hard limit so that its lock (4 s + 1 s) ends soon.
    first = periodic_run_send(
        task_name=SLOW, args=[], kwargs={"key": "killed", "seconds": 30},
        options={"time_limit": 4, "soft_time_limit": 3},
        trigger="manual", queued_by="alice", periodic_task_id=task.pk,
    )  # fmt: skip
    wait_for(
        lambda: TaskRun.objects.filter(
            celery_task_id=first.celery_task_id, status="started"
        ).exists(),
        timeout=20,
        message="the first run to start",
    )
    assert team.slow_count.get_result(first.celery_task_id).status == api.TaskResultStatus.RUNNING
    worker.kill()

    assert "is already running since" in _run_now(admin_client, task)  # skip: the lock holds
    wait_for(
        lambda: "queued now" in _run_now(admin_client, task),
        timeout=15,
        interval=0.5,
        message="the schedule to run again once the dead run's lock timed out",
    )
    wait_for(lambda: runs_lost_reap()["started"] == 1, timeout=10, message="the dead run reaped")
    assert "worker lost" in TaskRun.objects.get(celery_task_id=first.celery_task_id).error
    lost = team.slow_count.get_result(first.celery_task_id)
    assert lost.status == api.TaskResultStatus.FAILED
    assert lost.errors[-1].exception_class_path == "billiard.exceptions.WorkerLostError"
    assert "worker lost" in lost.errors[-1].traceback

    worker_process(queues="default", concurrency=1, env=env)
    wait_for(
        lambda: (
            TaskRun.objects.filter(periodic_task=task, status="started")
            .exclude(celery_task_id=first.celery_task_id)
            .exists()
        ),
        timeout=30,
        message="the next run to start on a live worker",
    )


@pytest.mark.slow
def test_a_standard_task_past_its_hard_time_limit_fails_with_the_limit_as_its_error(
    worker_process,
):
    worker_process(queues="default", concurrency=1)
    # The body sleeps through its soft limit (1 s); at the hard one (2 s) the pool's
    # parent kills the child, and the body never reaches its own except clause.
    sent = periodic_run_send(
        task_name=team.stubborn_sleep.module_path, args=[30], kwargs={},
        options={"time_limit": 2, "soft_time_limit": 1}, trigger="manual", policy="skip",
    )  # fmt: skip
    wait_for(
        lambda: team.stubborn_sleep.get_result(sent.celery_task_id).is_finished,
        timeout=30,
        message="the run killed at its limit",
    )
    result = team.stubborn_sleep.get_result(sent.celery_task_id)
    assert result.status == api.TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path.endswith("TimeLimitExceeded")
    wait_for(
        lambda: (
            "TimeLimitExceeded" in TaskRun.objects.get(celery_task_id=sent.celery_task_id).error
        ),
        timeout=10,
        message="the run history to say so too",
    )


@pytest.mark.slow
@pytest.mark.fault
def test_a_late_acknowledged_standard_task_killed_mid_run_is_sent_again_and_counts_two_attempts(
    worker_process,
):
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="tests.schedules.late_ack_settings",
        OPS_WORKER_ALIVE_INTERVAL="1",
        OPS_WORKER_DEAD_AFTER="4",
        OPS_RECOVERY_INTERVAL="1",
    )
    first = worker_process(queues="default", concurrency=1, env=env)
    result = team.slow_count.enqueue("redelivered", seconds=4)  # from code
    wait_for(
        lambda: result.refresh() or result.status == api.TaskResultStatus.RUNNING,
        timeout=20,
        message="the run to start",
    )
    first.kill()  # the whole worker, no goodbye
    second = worker_process(queues="default", concurrency=1, env=env)
    wait_for(
        lambda: result.refresh() or result.is_finished, timeout=90, message="the run sent again"
    )
    assert result.status == api.TaskResultStatus.SUCCESSFUL
    assert result.attempts == 2
    assert result.worker_ids == [first.hostname, second.hostname]
