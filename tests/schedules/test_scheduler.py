"""The beat scheduler with real beat processes: duplicate beats, catch-up, live edits."""

import itertools
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from schedules.models import ScheduleOptions, TaskRun
from tests.support.processes import wait_for


def _interval_task(name: str, every: int, **fields) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    task = PeriodicTask.objects.create(
        name=name,
        task="tests.record_tick",
        kwargs=json.dumps({"key": f"ticks:{name}"}),
        interval=interval,
        **fields,
    )
    # These tests are about what beat sends. No worker runs it, so under the default
    # overlap policy (skip) the first run would hold the lock and every later one be
    # skipped; overlap policies are tested in test_overlap.py.
    ScheduleOptions.objects.create(periodic_task=task, overlap="allow")
    return task


def _queued(task: PeriodicTask):
    return TaskRun.objects.filter(periodic_task=task, status__in=["queued", "started", "succeeded"])


@pytest.mark.slow
def test_two_beats_at_once_never_send_the_same_run_twice(beat_process):
    task = _interval_task("two-beats", every=2)
    first = beat_process()
    second = beat_process()

    wait_for(lambda: _queued(task).count() >= 4, timeout=30, message="four runs")
    # Both beats reached the same due time at least once (under load their ticks can
    # drift apart for a while: wait for it rather than for a fixed time).
    wait_for(
        lambda: "already sent by another beat" in first.log() + second.log(),
        timeout=30,
        message="a due time claimed by the other beat",
    )
    first.stop()
    second.stop()

    times = sorted(_queued(task).values_list("queued_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    # One run per 2 s interval whichever beat sends it; a duplicate would be ~0 s apart.
    assert min(gaps) >= 1.5, gaps


@pytest.mark.slow
def test_after_downtime_a_task_runs_once_or_not_at_all_by_its_catch_up_policy(beat_process):
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    run_once = _interval_task("catch-up-once", every=60, last_run_at=ten_minutes_ago)
    skip = _interval_task("catch-up-skip", every=60, last_run_at=ten_minutes_ago)
    ScheduleOptions.objects.filter(periodic_task=run_once).update(catch_up="run_once")
    ScheduleOptions.objects.filter(periodic_task=skip).update(catch_up="skip")

    beat = beat_process()
    wait_for(
        lambda: TaskRun.objects.filter(periodic_task=skip, status="missed").exists(),
        timeout=30,
        message="the skipped task's missed run",
    )
    wait_for(lambda: _queued(run_once).exists(), timeout=10, message="the catch-up run")
    time.sleep(3)
    beat.stop()

    # Ten due times passed while beat was down: one run, not ten.
    assert _queued(run_once).count() == 1
    assert not _queued(skip).exists()
    missed = TaskRun.objects.get(periodic_task=skip, status="missed")
    assert missed.error.startswith("10 due time(s) missed")


@pytest.mark.slow
def test_a_schedule_resumed_in_the_admin_reaches_the_running_beat_within_seconds(
    beat_process, admin_client
):
    task = _interval_task("edited-live", every=1, enabled=False)
    beat = beat_process()
    wait_for(lambda: "beat: Starting" in beat.log(), timeout=20, message="beat started")
    time.sleep(2)
    assert not _queued(task).exists()

    response = admin_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "resume_tasks", "_selected_action": [task.pk]},
        follow=True,
    )
    assert response.status_code == 200

    # The bound is the wait itself: no run within 15 s of the resume fails the test.
    wait_for(lambda: _queued(task).exists(), timeout=15, message="a run after the edit")
