"""Issue 7 scenario 10: a worker killed while holding an overlap lock. The schedule
recovers within the lock's time-out, and the admin shows why runs were skipped
meanwhile (which run holds the lock, since when, queued by whom)."""

import json
import time

import pytest
from celery import states
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from schedules.locks import lock_holder_read
from schedules.models import TaskRun
from schedules.services.overlap import PERIODIC_TASK_ID_OPTION, QUEUED_BY_OPTION, TRIGGER_OPTION
from schedules.services.reaper import runs_lost_reap
from schedules.tasks import sleep_probe
from tests.support.processes import subprocess_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.fault]

LIST_URL = "/admin/django_celery_beat/periodictask/"


def test_after_a_worker_is_killed_holding_the_lock_the_admin_names_the_holder_of_each_skip(
    worker_process, settings, admin_client
):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 1
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    task = PeriodicTask.objects.create(
        name="probe", task="schedules.sleep_probe", interval=every,
        kwargs=json.dumps({"seconds": 30}), enabled=False,
    )  # fmt: skip
    worker = worker_process(
        queues="default", concurrency=1, env=subprocess_env(SCHEDULES_LOCK_MARGIN_SECONDS="1")
    )
    # Queued by alice with a 4 s hard limit, so the lock (4 s + 1 s) times out quickly.
    first = sleep_probe.apply_async(
        kwargs={"seconds": 30}, time_limit=4, soft_time_limit=3,
        **{TRIGGER_OPTION: "manual", QUEUED_BY_OPTION: "alice", PERIODIC_TASK_ID_OPTION: task.pk},
    )  # fmt: skip
    wait_for(
        lambda: TaskRun.objects.filter(celery_task_id=first.id, status="started").exists(),
        timeout=20,
        message="the first run to start",
    )
    worker.kill()

    beat_like = sleep_probe.apply_async(
        kwargs={"seconds": 30}, headers={"periodic_task_name": "probe"}
    )
    assert beat_like.state == states.REJECTED
    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )
    message = " ".join(str(m) for m in response.context["messages"])
    assert "probe is already running since" in message
    assert first.id in message

    skipped = TaskRun.objects.filter(status="skipped", periodic_task=task)
    assert skipped.count() == 2
    for run in skipped:
        assert first.id in run.error
        assert "running since" in run.error
        assert "queued by alice (manual)" in run.error
    history = admin_client.get(
        "/admin/schedules/taskrun/", {"status__exact": "skipped"}
    ).content.decode()
    assert history.count(f"previous run {first.id} still holds the lock: running since") == 2
    assert history.count("queued by alice (manual)") == 2
    page = admin_client.get(f"{LIST_URL}{task.pk}/change/").content.decode()
    assert page.count(f"previous run {first.id} still holds the lock") == 2
    assert f"held by run {first.id}, running since" in page  # the overlap lock field

    # Recovery: within the lock's time-out (4 s + 1 s from the start) the job runs again,
    # and the reaper has marked the dead run failed as lost.
    holder = lock_holder_read(sleep_probe.lock_key([], {"seconds": 30}))
    assert holder["expires_in"] <= 5
    time.sleep(holder["expires_in"] + 0.5)
    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )
    assert "probe queued now" in " ".join(str(m) for m in response.context["messages"])
    wait_for(lambda: runs_lost_reap()["started"] == 1, timeout=10, message="the dead run reaped")
    page = admin_client.get(f"{LIST_URL}{task.pk}/change/").content.decode()
    assert "worker lost: no result within 1 s of the 4 s hard time limit" in page
