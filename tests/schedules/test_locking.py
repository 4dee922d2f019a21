"""No overlap: celery-once locks keyed on task + arguments, with a real worker."""

import time

import pytest
import redis
from celery import states
from django.conf import settings

from schedules.locks import HOLDER_SUFFIX, lock_holder_read
from schedules.models import TaskRun
from schedules.tasks import sleep_probe
from tests.schedules.conftest import run_status, start_probe_then_kill_worker
from tests.schedules.probe_tasks import flaky, hold
from tests.support.processes import wait_for


def test_second_run_while_first_runs_is_refused_and_recorded_as_skipped(
    celery_worker, skipped_signals
):
    first = hold.delay("a", seconds=3)
    wait_for(lambda: run_status(first.id) == "started", timeout=10, message="first run started")

    second = hold.delay("a", seconds=3)

    assert second.state == states.REJECTED
    skipped = TaskRun.objects.get(status=TaskRun.Status.SKIPPED)
    assert skipped.task_name == "tests.schedules.hold"
    assert first.id in skipped.error
    assert "running since" in skipped.error
    assert skipped_signals[0]["task_name"] == "tests.schedules.hold"
    assert skipped_signals[0]["reason"] == skipped.error
    assert skipped_signals[0]["held_by"]["celery_task_id"] == first.id
    # Different arguments are a different job: not refused.
    other = hold.delay("b", seconds=3)
    assert other.state != states.REJECTED
    first.get(timeout=10)
    wait_for(lambda: run_status(first.id) == "succeeded", timeout=10, message="first succeeded")


def test_lock_is_released_after_success(celery_worker):
    first = hold.delay("ok")
    assert first.get(timeout=10) == "ok"
    wait_for(lambda: run_status(first.id) == "succeeded", timeout=10, message="success recorded")
    run = TaskRun.objects.get(celery_task_id=first.id)
    assert run.duration is not None
    assert run.worker
    assert run.trigger == "manual"

    second = hold.delay("ok")

    assert second.get(timeout=10) == "ok"
    assert not TaskRun.objects.filter(status=TaskRun.Status.SKIPPED).exists()


def test_lock_is_released_after_failure_and_the_error_is_recorded(celery_worker):
    first = hold.delay("bad", fail=True)
    wait_for(lambda: run_status(first.id) == "failed", timeout=10, message="failure recorded")
    assert "ValueError: boom in bad" in TaskRun.objects.get(celery_task_id=first.id).error

    second = hold.delay("bad")

    assert second.get(timeout=10) == "bad"
    assert not TaskRun.objects.filter(status=TaskRun.Status.SKIPPED).exists()


def test_a_retrying_run_keeps_its_lock_until_it_finishes(celery_worker):
    client = redis.Redis.from_url(settings.REDIS_URL)
    first = flaky.delay("r")
    # The retry has started (its attempt counted) and waits for the go-ahead.
    wait_for(lambda: int(client.get("flaky:r") or 0) == 2, timeout=10, message="the retry")

    during_retry = flaky.delay("r")

    assert during_retry.state == states.REJECTED
    client.set("flaky:r:go", 1)
    assert first.get(timeout=15) == 2
    wait_for(lambda: run_status(first.id) == "succeeded", timeout=10, message="retry succeeded")
    after = flaky.delay("r")
    assert after.state != states.REJECTED


def test_lock_timeout_follows_the_time_limit(clean_redis, settings, db):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 5
    assert hold.default_timeout == 25 + 5
    assert hold.lock_timeout(time_limit=4) == 9


@pytest.mark.slow
@pytest.mark.fault
def test_killed_worker_wedges_the_schedule_only_until_the_lock_times_out(worker_process, settings):
    first = start_probe_then_kill_worker(worker_process, settings)

    refused = sleep_probe.apply_async(kwargs={"seconds": 30}, time_limit=4, soft_time_limit=3)
    assert refused.state == states.REJECTED
    holder = lock_holder_read(sleep_probe.lock_key([], {"seconds": 30}))
    assert holder["celery_task_id"] == first.id
    assert holder["expires_in"] <= 5

    time.sleep(holder["expires_in"] + 0.5)
    accepted = sleep_probe.apply_async(kwargs={"seconds": 30}, time_limit=4, soft_time_limit=3)
    assert accepted.state != states.REJECTED
    assert TaskRun.objects.filter(status=TaskRun.Status.SKIPPED).count() == 1


def test_holder_record_lives_next_to_the_lock(clean_redis, transactional_db):
    result = hold.delay("h")  # no worker: it stays queued
    key = hold.lock_key(["h"], {})
    holder = lock_holder_read(key)
    assert holder["celery_task_id"] == result.id
    assert holder["trigger"] == "manual"
    assert clean_redis.exists(key + HOLDER_SUFFIX)
    assert TaskRun.objects.get(celery_task_id=result.id).status == "queued"


@pytest.mark.slow
@pytest.mark.fault
def test_a_run_killed_by_its_hard_time_limit_is_recorded_failed_and_frees_its_lock(
    worker_process,
):
    worker_process(queues="default", concurrency=1)
    first = sleep_probe.apply_async(kwargs={"seconds": 4}, time_limit=2, soft_time_limit=1.5)
    wait_for(lambda: run_status(first.id) == "failed", timeout=30, message="time-limit failure")

    run = TaskRun.objects.get(celery_task_id=first.id)
    assert "TimeLimitExceeded" in run.error
    again = sleep_probe.apply_async(kwargs={"seconds": 4}, time_limit=2, soft_time_limit=1.5)
    assert again.state != states.REJECTED
