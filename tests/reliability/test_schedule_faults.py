"""Beat and overlap locks under fault. Two beats at once and beat down across several
due times are covered in tests/schedules/test_scheduler.py; a killed worker wedging a
lock until its time-out in tests/schedules/test_locking.py. These add a beat killed
right after it sent, and what the admin shows while a dead run's lock is held."""

from __future__ import annotations

import itertools
import json
import signal
import time

import pytest
from celery import states
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from schedules.locks import lock_holder_read
from schedules.models import TaskRun
from schedules.services.reaper import runs_lost_reap
from schedules.tasks import sleep_probe
from tests.support.processes import subprocess_env, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def test_beat_killed_right_after_sending_does_not_make_its_successor_send_that_run_again(
    beat_process,
):
    every, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    task = PeriodicTask.objects.create(
        name="killed-beat", task="tests.record_tick", interval=every,
        kwargs=json.dumps({"key": "ticks:killed-beat"}),
    )  # fmt: skip
    runs = TaskRun.objects.filter(periodic_task=task)
    first = beat_process()
    # A sent run, not only a missed record: a beat slow to start records the due times
    # it was late for before it sends (those must not be recorded twice either).
    sent = runs.exclude(status=TaskRun.Status.MISSED)
    wait_for(lambda: sent.exists(), timeout=30, message="the first beat to send")

    first.signal(signal.SIGKILL)  # right after sending: no clean shutdown, no final sync
    first.process.wait(timeout=10)
    second = beat_process()
    wait_for(lambda: runs.count() >= 4, timeout=30, message="the second beat to carry on")
    second.stop()

    times = sorted(runs.values_list("queued_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    # One run per 2 s whichever beat sent it; a run sent twice would be ~0 s apart.
    # (Missed records count too: a due time the dead beat sent is not also "missed".)
    # On failure, every row whole and both beats' logs: which beat wrote what, and why
    # (pytest.fail, as an assertion's message would be cut short).
    if min(gaps) < 1.5:
        rows = runs.order_by("queued_at").values_list(
            "id", "queued_at", "status", "celery_task_id", "finished_at", "error"
        )
        pytest.fail(
            f"gaps {gaps}\n"
            + "\n".join(map(repr, rows))
            + f"\n--- first beat ---\n{first.log()[-4000:]}"
            + f"\n--- second beat ---\n{second.log()[-4000:]}"
        )


def _probe(**options):
    # What beat does for the schedule below, with a short hard limit so the lock
    # (hard limit + SCHEDULES_LOCK_MARGIN_SECONDS) times out within seconds.
    return sleep_probe.apply_async(
        kwargs={"seconds": 30}, time_limit=4, soft_time_limit=3,
        headers={"periodic_task_name": "probe every second"}, **options,
    )  # fmt: skip


def test_a_worker_killed_holding_an_overlap_lock_wedges_the_schedule_only_until_the_lock_times_out_and_the_admin_says_why(
    worker_process, settings, admin_client
):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 1
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.create(
        name="probe every second", task="schedules.sleep_probe", interval=every,
        kwargs=json.dumps({"seconds": 30}), enabled=False,
    )  # fmt: skip
    env = subprocess_env(SCHEDULES_LOCK_MARGIN_SECONDS="1")
    worker = worker_process(queues="default", concurrency=1, env=env)
    first = _probe()
    wait_for(
        lambda: TaskRun.objects.filter(celery_task_id=first.id, status="started").exists(),
        timeout=20,
        message="the first run to start",
    )
    worker.kill()  # the whole worker, pool and all, while the run holds the lock

    refused = [_probe() for _ in range(2)]
    assert {result.state for result in refused} == {states.REJECTED}
    page = admin_client.get("/admin/schedules/taskrun/", {"status__exact": "skipped"})
    text = page.content.decode()
    assert text.count(first.id) >= 2, "each skipped run names the run holding the lock"
    assert "running since" in text or "queued at" in text

    holder = lock_holder_read(sleep_probe.lock_key([], {"seconds": 30}))
    assert holder["expires_in"] <= 5  # hard limit 4 s + 1 s margin
    time.sleep(holder["expires_in"] + 0.5)
    # What the periodic schedules.reap_lost_runs does: the dead run stops claiming "started".
    runs_lost_reap()
    lost = TaskRun.objects.get(celery_task_id=first.id)
    assert lost.status == TaskRun.Status.FAILED
    assert lost.error.startswith("worker lost")
    history = admin_client.get("/admin/schedules/taskrun/", {"status__exact": "failed"})
    assert "worker lost" in history.content.decode()
    worker_process(queues="default", concurrency=1, env=env)
    accepted = sleep_probe.apply_async(
        kwargs={"seconds": 30}, time_limit=4, soft_time_limit=3,
        headers={"periodic_task_name": "probe every second"},
    )  # fmt: skip
    assert accepted.state != states.REJECTED
    wait_for(
        lambda: TaskRun.objects.filter(celery_task_id=accepted.id, status="failed").exists(),
        timeout=20,
        message="the next run to run (and hit its 4 s limit)",
    )
    assert TaskRun.objects.filter(status=TaskRun.Status.SKIPPED).count() == 2
