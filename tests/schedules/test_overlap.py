"""Issue 13's acceptance: the overlap policy holds for a team's plain @shared_task
(tests/team/tasks.py), with a real `celery beat` and `celery worker -c 2`.

team.slow_step takes its `seconds` and keeps team:peak:<key>, the most runs of that
key that were ever running at once, counted by the task itself.
"""

from __future__ import annotations

import json
import re

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from schedules.models import TaskRun
from schedules.services.audit import periodic_task_write
from tests.support.processes import subprocess_env, wait_for

pytestmark = pytest.mark.slow

LIST_URL = "/admin/django_celery_beat/periodictask/"


def _schedule(name: str, *, overlap: str, every: int = 1, **kwargs) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    task_name, enabled = kwargs.pop("task", "team.slow_step"), kwargs.pop("enabled", True)
    task, _ = periodic_task_write(
        periodic_task=None,
        fields={
            "name": name,
            "task": task_name,
            "interval": interval,
            "kwargs": json.dumps(kwargs),
            "enabled": enabled,
        },
        options={"overlap": overlap},
        source="test",
    )
    return task


def _set_policy(task: PeriodicTask, overlap: str) -> None:
    periodic_task_write(periodic_task=task, fields={}, options={"overlap": overlap}, source="test")


def _statuses(task: PeriodicTask) -> list[str]:
    return list(TaskRun.objects.filter(periodic_task=task).values_list("status", flat=True))


def _peak(redis_client, key: str) -> int:
    return int(redis_client.get(f"team:peak:{key}") or 0)


def _run_now(admin_client, task: PeriodicTask) -> str:
    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )
    return " ".join(str(message) for message in response.context["messages"])


def test_beat_every_second_for_a_three_second_plain_task_skip_then_queue_one_then_allow(
    worker_process, beat_process, redis_client
):
    task = _schedule("stock step", overlap="skip", key="beat", seconds=3)
    worker_process(queues="default", concurrency=2)
    beat = beat_process()

    # skip: the runs due while one runs are not sent; each skip names the holder.
    wait_for(
        lambda: _statuses(task).count("skipped") >= 2 and "succeeded" in _statuses(task),
        timeout=45,
        message="a run done and two skipped under skip",
    )
    skipped = TaskRun.objects.filter(periodic_task=task, status="skipped").first()
    assert re.search(
        r"previous run \S+ still holds the lock: (running|queued) since", skipped.error
    )

    # queue one: one run waits behind the running one, never two.
    _set_policy(task, "queue_one")
    most_waiting, waited = 0, set()

    def a_waiting_run_ran() -> bool:
        nonlocal most_waiting
        waiting = set(
            TaskRun.objects.filter(periodic_task=task, status="waiting").values_list(
                "celery_task_id", flat=True
            )
        )
        most_waiting, waited_before = max(most_waiting, len(waiting)), set(waited)
        waited.update(waiting)
        return TaskRun.objects.filter(celery_task_id__in=waited_before, status="succeeded").exists()

    wait_for(a_waiting_run_ran, timeout=30, interval=0.1, message="a waiting run to run")
    assert most_waiting == 1
    assert _peak(redis_client, "beat") == 1, "two runs ran at once under skip or queue one"

    # allow: they overlap.
    _set_policy(task, "allow")
    wait_for(lambda: _peak(redis_client, "beat") == 2, timeout=20, message="two runs at once")
    beat.stop()


def test_run_now_follows_the_policy_skip_queue_one_and_allow(
    worker_process, admin_client, redis_client
):
    worker_process(queues="default", concurrency=2)
    skip = _schedule("now skip", overlap="skip", key="skip", seconds=2, enabled=False)
    queue = _schedule("now queue", overlap="queue_one", key="queue", seconds=2, enabled=False)
    allow = _schedule("now allow", overlap="allow", key="allow", seconds=2, enabled=False)

    def started(task) -> bool:
        return "started" in _statuses(task)

    assert "queued now" in _run_now(admin_client, skip)
    wait_for(lambda: started(skip), timeout=20, message="the first run to start")
    assert "now skip is already running since" in _run_now(admin_client, skip)

    assert "queued now" in _run_now(admin_client, queue)
    wait_for(lambda: started(queue), timeout=20, message="the first run to start")
    assert "this run (Celery task" in _run_now(admin_client, queue)  # ... waits behind it
    third = _run_now(admin_client, queue)
    assert "waits behind it" in third
    assert "this run was skipped" in third
    wait_for(
        lambda: sorted(_statuses(queue)) == ["skipped", "succeeded", "succeeded"],
        timeout=30,
        message="the waiting run to run after the first",
    )

    for _ in range(2):
        assert "queued now" in _run_now(admin_client, allow)
    wait_for(lambda: _statuses(allow) == ["succeeded"] * 2, timeout=30, message="both ran")

    assert sorted(_statuses(skip)) == ["skipped", "succeeded"]
    assert (_peak(redis_client, "skip"), _peak(redis_client, "queue")) == (1, 1)
    assert _peak(redis_client, "allow") == 2


@pytest.mark.parametrize(
    ("pool", "where"),
    [
        # A prefork worker reads them late: the worker drops each expired message unread.
        ("prefork", "its message expired with its overlap lock"),
        # A thread pool takes them at once and holds them until a thread is free: the
        # run is refused when it would start (schedules.guard).
        ("threads", "expired or was released before it started"),
    ],
)
def test_a_run_held_in_the_queue_past_its_lock_expires_and_never_runs_beside_its_successor(
    worker_process, admin_client, redis_client, settings, pool, where
):
    """team.tally's hard limit is 2 s, so with a 1 s margin its lock lives 3 s. The one
    worker process is kept busy while three Run nows wait behind it, each sent after
    the previous one's lock expired: the first two expire, only the third runs."""
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 1
    worker_process(
        queues="default",
        concurrency=1,
        pool=pool,
        env=subprocess_env(SCHEDULES_LOCK_MARGIN_SECONDS="1"),
    )
    from tests.team.tasks import hold_until

    hold_until.delay("backlog")
    wait_for(lambda: redis_client.exists("team:holding:backlog"), timeout=20, message="busy")
    task = _schedule("tally", overlap="skip", task="team.tally", key="backlog", enabled=False)
    lock_key = "qo_team.tally_key-backlog"
    sent = []
    for _ in range(3):
        wait_for(lambda: not redis_client.exists(lock_key), timeout=10, message="lock expiry")
        assert "queued now" in _run_now(admin_client, task)
        sent.append(TaskRun.objects.filter(periodic_task=task).latest("queued_at").celery_task_id)

    redis_client.set("team:go:backlog", 1)
    wait_for(
        lambda: TaskRun.objects.filter(celery_task_id=sent[2], status="succeeded").exists(),
        timeout=30,
        message="the last run to run",
    )
    wait_for(
        lambda: TaskRun.objects.filter(celery_task_id__in=sent[:2], status="expired").count() == 2,
        timeout=10,
        message="the first two recorded expired",
    )
    assert int(redis_client.get("team:tally:backlog")) == 1, "an expired run ran"
    for run in TaskRun.objects.filter(celery_task_id__in=sent[:2]):
        waited = float(re.match(r"expired in queue after waiting ([\d.]+) s", run.error)[1])
        assert waited > 0
        assert run.started_at is None
    assert where in TaskRun.objects.get(celery_task_id=sent[0]).error


def test_two_schedules_of_the_same_job_share_one_lock(db, clean_redis, admin_client):
    first = _schedule("north a", overlap="skip", key="shared", enabled=False)
    second = _schedule("north b", overlap="queue_one", key="shared", enabled=False)
    other = _schedule("south", overlap="skip", key="other", enabled=False)

    assert "queued now" in _run_now(admin_client, first)  # no worker: it stays queued

    assert "north b is already queued since" in _run_now(admin_client, second)
    assert "queued now" in _run_now(admin_client, other)
    assert _statuses(second) == ["skipped"]
